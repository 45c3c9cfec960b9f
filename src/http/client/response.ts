/**
 * The response of the HTTP client: status and headers at once, the body
 * streamed afterwards (Twisted's `IResponse`).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import type { Deferred } from '../../defer/deferred.js';
import type { Failure } from '../../defer/failure.js';
import { Logger } from '../../logger/index.js';
import type { IPushProducer } from '../../reactor/interfaces.js';
import type { HeaderList } from '../headers.js';
import { ResponseDone } from './errors.js';
import { readBody, type ReadBodyOptions } from './readBody.js';

const log = new Logger('spindle.http.client');

/**
 * What consumes a response body (Twisted's protocol for `deliverBody`).
 * Every member is optional, so plain objects work, and so does a
 * `Protocol` subclass.
 *
 * - `makeConnection(producer)` (or, without it, `transport = producer` and
 *   `connectionMade()`) comes first; `producer` pauses, resumes or stops the
 *   body (stopping aborts the connection);
 * - `dataReceived(chunk)` once per chunk, in order (a chunk may be a view
 *   into a larger buffer: copy it to keep it after modifying that buffer —
 *   nothing here modifies it);
 * - `connectionLost(reason)` exactly once at the end: a Failure of
 *   {@link ResponseDone} when the body is complete, of anything else
 *   (`ResponseFailed`, `TimeoutError`, `DecompressedBodyTooLarge`...) when
 *   it is not.
 */
export interface IBodyProtocol {
  transport?: IPushProducer | null;
  makeConnection?(producer: IPushProducer): void;
  connectionMade?(): void;
  dataReceived?(data: Uint8Array): void;
  connectionLost?(reason: Failure): void;
}

/** The request a response answers, as sent. */
export interface SentRequest {
  readonly method: string;
  /** The absolute URL requested. */
  readonly url: string;
  /** The header fields sent, `Host` included. */
  readonly headers: readonly (readonly [string, string])[];
}

/** Everything a {@link Response} is made of but its body. */
export interface ResponseInit {
  readonly status: number;
  readonly statusText: string;
  readonly headers: HeaderList;
  /** `'HTTP/1.1'` or `'HTTP/1.0'`. */
  readonly version: string;
  /** The body length when known in advance (Content-Length; 0 for HEAD, 204, 304), else null. */
  readonly length: number | null;
  /** The URL this response came from. */
  readonly url: string;
  readonly request: SentRequest;
}

/** Body bytes buffered before anyone consumes the body; past this, reading from the connection pauses. */
export const BODY_BUFFER_HIGH_WATER = 64 * 1024;

const INITIAL = 0; // no consumer yet: buffer
const CONNECTED = 1; // a consumer gets the data as it comes
const DEFERRED_CLOSE = 2; // the body ended before a consumer came
const FINISHED = 3;

/**
 * An HTTP response. The request's Deferred fires with it as soon as the
 * head has arrived; the body follows.
 *
 * Read the body exactly once, one of these ways:
 * - `readBody(response, { maxSize })` / `text()` / `json()` /
 *   `arrayBuffer()` → a Deferred of the whole body (64 MiB by default,
 *   {@link ResponseBodyTooLarge} beyond, which aborts the connection);
 * - `for await (const chunk of response)` — breaking out of the loop
 *   aborts the connection;
 * - `deliverBody(protocol)`, Twisted style, with flow control through the
 *   producer the protocol receives.
 *
 * Until one of them is used, up to {@link BODY_BUFFER_HIGH_WATER} bytes are
 * buffered and then reading pauses: a body nobody reads holds its
 * connection (it is never returned to the pool). Backpressure carries to
 * the socket: a consumer that pauses stops the connection's reading.
 *
 * @example
 * ```ts
 * const response = await agent.request('GET', 'http://127.0.0.1:8080/');
 * console.log(response.status, response.headers.get('content-type'));
 * const body = await readBody(response, { maxSize: 1 << 20 });
 * ```
 */
export class Response implements AsyncIterable<Uint8Array> {
  readonly status: number;
  readonly statusText: string;
  /** The header fields received, in order. */
  readonly headers: HeaderList;
  /** `'HTTP/1.1'` or `'HTTP/1.0'`. */
  readonly version: string;
  /** The body length when known in advance, else null (chunked, close-delimited, or decoded). */
  readonly length: number | null;
  /** The URL this response came from (after redirects: the last one). */
  readonly url: string;
  /** The request as sent. */
  readonly request: SentRequest;
  /** The redirect response that led here (set by `RedirectAgent`), or null. */
  previousResponse: Response | null = null;

  private _state = INITIAL;
  private _delivered = false;
  private _buffer: Uint8Array[] = [];
  private _buffered = 0;
  private _pausedForBuffer = false;
  private _consumerPaused = false;
  private _protocol: IBodyProtocol | null = null;
  private _reason: Failure | null = null;
  private readonly _source: IPushProducer;

  /**
   * @param init - status, headers and the rest.
   * @param source - the producer of the body bytes: it feeds them with
   *   `_bodyDataReceived`/`_bodyDataFinished` and is paused, resumed and
   *   stopped on the consumer's behalf.
   * @internal Responses are made by the client; tests of code that reads
   *   responses may build one and feed it by hand.
   */
  constructor(init: ResponseInit, source: IPushProducer) {
    this.status = init.status;
    this.statusText = init.statusText;
    this.headers = init.headers;
    this.version = init.version;
    this.length = init.length;
    this.url = init.url;
    this.request = init.request;
    this._source = source;
  }

  /** Whether the status is 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** Whether the body has been handed to a consumer (it can be read only once). */
  get bodyUsed(): boolean {
    return this._delivered;
  }

  /**
   * Hand the body to `protocol` (see {@link IBodyProtocol}): bytes already
   * buffered are delivered at once, the rest as it arrives, then
   * `connectionLost` with ResponseDone or the failure.
   *
   * @throws Error when the body was already delivered.
   *
   * @example
   * ```ts
   * response.deliverBody({
   *   dataReceived: (chunk) => file.write(chunk),
   *   connectionLost: (reason) => { if (!reason.check(ResponseDone)) console.error(reason.value); },
   * });
   * ```
   */
  deliverBody(protocol: IBodyProtocol): void {
    if (this._delivered) throw new Error('the body of this response was already delivered (it can be read only once)');
    this._delivered = true;
    this._protocol = protocol;
    const wasFinished = this._state === DEFERRED_CLOSE;
    if (!wasFinished) this._state = CONNECTED;
    const producer: IPushProducer = {
      pauseProducing: () => {
        if (this._state !== CONNECTED || this._consumerPaused) return;
        this._consumerPaused = true;
        this._source.pauseProducing();
      },
      resumeProducing: () => {
        if (this._state !== CONNECTED || !this._consumerPaused) return;
        this._consumerPaused = false;
        this._source.resumeProducing();
      },
      stopProducing: () => {
        if (this._state !== CONNECTED) return;
        this._source.stopProducing();
      },
    };
    try {
      if (typeof protocol.makeConnection === 'function') protocol.makeConnection(producer);
      else {
        protocol.transport = producer;
        protocol.connectionMade?.();
      }
    } catch (e) {
      this._protocolRaised(e, 'connectionMade');
    }
    const buffered = this._buffer;
    this._buffer = [];
    this._buffered = 0;
    for (const chunk of buffered) {
      if (this._state === FINISHED) break;
      this._deliver(chunk);
    }
    if (wasFinished) {
      this._finish(this._reason!);
      return;
    }
    if (this._pausedForBuffer) {
      this._pausedForBuffer = false;
      if (!this._consumerPaused && this._state === CONNECTED) this._source.resumeProducing();
    }
  }

  /**
   * The body as a Deferred of a Buffer: {@link readBody} with `options`
   * (default `maxSize` 64 MiB).
   */
  body(options?: ReadBodyOptions): Deferred<Buffer> {
    return readBody(this, options);
  }

  /**
   * The body decoded as text: the `charset` of the Content-Type when the
   * platform knows it, UTF-8 otherwise (invalid sequences become U+FFFD).
   */
  text(options?: ReadBodyOptions): Deferred<string> {
    return readBody(this, options).addCallback((buf) => new TextDecoder(charsetOf(this.headers.get('content-type'))).decode(buf));
  }

  /** The body parsed as JSON (UTF-8). Fails with a SyntaxError on invalid JSON. */
  json<T = unknown>(options?: ReadBodyOptions): Deferred<T> {
    return readBody(this, options).addCallback((buf) => JSON.parse(buf.toString('utf8')) as T);
  }

  /** The body in an ArrayBuffer of its own. */
  arrayBuffer(options?: ReadBodyOptions): Deferred<ArrayBuffer> {
    return readBody(this, options).addCallback((buf) => {
      const out = new ArrayBuffer(buf.length);
      new Uint8Array(out).set(buf);
      return out;
    });
  }

  /**
   * The body chunks, as they arrive. Reading pauses while more than 64 KiB
   * are waiting for the loop; leaving the loop early (`break`, a throw)
   * aborts the connection. A body that ends with a failure throws its error
   * (e.g. `ResponseFailed`) from the loop.
   *
   * @example
   * ```ts
   * for await (const chunk of response) hash.update(chunk);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const it = new BodyIterator();
    this.deliverBody(it);
    return it;
  }

  toString(): string {
    return `<Response ${this.status} ${this.url}>`;
  }

  // ------------------------------------------------------------ fed by the source

  /** @internal A chunk of the body from the source. */
  _bodyDataReceived(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this._state === INITIAL) {
      this._buffer.push(data);
      this._buffered += data.length;
      if (this._buffered > BODY_BUFFER_HIGH_WATER && !this._pausedForBuffer) {
        this._pausedForBuffer = true;
        this._source.pauseProducing();
      }
    } else if (this._state === CONNECTED) {
      this._deliver(data);
    }
  }

  /** @internal The body ended: `reason` is ResponseDone or the failure. */
  _bodyDataFinished(reason: Failure): void {
    if (this._state === INITIAL) {
      this._state = DEFERRED_CLOSE;
      this._reason = reason;
    } else if (this._state === CONNECTED) {
      this._finish(reason);
    }
  }

  // ------------------------------------------------------------ internals

  private _deliver(data: Uint8Array): void {
    const protocol = this._protocol!;
    try {
      protocol.dataReceived?.(data);
    } catch (e) {
      this._protocolRaised(e, 'dataReceived');
    }
  }

  private _finish(reason: Failure): void {
    this._state = FINISHED;
    this._reason = null;
    const protocol = this._protocol!;
    this._protocol = null;
    try {
      protocol.connectionLost?.(reason);
    } catch (e) {
      log.failure('The body protocol of {response} raised in connectionLost', e, { response: String(this) }, 'error');
    }
  }

  /** A consumer that throws is a bug: log it and stop the body (the connection is aborted). */
  private _protocolRaised(e: unknown, where: string): void {
    log.failure('The body protocol of {response} raised in {where}', e, { response: String(this), where }, 'error');
    if (this._state === CONNECTED) this._source.stopProducing();
  }
}

/** The `charset` parameter of a Content-Type, when TextDecoder supports it; else 'utf-8'. */
function charsetOf(contentType: string | undefined): string {
  if (contentType === undefined) return 'utf-8';
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  if (m === null) return 'utf-8';
  try {
    new TextDecoder(m[1]);
    return m[1]!;
  } catch {
    return 'utf-8';
  }
}

/** High and low water marks of the async iterator's queue. */
const ITER_HIGH_WATER = 64 * 1024;
const ITER_LOW_WATER = 16 * 1024;

/** The body protocol behind `for await (const chunk of response)`. */
class BodyIterator implements IBodyProtocol, AsyncIterator<Uint8Array> {
  private producer: IPushProducer | null = null;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private paused = false;
  private end: Failure | null = null;
  private stopped = false;
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | null = null;

  makeConnection(producer: IPushProducer): void {
    this.producer = producer;
  }

  dataReceived(data: Uint8Array): void {
    if (this.stopped) return;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.resolve({ value: data, done: false });
      return;
    }
    this.queue.push(data);
    this.queued += data.length;
    if (this.queued > ITER_HIGH_WATER && !this.paused) {
      this.paused = true;
      this.producer?.pauseProducing();
    }
  }

  connectionLost(reason: Failure): void {
    this.end = reason;
    const w = this.waiter;
    if (w === null) return;
    this.waiter = null;
    this.settleEnd(w.resolve, w.reject);
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      this.queued -= chunk.length;
      if (this.paused && this.queued <= ITER_LOW_WATER) {
        this.paused = false;
        this.producer?.resumeProducing();
      }
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.stopped) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      if (this.end !== null) this.settleEnd(resolve, reject);
      else this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    if (!this.stopped) {
      this.stopped = true;
      this.queue.length = 0;
      if (this.end === null) this.producer?.stopProducing();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private settleEnd(resolve: (r: IteratorResult<Uint8Array>) => void, reject: (e: unknown) => void): void {
    const end = this.end!;
    if (end.check(ResponseDone)) resolve({ value: undefined, done: true });
    else reject(end.value);
  }
}

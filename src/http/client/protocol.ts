/**
 * The HTTP/1.1 client protocol over one connection (Twisted's
 * `HTTP11ClientProtocol`): a request in, a {@link Response} out, and the
 * knowledge of whether the connection can carry another request.
 *
 * It glues the sans-IO {@link RequestSerializer} and {@link ResponseParser}
 * to a transport; it parses nothing itself. One request at a time (no
 * pipelining: a response must be complete before the next request goes
 * out, which is what makes reusing a connection safe).
 *
 * @module
 */
import { TimeoutError } from '../../defer/errors.js';
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { Failure } from '../../defer/failure.js';
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { Logger } from '../../logger/index.js';
import { ConnectionDone } from '../../reactor/errors.js';
import type { IProtocol, IPushProducer, ITransport } from '../../reactor/interfaces.js';
import { HttpParseError } from '../errors.js';
import { ResponseParser, type ParserHandler, type ResponseHead } from '../parser.js';
import { RequestSerializer } from '../serializer.js';
import {
  ConnectionAborted,
  RequestGenerationFailed,
  RequestNotSent,
  RequestTransmissionFailed,
  ResponseDone,
  ResponseFailed,
  ResponseNeverReceived,
} from './errors.js';
import { Response } from './response.js';

const log = new Logger('spindle.http.client');

const EMPTY = new Uint8Array(0);

// ------------------------------------------------------------ request bodies

/** What an {@link IBodyProducer} writes its bytes to. */
export interface IBodyConsumer {
  /** Send body bytes (a string is sent as UTF-8). */
  write(data: Uint8Array | string): void;
}

/**
 * A request body produced on demand (Twisted's `IBodyProducer`), for
 * uploads that do not fit in memory or arrive over time.
 *
 * - `length`: the exact number of bytes it will write, sent as
 *   Content-Length; null when unknown (the body is then sent chunked);
 * - `startProducing(consumer)`: write to `consumer`, and fire (resolve)
 *   the returned Deferred/Promise once everything is written — or fail it;
 * - `pauseProducing`/`resumeProducing`: flow control from the socket (a
 *   producer that writes only when asked may omit them);
 * - `stopProducing()`: the request was abandoned; stop, and do not fire.
 *
 * A producer's body cannot be replayed: requests with one are never
 * retried and 307/308 redirects of them are not followed.
 */
export interface IBodyProducer {
  readonly length: number | null;
  startProducing(consumer: IBodyConsumer): PromiseLike<unknown>;
  pauseProducing?(): void;
  resumeProducing?(): void;
  stopProducing(): void;
}

/**
 * A request body: bytes or a string (sent with a Content-Length; a string
 * as UTF-8), an async iterable of chunks (an async generator, a Node
 * `Readable`...; sent chunked), or an {@link IBodyProducer}.
 */
export type RequestBody = Uint8Array | string | AsyncIterable<Uint8Array | string> | IBodyProducer;

/** Whether `body` can be sent again (a retry, a 307/308 redirect): no body, bytes or a string. */
export function isReplayableBody(body: RequestBody | null | undefined): boolean {
  return body === null || body === undefined || typeof body === 'string' || body instanceof Uint8Array;
}

/** Whether `body` is an {@link IBodyProducer}. */
function isBodyProducer(body: object): body is IBodyProducer {
  return typeof (body as { startProducing?: unknown }).startProducing === 'function';
}

/** Whether `x` is something the client accepts as a body (see {@link RequestBody}). */
export function isRequestBody(x: unknown): x is RequestBody {
  if (typeof x === 'string' || x instanceof Uint8Array) return true;
  if (x === null || typeof x !== 'object') return false;
  return isBodyProducer(x) || typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

// ------------------------------------------------------------ requests

/** One request, ready for the wire (built and validated by the Agent). */
export interface ClientRequest {
  /** A token, e.g. `GET`. */
  readonly method: string;
  /** The origin-form target: path and query, visible ASCII. */
  readonly target: string;
  /** Every field to send, `Host` included; no Content-Length or Transfer-Encoding (the body decides). */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: RequestBody | null;
  /** False when the request asked for `Connection: close`: the connection is closed after the response. */
  readonly persistent: boolean;
  /** The absolute URL, for `Response.url`. */
  readonly url: string;
  /** Seconds without progress before the response head arrives (see `AgentOptions.requestTimeout`). */
  readonly requestTimeout?: number | undefined;
  /** Seconds without body bytes while the body is arriving (see `AgentOptions.bodyTimeout`). */
  readonly bodyTimeout?: number | undefined;
}

/** A connection that answers requests: a {@link HTTP11ClientProtocol}, or the pool's retrying wrapper of one. */
export interface IHTTPConnection {
  request(request: ClientRequest): Deferred<Response>;
}

/** Options of {@link HTTP11ClientProtocol}. */
export interface ClientProtocolOptions {
  /** Largest response head accepted, in bytes (default 64 KiB); larger → `ResponseFailed` with an `HttpParseError` (431). */
  maxHeadSize?: number;
}

/** The states of a client connection, for logs and tests. */
export type ClientProtocolState =
  | 'QUIESCENT'
  | 'TRANSMITTING'
  | 'WAITING'
  | 'RECEIVING'
  | 'CLOSING'
  | 'ABORTED'
  | 'CONNECTION_LOST';

/** The request being answered on a connection. */
interface InFlight {
  readonly req: ClientRequest;
  /** Fired with the Response at the head; null once fired or cancelled. */
  deferred: Deferred<Response> | null;
  head: ResponseHead | null;
  response: Response | null;
  /** The body (if any) was written completely, `end` included. */
  bodySent: boolean;
  responseEnded: boolean;
  /** A byte of the response arrived. */
  gotBytes: boolean;
  writer: BodyWriter | null;
  headTimer: IDelayedCall | null;
  bodyTimer: IDelayedCall | null;
}

/**
 * The HTTP/1.1 client side of one connection (Twisted's
 * `HTTP11ClientProtocol`). The Agent and the pool drive it; use it directly
 * only over a transport you made yourself.
 *
 * - {@link request} writes the request (head and body) and fires with the
 *   {@link Response} once its head has arrived (1xx interim responses are
 *   skipped); the body then streams into the Response, with the
 *   Response's consumer's pauses carried to the transport.
 * - When the body is complete, the connection is reusable if the response
 *   allows it (HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
 *   keep-alive; not close-delimited), the request did not ask for `close`,
 *   and the request body was sent completely; then `quiescentCallback`
 *   runs (the pool takes it back) before the body's `connectionLost`.
 *   Otherwise the connection is closed.
 * - Timeouts run on the clock given: `request.requestTimeout` (seconds
 *   without progress until the head arrives: writing a body chunk or a 1xx
 *   response counts as progress) fails the request with `TimeoutError`;
 *   `request.bodyTimeout` (seconds between body chunks, suspended while the
 *   consumer pauses) fails the body with `TimeoutError`. Both abort the
 *   connection.
 * - Cancelling the request's Deferred before the head arrived aborts the
 *   connection (it is never reused).
 *
 * @example
 * ```ts
 * const proto = new HTTP11ClientProtocol(clock);
 * proto.makeConnection(transport);
 * const d = proto.request({ method: 'GET', target: '/', url: 'http://h/', persistent: true,
 *                           headers: [['Host', 'h']], body: null });
 * ```
 */
export class HTTP11ClientProtocol implements IProtocol {
  transport: ITransport | null = null;
  /** Called when the connection can take another request (set by the pool). An exception closes the connection. */
  quiescentCallback: ((protocol: HTTP11ClientProtocol) => void) | null = null;
  /** Called once by `connectionMade` (the Agent's connect step uses it). */
  onConnectionMade: ((protocol: HTTP11ClientProtocol) => void) | null = null;

  private readonly parser: ResponseParser;
  private readonly serializer = new RequestSerializer();
  private current: InFlight | null = null;
  private lost = false;
  private aborted = false;
  private closing = false;
  private feeding = false;
  /** The response consumer asked to pause reading. */
  private readPaused = false;
  /** Why the connection ended, while the end of a paused response is still to be parsed. */
  private lostReason: Failure | null = null;
  private closedWaiters: Deferred<void>[] = [];
  private writerRegistered = false;

  /**
   * @param clock - the reactor's time, for the timeouts.
   * @param options - limits.
   */
  constructor(
    private readonly clock: IReactorTime,
    options: ClientProtocolOptions = {},
  ) {
    this.parser = new ResponseParser(options.maxHeadSize === undefined ? undefined : { maxHeadSize: options.maxHeadSize });
  }

  /** Where the connection stands. */
  get state(): ClientProtocolState {
    if (this.lost) return 'CONNECTION_LOST';
    if (this.aborted) return 'ABORTED';
    if (this.closing) return 'CLOSING';
    const cur = this.current;
    if (cur === null) return 'QUIESCENT';
    if (cur.head === null) return cur.bodySent ? 'WAITING' : 'TRANSMITTING';
    return 'RECEIVING';
  }

  /** Whether a request can be sent now: connected, open, and not busy. */
  get isQuiescent(): boolean {
    return this.state === 'QUIESCENT' && this.transport !== null && !this.transport.disconnecting;
  }

  // ------------------------------------------------------------ IProtocol

  makeConnection(transport: ITransport): void {
    this.transport = transport;
    this.connectionMade();
  }

  connectionMade(): void {
    const cb = this.onConnectionMade;
    this.onConnectionMade = null;
    cb?.(this);
  }

  dataReceived(data: Uint8Array): void {
    if (this.aborted || this.lost) return;
    const cur = this.current;
    if (cur !== null) cur.gotBytes = true;
    this.feed(data);
  }

  connectionLost(reason: Failure): void {
    if (this.lost) return;
    this.lost = true;
    this.transport = null;
    this.writerRegistered = false;
    const cur = this.current;
    if (cur !== null && !this.aborted) {
      this.stopTimers(cur);
      if (cur.writer !== null) {
        cur.writer.stopProducing();
        cur.writer = null;
      }
      // A clean close may end a close-delimited body; anything else truncates it.
      if (reason.check(ConnectionDone) !== null) this.parser.receiveEOF();
      this.lostReason = reason;
      if (!this.readPaused) this.finishLost();
    }
    // After failing the request, so that a retry is counted before the pool frees this slot.
    const waiters = this.closedWaiters;
    this.closedWaiters = [];
    for (const w of waiters) w.callback(undefined);
  }

  // ------------------------------------------------------------ API

  /**
   * Send `request` and fire with its Response once the head has arrived.
   *
   * Fails with {@link RequestNotSent} when the connection is closed or
   * closing, an Error when a request is already in progress, a TypeError
   * or HttpStateError when the serializer refuses the request (nothing is
   * written then), and later as described in `errors.ts`.
   */
  request(request: ClientRequest): Deferred<Response> {
    const transport = this.transport;
    if (this.lost || this.aborted || this.closing || transport === null || transport.disconnecting) {
      return fail(new RequestNotSent());
    }
    if (this.current !== null) return fail(new Error('a request is already in progress on this connection'));
    const body = request.body;
    const streamed = body !== null && typeof body !== 'string' && !(body instanceof Uint8Array);
    let head: Uint8Array;
    try {
      if (!streamed) {
        head = this.serializer.send({
          type: 'request',
          method: request.method,
          target: request.target,
          headers: request.headers,
          ...(body === null ? {} : { body }),
        });
        if (body === null) this.serializer.send({ type: 'end' });
      } else {
        const length = isBodyProducer(body) ? body.length : null;
        const framing: readonly [string, string] =
          length === null ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(length)];
        head = this.serializer.send({
          type: 'request',
          method: request.method,
          target: request.target,
          headers: [...request.headers, framing],
        });
      }
    } catch (e) {
      return fail(e);
    }
    const cur: InFlight = {
      req: request,
      deferred: null,
      head: null,
      response: null,
      bodySent: !streamed,
      responseEnded: false,
      gotBytes: false,
      writer: null,
      headTimer: null,
      bodyTimer: null,
    };
    const d = new Deferred<Response>(() => {
      // Cancelled before the head: the connection is in an unknown state, so it goes.
      if (cur.deferred !== d) return;
      cur.deferred = null;
      this.abortWith(cur, null);
    });
    cur.deferred = d;
    this.current = cur;
    this.parser.expectResponse(request.method);
    transport.write(head);
    this.armHeadTimer(cur);
    if (streamed) this.startBody(cur, body);
    return d;
  }

  /**
   * Close the connection once what is queued is written (an idle
   * connection leaving the pool). Fires once it is closed.
   */
  close(): Deferred<void> {
    const done = this.whenClosed();
    if (!this.lost && !this.aborted && this.transport !== null) {
      this.closing = true;
      this.transport.loseConnection();
    }
    return done;
  }

  /**
   * Abort the connection at once. A request in progress fails
   * (`ResponseFailed` of `ConnectionAborted`). Fires once it is closed.
   */
  abort(): Deferred<void> {
    const done = this.whenClosed();
    this.abortWith(this.current, new Failure(new ResponseFailed([new Failure(new ConnectionAborted())])));
    return done;
  }

  /** A Deferred that fires (with nothing, never failing) when the connection has ended. */
  whenClosed(): Deferred<void> {
    if (this.lost) return succeed<void>(undefined);
    const d = new Deferred<void>();
    this.closedWaiters.push(d);
    return d;
  }

  // ------------------------------------------------------------ parsing

  private readonly handler: ParserHandler<ResponseHead> = {
    onHead: (head) => this.onHead(head),
    onInformational: () => {
      const cur = this.current;
      if (cur !== null) this.armHeadTimer(cur);
    },
    onData: (data) => this.onData(data),
    onEnd: () => this.onEnd(),
  };

  private feed(data: Uint8Array): void {
    if (this.feeding) {
      if (data.length !== 0) this.parser.receiveData(data);
      return;
    }
    this.feeding = true;
    try {
      this.parser.feed(data, this.handler);
    } catch (e) {
      if (e instanceof HttpParseError) this.parseFailed(e);
      else {
        log.failure('Internal error in the HTTP client protocol', e);
        this.abortWith(this.current, new Failure(new ResponseFailed([Failure.from(e)])));
      }
    } finally {
      this.feeding = false;
    }
  }

  private onHead(head: ResponseHead): void {
    const cur = this.current!;
    this.cancelTimer(cur, 'head');
    cur.head = head;
    const bodyExpected = head.contentLength !== 0;
    const response = new Response(
      {
        status: head.status,
        statusText: head.reason,
        headers: head.headers,
        version: `HTTP/1.${head.versionMinor}`,
        length: head.contentLength >= 0 ? head.contentLength : null,
        url: cur.req.url,
        request: { method: cur.req.method, url: cur.req.url, headers: cur.req.headers },
      },
      this.bodySource(cur),
    );
    cur.response = response;
    if (bodyExpected) this.armBodyTimer(cur);
    const d = cur.deferred;
    cur.deferred = null;
    d?.callback(response);
  }

  private onData(data: Uint8Array): void {
    const cur = this.current!;
    if (cur.bodyTimer !== null && cur.bodyTimer.active()) cur.bodyTimer.reset(cur.req.bodyTimeout!);
    cur.response!._bodyDataReceived(data);
  }

  private onEnd(): void {
    const cur = this.current!;
    const head = cur.head!;
    const response = cur.response!;
    this.stopTimers(cur);
    cur.responseEnded = true;
    this.current = null;
    if (!cur.bodySent) {
      // The server answered before the request body was sent: the rest of
      // the body must not go out as the next request, so the connection goes.
      this.stopWriter(cur);
    }
    const reusable =
      head.keepAlive &&
      !head.upgrade &&
      cur.req.persistent &&
      cur.bodySent &&
      !this.lost &&
      !this.aborted &&
      this.transport !== null &&
      !this.transport.disconnecting;
    if (reusable) {
      // Back in the pool first, then the body ends (Twisted's order): code
      // that reacts to the end by requesting again finds the connection.
      const cb = this.quiescentCallback;
      if (cb !== null) {
        try {
          cb(this);
        } catch (e) {
          log.failure('The quiescent callback of an HTTP connection raised; closing the connection', e, undefined, 'error');
          this.close();
        }
      }
    } else if (!this.lost && !this.aborted && this.transport !== null) {
      this.closing = true;
      this.transport.loseConnection();
    }
    response._bodyDataFinished(new Failure(new ResponseDone()));
  }

  private parseFailed(err: HttpParseError): void {
    const cur = this.current;
    if (cur === null) {
      // Bytes on an idle connection (a 408 before the server closes it, or
      // garbage): the connection is not usable any more.
      log.debug('Closing an idle HTTP connection that received {code}', { code: err.code });
      this.abortWith(null, null);
      return;
    }
    const reasons = this.lostReason !== null ? [this.lostReason, new Failure(err)] : [new Failure(err)];
    this.abortWith(cur, new Failure(new ResponseFailed(reasons)));
  }

  /** The connection ended (`lostReason`): parse what is left, then fail whatever is incomplete. */
  private finishLost(): void {
    const cur = this.current;
    if (cur === null) return;
    const reason = this.lostReason!;
    this.feed(EMPTY);
    if (this.current !== cur || this.readPaused) return;
    this.current = null;
    this.stopTimers(cur);
    let failure: Error;
    if (cur.head !== null) failure = new ResponseFailed([reason]);
    else if (!cur.bodySent) failure = new RequestTransmissionFailed([reason]);
    else if (cur.gotBytes) failure = new ResponseFailed([reason]);
    else failure = new ResponseNeverReceived([reason]);
    this.failRequest(cur, new Failure(failure));
  }

  /** The producer a Response pauses, resumes and stops: the reading side of this connection. */
  private bodySource(cur: InFlight): IPushProducer {
    const live = (): boolean => this.current === cur && !cur.responseEnded;
    return {
      pauseProducing: () => {
        if (!live() || this.readPaused) return;
        this.readPaused = true;
        this.parser.pause();
        this.cancelTimer(cur, 'body');
        const t = this.transport;
        if (t !== null && !t.disconnecting) t.pauseProducing();
      },
      resumeProducing: () => {
        if (!live() || !this.readPaused) return;
        this.readPaused = false;
        this.parser.resume();
        const t = this.transport;
        if (t !== null && !t.disconnecting) t.resumeProducing();
        if (this.lost) {
          if (!this.feeding) this.finishLost();
          return;
        }
        this.armBodyTimer(cur);
        // Parse what arrived before the pause took effect (unless we are inside a parse already).
        if (!this.feeding) this.feed(EMPTY);
      },
      stopProducing: () => {
        if (!live()) return;
        this.abortWith(cur, new Failure(new ResponseFailed([new Failure(new ConnectionAborted())])));
      },
    };
  }

  // ------------------------------------------------------------ ending

  /**
   * Abort the connection and fail `cur` (if any) with `failure` (null: its
   * Deferred was cancelled, nothing to fire).
   */
  private abortWith(cur: InFlight | null, failure: Failure | null): void {
    if (cur !== null && this.current === cur) {
      this.current = null;
      this.stopTimers(cur);
      this.stopWriter(cur);
    }
    if (!this.aborted && !this.lost) {
      this.aborted = true;
      this.parser.pause();
      this.transport?.abortConnection();
    }
    if (cur !== null && failure !== null) this.failRequest(cur, failure);
  }

  /** Fail the request's Deferred if it has not fired, else its body. */
  private failRequest(cur: InFlight, failure: Failure): void {
    const d = cur.deferred;
    if (d !== null) {
      cur.deferred = null;
      d.errback(failure);
    } else if (cur.response !== null && !cur.responseEnded) {
      cur.responseEnded = true;
      cur.response._bodyDataFinished(failure);
    }
  }

  // ------------------------------------------------------------ timers

  private armHeadTimer(cur: InFlight): void {
    const seconds = cur.req.requestTimeout;
    if (seconds === undefined || !Number.isFinite(seconds)) return;
    if (cur.headTimer !== null && cur.headTimer.active()) {
      cur.headTimer.reset(seconds);
      return;
    }
    cur.headTimer = this.clock.callLater(seconds, () => {
      cur.headTimer = null;
      if (this.current !== cur || cur.head !== null) return;
      this.abortWith(cur, new Failure(new TimeoutError(seconds, 'waiting for the HTTP response head')));
    });
  }

  private armBodyTimer(cur: InFlight): void {
    const seconds = cur.req.bodyTimeout;
    if (seconds === undefined || !Number.isFinite(seconds) || cur.responseEnded) return;
    if (cur.bodyTimer !== null && cur.bodyTimer.active()) {
      cur.bodyTimer.reset(seconds);
      return;
    }
    cur.bodyTimer = this.clock.callLater(seconds, () => {
      cur.bodyTimer = null;
      if (this.current !== cur || cur.responseEnded) return;
      this.abortWith(cur, new Failure(new TimeoutError(seconds, 'waiting for HTTP response body data')));
    });
  }

  private cancelTimer(cur: InFlight, which: 'head' | 'body'): void {
    const t = which === 'head' ? cur.headTimer : cur.bodyTimer;
    if (t !== null && t.active()) t.cancel();
    if (which === 'head') cur.headTimer = null;
    else cur.bodyTimer = null;
  }

  private stopTimers(cur: InFlight): void {
    this.cancelTimer(cur, 'head');
    this.cancelTimer(cur, 'body');
  }

  // ------------------------------------------------------------ request body

  private startBody(cur: InFlight, body: AsyncIterable<Uint8Array | string> | IBodyProducer): void {
    const transport = this.transport!;
    const writer = new BodyWriter(body, (chunk) => {
      if (this.current !== cur) return;
      const bytes = this.serializer.send({ type: 'data', data: chunk });
      if (bytes.length === 0) return;
      this.transport?.write(bytes);
      if (cur.head === null) this.armHeadTimer(cur);
    });
    cur.writer = writer;
    transport.registerProducer(writer, true);
    this.writerRegistered = true;
    writer.run().addBoth((result) => {
      if (cur.writer !== writer) return null; // abandoned: the request ended some other way
      cur.writer = null;
      this.unregisterWriter();
      if (!(result instanceof Failure)) {
        try {
          const end = this.serializer.send({ type: 'end' });
          if (end.length !== 0) this.transport?.write(end);
          cur.bodySent = true;
          if (cur.head === null) this.armHeadTimer(cur);
          return null;
        } catch (e) {
          return this.bodyFailed(cur, Failure.from(e));
        }
      }
      return this.bodyFailed(cur, result);
    });
  }

  private bodyFailed(cur: InFlight, reason: Failure): null {
    const failure = new RequestGenerationFailed([reason]);
    this.abortWith(cur, new Failure(cur.head === null ? failure : new ResponseFailed([new Failure(failure)])));
    return null;
  }

  private stopWriter(cur: InFlight): void {
    const writer = cur.writer;
    if (writer === null) return;
    cur.writer = null;
    this.unregisterWriter();
    writer.stopProducing();
  }

  private unregisterWriter(): void {
    if (!this.writerRegistered) return;
    this.writerRegistered = false;
    this.transport?.unregisterProducer();
  }
}

/**
 * Pulls a streamed request body (an async iterable or an IBodyProducer)
 * and writes it, pausing when the transport says its buffer is full.
 */
class BodyWriter implements IPushProducer {
  private readonly done = new Deferred<unknown>();
  private paused = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private iterator: AsyncIterator<Uint8Array | string> | null = null;

  constructor(
    private readonly body: AsyncIterable<Uint8Array | string> | IBodyProducer,
    private readonly send: (chunk: Uint8Array | string) => void,
  ) {}

  /**
   * Produce everything; fires when done, fails when the source does or when
   * a write is refused (the source is stopped then, and not waited for).
   */
  run(): Deferred<unknown> {
    const body = this.body;
    let source: Deferred<unknown>;
    if (isBodyProducer(body)) {
      try {
        const started = body.startProducing({ write: (data) => this.write(data) });
        source = started instanceof Deferred ? (started as Deferred<unknown>) : Deferred.fromPromise(started);
      } catch (e) {
        source = fail(e);
      }
    } else {
      source = Deferred.fromPromise<unknown>(this.pull(body));
    }
    source.addBoth((result) => {
      if (!this.done.called) this.done.callback(result);
      return null;
    });
    return this.done;
  }

  pauseProducing(): void {
    if (this.stopped || this.paused) return;
    this.paused = true;
    const body = this.body;
    if (isBodyProducer(body)) body.pauseProducing?.();
  }

  resumeProducing(): void {
    if (this.stopped || !this.paused) return;
    this.paused = false;
    const body = this.body;
    if (isBodyProducer(body)) body.resumeProducing?.();
    this.wakeUp();
  }

  stopProducing(): void {
    if (this.stopped) return;
    this.stopped = true;
    const body = this.body;
    if (isBodyProducer(body)) {
      try {
        body.stopProducing();
      } catch (e) {
        log.failure('A request body producer raised in stopProducing', e, undefined, 'error');
      }
    } else {
      // Let a generator run its `finally`; its outcome no longer matters.
      const it = this.iterator;
      if (it !== null && typeof it.return === 'function') {
        Promise.resolve()
          .then(() => it.return!())
          .catch(() => undefined);
      }
    }
    this.wakeUp();
  }

  private write(data: Uint8Array | string): void {
    if (this.stopped) return;
    try {
      if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
        throw new TypeError('a request body chunk must be a Uint8Array or a string');
      }
      this.send(data);
    } catch (e) {
      // Refused (e.g. more bytes than the declared length): stop the source and fail now.
      this.stopProducing();
      if (!this.done.called) this.done.errback(e);
    }
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async pull(iterable: AsyncIterable<Uint8Array | string>): Promise<void> {
    const it = iterable[Symbol.asyncIterator]();
    this.iterator = it;
    for (;;) {
      while (this.paused && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
      if (this.stopped) return;
      const r = await it.next();
      if (this.stopped || r.done === true) return;
      this.write(r.value);
    }
  }
}

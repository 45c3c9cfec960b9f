/**
 * `Request`: one HTTP request as the application sees it, and the
 * response the application writes to it (Twisted's `http.Request`,
 * adapted: the body is a stream with backpressure, not a file).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { Deferred, fail, succeed } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import { ConnectionClosed, ConnectionLost } from '../reactor/errors.js';
import type { IProducer, IProtocol, ITCPTransport, ITransport } from '../reactor/interfaces.js';
import type { HTTPChannel } from './channel.js';
import { parseCookies, serializeCookie, type CookieOptions } from './cookies.js';
import { HttpParseError } from './errors.js';
import type { HeaderList } from './headers.js';
import type { RequestHead } from './parser.js';
import type { OutgoingHeaders } from './serializer.js';
import { reasonPhrase } from './status.js';

const log = new Logger('spindle.http');

/** The default largest body `content()` buffers: 10 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024;

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;
const EMPTY_PARAMS: Readonly<Record<string, string | number>> = Object.freeze({});

// ---------------------------------------------------------------- errors

/**
 * An error that *is* an HTTP answer: throw it (or fail a Deferred with it)
 * from a handler and the client gets `status` with a short page, and
 * nothing is logged. Anything else thrown is a 500, logged once.
 *
 * @example
 * ```ts
 * router.route('/admin', (request) => {
 *   if (!request.getCookie('session')) throw new HttpError(403, 'log in first');
 *   return 'welcome';
 * });
 * ```
 */
export class HttpError extends Error {
  override name = 'HttpError';
  /** Extra response fields, e.g. `Allow` for a 405 or `Retry-After` for a 503. */
  readonly headers: OutgoingHeaders | undefined;

  /**
   * @param status - 400–599.
   * @param message - shown (HTML-escaped) on the error page; defaults to the reason phrase.
   * @throws RangeError for a status outside 400–599.
   */
  constructor(
    readonly status: number,
    message?: string,
    options?: { headers?: OutgoingHeaders; cause?: unknown },
  ) {
    super(message ?? reasonPhrase(status), options?.cause !== undefined ? { cause: options.cause } : undefined);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`an HttpError needs a 4xx or 5xx status, not ${String(status)}`);
    }
    this.headers = options?.headers;
  }
}

/** `content()` was asked for a body larger than `request.maxBodySize`: 413. */
export class RequestBodyTooLarge extends HttpError {
  override name = 'RequestBodyTooLarge';
  constructor(limit: number) {
    super(413, `the request body is larger than ${limit} bytes`);
  }
}

/** The client was too slow sending the request body: 408. */
export class RequestTimeout extends HttpError {
  override name = 'RequestTimeout';
  constructor(message = 'the request body did not arrive in time') {
    super(408, message);
  }
}

/** The HTTP status an error stands for, or null for an unexpected error (a 500). */
export function statusOfError(err: unknown): number | null {
  if (err instanceof HttpError || err instanceof HttpParseError) return err.status;
  return null;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** The small HTML page of an error response; `detail` is escaped. */
export function errorPage(status: number, detail?: string): string {
  const reason = escapeHtml(reasonPhrase(status) || 'Error');
  const p = detail !== undefined && detail !== '' ? `<p>${escapeHtml(detail)}</p>` : '';
  return `<!DOCTYPE html><html><head><title>${status} ${reason}</title></head><body><h1>${reason}</h1>${p}</body></html>\n`;
}

// ---------------------------------------------------------------- body

/**
 * Receives a request body as it arrives (see {@link Request.receiveBody}).
 * Chunks are views of the received bytes: they stay valid, but copy them
 * if you modify them.
 */
export interface BodyReceiver {
  /** The next body bytes (never empty). */
  data(chunk: Uint8Array): void;
  /** The body is complete; `trailers` are a chunked body's trailer fields (null when none). */
  end(trailers: HeaderList | null): void;
  /**
   * The body will never complete: the client disconnected (ConnectionLost),
   * sent an invalid body (HttpParseError) or was too slow (RequestTimeout).
   */
  error?(reason: Failure): void;
}

/** What to answer when a handler switches protocols; see {@link Request.upgrade}. */
export interface UpgradeOptions {
  /** Default 101 (200 for CONNECT). */
  status?: number;
  /** Fields of the switching response, e.g. the WebSocket `Sec-WebSocket-Accept`. */
  headers?: OutgoingHeaders;
}

// ---------------------------------------------------------------- request

/**
 * One request on an {@link HTTPChannel}, and its response.
 *
 * **Inputs.** `method`, `uri` (the raw target), `path` (percent-decoded)
 * and `rawPath`, `query`/`args` (the query string, `URLSearchParams`
 * semantics), `requestHeaders` (a multi-valued {@link HeaderList}, latin1
 * values as received) with `getHeader`, `getClientAddress()`, `isSecure()`,
 * `cookies`/`getCookie`, and the body, which is *not* read until the
 * handler asks for it — with `content()` (buffered, up to `maxBodySize`),
 * `receiveBody(receiver)` (chunks as they arrive; `pauseBody()` /
 * `resumeBody()` for backpressure) or `bodyStream()` (an async iterator).
 * Asking for the body is also what sends `100 Continue` to a client that
 * waits for it.
 *
 * **Output.** `setResponseCode`, `setHeader`/`addHeader`, `addCookie`,
 * `write(data)` (strings are UTF-8), `finish(data?)`, `registerProducer`.
 * The status line and fields go out with the first write; without a
 * Content-Length the body is chunked (HTTP/1.1) or delimited by closing
 * the connection (HTTP/1.0). `finish(body)` with nothing written before
 * sends one buffer with a Content-Length. HEAD responses, 204 and 304 never
 * carry a body, whatever is written.
 *
 * **Failure modes.** `write` or a second `finish` after `finish` throw an
 * Error; after the client disconnected, `write` and `finish` are silent
 * no-ops and `notifyFinish()` fails with ConnectionLost. Setting the status
 * or a field once writing started throws. Invalid names or values (CR, LF…)
 * throw a TypeError.
 *
 * @example
 * ```ts
 * const factory = new HTTPFactory(async (request) => {
 *   const body = await request.content();
 *   request.setHeader('Content-Type', 'text/plain');
 *   request.finish(`you sent ${body.length} bytes to ${request.path}\n`);
 * });
 * ```
 */
export class Request {
  /** The method as sent (case-sensitive), e.g. `GET`. */
  readonly method: string;
  /** The request target exactly as sent, e.g. `/search?q=a%20b`. */
  readonly uri: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  /** The request's header fields, in order, repeats kept. */
  readonly requestHeaders: HeaderList;
  /** Clock time (seconds) the request head was received. */
  readonly startTime: number;
  /** The largest body `content()` accepts, in bytes (413 beyond); from the factory, may be changed per request before reading. */
  maxBodySize: number;
  /** Values captured by a `Router` pattern, e.g. `{ id: 42 }` for `/users/<int:id>`. */
  params: Record<string, string | number> = EMPTY_PARAMS as Record<string, string | number>;

  /** The response status (default 200). */
  code = 200;
  /** The reason phrase, when not the standard one. */
  codeMessage: string | undefined = undefined;
  /** True once the status line and fields were written. */
  startedWriting = false;
  /** True once `finish()` was called (or the response was otherwise completed). */
  finished = false;
  /** Response body bytes handed to the connection (0 for HEAD/204/304). */
  sentLength = 0;

  /** @internal */ readonly _head: RequestHead;
  /** @internal */ _bodyDone: boolean;
  /** @internal */ _bodyFailure: Failure | null = null;
  /** @internal */ _bodyBytes = 0;
  /** @internal */ _reader: BodyReceiver | null = null;
  /** @internal the reader asked for a pause */ _readerPaused = false;
  /** @internal the response finished with the body unread: it is being discarded */ _draining = false;
  /** @internal */ _disconnected = false;
  /** @internal */ _producer: IProducer | null = null;
  /** @internal the switching response went out */ _switched = false;

  /** @internal Traversed segments; null until someone asks or a Site walks the tree. */ _prepath: string[] | null = null;
  private _postpath: string[] | null = null;
  // Response fields, flat: [lower-case name, name, value, …]; null until the first one.
  private _fields: string[] | null = null;
  private _hasDate = false;
  // Transfer-Encoding or Connection is set: the response goes through the serializer's checks
  // rather than the fast path.
  private _framingFields = false;
  // Content-Length field lines set. One that states the body's exact length keeps the fast
  // path (ASGI applications and proxies always send it); any other goes through the checks.
  private _lengthFields = 0;
  private _finishWaiters: Deferred<void>[] | null = null;
  private _trailers: HeaderList | null = null;
  private _content: Buffer | null = null;
  private _contentChunks: Uint8Array[] | null = null;
  private _contentWaiters: Deferred<Buffer>[] | null = null;
  private _contentFailure: Failure | null = null;
  // Lazily parsed target.
  private _rawPath: string | undefined;
  private _rawQuery = '';
  private _path: string | undefined;
  private _query: URLSearchParams | undefined;
  private _args: Record<string, string[]> | undefined;
  private _cookies: Record<string, string> | undefined;

  /** @internal Built by the channel for each request head. */
  constructor(
    /** The connection this request arrived on. */
    readonly channel: HTTPChannel,
    head: RequestHead,
    startTime: number,
    maxBodySize: number,
  ) {
    this._head = head;
    this.method = head.method;
    this.uri = head.target;
    this.versionMinor = head.versionMinor;
    this.requestHeaders = head.headers;
    this.startTime = startTime;
    this.maxBodySize = maxBodySize;
    this._bodyDone = head.contentLength === 0 && !head.chunked;
  }

  // ============================================================ inputs

  /** `HTTP/1.1` or `HTTP/1.0`. */
  get clientproto(): string {
    return this.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
  }

  /** The path part of the target, still percent-encoded (`/a%20b`); `*` or the authority for those target forms. */
  get rawPath(): string {
    if (this._rawPath === undefined) this._parseTarget();
    return this._rawPath!;
  }

  /** The query string without `?`, still encoded (`''` when none). */
  get rawQuery(): string {
    if (this._rawPath === undefined) this._parseTarget();
    return this._rawQuery;
  }

  /**
   * Path segments already traversed by a `Site` (Twisted's `prepath`);
   * empty until then.
   */
  get prepath(): string[] {
    return (this._prepath ??= []);
  }

  set prepath(segments: string[]) {
    this._prepath = segments;
  }

  /**
   * Path segments left to traverse (Twisted's `postpath`): until a `Site`
   * walks the tree, every percent-decoded segment of the path (`['']` for
   * `/`, `['a', '']` for `/a/`; none for `*` or an authority-form target).
   */
  get postpath(): string[] {
    return (this._postpath ??= pathSegments(this.rawPath));
  }

  set postpath(segments: string[]) {
    this._postpath = segments;
  }

  /** @internal Back to the untraversed state (a Site starts walking). */
  _resetPaths(): void {
    this._prepath = null;
    this._postpath = null;
  }

  /**
   * The path, percent-decoded as UTF-8 (`/a b`). Invalid escapes are kept
   * as written. Note that `%2F` decodes to `/`: route on `rawPath` or
   * `postpath` when the difference matters.
   */
  get path(): string {
    return (this._path ??= decodePath(this.rawPath));
  }

  /** The query arguments (`URLSearchParams` semantics: `+` is a space, repeats kept). */
  get query(): URLSearchParams {
    return (this._query ??= new URLSearchParams(this.rawQuery));
  }

  /** The query arguments as name → every value, in order (Twisted's `args`). */
  get args(): Record<string, string[]> {
    if (this._args === undefined) {
      const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
      for (const [k, v] of this.query) (out[k] ??= []).push(v);
      this._args = out;
    }
    return this._args;
  }

  /** Whether the client asked to switch protocols (`Upgrade` with `Connection: upgrade`, or CONNECT); see {@link upgrade}. */
  get upgradeRequested(): boolean {
    return this._head.upgrade;
  }

  /** Whether the client sent `Expect: 100-continue` (it may wait for `100 Continue` before sending the body). */
  get expectContinue(): boolean {
    return this._head.expectContinue;
  }

  /** The declared body length; null for a chunked body (unknown until the end). */
  get contentLength(): number | null {
    return this._head.chunked ? null : this._head.contentLength;
  }

  /** True once the whole body was received (at once for a request without one). */
  get bodyComplete(): boolean {
    return this._bodyDone;
  }

  /** The trailer fields of a chunked body, once complete (null when none). */
  get trailers(): HeaderList | null {
    return this._trailers;
  }

  /** True once the client disconnected before the response was finished. */
  get disconnected(): boolean {
    return this._disconnected;
  }

  /** The transport of the connection (for the upgrade hook and producers). */
  get transport(): ITransport {
    return this.channel.transport!;
  }

  /** The first value of request field `name` (any case), or undefined. */
  getHeader(name: string): string | undefined {
    return this.requestHeaders.get(name.toLowerCase());
  }

  /** The client's address (the transport's peer). */
  getClientAddress(): Address {
    return this.transport.getPeer();
  }

  /** Same as {@link getClientAddress}. */
  get clientAddress(): Address {
    return this.transport.getPeer();
  }

  /** The server's address for this connection. */
  getHost(): Address {
    return this.transport.getHost();
  }

  /** Whether the connection is TLS. */
  isSecure(): boolean {
    return (this.transport as Partial<ITCPTransport>).isSecure === true;
  }

  /** The host name the client asked for (the Host field without its port), or the server's address. */
  getRequestHostname(): string {
    const host = this.getHeader('host');
    if (host === undefined || host === '') {
      const h = this.getHost();
      return 'host' in h ? String((h as { host: unknown }).host) : '';
    }
    if (host.charCodeAt(0) === 0x5b) {
      const end = host.indexOf(']');
      return end === -1 ? host : host.slice(0, end + 1);
    }
    const colon = host.lastIndexOf(':');
    return colon === -1 ? host : host.slice(0, colon);
  }

  /** Cookies sent by the client (`Cookie` fields; first occurrence of a name wins). */
  get cookies(): Readonly<Record<string, string>> {
    return (this._cookies ??= parseCookies(this.requestHeaders.getAll('cookie')));
  }

  /** The value of cookie `name`, or undefined. */
  getCookie(name: string): string | undefined {
    return this.cookies[name];
  }

  // ============================================================ body

  /**
   * The whole body, buffered. Fires when the body is complete (at once if
   * it already is); every call returns a new Deferred of the same bytes.
   *
   * Fails with {@link RequestBodyTooLarge} (413) when the declared length
   * or the bytes received pass `maxBodySize` — checked before reading, so a
   * client waiting on `Expect: 100-continue` gets no `100` — and with
   * ConnectionLost, an HttpParseError (400…) or {@link RequestTimeout}
   * (408) when the body cannot complete. A handler that lets such an error
   * propagate answers with its status.
   *
   * @throws Error when the body is already read with `receiveBody`/`bodyStream`.
   */
  content(): Deferred<Buffer> {
    if (this._content !== null) return succeed(this._content);
    if (this._contentFailure !== null) return fail<Buffer>(this._contentFailure);
    if (this._contentWaiters === null) {
      if (this._reader !== null) throw new Error('the request body is already being read by a receiver');
      const limit = this.maxBodySize;
      if (!this._head.chunked && this._head.contentLength > limit) {
        this._contentFailure = new Failure(new RequestBodyTooLarge(limit));
        return fail<Buffer>(this._contentFailure);
      }
      this._contentWaiters = [];
      this._contentChunks = [];
      let size = 0;
      const chunks = this._contentChunks;
      const waiters = this._contentWaiters;
      this._attach({
        data: (chunk) => {
          size += chunk.length;
          if (size > limit) {
            this._detach();
            this._contentDone(new Failure(new RequestBodyTooLarge(limit)), waiters);
            return;
          }
          chunks.push(chunk);
        },
        end: () => {
          const body = chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength) : Buffer.concat(chunks, size);
          this._contentChunks = null;
          this._contentDone(body, waiters);
        },
        error: (f) => this._contentDone(f, waiters),
      });
    }
    // The body may have completed (or failed) synchronously while attaching.
    const waiters = this._contentWaiters as Deferred<Buffer>[] | null;
    if (waiters === null) return this.content();
    const d = new Deferred<Buffer>();
    waiters.push(d);
    return d;
  }

  private _contentDone(result: Buffer | Failure, waiters: Deferred<Buffer>[]): void {
    if (this._contentWaiters !== waiters) return;
    this._contentWaiters = null;
    this._contentChunks = null;
    if (result instanceof Failure) this._contentFailure = result;
    else this._content = result;
    for (const d of waiters) d.callback(result);
  }

  /**
   * Receive the body chunk by chunk as it arrives (chunks already received
   * are delivered at once, possibly before this returns). Call
   * {@link pauseBody} when you cannot keep up: the connection stops reading
   * once its buffer is full, slowing the client down, until
   * {@link resumeBody}.
   *
   * @throws Error when the body is already being read.
   *
   * @example
   * ```ts
   * request.receiveBody({
   *   data: (chunk) => { if (!file.write(chunk)) { request.pauseBody(); file.once('drain', () => request.resumeBody()); } },
   *   end: () => request.finish('stored\n'),
   *   error: (reason) => file.destroy(reason.value),
   * });
   * ```
   */
  receiveBody(receiver: BodyReceiver): void {
    if (this._reader !== null || this._contentWaiters !== null || this._content !== null) {
      throw new Error('the request body is already being read');
    }
    this._attach(receiver);
  }

  /**
   * The body as an async iterator of chunks, with backpressure: reading
   * stops while more than `highWaterMark` bytes wait to be consumed.
   * Rejects with the error that stopped the body (see {@link BodyReceiver.error}).
   * Breaking out of the loop discards the rest of the body.
   *
   * @example
   * ```ts
   * for await (const chunk of request.bodyStream()) hash.update(chunk);
   * ```
   */
  bodyStream(highWaterMark = 64 * 1024): AsyncIterableIterator<Uint8Array> {
    const queue: Uint8Array[] = [];
    let queued = 0;
    let ended = false;
    let failure: Failure | null = null;
    let abandoned = false;
    let waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | null = null;
    this.receiveBody({
      data: (chunk) => {
        if (abandoned) return;
        if (waiter !== null) {
          const w = waiter;
          waiter = null;
          w.resolve({ value: chunk, done: false });
          return;
        }
        queue.push(chunk);
        queued += chunk.length;
        if (queued > highWaterMark && !this._readerPaused) this.pauseBody();
      },
      end: () => {
        ended = true;
        if (waiter !== null) {
          const w = waiter;
          waiter = null;
          w.resolve({ value: undefined, done: true });
        }
      },
      error: (f) => {
        failure = f;
        if (waiter !== null) {
          const w = waiter;
          waiter = null;
          w.reject(f.thrown);
        }
      },
    });
    const iterator: AsyncIterableIterator<Uint8Array> = {
      next: (): Promise<IteratorResult<Uint8Array>> => {
        if (queue.length > 0) {
          const chunk = queue.shift()!;
          queued -= chunk.length;
          if (this._readerPaused && queued <= highWaterMark) this.resumeBody();
          return Promise.resolve({ value: chunk, done: false });
        }
        if (failure !== null) return Promise.reject((failure as Failure).thrown);
        if (ended || abandoned) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          waiter = { resolve, reject };
        });
      },
      return: (): Promise<IteratorResult<Uint8Array>> => {
        abandoned = true;
        queue.length = 0;
        queued = 0;
        if (this._readerPaused) this.resumeBody();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Stop receiving body bytes until {@link resumeBody} (backpressure for a `receiveBody` reader). */
  pauseBody(): void {
    if (this._readerPaused || this._reader === null) return;
    this._readerPaused = true;
    this.channel._bodyFlowChanged(this);
  }

  /** Receive body bytes again after {@link pauseBody}. */
  resumeBody(): void {
    if (!this._readerPaused) return;
    this._readerPaused = false;
    this.channel._bodyFlowChanged(this);
  }

  private _attach(reader: BodyReceiver): void {
    this._reader = reader;
    if (this._bodyFailure !== null) {
      reader.error?.(this._bodyFailure);
      return;
    }
    if (this._bodyDone || this._draining) {
      // Bytes reach a reader only once one exists: a complete body with bytes was discarded.
      if (this._bodyBytes === 0 && this._bodyDone) reader.end(this._trailers);
      else reader.error?.(new Failure(new Error('the request body was discarded: the response finished before it was read')));
      return;
    }
    this.channel._readerAttached(this);
  }

  private _detach(): void {
    this._reader = null;
    this._readerPaused = false;
    this.channel._bodyFlowChanged(this);
  }

  /** @internal Body bytes from the channel. */
  _onBodyData(chunk: Uint8Array): void {
    this._bodyBytes += chunk.length;
    const reader = this._reader;
    if (reader !== null && !this._disconnected) reader.data(chunk);
  }

  /** @internal The body is complete. */
  _onBodyEnd(trailers: HeaderList | null): void {
    // A request without a body is complete from the start (its reader got `end` when attached).
    if (this._bodyDone) return;
    this._bodyDone = true;
    this._trailers = trailers;
    const reader = this._reader;
    if (reader !== null) reader.end(trailers);
  }

  /** @internal The body will not complete. */
  _onBodyError(failure: Failure): void {
    if (this._bodyDone || this._bodyFailure !== null) return;
    this._bodyFailure = failure;
    const reader = this._reader;
    if (reader !== null) reader.error?.(failure);
  }

  // ============================================================ response

  /**
   * Set the status (100–599; 1xx other than 101 are sent with
   * {@link sendInformational} instead) and optionally a reason phrase.
   * @throws Error once writing started; TypeError for an invalid code or phrase.
   */
  setResponseCode(code: number, message?: string): void {
    this._assertNotStarted();
    if (!Number.isInteger(code) || code < 100 || code > 599) throw new TypeError(`invalid HTTP status ${String(code)}`);
    if (message !== undefined && BAD_VALUE_RE.test(message)) throw new TypeError('invalid character in the reason phrase');
    this.code = code;
    this.codeMessage = message;
  }

  /**
   * Set response field `name`, replacing any value it had (any case). An
   * array sets one field line per value.
   * @throws TypeError for a name that is not a token or a value with CR, LF, NUL or other controls; Error once writing started.
   */
  setHeader(name: string, value: string | number | readonly (string | number)[]): void {
    this._assertNotStarted();
    const lower = checkName(name);
    this._remove(lower);
    if (typeof value === 'object') for (const v of value) this._add(name, lower, v);
    else this._add(name, lower, value);
  }

  /** Add a field line for `name`, keeping existing ones. Same errors as {@link setHeader}. */
  addHeader(name: string, value: string | number): void {
    this._assertNotStarted();
    this._add(name, checkName(name), value);
  }

  /** Remove every response field named `name` (any case). */
  removeHeader(name: string): void {
    this._assertNotStarted();
    this._remove(name.toLowerCase());
  }

  /** The first value of response field `name` (any case), or undefined. */
  getResponseHeader(name: string): string | undefined {
    const f = this._fields;
    if (f === null) return undefined;
    const lower = name.toLowerCase();
    for (let i = 0; i < f.length; i += 3) if (f[i] === lower) return f[i + 2];
    return undefined;
  }

  /** The response fields set so far, in order, as `[name, value]` pairs (a new array each time). */
  get responseHeaders(): ReadonlyArray<readonly [string, string]> {
    const f = this._fields;
    const out: Array<readonly [string, string]> = [];
    if (f !== null) for (let i = 0; i < f.length; i += 3) out.push([f[i + 1]!, f[i + 2]!]);
    return out;
  }

  /**
   * Add a `Set-Cookie` field. See {@link serializeCookie} for the rules.
   * @throws TypeError for an invalid name, value or attribute (CR/LF refused).
   *
   * @example
   * ```ts
   * request.addCookie('sid', token, { httpOnly: true, secure: true, sameSite: 'Lax', maxAge: 3600 });
   * ```
   */
  addCookie(name: string, value: string, options?: CookieOptions): void {
    this.addHeader('Set-Cookie', serializeCookie(name, value, options));
  }

  /** Answer with a redirect to `url` (302 by default) and finish. */
  redirect(url: string, status = 302): void {
    this.setResponseCode(status);
    this.setHeader('Location', url);
    this.setHeader('Content-Type', 'text/html; charset=utf-8');
    const href = escapeHtml(url);
    this.finish(`<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0;URL=${href}"></head><body><a href="${href}">click here</a></body></html>\n`);
  }

  /**
   * Send an interim 1xx response now (e.g. 103 Early Hints), before the final one.
   * Ignored for HTTP/1.0 clients and after a disconnect.
   * @throws Error once writing started; HttpStateError for 101 or a non-1xx code.
   */
  sendInformational(status: number, headers?: OutgoingHeaders): void {
    this._assertNotStarted();
    if (this._disconnected || this.versionMinor === 0) return;
    this.channel._informational(this, status, headers);
  }

  /**
   * Write body bytes (a string is encoded as UTF-8). The first write sends
   * the status line and fields. Silently ignored after a disconnect.
   * @throws Error after `finish()`; HttpStateError when more bytes than the Content-Length you set are written.
   */
  write(data: string | Uint8Array): void {
    if (this.finished) throw new Error('Request.write called after Request.finish');
    if (this._disconnected) return;
    const ch = this.channel;
    let head: Uint8Array | null = null;
    if (!this.startedWriting) {
      head = ch._startResponse(this, undefined);
      this.startedWriting = true;
    }
    if (this.code === 204 || this.code === 304) {
      if (head !== null) ch._write(this, head);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = ch._data(this, data);
    } catch (err) {
      if (head !== null) ch._write(this, head);
      throw err;
    }
    if (bytes.length !== 0) this.sentLength += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    // The head and the first chunk travel together.
    if (head !== null) ch._writePair(this, head, bytes);
    else if (bytes.length !== 0) ch._write(this, bytes);
  }

  /**
   * End the response, after writing `data` if given. With nothing written
   * before, the whole response (fields, Content-Length, body) goes out as
   * one buffer. Fires `notifyFinish()` and lets the connection go on to
   * the next request.
   *
   * After a disconnect this is a no-op (it never throws for that). A
   * second call logs a warning and does nothing else.
   *
   * @throws HttpStateError when the body is shorter than a Content-Length
   *   you set (the connection is then aborted: the client would wait for
   *   bytes that never come); TypeError/HttpStateError from the first
   *   write of the fields (see {@link write}).
   */
  finish(data?: string | Uint8Array): void {
    if (this.finished) {
      log.warn('Request.finish called twice for {method} {uri}', { method: this.method, uri: this.uri });
      return;
    }
    if (this._disconnected) {
      this.finished = true;
      return;
    }
    const ch = this.channel;
    // Corked: this response's last bytes and whatever the next pipelined requests answer go out together.
    ch._cork();
    try {
      this._finish(ch, data);
    } finally {
      ch._uncork();
    }
    const waiters = this._finishWaiters;
    if (waiters !== null) {
      this._finishWaiters = null;
      for (const d of waiters) d.callback(undefined);
    }
  }

  private _finish(ch: HTTPChannel, data: string | Uint8Array | undefined): void {
    const noBody = this.code === 204 || this.code === 304;
    if (!this.startedWriting) {
      // The whole response at once: head and body are queued together, with a Content-Length.
      const body = noBody || data === undefined ? '' : data;
      const length = ch._sendWhole(this, body);
      this.startedWriting = true;
      this.finished = true;
      if (this.method !== 'HEAD' && !noBody) this.sentLength += length;
    } else {
      if (data !== undefined && !noBody) this.write(data);
      let out: Uint8Array;
      try {
        out = ch._end(this);
      } catch (err) {
        // TOO_LITTLE_DATA: the client waits for bytes that will never come.
        this._abortResponse('the body is shorter than its Content-Length');
        throw err;
      }
      this.finished = true;
      if (out.length !== 0) ch._write(this, out);
    }
    if (this._producer !== null) this.unregisterProducer();
    ch._responseDone(this);
  }

  /**
   * A Deferred that fires (with undefined) once the response is finished,
   * or fails with ConnectionLost if the client disconnects first. Useful to
   * stop work nobody will receive (a long poll, a stream).
   */
  notifyFinish(): Deferred<void> {
    if (this.finished && !this._disconnected) return succeed<void>(undefined);
    if (this._disconnected) return fail<void>(new ConnectionLost('the client disconnected before the response was finished'));
    const d = new Deferred<void>();
    (this._finishWaiters ??= []).push(d);
    return d;
  }

  /**
   * Stream the response body from a producer: `streaming` true for a push
   * producer (paused while the connection's buffer is full), false for a
   * pull producer (asked for one chunk at a time). The producer writes with
   * `request.write` and calls `request.finish()` at its end; finishing
   * unregisters it. After a disconnect the producer is stopped at once.
   * @throws Error when a producer is already registered on this request.
   */
  registerProducer(producer: IProducer, streaming: boolean): void {
    if (this._producer !== null) throw new Error('a producer is already registered on this request');
    if (this._disconnected || this.finished) {
      producer.stopProducing();
      return;
    }
    this._producer = producer;
    this.channel._registerProducer(this, producer, streaming);
  }

  /** Detach the producer registered with {@link registerProducer} (no-op when none). */
  unregisterProducer(): void {
    if (this._producer === null) return;
    this._producer = null;
    this.channel._unregisterProducer(this);
  }

  /**
   * Hand the connection to `protocol` (the upgrade hook: WebSocket, CONNECT
   * tunnels…). Unless this request's response was already sent as a 101 (or
   * a 2xx to CONNECT), sends one with `options`. Then, once the request is
   * complete, HTTP parsing stops for good, `protocol.makeConnection(transport)`
   * is called, and the bytes the client sent after the request are given to
   * `protocol.dataReceived`. The channel forwards later bytes and the
   * connection loss to it.
   *
   * @throws Error when the client did not ask to switch
   *   ({@link upgradeRequested} false), or a non-switching response was started.
   *
   * @example
   * ```ts
   * if (request.upgradeRequested) {
   *   request.upgrade(new MyWebSocketProtocol(), { headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Accept', accept]] });
   * }
   * ```
   */
  upgrade(protocol: IProtocol, options: UpgradeOptions = {}): void {
    if (!this._head.upgrade) throw new Error('the client did not ask to switch protocols');
    if (this._disconnected) return;
    if (!this._switched) {
      if (this.startedWriting) throw new Error('a response was already started: the connection cannot switch protocols');
      const status = options.status ?? (this.method === 'CONNECT' ? 200 : 101);
      const out = this.channel._startSwitch(this, status, options.headers);
      this.code = status;
      this.startedWriting = true;
      this.finished = true;
      this._switched = true;
      this.channel._write(this, out);
    }
    this.channel._upgrade(this, protocol);
  }

  /**
   * A handler failed with `error`: answer with its status if it is an
   * {@link HttpError} (or a parse error), else log it once and answer 500.
   * If the response had started, the connection is aborted instead (the
   * client must not take a truncated response as complete). No-op after a
   * disconnect for connection errors.
   */
  processingFailed(error: unknown): void {
    const err = error instanceof Failure ? error.value : error;
    const status = statusOfError(err);
    if (this._disconnected) {
      if (!(err instanceof ConnectionClosed) && status === null) this._logFailure(err);
      return;
    }
    if (this.finished) {
      if (status === null) this._logFailure(err);
      return;
    }
    if (status === null) this._logFailure(err);
    if (this.startedWriting) {
      this._abortResponse('the handler failed after the response started');
      return;
    }
    this._respondError(status ?? 500, err instanceof HttpError ? err : undefined);
  }

  /** @internal Answer with an error page (nothing written yet). */
  _respondError(status: number, err?: HttpError): void {
    this._fields = null;
    this._hasDate = false;
    this._framingFields = false;
    this._lengthFields = 0;
    this.code = status;
    this.codeMessage = undefined;
    const headers = err?.headers;
    if (headers !== undefined) {
      if (Array.isArray(headers)) for (const [n, v] of headers as ReadonlyArray<readonly [string, string | number]>) this.addHeader(n, v);
      else {
        for (const [n, v] of Object.entries(headers as Record<string, string | number | ReadonlyArray<string | number>>)) {
          this.setHeader(n, v);
        }
      }
    }
    this.setHeader('Content-Type', 'text/html; charset=utf-8');
    const detail = err !== undefined && err.message !== reasonPhrase(status) ? err.message : undefined;
    this.finish(errorPage(status, detail));
  }

  private _logFailure(err: unknown): void {
    log.failure('Unhandled error while processing {method} {uri}', err, { method: this.method, uri: this.uri }, 'error');
  }

  /** @internal The connection is gone. */
  _connectionLost(reason: Failure): void {
    if (this._disconnected) return;
    this._disconnected = true;
    this._producer = null;
    const err = reason.value instanceof ConnectionLost ? reason.value : new ConnectionLost('the client disconnected', { cause: reason.value });
    const failure = new Failure(err);
    if (!this._bodyDone) this._onBodyError(failure);
    // Waiters are cleared by a successful finish(): any left never saw their response complete.
    const waiters = this._finishWaiters;
    this._finishWaiters = null;
    if (waiters !== null) for (const d of waiters) d.errback(failure);
  }

  /** @internal The response cannot be completed: drop the connection (the client must not take a truncated response as whole). */
  _abortResponse(why: string): void {
    this.finished = true;
    this.channel._abort();
    this._connectionLost(new Failure(new ConnectionLost(`the response was aborted: ${why}`)));
  }

  /** @internal The response fields for the serializer, with `date` added unless the handler set one. */
  _outgoingHeaders(date: readonly [string, string]): ReadonlyArray<readonly [string, string]> {
    const out = this.responseHeaders as Array<readonly [string, string]>;
    if (!this._hasDate) out.push(date);
    return out;
  }

  /** @internal A Content-Length field is among the response fields (then it states the body's length: see {@link _simpleFieldLines}). */
  get _hasLengthField(): boolean {
    return this._lengthFields !== 0;
  }

  /**
   * @internal The response fields as wire lines (`Name: value\r\n`…), with
   * `dateLine` unless the handler set a Date — or null when a field that
   * decides the framing was set (Transfer-Encoding, Connection, more than
   * one Content-Length, or one that is not exactly `bodyLength` in digits),
   * or a custom reason phrase: those responses go through the serializer's
   * checks.
   */
  _simpleFieldLines(dateLine: string, bodyLength: number): string | null {
    if (this._framingFields || this.codeMessage !== undefined) return null;
    if (this._lengthFields !== 0 && (this._lengthFields !== 1 || !this._lengthFieldIs(bodyLength))) return null;
    const f = this._fields;
    if (f === null) return dateLine;
    const date = this._hasDate ? '' : dateLine;
    // Responses of one handler set the same fields again and again: reuse the lines built
    // last time when the fields and the date are the same strings (compared without allocating).
    const memo = LINES_MEMO;
    if (date === memo.date && f.length === memo.fields.length) {
      const mf = memo.fields;
      let same = true;
      for (let i = 0; i < f.length; i++) {
        if (f[i] !== mf[i]) {
          same = false;
          break;
        }
      }
      if (same) return memo.lines;
    }
    let lines = '';
    for (let i = 0; i < f.length; i += 3) lines += `${f[i + 1]!}: ${f[i + 2]!}\r\n`;
    lines += date;
    memo.fields = f.slice();
    memo.date = date;
    memo.lines = lines;
    return lines;
  }

  /** Whether the one Content-Length field is `n` written in plain digits (what the serializer would accept as `n`). */
  private _lengthFieldIs(n: number): boolean {
    const f = this._fields!;
    let i = 0;
    while (f[i] !== 'content-length') i += 3;
    const v = f[i + 2]!;
    if (v.length === 0 || v.length > 15) return false;
    let value = 0;
    for (let k = 0; k < v.length; k++) {
      const c = v.charCodeAt(k) - 0x30;
      if (c < 0 || c > 9) return false;
      value = value * 10 + c;
    }
    return value === n;
  }

  private _assertNotStarted(): void {
    if (this.startedWriting) throw new Error('the response status and fields were already sent');
  }

  private _add(name: string, lower: string, value: string | number): void {
    const v = typeof value === 'string' ? value : String(value);
    if (!isFieldValue(v)) throw new TypeError(`invalid character in the value of HTTP field ${JSON.stringify(name)}`);
    (this._fields ??= []).push(lower, name, v);
    switch (lower.length) {
      case 4:
        if (lower === 'date') this._hasDate = true;
        break;
      case 10:
      case 17:
        if (lower === 'connection' || lower === 'transfer-encoding') this._framingFields = true;
        break;
      case 14:
        if (lower === 'content-length') this._lengthFields++;
        break;
    }
  }

  private _remove(lower: string): void {
    const f = this._fields;
    if (f === null) return;
    let w = 0;
    for (let i = 0; i < f.length; i += 3) {
      if (f[i] === lower) continue;
      if (w !== i) {
        f[w] = f[i]!;
        f[w + 1] = f[i + 1]!;
        f[w + 2] = f[i + 2]!;
      }
      w += 3;
    }
    f.length = w;
    if (lower === 'date') this._hasDate = false;
    else if (lower === 'content-length') this._lengthFields = 0;
    else if (lower === 'connection' || lower === 'transfer-encoding') {
      this._framingFields = false;
      for (let i = 0; i < w; i += 3) {
        const n = f[i];
        if (n === 'connection' || n === 'transfer-encoding') this._framingFields = true;
      }
    }
  }

  private _parseTarget(): void {
    const t = this.uri;
    let start = 0;
    if (t.charCodeAt(0) !== 0x2f) {
      // absolute-form (a proxy-style target): skip "scheme://authority".
      const scheme = t.indexOf('://');
      if (scheme !== -1 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(t.slice(0, scheme))) {
        const slash = t.indexOf('/', scheme + 3);
        const q = t.indexOf('?', scheme + 3);
        if (slash === -1 || (q !== -1 && q < slash)) {
          this._rawPath = '/';
          this._rawQuery = q === -1 ? '' : t.slice(q + 1);
          return;
        }
        start = slash;
      } else {
        // asterisk-form (`*`) or authority-form (CONNECT host:port).
        this._rawPath = t;
        return;
      }
    }
    const q = t.indexOf('?', start);
    if (q === -1) {
      this._rawPath = start === 0 ? t : t.slice(start);
    } else {
      this._rawPath = t.slice(start, q);
      this._rawQuery = t.slice(q + 1);
    }
  }
}

// The last field block built by `_simpleFieldLines` (a cache of one entry; see there).
const LINES_MEMO: { fields: string[]; date: string; lines: string } = { fields: [], date: '', lines: '' };

// Names already checked, with their lower-case form: the few names an app sets on every
// response skip the regex and the lower-casing.
const NAME_CACHE = new Map<string, string>();
const NAME_CACHE_MAX = 512;

function checkName(name: string): string {
  const cached = NAME_CACHE.get(name);
  if (cached !== undefined) return cached;
  if (typeof name !== 'string' || !TOKEN_RE.test(name)) throw new TypeError(`invalid HTTP field name ${JSON.stringify(name)}`);
  const lower = name.toLowerCase();
  if (NAME_CACHE.size < NAME_CACHE_MAX) NAME_CACHE.set(name, lower);
  return lower;
}

/** A field value may hold HTAB, visible ASCII, SP and obs-text (0x80–0xFF); nothing else (no CR, LF, NUL, DEL). */
function isFieldValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 ? c !== 0x09 : c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** The percent-decoded segments of a raw path (`['']` for `/`; none unless it starts with `/`). */
function pathSegments(raw: string): string[] {
  if (raw.charCodeAt(0) !== 0x2f) return [];
  if (raw.length === 1) return [''];
  const segments = raw.slice(1).split('/');
  if (raw.indexOf('%') !== -1) for (let i = 0; i < segments.length; i++) segments[i] = decodePath(segments[i]!);
  return segments;
}

/** Percent-decode a path as UTF-8, keeping invalid escapes as written. */
export function decodePath(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    // Decode the valid runs only.
    return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/**
 * The HTTP/1.1 server protocol: {@link HTTPChannel} (one per connection)
 * and {@link HTTPFactory} (what a port listens with).
 *
 * The channel glues the sans-IO {@link RequestParser} and
 * {@link ResponseSerializer} to a transport. Its one structural rule is
 * what Twisted had to fix twice (CVE-2023-46137, CVE-2024-41671): **request
 * N+1 is not even parsed before response N is finished**. The parser is
 * paused at the end of each request until its response is complete —
 * whichever way it completes: `finish()`, an error page, a 500, an abort,
 * a disconnect — so there is never a second request that could write out
 * of turn. Bytes of later requests wait in the parser's buffer; past
 * `maxBufferedBytes` the transport stops reading (backpressure).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { nextTick } from 'node:process';
import type { IDelayedCall, IReactorTime } from '../defer/clock.js';
import { Deferred } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import { getReactor } from '../reactor/default.js';
import { copyRead, kReadBorrowed, readsBorrowed } from '../reactor/fastRead.js';
import { deliverConnectionLost, deliverData, makeConnection } from '../reactor/glue.js';
import type { IProducer, IProtocol, IProtocolFactory, ITCPTransport, ITransport } from '../reactor/interfaces.js';
import { accessLogSink, clfTimestamp, type AccessLogEntry, type AccessLogOption } from './accessLog.js';
import { DateCache } from './date.js';
import { HttpParseError } from './errors.js';
import type { HeaderList } from './headers.js';
import { RequestParser, type HttpParserOptions, type ParserHandler, type RequestHead } from './parser.js';
import { DEFAULT_MAX_BODY_SIZE, Request, RequestTimeout } from './request.js';
import { ResponseSerializer, type OutgoingHeaders } from './serializer.js';
import { reasonPhrase } from './status.js';

const log = new Logger('spindle.http');

const EMPTY = new Uint8Array(0);

/**
 * A transport that can write a string itself (the TCP transport's `writeString`): Node then
 * encodes it straight into the socket's write request, with no Buffer per write. Optional on
 * `ITransport`; the channel checks for it once per connection.
 */
interface StringWriter {
  writeString?(data: string, encoding: 'latin1' | 'utf8'): void;
}

// Buffer#latin1Write: the string's code units as bytes, no encoding options to parse. Not in @types/node.
const latin1Write = (Buffer.prototype as unknown as { latin1Write(this: Buffer, s: string, offset: number, length: number): number })
  .latin1Write;

/** UTF-8 length of `s`: counted in JavaScript for short strings (cheaper than a call into C++ for a hello-world body). */
function utf8Length(s: string): number {
  const n = s.length;
  if (n > 64) return Buffer.byteLength(s, 'utf8');
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: 4 bytes for 2 code units.
      bytes += 2;
      i++;
    } else bytes += 2; // 3 bytes (a lone surrogate is written as U+FFFD, also 3)
  }
  return bytes;
}

/** A request handler: called once per request, synchronously, when its head has arrived. */
export type RequestHandler = (request: Request) => unknown;

/** Options of an {@link HTTPFactory} (and so of a `Site`). Every limit and timeout has a default. */
export interface HTTPFactoryOptions {
  /** Where time comes from (timeouts, the Date field). Default: the global reactor. */
  reactor?: IReactorTime;
  /** Seconds a keep-alive connection may wait for its next request. Default 60. `0`/`Infinity`: never. */
  idleTimeout?: number;
  /** Seconds from the first byte of a request head to its end (slowloris guard) → 408. Default 30. */
  headTimeout?: number;
  /** Seconds a request body may go without progress while it is being read → 408. Default 60. */
  bodyTimeout?: number;
  /** Seconds to wait for a connection we closed to go away before aborting it. Default 15. */
  abortTimeout?: number;
  /** Default `request.maxBodySize`: the largest body `content()` buffers (413 beyond). Default 10 MiB. */
  maxBodySize?: number;
  /** Bytes of later requests buffered while one is answered, before the transport stops reading. Default 64 KiB. */
  maxBufferedBytes?: number;
  /**
   * When a response is finished before its request's body was read, a
   * remaining body up to this many bytes (declared by Content-Length) is
   * read and discarded so the connection stays usable; a longer or chunked
   * one closes the connection after the response. Default 64 KiB.
   */
  maxDrainSize?: number;
  /** Parser limits (head size → 431, target length → 414, field count → 431, chunk extensions, trailers). */
  limits?: HttpParserOptions;
  /** The access log; see {@link AccessLogOption}. Default off. */
  accessLog?: AccessLogOption;
  /**
   * Turn Nagle's algorithm off on TCP connections (`setTcpNoDelay(true)`),
   * so a response written in more than one piece is not held back waiting
   * for the client's delayed ACK (tens of milliseconds per request on a
   * keep-alive connection). Default true, as in `node:http`.
   */
  noDelay?: boolean;
}

/** The defaults of {@link HTTPFactoryOptions}. */
export const HTTP_SERVER_DEFAULTS = Object.freeze({
  idleTimeout: 60,
  headTimeout: 30,
  bodyTimeout: 60,
  abortTimeout: 15,
  maxBodySize: DEFAULT_MAX_BODY_SIZE,
  maxBufferedBytes: 64 * 1024,
  maxDrainSize: 64 * 1024,
});

/** HTTPFactory options with every default filled in. */
export interface ResolvedOptions {
  idleTimeout: number;
  headTimeout: number;
  bodyTimeout: number;
  abortTimeout: number;
  maxBodySize: number;
  maxBufferedBytes: number;
  maxDrainSize: number;
}

function seconds(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`${what} must be a number of seconds >= 0`);
  return v === 0 ? Infinity : v;
}

function bytes(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`${what} must be a number of bytes >= 0`);
  return v;
}

/**
 * Builds an {@link HTTPChannel} per connection and hands each request to
 * `handler` (or to {@link HTTPFactory.process}, which subclasses such as
 * `Site` override).
 *
 * The handler is called synchronously when a request head has arrived
 * (the body is read only when the handler asks for it). It answers through
 * the {@link Request}; if it throws, or returns a Promise/Deferred that
 * fails, the client gets 500 (or the error's status, for an `HttpError`)
 * and the error is logged once.
 *
 * @example
 * ```ts
 * const factory = new HTTPFactory((request) => {
 *   request.setHeader('Content-Type', 'text/plain');
 *   request.finish('hello\n');
 * }, { idleTimeout: 30 });
 * reactor.listenTCP(8080, factory, { interface: '127.0.0.1' });
 * ```
 */
export class HTTPFactory implements IProtocolFactory {
  /** The resolved limits and timeouts (seconds; `Infinity` = disabled). */
  readonly options: Readonly<ResolvedOptions>;
  /** The parser limits each channel uses. */
  readonly limits: HttpParserOptions | undefined;
  /** The open connections. */
  readonly channels = new Set<HTTPChannel>();
  /** How many ports use this factory. */
  numPorts = 0;
  /** @internal */ readonly _accessLog: ((entry: AccessLogEntry) => void) | null;
  /** @internal */ readonly _noDelay: boolean;
  private _clock: IReactorTime | null;
  private _dates: DateCache | null = null;
  private _drainWaiters: Deferred<void>[] = [];

  /**
   * @param handler - called for every request; may be omitted by subclasses overriding `process`.
   * @param options - limits, timeouts, clock, access log.
   * @throws RangeError for a negative or NaN limit or timeout.
   */
  constructor(
    readonly handler: RequestHandler | null = null,
    options: HTTPFactoryOptions = {},
  ) {
    const d = HTTP_SERVER_DEFAULTS;
    this.options = Object.freeze({
      idleTimeout: seconds(options.idleTimeout, d.idleTimeout, 'idleTimeout'),
      headTimeout: seconds(options.headTimeout, d.headTimeout, 'headTimeout'),
      bodyTimeout: seconds(options.bodyTimeout, d.bodyTimeout, 'bodyTimeout'),
      abortTimeout: seconds(options.abortTimeout, d.abortTimeout, 'abortTimeout'),
      maxBodySize: bytes(options.maxBodySize, d.maxBodySize, 'maxBodySize'),
      maxBufferedBytes: bytes(options.maxBufferedBytes, d.maxBufferedBytes, 'maxBufferedBytes'),
      maxDrainSize: bytes(options.maxDrainSize, d.maxDrainSize, 'maxDrainSize'),
    });
    this.limits = options.limits;
    this._clock = options.reactor ?? null;
    this._accessLog = accessLogSink(options.accessLog);
    this._noDelay = options.noDelay !== false;
  }

  /** The clock in use (the global reactor unless one was given; resolved on first use). */
  get clock(): IReactorTime {
    return (this._clock ??= getReactor());
  }

  /** @internal The shared Date field cache. */
  get _dateCache(): DateCache {
    return (this._dates ??= new DateCache(this.clock));
  }

  /**
   * Handle one request. The default calls the handler given to the
   * constructor; override it in a subclass instead if you prefer.
   * @throws Error when there is no handler.
   */
  process(request: Request): unknown {
    if (this.handler === null) throw new Error('HTTPFactory has no handler: pass one or override process()');
    return this.handler(request);
  }

  /** A channel for a new connection. */
  buildProtocol(_addr: Address): HTTPChannel {
    return new HTTPChannel(this);
  }

  /** A port started using this factory (counted in {@link numPorts}). */
  doStart(): void {
    this.numPorts++;
  }

  /** A port stopped using this factory. */
  doStop(): void {
    if (this.numPorts > 0) this.numPorts--;
  }

  /**
   * Graceful shutdown: every connection closes once its current response
   * is finished (idle ones at once; a response not yet started gets
   * `Connection: close`). Fires when no connection is left. Stop listening
   * first so no new ones arrive.
   */
  drain(): Deferred<void> {
    const d = new Deferred<void>();
    if (this.channels.size === 0) {
      d.callback(undefined);
      return d;
    }
    this._drainWaiters.push(d);
    for (const ch of [...this.channels]) ch.loseConnectionWhenIdle();
    return d;
  }

  /** @internal */
  _track(ch: HTTPChannel): void {
    this.channels.add(ch);
  }

  /** @internal */
  _untrack(ch: HTTPChannel): void {
    if (!this.channels.delete(ch) || this.channels.size !== 0 || this._drainWaiters.length === 0) return;
    const waiters = this._drainWaiters;
    this._drainWaiters = [];
    for (const d of waiters) d.callback(undefined);
  }
}

// Reasons the parser is paused (a bit mask: it runs only when none holds).
const P_RESPONSE = 1; // the current request is complete; its response is not
const P_NO_READER = 2; // the current request has a body nobody reads yet
const P_BODY_PAUSED = 4; // the body reader asked for a pause
const P_CLOSING = 8; // the connection is closing: nothing more is parsed

// The one timeout armed at a time.
const T_NONE = 0;
const T_IDLE = 1;
const T_HEAD = 2;
const T_BODY = 3;
const T_ABORT = 4;

/** Byte count under which a corked batch is joined into one buffer rather than written as a sequence. */
const JOIN_LIMIT = 64 * 1024;

/**
 * The server side of one HTTP/1.1 connection.
 *
 * - **Keep-alive**: HTTP/1.1 connections persist unless `Connection:
 *   close`; HTTP/1.0 ones only with `Connection: keep-alive`.
 * - **Pipelining**: requests are answered strictly in order; the next one
 *   is parsed only when the current response is finished (see the module
 *   comment). Responses produced synchronously within one `dataReceived`
 *   are written as one buffer; so are pipelined responses an application
 *   finishes asynchronously within one turn of the event loop (held while
 *   the next request is in flight, written when the pipeline runs dry or
 *   at the end of the turn). A lone response is written at once.
 * - **Errors**: a malformed request gets its status (400, 413, 414, 431,
 *   501, 505) with `Connection: close`, then the connection closes; the
 *   parser never resynchronises.
 * - **100-continue**: the interim response goes out when the handler first
 *   reads the body. If the response starts first, none is sent and the
 *   connection is closed after the response, unless the body is already
 *   arriving and small enough to drain (`maxDrainSize`).
 * - **Timeouts** (from the factory's clock): idle keep-alive, slow head
 *   (408), slow body (408), then an abort if a connection we closed lingers.
 * - **Upgrade**: `request.upgrade(protocol)` hands the connection and the
 *   bytes after the request to another protocol; the channel then forwards
 *   `dataReceived` and `connectionLost` to it.
 */
export class HTTPChannel implements IProtocol, ParserHandler<RequestHead> {
  /** The connection; set by `makeConnection`. */
  transport: ITransport | null = null;
  /** Requests received on this connection so far. */
  requestCount = 0;

  private readonly _parser: RequestParser;
  private readonly _ser = new ResponseSerializer();
  private readonly _info: { method: string; versionMinor: number; keepAlive: boolean } = {
    method: 'GET',
    versionMinor: 1,
    keepAlive: true,
  };
  private readonly _opts: Readonly<ResolvedOptions>;
  private readonly _clock: IReactorTime;
  private _now = 0;

  private _current: Request | null = null;
  /** The parser delivered the current request's end. */
  private _currentEnded = false;
  private _continueSent = false;
  private _pauses = 0;
  private _feeding = false;
  private _readPaused = false;

  // Cork: output produced while processing input is written once, at the end. Heads (and
  // ASCII bodies) accumulate as one latin1 string, so a batch of small responses becomes one
  // buffer with no per-response allocation; `_out` holds the parts before `_outStr`, in order.
  private readonly _out: Array<string | Uint8Array> = [];
  private _outStr = '';
  private _outBytes = 0;
  private _corked = 0;
  private _producerDirect = false;
  private _loseAfterFlush = false;
  // Turn hold: an application that answers asynchronously (in later microtasks) finishes each
  // pipelined response outside any dataReceived, so without this every response would be its
  // own write (one system call each). When a response finishes and the next pipelined request
  // is dispatched but not answered yet, the output stays held: it is written when the pipeline
  // runs dry (a response finishes with no further request dispatched), when the held bytes
  // pass JOIN_LIMIT, or at the end of the turn — a process.nextTick queued from a microtask
  // runs once the microtask queue is drained — whichever comes first. A lone keep-alive
  // response is never held, and nothing waits for a timer.
  private _holding = false;
  private _holdTickQueued = false;
  /** The transport has `writeString` (checked once, in makeConnection). */
  private _stringWrites = false;

  private _closing = false;
  private _mustClose = false;
  private _lost = false;
  private _parserDead = false;
  private _upgraded: IProtocol | null = null;
  private _pendingUpgrade: IProtocol | null = null;

  private _timer: IDelayedCall | null = null;
  private _timerKind = T_NONE;
  private _deadline = Infinity;
  private _idleSince = 0;
  private _headSince = -1;
  private _bodySince = 0;

  constructor(readonly factory: HTTPFactory) {
    this._parser = new RequestParser(factory.limits);
    this._opts = factory.options;
    this._clock = factory.clock;
  }

  /** The protocol the connection was handed to by an upgrade, or null. */
  get upgradedTo(): IProtocol | null {
    return this._upgraded;
  }

  // ============================================================ IProtocol

  /** Attach to `transport` (called by the reactor, or by a test with a StringTransport); starts the idle timeout. */
  makeConnection(transport: ITransport): void {
    this.transport = transport;
    this._stringWrites = typeof (transport as ITransport & StringWriter).writeString === 'function';
    this.factory._track(this);
    if (this.factory._noDelay) (transport as Partial<ITCPTransport>).setTcpNoDelay?.(true);
    this._tick();
    this._idleSince = this._now;
    this._updateTimer();
  }

  /**
   * @internal A read lent by the transport's fast read path (`kReadBorrowed`, valid for this call
   * only). A WebSocket reached through an upgrade borrows it in turn — it copies only what it
   * keeps — so its frames are read as on a connection of its own; HTTP itself, a protocol that
   * does not borrow, and a subclass that overrides `dataReceived` get an owned copy through
   * `dataReceived`, as the transport would have given.
   */
  [kReadBorrowed](buffer: Buffer, n: number): void {
    const upgraded = this._upgraded;
    if (upgraded !== null && readsBorrowed(upgraded) && this.dataReceived === HTTPChannel.prototype.dataReceived) {
      upgraded[kReadBorrowed](buffer, n);
    } else {
      this.dataReceived(copyRead(buffer, n));
    }
  }

  /**
   * Bytes from the client: parsed, and each request dispatched in turn.
   * After an upgrade they go to the new protocol.
   */
  dataReceived(data: Uint8Array): void {
    if (this._upgraded !== null) {
      deliverData(this._upgraded, data);
      return;
    }
    if (this._lost || this._closing) return;
    this._tick();
    this._corked++;
    try {
      this._feed(data);
    } finally {
      this._uncork();
    }
  }

  /**
   * The connection is gone: timers stop, the current request hears about it
   * (`notifyFinish()` fails with ConnectionLost, body readers get `error`),
   * and no further request is dispatched. After an upgrade, forwarded.
   */
  connectionLost(reason: Failure): void {
    if (this._lost) return;
    this._lost = true;
    this._closing = true;
    this._cancelTimer();
    this._out.length = 0;
    this._outStr = '';
    this._outBytes = 0;
    this._holding = false;
    this.factory._untrack(this);
    const upgraded = this._upgraded;
    if (upgraded !== null) {
      deliverConnectionLost(upgraded, reason);
      return;
    }
    const req = this._current;
    this._current = null;
    if (req !== null) req._connectionLost(reason);
  }

  /**
   * Close once the current response (if any) is finished; a response not
   * started yet says `Connection: close`. Used for graceful shutdown.
   */
  loseConnectionWhenIdle(): void {
    if (this._lost || this._upgraded !== null) return;
    this._mustClose = true;
    if (this._current === null) this._loseConnection();
  }

  // ============================================================ parser events

  /** @internal */
  onHead(head: RequestHead): void {
    this._headSince = -1;
    this._bodySince = this._now;
    this._currentEnded = false;
    this._continueSent = false;
    this.requestCount++;
    const req = new Request(this, head, this._now, this._opts.maxBodySize);
    this._current = req;
    this._dispatch(req);
    if (this._current === req && !req._bodyDone && req._reader === null && !req._draining && !this._closing) {
      this._pause(P_NO_READER);
    }
  }

  /** @internal */
  onData(data: Uint8Array): void {
    const req = this._current!;
    this._bodySince = this._now;
    try {
      req._onBodyData(data);
    } catch (e) {
      req._reader = null;
      req._readerPaused = false;
      req.processingFailed(e);
    }
  }

  /** @internal */
  onEnd(trailers: HeaderList | null): void {
    const req = this._current!;
    this._currentEnded = true;
    try {
      req._onBodyEnd(trailers);
    } catch (e) {
      req.processingFailed(e);
    }
    if (this._upgraded !== null || this._closing || this._current !== req) return;
    if (this._pendingUpgrade !== null) {
      this._switch(this._pendingUpgrade);
      return;
    }
    if (req.finished && !req._switched) this._release();
    else this._pause(P_RESPONSE);
  }

  // ============================================================ for Request

  /** @internal The status line and fields of `req`'s response (and the whole message with `body`). */
  _startResponse(req: Request, body: string | Uint8Array | undefined): Uint8Array {
    this._assertCurrent(req);
    if (this._corked === 0) this._tick();
    // A streamed response may yet be aborted: the complete ones held before it go first.
    if (this._holding) this._releaseHold();
    const info = this._info;
    info.method = req.method;
    info.versionMinor = req.versionMinor;
    info.keepAlive = this._keepAliveFor(req);
    this._ser.respondTo(info);
    return this._ser.send({
      type: 'response',
      status: req.code,
      reason: req.codeMessage,
      headers: req._outgoingHeaders(this.factory._dateCache.fieldAt(this._now)),
      body,
    });
  }

  /**
   * @internal Serialise `req`'s whole response — head and `body`, with a
   * Content-Length — and queue it. Returns the body's length in bytes.
   *
   * The fast path: fields checked as they were set become the head string
   * directly, and an ASCII body joins it, so a batch of pipelined answers
   * is one latin1 string until it is written. Anything unusual (framing
   * fields set by the handler, HEAD, 204/304, a custom reason) goes through
   * the serializer's full checks.
   */
  _sendWhole(req: Request, body: string | Uint8Array): number {
    this._assertCurrent(req);
    // The clock was read by whoever took the outermost cork (dataReceived, finish, a timer).
    if (this._corked === 0) this._tick();
    const isString = typeof body === 'string';
    const length = isString ? utf8Length(body) : body.length;
    const info = this._info;
    info.method = req.method;
    info.versionMinor = req.versionMinor;
    info.keepAlive = this._keepAliveFor(req);
    const ser = this._ser;
    ser.respondTo(info);
    const lines = req._simpleFieldLines(this.factory._dateCache.lineAt(this._now), length);
    const head = lines === null ? null : ser.simpleResponseHead(req.code, lines, length, req._hasLengthField);
    if (head === null) {
      const out = ser.send({
        type: 'response',
        status: req.code,
        reason: req.codeMessage,
        headers: req._outgoingHeaders(this.factory._dateCache.fieldAt(this._now)),
        body,
      });
      if (!this._lost) this._send(out);
      return length;
    }
    if (this._lost) return length;
    if (!isString) {
      this._sendStr(head);
      if (length !== 0) this._send(body);
    } else if (length === body.length) {
      // ASCII: latin1 and UTF-8 agree.
      this._sendStr(head + body);
    } else {
      this._sendStr(head);
      this._send(Buffer.from(body, 'utf8'));
    }
    return length;
  }

  /** @internal */
  _data(req: Request, data: string | Uint8Array): Uint8Array {
    this._assertCurrent(req);
    return this._ser.send({ type: 'data', data });
  }

  /** @internal */
  _end(req: Request): Uint8Array {
    this._assertCurrent(req);
    return this._ser.send({ type: 'end' });
  }

  /** @internal A 101 (or 2xx to CONNECT) response head. */
  _startSwitch(req: Request, status: number, headers: OutgoingHeaders | undefined): Uint8Array {
    this._assertCurrent(req);
    const connect = req.method === 'CONNECT';
    if (!(status === 101 || (connect && status >= 200 && status < 300))) {
      throw new TypeError(`a protocol switch is answered with 101${connect ? ' or 2xx' : ''}, not ${status}`);
    }
    const info = this._info;
    info.method = req.method;
    info.versionMinor = req.versionMinor;
    info.keepAlive = true;
    this._ser.respondTo(info);
    if (!this._feeding) this._tick();
    const fields: Array<readonly [string, string | number]> = [...req._outgoingHeaders(this.factory._dateCache.fieldAt(this._now))];
    if (headers !== undefined) appendFields(fields, headers);
    return this._ser.send({ type: 'response', status, headers: fields });
  }

  /** @internal */
  _informational(req: Request, status: number, headers: OutgoingHeaders | undefined): void {
    this._assertCurrent(req);
    const info = this._info;
    info.method = req.method;
    info.versionMinor = req.versionMinor;
    info.keepAlive = true;
    this._ser.respondTo(info);
    this._send(this._ser.send({ type: 'informational', status, headers }));
  }

  /** @internal Response bytes of `req`, which must be the current request. */
  _write(req: Request, bytes: Uint8Array): void {
    this._assertCurrent(req);
    if (this._lost) return;
    this._send(bytes);
  }

  /** @internal A response head and its first body bytes, written together. */
  _writePair(req: Request, head: Uint8Array, bytes: Uint8Array): void {
    this._assertCurrent(req);
    if (this._lost) return;
    if (bytes.length === 0) {
      this._send(head);
      return;
    }
    if ((this._corked > 0 || this._holding) && !this._producerDirect) {
      this._send(head);
      this._send(bytes);
      return;
    }
    // Straight to the transport (a producer's writes, a write outside any batch): still one write.
    if (this._outBytes !== 0) this._flush();
    const total = head.length + bytes.length;
    if (total <= JOIN_LIMIT) {
      const buf = Buffer.allocUnsafe(total);
      buf.set(head, 0);
      buf.set(bytes, head.length);
      this.transport!.write(buf);
    } else {
      this.transport!.writeSequence([head, bytes]);
    }
  }

  /** @internal `req`'s response is complete. */
  _responseDone(req: Request): void {
    if (this._corked === 0) this._tick();
    const sink = this.factory._accessLog;
    if (sink !== null) this._logAccess(sink, req);
    if (this._lost || this._current !== req) return;
    if (this._ser.state === 'switched') {
      // A 101 (or 2xx to CONNECT) was finished: `upgrade(protocol)` follows.
      req._switched = true;
      return;
    }
    if (this._ser.state === 'must-close' || this._mustClose) {
      this._loseConnection();
      return;
    }
    if (this._currentEnded) {
      this._release();
      this._unpause(P_RESPONSE);
      if (!this._feeding) {
        this._updateTimer();
        // Finished from outside dataReceived (an asynchronous answer): batch with what follows.
        this._holdWhilePipelined();
      }
      return;
    }
    if (req._bodyDone) return; // a bodiless request: its end is parsed right after this
    // The body is still arriving: a reader goes on reading it; otherwise it is discarded.
    if (req._reader === null) {
      req._draining = true;
      this._unpause(P_NO_READER | P_BODY_PAUSED);
    }
    if (!this._feeding) this._updateTimer();
  }

  /** @internal The handler started reading the body. */
  _readerAttached(req: Request): void {
    if (req !== this._current || this._closing || this._lost) return;
    if (!this._feeding) this._tick();
    if (req.expectContinue && !this._continueSent && !req.startedWriting && req._bodyBytes === 0 && !req._bodyDone) {
      this._continueSent = true;
      this._informational(req, 100, undefined);
    }
    this._bodySince = this._now;
    this._unpause(P_NO_READER);
    if (!this._feeding) this._updateTimer();
  }

  /** @internal The reader paused, resumed or went away. */
  _bodyFlowChanged(req: Request): void {
    if (req !== this._current || this._closing || this._lost) return;
    if (!this._feeding) this._tick();
    if (req._reader === null) {
      if (!req._bodyDone && !req._draining) this._pause(P_NO_READER);
      this._unpause(P_BODY_PAUSED);
    } else if (req._readerPaused) {
      this._pause(P_BODY_PAUSED);
    } else {
      this._bodySince = this._now;
      this._unpause(P_BODY_PAUSED);
    }
    if (!this._feeding) this._afterFeed();
  }

  /** @internal */
  _registerProducer(req: Request, producer: IProducer, streaming: boolean): void {
    this._assertCurrent(req);
    // A producer's writes must reach the transport at once: its flow control watches them.
    this._holding = false;
    this._flush();
    this._producerDirect = true;
    this.transport!.registerProducer(producer, streaming);
  }

  /** @internal */
  _unregisterProducer(req: Request): void {
    this._producerDirect = false;
    if (!this._lost) this.transport!.unregisterProducer();
  }

  /** @internal Hand the connection to `protocol` once `req` is complete. */
  _upgrade(req: Request, protocol: IProtocol): void {
    this._assertCurrent(req);
    if (this._lost) return;
    if (this._parser.state === 'switched') {
      this._switch(protocol);
      return;
    }
    // The switch happens at the end of the request; a body nobody reads is skipped to get there.
    this._pendingUpgrade = protocol;
    if (req._reader === null && !req._bodyDone) {
      req._draining = true;
      this._unpause(P_NO_READER);
    }
  }

  /** @internal Drop the connection now (a response cannot be completed). */
  _abort(): void {
    if (this._lost) return;
    // Held output is only ever whole responses (a streamed one ends the hold when it starts).
    if (this._holding) {
      this._holding = false;
      this._flush();
    }
    this._closing = true;
    this._mustClose = true;
    this._pause(P_CLOSING);
    this._out.length = 0;
    this._outStr = '';
    this._outBytes = 0;
    this._holding = false;
    this._loseAfterFlush = false;
    this._cancelTimer();
    this.transport!.abortConnection();
  }

  // ============================================================ internals

  private _assertCurrent(req: Request): void {
    // Structural ordering: only the request at the head of the connection may write.
    if (req !== this._current) throw new Error('internal error: a response was written out of order');
  }

  private _tick(): void {
    this._now = this._clock.seconds();
  }

  private _feed(data: Uint8Array): void {
    let error: HttpParseError | null = null;
    this._feeding = true;
    try {
      this._parser.feed(data, this);
    } catch (e) {
      if (!(e instanceof HttpParseError)) throw e;
      error = e;
    } finally {
      this._feeding = false;
    }
    if (error !== null) this._parseError(error);
    if (!this._lost && this._upgraded === null) this._afterFeed();
  }

  /** Backpressure and timeouts, after parsing. */
  private _afterFeed(): void {
    const t = this.transport;
    if (t === null || this._closing) return;
    const buffered = this._pauses !== 0 && this._parser.bufferedLength > this._opts.maxBufferedBytes;
    if (buffered && !this._readPaused) {
      this._readPaused = true;
      t.pauseProducing();
    } else if (!buffered && this._readPaused) {
      this._readPaused = false;
      t.resumeProducing();
    }
    this._updateTimer();
  }

  private _dispatch(req: Request): void {
    let result: unknown;
    try {
      result = this.factory.process(req);
    } catch (e) {
      req.processingFailed(e);
      return;
    }
    if (result instanceof Deferred) {
      result.addErrback((f: Failure) => {
        req.processingFailed(f);
        return undefined;
      });
    } else if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, (e: unknown) => req.processingFailed(e));
    }
  }

  /** Whether the response to `req` may leave the connection open. */
  private _keepAliveFor(req: Request): boolean {
    const head = req._head;
    if (!head.keepAlive || this._mustClose || this._closing || this._parserDead) return false;
    if (req._bodyDone) return true;
    if (req._bodyFailure !== null) return false;
    if (req._reader !== null) return true; // being read: it will be consumed
    if (head.chunked) return false;
    // A client waiting for 100 Continue may never send the body: only close is safe.
    if (head.expectContinue && !this._continueSent && req._bodyBytes === 0 && this._parser.bufferedLength === 0) return false;
    return head.contentLength - req._bodyBytes <= this._opts.maxDrainSize;
  }

  /** The current request is done both ways: on to the next. */
  private _release(): void {
    const req = this._current;
    this._current = null;
    this._currentEnded = false;
    this._idleSince = this._now;
    if (this._parser.state === 'switched' && req !== null && !req._switched) this._parser.declineUpgrade();
  }

  private _pause(bit: number): void {
    if (this._pauses === 0) this._parser.pause();
    this._pauses |= bit;
  }

  private _unpause(bits: number): void {
    if ((this._pauses & bits) === 0) return;
    this._pauses &= ~bits;
    if (this._pauses !== 0) return;
    this._parser.resume();
    if (this._feeding || this._parserDead || this._lost || this._upgraded !== null) return;
    // Resumed from outside dataReceived (a response finished later, a reader resumed):
    // parse what is buffered now, corked.
    this._corked++;
    try {
      this._feed(EMPTY);
    } finally {
      this._uncork();
    }
  }

  private _send(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if ((this._corked > 0 || this._holding) && !this._producerDirect) {
      if (this._outStr !== '') {
        this._out.push(this._outStr);
        this._outStr = '';
      }
      this._out.push(bytes);
      this._outBytes += bytes.length;
      return;
    }
    if (this._outBytes !== 0) this._flush();
    this.transport!.write(bytes);
  }

  /** Queue (or write) response text; it must be latin1 (every code unit below 0x100). */
  private _sendStr(text: string): void {
    if ((this._corked > 0 || this._holding) && !this._producerDirect) {
      this._outStr += text;
      this._outBytes += text.length;
      return;
    }
    if (this._outBytes !== 0) this._flush();
    this._writeLatin1(this.transport!, text);
  }

  /** Write latin1 text: as a string where the transport takes one, else as a Buffer. */
  private _writeLatin1(t: ITransport, text: string): void {
    if (this._stringWrites) (t as ITransport & StringWriter).writeString!(text, 'latin1');
    else t.write(Buffer.from(text, 'latin1'));
  }

  private _flush(): void {
    const out = this._out;
    const str = this._outStr;
    const total = this._outBytes;
    this._outStr = '';
    this._outBytes = 0;
    if (this._lost || total === 0) {
      out.length = 0;
      return;
    }
    const t = this.transport!;
    const n = out.length;
    if (n === 0) {
      // The usual batch: heads and ASCII bodies only, one string.
      this._writeLatin1(t, str);
      return;
    }
    if (str === '' && n === 1) {
      const only = out[0]!;
      if (typeof only === 'string') this._writeLatin1(t, only);
      else t.write(only);
    } else if (total <= JOIN_LIMIT) {
      // One buffer, one write: the parts are copied into it.
      const buf = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const part = out[i]!;
        if (typeof part === 'string') at += latin1Write.call(buf, part, at, part.length);
        else {
          buf.set(part, at);
          at += part.length;
        }
      }
      if (str !== '') latin1Write.call(buf, str, at, str.length);
      t.write(buf);
    } else {
      const seq: Uint8Array[] = new Array<Uint8Array>(n);
      for (let i = 0; i < n; i++) {
        const part = out[i]!;
        seq[i] = typeof part === 'string' ? Buffer.from(part, 'latin1') : part;
      }
      if (str !== '') seq.push(Buffer.from(str, 'latin1'));
      t.writeSequence(seq);
    }
    out.length = 0;
  }

  /** @internal Hold writes until the matching {@link _uncork}. The outermost cork reads the clock. */
  _cork(): void {
    if (this._corked++ === 0 && !this._feeding) this._tick();
  }

  /** @internal Write what was held once the outermost cork is removed (unless a turn hold keeps it). */
  _uncork(): void {
    if (--this._corked !== 0 || this._holding) return;
    this._writeOut();
  }

  private _writeOut(): void {
    this._flush();
    if (this._loseAfterFlush) {
      this._loseAfterFlush = false;
      if (!this._lost) this.transport!.loseConnection();
    }
  }

  /**
   * After a response finished asynchronously: keep the output held while the next pipelined
   * request is in flight (see `_holding`), or write it now that the pipeline ran dry.
   */
  private _holdWhilePipelined(): void {
    const next = this._current;
    const inFlight = next !== null && !next.startedWriting && !this._closing && !this._lost && this._upgraded === null;
    if (inFlight && !this._producerDirect && this._outBytes !== 0 && this._outBytes < JOIN_LIMIT) {
      this._holding = true;
      if (!this._holdTickQueued) {
        this._holdTickQueued = true;
        nextTick(this._endHold);
      }
      return;
    }
    if (this._holding) this._releaseHold();
  }

  /** Write what is held — at once, or when the current cork comes off (inside finish()). */
  private _releaseHold(): void {
    this._holding = false;
    if (this._corked === 0) this._writeOut();
  }

  /** The end of the turn: write what is held. */
  private readonly _endHold = (): void => {
    this._holdTickQueued = false;
    if (this._holding) this._releaseHold();
  };

  /** Close after what is written; abort if the connection lingers. */
  private _loseConnection(): void {
    if (this._closing || this._lost) return;
    this._closing = true;
    this._mustClose = true;
    this._pause(P_CLOSING);
    if (!this._feeding) this._tick();
    this._arm(T_ABORT, this._now + this._opts.abortTimeout);
    // No more responses to batch with: what is held goes out now, then the close.
    this._holding = false;
    if (this._corked > 0) this._loseAfterFlush = true;
    else {
      if (this._outBytes !== 0) this._flush();
      this.transport!.loseConnection();
    }
  }

  private _parseError(err: HttpParseError): void {
    this._parserDead = true;
    this._mustClose = true;
    log.debug('Bad request ({code}) from {peer}: {message}', {
      code: err.code,
      status: err.status,
      message: err.message,
      peer: this.transport?.getPeer(),
    });
    const req = this._current;
    if (req !== null && !this._currentEnded) {
      // The current request's body is broken: its handler hears about it first.
      try {
        req._onBodyError(new Failure(err));
      } catch (e) {
        req.processingFailed(e);
      }
      if (!req.finished && !req._disconnected && !this._lost) {
        if (!req.startedWriting) req._respondError(err.status);
        else {
          req._abortResponse('the request body is invalid');
          return;
        }
      }
    } else if (req === null) {
      this._errorResponse(err.status);
    }
    this._loseConnection();
  }

  /** A short error response while no request is in flight. */
  private _errorResponse(status: number): void {
    if (this._ser.state !== 'idle' || this._lost) return;
    const info = this._info;
    info.method = 'GET';
    info.versionMinor = 1;
    info.keepAlive = false;
    this._ser.respondTo(info);
    this._send(
      this._ser.send({
        type: 'response',
        status,
        headers: [['Content-Type', 'text/plain; charset=utf-8'], this.factory._dateCache.fieldAt(this._clock.seconds())],
        body: `${reasonPhrase(status)}\n`,
      }),
    );
  }

  private _switch(protocol: IProtocol): void {
    const rest = this._parser.unconsumed;
    const buffered = rest.length === 0 ? null : Buffer.from(rest);
    this._upgraded = protocol;
    this._pendingUpgrade = null;
    this._current = null;
    this._cancelTimer();
    // The 101 must reach the wire before anything the new protocol writes.
    this._holding = false;
    this._flush();
    const t = this.transport!;
    if (this._readPaused) {
      this._readPaused = false;
      t.resumeProducing();
    }
    makeConnection(protocol, t);
    if (buffered !== null && !this._lost) deliverData(protocol, buffered);
  }

  private _logAccess(sink: (entry: AccessLogEntry) => void, req: Request): void {
    const peer = this.transport?.getPeer();
    const remoteAddr = peer !== undefined && 'host' in peer ? peer.host : peer !== undefined && 'name' in peer ? String(peer.name ?? '-') : '-';
    try {
      sink({
        remoteAddr,
        user: '-',
        time: req.startTime,
        timestamp: clfTimestamp(req.startTime),
        method: req.method,
        uri: req.uri,
        protocol: req.clientproto,
        status: req.code,
        bytes: req.sentLength,
        referer: req.getHeader('referer') ?? '-',
        userAgent: req.getHeader('user-agent') ?? '-',
        duration: Math.max(0, this._now - req.startTime),
      });
    } catch (e) {
      log.failure('Unhandled error in the access log', e, undefined, 'error');
    }
  }

  // ------------------------------------------------------------ timeouts

  /** Arm the timeout the connection's state calls for. */
  private _updateTimer(): void {
    if (this._lost || this._upgraded !== null || this._closing) return;
    const o = this._opts;
    const req = this._current;
    if (req !== null) {
      if (!this._currentEnded && !req._bodyDone && (this._pauses & (P_NO_READER | P_BODY_PAUSED)) === 0) {
        this._arm(T_BODY, this._bodySince + o.bodyTimeout);
      } else {
        // Waiting for the application (or for it to read): not the client's fault.
        this._arm(T_NONE, Infinity);
      }
    } else if (this._parser.state === 'head') {
      if (this._headSince < 0) this._headSince = this._now;
      this._arm(T_HEAD, this._headSince + o.headTimeout);
    } else {
      this._headSince = -1;
      this._arm(T_IDLE, this._idleSince + o.idleTimeout);
    }
  }

  /**
   * One DelayedCall per connection, moved only when a deadline comes
   * *earlier*: a later deadline is noticed when the call fires and re-armed
   * then, so the per-request path does not touch the timer queue.
   */
  private _arm(kind: number, deadline: number): void {
    this._timerKind = kind;
    this._deadline = deadline;
    if (kind === T_NONE || deadline === Infinity) return;
    // `_now` was read on entry (dataReceived, a finish, a timer): no second clock read per request.
    const delay = Math.max(0, deadline - this._now);
    const t = this._timer;
    if (t !== null && t.active()) {
      if (t.getTime() > deadline + 1e-9) t.reset(delay);
    } else {
      this._timer = this._clock.callLater(delay, this._onTimer);
    }
  }

  private _cancelTimer(): void {
    const t = this._timer;
    this._timer = null;
    this._timerKind = T_NONE;
    if (t !== null && t.active()) t.cancel();
  }

  private readonly _onTimer = (): void => {
    this._timer = null;
    if (this._lost || this._upgraded !== null) return;
    const kind = this._timerKind;
    if (kind === T_NONE || this._deadline === Infinity) return;
    this._tick();
    const left = this._deadline - this._now;
    if (left > 1e-6) {
      this._timer = this._clock.callLater(left, this._onTimer);
      return;
    }
    this._timerKind = T_NONE;
    switch (kind) {
      case T_IDLE:
        log.debug('Closing an idle connection from {peer}', { peer: this.transport?.getPeer() });
        this._loseConnection();
        break;
      case T_HEAD:
        this._corked++;
        try {
          this._mustClose = true;
          this._errorResponse(408);
          this._loseConnection();
        } finally {
          this._uncork();
        }
        break;
      case T_BODY:
        this._bodyTimedOut();
        break;
      case T_ABORT:
        log.debug('Aborting a connection that did not close in time: {peer}', { peer: this.transport?.getPeer() });
        this.transport?.abortConnection();
        break;
    }
  };

  private _bodyTimedOut(): void {
    const req = this._current;
    if (req === null) return;
    this._mustClose = true;
    this._corked++;
    try {
      const err = new RequestTimeout();
      try {
        req._onBodyError(new Failure(err));
      } catch (e) {
        req.processingFailed(e);
      }
      if (!req.finished && !req._disconnected && !this._lost) {
        if (req.startedWriting) {
          req._abortResponse('the request body timed out');
          return;
        }
        req._respondError(408, err);
      }
      this._loseConnection();
    } finally {
      this._uncork();
    }
  }
}

function appendFields(out: Array<readonly [string, string | number]>, headers: OutgoingHeaders): void {
  if (Array.isArray(headers)) {
    for (const pair of headers as ReadonlyArray<readonly [string, string | number]>) out.push(pair);
    return;
  }
  const rec = headers as Readonly<Record<string, string | number | ReadonlyArray<string | number>>>;
  for (const name of Object.keys(rec)) {
    const v = rec[name]!;
    if (typeof v === 'object') for (const one of v) out.push([name, one]);
    else out.push([name, v]);
  }
}


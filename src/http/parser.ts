/**
 * The sans-IO HTTP/1.1 message parser: bytes in, events out.
 *
 * {@link RequestParser} (server side) and {@link ResponseParser} (client
 * side) share one state machine, {@link HttpParserBase}. Two ways to drive it:
 *
 * - **pull** (h11 style, clearest for tests): `receiveData(bytes)`, then call
 *   `nextEvent()` until it returns {@link NEED_DATA} or {@link PAUSED};
 * - **push** (fastest, for protocols): `feed(bytes, handler)` parses
 *   everything it can and calls the handler synchronously for each event.
 *
 * Both may be mixed on one parser. Neither touches a socket, a timer or a
 * global.
 *
 * How it stays fast: the input chunk itself is the parse buffer (bytes are
 * copied only when a message head or a chunk-size line is split across
 * chunks, and then into one growing buffer, so the cost stays linear); lines
 * are found with the native `indexOf` and validated once with lookup tables;
 * the head is decoded as latin1 once and fields are substrings of it;
 * well-known names and methods are interned strings; body data is a
 * `subarray` view of the input; many pipelined messages in one chunk are
 * parsed in place.
 *
 * Strictness (each rule answers with the status in the error, and the
 * parser never resynchronises after one): CRLF only, single spaces in the
 * start line, token names with no whitespace before the colon, no obs-fold,
 * no CR/LF/NUL in values, exactly one valid Host on requests, `1*DIGIT`
 * Content-Length at most once, `Transfer-Encoding: chunked` only and never
 * with Content-Length or on HTTP/1.0, grammar-checked chunk lines, bounded
 * heads, targets, field counts, chunk extensions and trailers.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import {
  BACKSLASH,
  COLON,
  COMMA,
  CR,
  DQUOTE,
  EQUALS,
  FIELD_VALUE,
  HEX1,
  HTAB,
  IP_LITERAL,
  LF,
  QDTEXT,
  QUOTED_PAIR,
  REG_NAME,
  SEMI,
  SP,
  TARGET,
  TOKEN,
} from './chars.js';
import { HttpParseError, type HttpParseErrorCode } from './errors.js';
import { HeaderList } from './headers.js';
import {
  H_CONNECTION,
  H_CONTENT_LENGTH,
  H_EXPECT,
  H_HOST,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  bytesEqual,
  lookupKnownHeader,
} from './known-headers.js';

// Buffer#latin1Slice works on any Uint8Array; it is not in @types/node.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string })
  .latin1Slice;

const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------
// Public types

/** Returned by `nextEvent()` when more bytes are needed to make progress. */
export const NEED_DATA: unique symbol = Symbol('NEED_DATA');
/**
 * Returned by `nextEvent()` when the parser will not produce events until
 * the consumer acts: after `pause()`, after a message that switches protocols
 * (Upgrade/CONNECT: take {@link HttpParserBase.unconsumed}), after a message
 * that ends the connection, or after the `closed` event.
 */
export const PAUSED: unique symbol = Symbol('PAUSED');

/** Limits applied by a parser. Every limit has a default; exceeding one is an {@link HttpParseError}. */
export interface HttpParserOptions {
  /** Start line + field lines + CRLFs of one head, in bytes. Default 64 KiB → 431 `HEAD_TOO_LARGE`. */
  maxHeadSize?: number;
  /** Length of a request target. Default 8 KiB → 414 `TARGET_TOO_LONG`. */
  maxTargetLength?: number;
  /** Field lines in one head (and in one trailer section). Default 100 → 431 `TOO_MANY_HEADERS`. */
  maxHeaders?: number;
  /** Chunk-size digits in one chunk-size line, leading zeros included (extensions are bounded separately). Default 1 KiB → 400 `CHUNK_SIZE_LINE_TOO_LONG`. */
  maxChunkSizeLine?: number;
  /** Chunk-extension bytes summed over one message. Default 16 KiB → 413 `CHUNK_EXTENSIONS_TOO_LARGE`. */
  maxChunkExtensionsSize?: number;
  /** Trailer section of one chunked message, in bytes. Default 64 KiB → 431 `TRAILERS_TOO_LARGE`. */
  maxTrailersSize?: number;
  /** Body bytes of one message (declared or received). Default `Infinity` → 413 `BODY_TOO_LARGE`. */
  maxBodySize?: number;
}

/** The defaults of {@link HttpParserOptions}. */
export const DEFAULT_PARSER_LIMITS: Readonly<Required<HttpParserOptions>> = Object.freeze({
  maxHeadSize: 64 * 1024,
  maxTargetLength: 8 * 1024,
  maxHeaders: 100,
  maxChunkSizeLine: 1024,
  maxChunkExtensionsSize: 16 * 1024,
  maxTrailersSize: 64 * 1024,
  maxBodySize: Infinity,
});

/**
 * A parsed request head. Emitted once per request, before its body.
 *
 * Body framing is already decided: `contentLength` ≥ 0 is the exact number
 * of body bytes that follow (0: no body, the `end` event comes next), or −1
 * with `chunked: true`.
 */
export interface RequestHead {
  readonly type: 'request';
  /** The method, case preserved (methods are case-sensitive). Any token is accepted; the application decides. */
  readonly method: string;
  /** The request target exactly as received (visible ASCII only). */
  readonly target: string;
  /** The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 (1.2–1.9 are accepted and treated as 1.1). */
  readonly versionMinor: number;
  /** The field lines, in order. */
  readonly headers: HeaderList;
  /** Whether the connection may carry another request after this one (HTTP/1.1 default; 1.0 needs `Connection: keep-alive`; `close` wins). */
  readonly keepAlive: boolean;
  /**
   * A protocol switch was asked for: `CONNECT`, or (HTTP/1.1) an `Upgrade`
   * field with `upgrade` among the Connection options. After this message's
   * `end`, the parser pauses; accept by taking `unconsumed`, or call
   * {@link RequestParser.declineUpgrade} to go on parsing HTTP.
   */
  readonly upgrade: boolean;
  /** `Expect: 100-continue` on an HTTP/1.1 request. */
  readonly expectContinue: boolean;
  /** Body length in bytes, or −1 when chunked. */
  readonly contentLength: number;
  /** The body uses the chunked transfer coding. */
  readonly chunked: boolean;
}

/**
 * A parsed final response head (status ≥ 200, or 101).
 *
 * `contentLength` ≥ 0 is the exact body length (0 for HEAD responses,
 * 204, 304, 101 and successful CONNECT, whatever the fields say); −1 means
 * chunked (`chunked: true`) or delimited by the end of the connection
 * (`chunked: false`, `keepAlive: false`; call `receiveEOF()` to end it).
 */
export interface ResponseHead {
  readonly type: 'response';
  /** The status code, 100–599. */
  readonly status: number;
  /** The reason phrase (may be empty; do not interpret it). */
  readonly reason: string;
  /** The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  /** The field lines, in order. */
  readonly headers: HeaderList;
  /** Whether the connection may be reused after this response. */
  readonly keepAlive: boolean;
  /** 101 Switching Protocols, or a 2xx answer to CONNECT: after `end`, the connection belongs to another protocol. */
  readonly upgrade: boolean;
  /** Body length in bytes; −1 when chunked or read until EOF. */
  readonly contentLength: number;
  /** The body uses the chunked transfer coding. */
  readonly chunked: boolean;
}

/** An interim 1xx response (other than 101). It has no body and no `end` event; the final response follows. */
export interface InformationalResponse {
  readonly type: 'informational';
  /** 100–199, except 101. */
  readonly status: number;
  /** The reason phrase. */
  readonly reason: string;
  /** The minor version. */
  readonly versionMinor: number;
  /** The field lines (e.g. `Link` on a 103). */
  readonly headers: HeaderList;
}

/** Body bytes. `data` is a view into the bytes given to `receiveData`/`feed` (not a copy): copy it if you keep it past reusing your input buffers. Never empty. */
export interface BodyData {
  readonly type: 'data';
  readonly data: Uint8Array;
}

/** The current message is complete. `trailers` holds a chunked body's trailer fields (null when there were none). */
export interface EndOfMessage {
  readonly type: 'end';
  readonly trailers: HeaderList | null;
}

/** The peer closed the connection (after `receiveEOF()`) at a message boundary. Emitted once; then {@link PAUSED}. */
export interface ConnectionClosed {
  readonly type: 'closed';
}

/** Events of a {@link RequestParser}. */
export type RequestEvent = RequestHead | BodyData | EndOfMessage | ConnectionClosed;
/** Events of a {@link ResponseParser}. */
export type ResponseEvent = InformationalResponse | ResponseHead | BodyData | EndOfMessage | ConnectionClosed;

/**
 * Callbacks for the push style (`feed`). Called synchronously, in wire
 * order. A callback may call `parser.pause()` to stop `feed` after it
 * returns; bytes not yet parsed stay buffered until `resume()` and the
 * next `feed` (an empty chunk is fine).
 */
export interface ParserHandler<Head> {
  /** A message head. */
  onHead(head: Head): void;
  /** A 1xx interim response (response parsers only). */
  onInformational?(info: InformationalResponse): void;
  /** Body bytes (a view, never empty). */
  onData(data: Uint8Array): void;
  /** The end of the current message. */
  onEnd(trailers: HeaderList | null): void;
  /** The peer closed at a message boundary. */
  onClosed?(): void;
}

/** Coarse parser states, for logging and assertions. */
export type ParserState = 'idle' | 'head' | 'body' | 'switched' | 'must-close' | 'closed' | 'error';

// ---------------------------------------------------------------------------
// Internal constants

// States.
const S_START = 0;
const S_HEAD = 1;
const S_BODY_LENGTH = 2;
const S_CHUNK_SIZE = 3;
const S_CHUNK_DATA = 4;
const S_CHUNK_DATA_END = 5;
const S_TRAILERS = 6;
const S_BODY_EOF = 7;
const S_MSG_END = 8;
const S_SWITCHED = 9;
const S_MUST_CLOSE = 10;
const S_CLOSED = 11;
const S_ERROR = 12;

// Event codes returned by _step.
const EV_NEED = 0;
const EV_PAUSED = 1;
const EV_HEAD = 2;
const EV_INFO = 3;
const EV_DATA = 4;
const EV_END = 5;
const EV_CLOSED = 6;

// Connection option bits.
const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;
const CONN_UPGRADE = 4;

// Content-Length digits: 15 decimal digits stay below Number.MAX_SAFE_INTEGER.
const MAX_CL_DIGITS = 15;
// Significant chunk-size hex digits: 13 hex digits = 52 bits.
const MAX_CHUNK_HEX_DIGITS = 13;

const CLOSED_EVENT: ConnectionClosed = Object.freeze({ type: 'closed' as const });

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const METHODS: readonly (readonly [string, Uint8Array])[] = [
  'GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'TRACE', 'DELETE', 'OPTIONS', 'CONNECT',
].map((m) => [m, ascii(m)] as const);

const B_CHUNKED = ascii('chunked');
const B_CLOSE = ascii('close');
const B_KEEP_ALIVE = ascii('keep-alive');
const B_UPGRADE = ascii('upgrade');
const B_100_CONTINUE = ascii('100-continue');
const B_HTTP_SLASH = ascii('HTTP/');

function fail(code: HttpParseErrorCode, status: number, message: string): never {
  throw new HttpParseError(code, status, message);
}

/** Case-insensitive comparison of `buf[s, e)` with a lower-case ASCII word. */
function equalsLowerCI(buf: Uint8Array, s: number, e: number, word: Uint8Array): boolean {
  if (e - s !== word.length) return false;
  for (let i = 0; i < word.length; i++) if ((buf[s + i]! | 0x20) !== word[i]) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isOWS(c: number): boolean {
  return c === SP || c === HTAB;
}

// ---------------------------------------------------------------------------
// The state machine

/**
 * The state machine shared by {@link RequestParser} and
 * {@link ResponseParser}; use those. Documented here: buffering, EOF,
 * pausing and the terminal error state.
 *
 * Lifetime: a parser serves one connection. Messages follow each other
 * (keep-alive, pipelining) until one ends the connection (`keepAlive:
 * false` → `must-close`), switches protocols (`switched`), the peer closes
 * (`receiveEOF()` → `closed`) or the input is invalid (`error`: every later
 * call to `nextEvent`/`feed` rethrows the same {@link HttpParseError}).
 */
export abstract class HttpParserBase<Head, Event> {
  /** The limits in force. */
  readonly limits: Readonly<Required<HttpParserOptions>>;

  // Input: bytes [pos, end) of buf are unconsumed. `owned` buffers are ours
  // and may have spare room after `end`; others are the caller's chunks.
  private _buf: Uint8Array = EMPTY;
  private _pos = 0;
  private _end = 0;
  private _owned = false;

  private _state = S_START;
  private _eof = false;
  private _paused = false;
  private _error: HttpParseError | null = null;
  private readonly _isRequest: boolean;

  // Head / trailer scanning. Absolute indexes into _buf; field offsets are
  // relative to _headStart so they survive a buffer reallocation.
  private _headStart = 0;
  private _lineStart = 0;
  private _scan = 0;
  private _startLineDone = false;
  private _skippedEmptyLine = false;
  private _nFields = 0;
  private readonly _offs: Int32Array;
  private _trailer = false;

  // Start line results (relative to _headStart).
  private _methodEnd = 0;
  private _targetStart = 0;
  private _targetEnd = 0;
  private _versionMinor = 1;
  private _status = 0;
  private _reasonStart = 0;
  private _reasonEnd = 0;

  // Body.
  private _remaining = 0;
  private _bodyTotal = 0;
  private _extTotal = 0;
  private _keepAlive = true;
  private _switch = false;

  // Response side: methods of the requests awaiting a response, oldest first.
  private _methods: string[] = [];

  // Event payloads.
  private _headEv: unknown = null;
  private _data: Uint8Array = EMPTY;
  private _trailers: HeaderList | null = null;

  /** @internal */
  protected constructor(isRequest: boolean, options: HttpParserOptions | undefined) {
    this._isRequest = isRequest;
    this.limits = Object.freeze({ ...DEFAULT_PARSER_LIMITS, ...stripUndefined(options) });
    this._offs = new Int32Array(4 * this.limits.maxHeaders);
  }

  // ---------------------------------------------------------------- input

  /**
   * Hand the parser the next bytes from the peer. Never throws and never
   * parses by itself; errors surface from `nextEvent()`/`feed()`.
   *
   * The chunk is used in place when nothing is pending (do not modify it
   * afterwards if you keep the `data` views). Bytes arriving after the
   * connection must close, after EOF or after an error are dropped.
   */
  receiveData(chunk: Uint8Array): void {
    const len = chunk.length;
    if (len === 0 || this._eof || this._state >= S_MUST_CLOSE) return;
    const pos = this._pos;
    if (pos === this._end) {
      // Nothing pending: adopt the chunk; rebase indexes (all equal pos here).
      this._headStart -= pos;
      this._lineStart -= pos;
      this._scan -= pos;
      this._buf = chunk;
      this._pos = 0;
      this._end = len;
      this._owned = false;
      return;
    }
    if (this._owned && this._buf.length - this._end >= len) {
      this._buf.set(chunk, this._end);
      this._end += len;
      return;
    }
    // Grow into a new buffer of ours; at least ×1.5 so byte-at-a-time input stays linear.
    const keep = this._end - pos;
    const need = keep + len;
    const next = new Uint8Array(need + Math.max(need >> 1, 1024));
    next.set(this._buf.subarray(pos, this._end), 0);
    next.set(chunk, keep);
    this._headStart -= pos;
    this._lineStart -= pos;
    this._scan -= pos;
    this._buf = next;
    this._pos = 0;
    this._end = need;
    this._owned = true;
  }

  /**
   * Tell the parser the peer closed its sending side. At a message boundary
   * the next event is `closed`; a body delimited by the connection close
   * ends (`end`, then `closed`); anywhere else the message is truncated and
   * `nextEvent()` throws `UNEXPECTED_EOF`.
   */
  receiveEOF(): void {
    this._eof = true;
  }

  /**
   * The bytes received but not consumed (a view). After an Upgrade/CONNECT
   * switch these are the first bytes of the new protocol; in `must-close`
   * they are what the peer sent after its last message (to be ignored).
   */
  get unconsumed(): Uint8Array {
    return this._pos === this._end ? EMPTY : this._buf.subarray(this._pos, this._end);
  }

  /** Number of bytes received and not yet consumed (for backpressure). */
  get bufferedLength(): number {
    return this._end - this._pos;
  }

  /** The coarse state. */
  get state(): ParserState {
    switch (this._state) {
      case S_START:
        return 'idle';
      case S_HEAD:
        return 'head';
      case S_SWITCHED:
        return 'switched';
      case S_MUST_CLOSE:
        return 'must-close';
      case S_CLOSED:
        return 'closed';
      case S_ERROR:
        return 'error';
      default:
        return 'body';
    }
  }

  /** The error that put the parser in its terminal state, or null. */
  get error(): HttpParseError | null {
    return this._error;
  }

  /** Stop producing events (`nextEvent` returns {@link PAUSED}, `feed` returns) until {@link resume}. */
  pause(): void {
    this._paused = true;
  }

  /** Undo {@link pause}. Buffered bytes are parsed by the next `nextEvent`/`feed`. */
  resume(): void {
    this._paused = false;
  }

  // ---------------------------------------------------------------- output

  /**
   * Parse the next event from the buffered bytes.
   *
   * @returns an event, {@link NEED_DATA} or {@link PAUSED}.
   * @throws {@link HttpParseError} when the input is invalid; the parser is
   *   then in the terminal `error` state and rethrows it on every call.
   */
  nextEvent(): Event | typeof NEED_DATA | typeof PAUSED {
    switch (this._next()) {
      case EV_NEED:
        return NEED_DATA;
      case EV_PAUSED:
        return PAUSED;
      case EV_HEAD:
      case EV_INFO:
        return this._headEv as Event;
      case EV_DATA:
        return { type: 'data', data: this._data } as BodyData as unknown as Event;
      case EV_END:
        return { type: 'end', trailers: this._trailers } as EndOfMessage as unknown as Event;
      default:
        return CLOSED_EVENT as unknown as Event;
    }
  }

  /**
   * Push style: `receiveData(chunk)`, then dispatch every event that can be
   * parsed to `handler`, synchronously and in order, until more data is
   * needed or the parser pauses.
   *
   * @throws {@link HttpParseError} after dispatching the events that preceded
   *   the invalid bytes (so a valid pipelined request is delivered before the
   *   error that follows it). Errors thrown by the handler propagate as is.
   */
  feed(chunk: Uint8Array, handler: ParserHandler<Head>): void {
    if (chunk.length !== 0) this.receiveData(chunk);
    for (;;) {
      switch (this._next()) {
        case EV_NEED:
        case EV_PAUSED:
          return;
        case EV_HEAD:
          handler.onHead(this._headEv as Head);
          break;
        case EV_INFO:
          handler.onInformational?.(this._headEv as InformationalResponse);
          break;
        case EV_DATA:
          handler.onData(this._data);
          break;
        case EV_END:
          handler.onEnd(this._trailers);
          break;
        default:
          handler.onClosed?.();
          return;
      }
    }
  }

  // ------------------------------------------------------ for subclasses

  /** @internal Response side: queue the method of a request sent. */
  protected _pushMethod(method: string): void {
    this._methods.push(method);
  }

  /** @internal Request side: leave the `switched` state and parse HTTP again. */
  protected _declineSwitch(): void {
    if (this._state !== S_SWITCHED) return;
    this._state = this._keepAlive ? S_START : S_MUST_CLOSE;
    this._skippedEmptyLine = false;
  }

  // -------------------------------------------------------------- engine

  private _next(): number {
    if (this._error !== null) throw this._error;
    if (this._paused) return EV_PAUSED;
    try {
      return this._step();
    } catch (err) {
      if (err instanceof HttpParseError) {
        this._error = err;
        this._state = S_ERROR;
      }
      throw err;
    }
  }

  private _step(): number {
    for (;;) {
      switch (this._state) {
        case S_START: {
          const buf = this._buf;
          let pos = this._pos;
          const end = this._end;
          if (pos === end) {
            if (this._eof) {
              this._state = S_CLOSED;
              return EV_CLOSED;
            }
            return EV_NEED;
          }
          // RFC 9112 §2.2: ignore one empty line before a request line.
          if (this._isRequest && !this._skippedEmptyLine && buf[pos] === CR) {
            if (end - pos < 2) {
              if (this._eof) fail('UNEXPECTED_EOF', 400, 'connection closed inside a message head');
              return EV_NEED;
            }
            if (buf[pos + 1] === LF) {
              this._skippedEmptyLine = true;
              this._pos = pos += 2;
              continue;
            }
          }
          if (!this._isRequest && this._methods.length === 0) {
            fail('UNSOLICITED_RESPONSE', 400, 'response received with no request outstanding');
          }
          this._headStart = this._lineStart = this._scan = pos;
          this._startLineDone = false;
          this._trailer = false;
          this._nFields = 0;
          this._state = S_HEAD;
          continue;
        }

        case S_HEAD: {
          const headEnd = this._scanHead();
          if (headEnd < 0) {
            if (this._eof) fail('UNEXPECTED_EOF', 400, 'connection closed inside a message head');
            return EV_NEED;
          }
          return this._isRequest ? this._finishRequestHead(headEnd) : this._finishResponseHead(headEnd);
        }

        case S_BODY_LENGTH:
        case S_CHUNK_DATA: {
          const pos = this._pos;
          const avail = this._end - pos;
          if (avail === 0) {
            if (this._eof) fail('UNEXPECTED_EOF', 400, 'connection closed inside a message body');
            return EV_NEED;
          }
          const n = avail < this._remaining ? avail : this._remaining;
          this._data = this._buf.subarray(pos, pos + n);
          this._pos = pos + n;
          if ((this._remaining -= n) === 0) {
            this._state = this._state === S_BODY_LENGTH ? S_MSG_END : S_CHUNK_DATA_END;
          }
          return EV_DATA;
        }

        case S_CHUNK_SIZE: {
          if (!this._parseChunkSizeLine()) {
            if (this._eof) fail('UNEXPECTED_EOF', 400, 'connection closed inside a chunked body');
            return EV_NEED;
          }
          continue;
        }

        case S_CHUNK_DATA_END: {
          const buf = this._buf;
          const pos = this._pos;
          const avail = this._end - pos;
          if (avail >= 1 && buf[pos] !== CR) fail('INVALID_CHUNK_DATA_END', 400, 'chunk data not followed by CRLF');
          if (avail >= 2 && buf[pos + 1] !== LF) fail('INVALID_CHUNK_DATA_END', 400, 'chunk data not followed by CRLF');
          if (avail < 2) {
            if (this._eof) fail('UNEXPECTED_EOF', 400, 'connection closed inside a chunked body');
            return EV_NEED;
          }
          this._pos = this._lineStart = this._scan = pos + 2;
          this._state = S_CHUNK_SIZE;
          continue;
        }

        case S_TRAILERS: {
          const endAt = this._scanHead();
          if (endAt < 0) {
            if (this._eof) fail('UNEXPECTED_EOF', 400, 'connection closed inside a trailer section');
            return EV_NEED;
          }
          this._trailers = this._nFields === 0 ? null : this._buildFields(null);
          this._pos = endAt;
          this._afterEnd();
          return EV_END;
        }

        case S_BODY_EOF: {
          const pos = this._pos;
          const end = this._end;
          if (pos !== end) {
            this._data = this._buf.subarray(pos, end);
            this._pos = end;
            this._bodyTotal += end - pos;
            if (this._bodyTotal > this.limits.maxBodySize) fail('BODY_TOO_LARGE', 413, 'body exceeds maxBodySize');
            return EV_DATA;
          }
          if (!this._eof) return EV_NEED;
          this._state = S_MSG_END;
          continue;
        }

        case S_MSG_END:
          this._trailers = null;
          this._afterEnd();
          return EV_END;

        case S_MUST_CLOSE:
          if (this._eof) {
            this._state = S_CLOSED;
            return EV_CLOSED;
          }
          return EV_PAUSED;

        default:
          // S_SWITCHED, S_CLOSED (S_ERROR is handled by _next).
          return EV_PAUSED;
      }
    }
  }

  private _afterEnd(): void {
    this._skippedEmptyLine = false;
    if (this._switch) this._state = S_SWITCHED;
    else if (!this._keepAlive) this._state = S_MUST_CLOSE;
    else this._state = S_START;
    if (this._pos === this._end) {
      // Drop the reference so an idle connection does not pin a large chunk.
      this._buf = EMPTY;
      this._pos = this._end = this._headStart = this._lineStart = this._scan = 0;
      this._owned = false;
    }
  }

  // ----------------------------------------------------------- head lines

  /**
   * Scan complete lines from `_scan`, validating each once. Returns the
   * absolute index just past the blank line ending the head/trailers, or −1
   * when more data is needed.
   */
  private _scanHead(): number {
    const buf = this._buf;
    const end = this._end;
    const limit = this._trailer ? this.limits.maxTrailersSize : this.limits.maxHeadSize;
    for (;;) {
      const lineStart = this._lineStart;
      const lf = indexOfLF(buf, this._scan, end);
      if (lf === -1) {
        this._scan = end;
        // A blank line must be exactly CRLF: reject `\r` + anything else now (`\r\n\rX`).
        if (buf[lineStart] === CR && lineStart + 1 < end) fail('BARE_CR', 400, 'CR not followed by LF');
        if (end - this._headStart > limit) this._overLimit(end);
        return -1;
      }
      if (lf === lineStart || buf[lf - 1] !== CR) fail('BARE_LF', 400, 'LF not preceded by CR');
      const lineEnd = lf - 1;
      if (lineEnd === lineStart) {
        if (!this._startLineDone && !this._trailer) {
          fail(this._isRequest ? 'INVALID_REQUEST_LINE' : 'INVALID_STATUS_LINE', 400, 'empty start line');
        }
        return lf + 1;
      }
      if (!this._startLineDone && !this._trailer) {
        if (this._isRequest) this._parseRequestLine(lineStart, lineEnd);
        else this._parseStatusLine(lineStart, lineEnd);
        this._startLineDone = true;
      } else {
        this._parseFieldLine(lineStart, lineEnd);
      }
      if (lf + 1 - this._headStart > limit) this._overLimit(lf + 1);
      this._lineStart = this._scan = lf + 1;
    }
  }

  private _overLimit(end: number): never {
    if (this._trailer) fail('TRAILERS_TOO_LARGE', 431, 'trailer section exceeds maxTrailersSize');
    if (this._isRequest && !this._startLineDone) {
      // Still inside the request line: blame the target when it is the long part.
      const buf = this._buf;
      const sp = buf.indexOf(SP, this._headStart);
      if (sp !== -1 && sp < end) {
        let p = sp + 1;
        while (p < end && buf[p] !== SP) p++;
        if (p - sp - 1 > this.limits.maxTargetLength) fail('TARGET_TOO_LONG', 414, 'request target too long');
      }
    }
    fail('HEAD_TOO_LARGE', 431, 'message head exceeds maxHeadSize');
  }

  private _parseRequestLine(start: number, lineEnd: number): void {
    const buf = this._buf;
    let p = start;
    while (TOKEN[buf[p]!] === 1) p++;
    if (buf[p] !== SP) {
      if (buf[p] === CR && p !== lineEnd) fail('BARE_CR', 400, 'CR inside the request line');
      if (p === start) fail('INVALID_REQUEST_LINE', 400, 'request line does not start with a method');
      fail('INVALID_METHOD', 400, 'method is not a token');
    }
    if (p === start) fail('INVALID_REQUEST_LINE', 400, 'request line starts with a space');
    this._methodEnd = p - this._headStart;
    const ts = ++p;
    while (TARGET[buf[p]!] === 1) p++;
    if (p - ts > this.limits.maxTargetLength) fail('TARGET_TOO_LONG', 414, 'request target too long');
    if (p === ts) fail('INVALID_REQUEST_LINE', 400, 'empty request target or extra space');
    if (buf[p] !== SP) {
      if (p === lineEnd) fail('INVALID_REQUEST_LINE', 400, 'request line has no HTTP version');
      if (buf[p] === CR) fail('BARE_CR', 400, 'CR inside the request target');
      fail('INVALID_TARGET', 400, 'request target contains a non-visible character');
    }
    this._targetStart = ts - this._headStart;
    this._targetEnd = p - this._headStart;
    p++;
    if (lineEnd - p !== 8) {
      if (buf.indexOf(CR, p) < lineEnd) fail('BARE_CR', 400, 'CR inside the request line');
      fail('INVALID_VERSION', 400, 'malformed HTTP version');
    }
    this._versionMinor = this._parseVersion(p);
  }

  /** `HTTP/d.d` at `p` (8 bytes known to be there). Returns the minor digit of 1.x. */
  private _parseVersion(p: number): number {
    const buf = this._buf;
    const maj = buf[p + 5]!;
    const min = buf[p + 7]!;
    if (!bytesEqual(buf, p, B_HTTP_SLASH) || !isDigit(maj) || buf[p + 6] !== 0x2e || !isDigit(min)) {
      if (buf.indexOf(CR, p) < p + 8) fail('BARE_CR', 400, 'CR inside the HTTP version');
      fail('INVALID_VERSION', 400, 'malformed HTTP version');
    }
    if (maj !== 0x31) fail('UNSUPPORTED_VERSION', 505, 'only HTTP/1.x is supported');
    return min - 0x30;
  }

  private _parseStatusLine(start: number, lineEnd: number): void {
    const buf = this._buf;
    if (lineEnd - start < 12 || buf[start + 8] !== SP) {
      fail('INVALID_STATUS_LINE', 400, 'malformed status line');
    }
    this._versionMinor = this._parseVersion(start);
    const d0 = buf[start + 9]!;
    const d1 = buf[start + 10]!;
    const d2 = buf[start + 11]!;
    if (!isDigit(d0) || !isDigit(d1) || !isDigit(d2)) fail('INVALID_STATUS', 400, 'status code is not 3 digits');
    const status = (d0 - 0x30) * 100 + (d1 - 0x30) * 10 + (d2 - 0x30);
    if (status < 100 || status > 599) fail('INVALID_STATUS', 400, 'status code out of range');
    this._status = status;
    let p = start + 12;
    // The SP before an empty reason is required by RFC 9112 §4, but commonly omitted: tolerate.
    if (p !== lineEnd) {
      if (buf[p] !== SP) fail('INVALID_STATUS_LINE', 400, 'malformed status line');
      p++;
      const rs = p;
      while (FIELD_VALUE[buf[p]!] === 1) p++;
      if (p !== lineEnd) {
        if (buf[p] === CR) fail('BARE_CR', 400, 'CR inside the reason phrase');
        fail('INVALID_STATUS_LINE', 400, 'control character in the reason phrase');
      }
      this._reasonStart = rs - this._headStart;
    } else {
      this._reasonStart = p - this._headStart;
    }
    this._reasonEnd = lineEnd - this._headStart;
  }

  private _parseFieldLine(start: number, lineEnd: number): void {
    const buf = this._buf;
    let p = start;
    let c = buf[p]!;
    if (c === SP || c === HTAB) fail('OBS_FOLD', 400, 'field line starts with whitespace (obs-fold)');
    while (TOKEN[buf[p]!] === 1) p++;
    c = buf[p]!;
    if (c !== COLON) {
      if (c === SP || c === HTAB) fail('WHITESPACE_BEFORE_COLON', 400, 'whitespace between field name and colon');
      if (c === CR && p !== lineEnd) fail('BARE_CR', 400, 'CR inside a field name');
      fail('INVALID_HEADER_TOKEN', 400, p === lineEnd ? 'field line without a colon' : 'invalid character in field name');
    }
    if (p === start) fail('INVALID_HEADER_TOKEN', 400, 'empty field name');
    const nameEnd = p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const vs = p;
    while (FIELD_VALUE[buf[p]!] === 1) p++;
    if (p !== lineEnd) {
      if (buf[p] === CR) fail('BARE_CR', 400, 'CR inside a field value');
      fail('INVALID_HEADER_VALUE', 400, 'control character in field value');
    }
    let ve = lineEnd;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    const n = this._nFields;
    if (n === this.limits.maxHeaders) fail('TOO_MANY_HEADERS', 431, 'too many header fields');
    const base = this._headStart;
    const offs = this._offs;
    const k = n << 2;
    offs[k] = start - base;
    offs[k + 1] = nameEnd - base;
    offs[k + 2] = vs - base;
    offs[k + 3] = ve - base;
    this._nFields = n + 1;
  }

  // ------------------------------------------------------- head building

  /** Per-head facts gathered by _buildFields for the framing headers. */
  private _clCount = 0;
  private _clStart = 0;
  private _clEnd = 0;
  private _teCount = 0;
  private _teStart = 0;
  private _teEnd = 0;
  private _hostCount = 0;
  private _hostStart = 0;
  private _hostEnd = 0;
  private _conn = 0;
  private _hasUpgrade = false;
  private _expect = false;

  /**
   * Build the HeaderList for the recorded fields. With `str` (the decoded
   * head), also record the framing fields; trailers pass null and are
   * decoded here.
   */
  private _buildFields(str: string | null): HeaderList {
    const buf = this._buf;
    const base = this._headStart;
    const n = this._nFields;
    const offs = this._offs;
    const trailer = str === null;
    if (str === null) str = latin1Slice.call(buf, base, base + offs[((n - 1) << 2) + 3]!);
    else {
      this._clCount = this._teCount = this._hostCount = this._conn = 0;
      this._hasUpgrade = this._expect = false;
    }
    const raw = new Array<string>(n << 1);
    const names = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const k = i << 2;
      const ns = offs[k]!;
      const ne = offs[k + 1]!;
      const vs = offs[k + 2]!;
      const ve = offs[k + 3]!;
      const known = lookupKnownHeader(buf, base + ns, base + ne);
      let name: string;
      let lower: string;
      if (known !== undefined) {
        lower = known.lower;
        name = bytesEqual(buf, base + ns, known.canonBytes)
          ? known.canon
          : bytesEqual(buf, base + ns, known.lowerBytes)
            ? lower
            : str.slice(ns, ne);
        if (!trailer && known.id !== 0) this._noteField(known.id, base + vs, base + ve);
      } else {
        name = str.slice(ns, ne);
        lower = hasUpper(buf, base + ns, base + ne) ? name.toLowerCase() : name;
      }
      raw[i << 1] = name;
      raw[(i << 1) + 1] = vs === ve ? '' : str.slice(vs, ve);
      names[i] = lower;
    }
    return new HeaderList(raw, names);
  }

  private _noteField(id: number, vs: number, ve: number): void {
    switch (id) {
      case H_CONTENT_LENGTH:
        this._clCount++;
        this._clStart = vs;
        this._clEnd = ve;
        break;
      case H_TRANSFER_ENCODING:
        this._teCount++;
        this._teStart = vs;
        this._teEnd = ve;
        break;
      case H_HOST:
        this._hostCount++;
        this._hostStart = vs;
        this._hostEnd = ve;
        break;
      case H_CONNECTION:
        this._conn |= connectionOptions(this._buf, vs, ve);
        break;
      case H_UPGRADE:
        this._hasUpgrade = true;
        break;
      case H_EXPECT:
        if (equalsLowerCI(this._buf, vs, ve, B_100_CONTINUE)) this._expect = true;
        break;
    }
  }

  /** Apply the Content-Length / Transfer-Encoding rules. Returns the length, or −1 for chunked, or −2 for none. */
  private _framing(): number {
    if (this._teCount !== 0 && this._clCount !== 0) {
      fail('CL_TE_CONFLICT', 400, 'Content-Length and Transfer-Encoding together');
    }
    if (this._teCount > 1) fail('TE_REPEATED', 400, 'more than one Transfer-Encoding field');
    if (this._clCount > 1) fail('CL_REPEATED', 400, 'more than one Content-Length field');
    if (this._teCount === 1) {
      if (this._versionMinor === 0) fail('TE_HTTP10', 400, 'Transfer-Encoding in an HTTP/1.0 message');
      checkTransferEncoding(this._buf, this._teStart, this._teEnd);
      return -1;
    }
    if (this._clCount === 1) {
      const len = parseContentLength(this._buf, this._clStart, this._clEnd);
      if (len > this.limits.maxBodySize) fail('BODY_TOO_LARGE', 413, 'Content-Length exceeds maxBodySize');
      return len;
    }
    return -2;
  }

  private _finishRequestHead(headEnd: number): number {
    const buf = this._buf;
    const base = this._headStart;
    const str = latin1Slice.call(buf, base, headEnd - 2);
    const headers = this._buildFields(str);
    const framing = this._framing();
    const minor = this._versionMinor;
    if (this._hostCount > 1) fail('HOST_REPEATED', 400, 'more than one Host field');
    if (this._hostCount === 0) {
      if (minor !== 0) fail('HOST_MISSING', 400, 'HTTP/1.1 request without Host');
    } else if (!isValidHost(buf, this._hostStart, this._hostEnd)) {
      fail('HOST_INVALID', 400, 'invalid Host');
    }
    const method = internMethod(buf, base, base + this._methodEnd, str);
    const ts = this._targetStart;
    const te = this._targetEnd;
    const target = te - ts === 1 && buf[base + ts] === 0x2f ? '/' : str.slice(ts, te);
    const conn = this._conn;
    const keepAlive = (conn & CONN_CLOSE) === 0 && (minor !== 0 || (conn & CONN_KEEP_ALIVE) !== 0);
    const upgrade = method === 'CONNECT' || (minor !== 0 && this._hasUpgrade && (conn & CONN_UPGRADE) !== 0);
    const chunked = framing === -1;
    const contentLength = framing === -2 ? 0 : framing;
    const head: RequestHead = {
      type: 'request',
      method,
      target,
      versionMinor: minor,
      headers,
      keepAlive,
      upgrade,
      expectContinue: this._expect && minor !== 0,
      contentLength,
      chunked,
    };
    this._headEv = head;
    this._keepAlive = keepAlive;
    this._switch = upgrade;
    this._pos = headEnd;
    this._enterBody(contentLength, chunked);
    return EV_HEAD;
  }

  private _finishResponseHead(headEnd: number): number {
    const buf = this._buf;
    const base = this._headStart;
    const str = latin1Slice.call(buf, base, headEnd - 2);
    const headers = this._buildFields(str);
    const status = this._status;
    const reason = this._reasonEnd === this._reasonStart ? '' : str.slice(this._reasonStart, this._reasonEnd);
    const minor = this._versionMinor;
    this._pos = headEnd;
    if (status < 200 && status !== 101) {
      const info: InformationalResponse = { type: 'informational', status, reason, versionMinor: minor, headers };
      this._headEv = info;
      this._state = S_START;
      return EV_INFO;
    }
    const method = this._methods.shift()!;
    const framing = this._framing();
    const conn = this._conn;
    let keepAlive = (conn & CONN_CLOSE) === 0 && (minor !== 0 || (conn & CONN_KEEP_ALIVE) !== 0);
    const upgrade = status === 101 || (method === 'CONNECT' && status < 300);
    let contentLength: number;
    let chunked = false;
    if (upgrade || method === 'HEAD' || status === 204 || status === 304) {
      contentLength = 0;
    } else if (framing === -1) {
      contentLength = -1;
      chunked = true;
    } else if (framing >= 0) {
      contentLength = framing;
    } else {
      contentLength = -1;
      keepAlive = false;
    }
    const head: ResponseHead = {
      type: 'response',
      status,
      reason,
      versionMinor: minor,
      headers,
      keepAlive,
      upgrade,
      contentLength,
      chunked,
    };
    this._headEv = head;
    this._keepAlive = keepAlive;
    this._switch = upgrade;
    if (contentLength === -1 && !chunked) {
      this._bodyTotal = 0;
      this._state = S_BODY_EOF;
    } else {
      this._enterBody(contentLength, chunked);
    }
    return EV_HEAD;
  }

  private _enterBody(contentLength: number, chunked: boolean): void {
    this._bodyTotal = 0;
    if (chunked) {
      this._extTotal = 0;
      this._lineStart = this._scan = this._pos;
      this._state = S_CHUNK_SIZE;
    } else if (contentLength > 0) {
      this._remaining = contentLength;
      this._state = S_BODY_LENGTH;
    } else {
      this._state = S_MSG_END;
    }
  }

  // --------------------------------------------------------- chunked body

  /** Parse one chunk-size line at _pos. Returns false when more data is needed. */
  private _parseChunkSizeLine(): boolean {
    const buf = this._buf;
    const end = this._end;
    const start = this._pos;
    const lf = indexOfLF(buf, this._scan, end);
    if (lf === -1) {
      this._scan = end;
      this._checkPartialChunkLine(start, end);
      return false;
    }
    if (lf === start || buf[lf - 1] !== CR) fail('BARE_LF', 400, 'LF not preceded by CR in a chunk-size line');
    const lineEnd = lf - 1;
    let p = start;
    let size = 0;
    let significant = 0;
    for (;;) {
      const h = HEX1[buf[p]!]!;
      if (h === 0) break;
      if (significant !== 0 || h !== 1) {
        if (++significant > MAX_CHUNK_HEX_DIGITS) fail('CHUNK_SIZE_OVERFLOW', 400, 'chunk size too large');
        size = size * 16 + (h - 1);
      }
      p++;
    }
    if (p === start) {
      if (buf[p] === CR && p !== lineEnd) fail('BARE_CR', 400, 'CR inside a chunk-size line');
      fail('INVALID_CHUNK_SIZE', 400, 'chunk size is not hexadecimal');
    }
    if (p - start > this.limits.maxChunkSizeLine) fail('CHUNK_SIZE_LINE_TOO_LONG', 400, 'chunk-size line too long');
    if (p !== lineEnd) {
      const extStart = p;
      // Only BWS then `;` may follow the size: `a `, `2 x`, `0x5`, `5z` are bad sizes.
      let q = p;
      while (q < lineEnd && isOWS(buf[q]!)) q++;
      if (q === lineEnd || buf[q] !== SEMI) {
        if (buf[q] === CR && q !== lineEnd) fail('BARE_CR', 400, 'CR inside a chunk-size line');
        fail('INVALID_CHUNK_SIZE', 400, 'invalid character after the chunk size');
      }
      parseChunkExtensions(buf, p, lineEnd);
      this._extTotal += lineEnd - extStart;
      if (this._extTotal > this.limits.maxChunkExtensionsSize) {
        fail('CHUNK_EXTENSIONS_TOO_LARGE', 413, 'chunk extensions exceed maxChunkExtensionsSize');
      }
    }
    this._pos = lf + 1;
    if (size === 0) {
      this._headStart = this._lineStart = this._scan = this._pos;
      this._trailer = true;
      this._nFields = 0;
      this._state = S_TRAILERS;
    } else {
      this._bodyTotal += size;
      if (this._bodyTotal > this.limits.maxBodySize) fail('BODY_TOO_LARGE', 413, 'body exceeds maxBodySize');
      this._remaining = size;
      this._state = S_CHUNK_DATA;
    }
    return true;
  }

  /** Bound a chunk-size line still waiting for its LF. */
  private _checkPartialChunkLine(start: number, end: number): void {
    const limits = this.limits;
    if (end - start <= limits.maxChunkSizeLine) return;
    const buf = this._buf;
    let p = start;
    while (p < end && HEX1[buf[p]!] !== 0) p++;
    if (p - start > limits.maxChunkSizeLine) fail('CHUNK_SIZE_LINE_TOO_LONG', 400, 'chunk-size line too long');
    if (p < end && HEX1[buf[p]!] === 0 && buf[p] !== SEMI && !isOWS(buf[p]!) && buf[p] !== CR) {
      fail('INVALID_CHUNK_SIZE', 400, 'chunk size is not hexadecimal');
    }
    if (this._extTotal + (end - p) > limits.maxChunkExtensionsSize) {
      fail('CHUNK_EXTENSIONS_TOO_LARGE', 413, 'chunk extensions exceed maxChunkExtensionsSize');
    }
  }
}

// ---------------------------------------------------------------------------
// Field-value grammars

function stripUndefined(o: HttpParserOptions | undefined): HttpParserOptions {
  const out: Record<string, number> = {};
  if (o !== undefined) {
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v as number;
  }
  return out;
}

/**
 * First LF in `buf[from, end)`, or −1. An adopted chunk ends at `end`, so
 * the native search runs as is; our own growing buffer has spare room after
 * `end`, which must not be scanned (that would make byte-at-a-time input
 * quadratic), so search a view there.
 */
function indexOfLF(buf: Uint8Array, from: number, end: number): number {
  if (end === buf.length) return buf.indexOf(LF, from);
  if (from >= end) return -1;
  const i = buf.subarray(from, end).indexOf(LF);
  return i === -1 ? -1 : from + i;
}

function hasUpper(buf: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function internMethod(buf: Uint8Array, s: number, e: number, str: string): string {
  const len = e - s;
  for (let i = 0; i < METHODS.length; i++) {
    const m = METHODS[i]!;
    if (m[1].length === len && bytesEqual(buf, s, m[1])) return m[0];
  }
  return str.slice(0, len);
}

/** `1*DIGIT`, at most 15 digits. Never parseInt/Number on raw text. */
function parseContentLength(buf: Uint8Array, s: number, e: number): number {
  if (s === e) fail('CL_INVALID', 400, 'empty Content-Length');
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (!isDigit(c)) fail('CL_INVALID', 400, 'Content-Length is not 1*DIGIT');
    n = n * 10 + (c - 0x30);
  }
  if (e - s > MAX_CL_DIGITS) fail('CL_OVERFLOW', 400, 'Content-Length too large');
  return n;
}

/**
 * Accept exactly one coding, `chunked` (any case). For anything else pick
 * the RFC 9112 reaction: chunked missing or not last, repeated, or a
 * malformed list → 400; well-formed codings before a final chunked → 501.
 */
function checkTransferEncoding(buf: Uint8Array, s: number, e: number): void {
  if (equalsLowerCI(buf, s, e, B_CHUNKED)) return;
  let chunkedCount = 0;
  let lastIsChunked = false;
  let p = s;
  if (s === e) fail('TE_INVALID', 400, 'empty Transfer-Encoding');
  for (;;) {
    while (p < e && isOWS(buf[p]!)) p++;
    const ts = p;
    while (p < e && TOKEN[buf[p]!] === 1) p++;
    const te = p;
    while (p < e && isOWS(buf[p]!)) p++;
    if (ts === te || (p < e && buf[p] !== COMMA)) fail('TE_INVALID', 400, 'malformed Transfer-Encoding');
    lastIsChunked = equalsLowerCI(buf, ts, te, B_CHUNKED);
    if (lastIsChunked) chunkedCount++;
    if (p === e) break;
    p++; // comma
  }
  if (!lastIsChunked) fail('TE_INVALID', 400, 'chunked is not the final transfer coding');
  if (chunkedCount > 1) fail('TE_INVALID', 400, 'chunked applied more than once');
  fail('TE_UNSUPPORTED', 501, 'unsupported transfer coding');
}

/** The close / keep-alive / upgrade options of a Connection value (a token list, any case). */
function connectionOptions(buf: Uint8Array, s: number, e: number): number {
  let bits = 0;
  let p = s;
  while (p < e) {
    while (p < e && (isOWS(buf[p]!) || buf[p] === COMMA)) p++;
    const ts = p;
    while (p < e && buf[p] !== COMMA && !isOWS(buf[p]!)) p++;
    const len = p - ts;
    if (len === 5 && equalsLowerCI(buf, ts, p, B_CLOSE)) bits |= CONN_CLOSE;
    else if (len === 10 && equalsLowerCI(buf, ts, p, B_KEEP_ALIVE)) bits |= CONN_KEEP_ALIVE;
    else if (len === 7 && equalsLowerCI(buf, ts, p, B_UPGRADE)) bits |= CONN_UPGRADE;
  }
  return bits;
}

/** `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2); empty is valid. */
function isValidHost(buf: Uint8Array, s: number, e: number): boolean {
  let p = s;
  if (p === e) return true;
  if (buf[p] === 0x5b) {
    // IP-literal
    p++;
    const is = p;
    while (p < e && IP_LITERAL[buf[p]!] === 1) p++;
    if (p === is || p >= e || buf[p] !== 0x5d) return false;
    p++;
  } else {
    const hs = p;
    while (p < e && REG_NAME[buf[p]!] === 1) {
      if (buf[p] === 0x25) {
        if (p + 2 >= e || HEX1[buf[p + 1]!] === 0 || HEX1[buf[p + 2]!] === 0) return false;
        p += 2;
      }
      p++;
    }
    if (p === hs) return false;
  }
  if (p === e) return true;
  if (buf[p] !== COLON) return false;
  p++;
  if (e - p > 5) return false;
  for (; p < e; p++) if (!isDigit(buf[p]!)) return false;
  return true;
}

/**
 * `chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`
 * over `[p, e)`, which is not empty (RFC 9112 §7.1.1).
 */
function parseChunkExtensions(buf: Uint8Array, p: number, e: number): void {
  while (p < e) {
    while (p < e && isOWS(buf[p]!)) p++;
    if (p === e || buf[p] !== SEMI) badExtension(buf, p, e);
    p++;
    while (p < e && isOWS(buf[p]!)) p++;
    const ns = p;
    while (p < e && TOKEN[buf[p]!] === 1) p++;
    if (p === ns) badExtension(buf, p, e);
    const afterName = p;
    while (p < e && isOWS(buf[p]!)) p++;
    if (p < e && buf[p] === EQUALS) {
      p++;
      while (p < e && isOWS(buf[p]!)) p++;
      if (p < e && buf[p] === DQUOTE) {
        p++;
        for (;;) {
          if (p >= e) badExtension(buf, p, e);
          const c = buf[p]!;
          if (c === DQUOTE) {
            p++;
            break;
          }
          if (c === BACKSLASH) {
            if (p + 1 >= e || QUOTED_PAIR[buf[p + 1]!] === 0) badExtension(buf, p + 1, e);
            p += 2;
          } else if (QDTEXT[c] === 1) {
            p++;
          } else {
            badExtension(buf, p, e);
          }
        }
      } else {
        const vs = p;
        while (p < e && TOKEN[buf[p]!] === 1) p++;
        if (p === vs) badExtension(buf, p, e);
      }
    } else {
      p = afterName;
    }
  }
}

function badExtension(buf: Uint8Array, p: number, e: number): never {
  if (p < e && buf[p] === CR) fail('BARE_CR', 400, 'CR inside a chunk extension');
  fail('INVALID_CHUNK_EXTENSION', 400, 'malformed chunk extension');
}

// ---------------------------------------------------------------------------
// The two parsers

/**
 * Parses the requests a client sends (server side).
 *
 * Events, per request: one {@link RequestHead}, zero or more
 * {@link BodyData}, one {@link EndOfMessage}. Pipelined requests follow each
 * other without any call in between; stop pulling (or `pause()`) to
 * answer them one at a time. After a request with `keepAlive: false` the
 * parser is `must-close`; after one with `upgrade: true` it is `switched`.
 *
 * @example
 * ```ts
 * const parser = new RequestParser();
 * parser.receiveData(Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'));
 * for (let ev = parser.nextEvent(); typeof ev === 'object'; ev = parser.nextEvent()) {
 *   if (ev.type === 'request') console.log(ev.method, ev.target, ev.headers.get('host'));
 * }
 * // push style, for a protocol:
 * parser.feed(chunk, { onHead(h) {…}, onData(d) {…}, onEnd(trailers) {…} });
 * ```
 */
export class RequestParser extends HttpParserBase<RequestHead, RequestEvent> {
  /** @param options - limits; see {@link HttpParserOptions} for defaults. */
  constructor(options?: HttpParserOptions) {
    super(true, options);
  }

  /**
   * The server answered an Upgrade request without switching (it ignored
   * the Upgrade field, or refused CONNECT): leave `switched` and go on
   * parsing HTTP (or `must-close` if that request ended the connection).
   * No effect in other states.
   */
  declineUpgrade(): void {
    this._declineSwitch();
  }
}

/**
 * Parses the responses a server sends (client side).
 *
 * Tell it the method of every request sent, in order, with
 * {@link ResponseParser.expectResponse} — response framing depends on it
 * (a HEAD response has no body). Events per request: zero or more
 * {@link InformationalResponse}, one {@link ResponseHead}, zero or more
 * {@link BodyData}, one {@link EndOfMessage}. A body without length ends
 * at `receiveEOF()`. A response with no request outstanding is an error
 * (`UNSOLICITED_RESPONSE`).
 *
 * @example
 * ```ts
 * const parser = new ResponseParser();
 * parser.expectResponse('GET');
 * parser.receiveData(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
 * parser.nextEvent(); // { type: 'response', status: 200, contentLength: 2, … }
 * parser.nextEvent(); // { type: 'data', data: <68 69> }
 * parser.nextEvent(); // { type: 'end', trailers: null }
 * ```
 */
export class ResponseParser extends HttpParserBase<ResponseHead, ResponseEvent> {
  /** @param options - limits; `maxTargetLength` does not apply. */
  constructor(options?: HttpParserOptions) {
    super(false, options);
  }

  /** Record that a request with `method` was sent; its response will be framed accordingly. */
  expectResponse(method: string): void {
    this._pushMethod(method);
  }
}

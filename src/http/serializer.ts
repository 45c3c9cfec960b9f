/**
 * The sans-IO HTTP/1.1 serializer: events in, bytes out.
 *
 * {@link ResponseSerializer} (server side) and {@link RequestSerializer}
 * (client side) turn outgoing events into wire bytes and enforce the
 * framing invariants HTTP/1.1 requires of a sender, so a server or client
 * built on them cannot emit a smuggling-prone or self-contradictory
 * message:
 *
 * - no body on HEAD responses (dropped), 1xx, 204, 304 (refused);
 * - never Content-Length together with Transfer-Encoding;
 * - only the `chunked` transfer coding, and only to HTTP/1.1 peers (an
 *   HTTP/1.0 peer gets a body delimited by closing the connection);
 * - exactly the declared Content-Length of body bytes;
 * - names are tokens; CR, LF, NUL, other controls and characters above
 *   U+00FF in names, values, reasons, methods and targets are refused with a
 *   `TypeError` (header injection).
 *
 * No clock: the caller supplies `Date` (see the server layer's cached date).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { HttpStateError } from './errors.js';
import { cachedStatusLine, reasonPhrase } from './status.js';

/**
 * Header fields to send: an array of `[name, value]` pairs (order kept,
 * repeats allowed) or a record whose array values become repeated lines.
 * Numbers are written in decimal.
 */
export type OutgoingHeaders =
  | ReadonlyArray<readonly [string, string | number]>
  | Readonly<Record<string, string | number | ReadonlyArray<string | number>>>;

/** A body: bytes as they are, or a string encoded as UTF-8. */
export type BodyInit = Uint8Array | string;

/**
 * A final response (status 200–599, or 101). With `body`, the whole message
 * is produced at once (a Content-Length is added if none was given) and the
 * serializer is ready for the next response; without it, send `data`
 * events and an `end` — except after a 101 or a 2xx to CONNECT, which
 * complete at the head (the serializer is then `switched`).
 */
export interface OutgoingResponse {
  readonly type: 'response';
  readonly status: number;
  /** Defaults to the registered phrase (or empty). */
  readonly reason?: string;
  readonly headers?: OutgoingHeaders;
  readonly body?: BodyInit;
}

/** An interim 1xx response (100–199 except 101), e.g. 100 Continue or 103 Early Hints. */
export interface OutgoingInformational {
  readonly type: 'informational';
  readonly status: number;
  readonly reason?: string;
  readonly headers?: OutgoingHeaders;
}

/**
 * A request. With `body`, the whole message is produced at once; without
 * it, the request has no body unless the headers declare one
 * (`Content-Length`, or `Transfer-Encoding: chunked` to stream), and an
 * `end` event is still due.
 */
export interface OutgoingRequest {
  readonly type: 'request';
  /** A token, e.g. `GET`. */
  readonly method: string;
  /** Visible ASCII only (percent-encode the rest). */
  readonly target: string;
  /** Must include `Host`. */
  readonly headers?: OutgoingHeaders;
  readonly body?: BodyInit;
}

/** Body bytes of the current message. Empty data produces no bytes. */
export interface OutgoingData {
  readonly type: 'data';
  readonly data: BodyInit;
}

/** The end of the current message; `trailers` are sent only with chunked framing (dropped otherwise). */
export interface OutgoingEnd {
  readonly type: 'end';
  readonly trailers?: OutgoingHeaders;
}

/** What a {@link ResponseSerializer} must know about the request it answers. A parsed `RequestHead` fits. */
export interface RequestInfo {
  readonly method: string;
  /** 0 for an HTTP/1.0 peer, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  /** Whether the request allows keeping the connection open. */
  readonly keepAlive: boolean;
}

/** Serializer states. */
export type SerializerState = 'idle' | 'body' | 'must-close' | 'switched';

/** How the current outgoing body is framed. */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close' | 'dropped';

const EMPTY = new Uint8Array(0);

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;
const TARGET_RE = /^[\x21-\x7e]+$/;
const DIGITS_RE = /^[0-9]{1,15}$/;

// Names already checked: skip the regex for the names an app sends every time.
const GOOD_NAMES = new Set<string>();
const GOOD_NAMES_MAX = 512;

function checkName(name: string): void {
  if (GOOD_NAMES.has(name)) return;
  if (typeof name !== 'string' || !TOKEN_RE.test(name)) {
    throw new TypeError(`invalid HTTP field name ${JSON.stringify(name)}`);
  }
  if (GOOD_NAMES.size < GOOD_NAMES_MAX) GOOD_NAMES.add(name);
}

function checkValue(name: string, value: string): void {
  if (BAD_VALUE_RE.test(value)) {
    throw new TypeError(`invalid character in the value of HTTP field ${JSON.stringify(name)}`);
  }
}

const F_NONE = 0;
const F_LENGTH = 1;
const F_CHUNKED = 2;
const F_CLOSE = 3;
const F_DROP = 4;
const FRAMING_NAMES: readonly BodyFraming[] = ['none', 'length', 'chunked', 'close', 'dropped'];

const S_IDLE = 0;
const S_BODY = 1;
const S_MUST_CLOSE = 2;
const S_SWITCHED = 3;
const STATE_NAMES: readonly SerializerState[] = ['idle', 'body', 'must-close', 'switched'];

/** Facts about the framing fields found while writing a field block. */
interface FieldScan {
  lines: string;
  contentLength: number; // −1 when absent
  clCount: number;
  teCount: number;
  teChunked: boolean;
  connClose: boolean;
  connKeepAlive: boolean;
  host: boolean;
}

function lowerIs(name: string, lower: string): boolean {
  return name.length === lower.length && name.toLowerCase() === lower;
}

function bodyLength(body: BodyInit): number {
  return typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
}

/**
 * Shared machinery of {@link ResponseSerializer} and
 * {@link RequestSerializer}: field blocks, body framing, `data`/`end`.
 */
export abstract class HttpSerializerBase {
  private _state = S_IDLE;
  private _framing = F_NONE;
  private _remaining = 0;
  private _closeAfter = false;
  private _switchAfter = false;

  /** The coarse state: `idle` (ready for a message head), `body`, `must-close` (done; close the connection), `switched`. */
  get state(): SerializerState {
    return STATE_NAMES[this._state]!;
  }

  /** How the body of the current (or last) message is framed. */
  get framing(): BodyFraming {
    return FRAMING_NAMES[this._framing]!;
  }

  /**
   * Encode body bytes of the current message.
   *
   * @throws {@link HttpStateError} `WRONG_STATE` outside a body,
   *   `BODY_NOT_ALLOWED` for a non-empty body on 1xx/204/304 or a request
   *   that declared none, `TOO_MUCH_DATA` past the Content-Length.
   */
  protected _sendData(data: BodyInit): Uint8Array {
    if (this._state !== S_BODY) throw new HttpStateError('WRONG_STATE', 'no message body is being sent');
    const len = bodyLength(data);
    if (len === 0) return EMPTY;
    switch (this._framing) {
      case F_DROP:
        return EMPTY;
      case F_NONE:
        throw new HttpStateError('BODY_NOT_ALLOWED', 'this message cannot have a body');
      case F_LENGTH:
        if (len > this._remaining) {
          throw new HttpStateError('TOO_MUCH_DATA', 'more body bytes than the declared Content-Length');
        }
        this._remaining -= len;
        return toBytes(data);
      case F_CHUNKED: {
        const size = `${len.toString(16)}\r\n`;
        const out = Buffer.allocUnsafe(size.length + len + 2);
        out.write(size, 0, 'latin1');
        writeBody(out, size.length, data);
        out[size.length + len] = 0x0d;
        out[size.length + len + 1] = 0x0a;
        return out;
      }
      default:
        return toBytes(data);
    }
  }

  /**
   * Finish the current message.
   *
   * @throws {@link HttpStateError} `WRONG_STATE` outside a body,
   *   `TOO_LITTLE_DATA` if fewer bytes than the Content-Length were sent
   *   (the serializer is then `must-close`: the peer is waiting for bytes
   *   that will never come).
   */
  protected _sendEnd(trailers: OutgoingHeaders | undefined): Uint8Array {
    if (this._state !== S_BODY) throw new HttpStateError('WRONG_STATE', 'no message is being sent');
    let out: Uint8Array = EMPTY;
    if (this._framing === F_LENGTH && this._remaining !== 0) {
      this._state = S_MUST_CLOSE;
      throw new HttpStateError('TOO_LITTLE_DATA', 'fewer body bytes than the declared Content-Length');
    }
    if (this._framing === F_CHUNKED) {
      const t = trailers === undefined ? '' : scanFields(trailers, false).lines;
      out = Buffer.from(`0\r\n${t}\r\n`, 'latin1');
    }
    this._finish();
    return out;
  }

  /** @internal Enter the body of a message whose head is `head`; with `body`, emit it whole. */
  protected _startMessage(
    head: string,
    framing: number,
    contentLength: number,
    closeAfter: boolean,
    switchAfter: boolean,
    body: BodyInit | undefined,
  ): Uint8Array {
    this._framing = framing;
    this._remaining = contentLength;
    this._closeAfter = closeAfter;
    this._switchAfter = switchAfter;
    if (body === undefined) {
      if (switchAfter) {
        // 101 / 2xx to CONNECT: the next bytes belong to the other protocol; no `end` is due.
        this._finish();
      } else {
        // Even a body-less message waits for its `end`, so the event sequence is uniform.
        this._state = S_BODY;
      }
      return Buffer.from(head, 'latin1');
    }
    const len = bodyLength(body);
    let out: Buffer;
    if (framing === F_LENGTH && len !== contentLength) {
      throw new HttpStateError(
        len > contentLength ? 'TOO_MUCH_DATA' : 'TOO_LITTLE_DATA',
        'body length differs from the declared Content-Length',
      );
    }
    if (framing === F_NONE && len !== 0) {
      throw new HttpStateError('BODY_NOT_ALLOWED', 'this message cannot have a body');
    }
    if (framing === F_LENGTH || framing === F_CLOSE) {
      out = Buffer.allocUnsafe(head.length + len);
      out.write(head, 0, 'latin1');
      writeBody(out, head.length, body);
    } else if (framing === F_CHUNKED) {
      const size = len === 0 ? '' : `${len.toString(16)}\r\n`;
      const tail = len === 0 ? '0\r\n\r\n' : '\r\n0\r\n\r\n';
      out = Buffer.allocUnsafe(head.length + size.length + len + tail.length);
      let at = out.write(head, 0, 'latin1');
      at += out.write(size, at, 'latin1');
      at += writeBody(out, at, body);
      out.write(tail, at, 'latin1');
    } else {
      out = Buffer.from(head, 'latin1');
    }
    this._finish();
    return out;
  }

  /**
   * @internal A one-shot message whose head and `Content-Length` body the
   * caller wrote itself is complete: the next message may start (or the
   * connection must close, with `closeAfter`).
   */
  protected _oneShotDone(closeAfter: boolean): void {
    this._framing = F_LENGTH;
    this._remaining = 0;
    this._closeAfter = closeAfter;
    this._switchAfter = false;
    this._state = closeAfter ? S_MUST_CLOSE : S_IDLE;
  }

  /** @internal Refuse a new head unless idle. */
  protected _assertIdle(): void {
    if (this._state !== S_IDLE) {
      throw new HttpStateError(
        'WRONG_STATE',
        this._state === S_BODY ? 'the previous message is not finished' : `cannot send a message: ${this.state}`,
      );
    }
  }

  private _finish(): void {
    this._state = this._switchAfter ? S_SWITCHED : this._closeAfter || this._framing === F_CLOSE ? S_MUST_CLOSE : S_IDLE;
  }
}

function toBytes(data: BodyInit): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function writeBody(out: Buffer, at: number, body: BodyInit): number {
  if (typeof body === 'string') return out.write(body, at, 'utf8');
  out.set(body, at);
  return body.length;
}

function addField(scan: FieldScan, name: string, v: string | number, framing: boolean): void {
  checkName(name);
  const value = typeof v === 'string' ? v : String(v);
  checkValue(name, value);
  if (framing) {
    switch (name.length) {
      case 4:
        if (lowerIs(name, 'host')) scan.host = true;
        break;
      case 10:
        if (lowerIs(name, 'connection')) {
          for (const tok of value.split(',')) {
            const t = tok.trim().toLowerCase();
            if (t === 'close') scan.connClose = true;
            else if (t === 'keep-alive') scan.connKeepAlive = true;
          }
        }
        break;
      case 14:
        if (lowerIs(name, 'content-length')) {
          const t = value.trim();
          if (!DIGITS_RE.test(t)) throw new HttpStateError('INVALID_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(value)}`);
          scan.clCount++;
          scan.contentLength = Number(t);
        }
        break;
      case 17:
        if (lowerIs(name, 'transfer-encoding')) {
          scan.teCount++;
          if (value.trim().toLowerCase() !== 'chunked') {
            throw new HttpStateError('UNSUPPORTED_TRANSFER_ENCODING', 'only Transfer-Encoding: chunked can be sent');
          }
          scan.teChunked = true;
          // Written by the framing decision, not here.
          return;
        }
        break;
    }
  }
  scan.lines += `${name}: ${value}\r\n`;
}

/** Validate and serialise a field block; with `framing`, collect the framing facts. */
function scanFields(headers: OutgoingHeaders | undefined, framing: boolean): FieldScan {
  const scan: FieldScan = {
    lines: '',
    contentLength: -1,
    clCount: 0,
    teCount: 0,
    teChunked: false,
    connClose: false,
    connKeepAlive: false,
    host: false,
  };
  if (headers === undefined) return scan;
  if (Array.isArray(headers)) {
    const list = headers as ReadonlyArray<readonly [string, string | number]>;
    for (let i = 0; i < list.length; i++) {
      const pair = list[i]!;
      addField(scan, pair[0], pair[1], framing);
    }
  } else {
    const rec = headers as Readonly<Record<string, string | number | ReadonlyArray<string | number>>>;
    for (const name in rec) {
      const v = rec[name]!;
      if (typeof v === 'object') for (const one of v) addField(scan, name, one, framing);
      else addField(scan, name, v, framing);
    }
  }
  if (framing) {
    if (scan.clCount > 1) throw new HttpStateError('FRAMING_CONFLICT', 'more than one Content-Length');
    if (scan.teCount > 1) throw new HttpStateError('FRAMING_CONFLICT', 'more than one Transfer-Encoding');
    if (scan.clCount !== 0 && scan.teCount !== 0) {
      throw new HttpStateError('FRAMING_CONFLICT', 'Content-Length and Transfer-Encoding together');
    }
  }
  return scan;
}

const DEFAULT_REQUEST: RequestInfo = Object.freeze({ method: 'GET', versionMinor: 1, keepAlive: true });

/**
 * Serialises responses (server side), one per request, in order.
 *
 * Before each response, tell it which request it answers with
 * {@link ResponseSerializer.respondTo} (a parsed `RequestHead` will do): the
 * method (HEAD, CONNECT), the peer's version and its keep-alive wish decide
 * the framing. Framing headers you give are honoured and checked; missing
 * ones are added: `Content-Length` for a one-shot `body`, else
 * `Transfer-Encoding: chunked` (HTTP/1.1 peer) or `Connection: close` and a
 * close-delimited body (HTTP/1.0 peer). `Connection: close` is added
 * whenever the connection will close; `Connection: keep-alive` when an
 * HTTP/1.0 peer's keep-alive is honoured.
 *
 * @example
 * ```ts
 * const ser = new ResponseSerializer();
 * ser.respondTo(requestHead);
 * transport.write(ser.send({
 *   type: 'response', status: 200,
 *   headers: [['Content-Type', 'text/plain'], ['Date', cachedDate]],
 *   body: 'hello',
 * })); // one buffer: head + body; ser.state is 'idle' (or 'must-close': close the connection)
 *
 * // streaming:
 * ser.respondTo(next);
 * write(ser.send({ type: 'response', status: 200 }));   // chunked to HTTP/1.1 peers
 * write(ser.send({ type: 'data', data: part }));
 * write(ser.send({ type: 'end' }));
 * ```
 */
export class ResponseSerializer extends HttpSerializerBase {
  private _req: RequestInfo = DEFAULT_REQUEST;
  private readonly _memo = { line: '', lines: '', length: -1, conn: '', head: '' };

  /**
   * Set the request the next response answers (default: an HTTP/1.1
   * keep-alive GET). Call while `idle`.
   */
  respondTo(request: RequestInfo): void {
    this._assertIdle();
    this._req = request;
  }

  /**
   * Serialise one event.
   *
   * @returns the bytes to write (possibly empty; a view of `data` when it
   *   can be sent as is).
   * @throws `TypeError` for invalid names, values, reasons or status codes
   *   (injection); {@link HttpStateError} for framing violations (its
   *   `code` says which). Nothing is emitted by a call that throws.
   */
  send(event: OutgoingResponse | OutgoingInformational | OutgoingData | OutgoingEnd): Uint8Array {
    switch (event.type) {
      case 'response':
        return this._response(event);
      case 'informational':
        return this._informational(event);
      case 'data':
        return this._sendData(event.data);
      case 'end':
        return this._sendEnd(event.trailers);
      default:
        throw new TypeError(`unknown event type ${JSON.stringify((event as { type: unknown }).type)}`);
    }
  }

  /**
   * The head of a whole response with a `Content-Length` body, built
   * without re-validating its fields — the fast path of a server whose
   * `Request` checks every name and value as it is set.
   *
   * Preconditions (the caller's promise, not checked here): `lines` is a
   * sequence of complete `Name: value\r\n` lines with token names and
   * values free of CR, LF, NUL and other controls, and none of them is
   * `Transfer-Encoding` or `Connection` (fields that decide the framing go
   * through {@link send}). `Content-Length` is added after `lines` unless
   * `lengthInLines`, when `lines` hold exactly one `Content-Length` field
   * whose value is `bodyLength` (a field the application set). The caller
   * writes exactly `bodyLength` body bytes after the head.
   *
   * The framing rules are those of {@link send}: `Connection: close` when
   * the request does not keep the connection open (the serializer is then
   * `must-close`), `Connection: keep-alive` to an HTTP/1.0 peer that keeps
   * it. Returns `null`, changing nothing, where the fast path does not
   * apply: a status that is not a registered 2xx–5xx with a body (204 and
   * 304 have none), or a HEAD or CONNECT request — use {@link send}.
   *
   * @throws {@link HttpStateError} `WRONG_STATE` unless idle.
   */
  simpleResponseHead(status: number, lines: string, bodyLength: number, lengthInLines = false): string | null {
    this._assertIdle();
    const req = this._req;
    const method = req.method;
    if (status < 200 || status === 204 || status === 304 || method === 'HEAD' || method === 'CONNECT') return null;
    const line = cachedStatusLine(status);
    if (line === undefined) return null;
    const closeAfter = !req.keepAlive;
    this._oneShotDone(closeAfter);
    const conn = closeAfter ? 'Connection: close\r\n' : req.versionMinor === 0 ? 'Connection: keep-alive\r\n' : '';
    // The same head as last time (same status, field block, length): no new string.
    const memo = this._memo;
    const length = lengthInLines ? -1 : bodyLength;
    if (memo.line === line && memo.lines === lines && memo.length === length && memo.conn === conn) return memo.head;
    const head = lengthInLines ? `${line}${lines}${conn}\r\n` : `${line}${lines}Content-Length: ${bodyLength}\r\n${conn}\r\n`;
    memo.line = line;
    memo.lines = lines;
    memo.length = length;
    memo.conn = conn;
    memo.head = head;
    return head;
  }

  private _statusLine(status: number, reason: string | undefined): string {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new TypeError(`invalid HTTP status ${String(status)}`);
    }
    if (reason === undefined) {
      return cachedStatusLine(status) ?? `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
    }
    if (BAD_VALUE_RE.test(reason)) throw new TypeError('invalid character in the reason phrase');
    return `HTTP/1.1 ${status} ${reason}\r\n`;
  }

  private _informational(ev: OutgoingInformational): Uint8Array {
    this._assertIdle();
    const status = ev.status;
    if (!(status >= 100 && status < 200) || status === 101) {
      throw new HttpStateError('INVALID_STATUS', 'informational responses are 1xx other than 101');
    }
    if (this._req.versionMinor === 0) {
      throw new HttpStateError('WRONG_STATE', 'no 1xx responses to an HTTP/1.0 client');
    }
    const line = this._statusLine(status, ev.reason);
    const scan = scanFields(ev.headers, true);
    if (scan.clCount !== 0 || scan.teCount !== 0) {
      throw new HttpStateError('FRAMING_CONFLICT', '1xx responses have no Content-Length or Transfer-Encoding');
    }
    return Buffer.from(`${line}${scan.lines}\r\n`, 'latin1');
  }

  private _response(ev: OutgoingResponse): Uint8Array {
    this._assertIdle();
    const status = ev.status;
    const req = this._req;
    const line = this._statusLine(status, ev.reason);
    if (status < 200 && status !== 101) {
      throw new HttpStateError('INVALID_STATUS', 'send 1xx responses as informational events');
    }
    const scan = scanFields(ev.headers, true);
    const isHead = req.method === 'HEAD';
    const isConnect = req.method === 'CONNECT';
    const switchAfter = status === 101 || (isConnect && status >= 200 && status < 300);
    const peer11 = req.versionMinor !== 0;
    const body = ev.body;
    let framing: number;
    let contentLength = -1;
    let extra = '';
    if (status === 101 || status === 204 || switchAfter) {
      if (scan.clCount !== 0 || scan.teCount !== 0) {
        throw new HttpStateError('FRAMING_CONFLICT', `a ${status} response has no Content-Length or Transfer-Encoding`);
      }
      framing = F_NONE;
    } else if (status === 304 || isHead) {
      // The framing fields describe the body a GET would get; none is sent. (A 304 describes the
      // stored 200, whose length the empty body given here is not: no Content-Length is derived.)
      if (scan.teChunked) extra += 'Transfer-Encoding: chunked\r\n';
      else if (scan.clCount === 0 && isHead && status !== 304 && body !== undefined) extra += `Content-Length: ${bodyLength(body)}\r\n`;
      framing = isHead ? F_DROP : F_NONE;
    } else if (scan.teChunked) {
      if (peer11) {
        extra += 'Transfer-Encoding: chunked\r\n';
        framing = F_CHUNKED;
      } else {
        framing = F_CLOSE;
      }
    } else if (scan.clCount !== 0) {
      framing = F_LENGTH;
      contentLength = scan.contentLength;
    } else if (body !== undefined) {
      framing = F_LENGTH;
      contentLength = bodyLength(body);
      extra += `Content-Length: ${contentLength}\r\n`;
    } else if (peer11) {
      framing = F_CHUNKED;
      extra += 'Transfer-Encoding: chunked\r\n';
    } else {
      framing = F_CLOSE;
    }
    const closeAfter = !switchAfter && (!req.keepAlive || scan.connClose || framing === F_CLOSE);
    if (closeAfter) {
      if (!scan.connClose) extra += 'Connection: close\r\n';
    } else if (!peer11 && !switchAfter && !scan.connKeepAlive) {
      extra += 'Connection: keep-alive\r\n';
    }
    const head = `${line}${scan.lines}${extra}\r\n`;
    return this._startMessage(head, framing, contentLength, closeAfter, switchAfter, body);
  }
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Serialises requests (client side). Requests may be pipelined: after one
 * `end` the next head can be sent. The peer is assumed to speak HTTP/1.1
 * (chunked request bodies are allowed).
 *
 * Framing: a one-shot `body` gets a `Content-Length` (omitted for an empty
 * body on methods that do not expect one); otherwise the headers decide —
 * `Content-Length: n`, `Transfer-Encoding: chunked`, or no body at all.
 *
 * @example
 * ```ts
 * const ser = new RequestSerializer();
 * write(ser.send({ type: 'request', method: 'GET', target: '/', headers: [['Host', 'example.com']], body: '' }));
 * // streaming upload:
 * write(ser.send({ type: 'request', method: 'PUT', target: '/f', headers: { Host: 'h', 'Transfer-Encoding': 'chunked' } }));
 * write(ser.send({ type: 'data', data: bytes }));
 * write(ser.send({ type: 'end' }));
 * ```
 */
export class RequestSerializer extends HttpSerializerBase {
  /**
   * Serialise one event.
   *
   * @throws `TypeError` for a method that is not a token, a target with
   *   anything but visible ASCII, invalid names or values;
   *   {@link HttpStateError} `HOST_MISSING`, framing violations, or events
   *   out of order.
   */
  send(event: OutgoingRequest | OutgoingData | OutgoingEnd): Uint8Array {
    switch (event.type) {
      case 'request':
        return this._request(event);
      case 'data':
        return this._sendData(event.data);
      case 'end':
        return this._sendEnd(event.trailers);
      default:
        throw new TypeError(`unknown event type ${JSON.stringify((event as { type: unknown }).type)}`);
    }
  }

  private _request(ev: OutgoingRequest): Uint8Array {
    this._assertIdle();
    const { method, target } = ev;
    if (typeof method !== 'string' || !TOKEN_RE.test(method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(method)}`);
    if (typeof target !== 'string' || !TARGET_RE.test(target)) throw new TypeError(`invalid request target ${JSON.stringify(target)}`);
    const scan = scanFields(ev.headers, true);
    if (!scan.host) throw new HttpStateError('HOST_MISSING', 'HTTP/1.1 requests need a Host field');
    const body = ev.body;
    let framing: number;
    let contentLength = -1;
    let extra = '';
    if (scan.teChunked) {
      framing = F_CHUNKED;
      extra = 'Transfer-Encoding: chunked\r\n';
    } else if (scan.clCount !== 0) {
      framing = F_LENGTH;
      contentLength = scan.contentLength;
    } else if (body !== undefined) {
      const len = bodyLength(body);
      if (len !== 0 || METHODS_WITH_BODY.has(method)) {
        framing = F_LENGTH;
        contentLength = len;
        extra = `Content-Length: ${len}\r\n`;
      } else {
        framing = F_NONE;
      }
    } else {
      framing = F_NONE;
    }
    const head = `${method} ${target} HTTP/1.1\r\n${scan.lines}${extra}\r\n`;
    return this._startMessage(head, framing, contentLength, scan.connClose, false, body);
  }
}

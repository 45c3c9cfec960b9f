/**
 * One WebSocket connection from the server's side, as a sans-IO state machine: the server
 * pushes the handshake, the messages and the disconnect in; the application's `receive`/`send`
 * go through it; it tells the server what to do as {@link WebsocketAction}s. Strict where
 * Daphne is lenient: accept headers and close reasons are honoured, the denial-response
 * extension is supported, a send before accept fails.
 */
import { EventWaiters } from './waiters.js';
import { Deferred, fail, isThenable, succeed } from '../../defer/deferred.js';
import type { Failure } from '../../defer/failure.js';
import { isValidCloseCode } from '../../websocket/constants.js';
import type { ASGIEvent, Headers } from '../types.js';
import { emitActions, type ASGIConnection } from './connection.js';
import { ASGIConnectionClosed, ASGIProtocolError } from './errors.js';
import {
  checkBool,
  checkBytes,
  checkHeaders,
  checkStatus,
  checkString,
  concatBytes,
  plainTextResponse,
  requireEvent,
} from './validate.js';

/**
 * What the server must do:
 * - `accept`: complete the handshake (101) with this subprotocol and these extra headers.
 * - `message`: send a text (string) or binary (Uint8Array) message.
 * - `close`: send a close frame with this code and reason (the peer's answer, or the loss of
 *   the socket, is then reported with `pushDisconnect`).
 * - `deny`: do not complete the handshake; answer this HTTP response instead and close. It is
 *   a 403 when the application sent `websocket.close` before accepting (`closeCode` is the code
 *   it gave), the application's own response with the `websocket.http.response` extension, or a
 *   500 when the application raised or returned before deciding (`error` set when it raised).
 * - `resume-reading`: the application took the buffered messages; read again (after
 *   `pushMessage` returned false).
 */
export type WebsocketAction =
  | { kind: 'accept'; subprotocol: string | null; headers: Headers }
  | { kind: 'message'; data: string | Uint8Array }
  | { kind: 'close'; code: number; reason: string }
  | {
      kind: 'deny';
      status: number;
      headers: Headers;
      body: Uint8Array;
      closeCode: number | null;
      reason: string;
      error: Error | null;
    }
  | { kind: 'resume-reading' };

/** Receives the {@link WebsocketAction}s; returning a PromiseLike delays the `send` that caused it. */
export type WebsocketActionHandler = (action: WebsocketAction) => void | PromiseLike<void>;

/** Options of a {@link WebsocketCycle}. */
export interface WebsocketCycleOptions {
  /**
   * The subprotocols the client offered (`scope.subprotocols`); `websocket.accept` may only pick
   * one of them. Default: none offered.
   */
  subprotocols?: readonly string[];
  /**
   * Whether the `websocket.http.response` extension (a custom denial response) is offered; the
   * scope should advertise it in `extensions` when it is. Default true.
   */
  httpResponseExtension?: boolean;
  /**
   * Bytes (of text: UTF-16 units) of received messages buffered for the application before
   * `pushMessage` returns false. Default 1 MiB.
   */
  highWaterMark?: number;
  /** Largest denial-response body an application may send. Default 1 MiB. */
  maxDenialBody?: number;
  /**
   * The server's fast form of the `message` action, used by `trySend` (see
   * {@link ImmediateSender}; a function is taken as its `sendNow`).
   */
  sendNow?: ImmediateSender | ImmediateSender['sendNow'];
}

/**
 * What writes a message at once for `WebsocketCycle.trySend`. An object with a method rather than
 * a callback: it is called for every message, and a method reads only its object, where a closure
 * is two more objects (the function and its context) to read per message.
 */
export interface ImmediateSender {
  /**
   * Write the message now if nothing stands in its way and return true; false and nothing done
   * otherwise (the message then goes through a `message` action, as from `send`).
   */
  sendNow(data: string | Uint8Array): boolean;
}

/**
 * - `connecting`: handshake pending (the application must accept or close);
 * - `denying`: the application started a denial response;
 * - `open`: accepted;
 * - `closing`: the application sent a close, the peer has not answered;
 * - `closed`: the peer is gone, or the handshake was refused.
 */
export type WebsocketState = 'connecting' | 'denying' | 'open' | 'closing' | 'closed';

/** Headers an application may not set on `websocket.accept`: the handshake owns them. */
const HANDSHAKE_HEADERS = new Set([
  'sec-websocket-protocol',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-version',
  'upgrade',
  'connection',
  'content-length',
  'transfer-encoding',
]);

const MAX_REASON_BYTES = 123;

function toVoid(): void {}

/**
 * The server side of one WebSocket as an {@link ASGIConnection}.
 *
 * Rules enforced on `send`: only `websocket.accept`, `websocket.send`, `websocket.close` and,
 * when offered, `websocket.http.response.start`/`.body`; `websocket.send` before accept fails
 * with `ASGIProtocolError` (the application may catch it; if it dies, the handshake is answered
 * 500); `websocket.send` needs exactly one of `text` (string) and `bytes` (Uint8Array);
 * `websocket.accept` picks a subprotocol the client offered and sets no handshake header;
 * `websocket.close` has a valid close `code` (default 1000) and a `reason` of at most 123
 * UTF-8 bytes. Close before accept → the handshake is answered 403. After the close, a
 * disconnect or a refused handshake, sending fails with `ASGIConnectionClosed`.
 *
 * When the application ends: before deciding → 500; after accept → close 1011 when it raised,
 * 1000 when it returned.
 *
 * `receive()` gives `websocket.connect` (after `pushConnect`), the messages as
 * `websocket.receive` (`text` or `bytes`), then `websocket.disconnect` with `code` and `reason`
 * (and that again on every later call). Messages arriving after the application's own close are
 * dropped.
 */
export class WebsocketCycle implements ASGIConnection {
  // Read by every message sent, so first (fields are laid out in the order declared: see
  // `WebSocketProtocol`).
  #state: WebsocketState = 'connecting';
  readonly #sendNow: ImmediateSender | null;
  onClosed: (() => void) | null = null;

  readonly #onAction: WebsocketActionHandler;
  readonly #offered: readonly string[];
  readonly #extension: boolean;
  readonly #highWaterMark: number;
  readonly #maxDenialBody: number;
  #connectPushed = false;
  #events: ASGIEvent[] = [];
  #buffered = 0;
  #paused = false;
  readonly #waiters = new EventWaiters();
  /** Given again to every receive() once the connection is over. */
  #disconnect: ASGIEvent | null = null;
  #denyStatus = 0;
  #denyHeaders: Headers = [];
  #denyBody: Uint8Array[] = [];
  #denySize = 0;
  #finished = false;
  #closeNotified = false;

  constructor(onAction: WebsocketActionHandler, options: WebsocketCycleOptions = {}) {
    this.#onAction = onAction;
    const now = options.sendNow ?? null;
    this.#sendNow = typeof now === 'function' ? { sendNow: now } : now;
    this.#offered = options.subprotocols ?? [];
    this.#extension = options.httpResponseExtension ?? true;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.#maxDenialBody = options.maxDenialBody ?? 1024 * 1024;
  }

  /** Where the connection is. */
  get state(): WebsocketState {
    return this.#state;
  }

  /** Whether the connection is over: the peer is gone or the handshake was refused. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  // ------------------------------------------------------------------ server side

  /**
   * The handshake request arrived: queue `websocket.connect` for the application.
   * @throws Error when called twice.
   */
  pushConnect(): void {
    if (this.#connectPushed) throw new Error('WebsocketCycle.pushConnect: websocket.connect was already delivered');
    this.#connectPushed = true;
    if (this.#state !== 'connecting') return;
    this.#queue({ type: 'websocket.connect' }, 0);
  }

  /**
   * A message from the peer. Dropped after the application's close or a disconnect.
   * @returns false when the buffer reached the high-water mark: stop reading until `resume-reading`.
   * @throws Error before the handshake was accepted (a server bug).
   */
  pushMessage(data: string | Uint8Array): boolean {
    if (this.#state === 'connecting' || this.#state === 'denying') {
      throw new Error('WebsocketCycle.pushMessage: the handshake has not been accepted');
    }
    if (this.#state !== 'open') return true;
    const event: ASGIEvent =
      typeof data === 'string' ? { type: 'websocket.receive', text: data } : { type: 'websocket.receive', bytes: data };
    this.#queue(event, data.length);
    if (this.#buffered >= this.#highWaterMark) {
      this.#paused = true;
      return false;
    }
    return true;
  }

  /**
   * The peer closed (with its close frame's `code` and `reason`; 1005 when the frame had no
   * code) or the socket was lost (1006). Idempotent.
   */
  pushDisconnect(code = 1006, reason = ''): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const ev: ASGIEvent = { type: 'websocket.disconnect', code, reason };
    this.#disconnect = ev;
    this.#queue(ev, 0);
    this.#closedNow();
  }

  // ------------------------------------------------------------------ application side

  receive(): Deferred<ASGIEvent> {
    return this.#waiters.receive(() => this.#take());
  }

  send(event: ASGIEvent): Deferred<void> {
    try {
      requireEvent(event);
      switch (event.type) {
        case 'websocket.accept':
          return this.#accept(event);
        case 'websocket.send':
          return this.#message(event);
        case 'websocket.close':
          return this.#close(event);
        case 'websocket.http.response.start':
          return this.#denyStart(event);
        case 'websocket.http.response.body':
          return this.#denyBodyPart(event);
        default:
          throw new ASGIProtocolError(`unknown event type ${JSON.stringify(event.type)} for a WebSocket connection`, event.type);
      }
    } catch (e) {
      return fail(e);
    }
  }

  applicationFinished(failure: Failure | null): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#state === 'connecting' || this.#state === 'denying') {
      const reason =
        failure === null
          ? 'the application returned without accepting or closing the WebSocket'
          : 'the application raised before accepting or closing the WebSocket';
      this.#deny(500, null, reason, failure?.value ?? null);
    } else if (this.#state === 'open') {
      this.#state = 'closing';
      this.#emit([{ kind: 'close', code: failure === null ? 1000 : 1011, reason: '' }]).addErrback(() => undefined);
    }
  }

  // ------------------------------------------------------------------ internals

  /** Fails with ASGIConnectionClosed when the connection is over (or closing, for sends). */
  #requireNotClosed(event: ASGIEvent): void {
    if (this.#state === 'closed') throw new ASGIConnectionClosed(`${event.type}: the WebSocket is closed`);
    if (this.#state === 'closing') throw new ASGIConnectionClosed(`${event.type}: the WebSocket is closing (websocket.close was sent)`);
  }

  #accept(event: ASGIEvent): Deferred<void> {
    this.#requireNotClosed(event);
    if (this.#state !== 'connecting') {
      throw new ASGIProtocolError(
        this.#state === 'open' ? 'websocket.accept sent twice' : 'websocket.accept after websocket.http.response.start',
        event.type,
      );
    }
    const sub = event.subprotocol;
    if (sub !== undefined && sub !== null && typeof sub !== 'string') {
      throw new ASGIProtocolError('websocket.accept: "subprotocol" must be a string or null', event.type);
    }
    const subprotocol = sub ?? null;
    if (subprotocol !== null && !this.#offered.includes(subprotocol)) {
      throw new ASGIProtocolError(
        `websocket.accept: subprotocol ${JSON.stringify(subprotocol)} was not offered by the client (offered: ${JSON.stringify(this.#offered)})`,
        event.type,
      );
    }
    const headers = checkHeaders(event);
    for (const [name] of headers) {
      if (HANDSHAKE_HEADERS.has(name)) {
        throw new ASGIProtocolError(
          `websocket.accept: header ${JSON.stringify(name)} belongs to the handshake${name === 'sec-websocket-protocol' ? ' (use "subprotocol")' : ''}`,
          event.type,
        );
      }
    }
    this.#state = 'open';
    return this.#emit([{ kind: 'accept', subprotocol, headers }]);
  }

  /**
   * {@link ASGIConnection.trySend}: a `websocket.send` carried out at once — by the server's
   * `sendNow`, or by an action handler that returned nothing to wait for — gives `null`;
   * anything else is exactly `send`.
   */
  trySend(event: ASGIEvent): Deferred<void> | null {
    if (typeof event !== 'object' || event === null || event.type !== 'websocket.send') return this.send(event);
    let data: string | Uint8Array;
    try {
      data = this.#messageData(event);
      const now = this.#sendNow;
      // (=== true: a boolean from a call the compiler did not inline is otherwise tested for
      // truth by the generic sequence, per message.)
      if (now !== null && now.sendNow(data) === true) return null;
    } catch (e) {
      return fail(e);
    }
    return this.#act({ kind: 'message', data });
  }

  #message(event: ASGIEvent): Deferred<void> {
    return this.#act({ kind: 'message', data: this.#messageData(event) }) ?? succeed<void>(undefined);
  }

  /** The text or bytes of a `websocket.send` the connection may carry out now. */
  #messageData(event: ASGIEvent): string | Uint8Array {
    // Open (every send but the refused ones): one comparison on the hot path; the errors of
    // the other states are made out of line, keeping this method small enough to be inlined.
    if (this.#state !== 'open') this.#refuseMessage(event);
    const hasText = event.text !== undefined && event.text !== null;
    const hasBytes = event.bytes !== undefined && event.bytes !== null;
    if (hasText === hasBytes) {
      throw new ASGIProtocolError('websocket.send needs exactly one of "text" and "bytes"', event.type);
    }
    return hasText ? checkString(event, 'text', '') : checkBytes(event, 'bytes');
  }

  /** Throw why a `websocket.send` cannot go out in this (not open) state. */
  #refuseMessage(event: ASGIEvent): never {
    this.#requireNotClosed(event);
    throw new ASGIProtocolError('websocket.send before websocket.accept: the handshake is not complete', event.type);
  }

  #close(event: ASGIEvent): Deferred<void> {
    this.#requireNotClosed(event);
    const rawCode = event.code;
    const code = rawCode === undefined || rawCode === null ? 1000 : rawCode;
    if (typeof code !== 'number' || !Number.isInteger(code) || !isValidCloseCode(code)) {
      throw new ASGIProtocolError(
        `websocket.close: "code" must be a valid close code (1000–1014 except 1004–1006, or 3000–4999), not ${String(code)}`,
        event.type,
      );
    }
    const reason = checkString(event, 'reason', '');
    if (Buffer.byteLength(reason, 'utf8') > MAX_REASON_BYTES) {
      throw new ASGIProtocolError(`websocket.close: "reason" is longer than ${MAX_REASON_BYTES} UTF-8 bytes`, event.type);
    }
    if (this.#state === 'denying') {
      throw new ASGIProtocolError('websocket.close after websocket.http.response.start: finish the response instead', event.type);
    }
    if (this.#state === 'connecting') return this.#deny(403, code, 'the application closed the WebSocket before accepting it', null);
    this.#state = 'closing';
    // Nothing more is delivered but the disconnect: drop what the application did not read.
    this.#events = [];
    this.#buffered = 0;
    return this.#emit([{ kind: 'close', code, reason }]);
  }

  #denyStart(event: ASGIEvent): Deferred<void> {
    if (!this.#extension) {
      throw new ASGIProtocolError('websocket.http.response.start: the websocket.http.response extension is not offered', event.type);
    }
    this.#requireNotClosed(event);
    if (this.#state !== 'connecting') {
      throw new ASGIProtocolError(
        this.#state === 'open'
          ? 'websocket.http.response.start after websocket.accept'
          : 'websocket.http.response.start sent twice',
        event.type,
      );
    }
    this.#denyStatus = checkStatus(event);
    this.#denyHeaders = checkHeaders(event);
    this.#state = 'denying';
    return succeed<void>(undefined);
  }

  #denyBodyPart(event: ASGIEvent): Deferred<void> {
    if (!this.#extension) {
      throw new ASGIProtocolError('websocket.http.response.body: the websocket.http.response extension is not offered', event.type);
    }
    this.#requireNotClosed(event);
    if (this.#state !== 'denying') {
      throw new ASGIProtocolError('websocket.http.response.body before websocket.http.response.start', event.type);
    }
    const body = checkBytes(event, 'body');
    const more = checkBool(event, 'more_body');
    if (this.#denySize + body.length > this.#maxDenialBody) {
      throw new ASGIProtocolError(`websocket.http.response.body: the denial body exceeds ${this.#maxDenialBody} bytes`, event.type);
    }
    if (body.length > 0) {
      this.#denyBody.push(body);
      this.#denySize += body.length;
    }
    if (more) return succeed<void>(undefined);
    const action: WebsocketAction = {
      kind: 'deny',
      status: this.#denyStatus,
      headers: this.#denyHeaders,
      body: concatBytes(this.#denyBody, this.#denySize),
      closeCode: null,
      reason: 'the application sent a denial response',
      error: null,
    };
    this.#denyBody = [];
    return this.#refused(action);
  }

  /** Refuse the handshake with a plain-text page of `status`. */
  #deny(status: number, closeCode: number | null, reason: string, error: Error | null): Deferred<void> {
    const { headers, body } = plainTextResponse(status, status === 403 ? 'Forbidden' : 'Internal Server Error');
    return this.#refused({ kind: 'deny', status, headers, body, closeCode, reason, error });
  }

  #refused(action: WebsocketAction): Deferred<void> {
    this.#state = 'closed';
    // No close handshake took place: the application's receive() sees an abnormal closure.
    this.#disconnect = { type: 'websocket.disconnect', code: 1006, reason: '' };
    this.#events = [];
    this.#buffered = 0;
    const done = this.#emit([action]);
    this.#closedNow();
    return done;
  }

  #emit(actions: WebsocketAction[]): Deferred<void> {
    return emitActions(this.#onAction, actions);
  }

  /**
   * {@link emitActions} for one action, without its arrays (a message, every `websocket.send`,
   * is the hot path of a connection): null when the handler carried it out at once (it returned
   * nothing to wait for), else a Deferred of its flow control, or of the handler's error.
   */
  #act(action: WebsocketAction): Deferred<void> | null {
    let r: void | PromiseLike<void>;
    try {
      r = this.#onAction(action);
    } catch (e) {
      return fail(e);
    }
    if (!isThenable(r)) return null;
    return Deferred.fromPromise(r).addCallback(toVoid); // (a Deferred is used as it is)
  }

  #queue(event: ASGIEvent, size: number): void {
    this.#events.push(event);
    this.#buffered += size;
    this.#serveWaiters();
  }

  #take(): ASGIEvent | null {
    const ev = this.#events.shift();
    if (ev !== undefined) {
      if (ev.type === 'websocket.receive') {
        this.#buffered -= typeof ev.text === 'string' ? ev.text.length : (ev.bytes as Uint8Array).length;
        if (this.#paused && this.#buffered < this.#highWaterMark) {
          this.#paused = false;
          this.#emit([{ kind: 'resume-reading' }]).addErrback(() => undefined);
        }
      }
      return ev;
    }
    // Over: the disconnect again, a copy so an application that mutates it does not change ours.
    return this.#disconnect === null ? null : { ...this.#disconnect };
  }

  #serveWaiters(): void {
    this.#waiters.serve(() => this.#take());
  }

  #closedNow(): void {
    this.#serveWaiters();
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    this.onClosed?.();
  }
}

/**
 * The user-facing WebSocket: one object per connection, the same for the server and the client
 * role. It holds the callbacks, the state, the messages waiting for the async iterator, and
 * hands everything that touches the wire to the protocol that carries it (`protocol.ts`).
 *
 * @module
 */
import { Deferred, fail, succeed } from '../defer/deferred.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import type { IPushProducer } from '../reactor/interfaces.js';
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, isValidCloseCode } from './constants.js';
import { WebSocketStateError } from './errors.js';
import { parseExtensions, type ExtensionOffer } from './extensions.js';
import type { WebSocketRole } from './frame-parser.js';
import { PreparedMessage, prepareMessage } from './frame-serializer.js';
import { parseTokenList, type HeaderList } from './header-tokens.js';

const log = new Logger('spindle.websocket');

/**
 * The states of a {@link WebSocket}, with the numbers of the WHATWG `WebSocket.readyState`:
 * `CONNECTING` (0) until the opening handshake completes, `OPEN` (1), `CLOSING` (2) once a close
 * frame was sent or received (or the connection is being failed), `CLOSED` (3) once the
 * transport is gone.
 */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
/** One of the {@link ReadyState} values. */
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/** How a connection ended; see {@link WebSocket.onClose}. */
export interface CloseInfo {
  /**
   * The code of the peer's close frame (1005 when it carried none). When no close frame
   * arrived: the code we failed the connection with (1002, 1007, 1008, 1009, 1011) if we did,
   * else 1006 (the transport was lost, or the keepalive ping or a timeout gave up on the peer).
   */
  readonly code: number;
  /** The peer's close reason, or why we failed the connection, or `''`. */
  readonly reason: string;
  /** Whether close frames went both ways before the transport closed. */
  readonly wasClean: boolean;
}

/** A received message: text as a `string`, binary as a `Buffer`. */
export type WebSocketData = string | Buffer;

/**
 * The callbacks of a {@link WebSocket}, all optional. Give them to `connectWebSocket` (or a
 * client protocol) in its options, or set them as properties of the socket (the server's
 * `onConnection` is the place). They are called with the socket as `this`.
 *
 * A callback that throws is logged and the connection is failed with close code 1011
 * (internal error): a bug in one handler never takes the process down.
 */
export interface WebSocketHandlers {
  /** The opening handshake completed: the socket is `OPEN`. */
  onOpen?: ((this: WebSocket, ws: WebSocket) => void) | null;
  /** A message: a `string` for text (valid UTF-8, decoded), a `Buffer` for binary. */
  onMessage?: ((this: WebSocket, data: WebSocketData, isBinary: boolean) => void) | null;
  /** The connection is gone (`CLOSED`); called once, after every message received before it. */
  onClose?: ((this: WebSocket, code: number, reason: string, wasClean: boolean) => void) | null;
  /** A ping arrived (the pong is already sent). */
  onPing?: ((this: WebSocket, payload: Buffer) => void) | null;
  /** A pong arrived (an answer to a ping, or an unsolicited heartbeat). */
  onPong?: ((this: WebSocket, payload: Buffer) => void) | null;
}

/** Options of {@link WebSocket.send}. */
export interface WebSocketSendOptions {
  /**
   * Send as a binary message. Default: `false` for a string (text), `true` for bytes. Bytes
   * sent with `binary: false` go out as text: they must be valid UTF-8 (not checked here; the
   * peer fails the connection with 1007 otherwise).
   */
  binary?: boolean;
  /**
   * Allow permessage-deflate compression for this message (default `true`). Only messages of
   * at least the negotiated threshold (default 1024 bytes) are compressed, and only when the
   * extension was negotiated.
   */
  compress?: boolean;
  /**
   * `false` to send a fragment: the message goes on with the following `send` calls, until one
   * with `fin: true` (the default). Pings, pongs and close may go out between fragments; a
   * fragmented message is compressed or not as a whole, as its first fragment decides.
   */
  fin?: boolean;
}

/**
 * The connection closed (or was closing) before a message could be handed to the transport:
 * what a `send` Deferred fails with when the message never left, and what `send` returns once
 * the socket is `CLOSING` or `CLOSED`.
 */
export class WebSocketClosedError extends Error {
  constructor(message = 'the WebSocket connection is closed') {
    super(message);
    this.name = 'WebSocketClosedError';
  }
}

/** Separates the target and the header fields in a {@link WebSocketRequest}'s packed form. */
const SEP = '\n';

/**
 * The upgrade request a server-side {@link WebSocket} was opened with (`ws.request`), as the
 * `onHandshake` hook and `onConnection` see it. Kept for the life of the connection, so it
 * holds the target and the header fields packed into one flat string and works the rest out
 * when asked.
 */
export class WebSocketRequest {
  /** The method (always `GET` for a valid upgrade). */
  readonly method: string;
  /** The client's address, when known. */
  readonly remoteAddress: Address | null;
  /** Whether the connection is TLS (`wss://`). */
  readonly secure: boolean;
  /**
   * The target, then lower-case names and values alternating: joined by "\n" into one string,
   * or (only when one of them contains "\n", which a parsed HTTP head never does) as an array.
   * One flat string costs a fraction of an array of strings, and it does not keep the request
   * head they were sliced from alive for the life of the connection.
   */
  private readonly packed: string | readonly string[];

  /**
   * @internal Built by the server protocol.
   * @param fields lower-case header names and their values, alternating.
   */
  constructor(method: string, target: string, fields: readonly string[], remoteAddress: Address | null, secure: boolean) {
    this.method = method;
    const all = [target, ...fields];
    this.packed = all.some((f) => f.includes(SEP)) ? all : all.join(SEP);
    this.remoteAddress = remoteAddress;
    this.secure = secure;
  }

  /** The request target as received: path and query, still percent-encoded (`/chat?room=a%20b`). */
  get target(): string {
    const p = this.packed;
    if (typeof p !== 'string') return p[0]!;
    const end = p.indexOf(SEP);
    return end === -1 ? p : p.slice(0, end);
  }

  /** Lower-case names and values, alternating (a new array per call). */
  private get fields(): readonly string[] {
    const p = this.packed;
    if (typeof p !== 'string') return p.slice(1);
    const all = p.split(SEP);
    all.shift();
    return all;
  }

  /** The path part of the target, still percent-encoded. */
  get rawPath(): string {
    const q = this.target.indexOf('?');
    return q === -1 ? this.target : this.target.slice(0, q);
  }

  /** The query string without `?` (`''` when none), still encoded. */
  get query(): string {
    const q = this.target.indexOf('?');
    return q === -1 ? '' : this.target.slice(q + 1);
  }

  /** The path, percent-decoded as UTF-8 (kept as written when an escape is invalid). */
  get path(): string {
    const raw = this.rawPath;
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }

  /** Every header field as `[lowercaseName, value]`, in order, repeats kept (a new array per call). */
  get headers(): HeaderList {
    const f = this.fields;
    const out: Array<readonly [string, string]> = [];
    for (let i = 0; i < f.length; i += 2) out.push([f[i]!, f[i + 1]!]);
    return out;
  }

  /** The first value of header `name` (any case), or `undefined`. */
  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    const f = this.fields;
    for (let i = 0; i < f.length; i += 2) if (f[i] === lower) return f[i + 1];
    return undefined;
  }

  /** Every value of header `name` (any case), in order. */
  getHeaders(name: string): string[] {
    const lower = name.toLowerCase();
    const f = this.fields;
    const out: string[] = [];
    for (let i = 0; i < f.length; i += 2) if (f[i] === lower) out.push(f[i + 1]!);
    return out;
  }

  /** The `Origin` header, if any (browsers always send it; check it against your hosts). */
  get origin(): string | undefined {
    return this.getHeader('origin');
  }

  /** The subprotocols the client asked for, in its order of preference. */
  get protocols(): readonly string[] {
    const out: string[] = [];
    // Already validated by the handshake.
    parseTokenList(this.getHeaders('sec-websocket-protocol'), out);
    return out;
  }

  /** The extensions the client offered, in its order of preference. */
  get extensions(): readonly ExtensionOffer[] {
    return parseExtensions(this.getHeaders('sec-websocket-extensions')) ?? [];
  }
}

/**
 * What a {@link WebSocket} asks of the protocol carrying it. Implemented by `WebSocketProtocol`.
 *
 * @internal
 */
export interface SocketDriver {
  /** Write one whole message now if nothing stands in its way; see `WebSocket._sendNow`. */
  writeNow(data: string | Uint8Array, isText: boolean): boolean;
  /** `writeNow` for a prepared frame; see `WebSocket._sendPreparedNow`. */
  writePreparedNow(message: PreparedMessage): boolean;
  /** Queue or write one message (or fragment); see `WebSocket.send`. */
  sendMessage(data: string | Uint8Array, isText: boolean, compress: boolean, fin: boolean): Deferred<void>;
  /**
   * Queue or write a prepared frame. Returns `null` when it cannot go out (not open, a fragmented
   * message in progress, compressed without the extension); with `quiet` the Deferred is
   * not made and `true` means accepted.
   */
  sendPrepared(message: PreparedMessage, quiet: boolean): Deferred<void> | boolean;
  sendPing(payload: string | Uint8Array): void;
  sendPong(payload: string | Uint8Array): void;
  /** Start the closing handshake (the socket is already `CLOSING`). */
  startClose(code: number | undefined, reason: string): void;
  /** Drop the transport now. */
  abort(): void;
  /** Fail the connection: send a close frame with `code` (if still open), then close. */
  fail(code: number, reason: string): void;
  /** Bytes accepted by `send` and not yet handed to the transport. */
  readonly bufferedAmount: number;
  /** Whether the socket wants reading paused (its own pause or a full queue). */
  setReadPaused(paused: boolean): void;
  remoteAddress(): Address | null;
  localAddress(): Address | null;
}

/** What the protocol tells the socket when the handshake completes. @internal */
export interface SocketOpenInfo {
  readonly protocol: string | null;
  readonly extensions: string | null;
  readonly url: string;
  readonly request: WebSocketRequest | null;
}

// Bits of WebSocket.flags.
const S_ENDED = 1 << 0;
const S_USER_PAUSED = 1 << 1;
const S_READ_PAUSED = 1 << 2;
const S_DELIVERING = 1 << 3;
const S_PRODUCER_PAUSED = 1 << 4;
const S_WRITE_BLOCKED = 1 << 5;

type MessageHandler = NonNullable<WebSocketHandlers['onMessage']>;
type Resolver = (result: IteratorResult<WebSocketData, undefined>) => void;

const DONE: IteratorResult<WebSocketData, undefined> = Object.freeze({ done: true, value: undefined });

/**
 * One WebSocket connection, server or client side (RFC 6455). Get one from
 * `WebSocketServerFactory`'s `onConnection`, or from `connectWebSocket`.
 *
 * **Receiving.** Set `onMessage` (text arrives as a `string`, binary as a `Buffer`), or iterate:
 * `for await (const msg of ws)` yields every message and ends once no more can arrive (a close
 * frame was received or the connection is gone). Use one or the other: while `onMessage` is
 * set, messages go to it. Messages that arrive when neither is ready are kept in order (so none
 * are lost between `await connectWebSocket(…)` and the first `next()`); setting `onMessage`
 * delivers them at once. Once `maxQueue` messages (default 16) are waiting, the socket stops
 * reading from the network until they are taken: backpressure reaches the peer through TCP.
 *
 * **Sending.** `send(data)` returns a Deferred that fires when the frame has been **handed to
 * the transport**: at once (synchronously, inside `send`) when nothing is queued ahead of it,
 * the transport is not applying backpressure and the message is not compressed; otherwise when
 * its turn comes — after the messages queued before it, after compression (permessage-deflate
 * runs in zlib's thread pool; messages keep their order) and after the transport drained below
 * its high-water mark. "Handed to the transport" is not "received by the peer": the transport
 * may still buffer it. `await ws.send(x)` in a loop is therefore a complete flow-control scheme.
 * `bufferedAmount` counts the bytes accepted by `send` and not yet handed over. A
 * streaming producer registered with `registerProducer` is paused while the transport pushes
 * back (or more than 64 KiB wait) and resumed once everything was handed over.
 *
 * **Closing.** `close(code, reason)` starts the closing handshake (queued after the messages
 * already sent); the server closes the TCP connection once close frames went both ways, the
 * client waits for it to do so. `onClose(code, reason, wasClean)` and `whenClosed()` report the
 * end; see {@link CloseInfo}. `terminate()` drops the connection at once.
 *
 * **Reading backpressure.** The socket is a push producer of the messages it receives:
 * `pauseProducing()` stops delivering them to `onMessage` and stops reading from the network;
 * `resumeProducing()` delivers what was kept and reads again.
 *
 * @example
 * ```ts
 * const ws = await connectWebSocket(reactor, 'ws://127.0.0.1:8080/chat');
 * ws.onMessage = (data) => console.log('got', data);
 * await ws.send('hello');
 * ws.close(1000, 'bye');
 * const { code, wasClean } = await ws.whenClosed();
 * ```
 */
export class WebSocket implements AsyncIterable<WebSocketData>, IPushProducer {
  /** {@link ReadyState.CONNECTING} */
  static readonly CONNECTING = ReadyState.CONNECTING;
  /** {@link ReadyState.OPEN} */
  static readonly OPEN = ReadyState.OPEN;
  /** {@link ReadyState.CLOSING} */
  static readonly CLOSING = ReadyState.CLOSING;
  /** {@link ReadyState.CLOSED} */
  static readonly CLOSED = ReadyState.CLOSED;

  // Read by every message sent, so first (fields are laid out in the order declared: see
  // `WebSocketProtocol`).
  private state: ReadyState = ReadyState.CONNECTING;
  private readonly driver: SocketDriver;
  /** Which end of the connection this is. */
  readonly role: WebSocketRole;
  /** See {@link WebSocketHandlers.onOpen}. */
  onOpen: WebSocketHandlers['onOpen'] = null;
  /** See {@link WebSocketHandlers.onClose}. */
  onClose: WebSocketHandlers['onClose'] = null;
  /** See {@link WebSocketHandlers.onPing}. */
  onPing: WebSocketHandlers['onPing'] = null;
  /** See {@link WebSocketHandlers.onPong}. */
  onPong: WebSocketHandlers['onPong'] = null;

  private readonly maxQueue: number;
  private messageHandler: MessageHandler | null = null;
  private selectedProtocol = '';
  private agreedExtensions = '';
  private target = '';
  private upgradeRequest: WebSocketRequest | null = null;
  private info: CloseInfo | null = null;
  // Messages kept for the iterator (or while paused); `inboxHead` is the next one. Null when empty.
  private inbox: Array<WebSocketData | undefined> | null = null;
  private inboxHead = 0;
  private waiters: Resolver[] | null = null;
  private closeWaiters: Deferred<CloseInfo>[] | null = null;
  private producer: IPushProducer | null = null;
  /** The boolean state below, one bit each (`S_*`): a connection stays a small object. */
  private flags = 0;

  /** @internal Made by the protocol that carries the connection. */
  constructor(role: WebSocketRole, driver: SocketDriver, maxQueue: number, handlers: WebSocketHandlers = {}) {
    this.role = role;
    this.driver = driver;
    this.maxQueue = maxQueue;
    this.onOpen = handlers.onOpen ?? null;
    this.messageHandler = handlers.onMessage ?? null;
    this.onClose = handlers.onClose ?? null;
    this.onPing = handlers.onPing ?? null;
    this.onPong = handlers.onPong ?? null;
  }

  /** No message will arrive any more. */
  private get ended(): boolean {
    return (this.flags & S_ENDED) !== 0;
  }
  private set ended(on: boolean) {
    this.flags = on ? this.flags | S_ENDED : this.flags & ~S_ENDED;
  }

  /** `pauseProducing` was called (and not undone). */
  private get userPaused(): boolean {
    return (this.flags & S_USER_PAUSED) !== 0;
  }
  private set userPaused(on: boolean) {
    this.flags = on ? this.flags | S_USER_PAUSED : this.flags & ~S_USER_PAUSED;
  }

  /** The protocol was told to stop reading. */
  private get readPaused(): boolean {
    return (this.flags & S_READ_PAUSED) !== 0;
  }
  private set readPaused(on: boolean) {
    this.flags = on ? this.flags | S_READ_PAUSED : this.flags & ~S_READ_PAUSED;
  }

  /** `flushInbox` is running. */
  private get delivering(): boolean {
    return (this.flags & S_DELIVERING) !== 0;
  }
  private set delivering(on: boolean) {
    this.flags = on ? this.flags | S_DELIVERING : this.flags & ~S_DELIVERING;
  }

  /** The registered producer is paused. */
  private get producerPaused(): boolean {
    return (this.flags & S_PRODUCER_PAUSED) !== 0;
  }
  private set producerPaused(on: boolean) {
    this.flags = on ? this.flags | S_PRODUCER_PAUSED : this.flags & ~S_PRODUCER_PAUSED;
  }

  /** The protocol reports writing blocked. */
  private get writeBlocked(): boolean {
    return (this.flags & S_WRITE_BLOCKED) !== 0;
  }
  private set writeBlocked(on: boolean) {
    this.flags = on ? this.flags | S_WRITE_BLOCKED : this.flags & ~S_WRITE_BLOCKED;
  }

  // ------------------------------------------------------------------ state

  /** The current {@link ReadyState}. */
  get readyState(): ReadyState {
    return this.state;
  }

  /** The subprotocol the server chose (`''` when none). */
  get protocol(): string {
    return this.selectedProtocol;
  }

  /** The agreed `Sec-WebSocket-Extensions` value, e.g. `permessage-deflate` (`''` when none). */
  get extensions(): string {
    return this.agreedExtensions;
  }

  /** Client: the URL connected to. Server: the request target (path and query). */
  get url(): string {
    return this.target;
  }

  /** Server side: the upgrade request (path, query, headers, offered protocols). Client side: `null`. */
  get request(): WebSocketRequest | null {
    return this.upgradeRequest;
  }

  /** The peer's address, while the transport knows it. */
  get remoteAddress(): Address | null {
    return this.driver.remoteAddress();
  }

  /** Our own address, while the transport knows it. */
  get localAddress(): Address | null {
    return this.driver.localAddress();
  }

  /**
   * Bytes of messages accepted by `send` and not yet handed to the transport (waiting for
   * backpressure to end, for compression, or behind such messages). `0` when every `send` went
   * straight out. It does not count what the transport itself still buffers.
   */
  get bufferedAmount(): number {
    return this.driver.bufferedAmount;
  }

  /** How the connection ended, once `CLOSED`; otherwise `null`. */
  get closeInfo(): CloseInfo | null {
    return this.info;
  }

  /**
   * A Deferred firing with {@link CloseInfo} once the connection is `CLOSED` (at once if it is).
   * A new Deferred per call; it never fails.
   */
  whenClosed(): Deferred<CloseInfo> {
    if (this.info !== null) return succeed(this.info);
    const d = new Deferred<CloseInfo>();
    (this.closeWaiters ??= []).push(d);
    return d;
  }

  // ------------------------------------------------------------------ receiving

  /**
   * See {@link WebSocketHandlers.onMessage}. Setting it delivers, at once and in order, the
   * messages kept while no handler was set (unless reading is paused).
   */
  get onMessage(): WebSocketHandlers['onMessage'] {
    return this.messageHandler;
  }

  set onMessage(handler: WebSocketHandlers['onMessage']) {
    this.messageHandler = handler ?? null;
    if (this.messageHandler !== null) this.flushInbox();
  }

  /**
   * Iterate over the received messages. Ends (returns) once no more messages can arrive: a close
   * frame was received, or the connection failed or is gone; check {@link WebSocket.closeInfo}
   * or `whenClosed()` for how. Breaking out of the loop does not close the connection. While
   * `onMessage` is set, messages go to it and the iterator waits.
   *
   * @example
   * ```ts
   * for await (const msg of ws) {
   *   await ws.send(typeof msg === 'string' ? msg.toUpperCase() : msg);
   * }
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<WebSocketData> {
    const iterator: AsyncIterableIterator<WebSocketData> = {
      next: () => this.nextMessage(),
      return: () => Promise.resolve(DONE),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Stop delivering messages and stop reading from the network (messages already read are kept). */
  pauseProducing(): void {
    this.userPaused = true;
    this.updateReadPause();
  }

  /** Deliver the messages kept while paused, then read from the network again. */
  resumeProducing(): void {
    this.userPaused = false;
    this.flushInbox();
    this.updateReadPause();
  }

  /** The consumer of our messages is gone: close the connection (1001, going away). */
  stopProducing(): void {
    this.close(1001);
  }

  // ------------------------------------------------------------------ sending

  /**
   * Send a message (or a fragment, with `fin: false`): text for a string, binary for bytes
   * (see {@link WebSocketSendOptions}). Bytes are not copied: do not modify `data` until the
   * Deferred fired.
   *
   * @returns a Deferred firing when the frame is handed to the transport (see the class
   *   documentation). It fails with {@link WebSocketClosedError} when the socket is `CLOSING` or
   *   `CLOSED`, or when the connection closes before the message's turn came. Add an errback
   *   (`d.addErrback(() => undefined)`) if that does not matter to you, or an unhandled failure
   *   is logged.
   * @throws WebSocketStateError while `CONNECTING`; TypeError when `data` is neither a string
   *   nor a Uint8Array.
   */
  send(data: string | Uint8Array, options: WebSocketSendOptions = {}): Deferred<void> {
    let isText: boolean;
    if (typeof data === 'string') isText = options.binary !== true;
    else if (data instanceof Uint8Array) isText = options.binary === false;
    else throw new TypeError('send() takes a string or a Uint8Array');
    if (this.state !== ReadyState.OPEN) return this.notOpen();
    return this.driver.sendMessage(data, isText, options.compress !== false, options.fin !== false);
  }

  /**
   * Send a frame made once by `prepareMessage` (what {@link broadcast} does for each socket).
   * Server sockets only (client frames must be masked, so cannot be shared).
   *
   * @returns as for `send`; also fails with WebSocketStateError when a fragmented message is
   *   being sent or the frame is compressed and permessage-deflate was not negotiated.
   * @throws WebSocketStateError while `CONNECTING` or on a client socket.
   */
  sendPrepared(message: PreparedMessage): Deferred<void> {
    if (this.role !== 'server') throw new WebSocketStateError('prepared messages are unmasked: server sockets only');
    if (this.state !== ReadyState.OPEN) return this.notOpen();
    return this.driver.sendPrepared(message, false) as Deferred<void>;
  }

  /**
   * @internal The fast path of a server that usually writes at once (the channels server): write
   * one whole message — a string (text unless `binary`) or bytes (binary) — straight to the
   * transport, and return true, when nothing stands in its way (open, nothing queued ahead, no
   * backpressure, no compression to run). Otherwise return false having done nothing:
   * `send` then queues it and gives the Deferred to wait on.
   */
  _sendNow(data: string | Uint8Array, binary = false): boolean {
    return this.state === ReadyState.OPEN && this.driver.writeNow(data, typeof data === 'string' && !binary);
  }

  /**
   * @internal `_sendNow` for a frame from `prepareMessage` (one not compressed, on a server
   * socket); false, nothing done, means `sendPrepared` must take it.
   */
  _sendPreparedNow(message: PreparedMessage): boolean {
    return this.state === ReadyState.OPEN && this.driver.writePreparedNow(message);
  }

  /** @internal broadcast: no Deferred; `true` when accepted. */
  _sendQuiet(message: PreparedMessage): boolean {
    return this.state === ReadyState.OPEN && (this.driver.sendPrepared(message, true) as boolean);
  }

  /**
   * Send a ping (payload up to 125 bytes). Control frames go out at once, ahead of queued
   * messages. The answer arrives at `onPong`. Ignored once `CLOSING` or `CLOSED`.
   *
   * @throws RangeError for a payload over 125 bytes; WebSocketStateError while `CONNECTING`.
   */
  ping(payload: string | Uint8Array = ''): void {
    if (this.controlAllowed(payload)) this.driver.sendPing(payload);
  }

  /**
   * Send an unsolicited pong (a one-way heartbeat; pings are answered automatically). Same rules
   * as {@link WebSocket.ping}.
   */
  pong(payload: string | Uint8Array = ''): void {
    if (this.controlAllowed(payload)) this.driver.sendPong(payload);
  }

  /**
   * Start the closing handshake: send a close frame with `code` (default 1000) and `reason`
   * once the messages already sent have gone out, then wait for the peer's close frame (and,
   * on a client, for the server to close the TCP connection), at most `closeTimeout` seconds
   * (default 5) before dropping the connection. No message is sent after it. While `CONNECTING`
   * the connection is dropped; once `CLOSING` or `CLOSED` it does nothing.
   *
   * @throws RangeError for a code that may not be sent (1000–1003, 1007–1014, 3000–4999 may),
   *   or a reason over 123 bytes of UTF-8.
   */
  close(code: number = 1000, reason = ''): void {
    if (!Number.isInteger(code) || !isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
    if (typeof reason !== 'string') throw new TypeError('the close reason is a string');
    const n = Buffer.byteLength(reason, 'utf8');
    if (n > MAX_CLOSE_REASON_BYTES) throw new RangeError(`close reason of ${n} bytes exceeds 123`);
    if (this.state === ReadyState.CONNECTING) {
      this.driver.abort();
      return;
    }
    if (this.state !== ReadyState.OPEN) return;
    this.state = ReadyState.CLOSING;
    this.driver.startClose(code, reason);
  }

  /** Drop the connection now, without a closing handshake (`onClose` gets 1006). */
  terminate(): void {
    if (this.state !== ReadyState.CLOSED) this.driver.abort();
  }

  /**
   * Register a streaming (push) producer of what we send: it is paused while the transport
   * pushes back or more than 64 KiB wait to be handed over, resumed once all was handed over,
   * and stopped when the connection closes.
   *
   * @throws TypeError for a pull producer (`streaming` false); Error when one is registered.
   */
  registerProducer(producer: IPushProducer, streaming: boolean): void {
    if (!streaming) throw new TypeError('a WebSocket takes streaming (push) producers only');
    if (this.producer !== null) throw new Error('a producer is already registered');
    if (this.state === ReadyState.CLOSED) {
      producer.stopProducing();
      return;
    }
    this.producer = producer;
    this.producerPaused = false;
    if (this.writeBlocked) {
      this.producerPaused = true;
      producer.pauseProducing();
    }
  }

  /** Detach the producer registered with {@link WebSocket.registerProducer}. */
  unregisterProducer(): void {
    this.producer = null;
    this.producerPaused = false;
  }

  // ------------------------------------------------------------------ from the protocol

  /** @internal The handshake completed. */
  _open(info: SocketOpenInfo): void {
    this.state = ReadyState.OPEN;
    this.selectedProtocol = info.protocol ?? '';
    this.agreedExtensions = info.extensions ?? '';
    this.target = info.url;
    this.upgradeRequest = info.request;
  }

  /** @internal Call onOpen (after the server's onConnection). */
  _notifyOpen(): void {
    const cb = this.onOpen;
    if (cb) this.guard(() => cb.call(this, this));
  }

  /** @internal A message, in order. */
  _message(data: WebSocketData): void {
    const handler = this.messageHandler;
    if (this.inbox === null) {
      if (handler !== null && !this.userPaused && !this.delivering) {
        // The hot path: no closure, no queue.
        try {
          handler.call(this, data, typeof data !== 'string');
        } catch (e) {
          this.callbackFailed(e, true);
        }
        return;
      }
      const waiters = this.waiters;
      if (handler === null && waiters !== null) {
        const resolve = waiters.shift()!;
        if (waiters.length === 0) this.waiters = null;
        resolve({ done: false, value: data });
        return;
      }
    }
    (this.inbox ??= []).push(data);
    if (handler !== null) this.flushInbox();
    this.updateReadPause();
  }

  /** @internal */
  _ping(payload: Buffer): void {
    const cb = this.onPing;
    if (cb) this.guard(() => cb.call(this, payload));
  }

  /** @internal */
  _pong(payload: Buffer): void {
    const cb = this.onPong;
    if (cb) this.guard(() => cb.call(this, payload));
  }

  /** @internal A close frame went out or came in, or the connection is being failed. */
  _closing(): void {
    if (this.state === ReadyState.OPEN) this.state = ReadyState.CLOSING;
  }

  /** @internal No message will arrive any more: end the iterators once the inbox is empty. */
  _endOfMessages(): void {
    this.ended = true;
    if (this.inbox === null) this.releaseWaiters();
  }

  /** @internal The transport is gone. */
  _closed(info: CloseInfo): void {
    if (this.state === ReadyState.CLOSED) return;
    this.state = ReadyState.CLOSED;
    this.info = info;
    this._endOfMessages();
    const producer = this.producer;
    this.producer = null;
    if (producer !== null) this.guard(() => producer.stopProducing(), false);
    const cb = this.onClose;
    if (cb) this.guard(() => cb.call(this, info.code, info.reason, info.wasClean), false);
    const waiters = this.closeWaiters;
    this.closeWaiters = null;
    if (waiters !== null) for (const d of waiters) d.callback(info);
  }

  /** @internal The transport pushes back (or our queue is long), or no longer does. */
  _writeBlocked(blocked: boolean): void {
    this.writeBlocked = blocked;
    const producer = this.producer;
    if (producer === null || blocked === this.producerPaused) return;
    this.producerPaused = blocked;
    this.guard(() => (blocked ? producer.pauseProducing() : producer.resumeProducing()));
  }

  // ------------------------------------------------------------------ internals

  private notOpen(): Deferred<void> {
    if (this.state === ReadyState.CONNECTING) throw new WebSocketStateError('cannot send before the connection is open');
    return fail<void>(new WebSocketClosedError(this.state === ReadyState.CLOSING ? 'the WebSocket connection is closing' : undefined));
  }

  private controlAllowed(payload: string | Uint8Array): boolean {
    const n = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.byteLength;
    if (n > MAX_CONTROL_PAYLOAD) throw new RangeError(`control frame payload of ${n} bytes exceeds 125`);
    if (this.state === ReadyState.CONNECTING) throw new WebSocketStateError('cannot send before the connection is open');
    return this.state === ReadyState.OPEN;
  }

  private nextMessage(): Promise<IteratorResult<WebSocketData, undefined>> {
    if (this.inbox !== null) {
      const value = this.shiftInbox();
      this.updateReadPause();
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve) => {
      (this.waiters ??= []).push(resolve);
      // A consumer is waiting: make sure reading is not held back by a full queue.
      this.updateReadPause();
    });
  }

  private shiftInbox(): WebSocketData {
    const inbox = this.inbox!;
    const value = inbox[this.inboxHead]!;
    inbox[this.inboxHead++] = undefined;
    if (this.inboxHead === inbox.length) {
      this.inbox = null;
      this.inboxHead = 0;
      if (this.ended) this.releaseWaiters();
    }
    return value;
  }

  private flushInbox(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.inbox !== null && !this.userPaused) {
        const handler = this.messageHandler;
        if (handler === null) break;
        const data = this.shiftInbox();
        this.guard(() => handler.call(this, data, typeof data !== 'string'));
      }
    } finally {
      this.delivering = false;
    }
    this.updateReadPause();
  }

  private releaseWaiters(): void {
    const waiters = this.waiters;
    if (waiters === null) return;
    this.waiters = null;
    for (const resolve of waiters) resolve(DONE);
  }

  private updateReadPause(): void {
    const want = this.userPaused || (this.inbox !== null && this.inbox.length - this.inboxHead >= this.maxQueue);
    if (want === this.readPaused || this.state === ReadyState.CLOSED) return;
    this.readPaused = want;
    this.driver.setReadPaused(want);
  }

  /** Run a user callback; an exception is logged and fails the connection with 1011. */
  private guard(fn: () => void, failConnection = true): void {
    try {
      fn();
    } catch (e) {
      this.callbackFailed(e, failConnection);
    }
  }

  private callbackFailed(e: unknown, failConnection: boolean): void {
    log.failure('Unhandled error in a WebSocket callback: the connection is failed with 1011', e);
    if (failConnection && this.state !== ReadyState.CLOSED) this.driver.fail(1011, 'internal error');
  }
}

/**
 * Send one message to many sockets, framing it once: the frame (header and payload) is built a
 * single time with `prepareMessage` and the same bytes are written to every `OPEN` server
 * socket, in order with what each socket already queued. Returns how many sockets took it.
 *
 * Broadcast frames are never compressed, even on connections that negotiated
 * permessage-deflate: compression is per connection (each has its own deflate context), which
 * would defeat framing once. Client sockets (whose frames must be masked, each with its own
 * key) get a regular `send` instead; a `PreparedMessage` given directly skips them.
 * Sockets that are closing, or are sending a fragmented message, are skipped.
 *
 * @example
 * ```ts
 * const factory = new WebSocketServerFactory({ onConnection: (ws) => { … } });
 * broadcast(factory.sockets, JSON.stringify({ type: 'tick', at: Date.now() }));
 * ```
 */
export function broadcast(
  sockets: Iterable<WebSocket>,
  message: string | Uint8Array | PreparedMessage,
  options: { binary?: boolean } = {},
): number {
  let prepared: PreparedMessage | null = message instanceof PreparedMessage ? message : null;
  let count = 0;
  for (const ws of sockets) {
    if (ws.readyState !== ReadyState.OPEN) continue;
    if (ws.role === 'server') {
      if (prepared === null) {
        const raw = message as string | Uint8Array;
        const isText = typeof raw === 'string' ? options.binary !== true : options.binary === false;
        prepared = prepareMessage(raw, { isText });
      }
      if (ws._sendQuiet(prepared)) count++;
    } else if (!(message instanceof PreparedMessage)) {
      ws.send(message, { binary: options.binary, compress: false }).addErrback(() => undefined);
      count++;
    }
  }
  return count;
}

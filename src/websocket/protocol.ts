/**
 * The connection logic shared by the server and the client protocols: once the opening
 * handshake is done, it glues the sans-IO frame parser and serializer to a transport — the
 * protocol's own answers (pong, close echo, failing close), ordered sending with backpressure
 * and permessage-deflate, ordered delivery of received messages (compressed ones are inflated
 * in zlib's thread pool), keepalive pings, idle and close-handshake timeouts, and who closes
 * the TCP connection.
 *
 * It drives `FrameParser` directly rather than through `WebSocketConnection`: messages are then
 * delivered (and can be answered) while the rest of the read is still unparsed, and a
 * connection costs no per-event objects and no closures.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import type { IDelayedCall, IReactorTime } from '../defer/clock.js';
import { Deferred, fail, succeed } from '../defer/deferred.js';
import { CancelledError } from '../defer/errors.js';
import type { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import { getReactor } from '../reactor/default.js';
import { copyRead, kReadBorrowed } from '../reactor/fastRead.js';
import { bytesWriter, type StreamTransport } from '../reactor/streamTransport.js';
import type { IProtocol, IPushProducer, ITCPTransport, ITransport } from '../reactor/interfaces.js';
import {
  CloseCode,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_MESSAGE_SIZE,
  Opcode,
} from './constants.js';
import { DeflateClosedError, PerMessageDeflate, type PerMessageDeflateOptions } from './deflate.js';
import { deflateConfigFor, type PerMessageDeflateParams } from './deflate-negotiation.js';
import { WebSocketProtocolError, WebSocketStateError } from './errors.js';
import { FrameParser, type FrameHandler, type WebSocketRole } from './frame-parser.js';
import {
  encodeCloseFrame,
  encodeControlFrame,
  encodeFrame,
  encodeStringFrame,
  frameHeaderString,
  type FrameOptions,
  PreparedMessage,
} from './frame-serializer.js';
import {
  WebSocket,
  WebSocketClosedError,
  type CloseInfo,
  type SocketDriver,
  type WebSocketData,
  type WebSocketHandlers,
  type WebSocketRequest,
} from './socket.js';

const log = new Logger('spindle.websocket');

/** Limits and timeouts shared by the server and the client. Times are in seconds. */
export interface WebSocketOptions {
  /** Where timers come from. Default: the global reactor (tests pass a `Clock`). */
  reactor?: IReactorTime;
  /**
   * Largest message received, in bytes: the sum of its frames' payloads, and also its size once
   * inflated when compressed. Larger → close 1009, before the payload is buffered (or as soon as
   * zlib has produced that much). Default 16 MiB; `Infinity` disables.
   */
  maxMessageSize?: number;
  /** Largest number of frames in one received message → 1008. Default 131072. */
  maxFragments?: number;
  /** Largest number of buffers retained while reassembling one message → 1008. Default 65536. */
  maxBufferedChunks?: number;
  /**
   * Seconds for the opening handshake: a server drops a connection that has not completed its
   * upgrade request by then; a client fails the connect. Default 10; `0` or `Infinity` disables.
   */
  handshakeTimeout?: number;
  /**
   * Seconds to wait, after a close frame was sent, for the peer's close frame; then (client)
   * for the server to close the TCP connection; then for the transport to go away once we closed
   * it. The connection is dropped when it runs out. Default 5.
   */
  closeTimeout?: number;
  /**
   * Seconds from the opening (then from each pong) to the next keepalive ping. Default 20; `0`,
   * `null` or `Infinity` disables.
   */
  pingInterval?: number | null;
  /** Seconds to wait for a pong after a keepalive ping before dropping the connection (1006). Default 20. */
  pingTimeout?: number;
  /**
   * Seconds without a data message in either direction (pings do not count) after which the
   * connection is closed with 1001 `idle timeout`. Default `null` (or `0`, `Infinity`): never.
   */
  idleTimeout?: number | null;
  /**
   * Received messages kept for a consumer that is not taking them (no `onMessage`, the iterator
   * not pulling, or paused) before the socket stops reading from the network. Default 16.
   */
  maxQueue?: number;
}

/** The defaults of {@link WebSocketOptions} (`0` = disabled). */
export const WEBSOCKET_DEFAULTS = Object.freeze({
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  maxFragments: DEFAULT_MAX_FRAGMENTS,
  maxBufferedChunks: DEFAULT_MAX_BUFFERED_CHUNKS,
  handshakeTimeout: 10,
  closeTimeout: 5,
  pingInterval: 20,
  pingTimeout: 20,
  idleTimeout: 0,
  maxQueue: 16,
});

/** {@link WebSocketOptions} checked, with defaults applied (`0` = disabled). @internal */
export interface ResolvedWebSocketOptions {
  readonly reactor: IReactorTime | null;
  readonly maxMessageSize: number;
  readonly maxFragments: number;
  readonly maxBufferedChunks: number;
  readonly handshakeTimeout: number;
  readonly closeTimeout: number;
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly idleTimeout: number;
  readonly maxQueue: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw new RangeError(`${name} must be a number > 0`);
  return value;
}

/** A number of seconds; `0`, `null` and `Infinity` mean "never" where `canDisable`. */
function seconds(name: string, value: number | null | undefined, fallback: number, canDisable: boolean): number {
  if (value === undefined) return fallback;
  if (canDisable && (value === null || value === Infinity)) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!canDisable && value === 0)) {
    throw new RangeError(`${name} must be a finite number of seconds ${canDisable ? '>= 0' : '> 0'}`);
  }
  return value;
}

/**
 * Check `options` and apply the defaults.
 *
 * @throws RangeError for a limit that is not a positive number or a negative timeout.
 * @internal
 */
export function resolveWebSocketOptions(options: WebSocketOptions): ResolvedWebSocketOptions {
  const d = WEBSOCKET_DEFAULTS;
  const maxQueue = positive('maxQueue', options.maxQueue, d.maxQueue);
  if (!Number.isInteger(maxQueue)) throw new RangeError('maxQueue must be an integer > 0');
  return {
    reactor: options.reactor ?? null,
    maxMessageSize: positive('maxMessageSize', options.maxMessageSize, d.maxMessageSize),
    maxFragments: positive('maxFragments', options.maxFragments, d.maxFragments),
    maxBufferedChunks: positive('maxBufferedChunks', options.maxBufferedChunks, d.maxBufferedChunks),
    handshakeTimeout: seconds('handshakeTimeout', options.handshakeTimeout, d.handshakeTimeout, true),
    closeTimeout: seconds('closeTimeout', options.closeTimeout, d.closeTimeout, false),
    pingInterval: seconds('pingInterval', options.pingInterval, d.pingInterval, true),
    pingTimeout: seconds('pingTimeout', options.pingTimeout, d.pingTimeout, false),
    idleTimeout: seconds('idleTimeout', options.idleTimeout, d.idleTimeout, true),
    maxQueue,
  };
}

/** What the opening handshake agreed on. @internal */
export interface OpenParams {
  readonly protocol: string | null;
  /** The `Sec-WebSocket-Extensions` value agreed, or null. */
  readonly extensions: string | null;
  readonly deflate: PerMessageDeflateParams | null;
  /** Compression settings for this side (threshold, level, memLevel, maxInflatedSize). */
  readonly deflateOptions: PerMessageDeflateOptions;
  readonly url: string;
  readonly request: WebSocketRequest | null;
}

// Why reading is paused (a bit mask: reading goes on only when none holds).
/** @internal The socket's own pause or a full message queue. */
export const R_SOCKET = 1;
/** @internal A compressed message is being inflated. */
export const R_INFLATE = 2;
/** @internal The opening handshake is being decided. */
export const R_HANDSHAKE = 4;

// Bits of WebSocketProtocol.flags.
const F_OPEN = 1 << 0;
const F_DEFLATE = 1 << 1;
const F_WRITE_PAUSED = 1 << 2;
const F_BLOCKED = 1 << 3;
const F_REGISTERED = 1 << 4;
const F_FLUSHING = 1 << 5;
const F_FRAGMENTING = 1 << 6;
const F_FRAGMENT_COMPRESSED = 1 << 7;
const F_WIRE_FRAGMENTING = 1 << 8;
const F_DRAINING = 1 << 9;
const F_INPUT_STOPPED = 1 << 10;
const F_CLOSE_SENT = 1 << 11;
const F_TRANSPORT_CLOSING = 1 << 12;
const F_LINGERING = 1 << 13;
const F_LOST = 1 << 14;

// Outgoing entries.
const K_MESSAGE = 0;
const K_PREPARED = 1;
const K_CLOSE = 2;

/** One queued outgoing message, prepared frame or close. */
interface OutEntry {
  readonly kind: number;
  /** The payload (the compressed one once `ready`), a PreparedMessage, or null for a close. */
  data: string | Uint8Array | PreparedMessage | null;
  readonly isText: boolean;
  readonly fin: boolean;
  readonly compressed: boolean;
  ready: boolean;
  /** Bytes counted in `bufferedAmount`. */
  readonly size: number;
  readonly deferred: Deferred<void> | null;
  readonly code: number | undefined;
  readonly reason: string;
}

/** One received message (or the end of input) waiting for its turn. */
interface InEntry {
  data: WebSocketData | null;
  /** The end-of-input marker: a close frame came in, or the peer broke the protocol. */
  readonly end: boolean;
  ready: boolean;
}

/** Above this many queued bytes a registered producer is paused even without transport pressure. */
const OUT_HIGH_WATER = 64 * 1024;

// Frame options of the common case (a whole, uncompressed message), made once.
const SERVER_FRAME: FrameOptions = Object.freeze({});
const CLIENT_FRAME: FrameOptions = Object.freeze({ mask: true });
const EMPTY = new Uint8Array(0);

/**
 * The connections waiting for their keepalive ping on one reactor with one `pingInterval`, in
 * the order they started waiting — with one interval that is also the order they fall due — and
 * the one reactor timer, armed for the head, that serves them all. A waiting connection costs
 * two links and a deadline (`kaPrev`, `kaNext`, `pingDue`) instead of a DelayedCall of its own;
 * joining, leaving and firing are O(1).
 */
class KeepaliveList {
  head: WebSocketProtocol | null = null;
  tail: WebSocketProtocol | null = null;
  timer: IDelayedCall | null = null;
  /** The deadline the timer was armed for. */
  armedFor = 0;

  constructor(
    readonly reactor: IReactorTime,
    readonly interval: number,
  ) {}
}

/** The keepalive lists by reactor, then by interval. */
const keepaliveLists = new WeakMap<IReactorTime, Map<number, KeepaliveList>>();

/** A transport that may take strings to encode itself (`ITransport.writeString`, optional). */
type TransportWithStrings = ITransport & { writeString?: (data: string, encoding: 'latin1' | 'utf8') => void };

function cancelCall(call: IDelayedCall | null): null {
  if (call !== null && call.active()) call.cancel();
  return null;
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
}

/**
 * The shared base of `WebSocketServerProtocol` and `WebSocketClientProtocol`: an `IProtocol`
 * that runs the opening handshake (the subclass's part) and then carries one {@link WebSocket}
 * over its transport, with the sans-IO `FrameParser` reading and the frame serializer writing.
 *
 * What it guarantees, once open:
 * - **Synchronous delivery.** Each message is handed to the socket as soon as its last frame is
 *   parsed, before the frames after it in the same read, so a handler's reply goes out before a
 *   later bad frame fails the connection (what ws does; Autobahn 3.x, 4.x and 5.15 want it).
 * - **Order.** Messages go out in `send` order whatever is compressed (zlib is asynchronous;
 *   later messages wait for earlier ones) and come in in wire order (a compressed message being
 *   inflated holds back the ones after it; reading pauses meanwhile).
 * - **Backpressure.** It registers itself on the transport as a streaming producer: when the
 *   transport pauses it, messages wait in its queue (`bufferedAmount`) and their `send`
 *   Deferreds fire once written; the socket's registered producer is paused meanwhile. Reading
 *   pauses when the socket's consumer is not keeping up.
 * - **The protocol's own answers.** Pings are answered at once (also between fragments); a
 *   close frame is echoed (empty for an empty one); a peer that breaks the protocol, or sends
 *   invalid compressed data or too much once inflated, gets a close frame with the error's code
 *   (1002, 1007, 1008, 1009), messages before the error are delivered and nothing after, and the
 *   TCP connection is closed.
 * - **Closing.** Nothing is sent after a close frame. The server closes TCP as soon as close
 *   frames went both ways; the client waits for it to, up to `closeTimeout`, then closes itself.
 *   Every wait is bounded: `closeTimeout` after a close frame, the keepalive `pingTimeout`, the
 *   optional `idleTimeout`, the `handshakeTimeout`; all through the reactor's `callLater`.
 *
 * As the transport's producer, `pauseProducing`/`resumeProducing` here mean "stop/start
 * writing"; to stop *reading*, pause the socket (`ws.pauseProducing()`).
 */
export abstract class WebSocketProtocol implements IProtocol, IPushProducer, SocketDriver {
  // What a message written at once reads comes first: fields are laid out in the order declared,
  // and a broadcast reads them on every member's connection, so together they cost fewer memory
  // lines (the first of which, with the object's map, is read anyway).
  /** The boolean state, one bit each (`F_*`, read through the accessors below): a connection stays a small object. */
  private flags = 0;
  // Sending. `out` holds what waits behind backpressure or compression (null when nothing did).
  private out: Array<OutEntry | undefined> | null = null;
  private failure: { code: number; reason: string } | null = null;
  /** Which end this is. */
  readonly role: WebSocketRole;
  /** The same transport when it takes our frames without checking their type (see `writeFrame`). */
  private bytesTransport: StreamTransport | null = null;
  private idleTimer: IDelayedCall | null = null;
  /** The connection; set by `makeConnection`. */
  transport: ITransport | null = null;
  /** The user-facing socket carried by this connection. */
  readonly socket: WebSocket;
  /** @internal */
  protected readonly settings: ResolvedWebSocketOptions;
  private clock: IReactorTime | null;
  /**
   * Made when the first bytes arrive after the handshake (not at `open`): an idle connection
   * then costs no parser, scratch state or handler object.
   */
  private frames: FrameParser | null = null;
  private deflate: PerMessageDeflate | null = null;
  private outHead = 0;
  private queuedBytes = 0;
  // Receiving. `pipeline` holds messages behind one being inflated (null when none).
  private pipeline: InEntry[] | null = null;
  private pipeHead = 0;
  private inflating = 0;
  private readPauses = 0;
  // Closing.
  /** The peer's close frame, once received. */
  private peerClose: { readonly code: number; readonly reason: string } | null = null;
  // Timers.
  private handshakeTimer: IDelayedCall | null = null;
  private closeTimer: IDelayedCall | null = null;
  // Waiting for the keepalive ping: a place in the KeepaliveList of our reactor and interval.
  private kaPrev: WebSocketProtocol | null = null;
  private kaNext: WebSocketProtocol | null = null;
  /** When the keepalive ping is due (reactor seconds); -1 when not waiting for it. */
  private pingDue = -1;
  private pongTimer: IDelayedCall | null = null;
  private lastActivity = 0;

  /** permessage-deflate was negotiated (the parser allows RSV1). */
  private get perMessageDeflate(): boolean {
    return (this.flags & F_DEFLATE) !== 0;
  }
  private set perMessageDeflate(on: boolean) {
    this.flags = on ? this.flags | F_DEFLATE : this.flags & ~F_DEFLATE;
  }

  /** The transport pushes back. */
  private get writePaused(): boolean {
    return (this.flags & F_WRITE_PAUSED) !== 0;
  }
  private set writePaused(on: boolean) {
    this.flags = on ? this.flags | F_WRITE_PAUSED : this.flags & ~F_WRITE_PAUSED;
  }

  /** The socket was told writing is blocked. */
  private get blocked(): boolean {
    return (this.flags & F_BLOCKED) !== 0;
  }
  private set blocked(on: boolean) {
    this.flags = on ? this.flags | F_BLOCKED : this.flags & ~F_BLOCKED;
  }

  /** We are the transport's registered producer. */
  private get registered(): boolean {
    return (this.flags & F_REGISTERED) !== 0;
  }
  private set registered(on: boolean) {
    this.flags = on ? this.flags | F_REGISTERED : this.flags & ~F_REGISTERED;
  }

  /** `flushOut` is running. */
  private get flushing(): boolean {
    return (this.flags & F_FLUSHING) !== 0;
  }
  private set flushing(on: boolean) {
    this.flags = on ? this.flags | F_FLUSHING : this.flags & ~F_FLUSHING;
  }

  /** A message sent with `fin: false` is unfinished (as queued). */
  private get fragmenting(): boolean {
    return (this.flags & F_FRAGMENTING) !== 0;
  }
  private set fragmenting(on: boolean) {
    this.flags = on ? this.flags | F_FRAGMENTING : this.flags & ~F_FRAGMENTING;
  }

  /** That unfinished message is compressed. */
  private get fragmentCompressed(): boolean {
    return (this.flags & F_FRAGMENT_COMPRESSED) !== 0;
  }
  private set fragmentCompressed(on: boolean) {
    this.flags = on ? this.flags | F_FRAGMENT_COMPRESSED : this.flags & ~F_FRAGMENT_COMPRESSED;
  }

  /** The last data frame written had FIN clear: the next one is a continuation. */
  private get wireFragmenting(): boolean {
    return (this.flags & F_WIRE_FRAGMENTING) !== 0;
  }
  private set wireFragmenting(on: boolean) {
    this.flags = on ? this.flags | F_WIRE_FRAGMENTING : this.flags & ~F_WIRE_FRAGMENTING;
  }

  /** `drainPipeline` is running. */
  private get draining(): boolean {
    return (this.flags & F_DRAINING) !== 0;
  }
  private set draining(on: boolean) {
    this.flags = on ? this.flags | F_DRAINING : this.flags & ~F_DRAINING;
  }

  /** Received bytes are ignored from now on. */
  private get inputStopped(): boolean {
    return (this.flags & F_INPUT_STOPPED) !== 0;
  }
  private set inputStopped(on: boolean) {
    this.flags = on ? this.flags | F_INPUT_STOPPED : this.flags & ~F_INPUT_STOPPED;
  }

  /** Our close frame went out. */
  private get closeSent(): boolean {
    return (this.flags & F_CLOSE_SENT) !== 0;
  }
  private set closeSent(on: boolean) {
    this.flags = on ? this.flags | F_CLOSE_SENT : this.flags & ~F_CLOSE_SENT;
  }

  /** `closeTransport` ran. */
  private get transportClosing(): boolean {
    return (this.flags & F_TRANSPORT_CLOSING) !== 0;
  }
  private set transportClosing(on: boolean) {
    this.flags = on ? this.flags | F_TRANSPORT_CLOSING : this.flags & ~F_TRANSPORT_CLOSING;
  }

  /** We sent FIN and wait for the peer's (see `closeTransport`). */
  private get lingering(): boolean {
    return (this.flags & F_LINGERING) !== 0;
  }
  private set lingering(on: boolean) {
    this.flags = on ? this.flags | F_LINGERING : this.flags & ~F_LINGERING;
  }

  /** The transport is gone. */
  private get lost(): boolean {
    return (this.flags & F_LOST) !== 0;
  }
  private set lost(on: boolean) {
    this.flags = on ? this.flags | F_LOST : this.flags & ~F_LOST;
  }

  /** A close frame came in. */
  private get closeReceived(): boolean {
    return this.peerClose !== null;
  }

  /** @internal */
  protected constructor(role: WebSocketRole, settings: ResolvedWebSocketOptions, handlers?: WebSocketHandlers) {
    this.role = role;
    this.settings = settings;
    this.clock = settings.reactor;
    this.socket = new WebSocket(role, this, settings.maxQueue, handlers);
  }

  /** The clock timers run on (the reactor given in the options, else the global one). */
  get reactor(): IReactorTime {
    return (this.clock ??= getReactor());
  }

  // ================================================================ IProtocol

  /** Attach to `transport` and call `connectionMade`. */
  makeConnection(transport: ITransport): void {
    this.transport = transport;
    this.bytesTransport = bytesWriter(transport);
    if (this.readPauses !== 0) transport.pauseProducing();
    this.connectionMade();
  }

  /** The connection is up: the subclass starts (or completes) the opening handshake. */
  connectionMade(): void {}

  /** Bytes from the peer: handshake bytes until open, then frames. */
  dataReceived(data: Uint8Array): void {
    const flags = this.flags;
    if ((flags & F_INPUT_STOPPED) !== 0) return;
    if ((flags & F_OPEN) !== 0) (this.frames ?? this.makeParser()).receiveData(data);
    else this.handshakeData(data);
  }

  /**
   * @internal A read lent by the transport's fast read path (`kReadBorrowed`): frames are parsed
   * in the transport's buffer, a text message decoded straight from it, and only what outlives
   * the call is copied (see `FrameParser.receiveBorrowed`); handshake bytes are copied.
   */
  [kReadBorrowed](buffer: Buffer, n: number): void {
    const flags = this.flags;
    if ((flags & F_INPUT_STOPPED) !== 0) return;
    if ((flags & F_OPEN) !== 0) (this.frames ?? this.makeParser()).receiveBorrowed(buffer, n);
    else this.handshakeData(copyRead(buffer, n));
  }

  /**
   * The transport is gone: timers are cancelled, compression released, queued sends fail with
   * WebSocketClosedError, messages already decoded are delivered, and the socket is `CLOSED`
   * (`onClose`).
   */
  connectionLost(reason: Failure): void {
    if (this.lost) return;
    this.lost = true;
    this.inputStopped = true;
    this.registered = false;
    this.handshakeTimer = cancelCall(this.handshakeTimer);
    this.closeTimer = cancelCall(this.closeTimer);
    this.stopTimers();
    const deflate = this.deflate;
    this.deflate = null;
    // Pending (de)compressions fail with DeflateClosedError; their errbacks expect it.
    deflate?.close();
    this.failQueued('the connection was lost before the message was sent');
    if (!this.isOpen) {
      this.handshakeLost(reason);
      this.socket._closed({ code: CloseCode.Abnormal, reason: '', wasClean: false });
      this.closed();
      return;
    }
    this.drainPipeline();
    this.pipeline = null;
    let info: CloseInfo;
    const peer = this.peerClose;
    if (peer !== null) info = { code: peer.code, reason: peer.reason, wasClean: this.closeSent };
    else if (this.failure !== null) info = { code: this.failure.code, reason: this.failure.reason, wasClean: false };
    else info = { code: CloseCode.Abnormal, reason: '', wasClean: false };
    this.socket._closed(info);
    this.closed();
  }

  // ================================================================ write side (IPushProducer)

  /** The transport's buffer is full: hold messages (`send` Deferreds wait). */
  pauseProducing(): void {
    this.writePaused = true;
    this.updateBlocked();
  }

  /** The transport drained: write what waits. */
  resumeProducing(): void {
    this.writePaused = false;
    this.flushOut();
  }

  /** The transport is going away; `connectionLost` follows. */
  stopProducing(): void {}

  // ================================================================ for subclasses

  /** Handshake bytes (before `open`). */
  protected abstract handshakeData(data: Uint8Array): void;

  /** The handshake timeout ran out. Default: drop the connection. */
  protected handshakeTimedOut(): void {
    this.abort();
  }

  /** The transport was lost before the handshake completed. */
  protected handshakeLost(_reason: Failure): void {}

  /** The socket is open (after `open`); default: call `onOpen`. */
  protected opened(): void {
    this.socket._notifyOpen();
  }

  /** The socket is closed (after `onClose`). */
  protected closed(): void {}

  /** Whether `open` was called. */
  protected get isOpen(): boolean {
    return (this.flags & F_OPEN) !== 0;
  }

  /** Whether the transport is gone, or being dropped (`abort`). */
  protected get isLost(): boolean {
    return this.lost || this.inputStopped;
  }

  /** Start the handshake timeout (`handshakeTimeout`), if enabled. */
  protected startHandshakeTimer(): void {
    const t = this.settings.handshakeTimeout;
    if (t > 0 && this.handshakeTimer === null) {
      this.handshakeTimer = this.reactor.callLater(t, WebSocketProtocol.handshakeExpired, this);
    }
  }

  /** Cancel the handshake timeout. */
  protected stopHandshakeTimer(): void {
    this.handshakeTimer = cancelCall(this.handshakeTimer);
  }

  /**
   * The handshake is done: build the frame parser (and compression), register for
   * backpressure, open the socket, start the keepalive, and process `leftover` (bytes that came
   * after the handshake in the same read).
   */
  protected open(params: OpenParams, leftover: Uint8Array | null): void {
    this.handshakeTimer = cancelCall(this.handshakeTimer);
    const s = this.settings;
    this.flags |= F_OPEN;
    if (params.deflate !== null) {
      this.perMessageDeflate = true;
      this.deflate = new PerMessageDeflate(deflateConfigFor(params.deflate, this.role), {
        maxInflatedSize: s.maxMessageSize,
        ...params.deflateOptions,
      });
    }
    const t = this.transport!;
    try {
      t.registerProducer(this, true);
      this.registered = !this.lost;
    } catch (e) {
      // Another producer holds the transport: we then get no backpressure signal.
      log.warn('WebSocket: could not register for backpressure on the transport: {why}', { why: String(e) });
    }
    this.socket._open({ protocol: params.protocol, extensions: params.extensions, url: params.url, request: params.request });
    if (s.pingInterval > 0) WebSocketProtocol.armPing(this);
    if (s.idleTimeout > 0) {
      this.lastActivity = this.reactor.seconds();
      this.idleTimer = this.reactor.callLater(s.idleTimeout, WebSocketProtocol.idleCheck, this);
    }
    this.opened();
    if (leftover !== null && leftover.length > 0 && !this.inputStopped) this.makeParser().receiveData(leftover);
  }

  /** The frame parser, made on first use (see `frames`). */
  private makeParser(): FrameParser {
    const s = this.settings;
    return (this.frames = new FrameParser(
      {
        role: this.role,
        perMessageDeflate: this.perMessageDeflate,
        maxMessageSize: s.maxMessageSize,
        maxFragments: s.maxFragments,
        maxBufferedChunks: s.maxBufferedChunks,
      },
      new WebSocketProtocol.Receiver(this),
    ));
  }

  /**
   * Close the TCP connection in an orderly way, bounded by `closeTimeout`: on a TCP transport,
   * a lingering close — send FIN after what is queued (`loseWriteConnection`) and keep reading,
   * discarding, until the peer closes its side (the transport then closes). Closing at once
   * instead would make the kernel answer anything the peer still sends (a ping written after
   * its close frame…) with an RST that destroys the data not yet delivered — our last messages
   * and close frame. When `closeTimeout` runs out, the transport is closed, then dropped.
   * Other transports are simply closed (`loseConnection`).
   */
  protected closeTransport(): void {
    const t = this.transport;
    if (this.transportClosing || this.lost || t === null) return;
    this.transportClosing = true;
    this.stopTimers();
    if (this.registered) {
      // A transport waits for its producer to go before it closes.
      this.registered = false;
      t.unregisterProducer();
    }
    if (this.readPauses !== 0) {
      // Input is discarded from now on; reading on is how the peer's FIN is seen.
      this.readPauses = 0;
      if (!t.disconnecting) t.resumeProducing();
    }
    const halfClose = (t as Partial<ITCPTransport>).loseWriteConnection;
    if (typeof halfClose === 'function') {
      this.lingering = true;
      halfClose.call(t);
    } else {
      t.loseConnection();
    }
    this.startCloseTimer(false);
  }

  /** Pause reading for `reason` (an `R_*` bit). Not once the transport is closing. */
  protected pauseReading(reason: number): void {
    if (this.transportClosing) return;
    const before = this.readPauses;
    this.readPauses |= reason;
    if (before !== 0 || this.readPauses === 0) return;
    const t = this.transport;
    if (t !== null && !t.disconnecting && !this.lost) t.pauseProducing();
  }

  /** Lift the pause for `reason`; reading resumes when no reason is left. */
  protected resumeReading(reason: number): void {
    if ((this.readPauses & reason) === 0) return;
    this.readPauses &= ~reason;
    if (this.readPauses !== 0) return;
    const t = this.transport;
    if (t !== null && !t.disconnecting && !this.lost) t.resumeProducing();
  }

  // ================================================================ SocketDriver (@internal)

  /** @internal See `WebSocket.bufferedAmount`. */
  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  /** @internal */
  remoteAddress(): Address | null {
    return this.transport?.getPeer() ?? null;
  }

  /** @internal */
  localAddress(): Address | null {
    return this.transport?.getHost() ?? null;
  }

  /** @internal */
  setReadPaused(paused: boolean): void {
    if (paused) this.pauseReading(R_SOCKET);
    else this.resumeReading(R_SOCKET);
  }

  /** @internal See `WebSocket.send`. */
  sendMessage(data: string | Uint8Array, isText: boolean, compress: boolean, fin: boolean): Deferred<void> {
    if (!this.canSend()) return fail<void>(new WebSocketClosedError());
    let compressed: boolean;
    if (this.fragmenting) {
      compressed = this.fragmentCompressed;
    } else {
      compressed = this.deflate !== null && compress && this.worthCompressing(data);
      this.fragmentCompressed = compressed;
    }
    this.fragmenting = !fin;
    if (this.idleTimer !== null) this.lastActivity = this.reactor.seconds();
    if (!compressed && this.out === null && !this.writePaused) {
      // The fast path: straight to the transport.
      this.writeData(data, isText, fin, false);
      return succeed<void>(undefined);
    }
    const entry: OutEntry = {
      kind: K_MESSAGE,
      data,
      isText,
      fin,
      compressed,
      ready: !compressed,
      size: byteLength(data),
      deferred: new Deferred<void>(),
      code: undefined,
      reason: '',
    };
    this.enqueue(entry);
    if (compressed) this.compress(entry, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, fin);
    else this.flushOut();
    return entry.deferred!;
  }

  /**
   * @internal See `WebSocket._sendNow`: write one whole message straight to the transport when
   * nothing stands in its way (see {@link writableNow}) and the deflate extension would not
   * compress it, and say whether it did. False: nothing was done.
   */
  writeNow(data: string | Uint8Array, isText: boolean): boolean {
    if (!this.writableNow()) return false;
    if (this.deflate !== null && this.worthCompressing(data)) return false;
    this.fragmentCompressed = false;
    this.writeData(data, isText, true, false);
    if (this.idleTimer !== null) this.lastActivity = this.reactor.seconds();
    return true;
  }

  /**
   * @internal See `WebSocket._sendPreparedNow`: `writeNow` for a frame made by `prepareMessage`,
   * written as it is (server side only; a compressed frame goes through `sendPrepared`).
   */
  writePreparedNow(message: PreparedMessage): boolean {
    if (!this.writableNow() || message.compressed || this.role !== 'server') return false;
    this.writeFrame(message.data);
    if (this.idleTimer !== null) this.lastActivity = this.reactor.seconds();
    return true;
  }

  /**
   * Whether a whole message may go straight to the transport now: open, no message or fragment
   * queued ahead of it, no backpressure. The rule of both `writeNow`s.
   */
  private writableNow(): boolean {
    return this.canSend() && !this.fragmenting && this.out === null && !this.writePaused;
  }

  /** @internal See `WebSocket.sendPrepared` and `broadcast`. */
  sendPrepared(message: PreparedMessage, quiet: boolean): Deferred<void> | boolean {
    let why: Error | null = null;
    if (!this.canSend()) why = new WebSocketClosedError();
    else if (this.fragmenting) why = new WebSocketStateError('a fragmented message is being sent');
    else if (message.compressed && this.deflate === null) why = new WebSocketStateError('permessage-deflate was not negotiated');
    else if (this.role !== 'server') why = new WebSocketStateError('prepared messages are unmasked: server role only');
    if (why !== null) return quiet ? false : fail<void>(why);
    if (this.idleTimer !== null) this.lastActivity = this.reactor.seconds();
    if (this.out === null && !this.writePaused) {
      this.writeFrame(message.data);
      return quiet ? true : succeed<void>(undefined);
    }
    const deferred = quiet ? null : new Deferred<void>();
    this.enqueue({
      kind: K_PREPARED,
      data: message,
      isText: message.isText,
      fin: true,
      compressed: message.compressed,
      ready: true,
      size: message.data.length,
      deferred,
      code: undefined,
      reason: '',
    });
    this.flushOut();
    return deferred ?? true;
  }

  /** @internal Control frames go out at once, between data frames if need be. */
  sendPing(payload: string | Uint8Array): void {
    if (this.canSend()) this.writeFrame(encodeControlFrame(Opcode.Ping, payload, this.role === 'client'));
  }

  /** @internal */
  sendPong(payload: string | Uint8Array): void {
    if (this.canSend()) this.writeFrame(encodeControlFrame(Opcode.Pong, payload, this.role === 'client'));
  }

  /** @internal Start the closing handshake; the close frame follows the queued messages. */
  startClose(code: number | undefined, reason: string): void {
    if (!this.isOpen || this.lost) return;
    this.stopTimers();
    this.startCloseTimer(false);
    this.enqueue({
      kind: K_CLOSE,
      data: null,
      isText: false,
      fin: true,
      compressed: false,
      ready: true,
      size: 0,
      deferred: null,
      code,
      reason,
    });
    this.flushOut();
  }

  /** @internal Drop the connection now. */
  abort(): void {
    const t = this.transport;
    if (this.lost || t === null) return;
    this.inputStopped = true;
    t.abortConnection();
  }

  /**
   * @internal Fail the connection (a local error: a callback threw, compression failed, or
   * received data was invalid once inflated): a close frame with `code` if none went out yet,
   * no more input, then close the transport.
   */
  fail(code: number, reason: string): void {
    if (this.lost || this.failure !== null) return;
    if (!this.isOpen) {
      this.abort();
      return;
    }
    this.failure = { code, reason };
    this.inputStopped = true;
    this.socket._closing();
    this.sendClose(code, '');
    this.pipeline = null;
    this.failQueued('the connection failed before the message was sent');
    this.socket._endOfMessages();
    this.closeTransport();
  }

  // ================================================================ receiving

  /** The frame parser's handler: one small object forwarding to the protocol (no closures). */
  private static readonly Receiver = class implements FrameHandler {
    constructor(private readonly p: WebSocketProtocol) {}
    onMessage(data: Buffer, isText: boolean, compressed: boolean): void {
      if (!this.p.inputStopped) this.p.receivedMessage(data, isText, compressed);
    }
    onText(text: string): void {
      if (!this.p.inputStopped) this.p.receivedText(text);
    }
    onPing(payload: Buffer): void {
      const p = this.p;
      if (p.inputStopped) return;
      // Answered at once, even between the fragments of a message.
      if (p.canSend()) p.writeFrame(encodeControlFrame(Opcode.Pong, payload, p.role === 'client'));
      p.socket._ping(payload);
    }
    onPong(payload: Buffer): void {
      const p = this.p;
      if (p.inputStopped) return;
      if (p.pongTimer !== null) {
        p.pongTimer = cancelCall(p.pongTimer);
        WebSocketProtocol.armPing(p);
      }
      p.socket._pong(payload);
    }
    onClose(code: number, reason: string): void {
      if (!this.p.inputStopped) this.p.receivedClose(code, reason);
    }
    onError(error: WebSocketProtocolError): void {
      if (!this.p.inputStopped) this.p.protocolError(error);
    }
  };

  /** A binary message, or a compressed one (uncompressed text comes decoded: `receivedText`). */
  private receivedMessage(data: Buffer, isText: boolean, compressed: boolean): void {
    if (compressed) {
      if (this.idleTimer !== null) this.lastActivity = this.reactor.seconds();
      this.inflate(data, isText);
      return;
    }
    this.deliver(isText ? data.toString('utf8') : data);
  }

  private receivedText(text: string): void {
    this.deliver(text);
  }

  private deliver(value: WebSocketData): void {
    if (this.idleTimer !== null) this.lastActivity = this.reactor.seconds();
    if (this.pipeline === null && !this.draining) this.socket._message(value);
    else (this.pipeline ??= []).push({ data: value, end: false, ready: true });
  }

  private inflate(data: Buffer, isText: boolean): void {
    const entry: InEntry = { data: null, end: false, ready: false };
    (this.pipeline ??= []).push(entry);
    if (this.inflating++ === 0) this.pauseReading(R_INFLATE);
    const deflate = this.deflate!;
    (isText ? deflate.decompressText(data) : deflate.decompress(data)).addCallbacks(
      (out: Buffer) => {
        this.inflated();
        entry.data = isText ? out.toString('utf8') : out;
        entry.ready = true;
        this.drainPipeline();
        return undefined;
      },
      (f: Failure) => {
        this.inflated();
        const err = f.value;
        if (err instanceof WebSocketProtocolError) {
          log.info('WebSocket peer {peer} sent an invalid compressed message ({why}): failing with {code}', {
            peer: String(this.remoteAddress()),
            why: err.message,
            code: err.closeCode,
          });
          this.fail(err.closeCode, err.message);
        }
        // Anything else is DeflateClosedError or CancelledError: the connection is already gone.
        return undefined;
      },
    );
  }

  private inflated(): void {
    if (--this.inflating === 0) this.resumeReading(R_INFLATE);
  }

  /** Deliver the ready messages at the head of the pipeline, in order. */
  private drainPipeline(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let q = this.pipeline; q !== null && this.pipeHead < q.length; q = this.pipeline) {
        const e = q[this.pipeHead]!;
        if (!e.ready) break;
        this.pipeHead++;
        if (e.end) this.inputDone();
        else this.socket._message(e.data!);
      }
      if (this.pipeline !== null && this.pipeHead === this.pipeline.length) this.pipeline = null;
    } finally {
      this.draining = false;
    }
    if (this.pipeline === null) this.pipeHead = 0;
  }

  /** Input ended (close frame or protocol error) once the messages before it are delivered. */
  private pushEnd(): void {
    if (this.pipeline === null && !this.draining) this.inputDone();
    else (this.pipeline ??= []).push({ data: null, end: true, ready: true });
  }

  private inputDone(): void {
    this.socket._endOfMessages();
    if (this.role === 'server' || this.failure !== null) {
      // RFC 6455 §7.1.1: the server closes the TCP connection first.
      this.closeTransport();
    } else {
      // The client waits for the server to close, for at most closeTimeout.
      this.startCloseTimer(true);
    }
  }

  private receivedClose(code: number, reason: string): void {
    this.peerClose = { code, reason };
    // Echo the peer's code (an empty close gets an empty close), unless ours went out already.
    this.sendClose(code === CloseCode.NoStatus ? undefined : code, '');
    this.socket._closing();
    this.stopTimers();
    this.failQueued('the peer closed the connection before the message was sent');
    this.startCloseTimer(false);
    this.pushEnd();
  }

  private protocolError(error: WebSocketProtocolError): void {
    log.info('WebSocket peer {peer} broke the protocol ({why}): failing with {code}', {
      peer: String(this.remoteAddress()),
      why: error.message,
      code: error.closeCode,
    });
    this.failure = { code: error.closeCode, reason: error.message };
    this.sendClose(error.closeCode, '');
    this.socket._closing();
    this.stopTimers();
    this.failQueued('the connection failed before the message was sent');
    this.startCloseTimer(false);
    this.pushEnd();
  }

  // ================================================================ sending

  /** Open, and no close frame sent (or received, which makes us send one). */
  private canSend(): boolean {
    return (this.flags & (F_OPEN | F_CLOSE_SENT | F_LOST)) === F_OPEN && this.failure === null;
  }

  /** Write a close frame, once. */
  private sendClose(code: number | undefined, reason: string): void {
    if (this.closeSent || this.lost) return;
    this.closeSent = true;
    this.writeFrame(encodeCloseFrame(code, reason, this.role === 'client'));
  }

  /**
   * Write bytes framed here: past the transport's argument check when it has that path (they
   * are bytes we made), through `write` otherwise — also when `transport` was replaced since.
   */
  private writeFrame(bytes: Uint8Array): void {
    const t = this.transport!;
    if (t === this.bytesTransport) this.bytesTransport.writeBytes(bytes);
    else t.write(bytes);
  }

  /** Write one data frame: a continuation when the previous frame did not end its message. */
  private writeData(data: string | Uint8Array, isText: boolean, fin: boolean, compressed: boolean): void {
    const first = !this.wireFragmenting;
    const opcode = first ? (isText ? Opcode.Text : Opcode.Binary) : Opcode.Continuation;
    const rsv1 = compressed && first;
    this.wireFragmenting = !fin;
    const t = this.transport!;
    if (typeof data === 'string') {
      const length = Buffer.byteLength(data); // UTF-8 (the default: no encoding lookup)
      if (this.role === 'server') {
        // Pure ASCII (as many bytes as UTF-16 units) is its own Latin-1 encoding: header and
        // payload go to the socket as one string it encodes itself, with no Buffer of ours.
        const writeString = (t as TransportWithStrings).writeString;
        if (length === data.length && typeof writeString === 'function') {
          writeString.call(t, frameHeaderString(opcode, length, fin, rsv1) + data, 'latin1');
          return;
        }
        this.writeFrame(encodeStringFrame(opcode, data, length, fin, rsv1, null));
        return;
      }
    }
    const options = fin && !rsv1 ? (this.role === 'client' ? CLIENT_FRAME : SERVER_FRAME) : { fin, rsv1, mask: this.role === 'client' };
    const bufs = encodeFrame(opcode, data, options);
    if (bufs.length === 1) this.writeFrame(bufs[0]!);
    else t.writeSequence(bufs);
  }

  private worthCompressing(data: string | Uint8Array): boolean {
    const threshold = this.deflate!.threshold;
    if (typeof data !== 'string') return data.byteLength >= threshold;
    // A string's UTF-8 length is between its length and three times it: measure only if needed.
    if (data.length >= threshold) return true;
    if (data.length * 3 < threshold) return false;
    return Buffer.byteLength(data, 'utf8') >= threshold;
  }

  private compress(entry: OutEntry, bytes: Uint8Array, fin: boolean): void {
    this.deflate!.compress(bytes, fin).addCallbacks(
      (payload: Buffer) => {
        entry.data = payload;
        entry.ready = true;
        this.flushOut();
        return undefined;
      },
      (f: Failure) => {
        if (!this.lost && f.check(DeflateClosedError, CancelledError) === null) {
          log.failure('WebSocket compression failed: failing the connection with 1011', f);
          this.fail(CloseCode.InternalError, 'compression failed');
        }
        return undefined;
      },
    );
  }

  private enqueue(entry: OutEntry): void {
    (this.out ??= []).push(entry);
    this.queuedBytes += entry.size;
    this.updateBlocked();
  }

  /** Write the queued entries that are ready, in order, while the transport takes them. */
  private flushOut(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let q = this.out; q !== null && this.outHead < q.length && !this.writePaused; q = this.out) {
        const e = q[this.outHead]!;
        if (!e.ready) break;
        q[this.outHead++] = undefined;
        this.queuedBytes -= e.size;
        this.writeEntry(e);
      }
      if (this.out !== null && this.outHead === this.out.length) {
        this.out = null;
        this.outHead = 0;
      }
    } finally {
      this.flushing = false;
    }
    this.updateBlocked();
  }

  private writeEntry(e: OutEntry): void {
    if (e.kind === K_CLOSE) {
      if (this.canSend()) this.sendClose(e.code, e.reason);
      return;
    }
    if (!this.canSend()) {
      e.deferred?.errback(new WebSocketClosedError());
      return;
    }
    if (e.kind === K_PREPARED) this.writeFrame((e.data as PreparedMessage).data);
    else this.writeData(e.data as string | Uint8Array, e.isText, e.fin, e.compressed);
    e.deferred?.callback(undefined);
  }

  private failQueued(message: string): void {
    const entries = this.out;
    if (entries === null) return;
    const head = this.outHead;
    this.out = null;
    this.outHead = 0;
    this.queuedBytes = 0;
    for (let i = head; i < entries.length; i++) entries[i]?.deferred?.errback(new WebSocketClosedError(message));
    this.updateBlocked();
  }

  private updateBlocked(): void {
    const blocked = this.writePaused || this.queuedBytes > OUT_HIGH_WATER;
    if (blocked === this.blocked) return;
    this.blocked = blocked;
    this.socket._writeBlocked(blocked);
  }

  // ================================================================ timers

  private startCloseTimer(restart: boolean): void {
    if (this.closeTimer !== null) {
      if (!restart) return;
      this.closeTimer = cancelCall(this.closeTimer);
    }
    if (this.lost) return;
    this.closeTimer = this.reactor.callLater(this.settings.closeTimeout, WebSocketProtocol.closeExpired, this);
  }

  /** Keepalive and idle timers: not wanted once closing. */
  private stopTimers(): void {
    WebSocketProtocol.disarmPing(this);
    this.pongTimer = cancelCall(this.pongTimer);
    this.idleTimer = cancelCall(this.idleTimer);
  }

  private static handshakeExpired(p: WebSocketProtocol): void {
    p.handshakeTimer = null;
    if (!p.lost && !p.isOpen) {
      log.info('WebSocket opening handshake with {peer} timed out after {timeout} s', {
        peer: String(p.remoteAddress()),
        timeout: p.settings.handshakeTimeout,
      });
      p.handshakeTimedOut();
    }
  }

  private static closeExpired(p: WebSocketProtocol): void {
    p.closeTimer = null;
    if (p.lost) return;
    if (!p.transportClosing && p.closeSent && p.closeReceived) {
      // A client whose server did not close the TCP connection in time closes it itself.
      p.closeTransport();
      return;
    }
    if (p.lingering) {
      // The peer did not answer our FIN: close our side for good, and drop it if even that hangs.
      p.lingering = false;
      p.transport!.loseConnection();
      p.startCloseTimer(false);
      return;
    }
    p.abort();
  }

  /** Wait for the next keepalive ping: `pingInterval` from now, at the end of our list. */
  private static armPing(p: WebSocketProtocol): void {
    const reactor = p.reactor;
    const interval = p.settings.pingInterval;
    let lists = keepaliveLists.get(reactor);
    if (lists === undefined) keepaliveLists.set(reactor, (lists = new Map()));
    let list = lists.get(interval);
    if (list === undefined) lists.set(interval, (list = new KeepaliveList(reactor, interval)));
    WebSocketProtocol.disarmPing(p);
    p.pingDue = reactor.seconds() + interval;
    const tail = list.tail;
    p.kaPrev = tail;
    if (tail === null) list.head = p;
    else tail.kaNext = p;
    list.tail = p;
    if (list.timer === null) {
      list.armedFor = p.pingDue;
      list.timer = reactor.callLater(interval, WebSocketProtocol.keepaliveDue, list);
    }
  }

  /** Leave the keepalive list (no ping due any more). */
  private static disarmPing(p: WebSocketProtocol): void {
    if (p.pingDue < 0) return;
    const list = keepaliveLists.get(p.reactor)!.get(p.settings.pingInterval)!;
    const prev = p.kaPrev;
    const next = p.kaNext;
    if (prev === null) list.head = next;
    else prev.kaNext = next;
    if (next === null) list.tail = prev;
    else next.kaPrev = prev;
    p.kaPrev = p.kaNext = null;
    p.pingDue = -1;
    // An empty list needs no timer; otherwise it stays armed (for an earlier time, at worst).
    if (list.head === null) list.timer = cancelCall(list.timer);
  }

  /** A list's timer: ping every connection now due (in arming order), then re-arm for the next. */
  private static keepaliveDue(list: KeepaliveList): void {
    list.timer = null;
    const reactor = list.reactor;
    // Whatever the timer was armed for is due, even where float rounding put it a hair later.
    const now = Math.max(reactor.seconds(), list.armedFor);
    for (let p = list.head; p !== null && p.pingDue <= now; p = list.head) {
      WebSocketProtocol.disarmPing(p);
      try {
        WebSocketProtocol.keepalivePing(p);
      } catch (e) {
        log.failure('WebSocket keepalive ping failed', e);
      }
    }
    const head = list.head;
    if (head !== null && list.timer === null) {
      list.armedFor = head.pingDue;
      list.timer = reactor.callLater(head.pingDue - reactor.seconds(), WebSocketProtocol.keepaliveDue, list);
    }
  }

  private static keepalivePing(p: WebSocketProtocol): void {
    if (!p.canSend() || p.transportClosing) return;
    p.writeFrame(encodeControlFrame(Opcode.Ping, EMPTY, p.role === 'client'));
    p.pongTimer = p.reactor.callLater(p.settings.pingTimeout, WebSocketProtocol.keepaliveExpired, p);
  }

  private static keepaliveExpired(p: WebSocketProtocol): void {
    p.pongTimer = null;
    if (p.lost) return;
    log.info('WebSocket peer {peer} did not answer a keepalive ping within {timeout} s: dropping the connection', {
      peer: String(p.remoteAddress()),
      timeout: p.settings.pingTimeout,
    });
    p.failure ??= { code: CloseCode.Abnormal, reason: 'keepalive ping timeout' };
    p.socket._closing();
    p.abort();
  }

  private static idleCheck(p: WebSocketProtocol): void {
    p.idleTimer = null;
    if (p.lost || p.socket.readyState !== WebSocket.OPEN) return;
    const left = p.lastActivity + p.settings.idleTimeout - p.reactor.seconds();
    if (left > 0) {
      p.idleTimer = p.reactor.callLater(left, WebSocketProtocol.idleCheck, p);
      return;
    }
    log.info('WebSocket connection with {peer} idle for {timeout} s: closing', {
      peer: String(p.remoteAddress()),
      timeout: p.settings.idleTimeout,
    });
    p.socket.close(CloseCode.GoingAway, 'idle timeout');
  }
}

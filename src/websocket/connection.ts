/**
 * A wsproto-style WebSocket connection state machine over the frame parser and serializer.
 *
 * @module
 */
import { CloseCode, Opcode } from './constants.js';
import { WebSocketProtocolError, WebSocketStateError } from './errors.js';
import { FrameParser, type FrameHandler, type FrameParserOptions, type WebSocketRole } from './frame-parser.js';
import { encodeCloseFrame, encodeControlFrame, encodeFrame, type PreparedMessage } from './frame-serializer.js';
import { defaultMaskSource, type MaskSource } from './mask.js';

/**
 * `open`: messages flow both ways. `closing`: we sent a close frame and wait for the peer's
 * (we send nothing more; received messages are still delivered). `closed`: the close handshake
 * is complete, the connection failed, or the transport ended — close the transport (a server
 * closes TCP at once; a client normally waits for the server to do it, with a timeout).
 */
export type ConnectionState = 'open' | 'closing' | 'closed';

/** What {@link WebSocketConnection.nextEvent} returns. Buffers follow the parser's rules. */
export type WebSocketEvent =
  /** A whole data message (`delivery: 'message'`); see `FrameHandler.onMessage`. */
  | { readonly type: 'message'; readonly data: Buffer; readonly isText: boolean; readonly compressed: boolean }
  /** `delivery: 'stream'`: a data message starts. */
  | { readonly type: 'message-start'; readonly isText: boolean; readonly compressed: boolean }
  /** `delivery: 'stream'`: more bytes of the current message. */
  | { readonly type: 'message-data'; readonly data: Buffer }
  /** `delivery: 'stream'`: the current message is complete. */
  | { readonly type: 'message-end' }
  /** A ping; with `autoPong` the pong is already queued in {@link WebSocketConnection.dataToSend}. */
  | { readonly type: 'ping'; readonly payload: Buffer }
  /** A pong. */
  | { readonly type: 'pong'; readonly payload: Buffer }
  /**
   * The peer's close frame (`code` 1005 when it carried none), or `code` 1006 with
   * `received: false` when the transport ended without one.
   */
  | { readonly type: 'close'; readonly code: number; readonly reason: string; readonly received: boolean }
  /** The peer broke the protocol; a close frame with `error.closeCode` is already queued. */
  | { readonly type: 'error'; readonly error: WebSocketProtocolError };

/** Options of a {@link WebSocketConnection}: the parser's, plus sending behaviour. */
export interface WebSocketConnectionOptions extends FrameParserOptions {
  /** Queue a pong for every ping received while open. Default `true`. */
  autoPong?: boolean;
  /** Where a client's masking keys come from. Default: the shared random pool. */
  maskSource?: MaskSource;
}

/** Options of {@link WebSocketConnection.send}. */
export interface SendOptions {
  /** Text (`true`) or binary. Default: `true` for strings, `false` for bytes. Ignored on continuations. */
  isText?: boolean;
  /** `data` is already a permessage-deflate payload: set RSV1 (on the first frame only). */
  compressed?: boolean;
  /** `false` to send a fragment and continue the same message with later `send` calls. Default `true`. */
  fin?: boolean;
}

/**
 * One side of a WebSocket connection, without I/O (the wsproto model): give it received bytes
 * with {@link WebSocketConnection.receiveData}, pull decoded events with
 * {@link WebSocketConnection.nextEvent}, call the `send*` methods to queue frames, and write
 * whatever {@link WebSocketConnection.dataToSend} returns to the transport.
 *
 * It answers the protocol on its own, queuing the bytes in `dataToSend` at the moment the
 * triggering frame is parsed (so a ping between fragments is answered before the message is
 * even complete): a pong for each ping (unless `autoPong: false`), a close echoing the peer's
 * code (empty if the peer's close had none) and a close with the error's code when the peer
 * breaks the protocol. Nothing is ever queued after a close frame; sending then throws
 * {@link WebSocketStateError}.
 *
 * @example
 * ```ts
 * const conn = new WebSocketConnection({ role: 'server' });
 * conn.receiveData(chunk);
 * for (let ev = conn.nextEvent(); ev !== null; ev = conn.nextEvent()) {
 *   if (ev.type === 'message') conn.send(ev.data, { isText: ev.isText }); // echo
 * }
 * transport.writeSequence(conn.dataToSend());
 * if (conn.state === 'closed') transport.loseConnection();
 * ```
 */
export class WebSocketConnection {
  /** Which end this is. */
  readonly role: WebSocketRole;
  private readonly parser: FrameParser;
  private readonly autoPong: boolean;
  private readonly deflate: boolean;
  private readonly mask: MaskSource | false;
  private currentState: ConnectionState = 'open';
  private sendingFragmented = false;
  private events: WebSocketEvent[] = [];
  private eventHead = 0;
  private outbox: Buffer[] = [];
  private closeCodeReceived: number | null = null;

  /** @throws RangeError for invalid parser options. */
  constructor(options: WebSocketConnectionOptions) {
    this.role = options.role;
    this.autoPong = options.autoPong !== false;
    this.deflate = options.perMessageDeflate === true;
    this.mask = options.role === 'client' ? (options.maskSource ?? defaultMaskSource()) : false;
    this.parser = new FrameParser(options, this.makeHandler());
  }

  /** The current state; see {@link ConnectionState}. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The code of the close frame received from the peer (1005 if empty), or `null`. */
  get receivedCloseCode(): number | null {
    return this.closeCodeReceived;
  }

  /**
   * Feed received bytes (ownership passes to the connection, see `FrameParser`). Events and
   * automatic replies are queued. Ignored after a close frame, an error or the end of input.
   */
  receiveData(data: Uint8Array): void {
    this.parser.receiveData(data);
  }

  /**
   * The transport ended. If the close handshake had not completed, queues a `close` event with
   * code 1006 and `received: false`. Always leaves the connection `closed`.
   */
  receiveEof(): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.push({ type: 'close', code: CloseCode.Abnormal, reason: '', received: false });
  }

  /** The next decoded event, or `null` when more data is needed. */
  nextEvent(): WebSocketEvent | null {
    if (this.eventHead === this.events.length) return null;
    const ev = this.events[this.eventHead++]!;
    if (this.eventHead === this.events.length) {
      this.events = [];
      this.eventHead = 0;
    }
    return ev;
  }

  /** Take every queued outgoing buffer, in order (write them with one cork/writev). */
  dataToSend(): Buffer[] {
    const out = this.outbox;
    if (out.length > 0) this.outbox = [];
    return out;
  }

  /** Whether {@link WebSocketConnection.dataToSend} has anything. */
  get hasDataToSend(): boolean {
    return this.outbox.length > 0;
  }

  /**
   * Queue a data message, or one fragment of it (`fin: false`, then more `send` calls, the last
   * with `fin` true). Pings, pongs and close may be sent between fragments.
   *
   * @throws WebSocketStateError once a close frame was sent or the connection is closed, or for
   *   `compressed` without a negotiated permessage-deflate.
   */
  send(data: Uint8Array | string, options: SendOptions = {}): void {
    this.assertOpen();
    if (options.compressed === true && !this.deflate) throw new WebSocketStateError('permessage-deflate was not negotiated');
    const first = !this.sendingFragmented;
    const fin = options.fin !== false;
    const opcode = first ? ((options.isText ?? typeof data === 'string') ? Opcode.Text : Opcode.Binary) : Opcode.Continuation;
    this.queue(encodeFrame(opcode, data, { fin, rsv1: first && options.compressed === true, mask: this.mask }));
    this.sendingFragmented = !fin;
  }

  /**
   * Queue a frame made once by `prepareMessage` (broadcast). Server role only.
   *
   * @throws WebSocketStateError if not open, if a fragmented send is in progress, on a client, or
   *   for a compressed message without a negotiated permessage-deflate.
   */
  sendPrepared(message: PreparedMessage): void {
    this.assertOpen();
    if (this.role !== 'server') throw new WebSocketStateError('prepared messages are unmasked: server role only');
    if (this.sendingFragmented) throw new WebSocketStateError('a fragmented message is being sent');
    if (message.compressed && !this.deflate) throw new WebSocketStateError('permessage-deflate was not negotiated');
    this.outbox.push(message.data);
  }

  /**
   * Queue a ping (payload ≤ 125 bytes).
   *
   * @throws WebSocketStateError if not open; RangeError if the payload is too long.
   */
  ping(payload: Uint8Array | string = ''): void {
    this.assertOpen();
    this.outbox.push(encodeControlFrame(Opcode.Ping, payload, this.mask));
  }

  /**
   * Queue an unsolicited pong (payload ≤ 125 bytes), e.g. as a heartbeat or when `autoPong` is off.
   *
   * @throws WebSocketStateError if not open; RangeError if the payload is too long.
   */
  pong(payload: Uint8Array | string = ''): void {
    this.assertOpen();
    this.outbox.push(encodeControlFrame(Opcode.Pong, payload, this.mask));
  }

  /**
   * Start the closing handshake: queue a close frame and enter `closing`. Received data is still
   * delivered until the peer's close arrives.
   *
   * @throws WebSocketStateError if not open; RangeError for an invalid code or a reason over
   *   123 bytes (see `encodeCloseFrame`).
   */
  close(code?: number, reason = ''): void {
    this.assertOpen();
    const frame = encodeCloseFrame(code, reason, this.mask);
    this.outbox.push(frame);
    this.currentState = 'closing';
  }

  private assertOpen(): void {
    if (this.currentState !== 'open') throw new WebSocketStateError(`cannot send: connection is ${this.currentState}`);
  }

  private queue(frames: Buffer[]): void {
    for (let i = 0; i < frames.length; i++) this.outbox.push(frames[i]!);
  }

  private push(ev: WebSocketEvent): void {
    this.events.push(ev);
  }

  private makeHandler(): FrameHandler {
    return {
      onMessage: (data, isText, compressed) => this.push({ type: 'message', data, isText, compressed }),
      onMessageStart: (isText, compressed) => this.push({ type: 'message-start', isText, compressed }),
      onMessageData: (data) => this.push({ type: 'message-data', data }),
      onMessageEnd: () => this.push({ type: 'message-end' }),
      onPing: (payload) => {
        if (this.autoPong && this.currentState === 'open') {
          this.outbox.push(encodeControlFrame(Opcode.Pong, payload, this.mask));
        }
        this.push({ type: 'ping', payload });
      },
      onPong: (payload) => this.push({ type: 'pong', payload }),
      onClose: (code, reason) => {
        this.closeCodeReceived = code;
        if (this.currentState === 'open') {
          // Echo the peer's code; an empty close is answered with an empty close.
          this.outbox.push(code === CloseCode.NoStatus ? encodeCloseFrame(undefined, '', this.mask) : encodeCloseFrame(code, '', this.mask));
        }
        this.currentState = 'closed';
        this.push({ type: 'close', code, reason, received: true });
      },
      onError: (error) => {
        if (this.currentState === 'open') this.outbox.push(encodeCloseFrame(error.closeCode, '', this.mask));
        this.currentState = 'closed';
        this.push({ type: 'error', error });
      },
    };
  }
}

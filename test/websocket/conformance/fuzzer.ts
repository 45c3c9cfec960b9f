/**
 * The fuzzer: our end of one test connection, modelled on Autobahn's fuzzing protocol. It
 * writes a case's frames in the run's delivery mode, answers pings and close frames the way
 * Autobahn does, records what the peer sends (messages, pongs, pings, the close code, who
 * closed TCP and whether the close was clean), and checks every peer frame against RFC 6455
 * (and RFC 7692 when compression was agreed): anything illegal is a protocol violation, which
 * fails the case.
 *
 * It plays either end: as a *client* (testing our server) its frames are masked and it waits
 * for the server to close TCP; as a *server* (testing our client) they are not, and it drops
 * TCP itself once the close handshake is done.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import { MessageDeflater, MessageInflater, type DeflateAgreement } from './compression.js';
import { FrameReader, OP, bytes, closePayload, encodeFrame, isSendableCloseCode, type FrameSpec, type WireFrame } from './frames.js';

/** How the fuzzer cuts its bytes into TCP writes (each followed by a turn of the event loop). */
export type DeliveryMode = 'case' | 'whole' | 'frame' | `chop-${number}`;

/** What the fuzzer saw, in order (Autobahn's `received` list). */
export type Observed =
  | readonly ['message', Buffer, boolean]
  | readonly ['pong', Buffer]
  | readonly ['ping', Buffer]
  | readonly ['timeout', string];

/** The outcomes a run can have. */
export type Behavior = 'OK' | 'NON-STRICT' | 'FAILED';

/** How the connection is expected to end (Autobahn's `expectedClose`). */
export interface ExpectedClose {
  /** Whether *we* (the fuzzer) are expected to start the closing handshake. */
  readonly closedByMe: boolean;
  /** Close codes the peer may send (an absent code is always accepted). */
  readonly codes: readonly number[];
  /** Whether close frames must go both ways before TCP closes. */
  readonly requireClean: boolean;
  /** UTF-8 cases: if the wrong end closed, the peer never noticed the bad data: FAILED. */
  readonly wrongEndpointIsFatal?: boolean;
}

/** One frame to send, with Autobahn's write hints. */
export interface SendFrame extends FrameSpec {
  /** Write it in pieces of this many bytes (`case` mode). */
  readonly chop?: number;
  /** Write it on its own (`case` mode). */
  readonly sync?: boolean;
}

/** A case's behaviour on this connection. */
export interface CaseScript {
  /** The connection is open: set expectations, send frames, arm timers. */
  onOpen(f: Fuzzer): void;
  /** Take over message handling (interactive cases); default: record and maybe close. */
  onMessage?(f: Fuzzer, payload: Buffer, binary: boolean): void;
}

/** Settings of one run. */
export interface FuzzerOptions {
  /** We are the client (frames masked; we wait for the peer to close TCP). */
  readonly isClient: boolean;
  readonly mode: DeliveryMode;
  /** Multiplies `continueLater` pauses (Autobahn's 1-second pauses). */
  readonly pauseScale: number;
  /** What permessage-deflate agreed, if anything. */
  readonly deflate: DeflateAgreement | null;
  /** Client side: we offered `client_no_context_takeover` (so we honour it). */
  readonly ourNoContextTakeover?: boolean;
}

const CLOSE_HANDSHAKE_TIMEOUT = 1000;
const SERVER_DROP_TIMEOUT = 1000;

type State = 'open' | 'closing' | 'closed';

interface WriteItem {
  readonly bytes: Buffer;
  readonly chop: number;
  readonly sync: boolean;
}

function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * One test connection, after the opening handshake. Create it, call {@link Fuzzer.start}, and
 * await {@link Fuzzer.done}.
 */
export class Fuzzer {
  // --- what the case sets (Autobahn's names)
  /** Event lists that score `OK` / `NON-STRICT` when they equal what was received. */
  expected: Partial<Record<'OK' | 'NON-STRICT', Observed[]>> = {};
  expectedClose: ExpectedClose = { closedByMe: true, codes: [1000], requireClean: true };
  /** Do not start the closing handshake when the events match (the case closes itself). */
  suppressClose = false;
  /** Interactive cases decide the behaviour themselves. */
  behavior: Behavior | undefined = undefined;
  /** Why, for the report. */
  result = '';
  /** Free-form measurements for the report (sizes, ratios). */
  readonly stats: Record<string, number | string> = {};

  // --- what happened
  readonly received: Observed[] = [];
  readonly violations: string[] = [];
  closedByMe = false;
  wasClean = false;
  droppedByMe = false;
  /** The peer closed the TCP connection (FIN or reset) before we dropped it. */
  peerClosedTcp = false;
  remoteCloseCode: number | null = null;
  remoteCloseReason = '';
  /** A close frame came from the peer. */
  closeReceived = false;

  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private state: State = 'open';
  private readonly reader = new FrameReader();
  private fragments: Buffer[] | null = null;
  private fragmentOpcode = 0;
  private fragmentCompressed = false;
  private inbound: Promise<void> = Promise.resolve();
  private inboundPending = 0;
  private readonly queue: WriteItem[] = [];
  private pumping = false;
  private drainWaiters: Array<() => void> = [];
  private outbound: Promise<void> = Promise.resolve();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closeTimer: NodeJS.Timeout | null = null;
  private deflater: MessageDeflater | null = null;
  private inflater: MessageInflater | null = null;

  constructor(
    readonly socket: Socket,
    readonly options: FuzzerOptions,
    private readonly script: CaseScript,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    const d = options.deflate;
    if (d !== null) {
      const mine = options.isClient
        ? { noContext: d.clientNoContextTakeover || options.ourNoContextTakeover === true, bits: d.clientMaxWindowBits ?? 15 }
        : { noContext: d.serverNoContextTakeover, bits: d.serverMaxWindowBits ?? 15 };
      const theirs = options.isClient
        ? { noContext: d.serverNoContextTakeover, bits: d.serverMaxWindowBits ?? 15 }
        : { noContext: d.clientNoContextTakeover, bits: d.clientMaxWindowBits ?? 15 };
      this.deflater = new MessageDeflater(mine.bits, mine.noContext);
      this.inflater = new MessageInflater(theirs.bits, theirs.noContext);
    }
  }

  /** Whether no close frame went either way and TCP is up (Autobahn's `STATE_OPEN`). */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Whether TCP is gone. */
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Start: feed `rest` (bytes read past the handshake) and run the case's `onOpen`. */
  start(rest: Buffer): void {
    const s = this.socket;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => this.dataReceived(chunk));
    s.on('end', () => this.tcpGone());
    s.on('error', () => this.tcpGone());
    s.on('close', () => this.tcpGone());
    s.resume();
    try {
      this.script.onOpen(this);
    } catch (e) {
      this.fuzzerError(`the case script threw: ${(e as Error).stack ?? String(e)}`);
    }
    if (rest.length > 0) this.dataReceived(rest);
  }

  // ================================================================ sending

  /** Queue one frame (masked when we are the client, unless the spec says otherwise). */
  sendFrame(spec: SendFrame): void {
    this.enqueue(encodeFrame(spec, this.options.isClient), spec.chop ?? 0, spec.sync ?? false);
  }

  /** Queue bytes as they are (pre-built or split frames). */
  sendRaw(data: Buffer, chop = 0, sync = false): void {
    this.enqueue(data, chop, sync);
  }

  /**
   * Send a message, split into frames of `fragmentSize` payload bytes (0: one frame),
   * compressed when permessage-deflate was agreed (RSV1 on the first frame only).
   */
  sendMessage(payload: Uint8Array | string, binary: boolean, fragmentSize = 0): void {
    const data = bytes(payload);
    const opcode = binary ? OP.BINARY : OP.TEXT;
    const deflater = this.deflater;
    if (deflater === null) {
      this.queueFragments(data, opcode, fragmentSize, false);
      return;
    }
    // Compression is asynchronous: keep messages in order.
    this.outbound = this.outbound.then(async () => {
      try {
        const z = await deflater.compress(data);
        this.stats.bytesSentCompressed = Number(this.stats.bytesSentCompressed ?? 0) + z.length;
        this.queueFragments(z, opcode, fragmentSize, true);
      } catch (e) {
        this.fuzzerError(`our own compressor failed: ${(e as Error).message}`);
      }
    });
  }

  private queueFragments(data: Buffer, opcode: number, fragmentSize: number, compressed: boolean): void {
    if (fragmentSize <= 0 || data.length <= fragmentSize) {
      this.sendFrame({ opcode, payload: data, rsv: compressed ? 4 : 0 });
      return;
    }
    for (let at = 0; at < data.length; at += fragmentSize) {
      const first = at === 0;
      this.sendFrame({
        opcode: first ? opcode : OP.CONT,
        payload: data.subarray(at, at + fragmentSize),
        fin: at + fragmentSize >= data.length,
        rsv: first && compressed ? 4 : 0,
      });
    }
  }

  /**
   * Start the closing handshake (Autobahn's `sendCloseFrame`): a close frame with `code` (none
   * when omitted) and `reason` as given — not validated, cases send illegal ones. Only once,
   * and only while open.
   */
  sendClose(code?: number | null, reason: Uint8Array | string = ''): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.closedByMe = true;
    this.sendFrame({ opcode: OP.CLOSE, payload: closePayload(code, reason) });
    // The peer has a second from when our close frame is on the wire (chopped writes of what
    // was queued before it can take longer than that).
    void this.drained().then(() => {
      if (this.state !== 'closing' || this.closeReceived) return;
      this.closeTimer = this.after(CLOSE_HANDSHAKE_TIMEOUT, () => {
        if (this.state === 'closing' && !this.closeReceived) {
          this.result ||= 'no close frame in answer to ours';
          this.drop();
        }
      });
    });
  }

  // ================================================================ timers

  /** Autobahn's `continueLater`: after our writes went out and `seconds` × pauseScale, if still connected. */
  continueLater(seconds: number, fn: () => void): void {
    void this.drained().then(() => {
      this.after(seconds * 1000 * this.options.pauseScale, () => {
        if (this.state !== 'closed') fn();
      });
    });
  }

  /** Autobahn's `killAfter`: drop the connection after `seconds` if it is still up. */
  killAfter(seconds: number): void {
    void this.drained().then(() => {
      this.after(seconds * 1000, () => {
        if (this.state !== 'closed') {
          this.result ||= `the connection was still up after ${seconds} s: dropped by the fuzzer`;
          this.wasClean = false;
          this.drop();
        }
      });
    });
  }

  /** Autobahn's `closeAfter`: start a closing handshake (no code) after `seconds`. */
  closeAfter(seconds: number): void {
    void this.drained().then(() => {
      this.after(seconds * 1000, () => {
        if (this.state === 'open') this.sendClose();
      });
    });
  }

  /** Resolves once everything queued so far was written. */
  drained(): Promise<void> {
    return this.outbound.then(() => (this.queue.length === 0 && !this.pumping ? undefined : new Promise<void>((r) => this.drainWaiters.push(r))));
  }

  /** Give up: drop TCP now (end of the run's time budget). */
  abort(why: string): void {
    if (this.state === 'closed') return;
    this.result ||= why;
    this.violations.push(why);
    this.drop();
  }

  // ================================================================ receiving

  private dataReceived(chunk: Buffer): void {
    if (this.state === 'closed') return;
    let frames: WireFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.violation((e as Error).message);
      return;
    }
    for (const f of frames) {
      if (this.isClosed) return;
      this.frameReceived(f);
    }
  }

  private frameReceived(f: WireFrame): void {
    if (this.closeReceived) return this.violation(`a frame (opcode ${f.opcode}) after the close frame`);
    if (f.masked === this.options.isClient) return this.violation(this.options.isClient ? 'a masked frame from the server' : 'an unmasked frame from the client');
    const deflate = this.options.deflate !== null;
    if ((f.rsv & 3) !== 0) return this.violation(`RSV2/RSV3 set (rsv ${f.rsv})`);
    if (f.opcode >= 8) {
      if (f.opcode > OP.PONG) return this.violation(`reserved control opcode ${f.opcode}`);
      if (!f.fin) return this.violation('a fragmented control frame');
      if (f.rsv !== 0) return this.violation('RSV1 on a control frame');
      if (f.payload.length > 125) return this.violation('a control frame over 125 bytes');
      if (f.opcode === OP.PING) return this.ordered(() => this.pingReceived(f.payload));
      if (f.opcode === OP.PONG) return this.ordered(() => this.event(['pong', f.payload]));
      return this.closeFrame(f.payload);
    }
    if (f.opcode > OP.BINARY) return this.violation(`reserved data opcode ${f.opcode}`);
    if (f.opcode === OP.CONT) {
      if (this.fragments === null) return this.violation('a continuation frame with nothing to continue');
      if (f.rsv !== 0) return this.violation('RSV1 on a continuation frame');
      this.fragments.push(f.payload);
    } else {
      if (this.fragments !== null) return this.violation('a new data frame inside a fragmented message');
      if (f.rsv !== 0 && !deflate) return this.violation('RSV1 without permessage-deflate');
      this.fragments = [f.payload];
      this.fragmentOpcode = f.opcode;
      this.fragmentCompressed = f.rsv === 4;
    }
    if (!f.fin) return;
    const payload = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    const binary = this.fragmentOpcode === OP.BINARY;
    const compressed = this.fragmentCompressed;
    this.fragments = null;
    if (!compressed) {
      this.ordered(() => this.messageReceived(payload, binary));
      return;
    }
    this.stats.bytesReceivedCompressed = Number(this.stats.bytesReceivedCompressed ?? 0) + payload.length;
    const inflated = this.inflater!.decompress(payload);
    this.ordered(async () => {
      let data: Buffer;
      try {
        data = await inflated;
      } catch (e) {
        this.violation(`the peer's compressed message does not inflate with the agreed parameters: ${(e as Error).message}`);
        return;
      }
      this.messageReceived(data, binary);
    });
  }

  /** Run `fn` after the events before it (inflation is asynchronous); at once when nothing waits. */
  private ordered(fn: () => void | Promise<void>): void {
    const failed = (e: unknown): void => this.fuzzerError(`${(e as Error).stack ?? String(e)}`);
    const settled = (): void => void this.inboundPending--;
    if (this.inboundPending === 0) {
      const r = fn();
      if (r === undefined) return;
      this.inboundPending++;
      this.inbound = r.catch(failed).finally(settled);
      return;
    }
    this.inboundPending++;
    this.inbound = this.inbound.then(fn).catch(failed).finally(settled);
  }

  private messageReceived(payload: Buffer, binary: boolean): void {
    if (this.state === 'closed' && this.violations.length > 0) return;
    if (!binary && !isUtf8(payload)) return this.violation('a text message that is not valid UTF-8');
    const hook = this.script.onMessage;
    if (hook !== undefined) {
      try {
        hook.call(this.script, this, payload, binary);
      } catch (e) {
        this.fuzzerError(`the case script threw: ${(e as Error).stack ?? String(e)}`);
      }
      return;
    }
    this.event(['message', payload, binary]);
  }

  private pingReceived(payload: Buffer): void {
    // Autobahn answers pings (and records them).
    if (this.state !== 'closed') this.sendFrame({ opcode: OP.PONG, payload });
    this.event(['ping', payload]);
  }

  private event(e: Observed): void {
    this.received.push(e);
    this.finishWhenDone();
  }

  /** Close once what we received matches every expected list (Autobahn's `finishWhenDone`). */
  private finishWhenDone(): void {
    const lists = Object.values(this.expected);
    if (lists.length === 0) return;
    for (const list of lists) if (!sameEvents(this.received, list)) return;
    if (this.expectedClose.closedByMe && !this.suppressClose) this.sendClose(this.expectedClose.codes[0]);
  }

  private closeFrame(payload: Buffer): void {
    // Keep the close after the messages before it.
    this.ordered(() => this.closeReceivedNow(payload));
  }

  private closeReceivedNow(payload: Buffer): void {
    if (this.state === 'closed') return;
    if (payload.length === 1) return this.violation('a close frame with a one-byte payload');
    if (payload.length >= 2) {
      const code = payload.readUInt16BE(0);
      if (!isSendableCloseCode(code)) return this.violation(`a close frame with code ${code}, which may not be sent`);
      const reason = payload.subarray(2);
      if (!isUtf8(reason)) return this.violation('a close reason that is not valid UTF-8');
      this.remoteCloseCode = code;
      this.remoteCloseReason = reason.toString('utf8');
    }
    this.closeReceived = true;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.wasClean = true;
    if (this.state === 'open') {
      // The peer started it: answer once (Autobahn answers 1000, not an echo).
      this.state = 'closing';
      this.closedByMe = false;
      this.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    }
    if (this.options.isClient) {
      // RFC 6455 §7.1.1: the server closes TCP first; give it a second.
      this.after(SERVER_DROP_TIMEOUT, () => {
        if (this.state !== 'closed') {
          this.wasClean = false;
          this.result ||= 'the server did not close the TCP connection after the closing handshake';
          this.drop();
        }
      });
    } else {
      void this.drained().then(() => this.drop());
    }
  }

  // ================================================================ plumbing

  private violation(why: string): void {
    this.violations.push(why);
    this.result ||= `protocol violation by the peer: ${why}`;
    this.drop();
  }

  /** A bug in the checker itself (a case script or our compressor threw): the run fails, saying so. */
  private fuzzerError(why: string): void {
    this.violations.push(`fuzzer error (not the peer's fault): ${why}`);
    this.result ||= `fuzzer error: ${why}`;
    this.drop();
  }

  private enqueue(data: Buffer, chop: number, sync: boolean): void {
    this.queue.push({ bytes: data, chop, sync });
    if (!this.pumping) {
      this.pumping = true;
      // Everything queued in this turn of the loop forms one burst.
      setImmediate(() => void this.pump());
    }
  }

  private writable(): boolean {
    return this.state !== 'closed' && !this.socket.destroyed && this.socket.writable;
  }

  private async write(data: Buffer, pause: boolean): Promise<void> {
    if (data.length === 0 || !this.writable()) return;
    this.socket.write(data);
    if (pause) await turn();
  }

  private async chopped(data: Buffer, n: number): Promise<void> {
    for (let at = 0; at < data.length && this.writable(); at += n) await this.write(data.subarray(at, at + n), true);
  }

  private async pump(): Promise<void> {
    const mode = this.options.mode;
    while (this.queue.length > 0) {
      const items = this.queue.splice(0, this.queue.length);
      if (mode === 'whole') {
        await this.write(Buffer.concat(items.map((i) => i.bytes)), true);
      } else if (mode === 'frame') {
        for (const i of items) await this.write(i.bytes, true);
      } else if (mode.startsWith('chop-')) {
        await this.chopped(Buffer.concat(items.map((i) => i.bytes)), Number(mode.slice(5)));
      } else {
        // Autobahn's own way: chopped frames in pieces, "sync" frames alone, the rest together.
        let pending: Buffer[] = [];
        const flush = async (): Promise<void> => {
          if (pending.length === 0) return;
          const data = Buffer.concat(pending);
          pending = [];
          await this.write(data, true);
        };
        for (const i of items) {
          if (i.chop > 0) {
            await flush();
            await this.chopped(i.bytes, i.chop);
          } else if (i.sync) {
            await flush();
            await this.write(i.bytes, true);
          } else {
            pending.push(i.bytes);
          }
        }
        await flush();
      }
    }
    this.pumping = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /** We drop TCP. */
  private drop(): void {
    if (this.state === 'closed') return;
    this.droppedByMe = true;
    this.socket.destroy();
    this.tcpGone();
  }

  private tcpGone(): void {
    if (this.state === 'closed') return;
    if (!this.droppedByMe) this.peerClosedTcp = true;
    this.state = 'closed';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.socket.destroy();
    this.deflater?.close();
    // Let pending inflations settle before the verdict.
    void this.inbound.finally(() => {
      this.inflater?.close();
      this.queue.length = 0;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
      this.resolveDone();
    });
  }
}

/** Autobahn's comparison: same events, same order, same bytes. */
export function sameEvents(a: readonly Observed[], b: readonly Observed[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x[0] !== y[0]) return false;
    if (x[0] === 'timeout') {
      if (x[1] !== y[1]) return false;
    } else if (!(x[1] as Buffer).equals(y[1] as Buffer)) {
      return false;
    } else if (x[0] === 'message' && x[2] !== y[2]) {
      return false;
    }
  }
  return true;
}

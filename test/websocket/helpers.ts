// Shared helpers for the WebSocket core tests: frame builders and an event recorder.
import { FrameParser, type FrameHandler, type FrameParserOptions } from '../../src/websocket/index.js';

/** The masking key used by RFC 6455 §5.7 and the Autobahn vectors in node-peers.md §2.6. */
export const M = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

export function bytes(payload: string | Uint8Array | number[]): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(payload);
}

/**
 * A frame with first byte `b0` (FIN/RSV/opcode) carrying `payload`, masked with `mask`
 * (default M) unless `mask` is null. Length in minimal encoding unless `lengthForm` forces one.
 */
export function frame(b0: number, payload: string | Uint8Array | number[] = '', mask: Uint8Array | null = M, lengthForm?: 7 | 16 | 64): Buffer {
  const p = bytes(payload);
  const len = p.length;
  const form = lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const head: number[] = [b0];
  const mbit = mask ? 0x80 : 0;
  if (form === 7) head.push(mbit | len);
  else if (form === 16) head.push(mbit | 126, len >> 8, len & 255);
  else {
    head.push(mbit | 127, 0, 0);
    const hi = Math.floor(len / 2 ** 32);
    head.push((hi >> 8) & 255, hi & 255, (len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  }
  const body = Buffer.from(p);
  if (mask) {
    head.push(...mask);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3]!;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

export type Ev =
  | ['text' | 'binary', string, boolean?]
  | ['ping' | 'pong', string]
  | ['close', number, string]
  | ['error', number, string];

/** Records parser events as plain tuples (payloads in hex). Stream mode is folded into messages. */
export class Recorder implements FrameHandler {
  events: Ev[] = [];
  private current: Buffer[] | null = null;
  private currentText = false;
  private currentCompressed = false;
  /** Index of the input byte being fed when the error arrived (set by feed helpers). */
  errorAt = -1;
  position = 0;

  onMessage(data: Buffer, isText: boolean, compressed: boolean): void {
    this.events.push(compressed ? [isText ? 'text' : 'binary', data.toString('hex'), true] : [isText ? 'text' : 'binary', data.toString('hex')]);
  }
  onMessageStart(isText: boolean, compressed: boolean): void {
    this.current = [];
    this.currentText = isText;
    this.currentCompressed = compressed;
  }
  onMessageData(chunk: Buffer): void {
    this.current!.push(Buffer.from(chunk));
  }
  onMessageEnd(): void {
    this.onMessage(Buffer.concat(this.current!), this.currentText, this.currentCompressed);
    this.current = null;
  }
  onPing(payload: Buffer): void {
    this.events.push(['ping', payload.toString('hex')]);
  }
  onPong(payload: Buffer): void {
    this.events.push(['pong', payload.toString('hex')]);
  }
  onClose(code: number, reason: string): void {
    this.events.push(['close', code, reason]);
  }
  onError(error: { closeCode: number; code: string }): void {
    this.events.push(['error', error.closeCode, error.code]);
    if (this.errorAt === -1) this.errorAt = this.position;
  }
}

/** Parse `input` cut at `cuts` (sorted offsets) and return the recorder. Input is copied. */
export function parseSplit(input: Uint8Array, cuts: number[], options: Partial<FrameParserOptions> = {}): Recorder {
  const rec = new Recorder();
  const parser = new FrameParser({ role: 'server', ...options }, rec);
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    rec.position = c - 1;
    if (c > prev) parser.receiveData(Buffer.from(input.subarray(prev, c)));
    prev = c;
  }
  return rec;
}

export function parseWhole(input: Uint8Array, options: Partial<FrameParserOptions> = {}): Ev[] {
  return parseSplit(input, [], options).events;
}

/** Feed one byte at a time; `errorAt` is the index of the byte that triggered the error. */
export function parseBytewise(input: Uint8Array, options: Partial<FrameParserOptions> = {}): Recorder {
  const rec = new Recorder();
  const parser = new FrameParser({ role: 'server', ...options }, rec);
  for (let i = 0; i < input.length; i++) {
    rec.position = i;
    parser.receiveData(Uint8Array.of(input[i]!));
  }
  return rec;
}

export function textHex(s: string): string {
  return Buffer.from(s, 'utf8').toString('hex');
}

/** Deterministic PRNG (xorshift32) so random tests are reproducible. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

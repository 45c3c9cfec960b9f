/**
 * The conformance checker's own WebSocket framing (RFC 6455 §5.2), written independently of
 * `src/websocket/` so that a bug there cannot hide itself: an encoder that can also build
 * *illegal* frames (reserved bits and opcodes, oversized or fragmented control frames, wrong
 * masking, non-minimal or top-bit lengths), and an incremental reader that splits the peer's
 * bytes into frames without judging them (the fuzzer judges).
 *
 * Frame encoding follows Autobahn's fuzzer: `byte0 = fin << 7 | (rsv % 8) << 4 | opcode`, so
 * `rsv: 4` is RSV1, `2` RSV2, `1` RSV3.
 */
import { randomFillSync } from 'node:crypto';

/** Opcodes the cases use by name. */
export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** One frame to put on the wire. */
export interface FrameSpec {
  readonly opcode: number;
  /** The payload (a string is UTF-8); repeated up to `payloadLen` when that is given. */
  readonly payload?: Uint8Array | string;
  /** Autobahn's `payload_len`: the payload pattern repeated (and cut) to exactly this length. */
  readonly payloadLen?: number;
  /** Default `true`. */
  readonly fin?: boolean;
  /** 0–7 as Autobahn counts it: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  readonly rsv?: number;
  /**
   * The masking key, `null` for an unmasked frame. Default: a fresh random key when the
   * sender is a client (`masked` of {@link encodeFrame}).
   */
  readonly mask?: Uint8Array | null;
  /** Force a length form (7-bit, 16-bit, 64-bit) instead of the minimal one (illegal when larger). */
  readonly lengthForm?: 7 | 16 | 64;
  /** Set the most significant bit of a 64-bit length (illegal; RFC 6455 §5.2). */
  readonly lengthTopBit?: boolean;
}

/** A frame as read off the wire, payload already unmasked. */
export interface WireFrame {
  readonly fin: boolean;
  /** The three RSV bits as Autobahn counts them (4 = RSV1). */
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly payload: Buffer;
}

/** Bytes of `p` (strings as UTF-8). */
export function bytes(p: Uint8Array | string | undefined): Buffer {
  if (p === undefined) return Buffer.alloc(0);
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/** `pattern` repeated and cut to `n` bytes (Autobahn's `payload_len`). */
export function repeatTo(pattern: Uint8Array | string, n: number): Buffer {
  const p = bytes(pattern);
  const out = Buffer.allocUnsafe(n);
  if (n === 0) return out;
  if (p.length === 0) throw new RangeError('cannot repeat an empty pattern');
  let at = 0;
  while (at < n) at += p.copy(out, at, 0, Math.min(p.length, n - at));
  return out;
}

/** A fresh random 4-byte masking key. */
export function randomMask(): Buffer {
  return randomFillSync(Buffer.allocUnsafe(4));
}

/** XOR `data` with `key` in place, starting at key offset `offset` (for split payloads). */
export function xorMask(data: Buffer, key: Uint8Array, offset = 0): Buffer {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[(i + offset) & 3]!;
  return data;
}

/**
 * Encode `spec`. `masked` says whether the sender is a client (frames masked with a random key
 * unless `spec.mask` says otherwise).
 */
export function encodeFrame(spec: FrameSpec, masked: boolean): Buffer {
  const payload = spec.payloadLen !== undefined ? repeatTo(spec.payload ?? '*', spec.payloadLen) : Buffer.from(bytes(spec.payload));
  const mask = spec.mask === undefined ? (masked ? randomMask() : null) : spec.mask;
  const n = payload.length;
  const form = spec.lengthForm ?? (n <= 125 ? 7 : n <= 0xffff ? 16 : 64);
  const headLen = 2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (mask !== null ? 4 : 0);
  const out = Buffer.allocUnsafe(headLen + n);
  out[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) % 8) << 4) | (spec.opcode & 0x0f);
  const maskBit = mask !== null ? 0x80 : 0;
  let at = 2;
  if (form === 7) {
    if (n > 125) throw new RangeError('a 7-bit length holds at most 125');
    out[1] = maskBit | n;
  } else if (form === 16) {
    if (n > 0xffff) throw new RangeError('a 16-bit length holds at most 65535');
    out[1] = maskBit | 126;
    out.writeUInt16BE(n, 2);
    at = 4;
  } else {
    out[1] = maskBit | 127;
    out.writeUInt32BE((Math.floor(n / 2 ** 32) | (spec.lengthTopBit === true ? 0x80000000 : 0)) >>> 0, 2);
    out.writeUInt32BE(n >>> 0, 6);
    at = 10;
  }
  if (mask !== null) {
    out.set(mask.subarray(0, 4), at);
    at += 4;
  }
  payload.copy(out, at);
  if (mask !== null) xorMask(out.subarray(at), mask);
  return out;
}

/** A close frame payload: the code (if any) and a reason given as bytes (may be invalid UTF-8). */
export function closePayload(code?: number | null, reason: Uint8Array | string = ''): Buffer {
  const r = bytes(reason);
  if (code === undefined || code === null) return Buffer.from(r);
  const out = Buffer.allocUnsafe(2 + r.length);
  out.writeUInt16BE(code, 0);
  out.set(r, 2);
  return out;
}

/**
 * Splits a byte stream into frames, in any chunking. Only the framing itself is checked here
 * (a 64-bit length with its top bit set cannot be represented and throws); what the frames
 * mean is the fuzzer's business.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  private available = 0;

  /** Bytes received and not yet part of a returned frame. */
  get buffered(): number {
    return this.available;
  }

  /** Add bytes; returns the frames completed by them (payloads unmasked). */
  push(chunk: Buffer): WireFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.available += chunk.length;
    }
    const frames: WireFrame[] = [];
    for (;;) {
      const f = this.next();
      if (f === null) return frames;
      frames.push(f);
    }
  }

  /** Take every byte left (e.g. after the HTTP head the caller parsed). */
  drain(): Buffer {
    return this.take(this.available);
  }

  private next(): WireFrame | null {
    if (this.available < 2) return null;
    const h = this.peek(Math.min(this.available, 14));
    const b0 = h[0]!;
    const b1 = h[1]!;
    const masked = (b1 & 0x80) !== 0;
    let len = b1 & 0x7f;
    let at = 2;
    if (len === 126) {
      if (h.length < 4) return null;
      len = h.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (h.length < 10) return null;
      const hi = h.readUInt32BE(2);
      if (hi & 0x80000000) throw new Error('64-bit payload length with its most significant bit set');
      len = hi * 2 ** 32 + h.readUInt32BE(6);
      at = 10;
    }
    const total = at + (masked ? 4 : 0) + len;
    if (this.available < total) return null;
    const header = this.take(at + (masked ? 4 : 0));
    const payload = Buffer.from(this.take(len));
    if (masked) xorMask(payload, header.subarray(at, at + 4));
    return { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[this.head]!;
    if (first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    for (let i = this.head, off = this.offset; got < n; i++, off = 0) {
      const c = this.chunks[i]!;
      got += c.copy(out, got, off, Math.min(c.length, off + n - got));
    }
    return out;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[this.head]!;
    let out: Buffer;
    if (first.length - this.offset >= n) {
      out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const c = this.chunks[this.head]!;
        const k = Math.min(c.length - this.offset, n - got);
        c.copy(out, got, this.offset, this.offset + k);
        got += k;
        this.offset += k;
        if (this.offset === c.length) {
          this.head++;
          this.offset = 0;
        }
      }
    }
    if (this.head < this.chunks.length && this.offset === this.chunks[this.head]!.length) {
      this.head++;
      this.offset = 0;
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    this.available -= n;
    return out;
  }
}

/** Close codes a peer may put on the wire (RFC 6455 §7.4, IANA registry): as ws and undici allow. */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

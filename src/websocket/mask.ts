/**
 * Masking (RFC 6455 §5.3) and the random source for client masking keys.
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';

/** @internal Whether typed-array words are little-endian here (bytes at lower addresses in their low bits). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Below this many bytes building a Uint32Array view costs more than it saves.
const WORD_MIN = 64;

/**
 * The 32-bit word (in this machine's byte order) that XORs the 4 bytes of a word whose first
 * byte falls at mask phase `phase`.
 *
 * @internal
 */
export function maskWord(m0: number, m1: number, m2: number, m3: number, phase: number): number {
  let a = m0, b = m1, c = m2, d = m3;
  // Rotate the key so byte 0 of the word uses key byte `phase`.
  for (let k = 0; k < phase; k++) {
    const t = a;
    a = b;
    b = c;
    c = d;
    d = t;
  }
  return LITTLE_ENDIAN ? (a | (b << 8) | (c << 16) | (d << 24)) >>> 0 : ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/**
 * XOR `length` bytes of `source` starting at `sourceOffset` with the masking key `mask`
 * (4 bytes at `maskOffset`), writing them to `target` at `targetOffset`. `source` and `target`
 * may be the same buffer (unmasking in place). `phase` is how many payload bytes of the frame
 * precede `source[sourceOffset]`, so a payload can be processed in pieces as it arrives.
 *
 * Works four bytes at a time through a `Uint32Array` when both sides share the same alignment;
 * an all-zero key degenerates to a copy.
 *
 * @example
 * ```ts
 * const key = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
 * const data = Buffer.from('7f9f4d5158', 'hex');
 * applyMask(data, 0, data, 0, data.length, key, 0, 0); // data is now "Hello"
 * ```
 */
export function applyMask(
  source: Uint8Array,
  sourceOffset: number,
  target: Uint8Array,
  targetOffset: number,
  length: number,
  mask: Uint8Array,
  maskOffset: number,
  phase: number,
): void {
  const m0 = mask[maskOffset]!, m1 = mask[maskOffset + 1]!, m2 = mask[maskOffset + 2]!, m3 = mask[maskOffset + 3]!;
  if ((m0 | m1 | m2 | m3) === 0) {
    if (source !== target || sourceOffset !== targetOffset) {
      target.set(source.subarray(sourceOffset, sourceOffset + length), targetOffset);
    }
    return;
  }
  let i = 0;
  let p = phase & 3;
  const srcAbs = source.byteOffset + sourceOffset;
  const dstAbs = target.byteOffset + targetOffset;
  if (length >= WORD_MIN && (srcAbs & 3) === (dstAbs & 3)) {
    // Bytes until the source address is 4-aligned, then whole words, then the tail.
    const head = (4 - (srcAbs & 3)) & 3;
    for (; i < head; i++, p = (p + 1) & 3) {
      target[targetOffset + i] = source[sourceOffset + i]! ^ mask[maskOffset + p]!;
    }
    const words = (length - head) >>> 2;
    const w = maskWord(m0, m1, m2, m3, p);
    const src32 = new Uint32Array(source.buffer, srcAbs + head, words);
    const dst32 = source === target && srcAbs === dstAbs ? src32 : new Uint32Array(target.buffer, dstAbs + head, words);
    for (let k = 0; k < words; k++) dst32[k] = src32[k]! ^ w;
    i += words << 2;
  }
  for (; i < length; i++, p = (p + 1) & 3) {
    target[targetOffset + i] = source[sourceOffset + i]! ^ mask[maskOffset + p]!;
  }
}

/**
 * Where client masking keys come from. `fill` writes 4 key bytes into `target` at `offset`.
 * RFC 6455 §5.3 requires keys the server cannot predict; tests may pass a fixed source.
 */
export interface MaskSource {
  /** Write a 4-byte masking key into `target` at `offset`. */
  fill(target: Uint8Array, offset: number): void;
}

/**
 * A {@link MaskSource} backed by a pool of cryptographically random bytes (`randomFillSync`),
 * refilled when exhausted, so one system call serves `poolSize / 4` frames.
 */
export class RandomMaskSource implements MaskSource {
  private readonly pool: Uint8Array;
  private position: number;

  /** @param poolSize bytes fetched per refill (a positive multiple of 4; default 8192). */
  constructor(poolSize = 8192) {
    if (!Number.isInteger(poolSize) || poolSize < 4 || poolSize % 4 !== 0) {
      throw new RangeError('poolSize must be a positive multiple of 4');
    }
    this.pool = new Uint8Array(poolSize);
    this.position = poolSize;
  }

  /** Write the next 4 random bytes into `target[offset … offset+3]`. */
  fill(target: Uint8Array, offset: number): void {
    if (this.position === this.pool.length) {
      randomFillSync(this.pool);
      this.position = 0;
    }
    const p = this.position;
    const pool = this.pool;
    target[offset] = pool[p]!;
    target[offset + 1] = pool[p + 1]!;
    target[offset + 2] = pool[p + 2]!;
    target[offset + 3] = pool[p + 3]!;
    this.position = p + 4;
  }
}

let sharedMaskSource: RandomMaskSource | undefined;

/**
 * The process-wide random mask pool used when no {@link MaskSource} is given. It is the one piece
 * of module state in the WebSocket core: a cache of random bytes with no observable behaviour,
 * shared so that ten thousand client connections do not each hold 8 KiB.
 */
export function defaultMaskSource(): MaskSource {
  return (sharedMaskSource ??= new RandomMaskSource());
}

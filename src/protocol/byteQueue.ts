/**
 * ByteQueue: the receive buffer of the framing protocols (internal).
 *
 * Appending is amortised O(1) (a doubling buffer, compacted in place), so a
 * peer sending one byte at a time costs linear, not quadratic, copying: the
 * naive `buffer = concat(buffer, data)` of every chunk is what Twisted does
 * and what a slow-loris peer would exploit.
 */

const EMPTY = Buffer.alloc(0);
/** Storage above this size is released once the queue empties. */
const KEEP_CAPACITY = 64 * 1024;

/** Bytes as a Buffer view (no copy). */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Bytes of a string (UTF-8) or the bytes themselves. */
export function toBytes(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : asBuffer(data);
}

/** A FIFO of bytes: push at the end, take from the front. Taken bytes are copies. */
export class ByteQueue {
  private store: Buffer = EMPTY;
  private start = 0;
  private end = 0;

  /** Bytes queued. */
  get length(): number {
    return this.end - this.start;
  }

  /** Append a copy of `data`. */
  push(data: Uint8Array): void {
    const n = data.byteLength;
    if (n === 0) return;
    if (this.end + n > this.store.length) this.makeRoom(n);
    this.store.set(data, this.end);
    this.end += n;
  }

  /** Index (from the front) of `needle` at or after `from`, or -1. */
  indexOf(needle: Uint8Array, from = 0): number {
    return this.view().indexOf(needle, from);
  }

  /** The byte at `index` from the front (undefined past the end). */
  at(index: number): number | undefined {
    return index < this.length ? this.store[this.start + index] : undefined;
  }

  /**
   * A view of the queued bytes, valid only until the next push or take: for
   * parsing in place, never to hand to application code.
   */
  view(offset = 0, length = this.length - offset): Buffer {
    return this.store.subarray(this.start + offset, this.start + offset + length);
  }

  /** Remove and return (a copy of) the first `n` bytes. */
  take(n: number): Buffer {
    const out = Buffer.from(this.view(0, n));
    this.skip(n);
    return out;
  }

  /** Remove and return (a copy of) everything. */
  takeAll(): Buffer {
    return this.take(this.length);
  }

  /** Drop the first `n` bytes. */
  skip(n: number): void {
    this.start += Math.min(n, this.length);
    if (this.start === this.end) this.clear();
  }

  /** Drop everything (and large storage with it). */
  clear(): void {
    this.start = this.end = 0;
    if (this.store.length > KEEP_CAPACITY) this.store = EMPTY;
  }

  private makeRoom(n: number): void {
    const used = this.length;
    if (used + n <= this.store.length && this.start >= used) {
      // Enough room once compacted, and the move is no larger than what was consumed.
      this.store.copy(this.store, 0, this.start, this.end);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(64, 2 * (used + n)));
      this.store.copy(grown, 0, this.start, this.end);
      this.store = grown;
    }
    this.start = 0;
    this.end = used;
  }
}

/**
 * Feeding a protocol the same input in every way it may arrive: whole, split
 * in two at every position, and one byte at a time.
 */

/** One way of cutting an input into `dataReceived` calls. */
export interface Chunking {
  name: string;
  chunks: Buffer[];
}

/** Whole, every 2-way split, and byte by byte. */
export function chunkings(input: Uint8Array | string): Chunking[] {
  const b = typeof input === 'string' ? Buffer.from(input, 'latin1') : Buffer.from(input);
  const out: Chunking[] = [{ name: 'whole', chunks: [b] }];
  for (let i = 1; i < b.length; i++) out.push({ name: `split at ${i}`, chunks: [b.subarray(0, i), b.subarray(i)] });
  out.push({ name: 'bytewise', chunks: [...b].map((x) => Buffer.from([x])) });
  return out;
}

/** Chunks of `size` bytes (the last one shorter). */
export function packets(input: Uint8Array | string, size: number): Buffer[] {
  const b = typeof input === 'string' ? Buffer.from(input, 'latin1') : Buffer.from(input);
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

/** Buffers as latin1 strings, for readable comparisons. */
export function strs(bufs: readonly Uint8Array[]): string[] {
  return bufs.map((b) => Buffer.from(b).toString('latin1'));
}

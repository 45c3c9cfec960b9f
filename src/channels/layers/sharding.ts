/**
 * Which of several Redis hosts holds a key: channels_redis's `_consistent_hash`, bit for bit,
 * so a Spindle process and a Django Channels process given the same `hosts` list agree.
 * @module
 */

// CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF), what
// Python's binascii.crc32 and zlib.crc32 compute. A table: Node's zlib.crc32 only exists since 20.15.
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * The CRC-32 of `data` (a string is hashed as its UTF-8 bytes), as an unsigned 32-bit integer:
 * Python's `binascii.crc32(data)`.
 *
 * @example
 * ```ts
 * crc32('123456789'); // 0xcbf43926
 * ```
 */
export function crc32(data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * The index (0 … `ringSize` − 1) of the host that holds `value`, exactly as channels_redis
 * computes it: `int((crc32(value) & 0xFFF) / (4096 / ringSize))`, and 0 with one host. The
 * order of the hosts list matters: reorder it and keys move.
 *
 * channels_redis hashes the group name for a group's key, and the non-local part of a channel
 * name (`specific.abc!`) for a process-local channel. (Its own `send` hashes the full name of a
 * process-local channel, which sends the message to a host its receiver never polls — its issue
 * #221; Spindle's layer hashes the non-local part for `send` too.)
 *
 * @throws RangeError when `ringSize` is not a positive integer.
 *
 * @example
 * ```ts
 * consistentHash('specific.abc!', 2); // 1  (crc32 & 0xFFF = 3651)
 * ```
 */
export function consistentHash(value: string, ringSize: number): number {
  if (!Number.isInteger(ringSize) || ringSize < 1) throw new RangeError(`ringSize must be a positive integer, not ${String(ringSize)}`);
  if (ringSize === 1) return 0;
  // The same IEEE double division Python performs, then truncation (int()).
  return Math.trunc((crc32(value) & 0xfff) / (4096 / ringSize));
}

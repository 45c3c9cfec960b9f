/**
 * The msgpack encoder: JS values to the bytes Python's `msgpack.packb(value, use_bin_type=True)`
 * produces for the corresponding Python values.
 *
 * @module
 */
import { DEFAULT_MSGPACK_MAX_DEPTH, MsgpackExt } from './decode.js';

/** Stable identifiers of encode failures. */
export type MsgpackEncodeErrorCode =
  /** `undefined` (a hole in an array, an absent property's value) without `undefinedAsNil`. */
  | 'UNDEFINED'
  /** An array, map or object that contains itself. */
  | 'CYCLE'
  /** Arrays and maps nested deeper than `maxDepth`. */
  | 'TOO_DEEP'
  /** A bigint outside −2^63…2^64 − 1. */
  | 'INT_RANGE'
  /** A value msgpack has no type for (a symbol, a function, a Date, a class instance…). */
  | 'UNSUPPORTED_TYPE'
  /** A string with a lone UTF-16 surrogate: it has no UTF-8 form. */
  | 'INVALID_STRING'
  /** A string, bin, ext, array or map longer than 2^32 − 1. */
  | 'TOO_LONG';

/** The value cannot be encoded. Nothing is returned, nothing partial escapes. */
export class MsgpackEncodeError extends Error {
  override name = 'MsgpackEncodeError';
  constructor(
    /** Why. */
    readonly code: MsgpackEncodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link encode}. */
export interface EncodeOptions {
  /** Encode `undefined` as nil instead of throwing `UNDEFINED`. Default `false`. */
  undefinedAsNil?: boolean;
  /** Deepest nesting of arrays and maps; deeper throws `TOO_DEEP`. Default 100 (what `decode` accepts). */
  maxDepth?: number;
  /**
   * Called with a value msgpack has no type for (like Python's `default=`); what it returns is
   * encoded in its place (a Date as its epoch milliseconds, say). What it returns must itself be
   * encodable without it. Without it such values throw `UNSUPPORTED_TYPE`.
   */
  fallback?: (value: unknown) => unknown;
}

const TWO_32 = 2 ** 32;
const TWO_53 = 2 ** 53;
const UINT64_MAX = 2n ** 64n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT32_MAX_BIG = 0xffffffffn;
const INT32_MIN_BIG = -(2n ** 31n);
const MAX_LENGTH = 0xffffffff;

// One scratch buffer serves every encode (and is copied out at the end), so a small message
// costs one right-sized allocation. A buffer that grew big is not kept.
const SCRATCH_SIZE = 8 * 1024;
const KEEP_SCRATCH = 1024 * 1024;
let scratch: Buffer = Buffer.allocUnsafe(SCRATCH_SIZE);
let scratchInUse = false;

const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function isWellFormed(s: string): boolean {
  return nativeIsWellFormed !== undefined ? nativeIsWellFormed.call(s) : !LONE_SURROGATE.test(s);
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (typeof v !== 'object' && typeof v !== 'function') return typeof v;
  if (v === null) return 'null';
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'object';
}

class Encoder {
  buf: Buffer;
  pos = 0;
  private readonly ancestors: object[] = [];
  private readonly undefinedAsNil: boolean;
  private readonly maxDepth: number;
  private readonly fallback: ((value: unknown) => unknown) | undefined;

  constructor(buf: Buffer, options: EncodeOptions) {
    this.buf = buf;
    this.undefinedAsNil = options.undefinedAsNil === true;
    this.maxDepth = options.maxDepth ?? DEFAULT_MSGPACK_MAX_DEPTH;
    if (!(this.maxDepth >= 0)) throw new RangeError(`maxDepth must be a non-negative number, not ${String(this.maxDepth)}`);
    this.fallback = options.fallback;
  }

  private ensure(n: number): void {
    if (this.pos + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
  }

  value(v: unknown, fallbackAllowed = true): void {
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        return this.number(v);
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case 'bigint':
        return this.bigint(v);
      case 'undefined':
        if (!this.undefinedAsNil) throw new MsgpackEncodeError('UNDEFINED', 'cannot encode undefined (pass undefinedAsNil: true to encode it as nil)');
        this.ensure(1);
        this.buf[this.pos++] = 0xc0;
        return;
      case 'object':
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = 0xc0;
          return;
        }
        if (v instanceof Uint8Array) return this.bin(v);
        if (Array.isArray(v)) return this.array(v);
        if (v instanceof Map) return this.map(v);
        if (v instanceof MsgpackExt) return this.ext(v);
        if (v instanceof ArrayBuffer) return this.bin(new Uint8Array(v));
        if (isPlainObject(v)) return this.object(v as Record<string, unknown>);
    }
    if (fallbackAllowed && this.fallback !== undefined) return this.value(this.fallback(v), false);
    throw new MsgpackEncodeError('UNSUPPORTED_TYPE', `msgpack cannot encode a ${describe(v)}`);
  }

  private number(n: number): void {
    // Integers within ±2^53 take the smallest int form; everything else (fractions, NaN, ±Infinity,
    // -0, integers beyond 2^53 whose exact value is unknowable) is a float64, never a float32,
    // as Python packs its floats.
    if (Number.isInteger(n) && n >= -TWO_53 && n <= TWO_53 && !Object.is(n, -0)) return this.integer(n);
    this.ensure(9);
    this.buf[this.pos] = 0xcb;
    this.buf.writeDoubleBE(n, this.pos + 1);
    this.pos += 9;
  }

  private integer(n: number): void {
    this.ensure(9);
    const buf = this.buf;
    let p = this.pos;
    if (n >= 0) {
      if (n < 0x80) {
        buf[p++] = n;
      } else if (n < 0x100) {
        buf[p++] = 0xcc;
        buf[p++] = n;
      } else if (n < 0x10000) {
        buf[p++] = 0xcd;
        buf.writeUInt16BE(n, p);
        p += 2;
      } else if (n < TWO_32) {
        buf[p++] = 0xce;
        buf.writeUInt32BE(n, p);
        p += 4;
      } else {
        buf[p++] = 0xcf;
        buf.writeUInt32BE(Math.floor(n / TWO_32), p);
        buf.writeUInt32BE(n >>> 0, p + 4);
        p += 8;
      }
    } else if (n >= -0x20) {
      buf[p++] = n & 0xff;
    } else if (n >= -0x80) {
      buf[p++] = 0xd0;
      buf.writeInt8(n, p);
      p += 1;
    } else if (n >= -0x8000) {
      buf[p++] = 0xd1;
      buf.writeInt16BE(n, p);
      p += 2;
    } else if (n >= -0x80000000) {
      buf[p++] = 0xd2;
      buf.writeInt32BE(n, p);
      p += 4;
    } else {
      buf[p++] = 0xd3;
      const hi = Math.floor(n / TWO_32);
      buf.writeInt32BE(hi, p);
      buf.writeUInt32BE(n - hi * TWO_32, p + 4);
      p += 8;
    }
    this.pos = p;
  }

  private bigint(n: bigint): void {
    // By value, like Python's ints: the same smallest form a number of that value gets.
    if (n >= INT32_MIN_BIG && n <= UINT32_MAX_BIG) return this.integer(Number(n));
    this.ensure(9);
    if (n > 0n) {
      if (n > UINT64_MAX) throw new MsgpackEncodeError('INT_RANGE', `${n} is over the largest msgpack integer, 2^64 - 1`);
      this.buf[this.pos] = 0xcf;
      this.buf.writeBigUInt64BE(n, this.pos + 1);
    } else {
      if (n < INT64_MIN) throw new MsgpackEncodeError('INT_RANGE', `${n} is under the smallest msgpack integer, -2^63`);
      this.buf[this.pos] = 0xd3;
      this.buf.writeBigInt64BE(n, this.pos + 1);
    }
    this.pos += 9;
  }

  private string(s: string): void {
    const chars = s.length;
    if (chars <= 85) {
      // At most 255 bytes (3 per UTF-16 unit): fixstr or str8.
      this.ensure(2 + 3 * chars);
      const buf = this.buf;
      const start = this.pos;
      if (chars < 32) {
        // Most likely ASCII, so a fixstr of `chars` bytes: write it in place.
        let i = 0;
        for (; i < chars; i++) {
          const c = s.charCodeAt(i);
          if (c >= 0x80) break;
          buf[start + 1 + i] = c;
        }
        if (i === chars) {
          buf[start] = 0xa0 | chars;
          this.pos = start + 1 + chars;
          return;
        }
      }
      // Write the text after a two-byte header, then pull it back one byte if it turned out
      // short enough for a fixstr.
      const n = this.utf8(s, start + 2);
      if (n < 32) {
        for (let i = 0; i < n; i++) buf[start + 1 + i] = buf[start + 2 + i]!;
        buf[start] = 0xa0 | n;
        this.pos = start + 1 + n;
      } else {
        this.buf[start] = 0xd9;
        this.buf[start + 1] = n;
        this.pos = start + 2 + n;
      }
      return;
    }
    if (!isWellFormed(s)) throw new MsgpackEncodeError('INVALID_STRING', 'a string with a lone surrogate has no UTF-8 form');
    const n = Buffer.byteLength(s, 'utf8');
    this.header(n, 0xd9, 0xda, 0xdb, 'string');
    this.ensure(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }

  // UTF-8 by hand for short strings (no call into the runtime); returns the byte count.
  private utf8(s: string, at: number): number {
    const buf = this.buf;
    let p = at;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        buf[p++] = c;
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const d = c <= 0xdbff ? s.charCodeAt(i + 1) : NaN;
        if (!(d >= 0xdc00 && d <= 0xdfff)) throw new MsgpackEncodeError('INVALID_STRING', 'a string with a lone surrogate has no UTF-8 form');
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[p++] = 0xf0 | (c >> 18);
        buf[p++] = 0x80 | ((c >> 12) & 0x3f);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      } else {
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      }
    }
    return p - at;
  }

  /** A length header: the 8-, 16- or 32-bit form (`small` at 0 skips the 8-bit one). */
  private header(n: number, small: number, medium: number, large: number, what: string): void {
    this.ensure(5);
    const buf = this.buf;
    if (n < 0x100 && small !== 0) {
      buf[this.pos++] = small;
      buf[this.pos++] = n;
    } else if (n < 0x10000) {
      buf[this.pos++] = medium;
      buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else if (n <= MAX_LENGTH) {
      buf[this.pos++] = large;
      buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    } else {
      throw new MsgpackEncodeError('TOO_LONG', `a ${what} of ${n} is longer than msgpack can count (2^32 - 1)`);
    }
  }

  private bin(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    this.header(n, 0xc4, 0xc5, 0xc6, 'bin');
    this.ensure(n);
    this.buf.set(bytes, this.pos);
    this.pos += n;
  }

  private ext(ext: MsgpackExt): void {
    const n = ext.data.byteLength;
    const fixed = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    if (fixed !== 0) {
      this.ensure(1);
      this.buf[this.pos++] = fixed;
    } else {
      this.header(n, 0xc7, 0xc8, 0xc9, 'ext');
    }
    this.ensure(1 + n);
    this.buf.writeInt8(ext.type, this.pos);
    this.buf.set(ext.data, this.pos + 1);
    this.pos += 1 + n;
  }

  private containerHeader(n: number, fix: number, medium: number, large: number, what: string): void {
    if (n < 16) {
      this.ensure(1);
      this.buf[this.pos++] = fix | n;
    } else {
      this.header(n, 0, medium, large, what);
    }
  }

  private enter(v: object): void {
    if (this.ancestors.includes(v)) throw new MsgpackEncodeError('CYCLE', `a ${describe(v)} that contains itself`);
    if (this.ancestors.length >= this.maxDepth) throw new MsgpackEncodeError('TOO_DEEP', `arrays and maps nested deeper than ${this.maxDepth}`);
    this.ancestors.push(v);
  }

  private array(a: readonly unknown[]): void {
    this.enter(a);
    const n = a.length;
    this.containerHeader(n, 0x90, 0xdc, 0xdd, 'array');
    for (let i = 0; i < n; i++) this.value(a[i]);
    this.ancestors.pop();
  }

  private map(m: Map<unknown, unknown>): void {
    this.enter(m);
    this.containerHeader(m.size, 0x80, 0xde, 0xdf, 'map');
    for (const [k, v] of m) {
      this.value(k);
      this.value(v);
    }
    this.ancestors.pop();
  }

  private object(o: Record<string, unknown>): void {
    this.enter(o);
    const keys = Object.keys(o);
    this.containerHeader(keys.length, 0x80, 0xde, 0xdf, 'map');
    for (const k of keys) {
      this.string(k);
      this.value(o[k]);
    }
    this.ancestors.pop();
  }
}

/**
 * Encode a value as msgpack (like Python's `msgpack.packb(value, use_bin_type=True)`), into a
 * new Buffer of exactly the encoded size.
 *
 * | JS | msgpack |
 * | --- | --- |
 * | `null` (`undefined` with `undefinedAsNil`) | nil |
 * | `boolean` | bool |
 * | integer `number` within ±2^53, `bigint` within −2^63…2^64 − 1 | the smallest int form (positive fixint, uint 8/16/32/64, negative fixint, int 8/16/32/64), as Python |
 * | other `number` (fractions, NaN, ±Infinity, −0, beyond ±2^53) | float64, never float32 |
 * | `string` | fixstr / str 8/16/32, UTF-8 |
 * | `Uint8Array` (so `Buffer`), `ArrayBuffer` | bin 8/16/32 |
 * | array | fixarray / array 16/32 |
 * | `Map` (keys of any type), plain object (string keys, in `Object.keys` order) | fixmap / map 16/32 |
 * | {@link MsgpackExt} | fixext 1/2/4/8/16 / ext 8/16/32 |
 *
 * @throws MsgpackEncodeError (`code`: `UNDEFINED`, `CYCLE`, `TOO_DEEP`, `INT_RANGE`,
 *   `UNSUPPORTED_TYPE` — a Date, Set, class instance, symbol or function, unless `fallback`
 *   handles it —, `INVALID_STRING` for a lone surrogate, `TOO_LONG`).
 *
 * @example
 * ```ts
 * const member = encode({ type: 'chat.message', text: 'hi', raw: Buffer.from([0, 1]) });
 * // <Buffer 83 a4 74 79 70 65 ac 63 68 61 74 2e 6d 65 73 73 61 67 65 a4 74 65 78 74 a2 68 69 a3 72 61 77 c4 02 00 01>
 * decode(member); // { type: 'chat.message', text: 'hi', raw: <Buffer 00 01> }
 * ```
 */
export function encode(value: unknown, options: EncodeOptions = {}): Buffer {
  // A fallback (or a getter) may call encode again while the scratch buffer is in use.
  const reuse = !scratchInUse;
  const encoder = new Encoder(reuse ? scratch : Buffer.allocUnsafe(SCRATCH_SIZE), options);
  if (reuse) scratchInUse = true;
  try {
    encoder.value(value);
    const out = Buffer.allocUnsafe(encoder.pos);
    encoder.buf.copy(out, 0, 0, encoder.pos);
    return out;
  } finally {
    if (reuse) {
      scratchInUse = false;
      scratch = encoder.buf.length <= KEEP_SCRATCH ? encoder.buf : Buffer.allocUnsafe(SCRATCH_SIZE);
    }
  }
}

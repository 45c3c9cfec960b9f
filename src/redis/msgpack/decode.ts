/**
 * The msgpack decoder (the whole format), and the types it shares with the encoder.
 *
 * @module
 */
import { isUtf8 } from 'node:buffer';

/**
 * A decoded msgpack value. nil → `null`; bool → `boolean`; ints → `number` within ±2^53,
 * `bigint` beyond; float32/float64 → `number`; str → `string`; bin → `Buffer` (a copy);
 * array → array; map → a plain object with string keys (or a `Map` with `maps: 'map'`);
 * ext → {@link MsgpackExt} (with `extensions: 'raw'`).
 */
export type MsgpackValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | MsgpackValue[]
  | MsgpackObject
  | Map<MsgpackValue, MsgpackValue>
  | MsgpackExt;

/** A msgpack map decoded as a plain object. */
export interface MsgpackObject {
  [key: string]: MsgpackValue;
}

/**
 * An extension value: an application-defined `type` (−128…127; negative types are reserved by
 * the spec, −1 being the timestamp) and its opaque bytes. {@link decode} returns it for ext and
 * fixext when asked to (`extensions: 'raw'`); `encode` writes it as fixext 1/2/4/8/16
 * when the size fits, ext 8/16/32 otherwise — the same bytes as Python's `msgpack.ExtType`.
 *
 * @example
 * ```ts
 * encode(new MsgpackExt(5, Uint8Array.of(1))); // <Buffer d4 05 01>
 * ```
 */
export class MsgpackExt {
  /** The extension type, an integer in −128…127. */
  readonly type: number;
  /** The payload. */
  readonly data: Uint8Array;

  /**
   * @throws RangeError if `type` is not an integer in −128…127; TypeError if `data` is not bytes.
   */
  constructor(type: number, data: Uint8Array) {
    if (!Number.isInteger(type) || type < -128 || type > 127) throw new RangeError(`an ext type is an integer in -128..127, not ${type}`);
    if (!(data instanceof Uint8Array)) throw new TypeError('ext data must be a Uint8Array');
    this.type = type;
    this.data = data;
  }
}

/** Stable identifiers of decode failures. */
export type MsgpackDecodeErrorCode =
  /** The input ends inside a value, or a length claims more bytes than remain. */
  | 'TRUNCATED'
  /** Bytes remain after the value. */
  | 'EXTRA_DATA'
  /** The byte 0xc1, which msgpack never uses. */
  | 'INVALID_BYTE'
  /** Arrays and maps nested deeper than `maxDepth`. */
  | 'TOO_DEEP'
  /** A map key that is not a string, while decoding maps to plain objects. */
  | 'NON_STRING_KEY'
  /** A str that is not valid UTF-8. */
  | 'INVALID_UTF8'
  /** An ext or fixext value while `extensions` is `'error'` (see {@link ExtensionNotSupported}). */
  | 'EXTENSION_NOT_SUPPORTED';

/** The input is not a msgpack value this decoder accepts. Nothing partial is returned. */
export class MsgpackDecodeError extends Error {
  override name = 'MsgpackDecodeError';
  constructor(
    /** Which rule was broken. */
    readonly code: MsgpackDecodeErrorCode,
    message: string,
    /** Offset in the input of the value at fault. */
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
  }
}

/**
 * The input holds an ext or fixext value (a timestamp, type −1, included) and the decoder was
 * not told to accept them. Channels messages never contain one; pass `extensions: 'raw'` to get
 * {@link MsgpackExt} values instead.
 */
export class ExtensionNotSupported extends MsgpackDecodeError {
  override name = 'ExtensionNotSupported';
  constructor(
    /** The extension type found. */
    readonly extType: number,
    offset: number,
  ) {
    super('EXTENSION_NOT_SUPPORTED', `msgpack extension type ${extType} is not supported (decode with extensions: 'raw' to get it)`, offset);
  }
}

/** Options of {@link decode}. */
export interface DecodeOptions {
  /** `'error'` (default): an ext value throws {@link ExtensionNotSupported}. `'raw'`: it decodes to a {@link MsgpackExt}. */
  extensions?: 'error' | 'raw';
  /**
   * `'object'` (default): maps decode to plain objects, and a key that is not a string throws
   * `NON_STRING_KEY` (the JS counterpart of Python's `strict_map_key`). `'map'`: every map
   * decodes to a `Map`, with keys of any type.
   */
  maps?: 'object' | 'map';
  /** Deepest nesting of arrays and maps; deeper throws `TOO_DEEP`. Default 100. */
  maxDepth?: number;
}

/** Default `maxDepth` of {@link decode} (and of `encode`). */
export const DEFAULT_MSGPACK_MAX_DEPTH = 100;

const TWO_32 = 2 ** 32;
const TWO_53 = 2 ** 53;
const BIG_TWO_53 = 2n ** 53n;
// Strings up to this many bytes are decoded by hand: cheaper than a call into the runtime.
const SHORT_STRING = 32;

/** Decode (and validate) UTF-8 by hand; `undefined` when invalid. */
function decodeShortUtf8(b: Uint8Array, i: number, end: number): string | undefined {
  const units: number[] = [];
  while (i < end) {
    const c = b[i++]!;
    if (c < 0x80) {
      units.push(c);
    } else if (c < 0xc2) {
      return undefined; // a continuation byte, or an overlong two-byte lead
    } else if (c < 0xe0) {
      if (i >= end) return undefined;
      const c1 = b[i++]!;
      if ((c1 & 0xc0) !== 0x80) return undefined;
      units.push(((c & 0x1f) << 6) | (c1 & 0x3f));
    } else if (c < 0xf0) {
      if (i + 1 >= end) return undefined;
      const c1 = b[i]!;
      const c2 = b[i + 1]!;
      i += 2;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return undefined;
      if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0)) return undefined; // overlong; surrogate
      units.push(((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f));
    } else if (c < 0xf5) {
      if (i + 2 >= end) return undefined;
      const c1 = b[i]!;
      const c2 = b[i + 1]!;
      const c3 = b[i + 2]!;
      i += 3;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) return undefined;
      if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 >= 0x90)) return undefined; // overlong; > U+10FFFF
      const cp = (((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f)) - 0x10000;
      units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
    } else {
      return undefined;
    }
  }
  return String.fromCharCode(...units);
}

class Reader {
  pos = 0;
  private depth = 0;
  private readonly length: number;

  constructor(
    private readonly bytes: Buffer,
    private readonly view: DataView,
    private readonly rawExt: boolean,
    private readonly useMap: boolean,
    private readonly maxDepth: number,
  ) {
    this.length = bytes.length;
  }

  fail(code: MsgpackDecodeErrorCode, message: string, offset: number): never {
    throw new MsgpackDecodeError(code, message, offset);
  }

  /** Claim `n` bytes at pos (header or payload); their offset. */
  private take(n: number, start: number): number {
    const at = this.pos;
    if (n > this.length - at) this.fail('TRUNCATED', `needs ${n} bytes, ${this.length - at} left`, start);
    this.pos = at + n;
    return at;
  }

  value(): MsgpackValue {
    const start = this.pos;
    if (start >= this.length) this.fail('TRUNCATED', 'input ends where a value should start', start);
    const b = this.bytes[start]!;
    this.pos = start + 1;
    if (b < 0x80) return b; // positive fixint
    if (b >= 0xe0) return b - 0x100; // negative fixint
    if (b >= 0xa0 && b < 0xc0) return this.str(b & 0x1f, start);
    if (b >= 0x90 && b < 0xa0) return this.array(b & 0x0f, start);
    if (b < 0x90) return this.map(b & 0x0f, start);
    const view = this.view;
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.bytes[this.take(1, start)]!, start);
      case 0xc5:
        return this.bin(view.getUint16(this.take(2, start)), start);
      case 0xc6:
        return this.bin(view.getUint32(this.take(4, start)), start);
      case 0xc7:
        return this.ext(this.bytes[this.take(1, start)]!, start);
      case 0xc8:
        return this.ext(view.getUint16(this.take(2, start)), start);
      case 0xc9:
        return this.ext(view.getUint32(this.take(4, start)), start);
      case 0xca:
        return view.getFloat32(this.take(4, start));
      case 0xcb:
        return view.getFloat64(this.take(8, start));
      case 0xcc:
        return this.bytes[this.take(1, start)]!;
      case 0xcd:
        return view.getUint16(this.take(2, start));
      case 0xce:
        return view.getUint32(this.take(4, start));
      case 0xcf: {
        const at = this.take(8, start);
        const hi = view.getUint32(at);
        // Below 2^53 (hi < 2^21) the double is exact; 2^53 itself too.
        if (hi < 0x200000) return hi * TWO_32 + view.getUint32(at + 4);
        const big = view.getBigUint64(at);
        return big === BIG_TWO_53 ? TWO_53 : big;
      }
      case 0xd0:
        return view.getInt8(this.take(1, start));
      case 0xd1:
        return view.getInt16(this.take(2, start));
      case 0xd2:
        return view.getInt32(this.take(4, start));
      case 0xd3: {
        const at = this.take(8, start);
        const hi = view.getInt32(at);
        // -2^53 <= value < 2^53 when -2^21 <= hi < 2^21.
        if (hi >= -0x200000 && hi < 0x200000) return hi * TWO_32 + view.getUint32(at + 4);
        const big = view.getBigInt64(at);
        return big === BIG_TWO_53 ? TWO_53 : big;
      }
      case 0xd4:
        return this.ext(1, start);
      case 0xd5:
        return this.ext(2, start);
      case 0xd6:
        return this.ext(4, start);
      case 0xd7:
        return this.ext(8, start);
      case 0xd8:
        return this.ext(16, start);
      case 0xd9:
        return this.str(this.bytes[this.take(1, start)]!, start);
      case 0xda:
        return this.str(view.getUint16(this.take(2, start)), start);
      case 0xdb:
        return this.str(view.getUint32(this.take(4, start)), start);
      case 0xdc:
        return this.array(view.getUint16(this.take(2, start)), start);
      case 0xdd:
        return this.array(view.getUint32(this.take(4, start)), start);
      case 0xde:
        return this.map(view.getUint16(this.take(2, start)), start);
      case 0xdf:
        return this.map(view.getUint32(this.take(4, start)), start);
      default: // 0xc1
        return this.fail('INVALID_BYTE', 'byte 0xc1 is never used by msgpack', start);
    }
  }

  private str(n: number, start: number): string {
    const at = this.take(n, start);
    const end = at + n;
    if (n <= SHORT_STRING) {
      const s = decodeShortUtf8(this.bytes, at, end);
      if (s === undefined) this.fail('INVALID_UTF8', 'a str that is not valid UTF-8', start);
      return s;
    }
    if (!isUtf8(this.bytes.subarray(at, end))) this.fail('INVALID_UTF8', 'a str that is not valid UTF-8', start);
    return this.bytes.toString('utf8', at, end);
  }

  private bin(n: number, start: number): Buffer {
    const at = this.take(n, start);
    // A copy: the value must not pin, nor change with, the caller's input.
    return Buffer.from(this.bytes.subarray(at, at + n));
  }

  private ext(n: number, start: number): MsgpackExt {
    const at = this.take(n + 1, start);
    const type = this.view.getInt8(at);
    if (!this.rawExt) throw new ExtensionNotSupported(type, start);
    return new MsgpackExt(type, Buffer.from(this.bytes.subarray(at + 1, at + 1 + n)));
  }

  private enter(start: number): void {
    if (++this.depth > this.maxDepth) this.fail('TOO_DEEP', `arrays and maps nested deeper than ${this.maxDepth}`, start);
  }

  private array(n: number, start: number): MsgpackValue[] {
    // Every element takes at least a byte: a count beyond what is left is a lie, refused
    // before anything is allocated for it.
    if (n > this.length - this.pos) this.fail('TRUNCATED', `an array of ${n} elements in ${this.length - this.pos} bytes`, start);
    this.enter(start);
    const out: MsgpackValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value());
    this.depth--;
    return out;
  }

  private map(n: number, start: number): MsgpackObject | Map<MsgpackValue, MsgpackValue> {
    if (n * 2 > this.length - this.pos) this.fail('TRUNCATED', `a map of ${n} entries in ${this.length - this.pos} bytes`, start);
    this.enter(start);
    if (this.useMap) {
      const map = new Map<MsgpackValue, MsgpackValue>();
      for (let i = 0; i < n; i++) {
        const key = this.value();
        map.set(key, this.value());
      }
      this.depth--;
      return map;
    }
    const obj: MsgpackObject = {};
    for (let i = 0; i < n; i++) {
      const keyAt = this.pos;
      const key = this.value();
      if (typeof key !== 'string') this.fail('NON_STRING_KEY', `a map key of type ${describe(key)} (decode with maps: 'map' to accept it)`, keyAt);
      const value = this.value();
      // Assigning "__proto__" would set the prototype: define it as an own property instead.
      if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      else obj[key] = value;
    }
    this.depth--;
    return obj;
  }
}

function describe(v: MsgpackValue): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return 'bin';
  if (Array.isArray(v)) return 'array';
  if (v instanceof MsgpackExt) return 'ext';
  return typeof v === 'object' ? 'map' : typeof v;
}

/**
 * Decode one msgpack value that fills `input` exactly (like Python's `msgpack.unpackb` with
 * `raw=False`).
 *
 * Safe on hostile input: every length is checked against the bytes that remain before anything
 * is allocated for it, nesting is capped by `maxDepth`, strings must be valid UTF-8, and a map
 * key `"__proto__"` becomes an own property, never the prototype. Bin values are copies.
 *
 * @throws MsgpackDecodeError (`code` says why: `TRUNCATED`, `EXTRA_DATA`, `INVALID_BYTE`,
 *   `TOO_DEEP`, `NON_STRING_KEY`, `INVALID_UTF8`); {@link ExtensionNotSupported} for an ext value
 *   unless `extensions: 'raw'`; TypeError if `input` is not a Uint8Array.
 *
 * @example
 * ```ts
 * decode(Buffer.from('82a474797065a2686ba16ecf1000000000000000', 'hex'));
 * // { type: 'hk', n: 1152921504606846976n }
 * decode(Buffer.from('8101a161', 'hex'), { maps: 'map' }); // Map(1) { 1 => 'a' }
 * ```
 */
export function decode(input: Uint8Array, options: DecodeOptions = {}): MsgpackValue {
  if (!(input instanceof Uint8Array)) throw new TypeError(`decode takes bytes (a Uint8Array or Buffer), not ${typeof input}`);
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const maxDepth = options.maxDepth ?? DEFAULT_MSGPACK_MAX_DEPTH;
  if (!(maxDepth >= 0)) throw new RangeError(`maxDepth must be a non-negative number, not ${String(maxDepth)}`);
  const reader = new Reader(
    bytes,
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    options.extensions === 'raw',
    options.maps === 'map',
    maxDepth,
  );
  const value = reader.value();
  if (reader.pos !== bytes.length) reader.fail('EXTRA_DATA', `${bytes.length - reader.pos} bytes after the value`, reader.pos);
  return value;
}

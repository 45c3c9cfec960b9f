/**
 * The msgpack codec on its own: the JS mapping rules, forms Python never writes (non-minimal
 * lengths and ints), every refusal with its code, limits, and a seeded round-trip sweep.
 * (Python's bytes are checked in msgpack-python.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  ExtensionNotSupported,
  MsgpackDecodeError,
  MsgpackEncodeError,
  MsgpackExt,
  decode,
  encode,
  type DecodeOptions,
  type EncodeOptions,
} from '../../src/redis/msgpack/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const enc = (v: unknown, o?: EncodeOptions): string => encode(v, o).toString('hex');

function decodeCode(input: Uint8Array, options?: DecodeOptions): string {
  try {
    decode(input, options);
  } catch (e) {
    if (e instanceof MsgpackDecodeError) return e.code;
    throw e;
  }
  return 'no error';
}

function encodeCode(value: unknown, options?: EncodeOptions): string {
  try {
    encode(value, options);
  } catch (e) {
    if (e instanceof MsgpackEncodeError) return e.code;
    throw e;
  }
  return 'no error';
}

function nested(depth: number, leaf: unknown = 0): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('encode: numbers', () => {
  it.each([
    ['0', 0, '00'],
    ['-0 stays a float64 (sign kept)', -0, 'cb8000000000000000'],
    ['127', 127, '7f'],
    ['-32', -32, 'e0'],
    ['-33', -33, 'd0df'],
    ['1.5', 1.5, 'cb3ff8000000000000'],
    ['0.1 as float64, never float32', 0.1, 'cb3fb999999999999a'],
    ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER, 'cf001fffffffffffff'],
    ['2^53 is still an int', 2 ** 53, 'cf0020000000000000'],
    ['-(2^53) is still an int', -(2 ** 53), 'd3ffe0000000000000'],
    ['2^53 + 2 is a float64', 2 ** 53 + 2, 'cb4340000000000001'],
    ['-(2^31) - 1', -(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    ['-(2^32)', -(2 ** 32), 'd3ffffffff00000000'],
    ['1e20 is a float64', 1e20, 'cb4415af1d78b58c40'],
    ['NaN', NaN, 'cb7ff8000000000000'],
    ['Infinity', Infinity, 'cb7ff0000000000000'],
    ['-Infinity', -Infinity, 'cbfff0000000000000'],
  ])('%s', (_name, value, bytes) => {
    expect(enc(value)).toBe(bytes);
  });

  it.each([
    ['0n', 0n, '00'],
    ['5n', 5n, '05'],
    ['-1n', -1n, 'ff'],
    ['-(2^31)n', -(2n ** 31n), 'd280000000'],
    ['-(2^31)n - 1n', -(2n ** 31n) - 1n, 'd3ffffffff7fffffff'],
    ['2^32n - 1n', 2n ** 32n - 1n, 'ceffffffff'],
    ['2^32n', 2n ** 32n, 'cf0000000100000000'],
    ['2^60n', 2n ** 60n, 'cf1000000000000000'],
    ['2^64n - 1n', 2n ** 64n - 1n, 'cfffffffffffffffff'],
    ['-(2^63)n', -(2n ** 63n), 'd38000000000000000'],
  ])('bigint %s takes the smallest form, as a Python int', (_name, value, bytes) => {
    expect(enc(value)).toBe(bytes);
  });

  it.each([
    ['2^64', 2n ** 64n],
    ['-(2^63) - 1', -(2n ** 63n) - 1n],
    ['10^30', 10n ** 30n],
  ])('bigint %s is out of range', (_name, value) => {
    expect(encodeCode(value)).toBe('INT_RANGE');
  });

  it('every integer from -70000 to 70000 decodes back to itself', () => {
    for (let i = -70000; i <= 70000; i += 7) expect(decode(encode(i))).toBe(i);
  });
});

describe('decode: forms Python does not write', () => {
  it.each([
    ['uint64 5', 'cf0000000000000005', 5],
    ['int64 -1', 'd3ffffffffffffffff', -1],
    ['int8 5', 'd005', 5],
    ['uint16 1', 'cd0001', 1],
    ['uint64 2^53 is a number', 'cf0020000000000000', 2 ** 53],
    ['uint64 2^53 + 1 is a bigint', 'cf0020000000000001', 2n ** 53n + 1n],
    ['int64 -(2^53) is a number', 'd3ffe0000000000000', -(2 ** 53)],
    ['int64 -(2^53) - 1 is a bigint', 'd3ffdfffffffffffff', -(2n ** 53n) - 1n],
    ['int64 2^53 is a number', 'd30020000000000000', 2 ** 53],
    ['str8 of 1', 'd90161', 'a'],
    ['str16 of 1', 'da000161', 'a'],
    ['str32 of 1', 'db0000000161', 'a'],
    ['bin16 of 1', 'c5000100', Buffer.from([0])],
    ['bin32 of 0', 'c600000000', Buffer.alloc(0)],
    ['array16 of 1', 'dc000101', [1]],
    ['array32 of 0', 'dd00000000', []],
    ['map16 of 1', 'de0001a16101', { a: 1 }],
    ['map32 of 0', 'df00000000', {}],
    ['float32 -0', 'ca80000000', -0],
    ['float64 -0', 'cb8000000000000000', -0],
  ])('%s', (_name, bytes, value) => {
    expect(decode(hex(bytes))).toEqual(value);
  });

  it('decodes a Uint8Array view that does not start at 0 (not a Buffer)', () => {
    const backing = new Uint8Array([0xff, 0xff, 0x92, 0x01, 0xa1, 0x61, 0xff]);
    expect(decode(backing.subarray(2, 6))).toEqual([1, 'a']);
  });

  it('returns bin as a copy: changing the input later changes nothing', () => {
    const input = hex('c403010203');
    const value = decode(input) as Buffer;
    input.fill(0);
    expect(value).toEqual(Buffer.from([1, 2, 3]));
  });

  it('decodes long strings (native path) with 4-byte sequences', () => {
    const s = '😀é€a'.repeat(100);
    expect(decode(encode(s))).toBe(s);
  });
});

describe('length classes Python fixtures leave out (too big to commit)', () => {
  it.each([
    ['str16 of 65535', 'x'.repeat(65535), 'daffff'],
    ['bin16 of 65535', Buffer.alloc(65535, 7), 'c5ffff'],
    ['array16 of 65535', new Array<number>(65535).fill(1), 'dcffff'],
    ['ext32 of 65536', new MsgpackExt(9, Buffer.alloc(65536, 1)), 'c90001000009'],
    ['ext16 of 65535', new MsgpackExt(9, Buffer.alloc(65535, 1)), 'c8ffff09'],
  ])('%s', (_name, value, head) => {
    const bytes = encode(value);
    expect(bytes.subarray(0, head.length / 2).toString('hex')).toBe(head);
    expect(decode(bytes, { extensions: 'raw' })).toEqual(value);
  });

  it('map16 of 65535 and map32 of 65536 entries, as objects and Maps', () => {
    for (const [n, head] of [
      [65535, 'deffff'],
      [65536, 'df00010000'],
    ] as const) {
      const obj = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      const bytes = encode(obj);
      expect(bytes.subarray(0, head.length / 2).toString('hex')).toBe(head);
      expect(decode(bytes)).toEqual(obj);
      const map = new Map(Array.from({ length: n }, (_, i) => [i, -i]));
      const mapBytes = encode(map);
      expect(mapBytes.subarray(0, head.length / 2).toString('hex')).toBe(head);
      expect(decode(mapBytes, { maps: 'map' })).toEqual(map);
    }
  });
});

describe('decode refusals', () => {
  it.each([
    ['empty input', '', 'TRUNCATED'],
    ['0xc1', 'c1', 'INVALID_BYTE'],
    ['0xc1 inside an array', '9201c1', 'INVALID_BYTE'],
    ['bytes after the value', 'c0c0', 'EXTRA_DATA'],
    ['array32 claiming 2^32-1 elements in 0 bytes', 'ddffffffff', 'TRUNCATED'],
    ['map32 claiming 2^32-1 entries', 'dfffffffff01', 'TRUNCATED'],
    ['map claiming more entries than half the rest', '8301010101', 'TRUNCATED'],
    ['str32 claiming 4 GiB', 'dbffffffff61', 'TRUNCATED'],
    ['bin32 claiming 4 GiB', 'c6ffffffff00', 'TRUNCATED'],
    ['ext32 claiming 4 GiB', 'c9ffffffff0100', 'TRUNCATED'],
    ['fixext4 short', 'd601000000', 'TRUNCATED'],
    ['float64 short', 'cb000000', 'TRUNCATED'],
    ['invalid UTF-8: 0xff', 'a1ff', 'INVALID_UTF8'],
    ['invalid UTF-8: lone continuation', 'a180', 'INVALID_UTF8'],
    ['invalid UTF-8: overlong 2-byte', 'a2c080', 'INVALID_UTF8'],
    ['invalid UTF-8: overlong 3-byte', 'a3e08080', 'INVALID_UTF8'],
    ['invalid UTF-8: encoded surrogate', 'a3eda080', 'INVALID_UTF8'],
    ['invalid UTF-8: above U+10FFFF', 'a4f4908080', 'INVALID_UTF8'],
    ['invalid UTF-8: cut sequence', 'a2e282', 'INVALID_UTF8'],
    ['invalid UTF-8 in a long string', `d928${'61'.repeat(39)}ff`, 'INVALID_UTF8'],
    ['int key', '810101', 'NON_STRING_KEY'],
    ['bin key', '81c4016b01', 'NON_STRING_KEY'],
    ['nil key', '81c001', 'NON_STRING_KEY'],
    ['array key', '819001', 'NON_STRING_KEY'],
    ['fixext', 'd40501', 'EXTENSION_NOT_SUPPORTED'],
    ['timestamp', 'd6ff00000000', 'EXTENSION_NOT_SUPPORTED'],
  ])('%s → %s', (_name, bytes, code) => {
    expect(decodeCode(hex(bytes))).toBe(code);
  });

  it('names the extension type it refused', () => {
    try {
      decode(hex('d6ff00000000'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ExtensionNotSupported);
      expect((e as ExtensionNotSupported).extType).toBe(-1);
      expect((e as ExtensionNotSupported).offset).toBe(0);
    }
  });

  it('accepts non-string keys into a Map with maps: "map"', () => {
    expect(decode(hex('82 01 a161 c4016b 02'), { maps: 'map' })).toEqual(
      new Map<unknown, unknown>([
        [1, 'a'],
        [Buffer.from('k'), 2],
      ]),
    );
  });

  it('depth: 100 nested arrays decode, 101 do not; maxDepth changes the limit', () => {
    expect(decode(encode(nested(99)))).toEqual(nested(99));
    expect(decode(Buffer.concat([Buffer.alloc(100, 0x91), hex('00')]))).toEqual(nested(100));
    expect(decodeCode(Buffer.concat([Buffer.alloc(101, 0x91), hex('00')]))).toBe('TOO_DEEP');
    expect(decodeCode(hex('919100'), { maxDepth: 1 })).toBe('TOO_DEEP');
    expect(decode(hex('9100'), { maxDepth: 1 })).toEqual([0]);
    expect(decodeCode(hex('81a16181a16200'), { maxDepth: 1 })).toBe('TOO_DEEP');
  });

  it('a million nested arrays fail fast with TOO_DEEP, not a stack overflow', () => {
    expect(decodeCode(Buffer.alloc(1_000_000, 0x91))).toBe('TOO_DEEP');
  });

  it('a key "__proto__" is an own property and pollutes nothing', () => {
    const obj = decode(hex('81 a95f5f70726f746f5f5f 81 a8706f6c6c75746564 c3')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    expect(Object.keys(obj)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(obj, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses what is not bytes', () => {
    expect(() => decode('c0' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('encode refusals and options', () => {
  class Point {
    x = 1;
  }

  it.each([
    ['undefined', undefined, 'UNDEFINED'],
    ['an undefined property', { a: undefined }, 'UNDEFINED'],
    ['an array hole', [, 1], 'UNDEFINED'],
    ['101 nested arrays', nested(101), 'TOO_DEEP'],
    ['a symbol', Symbol('s'), 'UNSUPPORTED_TYPE'],
    ['a function', () => 1, 'UNSUPPORTED_TYPE'],
    ['a Date', new Date(0), 'UNSUPPORTED_TYPE'],
    ['a Set', new Set([1]), 'UNSUPPORTED_TYPE'],
    ['a class instance', new Point(), 'UNSUPPORTED_TYPE'],
    ['an Int16Array', new Int16Array(2), 'UNSUPPORTED_TYPE'],
    ['a lone high surrogate', '\ud800', 'INVALID_STRING'],
    ['a lone low surrogate', 'a\udc00b', 'INVALID_STRING'],
    ['a reversed pair', '\udc00\ud800', 'INVALID_STRING'],
    ['a lone surrogate in a long string', `${'a'.repeat(100)}\ud83d`, 'INVALID_STRING'],
  ])('%s → %s', (_name, value, code) => {
    expect(encodeCode(value)).toBe(code);
  });

  it('refuses cycles through arrays, objects and Maps', () => {
    const cyclicArray: unknown[] = [];
    cyclicArray.push(cyclicArray);
    const cyclicObject: Record<string, unknown> = { a: 1 };
    cyclicObject.self = { back: cyclicObject };
    const cyclicMap = new Map<string, unknown>();
    cyclicMap.set('m', [cyclicMap]);
    for (const v of [cyclicArray, cyclicObject, cyclicMap]) expect(encodeCode(v)).toBe('CYCLE');
  });

  it('the same object twice (no cycle) is fine', () => {
    const shared = { a: 1 };
    expect(decode(encode([shared, { s: shared }]))).toEqual([{ a: 1 }, { s: { a: 1 } }]);
  });

  it('undefinedAsNil encodes undefined, properties and holes as nil', () => {
    const opts = { undefinedAsNil: true };
    expect(enc(undefined, opts)).toBe('c0');
    expect(enc({ a: undefined }, opts)).toBe('81a161c0');
    expect(enc([, 1], opts)).toBe('92c001');
  });

  it('maxDepth: 100 nested arrays encode by default; the option moves the limit', () => {
    expect(encodeCode(nested(100))).toBe('no error');
    expect(encodeCode(nested(3), { maxDepth: 2 })).toBe('TOO_DEEP');
    expect(encodeCode(nested(2), { maxDepth: 2 })).toBe('no error');
  });

  it('fallback encodes what msgpack has no type for, like Python’s default=', () => {
    const fallback = (v: unknown): unknown => (v instanceof Date ? v.getTime() : v instanceof Set ? [...v] : v);
    expect(decode(encode({ at: new Date(1000), tags: new Set(['a']) }, { fallback }))).toEqual({ at: 1000, tags: ['a'] });
    // What it returns must be encodable without it.
    expect(encodeCode(new Point(), { fallback: (v) => v })).toBe('UNSUPPORTED_TYPE');
  });

  it('a fallback may itself call encode (the scratch buffer is not shared)', () => {
    const inner = { type: 'inner', n: 1 };
    const bytes = encode({ wrapped: new Point(), tail: 'x'.repeat(50) }, { fallback: () => encode(inner) });
    const out = decode(bytes) as { wrapped: Buffer; tail: string };
    expect(decode(out.wrapped)).toEqual(inner);
    expect(out.tail).toBe('x'.repeat(50));
  });

  it('encodes bytes of any Uint8Array and of an ArrayBuffer as bin', () => {
    expect(enc(Uint8Array.of(1, 2))).toBe('c4020102');
    expect(enc(Uint8Array.of(9, 1, 2, 9).subarray(1, 3))).toBe('c4020102');
    expect(enc(Uint8Array.of(1, 2).buffer)).toBe('c4020102');
  });

  it('encodes objects without a prototype, and Maps with keys of any type', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 1;
    expect(enc(bare)).toBe('81a16b01');
    expect(enc(new Map<unknown, unknown>([[1, 'a'], [null, true], [Buffer.from('k'), [1]]]))).toBe('8301a161c0c3c4016b9101');
  });

  it('each result is its own buffer, of exactly its size', () => {
    const a = encode({ a: 'first' });
    const copy = Buffer.from(a);
    const b = encode({ b: 'second, longer' });
    expect(a).toEqual(copy);
    expect(b.length).toBe(b.byteLength);
    expect(decode(b)).toEqual({ b: 'second, longer' });
  });

  it('encodes values far bigger than the scratch buffer, then small ones again', () => {
    const big = { s: 'é'.repeat(1_500_000), b: Buffer.alloc(3_000_000, 5) };
    const back = decode(encode(big)) as typeof big;
    // Compared natively: a deep toEqual over 3 MB takes seconds.
    expect(back.s === big.s).toBe(true);
    expect(back.b.equals(big.b)).toBe(true);
    expect(enc({ a: 1 })).toBe('81a16101');
  });

  it('MsgpackExt refuses a type out of range or data that is not bytes', () => {
    expect(() => new MsgpackExt(128, Uint8Array.of())).toThrow(RangeError);
    expect(() => new MsgpackExt(-129, Uint8Array.of())).toThrow(RangeError);
    expect(() => new MsgpackExt(1.5, Uint8Array.of())).toThrow(RangeError);
    expect(() => new MsgpackExt(1, [1] as unknown as Uint8Array)).toThrow(TypeError);
    expect(enc(new MsgpackExt(-128, Uint8Array.of()))).toBe('c70080');
  });
});

describe('encode → decode sweep (seeded)', () => {
  // A small xorshift PRNG: the same values on every run.
  let seed = 0x2545f491;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const lengths = [0, 1, 15, 16, 31, 32, 255, 256, 300];
  const chars = ['a', 'Z', '0', ' ', 'é', '€', '日', '😀', '\u0000', '\n'];

  function value(depth: number): unknown {
    const kind = Math.floor(rand() * (depth > 3 ? 8 : 11));
    switch (kind) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return Math.floor((rand() - 0.5) * 2 ** Math.floor(rand() * 54));
      case 3:
        return (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
      case 4:
        return BigInt.asIntN(64, BigInt(Math.floor(rand() * 2 ** 32)) * BigInt(Math.floor(rand() * 2 ** 32)) + 2n ** 60n);
      case 5:
        return Array.from({ length: pick(lengths) }, () => pick(chars)).join('');
      case 6:
        return Buffer.from(Array.from({ length: pick(lengths) }, () => Math.floor(rand() * 256)));
      case 7:
        return pick([0, -0, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 2 ** 64]);
      case 8:
        return Array.from({ length: pick([0, 1, 3, 15, 16, 20]) }, () => value(depth + 1));
      case 9:
        return Object.fromEntries(Array.from({ length: pick([0, 1, 3, 15, 16, 20]) }, (_, i) => [`${pick(chars)}${i}`, value(depth + 1)]));
      default:
        return new Map(Array.from({ length: pick([0, 1, 4]) }, (_, i) => [pick([i, `k${i}`, -i - 1]), value(depth + 1)]));
    }
  }

  it('500 random values survive encode → decode, and re-encode to the same bytes', () => {
    for (let i = 0; i < 500; i++) {
      const v = value(0);
      const bytes = encode(v);
      const back = decode(bytes, { maps: 'map' });
      const again = encode(back);
      expect(again.equals(bytes), `value #${i}`).toBe(true);
      // Objects decode as Maps here and small bigints as numbers: those compare by bytes
      // above, the rest by value too.
      if ((typeof v !== 'object' && typeof v !== 'bigint') || v === null || v instanceof Uint8Array) expect(back).toEqual(v);
    }
  });
});

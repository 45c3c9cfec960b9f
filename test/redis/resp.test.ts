/**
 * The RESP reply parser: every RESP2 and RESP3 type, every refusal with its code, the limits,
 * and the same events however the input is cut (whole, split in two at every byte, one byte at
 * a time, seeded random chunk sizes).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESP_MAX_BULK_LENGTH,
  RedisReplyError,
  RespParser,
  RespProtocolError,
  type RespEvent,
  type RespParserOptions,
  type RespProtocolErrorCode,
  type RespValue,
} from '../../src/redis/index.js';

/** One way of cutting an input into `receiveData` calls. */
function chunkings(input: Buffer): Array<{ name: string; chunks: Buffer[] }> {
  const out = [{ name: 'whole', chunks: [input] }];
  for (let i = 1; i < input.length; i++) out.push({ name: `split at ${i}`, chunks: [input.subarray(0, i), input.subarray(i)] });
  out.push({ name: 'bytewise', chunks: [...input].map((x) => Buffer.from([x])) });
  return out;
}

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A reply error as the tests compare it (errors do not compare well with toEqual). */
interface ErrorShape {
  replyError: string;
  message: string;
}
const E = (message: string): ErrorShape => ({ replyError: new RedisReplyError(message).code, message });

type Shape = unknown;
function shape(v: RespValue): Shape {
  if (v instanceof RedisReplyError) return { replyError: v.code, message: v.message };
  if (Array.isArray(v)) return v.map(shape);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [shape(k), shape(x)]));
  if (v instanceof Set) return new Set([...v].map(shape));
  return v;
}

type Ev = ['reply', Shape] | ['push', Shape] | ['error', RespProtocolErrorCode] | ['error', RespProtocolErrorCode, number];

/** Feed the chunks, pulling events after each; a protocol error ends the run. */
function run(chunks: readonly Buffer[], options?: RespParserOptions): Ev[] {
  const parser = new RespParser(options);
  const events: Ev[] = [];
  try {
    for (const chunk of chunks) {
      parser.receiveData(chunk);
      for (let e: RespEvent | null; (e = parser.nextEvent()) !== null; ) events.push([e.type, shape(e.value)]);
    }
  } catch (e) {
    if (!(e instanceof RespProtocolError)) throw e;
    events.push(['error', e.code, e.offset]);
  }
  return events;
}

interface Case {
  name: string;
  input: string | Buffer;
  events: Ev[];
  options?: RespParserOptions;
}

/** Every chunking gives the events of the whole input (error offsets included); those are `expected`. */
function checkAllChunkings(c: Case): void {
  const input = typeof c.input === 'string' ? bin(c.input) : c.input;
  const whole = run([input], c.options);
  expect(whole.map((e) => (e[0] === 'error' ? ['error', e[1]] : e))).toEqual(c.events);
  for (const { name, chunks } of chunkings(input)) expect(run(chunks, c.options), name).toEqual(whole);
}

const resp2: Case[] = [
  { name: 'simple string', input: '+OK\r\n', events: [['reply', 'OK']] },
  { name: 'empty simple string', input: '+\r\n', events: [['reply', '']] },
  { name: 'UTF-8 simple string', input: b('+héllo\r\n'), events: [['reply', 'héllo']] },
  { name: 'error ERR', input: "-ERR unknown command 'FOO'\r\n", events: [['reply', E("ERR unknown command 'FOO'")]] },
  { name: 'error WRONGTYPE', input: '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n', events: [['reply', { replyError: 'WRONGTYPE', message: 'WRONGTYPE Operation against a key holding the wrong kind of value' }]] },
  { name: 'error NOSCRIPT', input: '-NOSCRIPT No matching script.\r\n', events: [['reply', { replyError: 'NOSCRIPT', message: 'NOSCRIPT No matching script.' }]] },
  { name: 'error MOVED', input: '-MOVED 3999 127.0.0.1:6381\r\n', events: [['reply', { replyError: 'MOVED', message: 'MOVED 3999 127.0.0.1:6381' }]] },
  { name: 'error without a code', input: '-oops, lower case\r\n', events: [['reply', { replyError: '', message: 'oops, lower case' }]] },
  { name: 'integer 0', input: ':0\r\n', events: [['reply', 0]] },
  { name: 'integer -0 is 0', input: ':-0\r\n', events: [['reply', 0]] },
  { name: 'integer -1', input: ':-1\r\n', events: [['reply', -1]] },
  { name: 'integer of 15 digits', input: ':123456789012345\r\n', events: [['reply', 123456789012345]] },
  { name: 'integer 2^53 is a number', input: ':9007199254740992\r\n', events: [['reply', 2 ** 53]] },
  { name: 'integer -(2^53) is a number', input: ':-9007199254740992\r\n', events: [['reply', -(2 ** 53)]] },
  { name: 'integer 2^53 + 1 is a bigint', input: ':9007199254740993\r\n', events: [['reply', 2n ** 53n + 1n]] },
  { name: 'integer 2^63 - 1', input: ':9223372036854775807\r\n', events: [['reply', 2n ** 63n - 1n]] },
  { name: 'integer -(2^63)', input: ':-9223372036854775808\r\n', events: [['reply', -(2n ** 63n)]] },
  { name: 'bulk string', input: '$5\r\nhello\r\n', events: [['reply', bin('hello')]] },
  { name: 'empty bulk string', input: '$0\r\n\r\n', events: [['reply', bin('')]] },
  { name: 'binary bulk string with CRLF inside', input: '$6\r\n\x00\r\n\xff\n\r\r\n', events: [['reply', bin('\x00\r\n\xff\n\r')]] },
  { name: 'null bulk string', input: '$-1\r\n', events: [['reply', null]] },
  { name: 'empty array', input: '*0\r\n', events: [['reply', []]] },
  { name: 'null array', input: '*-1\r\n', events: [['reply', null]] },
  { name: 'array', input: '*2\r\n$3\r\nfoo\r\n:1\r\n', events: [['reply', [bin('foo'), 1]]] },
  { name: 'nested arrays', input: '*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n+x\r\n', events: [['reply', [[1, 2], ['x']]]] },
  { name: 'array of nulls', input: '*3\r\n$-1\r\n*-1\r\n:1\r\n', events: [['reply', [null, null, 1]]] },
  { name: 'EXEC with an error inside', input: '*2\r\n+OK\r\n-ERR bad\r\n', events: [['reply', ['OK', E('ERR bad')]]] },
  { name: 'pipelined replies', input: '+OK\r\n:1\r\n$1\r\na\r\n*0\r\n', events: [['reply', 'OK'], ['reply', 1], ['reply', bin('a')], ['reply', []]] },
  {
    name: 'RESP2 pub/sub message (an ordinary reply)',
    input: '*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n',
    events: [['reply', [bin('message'), bin('ch1'), bin('hello')]]],
  },
  { name: 'deeply nested within the limit', input: `${'*1\r\n'.repeat(100)}:7\r\n`, events: [['reply', JSON.parse(`${'['.repeat(100)}7${']'.repeat(100)}`)]] },
];

const resp3: Case[] = [
  { name: 'null', input: '_\r\n', events: [['reply', null]] },
  { name: 'true', input: '#t\r\n', events: [['reply', true]] },
  { name: 'false', input: '#f\r\n', events: [['reply', false]] },
  { name: 'double', input: ',1.23\r\n', events: [['reply', 1.23]] },
  { name: 'double without fraction', input: ',10\r\n', events: [['reply', 10]] },
  { name: 'negative double with exponent', input: ',-1.5E+10\r\n', events: [['reply', -1.5e10]] },
  { name: 'double with a small exponent', input: ',1e-5\r\n', events: [['reply', 1e-5]] },
  { name: 'inf', input: ',inf\r\n', events: [['reply', Infinity]] },
  { name: '-inf', input: ',-inf\r\n', events: [['reply', -Infinity]] },
  { name: 'nan', input: ',nan\r\n', events: [['reply', NaN]] },
  { name: '-nan (older Redis)', input: ',-nan\r\n', events: [['reply', NaN]] },
  { name: 'big number', input: '(3492890328409238509324850943850943825024385\r\n', events: [['reply', 3492890328409238509324850943850943825024385n]] },
  { name: 'small big number is still a bigint', input: '(-7\r\n', events: [['reply', -7n]] },
  { name: 'bulk error', input: '!21\r\nSYNTAX invalid syntax\r\n', events: [['reply', { replyError: 'SYNTAX', message: 'SYNTAX invalid syntax' }]] },
  { name: 'verbatim string', input: '=15\r\ntxt:Some string\r\n', events: [['reply', bin('Some string')]] },
  { name: 'empty verbatim string', input: '=4\r\nmkd:\r\n', events: [['reply', bin('')]] },
  {
    name: 'map',
    input: '%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n',
    events: [['reply', new Map<Shape, Shape>([['first', 1], ['second', 2]])]],
  },
  { name: 'empty map', input: '%0\r\n', events: [['reply', new Map()]] },
  { name: 'map with an aggregate key', input: '%1\r\n*1\r\n:1\r\n#t\r\n', events: [['reply', new Map<Shape, Shape>([[[1], true]])]] },
  { name: 'set', input: '~3\r\n+orange\r\n+apple\r\n:1\r\n', events: [['reply', new Set(['orange', 'apple', 1])]] },
  { name: 'empty set', input: '~0\r\n', events: [['reply', new Set()]] },
  {
    name: 'attribute before a reply (skipped)',
    input: '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n',
    events: [['reply', [2039123, 9543892]]],
  },
  { name: 'attribute inside an array', input: '*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n', events: [['reply', [1, 2]]] },
  { name: 'empty attribute', input: '|0\r\n+OK\r\n', events: [['reply', 'OK']] },
  { name: 'two attributes in a row', input: '|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n:3\r\n', events: [['reply', 3]] },
  {
    name: 'push',
    input: '>3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n',
    events: [['push', [bin('message'), bin('ch1'), bin('hello')]]],
  },
  { name: 'empty push', input: '>0\r\n', events: [['push', []]] },
  {
    name: 'push between two replies',
    input: '+OK\r\n>2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n:1\r\n',
    events: [['reply', 'OK'], ['push', ['invalidate', [bin('k')]]], ['reply', 1]],
  },
  { name: 'push after an attribute', input: '|1\r\n+a\r\n:1\r\n>1\r\n+x\r\n', events: [['push', ['x']]] },
];

const refusals: Case[] = [
  { name: 'bare LF', input: '+OK\n', events: [['error', 'BARE_LF']] },
  { name: 'bare LF after a good reply', input: '+OK\r\n:1\n', events: [['reply', 'OK'], ['error', 'BARE_LF']] },
  { name: 'bare CR', input: '+O\rK\r\n', events: [['error', 'BARE_CR']] },
  { name: 'empty line', input: '\r\n', events: [['error', 'INVALID_TYPE']] },
  { name: 'unknown type byte', input: '?x\r\n', events: [['error', 'INVALID_TYPE']] },
  { name: 'inline command text', input: 'PING\r\n', events: [['error', 'INVALID_TYPE']] },
  { name: 'length with letters', input: '$abc\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'empty length', input: '$\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'length -2', input: '$-2\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'length with a sign', input: '*+1\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'length with a space', input: '$ 5\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'null bulk error', input: '!-1\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'null map', input: '%-1\r\n', events: [['error', 'INVALID_LENGTH']] },
  { name: 'bulk longer than its length', input: '$3\r\nabcd\r\n', events: [['error', 'MISSING_CRLF']] },
  { name: 'bulk ended by LF CR', input: '$3\r\nabc\n\r', events: [['error', 'MISSING_CRLF']] },
  { name: 'streamed string', input: '$?\r\n;4\r\nHell\r\n;0\r\n', events: [['error', 'UNSUPPORTED_TYPE']] },
  { name: 'streamed aggregate', input: '*?\r\n:1\r\n.\r\n', events: [['error', 'UNSUPPORTED_TYPE']] },
  { name: 'stray stream chunk', input: ';4\r\nHell\r\n', events: [['error', 'UNSUPPORTED_TYPE']] },
  { name: 'integer with a letter', input: ':12a\r\n', events: [['error', 'INVALID_INTEGER']] },
  { name: 'empty integer', input: ':\r\n', events: [['error', 'INVALID_INTEGER']] },
  { name: 'integer of a sign alone', input: ':-\r\n', events: [['error', 'INVALID_INTEGER']] },
  { name: 'integer with a plus', input: ':+1\r\n', events: [['error', 'INVALID_INTEGER']] },
  { name: 'integer 2^63', input: ':9223372036854775808\r\n', events: [['error', 'INVALID_INTEGER']] },
  { name: 'integer of 20 digits', input: ':10000000000000000000\r\n', events: [['error', 'INVALID_INTEGER']] },
  { name: 'double that is a word', input: ',abc\r\n', events: [['error', 'INVALID_DOUBLE']] },
  { name: 'double starting with a dot', input: ',.5\r\n', events: [['error', 'INVALID_DOUBLE']] },
  { name: 'empty double', input: ',\r\n', events: [['error', 'INVALID_DOUBLE']] },
  { name: 'boolean x', input: '#x\r\n', events: [['error', 'INVALID_BOOLEAN']] },
  { name: 'boolean tt', input: '#tt\r\n', events: [['error', 'INVALID_BOOLEAN']] },
  { name: 'empty boolean', input: '#\r\n', events: [['error', 'INVALID_BOOLEAN']] },
  { name: 'big number with a fraction', input: '(1.5\r\n', events: [['error', 'INVALID_BIG_NUMBER']] },
  { name: 'empty big number', input: '(\r\n', events: [['error', 'INVALID_BIG_NUMBER']] },
  { name: 'null with a tail', input: '_x\r\n', events: [['error', 'INVALID_NULL']] },
  { name: 'verbatim string too short', input: '=3\r\ntxt\r\n', events: [['error', 'INVALID_VERBATIM']] },
  { name: 'verbatim string without its colon', input: '=5\r\ntxtxx\r\n', events: [['error', 'INVALID_VERBATIM']] },
  { name: 'push inside an array', input: '*1\r\n>1\r\n:1\r\n', events: [['error', 'NESTED_PUSH']] },
  { name: 'nesting over the default 100', input: `${'*1\r\n'.repeat(101)}:7\r\n`, events: [['error', 'TOO_DEEP']] },
  { name: 'bulk over the default 512 MiB', input: `$${DEFAULT_RESP_MAX_BULK_LENGTH + 1}\r\n`, events: [['error', 'BULK_TOO_LONG']] },
  { name: 'array over the default 2^32 - 1', input: '*4294967296\r\n', events: [['error', 'ARRAY_TOO_LONG']] },
  { name: 'bulk over maxBulkLength', input: '$11\r\n', options: { maxBulkLength: 10 }, events: [['error', 'BULK_TOO_LONG']] },
  { name: 'verbatim over maxBulkLength', input: '=11\r\n', options: { maxBulkLength: 10 }, events: [['error', 'BULK_TOO_LONG']] },
  { name: 'bulk at maxBulkLength', input: '$10\r\n0123456789\r\n', options: { maxBulkLength: 10 }, events: [['reply', bin('0123456789')]] },
  { name: 'array over maxArrayLength', input: '*3\r\n', options: { maxArrayLength: 2 }, events: [['error', 'ARRAY_TOO_LONG']] },
  { name: 'map over maxArrayLength (pairs)', input: '%2\r\n', options: { maxArrayLength: 1 }, events: [['error', 'ARRAY_TOO_LONG']] },
  { name: 'map at maxArrayLength', input: '%1\r\n:1\r\n:2\r\n', options: { maxArrayLength: 1 }, events: [['reply', new Map([[1, 2]])]] },
  { name: 'nesting over maxDepth', input: '*1\r\n*1\r\n*1\r\n:1\r\n', options: { maxDepth: 2 }, events: [['error', 'TOO_DEEP']] },
  { name: 'nesting at maxDepth', input: '*1\r\n*1\r\n:1\r\n', options: { maxDepth: 2 }, events: [['reply', [[1]]]] },
  { name: 'line over maxLineLength', input: `+${'a'.repeat(10)}\r\n`, options: { maxLineLength: 10 }, events: [['error', 'LINE_TOO_LONG']] },
  { name: 'line at maxLineLength', input: `+${'a'.repeat(9)}\r\n`, options: { maxLineLength: 10 }, events: [['reply', 'a'.repeat(9)]] },
  {
    name: 'line over maxLineLength, refused before its CRLF arrives',
    input: `+${'a'.repeat(20)}`,
    options: { maxLineLength: 10 },
    events: [['error', 'LINE_TOO_LONG']],
  },
];

describe('RespParser', () => {
  describe.each([
    ['RESP2', resp2],
    ['RESP3', resp3],
    ['refusals', refusals],
  ] as const)('%s', (_group, table) => {
    it.each(table.map((c) => [c.name, c] as const))('%s, in every split', (_name, c) => {
      checkAllChunkings(c);
    });
  });

  it('a 64 KiB line is accepted by default, one byte more is not', () => {
    expect(run([bin(`+${'a'.repeat(65535)}\r\n`)])).toEqual([['reply', 'a'.repeat(65535)]]);
    expect(run([bin(`+${'a'.repeat(65536)}\r\n`)])[0]?.[1]).toBe('LINE_TOO_LONG');
  });

  it('is terminal after a protocol error: the same error again, input ignored', () => {
    const parser = new RespParser();
    parser.receiveData(bin('+OK\r\n$x\r\n+later\r\n'));
    expect(parser.nextEvent()).toEqual({ type: 'reply', value: 'OK' });
    let first: unknown;
    try {
      parser.nextEvent();
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(RespProtocolError);
    expect((first as RespProtocolError).code).toBe('INVALID_LENGTH');
    expect((first as RespProtocolError).offset).toBe(5);
    expect(parser.error).toBe(first);
    parser.receiveData(bin('+more\r\n'));
    expect(() => parser.nextEvent()).toThrow(first as Error);
  });

  it('reports the stream offset of a refused line, however the input was cut', () => {
    const input = bin('+OK\r\n*2\r\n:1\r\n:x\r\n');
    for (const { chunks } of chunkings(input)) expect(run(chunks).at(-1)).toEqual(['error', 'INVALID_INTEGER', 13]);
  });

  it('returns a bulk string that arrived in one chunk as a view of that chunk', () => {
    const chunk = bin('*2\r\n$5\r\nhello\r\n$3\r\nabc\r\n');
    const parser = new RespParser();
    parser.receiveData(chunk);
    const [hello, abc] = parser.nextEvent()!.value as Buffer[];
    expect(hello!.buffer).toBe(chunk.buffer);
    expect(hello!.byteOffset).toBe(chunk.byteOffset + 8);
    expect(abc!.toString()).toBe('abc');
  });

  it('keeps earlier values intact while later chunks arrive (no compaction under a lent view)', () => {
    const parser = new RespParser();
    const values: Buffer[] = [];
    const input = bin('$3\r\nabc\r\n$3\r\ndef\r\n$3\r\nghi\r\n$1\r\nj\r\n');
    for (const byte of input) {
      parser.receiveData(Buffer.from([byte]));
      for (let e; (e = parser.nextEvent()) !== null; ) values.push(e.value as Buffer);
    }
    expect(values.map(String)).toEqual(['abc', 'def', 'ghi', 'j']);
  });

  it.each([
    ['a view was lent: a new store, the view untouched', false],
    ['strings are copies: the store is compacted in place', true],
  ])('when the store fills behind a bulk string: %s', (_name, decodeUtf8) => {
    // The 200-byte bulk fills a store of exactly its size; the next line is cut; the byte that
    // completes it does not fit, and consumed room (202 bytes) exceeds what remains (3).
    const parser = new RespParser({ decodeUtf8 });
    parser.receiveData(bin(`$200\r\n${'a'.repeat(100)}`));
    expect(parser.nextEvent()).toBeNull();
    parser.receiveData(bin(`${'a'.repeat(100)}\r\n+xy`));
    const bulk = parser.nextEvent()!.value as Buffer | string;
    expect(parser.nextEvent()).toBeNull();
    parser.receiveData(bin('z\r\n'));
    expect(parser.nextEvent()).toEqual({ type: 'reply', value: 'xyz' });
    expect(bulk.toString()).toBe('a'.repeat(200));
  });

  it('a bulk string of 1 MiB in 1000-byte pieces comes out whole, in a store not much larger', () => {
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const input = Buffer.concat([bin(`$${payload.length}\r\n`), payload, bin('\r\n+next\r\n')]);
    const parser = new RespParser();
    const events: RespEvent[] = [];
    for (let i = 0; i < input.length; i += 1000) {
      parser.receiveData(input.subarray(i, i + 1000));
      for (let e; (e = parser.nextEvent()) !== null; ) events.push(e);
    }
    expect(events).toHaveLength(2);
    const value = events[0]!.value as Buffer;
    expect(value.equals(payload)).toBe(true);
    expect(value.buffer.byteLength).toBeLessThan(payload.length + 4096);
    expect(events[1]).toEqual({ type: 'reply', value: 'next' });
  });

  it('gives the same replies for a long mixed pipeline fed in random chunk sizes (seeded)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const parts: string[] = [];
    for (let i = 0; i < 400; i++) {
      const k = rand(8);
      if (k === 0) parts.push(`+status ${i}\r\n`);
      else if (k === 1) parts.push(`:${i * 1000003}\r\n`);
      else if (k === 2) parts.push(`$${String(i).length + 200}\r\n${'x'.repeat(200)}${i}\r\n`);
      else if (k === 3) parts.push(`*3\r\n$1\r\na\r\n:${i}\r\n*1\r\n$-1\r\n`);
      else if (k === 4) parts.push(`%1\r\n+k${i}\r\n~2\r\n#t\r\n,${i}.5\r\n`);
      else if (k === 5) parts.push(`>2\r\n+p\r\n:${i}\r\n`);
      else if (k === 6) parts.push(`|1\r\n+a\r\n:1\r\n-ERR e${i}\r\n`);
      else parts.push(`=${String(i).length + 4}\r\ntxt:${i}\r\n`);
    }
    const input = bin(parts.join(''));
    const whole = run([input]);
    expect(whole).toHaveLength(400);
    for (let round = 0; round < 20; round++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < input.length; ) {
        const n = 1 + rand(round < 10 ? 8 : 700);
        chunks.push(input.subarray(i, i + n));
        i += n;
      }
      expect(run(chunks), `round ${round}`).toEqual(whole);
    }
  });

  it('decodeUtf8 gives strings for bulk and verbatim strings, so map keys look up', () => {
    const events = run([b('$6\r\nhéllo\r\n=9\r\ntxt:été\r\n%1\r\n$3\r\nkey\r\n$5\r\nvalue\r\n')], { decodeUtf8: true });
    expect(events).toEqual([
      ['reply', 'héllo'],
      ['reply', 'été'],
      ['reply', new Map([['key', 'value']])],
    ]);
  });

  it('partial says whether a reply is cut short', () => {
    const parser = new RespParser();
    expect(parser.partial).toBe(false);
    parser.receiveData(bin('*2\r\n$5\r\nhe'));
    expect(parser.nextEvent()).toBeNull();
    expect(parser.partial).toBe(true);
    parser.receiveData(bin('llo\r\n:1\r\n+OK\r\n'));
    expect(parser.partial).toBe(true);
    expect(parser.nextEvent()).toEqual({ type: 'reply', value: [bin('hello'), 1] });
    expect(parser.partial).toBe(true); // "+OK\r\n" is buffered, not yet pulled
    expect(parser.nextEvent()).toEqual({ type: 'reply', value: 'OK' });
    expect(parser.partial).toBe(false);
    expect(parser.nextEvent()).toBeNull();
  });

  it('accepts a huge announced array without allocating for it', () => {
    const parser = new RespParser();
    parser.receiveData(bin('*4000000000\r\n:1\r\n:2\r\n'));
    expect(parser.nextEvent()).toBeNull();
    expect(parser.partial).toBe(true);
  });

  it('reads a 100,000-element array', () => {
    const input = bin(`*100000\r\n${':42\r\n'.repeat(100000)}`);
    const events = run([input]);
    expect(events).toHaveLength(1);
    expect((events[0]![1] as number[]).length).toBe(100000);
  });

  it('takes any Uint8Array, and refuses what is not bytes', () => {
    const parser = new RespParser();
    const backing = new Uint8Array([0, ...bin('+OK\r\n'), 0]);
    parser.receiveData(backing.subarray(1, 6));
    expect(parser.nextEvent()).toEqual({ type: 'reply', value: 'OK' });
    expect(() => parser.receiveData('+OK\r\n' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('refuses a negative or non-numeric limit', () => {
    expect(() => new RespParser({ maxBulkLength: -1 })).toThrow(RangeError);
    expect(() => new RespParser({ maxDepth: Number.NaN })).toThrow(RangeError);
  });
});

describe('RedisReplyError', () => {
  it.each([
    ['ERR unknown command', 'ERR', 'unknown command'],
    ['WRONGTYPE Operation against a key', 'WRONGTYPE', 'Operation against a key'],
    ['MOVED 3999 127.0.0.1:6381', 'MOVED', '3999 127.0.0.1:6381'],
    ['BUSYGROUP Consumer Group name already exists', 'BUSYGROUP', 'Consumer Group name already exists'],
    ['ERR', 'ERR', ''],
    ['oops', '', 'oops'],
    ['Err mixed case', '', 'Err mixed case'],
  ])('%s → code %s', (message, code, detail) => {
    const e = new RedisReplyError(message);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('RedisReplyError');
    expect(e.message).toBe(message);
    expect(e.code).toBe(code);
    expect(e.detail).toBe(detail);
  });
});

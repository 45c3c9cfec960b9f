/**
 * The RESP command encoder: exact bytes, every argument type, pipelines, refusals, and the
 * parser reading back what the encoder wrote.
 */
import { describe, expect, it } from 'vitest';
import { RespParser, encodeCommand, encodeCommands, type RespArg } from '../../src/redis/index.js';

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('encodeCommand', () => {
  it.each([
    ['PING', ['PING'], '*1\r\n$4\r\nPING\r\n'],
    ['SET k v', ['SET', 'k', 'v'], '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'],
    ['an empty argument', ['ECHO', ''], '*2\r\n$4\r\nECHO\r\n$0\r\n\r\n'],
    ['a UTF-8 argument counts bytes', ['ECHO', 'héllo'], '*2\r\n$4\r\nECHO\r\n$6\r\nh\xc3\xa9llo\r\n'],
    ['an emoji', ['ECHO', '😀'], '*2\r\n$4\r\nECHO\r\n$4\r\n\xf0\x9f\x98\x80\r\n'],
    ['a lone surrogate becomes U+FFFD, length and bytes agreeing', ['ECHO', '\ud800'], '*2\r\n$4\r\nECHO\r\n$3\r\n\xef\xbf\xbd\r\n'],
    ['bytes with CRLF, NUL and 0xff', ['SET', 'k', bin('\r\n\x00\xff')], '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n\r\n\x00\xff\r\n'],
    ['integers', ['EXPIRE', 'k', 60], '*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n60\r\n'],
    ['0 and -0', ['X', 0, -0], '*3\r\n$1\r\nX\r\n$1\r\n0\r\n$1\r\n0\r\n'],
    ['a float score', ['ZADD', 'z', 1795258080.2024102, 'm'], '*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$18\r\n1795258080.2024102\r\n$1\r\nm\r\n'],
    ['negative fraction', ['X', -1.5], '*2\r\n$1\r\nX\r\n$4\r\n-1.5\r\n'],
    ['1e21', ['X', 1e21], '*2\r\n$1\r\nX\r\n$5\r\n1e+21\r\n'],
    ['infinities as Redis spells them', ['ZCOUNT', 'z', -Infinity, Infinity], '*4\r\n$6\r\nZCOUNT\r\n$1\r\nz\r\n$4\r\n-inf\r\n$4\r\n+inf\r\n'],
    ['a bigint', ['X', 2n ** 64n], '*2\r\n$1\r\nX\r\n$20\r\n18446744073709551616\r\n'],
    ['a negative bigint', ['X', -5n], '*2\r\n$1\r\nX\r\n$2\r\n-5\r\n'],
  ] as Array<[string, RespArg[], string]>)('%s', (_name, args, wire) => {
    expect(encodeCommand(args).toString('latin1')).toBe(wire);
  });

  it('counts in decimal past one digit: 10 and 11 arguments, 100- and 1000-byte arguments', () => {
    const ten = encodeCommand(Array.from({ length: 10 }, () => 'a')).toString('latin1');
    expect(ten.startsWith('*10\r\n$1\r\na\r\n')).toBe(true);
    expect(encodeCommand(Array.from({ length: 11 }, () => 'a')).toString('latin1').startsWith('*11\r\n')).toBe(true);
    expect(encodeCommand(['X', 'y'.repeat(100)]).toString('latin1')).toBe(`*2\r\n$1\r\nX\r\n$100\r\n${'y'.repeat(100)}\r\n`);
    expect(encodeCommand(['X', Buffer.alloc(1000, 0x41)]).toString('latin1')).toBe(`*2\r\n$1\r\nX\r\n$1000\r\n${'A'.repeat(1000)}\r\n`);
  });

  it('copies a Uint8Array view (not a Buffer) from its own offset', () => {
    const backing = Uint8Array.of(9, 0x61, 0x62, 9);
    expect(encodeCommand(['ECHO', backing.subarray(1, 3)]).toString('latin1')).toBe('*2\r\n$4\r\nECHO\r\n$2\r\nab\r\n');
  });

  it('allocates exactly the bytes it writes, once', () => {
    const big = Buffer.alloc(1 << 20, 1);
    const out = encodeCommand(['SET', 'key', big]);
    const head = `*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$${big.length}\r\n`;
    expect(out.length).toBe(head.length + big.length + 2);
    expect(out.subarray(0, head.length).toString('latin1')).toBe(head);
    expect(out.subarray(head.length, head.length + big.length).equals(big)).toBe(true);
  });

  it.each([
    ['an empty command', [], RangeError],
    ['NaN', ['X', NaN], RangeError],
    ['null', ['X', null], TypeError],
    ['undefined', ['X', undefined], TypeError],
    ['an object', ['X', { a: 1 }], TypeError],
    ['a boolean', ['X', true], TypeError],
  ] as Array<[string, unknown[], typeof Error]>)('refuses %s', (_name, args, type) => {
    expect(() => encodeCommand(args as RespArg[])).toThrow(type);
  });

  it('reads back, through the parser, as the arguments it was given', () => {
    const args: RespArg[] = ['HSET', 'h', 'é', bin('\x00\r\n'), 42, -0.25, 2n ** 63n];
    const parser = new RespParser();
    parser.receiveData(encodeCommand(args));
    expect(parser.nextEvent()).toEqual({
      type: 'reply',
      value: ['HSET', 'h', 'é', bin('\x00\r\n'), '42', '-0.25', '9223372036854775808'].map((x) => (typeof x === 'string' ? Buffer.from(x) : x)),
    });
    expect(parser.partial).toBe(false);
  });
});

describe('encodeCommands', () => {
  it('is the commands back to back, in one buffer', () => {
    const commands: RespArg[][] = [['MULTI'], ['INCR', 'n'], ['EXPIRE', 'n', 60], ['EXEC']];
    const out = encodeCommands(commands);
    expect(out.equals(Buffer.concat(commands.map((c) => encodeCommand(c))))).toBe(true);
    const parser = new RespParser({ decodeUtf8: true });
    parser.receiveData(out);
    const back: unknown[] = [];
    for (let e; (e = parser.nextEvent()) !== null; ) back.push(e.value);
    expect(back).toEqual([['MULTI'], ['INCR', 'n'], ['EXPIRE', 'n', '60'], ['EXEC']]);
  });

  it('refuses an empty pipeline, or an empty command in it, encoding nothing', () => {
    expect(() => encodeCommands([])).toThrow(RangeError);
    expect(() => encodeCommands([['PING'], []])).toThrow(RangeError);
  });
});

/**
 * StringTransport.writeString: records the bytes `write(Buffer.from(data, encoding))` would,
 * in order with `write` and `writeSequence`, and refuses what a socket transport refuses.
 */
import { describe, expect, it } from 'vitest';
import { StringTransport } from '../../src/testing/stringTransport.js';

/** Every ordering of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

type Step = { name: string; run: (t: StringTransport) => void; bytes: Buffer };

const LATIN1 = 'caf\u00e9 \u00ff\u0080\u00a0 na\u00efve'; // bytes >= 0x80, one byte each
const UTF8 = 'h\u00e9llo \u20ac \u4e2d\u6587 \u{1f600}'; // 2-, 3- and 4-byte sequences

const steps: Step[] = [
  { name: 'write', run: (t) => t.write(Buffer.from('raw\x01')), bytes: Buffer.from('raw\x01') },
  { name: 'latin1', run: (t) => t.writeString(LATIN1, 'latin1'), bytes: Buffer.from(LATIN1, 'latin1') },
  { name: 'utf8', run: (t) => t.writeString(UTF8, 'utf8'), bytes: Buffer.from(UTF8, 'utf8') },
  {
    name: 'writeSequence',
    run: (t) => t.writeSequence([Buffer.from([0xc3]), new Uint8Array([0xa9, 0x00])]),
    bytes: Buffer.from([0xc3, 0xa9, 0x00]),
  },
];

describe('StringTransport.writeString', () => {
  it('records the encoded bytes: latin1 one byte per character (>= 0x80 included), UTF-8 multi-byte', () => {
    const t = new StringTransport();
    t.writeString('\u00e9\u00ff', 'latin1');
    expect([...t.value()]).toEqual([0xe9, 0xff]);
    t.clear();
    t.writeString('\u00e9\u20ac\u{1f600}', 'utf8');
    expect(t.value()).toEqual(Buffer.from([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]));
  });

  it('gives the same bytes as Buffer.from for characters latin1 cannot hold and for lone surrogates', () => {
    for (const [data, encoding] of [
      ['\u0100\u20ac\uffff', 'latin1'],
      ['a\ud800b\udc00', 'utf8'],
      ['', 'utf8'],
    ] as const) {
      const t = new StringTransport();
      t.writeString(data, encoding);
      expect(t.value()).toEqual(Buffer.from(data, encoding));
    }
  });

  for (const order of permutations(steps)) {
    it(`keeps the order of ${order.map((s) => s.name).join(', ')}`, () => {
      const t = new StringTransport();
      for (const step of order) step.run(t);
      expect(t.value()).toEqual(Buffer.concat(order.map((s) => s.bytes)));
    });
  }

  it('refuses a non-string or another encoding with a TypeError, recording nothing', () => {
    const t = new StringTransport();
    for (const bad of [Buffer.from('x'), 42, null, undefined, ['a']]) {
      expect(() => t.writeString(bad as unknown as string, 'utf8')).toThrow(TypeError);
    }
    for (const bad of ['hex', 'ascii', 'utf-8', 'UTF8', 'binary', undefined, 1]) {
      expect(() => t.writeString('x', bad as unknown as 'utf8')).toThrow(TypeError);
    }
    expect(t.value()).toHaveLength(0);
  });
});

import { describe, expect, it } from 'vitest';
import { StringTooLongError } from '../../src/protocol/errors.js';
import {
  Int16StringReceiver,
  Int32StringReceiver,
  Int8StringReceiver,
  type IntNStringReceiver,
} from '../../src/protocol/intString.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { chunkings, strs } from './chunks.js';

class TestInt32 extends Int32StringReceiver {
  override MAX_LENGTH = 50;
  received: Buffer[] = [];
  override stringReceived(s: Buffer): void {
    this.received.push(s);
  }
}
class TestInt16 extends Int16StringReceiver {
  override MAX_LENGTH = 50;
  received: Buffer[] = [];
  override stringReceived(s: Buffer): void {
    this.received.push(s);
  }
}
class TestInt8 extends Int8StringReceiver {
  override MAX_LENGTH = 50;
  received: Buffer[] = [];
  override stringReceived(s: Buffer): void {
    this.received.push(s);
  }
}

type Tester = IntNStringReceiver & { received: Buffer[] };

function prefix(n: number, length: number): Buffer {
  const b = Buffer.alloc(n);
  b.writeUIntBE(length, 0, n);
  return b;
}

const variants: {
  name: string;
  make: () => Tester;
  n: 1 | 2 | 4;
  data: [string, string];
  illegal: Buffer;
  partial: Buffer[];
}[] = [
  {
    name: 'Int32StringReceiver',
    make: () => new TestInt32(),
    n: 4,
    data: ['\x00\x00\x00\x03foo', '\x00\x00\x00\x04ubar'],
    illegal: Buffer.from('\x10\x00\x00\x00aaaaaa', 'latin1'),
    partial: [Buffer.from('\x00\x00\x00', 'latin1'), Buffer.from('hello there'), Buffer.alloc(0)],
  },
  {
    name: 'Int16StringReceiver',
    make: () => new TestInt16(),
    n: 2,
    data: ['\x00\x03foo', '\x00\x04ubar'],
    illegal: Buffer.from('\x10\x00aaaaaa', 'latin1'),
    partial: [Buffer.from('\x00', 'latin1'), Buffer.from('hello there'), Buffer.alloc(0)],
  },
  {
    name: 'Int8StringReceiver',
    make: () => new TestInt8(),
    n: 1,
    data: ['\x03foo', '\x04ubar'],
    illegal: Buffer.from('\x33aaaaaa', 'latin1'), // 51 > MAX_LENGTH 50 (Twisted's own case needs its TestMixin)
    partial: [Buffer.from('\x08', 'latin1'), Buffer.from('dzadz'), Buffer.alloc(0)],
  },
];

function connected(make: () => Tester): [Tester, StringTransport] {
  const p = make();
  const t = new StringTransport();
  p.makeConnection(t);
  return [p, t];
}

for (const v of variants) {
  describe(v.name, () => {
    it(`has a ${v.n}-byte prefix and MAX_LENGTH 99999 by default`, () => {
      const [p] = connected(v.make);
      expect(p.prefixLength).toBe(v.n);
      const plain = new (class extends Int32StringReceiver {
        override stringReceived(): void {}
      })();
      expect(plain.MAX_LENGTH).toBe(99999);
    });

    it('test_receive: strings received for every chunking', () => {
      const wire = Buffer.concat(['a', 'b'.repeat(16), ''].flatMap((s) => [prefix(v.n, s.length), Buffer.from(s)]));
      for (const { name, chunks } of chunkings(wire)) {
        const [p] = connected(v.make);
        for (const c of chunks) p.dataReceived(c);
        expect(strs(p.received), name).toEqual(['a', 'b'.repeat(16), '']);
      }
    });

    it('test_partial: incomplete input delivers nothing', () => {
      for (const s of v.partial) {
        for (const { name, chunks } of chunkings(s)) {
          const [p] = connected(v.make);
          for (const c of chunks) p.dataReceived(c);
          expect(p.received, name).toEqual([]);
        }
      }
    });

    it('test_send / test_data: big-endian prefix then the bytes, in one write', () => {
      const [p, t] = connected(v.make);
      p.sendString(Buffer.from('b'.repeat(16)));
      expect(t.value()).toEqual(Buffer.concat([prefix(v.n, 16), Buffer.from('b'.repeat(16))]));
      t.clear();
      p.sendString(Buffer.from('foo'));
      expect(t.value()).toEqual(Buffer.from(v.data[0], 'latin1'));
      p.dataReceived(Buffer.from(v.data[1], 'latin1'));
      expect(strs(p.received)).toEqual(['ubar']);
    });

    it('test_illegal: a prefix above MAX_LENGTH closes the connection, for every chunking', () => {
      for (const { name, chunks } of chunkings(v.illegal)) {
        const [p, t] = connected(v.make);
        for (const c of chunks) p.dataReceived(c);
        expect(t.disconnecting, name).toBe(true);
        expect(p.received, name).toEqual([]);
        expect(p.limitExceeded, name).toBe(true);
      }
    });

    it('test_lengthLimitExceeded: called with the received prefix', () => {
      const [p] = connected(v.make);
      const lengths: number[] = [];
      p.lengthLimitExceeded = (length: number) => void lengths.push(length);
      p.MAX_LENGTH = 10;
      p.dataReceived(prefix(v.n, 11));
      expect(lengths).toEqual([11]);
    });

    it('test_longStringNotDelivered: not even when the whole string is there', () => {
      const [p, t] = connected(v.make);
      p.MAX_LENGTH = 10;
      p.dataReceived(Buffer.concat([prefix(v.n, 11), Buffer.from('x'.repeat(11))]));
      expect(p.received).toEqual([]);
      expect(t.disconnecting).toBe(true);
    });

    it('ignores later input once the limit was exceeded (memory stays bounded)', () => {
      const [p] = connected(v.make);
      let calls = 0;
      p.lengthLimitExceeded = () => void calls++;
      p.MAX_LENGTH = 10;
      p.dataReceived(Buffer.concat([prefix(v.n, 11), prefix(v.n, 1), Buffer.from('a')]));
      p.dataReceived(Buffer.concat([prefix(v.n, 1), Buffer.from('b')]));
      expect(calls).toBe(1);
      expect(p.received).toEqual([]);
    });

    it('test_tooLongSend: StringTooLongError when len >= 2**(8*prefixLength); nothing written', () => {
      if (v.n === 4) return; // 4 GiB is not worth allocating; the arithmetic is shared
      const [p, t] = connected(v.make);
      const limit = 2 ** (8 * v.n);
      expect(() => p.sendString(Buffer.alloc(limit))).toThrow(StringTooLongError);
      expect(() => p.sendString(Buffer.alloc(limit + 1))).toThrow(StringTooLongError);
      try {
        p.sendString(Buffer.alloc(limit));
      } catch (e) {
        expect(e).toBeInstanceOf(StringTooLongError);
        expect((e as StringTooLongError).length).toBe(limit);
        expect((e as StringTooLongError).limit).toBe(limit);
      }
      expect(t.value().length).toBe(0);
      p.sendString(Buffer.alloc(limit - 1));
      expect(t.value().length).toBe(v.n + limit - 1);
    });

    it('is pausable: paused delivery resumes with resumeProducing', () => {
      const [p, t] = connected(v.make);
      const record = p.stringReceived.bind(p);
      p.stringReceived = (s: Buffer) => {
        record(s);
        p.pauseProducing();
      };
      const msg = (s: string) => Buffer.concat([prefix(v.n, s.length), Buffer.from(s)]);
      p.dataReceived(Buffer.concat([msg('one'), msg('two'), msg('three')]));
      expect(strs(p.received)).toEqual(['one']);
      expect([t.producerState, p.paused]).toEqual(['paused', true]);
      p.resumeProducing();
      expect(strs(p.received)).toEqual(['one', 'two']);
      p.resumeProducing();
      expect(strs(p.received)).toEqual(['one', 'two', 'three']);
      p.resumeProducing();
      expect([t.producerState, p.paused]).toEqual(['producing', false]);
      p.stopProducing();
      p.dataReceived(msg('four'));
      expect(strs(p.received)).toEqual(['one', 'two', 'three']);
      expect(t.producerState).toBe('stopped');
    });

    it('is re-entrancy safe: dataReceived from stringReceived only buffers', () => {
      const [p] = connected(v.make);
      const order: string[] = [];
      const msg = (s: string) => Buffer.concat([prefix(v.n, s.length), Buffer.from(s)]);
      p.stringReceived = (s: Buffer) => {
        order.push(s.toString());
        if (s.toString() === 'first') {
          p.dataReceived(msg('third'));
          order.push('inner returned');
        }
      };
      p.dataReceived(Buffer.concat([msg('first'), msg('second')]));
      expect(order).toEqual(['first', 'inner returned', 'second', 'third']);
    });
  });
}

describe('Int32StringReceiver', () => {
  it('reads the 32-bit prefix as unsigned big-endian', () => {
    const p = new TestInt32();
    p.MAX_LENGTH = 2 ** 32;
    const t = new StringTransport();
    p.makeConnection(t);
    const lengths: number[] = [];
    p.lengthLimitExceeded = (n: number) => void lengths.push(n);
    p.MAX_LENGTH = 10;
    p.dataReceived(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(lengths).toEqual([2 ** 32 - 1]);
  });
});

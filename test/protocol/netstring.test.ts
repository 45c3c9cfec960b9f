import { describe, expect, it } from 'vitest';
import { NetstringReceiver } from '../../src/protocol/netstring.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { chunkings, packets, strs } from './chunks.js';

/** Twisted's TestNetstring: records strings and echoes them; MAX_LENGTH 50. */
class TestNetstring extends NetstringReceiver {
  override MAX_LENGTH = 50;
  received: Buffer[] = [];
  override stringReceived(s: Buffer): void {
    this.received.push(s);
    this.transport.write(s);
  }
}

function connected(max?: number): [TestNetstring, StringTransport] {
  const p = new TestNetstring();
  if (max !== undefined) p.MAX_LENGTH = max;
  const t = new StringTransport();
  p.makeConnection(t);
  return [p, t];
}

function feedAll(input: string | Buffer, max?: number): { name: string; p: TestNetstring; t: StringTransport }[] {
  return chunkings(input).map(({ name, chunks }) => {
    const [p, t] = connected(max);
    for (const c of chunks) p.dataReceived(c);
    return { name, p, t };
  });
}

describe('NetstringReceiver (Twisted NetstringReceiverTests)', () => {
  const strings = ['hello', 'world', 'how', 'are', 'you123', ':today', 'a'.repeat(515)];

  it('test_buffer: strings sent then received in chunks of every size', () => {
    const [sender, st] = connected(699);
    for (const s of strings) sender.sendString(Buffer.from(s));
    const wire = st.value();
    for (const size of [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
      const [p] = connected(699);
      for (const c of packets(wire, size)) p.dataReceived(c);
      expect(strs(p.received), `packets of ${size}`).toEqual(strings);
    }
  });

  it('[exp] sendString(b"xy") writes 2:xy,', () => {
    const [p, t] = connected();
    p.sendString(Buffer.from('xy'));
    expect(t.value().toString()).toBe('2:xy,');
    t.clear();
    p.sendString('');
    p.sendString('é');
    expect(t.value()).toEqual(Buffer.from('0:,2:é,', 'utf8'));
  });

  const good: [string, string, string[]][] = [
    ['test_receiveEmptyNetstring', '0:,', ['']],
    ['test_receiveOneCharacter', '1:a,', ['a']],
    ['test_receiveTwoCharacters', '2:ab,', ['ab']],
    ['test_receiveNestedNetstring', '4:1:a,,', ['1:a,']],
    ['two netstrings back to back', '1:a,1:b,', ['a', 'b']],
    ['test_receivePortions (10 bytes)', '10:0123456789,', ['0123456789']],
    ['exactly MAX_LENGTH', `50:${'z'.repeat(50)},`, ['z'.repeat(50)]],
  ];
  for (const [name, input, expected] of good) {
    it(`${name}: received for every chunking`, () => {
      for (const { name: how, p, t } of feedAll(input)) {
        expect(strs(p.received), how).toEqual(expected);
        expect(p.brokenPeer, how).toBe(false);
        expect(t.disconnecting, how).toBe(false);
      }
    });
  }

  it('test_receiveNetstringPortions_2: the length split across portions', () => {
    const [p] = connected();
    for (const part of ['1', '0:01234', '56789', ',']) p.dataReceived(Buffer.from(part));
    expect(strs(p.received)).toEqual(['0123456789']);
  });

  it('test_receiveTwoNetstrings: a complete one and the start of the next', () => {
    const [p] = connected();
    p.dataReceived(Buffer.from('1:a,1'));
    expect(strs(p.received)).toEqual(['a']);
    p.dataReceived(Buffer.from(':b,'));
    expect(strs(p.received)).toEqual(['a', 'b']);
  });

  // Every broken-peer case: the connection is closed and brokenPeer set, however it is split.
  const broken: [string, string][] = [
    ['[exp] leading zeros: 007:', '007:abcdefg,'],
    ['leading zero: 01:', '01:a,'],
    ['test_moreDataThanSpecified', '2:aaa,'],
    ['test_moreDataThanSpecifiedBorderCase', '0:a,'],
    ['test_missingNumber', ':aaa,'],
    ['test_missingColon', '3aaa,'],
    ['test_missingNumberAndColon', 'aaa,'],
    ['test_onlyData', 'aaa'],
    ['illegal: 4:abcde (missing comma)', '4:abcde'],
    ['illegal: too long (51 > MAX_LENGTH 50)', `51:${'a'.repeat(51)},`],
    ['illegal: 9999999999999999999999 (overflow)', '9999999999999999999999'],
    ['overflow with colon', `${'9'.repeat(400)}:x,`],
    ['sign', '+1:a,'],
    ['space', ' 1:a,'],
    ['after a good one', '1:a,x'],
  ];
  for (const [name, input] of broken) {
    it(`${name}: broken peer for every chunking`, () => {
      for (const { name: how, p, t } of feedAll(input)) {
        expect(p.brokenPeer, how).toBe(true);
        expect(t.disconnecting, how).toBe(true);
        expect(p.brokenReason, how).toEqual(expect.any(String));
      }
    });
  }

  it('a good string before the error is still delivered; nothing after it', () => {
    for (const { name, p } of feedAll('1:a,007:x,1:b,')) {
      expect(strs(p.received), name).toEqual(['a']);
      expect(p.brokenPeer, name).toBe(true);
    }
  });

  it('test_maxReceiveLimit: with the default MAX_LENGTH 99999', () => {
    const p = new (class extends NetstringReceiver {
      override stringReceived(): void {}
    })();
    const t = new StringTransport();
    p.makeConnection(t);
    expect(p.MAX_LENGTH).toBe(99999);
    p.dataReceived(Buffer.from('100000:'));
    expect(t.disconnecting).toBe(true);
    expect(p.brokenPeer).toBe(true);
  });

  it('ignores everything after the peer broke', () => {
    const [p, t] = connected();
    p.dataReceived(Buffer.from('x'));
    expect(p.brokenPeer).toBe(true);
    t.disconnecting = false; // a lenient transport would not stop delivery
    p.dataReceived(Buffer.from('1:a,'));
    expect(p.received).toEqual([]);
  });

  it('is re-entrancy safe: dataReceived from stringReceived only buffers', () => {
    class Reentrant extends NetstringReceiver {
      got: string[] = [];
      override stringReceived(s: Buffer): void {
        this.got.push(s.toString());
        if (s.toString() === 'first') {
          this.dataReceived(Buffer.from('5:third,'));
          this.got.push('inner returned');
        }
      }
    }
    const p = new Reentrant();
    p.makeConnection(new StringTransport());
    p.dataReceived(Buffer.from('5:first,6:second,'));
    expect(p.got).toEqual(['first', 'inner returned', 'second', 'third']);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { LineOnlyReceiver, LineReceiver } from '../../src/protocol/lineReceiver.js';
import { Clock } from '../../src/testing/clock.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { chunkings, packets, strs } from './chunks.js';

/** Twisted's LineTester: `len N` then an empty line switches to raw mode for N bytes. */
class LineTester extends LineReceiver {
  override delimiter = '\n';
  override MAX_LENGTH = 64;
  received: Buffer[] = [];
  length = 0;

  constructor(readonly clock: Clock | null = null) {
    super();
  }

  override connectionMade(): void {
    this.received = [];
  }

  override lineReceived(line: Buffer): void {
    this.received.push(line);
    const s = line.toString('latin1');
    if (s === '') {
      this.setRawMode();
    } else if (s === 'pause') {
      this.pauseProducing();
      this.clock!.callLater(0, () => this.resumeProducing());
    } else if (s === 'rawpause') {
      this.pauseProducing();
      this.setRawMode();
      this.received.push(Buffer.alloc(0));
      this.clock!.callLater(0, () => this.resumeProducing());
    } else if (s === 'stop') {
      this.stopProducing();
    } else if (s.startsWith('len ')) {
      this.length = Number(s.slice(4));
    } else if (s.startsWith('produce')) {
      this.transport.registerProducer(this, false);
    } else if (s.startsWith('unproduce')) {
      this.transport.unregisterProducer();
    }
  }

  override rawDataReceived(data: Buffer): void {
    const mine = data.subarray(0, this.length);
    const rest = data.subarray(this.length);
    this.length -= mine.length;
    this.received[this.received.length - 1] = Buffer.concat([this.received[this.received.length - 1]!, mine]);
    if (this.length === 0) this.setLineMode(rest);
  }

  override lineLengthExceeded(line: Buffer): void {
    if (line.length > this.MAX_LENGTH + 1) this.setLineMode(line.subarray(this.MAX_LENGTH + 1));
  }
}

/** Records lines and what `lineLengthExceeded` got. */
class Catcher extends LineReceiver {
  lines: string[] = [];
  longLines: string[] = [];
  exceedDefault = false;

  constructor(max: number) {
    super();
    this.MAX_LENGTH = max;
  }

  override lineReceived(line: Buffer): void {
    this.lines.push(line.toString('latin1'));
  }

  override lineLengthExceeded(line: Buffer): unknown {
    this.longLines.push(line.toString('latin1'));
    return super.lineLengthExceeded(line);
  }
}

function connected<P extends { makeConnection(t: StringTransport): void }>(p: P): [P, StringTransport] {
  const t = new StringTransport();
  p.makeConnection(t);
  return [p, t];
}

describe('LineReceiver (Twisted LineReceiverTests)', () => {
  const buffer =
    'len 10\n\n0123456789len 5\n\n1234\nlen 20\nfoo 123\n\n0123456789\n012345678len 0\nfoo 5\n\n' +
    '1234567890123456789012345678901234567890123456789012345678901234567890\nlen 1\n\na';
  const output = [
    'len 10',
    '0123456789',
    'len 5',
    '1234\n',
    'len 20',
    'foo 123',
    '0123456789\n012345678',
    'len 0',
    'foo 5',
    '',
    '67890',
    'len 1',
    'a',
  ];

  it('test_buffer: the same lines and raw data for every chunking', () => {
    const ways = [...chunkings(buffer), ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ name: `packets of ${n}`, chunks: packets(buffer, n) }))];
    for (const { name, chunks } of ways) {
      const [a] = connected(new LineTester());
      for (const c of chunks) a.dataReceived(c);
      expect(strs(a.received), name).toEqual(output);
    }
  });

  it('test_pausing: a line that pauses holds the rest until resumeProducing', () => {
    const pauseBuf = 'twiddle1\ntwiddle2\npause\ntwiddle3\n';
    for (const { name, chunks } of chunkings(pauseBuf)) {
      const clock = new Clock();
      const [a, t] = connected(new LineTester(clock));
      for (const c of chunks) a.dataReceived(c);
      expect(strs(a.received), name).toEqual(['twiddle1', 'twiddle2', 'pause']);
      expect(t.producerState).toBe('paused');
      clock.advance(0);
      expect(strs(a.received), name).toEqual(['twiddle1', 'twiddle2', 'pause', 'twiddle3']);
      expect(t.producerState).toBe('producing');
    }
  });

  it('test_rawPausing: pausing in raw mode, resumed later', () => {
    const rawpauseBuf = 'twiddle1\ntwiddle2\nlen 5\nrawpause\n12345twiddle3\n';
    for (const { name, chunks } of chunkings(rawpauseBuf)) {
      const clock = new Clock();
      const [a] = connected(new LineTester(clock));
      for (const c of chunks) a.dataReceived(c);
      expect(strs(a.received), name).toEqual(['twiddle1', 'twiddle2', 'len 5', 'rawpause', '']);
      clock.advance(0);
      expect(strs(a.received), name).toEqual(['twiddle1', 'twiddle2', 'len 5', 'rawpause', '12345', 'twiddle3']);
    }
  });

  it('test_stopProducing: nothing is delivered after stopProducing', () => {
    for (const { name, chunks } of chunkings('twiddle1\ntwiddle2\nstop\nmore\nstuff\n')) {
      const [a, t] = connected(new LineTester());
      for (const c of chunks) a.dataReceived(c);
      expect(strs(a.received), name).toEqual(['twiddle1', 'twiddle2', 'stop']);
      expect(t.producerState).toBe('stopped');
    }
  });

  it('test_lineReceiverAsProducer: registering itself as a producer mid-stream', () => {
    const [a, t] = connected(new LineTester());
    a.dataReceived(Buffer.from('produce\nhello world\nunproduce\ngoodbye\n'));
    expect(strs(a.received)).toEqual(['produce', 'hello world', 'unproduce', 'goodbye']);
    expect(t.producer).toBeNull();
  });

  it('test_clearLineBuffer: returns the buffered bytes, callable from lineReceived', () => {
    class Clearing extends LineReceiver {
      line = '';
      rest = '';
      override lineReceived(line: Buffer): void {
        this.line = line.toString();
        this.rest = this.clearLineBuffer().toString();
      }
    }
    const p = new Clearing(); // no transport: as in Twisted's test
    p.dataReceived(Buffer.from('foo\r\nbar\r\nbaz'));
    expect([p.line, p.rest]).toEqual(['foo', 'bar\r\nbaz']);
    p.dataReceived(Buffer.from('quux\r\n'));
    expect([p.line, p.rest]).toEqual(['quux', '']);
  });

  it('test_stackRecursion: flipping modes thousands of times on one buffer', () => {
    class Flipping extends LineReceiver {
      override delimiter = '\n';
      lines: Buffer[] = [];
      override lineReceived(line: Buffer): void {
        this.lines.push(line);
        this.setRawMode();
      }
      override rawDataReceived(data: Buffer): void {
        this.setLineMode(data.subarray(1));
      }
    }
    const limit = 5000;
    const [p] = connected(new Flipping());
    p.dataReceived(Buffer.from('x\nx'.repeat(limit)));
    expect(Buffer.concat(p.lines).toString()).toBe('x'.repeat(limit));
  });

  it('test_rawDataError: a truthy value returned by rawDataReceived is returned by dataReceived', () => {
    const oops = new Error('oops');
    class Raw extends LineReceiver {
      override lineReceived(): void {}
      override rawDataReceived(): unknown {
        return oops;
      }
    }
    const [p] = connected(new Raw());
    p.setRawMode();
    expect(p.dataReceived(Buffer.from('data'))).toBe(oops);
  });

  it('test_rawDataReceivedNotImplemented: raw mode without rawDataReceived throws', () => {
    class OnlyLines extends LineReceiver {
      override lineReceived(): void {}
    }
    const [p] = connected(new OnlyLines());
    p.setRawMode();
    expect(() => p.dataReceived(Buffer.from('x'))).toThrow(/rawDataReceived/);
  });

  it('sendLine writes the line and the delimiter (strings as UTF-8)', () => {
    const [p, t] = connected(new Catcher(100));
    p.sendLine(Buffer.from('abc'));
    p.sendLine('é');
    p.delimiter = '\n';
    p.sendLine('x');
    expect(t.value()).toEqual(Buffer.concat([Buffer.from('abc\r\n'), Buffer.from('é\r\n', 'utf8'), Buffer.from('x\n')]));
  });

  it('delivers lines as fresh buffers the callee may keep', () => {
    const [p] = connected(new Catcher(100));
    const kept: Buffer[] = [];
    p.lineReceived = (line: Buffer) => void kept.push(line);
    const input = Buffer.from('one\r\ntwo\r\n');
    p.dataReceived(input);
    input.fill(0);
    p.dataReceived(Buffer.from('three\r\n'));
    expect(strs(kept)).toEqual(['one', 'two', 'three']);
  });

  it('a delimiter changed between calls is searched for in the whole buffer', () => {
    const [p] = connected(new Catcher(100));
    p.dataReceived(Buffer.from('a\nb'));
    expect(p.lines).toEqual([]);
    p.delimiter = '\n';
    p.dataReceived(Buffer.from('\n'));
    expect(p.lines).toEqual(['a', 'b']);
  });

  it('finds a delimiter split across many one-byte calls', () => {
    const [p] = connected(new Catcher(100));
    p.delimiter = '<END>';
    for (const c of packets('first<END>second<EN', 1)) p.dataReceived(c);
    expect(p.lines).toEqual(['first']);
    p.dataReceived(Buffer.from('D>'));
    expect(p.lines).toEqual(['first', 'second']);
  });
});

describe('LineReceiver MAX_LENGTH', () => {
  it('[exp] MAX_LENGTH=10: 12 undelimited bytes exceed and disconnect, for every chunking', () => {
    for (const { name, chunks } of chunkings('x'.repeat(12))) {
      const [p, t] = connected(new Catcher(10));
      for (const c of chunks) p.dataReceived(c);
      expect(p.longLines, name).toEqual(['x'.repeat(12)]);
      expect(t.disconnecting, name).toBe(true);
    }
  });

  it('[exp] MAX_LENGTH=10: 11 undelimited bytes are still only buffered', () => {
    for (const { name, chunks } of chunkings('x'.repeat(11))) {
      const [p, t] = connected(new Catcher(10));
      for (const c of chunks) p.dataReceived(c);
      expect(p.longLines, name).toEqual([]);
      expect(t.disconnecting, name).toBe(false);
    }
  });

  it('[exp] MAX_LENGTH=10: 11 bytes and the delimiter exceed with the whole remainder; no line is delivered', () => {
    const input = 'x'.repeat(11) + '\r\nnext\r\nmore';
    const [whole, wt] = connected(new Catcher(10));
    whole.dataReceived(Buffer.from(input));
    expect(whole.longLines).toEqual([input]);
    expect(whole.lines).toEqual([]);
    expect(wt.disconnecting).toBe(true);
    // However it is split, the limit is hit, nothing is delivered and the connection is closed
    // (the argument then holds what was buffered at that moment).
    for (const { name, chunks } of chunkings(input)) {
      const [p, t] = connected(new Catcher(10));
      for (const c of chunks) p.dataReceived(c);
      expect(p.longLines.length, name).toBe(1);
      expect(p.longLines[0]!.startsWith('x'.repeat(11)), name).toBe(true);
      expect(p.lines, name).toEqual([]);
      expect(t.disconnecting, name).toBe(true);
    }
  });

  it('[exp] MAX_LENGTH=10: 10 bytes and the delimiter are delivered, for every chunking', () => {
    for (const { name, chunks } of chunkings('0123456789\r\nab\r\n')) {
      const [p, t] = connected(new Catcher(10));
      for (const c of chunks) p.dataReceived(c);
      expect(p.lines, name).toEqual(['0123456789', 'ab']);
      expect(p.longLines, name).toEqual([]);
      expect(t.disconnecting, name).toBe(false);
    }
  });

  it('test_maximumLineLength: a line of MAX_LENGTH + 1 disconnects (default MAX_LENGTH 16384)', () => {
    class Plain extends LineReceiver {
      override lineReceived(): void {}
    }
    const [p, t] = connected(new Plain());
    expect(p.MAX_LENGTH).toBe(16384);
    p.dataReceived(Buffer.from('x'.repeat(p.MAX_LENGTH + 1) + '\r\nr'));
    expect(t.disconnecting).toBe(true);
  });

  it('test_maximumLineLengthRemaining: MAX_LENGTH + len(delimiter) undelimited bytes disconnect', () => {
    class Plain extends LineReceiver {
      override lineReceived(): void {}
    }
    const [p, t] = connected(new Plain());
    p.dataReceived(Buffer.from('x'.repeat(p.MAX_LENGTH + 2)));
    expect(t.disconnecting).toBe(true);
  });

  it('test_notQuiteMaximumLineLengthUnfinished: MAX_LENGTH bytes and half a delimiter do not', () => {
    class Plain extends LineReceiver {
      override lineReceived(): void {}
    }
    const [p, t] = connected(new Plain());
    p.dataReceived(Buffer.from('x'.repeat(p.MAX_LENGTH) + '\r'));
    expect(t.disconnecting).toBe(false);
  });

  it('test_maximumLineLengthPartialDelimiter: a maximal line whose delimiter arrives split', () => {
    const [p, t] = connected(new Catcher(4));
    const line = 'x'.repeat(4);
    p.dataReceived(Buffer.from(line));
    p.dataReceived(Buffer.from('\r'));
    p.dataReceived(Buffer.from('\n' + line));
    expect(t.disconnecting).toBe(false);
    expect(p.lines).toEqual([line]);
  });

  describe('LineReceiverLineLengthExceededTests (MAX_LENGTH 6, whole input)', () => {
    const excessive = 'x'.repeat(6 * 2 + 2);
    const cases: [string, string, string][] = [
      ['test_longUnendedLine', excessive, excessive],
      ['test_longLineAfterShortLine', 'x\r\n' + excessive, excessive],
      ['test_longLineWithDelimiter', [excessive, excessive].join('\r\n'), [excessive, excessive].join('\r\n')],
      ['test_multipleLongLines', (excessive + '\r\n').repeat(2), (excessive + '\r\n').repeat(2)],
    ];
    for (const [name, input, expected] of cases) {
      it(name, () => {
        const [p] = connected(new Catcher(6));
        p.dataReceived(Buffer.from(input));
        expect(p.longLines).toEqual([expected]);
      });
    }
  });
});

describe('LineReceiver stops processing', () => {
  it('[exp] when lineReceived returns a truthy value: "a", "quit" delivered, "b" kept back', () => {
    class Quitter extends LineReceiver {
      lines: string[] = [];
      override lineReceived(line: Buffer): unknown {
        this.lines.push(line.toString());
        return line.toString() === 'quit' ? 'bye' : undefined;
      }
    }
    const [p, t] = connected(new Quitter());
    expect(p.dataReceived(Buffer.from('a\r\nquit\r\nb\r\n'))).toBe('bye');
    expect(p.lines).toEqual(['a', 'quit']);
    expect(t.disconnecting).toBe(false);
  });

  it('when lineReceived calls loseConnection: later lines are never delivered, for every chunking', () => {
    class Quitter extends LineReceiver {
      lines: string[] = [];
      override lineReceived(line: Buffer): void {
        this.lines.push(line.toString());
        if (line.toString() === 'quit') this.transport.loseConnection();
      }
    }
    for (const { name, chunks } of chunkings('a\r\nquit\r\nb\r\nc\r\n')) {
      const [p] = connected(new Quitter());
      for (const c of chunks) p.dataReceived(c);
      expect(p.lines, name).toEqual(['a', 'quit']);
    }
  });

  it('when paused; resumeProducing delivers what was buffered (test_pauseResume)', () => {
    class Consuming extends LineReceiver {
      override lineReceived(line: Buffer): void {
        this.transport.write(line);
        this.pauseProducing();
      }
    }
    const [p, t] = connected(new Consuming());
    p.dataReceived(Buffer.from('hello, '));
    expect(t.value().toString()).toBe('');
    expect([t.producerState, p.paused]).toEqual(['producing', false]);

    p.dataReceived(Buffer.from('world\r\n'));
    expect(t.value().toString()).toBe('hello, world');
    expect([t.producerState, p.paused]).toEqual(['paused', true]);

    p.resumeProducing();
    expect(t.value().toString()).toBe('hello, world');
    expect([t.producerState, p.paused]).toEqual(['producing', false]);

    p.dataReceived(Buffer.from('hello\r\nworld\r\n'));
    expect(t.value().toString()).toBe('hello, worldhello');
    expect([t.producerState, p.paused]).toEqual(['paused', true]);

    p.resumeProducing();
    expect(t.value().toString()).toBe('hello, worldhelloworld');
    expect([t.producerState, p.paused]).toEqual(['paused', true]);

    p.dataReceived(Buffer.from('goodbye\r\n'));
    expect(t.value().toString()).toBe('hello, worldhelloworld');

    p.resumeProducing();
    expect(t.value().toString()).toBe('hello, worldhelloworldgoodbye');
    expect([t.producerState, p.paused]).toEqual(['paused', true]);

    p.resumeProducing();
    expect(t.value().toString()).toBe('hello, worldhelloworldgoodbye');
    expect([t.producerState, p.paused]).toEqual(['producing', false]);
  });
});

describe('LineReceiver modes and re-entrancy', () => {
  class Switcher extends LineReceiver {
    lines: string[] = [];
    raw: string[] = [];
    override lineReceived(line: Buffer): void {
      this.lines.push(line.toString());
      if (line.toString() === 'raw') this.setRawMode();
    }
    override rawDataReceived(data: Buffer): void {
      this.raw.push(data.toString());
    }
  }

  it('[exp] setRawMode inside lineReceived hands the rest of the buffer to rawDataReceived in the same call', () => {
    const [p] = connected(new Switcher());
    p.dataReceived(Buffer.from('a\r\nraw\r\nRAWDATA\r\nmore'));
    expect(p.lines).toEqual(['a', 'raw']);
    expect(p.raw).toEqual(['RAWDATA\r\nmore']);
  });

  it('the raw bytes are the same for every chunking', () => {
    for (const { name, chunks } of chunkings('a\r\nraw\r\nRAWDATA\r\nmore')) {
      const [p] = connected(new Switcher());
      for (const c of chunks) p.dataReceived(c);
      expect(p.lines, name).toEqual(['a', 'raw']);
      expect(p.raw.join(''), name).toBe('RAWDATA\r\nmore');
    }
  });

  it('setLineMode(extra) from rawDataReceived parses extra as lines, in order, for every chunking', () => {
    class Sized extends LineReceiver {
      events: string[] = [];
      remaining = 0;
      override lineReceived(line: Buffer): void {
        this.events.push(`line:${line}`);
        const m = /^data (\d+)$/.exec(line.toString());
        if (m) {
          this.remaining = Number(m[1]);
          this.setRawMode();
        }
      }
      override rawDataReceived(data: Buffer): void {
        const mine = data.subarray(0, this.remaining);
        this.remaining -= mine.length;
        this.events.push(`raw:${mine}`);
        if (this.remaining === 0) this.setLineMode(data.subarray(mine.length));
      }
    }
    const input = 'hello\r\ndata 5\r\n12345after\r\ndata 3\r\nxyzend\r\n';
    for (const { name, chunks } of chunkings(input)) {
      const [p] = connected(new Sized());
      for (const c of chunks) p.dataReceived(c);
      const merged = p.events.reduce<string[]>((acc, e) => {
        const last = acc[acc.length - 1];
        if (e.startsWith('raw:') && last?.startsWith('raw:')) acc[acc.length - 1] = last + e.slice(4);
        else acc.push(e);
        return acc;
      }, []);
      expect(merged, name).toEqual(['line:hello', 'line:data 5', 'raw:12345', 'line:after', 'line:data 3', 'raw:xyz', 'line:end']);
    }
  });

  it('setLineMode() with no extra just switches back', () => {
    const [p] = connected(new Switcher());
    p.dataReceived(Buffer.from('raw\r\n'));
    p.dataReceived(Buffer.from('r1'));
    p.setLineMode();
    p.dataReceived(Buffer.from('l1\r\n'));
    expect(p.raw).toEqual(['r1']);
    expect(p.lines).toEqual(['raw', 'l1']);
    expect(p.lineMode).toBe(true);
  });

  it('is re-entrancy safe: dataReceived from a callback only buffers', () => {
    class Reentrant extends LineReceiver {
      lines: string[] = [];
      seenAfterInner: string[] | null = null;
      override lineReceived(line: Buffer): void {
        this.lines.push(line.toString());
        if (line.toString() === 'inject') {
          this.dataReceived(Buffer.from('x\r\n'));
          this.seenAfterInner = [...this.lines];
        }
      }
    }
    const [p] = connected(new Reentrant());
    p.dataReceived(Buffer.from('inject\r\nb\r\n'));
    expect(p.seenAfterInner).toEqual(['inject']);
    expect(p.lines).toEqual(['inject', 'b', 'x']);
  });

  it('an overridden lineLengthExceeded may hand bytes back with setLineMode', () => {
    class Skipper extends LineReceiver {
      override MAX_LENGTH = 4;
      lines: string[] = [];
      override lineReceived(line: Buffer): void {
        this.lines.push(line.toString());
      }
      override lineLengthExceeded(line: Buffer): void {
        const at = line.indexOf('\r\n');
        if (at !== -1) this.setLineMode(line.subarray(at + 2));
      }
    }
    const [p, t] = connected(new Skipper());
    p.dataReceived(Buffer.from('ok\r\ntoolong\r\nfine\r\n'));
    expect(p.lines).toEqual(['ok', 'fine']);
    expect(t.disconnecting).toBe(false);
  });
});

describe('LineOnlyReceiver', () => {
  class LineOnlyTester extends LineOnlyReceiver {
    override delimiter = '\n';
    override MAX_LENGTH = 64;
    received: string[] = [];
    override lineReceived(line: Buffer): void {
      this.received.push(line.toString());
    }
  }

  it('test_buffer: the same lines for every chunking', () => {
    const buffer = 'foo\n    bleakness\n    desolation\n    plastic forks\n    ';
    for (const { name, chunks } of chunkings(buffer)) {
      const [p] = connected(new LineOnlyTester());
      for (const c of chunks) p.dataReceived(c);
      expect(p.received, name).toEqual(buffer.split('\n').slice(0, -1));
    }
  });

  it('test_greaterThanMaximumLineLength: a long line disconnects', () => {
    const [p, t] = connected(new LineOnlyTester());
    p.dataReceived(Buffer.from('x'.repeat(64 + 1 + 1) + '\r\nr'));
    expect(t.disconnecting).toBe(true);
  });

  it('a delimited line longer than MAX_LENGTH is passed to lineLengthExceeded and the chunk dropped', () => {
    const [p, t] = connected(new LineOnlyTester());
    const seen: string[] = [];
    p.lineLengthExceeded = (line: Buffer) => {
      seen.push(line.toString());
      t.loseConnection();
    };
    p.dataReceived(Buffer.from('ok\n' + 'y'.repeat(65) + '\nafter\n'));
    expect(p.received).toEqual(['ok']);
    expect(seen).toEqual(['y'.repeat(65)]);
    expect(t.disconnecting).toBe(true);
  });

  it('stops at a line that made the transport disconnect, for every chunking', () => {
    class Quit extends LineOnlyTester {
      override lineReceived(line: Buffer): void {
        super.lineReceived(line);
        if (line.toString() === 'quit') this.transport.loseConnection();
      }
    }
    for (const { name, chunks } of chunkings('a\nquit\nb\n')) {
      const [p] = connected(new Quit());
      for (const c of chunks) p.dataReceived(c);
      expect(p.received, name).toEqual(['a', 'quit']);
    }
  });

  it('sendLine uses one writeSequence', () => {
    const [p, t] = connected(new LineOnlyTester());
    const spy = vi.spyOn(t, 'writeSequence');
    p.sendLine('hi');
    expect(spy).toHaveBeenCalledTimes(1);
    expect(t.value().toString()).toBe('hi\n');
  });
});

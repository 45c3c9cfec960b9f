// The frame parser's paths for the fast read path (`FrameParser.receiveBorrowed`): bytes lent for
// the duration of one call in a buffer that the next read overwrites, unmasked in place a word
// at a time, and the one-step parse of a whole small frame (`wholeFrame`). Each is checked
// against the state machine fed one byte at a time (which takes none of them): the same events,
// the same errors, and nothing handed out that a later read could change.
import { describe, expect, it } from 'vitest';
import { FrameParser, type FrameParserOptions } from '../../src/websocket/index.js';
import { Recorder, frame, parseBytewise, rng, type Ev } from './helpers.js';

/** A Recorder that also keeps every Buffer it was given, with its contents at the time. */
class KeepingRecorder extends Recorder {
  kept: Array<[Buffer, string]> = [];
  texts: string[] = [];
  constructor(withText: boolean) {
    super();
    if (withText) {
      this.onText = (text: string): void => {
        this.texts.push(text);
        this.events.push(['text', Buffer.from(text, 'utf8').toString('hex')]);
      };
    }
  }
  onText?: (text: string) => void;
  override onMessage(data: Buffer, isText: boolean, compressed: boolean): void {
    this.kept.push([data, data.toString('hex')]);
    super.onMessage(data, isText, compressed);
  }
  override onPing(payload: Buffer): void {
    this.kept.push([payload, payload.toString('hex')]);
    super.onPing(payload);
  }
  override onPong(payload: Buffer): void {
    this.kept.push([payload, payload.toString('hex')]);
    super.onPong(payload);
  }
  /** Every Buffer handed out still holds what it held when it was handed out. */
  intact(): boolean {
    return this.kept.every(([b, h]) => b.toString('hex') === h);
  }
}

/**
 * Feed `input` cut at `cuts` through one lent buffer — `offset` bytes into a larger
 * ArrayBuffer, so its words are not aligned with its start — overwritten after every call.
 */
function parseLent(
  input: Buffer,
  cuts: number[],
  options: Partial<FrameParserOptions> & { offset?: number; withText?: boolean } = {},
): KeepingRecorder {
  const { offset = 0, withText = false, ...parserOptions } = options;
  const lent = Buffer.from(new ArrayBuffer(65536 + 8), offset, 65536);
  const rec = new KeepingRecorder(withText);
  const parser = new FrameParser({ role: 'server', ...parserOptions }, rec);
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    for (let from = prev; from < c; from += lent.length) {
      const to = Math.min(c, from + lent.length);
      rec.position = to - 1;
      lent.set(input.subarray(from, to), 0);
      parser.receiveBorrowed(lent, to - from);
      lent.fill(0xa5);
    }
    prev = Math.max(prev, c);
  }
  return rec;
}

/** The reference: the state machine alone (one byte at a time never holds a whole frame). */
function reference(input: Buffer, options: Partial<FrameParserOptions> = {}): { events: Ev[]; errorAt: number } {
  const rec = parseBytewise(input, options);
  return { events: rec.events, errorAt: rec.errorAt };
}

/** A random payload: ASCII mostly, some multi-byte UTF-8, now and then a byte that is never valid. */
function payload(next: () => number, size: number, bad: boolean): Buffer {
  const out: number[] = [];
  while (out.length < size) {
    const r = next();
    if (r < 0.85) out.push(0x20 + Math.floor(next() * 95));
    else if (r < 0.95) out.push(...Buffer.from('é€😀'.charAt(Math.floor(next() * 2)), 'utf8'));
    else out.push(...Buffer.from('😀', 'utf8'));
  }
  if (bad) out[Math.floor(next() * out.length)] = 0xff;
  return Buffer.from(out.slice(0, Math.max(size, 0)));
}

/** A random stream of frames: whole and fragmented messages, control frames between fragments. */
function randomStream(next: () => number, masked: boolean): Buffer {
  const frames: Buffer[] = [];
  const key = (): Uint8Array | null => (masked ? Uint8Array.of(next() * 256, next() * 256, next() * 256, next() * 256) : null);
  const sizes = [0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 125, 126, 300, 1023, 1500, 4000];
  const messages = 1 + Math.floor(next() * 6);
  for (let m = 0; m < messages; m++) {
    const text = next() < 0.6;
    const fragments = next() < 0.7 ? 1 : 2 + Math.floor(next() * 3);
    for (let f = 0; f < fragments; f++) {
      const size = next() < 0.03 ? 70000 : sizes[Math.floor(next() * sizes.length)]!;
      const op = f === 0 ? (text ? 0x01 : 0x02) : 0x00;
      const fin = f === fragments - 1 ? 0x80 : 0;
      frames.push(frame(fin | op, payload(next, size, text && next() < 0.03), key()));
      if (next() < 0.2) frames.push(frame(0x89, payload(next, Math.floor(next() * 20), false), key()));
      if (next() < 0.1) frames.push(frame(0x8a, payload(next, Math.floor(next() * 20), false), key()));
    }
  }
  if (next() < 0.1) frames.push(frame(0x88, Buffer.from([0x03, 0xe8, 0x6f, 0x6b]), key()));
  if (next() < 0.05) frames.push(frame(0x83, 'x', key())); // reserved opcode: 1002
  return Buffer.concat(frames);
}

function randomCuts(next: () => number, length: number): number[] {
  const n = Math.floor(next() * 8);
  return [...new Set(Array.from({ length: n }, () => Math.floor(next() * length)))].sort((a, b) => a - b);
}

describe('FrameParser.receiveBorrowed: bytes lent for one call', () => {
  it('gives the events of the byte-at-a-time state machine, and nothing it hands out changes later', () => {
    const next = rng(0xb0b0);
    for (let round = 0; round < 150; round++) {
      const masked = round % 5 !== 4;
      const role = masked ? 'server' : 'client';
      const input = randomStream(next, masked);
      const ref = reference(input, { role });
      const cuts = round % 3 === 0 ? [] : randomCuts(next, input.length);
      const offset = round % 4;
      for (const withText of [false, true]) {
        const rec = parseLent(input, cuts, { role, offset, withText });
        expect(rec.events).toEqual(ref.events);
        expect(rec.intact()).toBe(true);
      }
    }
  });

  it('reports an error at the same byte as the state machine', () => {
    const next = rng(0xe77);
    for (let round = 0; round < 200; round++) {
      const input = randomStream(next, true);
      if (input.length > 20000) continue;
      const ref = reference(input);
      if (!ref.events.some((e) => e[0] === 'error')) continue;
      const bytewise = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
      const rec = parseLent(input, bytewise, { offset: round % 4 });
      expect(rec.events).toEqual(ref.events);
      expect(rec.errorAt).toBe(ref.errorAt);
    }
  });

  it('applies the size and fragment limits as the state machine does', () => {
    const input = Buffer.concat([frame(0x81, 'a'.repeat(20)), frame(0x82, 'b'.repeat(60)), frame(0x81, 'c'.repeat(70))]);
    for (const options of [{ maxMessageSize: 64 }, { maxMessageSize: 10 }, { maxFragments: 0.5 }]) {
      const ref = reference(input, options);
      expect(ref.events.at(-1)![0]).toBe('error');
      expect(parseLent(input, [], options).events).toEqual(ref.events);
      expect(parseLent(input, [], { ...options, withText: true }).events).toEqual(ref.events);
    }
  });

  it('unmasks at every alignment and key phase, also where the buffer ends off a word boundary', () => {
    const body = Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 73 + 5) & 0x7f));
    for (let size = 1; size <= 200; size += size < 12 ? 1 : 37) {
      const input = frame(0x82, body.subarray(0, size), Uint8Array.of(0xc3, 0x5a, 0x01, 0xfe));
      const expected = [['binary', body.subarray(0, size).toString('hex')]];
      for (let offset = 0; offset < 4; offset++) {
        for (const cut of [0, 1, 3, 6, 7, 9, Math.max(1, input.length - 2)]) {
          const rec = parseLent(input, cut > 0 && cut < input.length ? [cut] : [], { offset });
          expect(rec.events).toEqual(expected);
        }
      }
      // A lent buffer exactly as long as the frame, in an ArrayBuffer that is not a whole number of words.
      for (let pad = 0; pad < 4; pad++) {
        const ab = new ArrayBuffer(input.length + pad);
        const lent = Buffer.from(ab, pad, input.length);
        lent.set(input);
        const rec = new KeepingRecorder(false);
        new FrameParser({ role: 'server' }, rec).receiveBorrowed(lent, input.length);
        expect(rec.events).toEqual(expected);
      }
    }
  });

  it('keeps a message that continues in the next read (a copy: the lent buffer is overwritten)', () => {
    const text = 'x'.repeat(3000) + 'é' + 'y'.repeat(40);
    const input = Buffer.concat([frame(0x01, text.slice(0, 1500)), frame(0x89, 'ping'), frame(0x80, text.slice(1500))]);
    for (const cuts of [[10], [1000, 1510], [1520], [input.length - 3]]) {
      for (const withText of [false, true]) {
        const rec = parseLent(input, cuts, { withText });
        expect(rec.events).toEqual([
          ['ping', Buffer.from('ping').toString('hex')],
          ['text', Buffer.from(text, 'utf8').toString('hex')],
        ]);
        expect(rec.intact()).toBe(true);
      }
    }
  });

  it("copies the chunk for delivery: 'stream'", () => {
    const input = Buffer.concat([frame(0x02, 'abc'), frame(0x80, 'def'), frame(0x81, 'ghi')]);
    const rec = parseLent(input, [4], { delivery: 'stream' });
    expect(rec.events).toEqual(reference(input, { delivery: 'stream' }).events);
    expect(rec.intact()).toBe(true);
  });
});

describe('a whole small frame parsed in one step', () => {
  it('gives the events of the state machine for every kind of first byte and length', () => {
    for (const b0 of [0x81, 0x82, 0x01, 0x02, 0x80, 0x88, 0x89, 0x8a, 0x83, 0xc1, 0xa2, 0x91]) {
      for (const size of [0, 1, 5, 13, 64, 125, 126]) {
        for (const masked of [true, false]) {
          const body = b0 === 0x88 && size === 1 ? 'x' : 'ab€d'.repeat(40).slice(0, size);
          const input = Buffer.concat([frame(b0, Buffer.from(body, 'utf8').subarray(0, size), masked ? undefined : null), frame(0x81, 'next', masked ? undefined : null)]);
          const role = masked ? 'server' : 'client';
          const ref = reference(input, { role });
          expect(parseLent(input, [], { role }).events).toEqual(ref.events);
          const whole = new Recorder();
          new FrameParser({ role }, whole).receiveData(Buffer.from(input));
          expect(whole.events).toEqual(ref.events);
        }
      }
    }
  });

  it('fails text that is not UTF-8, or ends inside a sequence, as the state machine does', () => {
    for (const bad of [[0x61, 0xff], [0x61, 0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      const input = Buffer.concat([frame(0x81, 'ok'), frame(0x81, bad), frame(0x81, 'after')]);
      const ref = reference(input);
      expect(ref.events.at(-1)).toEqual(['error', 1007, 'WS_ERR_INVALID_UTF8']);
      const whole = new Recorder();
      new FrameParser({ role: 'server' }, whole).receiveData(Buffer.from(input));
      expect(whole.events).toEqual(ref.events);
      expect(parseLent(input, [], { withText: true }).events).toEqual(ref.events);
    }
  });

  it('is not taken inside a fragmented message (a new data frame there is an error)', () => {
    const input = Buffer.concat([frame(0x01, 'part'), frame(0x81, 'whole')]);
    const ref = reference(input);
    expect(ref.events).toEqual([['error', 1002, 'WS_ERR_EXPECTED_CONTINUATION']]);
    const whole = new Recorder();
    new FrameParser({ role: 'server' }, whole).receiveData(Buffer.from(input));
    expect(whole.events).toEqual(ref.events);
  });
});

import { describe, expect, it } from 'vitest';
import {
  FrameParser,
  MERGE_THRESHOLD,
  type MaskSource,
  Opcode,
  RandomMaskSource,
  applyMask,
  encodeCloseFrame,
  encodeControlFrame,
  encodeFrame,
  frameHeaderLength,
  prepareMessage,
  writeFrameHeader,
} from '../../src/websocket/index.js';
import { M, Recorder } from './helpers.js';

const fixedMask: MaskSource = { fill: (t, o) => t.set(M, o) };
const join = (parts: Buffer[]): string => Buffer.concat(parts).toString('hex');

describe('encodeFrame: RFC 6455 §5.7 vectors', () => {
  it('unmasked and masked "Hello"', () => {
    expect(join(encodeFrame(Opcode.Text, 'Hello'))).toBe('810548656c6c6f');
    expect(join(encodeFrame(Opcode.Text, 'Hello', { mask: fixedMask }))).toBe('818537fa213d7f9f4d5158');
    expect(join(encodeFrame(Opcode.Text, Buffer.from('Hello'), { mask: fixedMask }))).toBe('818537fa213d7f9f4d5158');
  });
  it('fragments "Hel" + "lo"', () => {
    expect(join(encodeFrame(Opcode.Text, 'Hel', { fin: false }))).toBe('010348656c');
    expect(join(encodeFrame(Opcode.Continuation, 'lo'))).toBe('80026c6f');
  });
  it('ping and masked pong', () => {
    expect(encodeControlFrame(Opcode.Ping, 'Hello').toString('hex')).toBe('890548656c6c6f');
    expect(encodeControlFrame(Opcode.Pong, 'Hello', fixedMask).toString('hex')).toBe('8a8537fa213d7f9f4d5158');
  });
  it('256-byte and 64 KiB binary headers', () => {
    expect(encodeFrame(Opcode.Binary, Buffer.alloc(256))[0]!.subarray(0, 4).toString('hex')).toBe('827e0100');
    expect(encodeFrame(Opcode.Binary, Buffer.alloc(65536))[0]!.toString('hex')).toBe('827f0000000000010000');
  });
});

describe('encodeFrame: lengths, bits, buffers', () => {
  it('uses the minimal length encoding at every boundary', () => {
    for (const [len, header] of [[0, '8200'], [125, '827d'], [126, '827e007e'], [65535, '827effff'], [65536, '827f0000000000010000']] as const) {
      const parts = encodeFrame(Opcode.Binary, Buffer.alloc(len));
      expect(parts[0]!.subarray(0, header.length / 2).toString('hex')).toBe(header);
      expect(frameHeaderLength(len, false)).toBe(header.length / 2);
      expect(frameHeaderLength(len, true)).toBe(header.length / 2 + 4);
      expect(Buffer.concat(parts).length).toBe(len + header.length / 2);
    }
  });

  it('sets RSV1 and clears FIN as asked', () => {
    expect(encodeFrame(Opcode.Binary, 'x', { rsv1: true, fin: false })[0]![0]).toBe(0x42);
  });

  it('returns [header, payload] without copying a large unmasked payload', () => {
    const payload = Buffer.alloc(MERGE_THRESHOLD + 1, 9);
    const parts = encodeFrame(Opcode.Binary, payload);
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe(payload);
    expect(encodeFrame(Opcode.Binary, Buffer.alloc(MERGE_THRESHOLD))).toHaveLength(1);
  });

  it('masks into a new buffer, never mutating the payload, and the parser reads it back', () => {
    for (const len of [0, 1, 3, 63, 64, 65, 125, 126, 1000, 70000]) {
      const payload = Buffer.alloc(len);
      for (let i = 0; i < len; i++) payload[i] = (i * 13) & 255;
      const copy = Buffer.from(payload);
      const parts = encodeFrame(Opcode.Binary, payload, { mask: true });
      expect(parts).toHaveLength(1);
      expect(payload.equals(copy)).toBe(true);
      const rec = new Recorder();
      new FrameParser({ role: 'server' }, rec).receiveData(parts[0]!);
      expect(rec.events).toEqual([['binary', copy.toString('hex')]]);
    }
  });

  it('server frames round-trip through a client parser, text and binary', () => {
    const rec = new Recorder();
    const p = new FrameParser({ role: 'client' }, rec);
    p.receiveData(Buffer.concat(encodeFrame(Opcode.Text, 'κόσμε'.repeat(100))));
    p.receiveData(Buffer.concat(encodeFrame(Opcode.Binary, Buffer.alloc(300, 1))));
    expect(rec.events).toEqual([
      ['text', Buffer.from('κόσμε'.repeat(100)).toString('hex')],
      ['binary', Buffer.alloc(300, 1).toString('hex')],
    ]);
  });

  it('rejects reserved opcodes and malformed control frames', () => {
    for (const op of [3, 7, 11, 15, 16]) expect(() => encodeFrame(op, 'x')).toThrow(RangeError);
    expect(() => encodeFrame(Opcode.Ping, 'x', { fin: false })).toThrow(RangeError);
    expect(() => encodeFrame(Opcode.Close, Buffer.alloc(126))).toThrow(RangeError);
  });

  it('writeFrameHeader builds any header, for conformance testing', () => {
    const out = Buffer.alloc(14);
    expect(writeFrameHeader(out, 0, 0x3, 126, false, true, null)).toBe(4);
    expect(out.subarray(0, 4).toString('hex')).toBe('437e007e');
    expect(writeFrameHeader(out, 0, 0x9, 2 ** 40, true, false, fixedMask)).toBe(14);
    expect(out.toString('hex')).toBe('89ff000001000000000037fa213d');
  });
});

describe('control and close frames', () => {
  it('caps control payloads at 125 bytes', () => {
    expect(encodeControlFrame(Opcode.Ping, Buffer.alloc(125)).length).toBe(127);
    expect(() => encodeControlFrame(Opcode.Ping, Buffer.alloc(126))).toThrow(RangeError);
    expect(() => encodeControlFrame(Opcode.Pong, 'é'.repeat(63))).toThrow(RangeError);
  });

  it('builds close frames', () => {
    expect(encodeCloseFrame().toString('hex')).toBe('8800');
    expect(encodeCloseFrame(1000).toString('hex')).toBe('880203e8');
    expect(encodeCloseFrame(1000, 'bye').toString('hex')).toBe('880503e8627965');
    expect(encodeCloseFrame(4999, 'x'.repeat(123)).length).toBe(127);
    expect(encodeCloseFrame(1000, '', fixedMask).toString('hex')).toBe('888237fa213d3412');
  });

  it('validates code and reason', () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) expect(() => encodeCloseFrame(code)).toThrow(RangeError);
    expect(() => encodeCloseFrame(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => encodeCloseFrame(1000, 'é'.repeat(62))).toThrow(RangeError); // 124 bytes
    expect(() => encodeCloseFrame(undefined, 'why')).toThrow(RangeError);
  });
});

describe('prepareMessage (broadcast)', () => {
  it('frames once into one buffer, unmasked', () => {
    const big = Buffer.alloc(1000, 5);
    const prepared = prepareMessage(big);
    expect(prepared.isText).toBe(false);
    expect(prepared.data.toString('hex')).toBe('827e03e8' + big.toString('hex'));
    big[0] = 9; // the prepared bytes are independent of the caller's buffer
    expect(prepared.data[4]).toBe(5);
    const text = prepareMessage('hi');
    expect(text.isText).toBe(true);
    expect(text.data.toString('hex')).toBe('81026869');
    expect(prepareMessage(Buffer.from('x'), { compressed: true, isText: true }).data[0]).toBe(0xc1);
  });
});

describe('masking', () => {
  it('applyMask handles every phase and alignment, in place and into another buffer', () => {
    const key = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
    for (const len of [1, 5, 64, 67, 200]) {
      for (let off = 0; off < 4; off++) {
        for (let phase = 0; phase < 4; phase++) {
          const src = Buffer.alloc(len + off + 4);
          for (let i = 0; i < src.length; i++) src[i] = (i * 7 + 1) & 255;
          const expected = Buffer.alloc(len);
          for (let i = 0; i < len; i++) expected[i] = src[off + i]! ^ key[(i + phase) & 3]!;
          const dst = Buffer.alloc(len + 3);
          applyMask(src, off, dst, 3, len, key, 0, phase);
          expect(dst.subarray(3).equals(expected)).toBe(true);
          const inPlace = Buffer.from(src);
          applyMask(inPlace, off, inPlace, off, len, key, 0, phase);
          expect(inPlace.subarray(off, off + len).equals(expected)).toBe(true);
        }
      }
    }
  });

  it('RandomMaskSource hands out 4 bytes at a time and refills', () => {
    const src = new RandomMaskSource(8);
    const out = new Uint8Array(40);
    for (let i = 0; i < 10; i++) src.fill(out, i * 4);
    expect(out.some((b) => b !== 0)).toBe(true);
    expect(() => new RandomMaskSource(6)).toThrow(RangeError);
  });
});

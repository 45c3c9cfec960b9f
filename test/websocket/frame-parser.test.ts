import { describe, expect, it } from 'vitest';
import { FrameParser, WebSocketProtocolError } from '../../src/websocket/index.js';
import { type Ev, Recorder, frame, hex, parseBytewise, parseSplit, parseWhole, textHex } from './helpers.js';

const CLOSE_1000 = frame(0x88, [0x03, 0xe8]);
const hello = 'Hello, world!';

interface Case {
  name: string;
  input: Buffer;
  events: Ev[];
  role?: 'server' | 'client';
  perMessageDeflate?: boolean;
}

function repeat(byte: number, n: number): Buffer {
  return Buffer.alloc(n, byte);
}

// RFC 6455 §5.7, byte for byte.
const rfcCases: Case[] = [
  { name: '§5.7 single-frame unmasked text', role: 'client', input: hex('81 05 48 65 6c 6c 6f'), events: [['text', textHex('Hello')]] },
  { name: '§5.7 single-frame masked text', input: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), events: [['text', textHex('Hello')]] },
  { name: '§5.7 fragmented unmasked text', role: 'client', input: hex('01 03 48 65 6c 80 02 6c 6f'), events: [['text', textHex('Hello')]] },
  { name: '§5.7 unmasked ping', role: 'client', input: hex('89 05 48 65 6c 6c 6f'), events: [['ping', textHex('Hello')]] },
  { name: '§5.7 masked pong', input: hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), events: [['pong', textHex('Hello')]] },
  { name: '§5.7 256 bytes binary, 16-bit length', role: 'client', input: Buffer.concat([hex('82 7e 01 00'), repeat(0xab, 256)]), events: [['binary', repeat(0xab, 256).toString('hex')]] },
  { name: '§5.7 64 KiB binary, 64-bit length', role: 'client', input: Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), repeat(0xcd, 65536)]), events: [['binary', repeat(0xcd, 65536).toString('hex')]] },
];

const P = ['error', 1002] as const;
const U = ['error', 1007] as const;

// Autobahn byte-level cases (node-peers.md §2.6), server role, masked with M.
const autobahnCases: Case[] = [
  // 1.x framing
  { name: '1.1.1 empty text', input: frame(0x81), events: [['text', '']] },
  { name: '1.1.2 text 125', input: frame(0x81, repeat(0x2a, 125)), events: [['text', repeat(0x2a, 125).toString('hex')]] },
  { name: '1.1.3 text 126', input: frame(0x81, repeat(0x2a, 126)), events: [['text', repeat(0x2a, 126).toString('hex')]] },
  { name: '1.1.4 text 127', input: frame(0x81, repeat(0x2a, 127)), events: [['text', repeat(0x2a, 127).toString('hex')]] },
  { name: '1.1.6 text 65535', input: frame(0x81, repeat(0x2a, 65535)), events: [['text', repeat(0x2a, 65535).toString('hex')]] },
  { name: '1.1.7 text 65536', input: frame(0x81, repeat(0x2a, 65536)), events: [['text', repeat(0x2a, 65536).toString('hex')]] },
  { name: '1.2.1 empty binary', input: frame(0x82), events: [['binary', '']] },
  { name: '1.2.3 binary 126', input: frame(0x82, repeat(0xfe, 126)), events: [['binary', repeat(0xfe, 126).toString('hex')]] },
  // 2.x pings and pongs
  { name: '2.1 empty ping', input: frame(0x89), events: [['ping', '']] },
  { name: '2.2 ping text', input: hex('89 8d 37 fa 21 3d 7f 9f 4d 51 58 d6 01 4a 58 88 4d 59 16'), events: [['ping', textHex(hello)]] },
  { name: '2.3 ping binary', input: hex('89 88 37 fa 21 3d 37 05 df c0 cb 01 21 c2'), events: [['ping', '00fffefdfcfb00ff']] },
  { name: '2.4 ping 125', input: frame(0x89, repeat(0xfe, 125)), events: [['ping', repeat(0xfe, 125).toString('hex')]] },
  { name: '2.5 ping 126 → 1002', input: frame(0x89, repeat(0xfe, 126)), events: [[...P, 'WS_ERR_CONTROL_TOO_LONG']] },
  { name: '2.7 unsolicited pong', input: Buffer.concat([frame(0x8a), CLOSE_1000]), events: [['pong', ''], ['close', 1000, '']] },
  {
    name: '2.9 pong then ping',
    input: Buffer.concat([frame(0x8a, 'unsolicited pong payload'), frame(0x89, 'ping payload')]),
    events: [['pong', textHex('unsolicited pong payload')], ['ping', textHex('ping payload')]],
  },
  {
    name: '2.10 ten pings in order',
    input: Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(0x89, `payload-${i}`))),
    events: Array.from({ length: 10 }, (_, i): Ev => ['ping', textHex(`payload-${i}`)]),
  },
  // 3.x reserved bits
  { name: '3.1 RSV3 on text', input: frame(0x91, hello), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: '3.2 RSV2 after a valid text', input: Buffer.concat([frame(0x81, hello), frame(0xa1, hello), frame(0x89)]), events: [['text', textHex(hello)], [...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: '3.3 RSV2+3', input: Buffer.concat([frame(0x81, hello), frame(0xb1, hello), frame(0x89)]), events: [['text', textHex(hello)], [...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: '3.4 RSV1 without extension', input: Buffer.concat([frame(0x81, hello), frame(0xc1, hello), frame(0x89)]), events: [['text', textHex(hello)], [...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: '3.5 RSV1+3 on binary', input: frame(0xd2, [0, 1, 2]), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: '3.6 RSV1+2 on binary', input: frame(0xe2, [0, 1, 2]), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: '3.7 close with RSV 7', input: frame(0xf8), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  // 4.x opcodes
  { name: '4.1.1 opcode 3', input: frame(0x83), events: [[...P, 'WS_ERR_INVALID_OPCODE']] },
  { name: '4.1.2 opcode 4 with payload', input: frame(0x84, 'reserved opcode payload'), events: [[...P, 'WS_ERR_INVALID_OPCODE']] },
  { name: '4.1.3 opcode 5 after text', input: Buffer.concat([frame(0x81, hello), frame(0x85), frame(0x89)]), events: [['text', textHex(hello)], [...P, 'WS_ERR_INVALID_OPCODE']] },
  { name: '4.1.5 opcode 7', input: frame(0x87, 'x'), events: [[...P, 'WS_ERR_INVALID_OPCODE']] },
  { name: '4.2.1 opcode 11', input: frame(0x8b), events: [[...P, 'WS_ERR_INVALID_OPCODE']] },
  { name: '4.2.3 opcode 13 after text', input: Buffer.concat([frame(0x81, hello), frame(0x8d), frame(0x89)]), events: [['text', textHex(hello)], [...P, 'WS_ERR_INVALID_OPCODE']] },
  { name: '4.2.5 opcode 15', input: frame(0x8f, 'x'), events: [[...P, 'WS_ERR_INVALID_OPCODE']] },
  // 5.x fragmentation
  { name: '5.1 fragmented ping', input: Buffer.concat([frame(0x09, 'fragment1'), frame(0x80, 'fragment2')]), events: [[...P, 'WS_ERR_FRAGMENTED_CONTROL']] },
  { name: '5.2 fragmented pong', input: Buffer.concat([frame(0x0a, 'fragment1'), frame(0x80, 'fragment2')]), events: [[...P, 'WS_ERR_FRAGMENTED_CONTROL']] },
  { name: '5.3 text in two fragments', input: hex('01 89 37 fa 21 3d 51 88 40 5a 5a 9f 4f 49 06 80 89 37 fa 21 3d 51 88 40 5a 5a 9f 4f 49 05'), events: [['text', textHex('fragment1fragment2')]] },
  {
    name: '5.6 ping between fragments',
    input: Buffer.concat([frame(0x01, 'fragment1'), frame(0x89, 'ping payload'), frame(0x80, 'fragment2')]),
    events: [['ping', textHex('ping payload')], ['text', textHex('fragment1fragment2')]],
  },
  { name: '5.9 orphan final continuation', input: Buffer.concat([frame(0x80, 'non-continuation payload'), frame(0x81, hello)]), events: [[...P, 'WS_ERR_UNEXPECTED_CONTINUATION']] },
  { name: '5.12 orphan continuation FIN=0', input: Buffer.concat([frame(0x00, 'non-continuation payload'), frame(0x81, hello)]), events: [[...P, 'WS_ERR_UNEXPECTED_CONTINUATION']] },
  {
    name: '5.15 message then orphan continuation',
    input: Buffer.concat([frame(0x01, 'fragment1'), frame(0x80, 'fragment2'), frame(0x00, 'fragment3'), frame(0x81, 'fragment4')]),
    events: [['text', textHex('fragment1fragment2')], [...P, 'WS_ERR_UNEXPECTED_CONTINUATION']],
  },
  { name: '5.16 starts with a continuation', input: Buffer.concat([frame(0x00, 'fragment1'), frame(0x01, 'fragment2'), frame(0x80, 'fragment3')]), events: [[...P, 'WS_ERR_UNEXPECTED_CONTINUATION']] },
  { name: '5.18 new text inside a message', input: Buffer.concat([frame(0x01, 'fragment1'), frame(0x81, 'fragment2')]), events: [[...P, 'WS_ERR_EXPECTED_CONTINUATION']] },
  {
    name: '5.19 five fragments with pings',
    input: Buffer.concat([
      frame(0x01, 'fragment1'), frame(0x00, 'fragment2'), frame(0x89, 'pongme 1!'),
      frame(0x00, 'fragment3'), frame(0x00, 'fragment4'), frame(0x89, 'pongme 2!'), frame(0x80, 'fragment5'),
    ]),
    events: [['ping', textHex('pongme 1!')], ['ping', textHex('pongme 2!')], ['text', textHex('fragment1fragment2fragment3fragment4fragment5')]],
  },
  // 6.1 empty fragments
  { name: '6.1.1 empty text', input: frame(0x81), events: [['text', '']] },
  { name: '6.1.2 three empty fragments', input: Buffer.concat([frame(0x01), frame(0x00), frame(0x80)]), events: [['text', '']] },
  { name: '6.1.3 empty, middle, empty', input: Buffer.concat([frame(0x01), frame(0x00, 'middle frame payload'), frame(0x80)]), events: [['text', textHex('middle frame payload')]] },
  {
    name: '6.2.3 text one byte per frame',
    input: Buffer.concat([...Buffer.from('Hello-µ@ßöäüàá-UTF-8!!')].map((b, i, a) => frame(i === 0 ? 0x01 : i === a.length - 1 ? 0x80 : 0x00, [b]))),
    events: [['text', textHex('Hello-µ@ßöäüàá-UTF-8!!')]],
  },
  { name: '6.3.1 invalid text', input: hex('81 94 37 fa 21 3d f9 40 c0 80 8e 35 a2 f3 8b 34 94 d0 97 7a 44 59 5e 8e 44 59'), events: [[...U, 'WS_ERR_INVALID_UTF8']] },
  { name: '6.20.1 surrogate', input: hex('81 83 37 fa 21 3d da 5a a1'), events: [[...U, 'WS_ERR_INVALID_UTF8']] },
  { name: '6.22.1 non-character U+FFFE', input: hex('81 83 37 fa 21 3d d8 45 9f'), events: [['text', 'efbfbe']] },
  // 7.x close
  { name: '7.1.1 text then close', input: Buffer.concat([frame(0x81, 'Hello World!'), CLOSE_1000]), events: [['text', textHex('Hello World!')], ['close', 1000, '']] },
  { name: '7.1.2 two closes', input: hex('88 82 37 fa 21 3d 34 12 88 80 37 fa 21 3d'), events: [['close', 1000, '']] },
  { name: '7.1.3 ping after close', input: Buffer.concat([CLOSE_1000, frame(0x89)]), events: [['close', 1000, '']] },
  { name: '7.1.4 text after close', input: Buffer.concat([CLOSE_1000, frame(0x81, hello)]), events: [['close', 1000, '']] },
  { name: '7.1.5 close inside a fragmented message', input: Buffer.concat([frame(0x01, 'fragment1'), CLOSE_1000, frame(0x80, 'fragment2')]), events: [['close', 1000, '']] },
  { name: '7.1.6 garbage after close', input: Buffer.concat([CLOSE_1000, hex('ff ff ff')]), events: [['close', 1000, '']] },
  { name: '7.3.1 empty close', input: hex('88 80 37 fa 21 3d'), events: [['close', 1005, '']] },
  { name: '7.3.2 one-byte close', input: hex('88 81 37 fa 21 3d 56'), events: [[...P, 'WS_ERR_INVALID_CLOSE_PAYLOAD']] },
  { name: '7.3.3 close 1000, no reason', input: CLOSE_1000, events: [['close', 1000, '']] },
  { name: '7.3.4 close with reason', input: frame(0x88, Buffer.concat([hex('03e8'), Buffer.from('Hello World!')])), events: [['close', 1000, 'Hello World!']] },
  { name: '7.3.5 close reason 123', input: frame(0x88, Buffer.concat([hex('03e8'), repeat(0x2a, 123)])), events: [['close', 1000, '*'.repeat(123)]] },
  { name: '7.3.6 close payload 126', input: frame(0x88, Buffer.concat([hex('03e8'), repeat(0x2a, 124)])), events: [[...P, 'WS_ERR_CONTROL_TOO_LONG']] },
  { name: '7.5.1 invalid UTF-8 reason', input: hex('88 96 37 fa 21 3d 34 12 ef 87 d6 47 98 f2 b4 34 9d f3 82 17 81 bd 52 9e 48 49 52 9e'), events: [[...U, 'WS_ERR_INVALID_UTF8']] },
  // 9.x limits (reduced sizes; see the limits suite for the caps themselves)
  { name: '9.1.1-reduced 64 KiB text', input: frame(0x81, repeat(0x2a, 65536)), events: [['text', repeat(0x2a, 65536).toString('hex')]] },
  // Rules Autobahn does not exercise (node-peers.md §2.7)
  { name: 'unmasked frame to a server', input: frame(0x81, 'hi', null), events: [[...P, 'WS_ERR_EXPECTED_MASK']] },
  { name: 'masked frame to a client', role: 'client', input: frame(0x81, 'hi'), events: [[...P, 'WS_ERR_UNEXPECTED_MASK']] },
  { name: 'non-minimal 16-bit length', input: frame(0x82, repeat(1, 5), undefined, 16), events: [[...P, 'WS_ERR_NON_MINIMAL_LENGTH']] },
  { name: 'non-minimal 64-bit length', input: frame(0x82, repeat(1, 200), undefined, 64), events: [[...P, 'WS_ERR_NON_MINIMAL_LENGTH']] },
  { name: '64-bit length with top bit set', input: hex('82 ff 80 00 00 00 00 00 00 00 37 fa 21 3d'), events: [[...P, 'WS_ERR_INVALID_LENGTH']] },
  { name: 'RSV1 on a close frame (deflate)', perMessageDeflate: true, input: frame(0xc8), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: 'RSV1 on a ping (deflate)', perMessageDeflate: true, input: frame(0xc9), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  { name: 'RSV1 on a continuation (deflate)', perMessageDeflate: true, input: Buffer.concat([frame(0x41, 'ab'), frame(0xc0, 'cd')]), events: [[...P, 'WS_ERR_UNEXPECTED_RSV']] },
  {
    name: 'compressed text is delivered raw and flagged (no UTF-8 check)',
    perMessageDeflate: true,
    input: Buffer.concat([frame(0x41, [0xff, 0xfe]), frame(0x80, [0xfd])]),
    events: [['text', 'fffefd', true]],
  },
  { name: 'uncompressed text with deflate negotiated', perMessageDeflate: true, input: frame(0x81, 'x'), events: [['text', '78']] },
];

// 7.7 / 7.9 / 7.13 close codes.
const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const invalidCodes = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
for (const code of validCodes) {
  autobahnCases.push({ name: `7.7 close code ${code}`, input: frame(0x88, [code >> 8, code & 255]), events: [['close', code, '']] });
}
for (const code of invalidCodes) {
  autobahnCases.push({ name: `7.9 close code ${code}`, input: frame(0x88, [code >> 8, code & 255]), events: [[...P, 'WS_ERR_INVALID_CLOSE_CODE']] });
}

const allCases = [...rfcCases, ...autobahnCases];

function opts(c: Case): { role: 'server' | 'client'; perMessageDeflate: boolean } {
  return { role: c.role ?? 'server', perMessageDeflate: c.perMessageDeflate ?? false };
}

describe('FrameParser: RFC 6455 §5.7 and Autobahn byte-level cases', () => {
  for (const c of allCases) {
    it(c.name, () => {
      expect(parseWhole(c.input, opts(c))).toEqual(c.events);
      expect(parseBytewise(c.input, opts(c)).events).toEqual(c.events);
      expect(parseSplit(c.input, [], { ...opts(c), delivery: 'stream' }).events).toEqual(c.events);
      expect(parseBytewise(c.input, { ...opts(c), delivery: 'stream' }).events).toEqual(c.events);
    });
  }

  it('every 2-way split gives identical events (all cases under 2 KiB)', () => {
    for (const c of allCases) {
      if (c.input.length > 2048) continue;
      for (let cut = 1; cut < c.input.length; cut++) {
        const got = parseSplit(c.input, [cut], opts(c)).events;
        if (JSON.stringify(got) !== JSON.stringify(c.events)) {
          throw new Error(`${c.name}: split at ${cut} gave ${JSON.stringify(got)}`);
        }
      }
    }
  });

  it('large frames in 997-byte and 64-byte chops (1.1.8, 1.2.8, 9.5.x reduced)', () => {
    const payload = Buffer.alloc(65536);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 255;
    const input = frame(0x82, payload);
    for (const chop of [997, 64, 1000, 4096]) {
      const cuts: number[] = [];
      for (let k = chop; k < input.length; k += chop) cuts.push(k);
      expect(parseSplit(input, cuts).events).toEqual([['binary', payload.toString('hex')]]);
    }
  });

  it('10.1.1 a 64 KiB text as 1300-byte fragments', () => {
    const text = Buffer.alloc(65536, 0x2a);
    const parts: Buffer[] = [];
    for (let o = 0; o < text.length; o += 1300) {
      const end = Math.min(o + 1300, text.length);
      parts.push(frame((o === 0 ? 0x01 : 0x00) | (end === text.length ? 0x80 : 0), text.subarray(o, end)));
    }
    expect(parseWhole(Buffer.concat(parts))).toEqual([['text', text.toString('hex')]]);
  });
});

describe('FrameParser: UTF-8 is validated as bytes arrive (6.4.x fail-fast)', () => {
  const frame1 = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

  it('6.4.1 fails right after the second frame (f4 90 80 80)', () => {
    const rec = new Recorder();
    const p = new FrameParser({ role: 'server' }, rec);
    p.receiveData(frame(0x01, frame1));
    expect(rec.events).toEqual([]);
    p.receiveData(frame(0x00, hex('f4 90 80 80')));
    expect(rec.events).toEqual([[...U, 'WS_ERR_INVALID_UTF8']]);
    p.receiveData(frame(0x80, 'edited'));
    expect(rec.events).toHaveLength(1);
  });

  it('6.4.2 fails on the lone 0x90 frame after a frame ending in f4', () => {
    const rec = new Recorder();
    const p = new FrameParser({ role: 'server' }, rec);
    p.receiveData(frame(0x01, Buffer.concat([frame1, hex('f4')])));
    expect(rec.events).toEqual([]);
    p.receiveData(frame(0x00, hex('90')));
    expect(rec.events).toEqual([[...U, 'WS_ERR_INVALID_UTF8']]);
  });

  it('6.4.3 / 6.4.4 fail inside one frame, at the offending byte', () => {
    const payload = Buffer.concat([frame1, hex('f4 90 80 80'), Buffer.from('edited')]);
    const input = frame(0x81, payload);
    const header = input.length - payload.length;
    const rec = parseBytewise(input);
    expect(rec.events).toEqual([[...U, 'WS_ERR_INVALID_UTF8']]);
    expect(rec.errorAt).toBe(header + frame1.length + 1); // the 0x90 after f4
    // In chops (6.4.3): header + 11 bytes, then f4 90 80 80, then the rest.
    const chopRec = parseSplit(input, [header + 11, header + 15]);
    expect(chopRec.events).toEqual([[...U, 'WS_ERR_INVALID_UTF8']]);
    expect(chopRec.errorAt).toBe(header + 15 - 1);
  });

  it('a message ending mid-sequence fails at its last byte (6.6.x)', () => {
    const seq = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');
    for (let n = 1; n <= seq.length; n++) {
      const valid = [2, 5, 7, 9, 11].includes(n);
      expect(parseWhole(frame(0x81, seq.subarray(0, n)))).toEqual(valid ? [['text', seq.subarray(0, n).toString('hex')]] : [[...U, 'WS_ERR_INVALID_UTF8']]);
    }
  });

  it('binary messages are not UTF-8 checked', () => {
    expect(parseWhole(frame(0x82, hex('ff fe')))).toEqual([['binary', 'fffe']]);
  });
});

describe('FrameParser: limits', () => {
  it('a frame over maxMessageSize fails from its header alone (1009), before any payload', () => {
    const rec = new Recorder();
    const p = new FrameParser({ role: 'server', maxMessageSize: 1000 }, rec);
    p.receiveData(hex('82 fe 03 e9')); // 1001 bytes announced, no mask or payload yet
    expect(rec.events).toEqual([['error', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
  });

  it('the sum of fragments is checked at each header (1009)', () => {
    const input = Buffer.concat([frame(0x02, Buffer.alloc(600)), frame(0x80, Buffer.alloc(401))]);
    expect(parseWhole(input, { maxMessageSize: 1000 })).toEqual([['error', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
    expect(parseWhole(input, { maxMessageSize: 1001 })).toEqual([['binary', '00'.repeat(1001)]]);
  });

  it('the default limit is 16 MiB', () => {
    const rec = new Recorder();
    const p = new FrameParser({ role: 'server' }, rec);
    p.receiveData(hex('82 ff 00 00 00 00 01 00 00 01'));
    expect(rec.events).toEqual([['error', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
    const ok = new Recorder();
    new FrameParser({ role: 'server' }, ok).receiveData(hex('82 ff 00 00 00 00 01 00 00 00 37 fa 21 3d'));
    expect(ok.events).toEqual([]);
  });

  it('lengths above 2^53 - 1 fail with 1009 even without a size limit', () => {
    const rec = new Recorder();
    new FrameParser({ role: 'server', maxMessageSize: Infinity }, rec).receiveData(hex('82 ff 7f ff ff ff ff ff ff ff'));
    expect(rec.events).toEqual([['error', 1009, 'WS_ERR_MESSAGE_TOO_BIG']]);
  });

  it('too many fragments → 1008 (9.3.x needs 65536 to pass by default)', () => {
    const frames = [frame(0x01, 'a'), frame(0x00, 'b'), frame(0x00, 'c'), frame(0x80, 'd')];
    expect(parseWhole(Buffer.concat(frames), { maxFragments: 3 })).toEqual([['error', 1008, 'WS_ERR_TOO_MANY_FRAGMENTS']]);
    expect(parseWhole(Buffer.concat(frames), { maxFragments: 4 })).toEqual([['text', textHex('abcd')]]);
    // 9.3.1 reduced: 256 KiB in 4096 fragments of 64 bytes, default limits.
    const parts: Buffer[] = [];
    const body = Buffer.alloc(4096 * 64, 0x2a);
    for (let i = 0; i < 4096; i++) parts.push(frame((i === 0 ? 0x01 : 0) | (i === 4095 ? 0x80 : 0), body.subarray(i * 64, i * 64 + 64)));
    expect(parseWhole(Buffer.concat(parts))).toEqual([['text', body.toString('hex')]]);
  });

  it('too many retained buffers → 1008, small slices are coalesced', () => {
    // Each 5000-byte fragment (not from the Buffer pool) arriving in its own chunk is kept as a view.
    const frames = [frame(0x02, Buffer.alloc(5000, 1)), frame(0x00, Buffer.alloc(5000, 2)), frame(0x00, Buffer.alloc(5000, 3)), frame(0x80, Buffer.alloc(5000, 4))];
    const cuts: number[] = [];
    let o = 0;
    for (const f of frames.slice(0, -1)) cuts.push((o += f.length));
    const input = Buffer.concat(frames);
    expect(parseSplit(input, cuts, { maxBufferedChunks: 2 }).events).toEqual([['error', 1008, 'WS_ERR_TOO_MANY_CHUNKS']]);
    const ok = parseSplit(input, cuts, { maxBufferedChunks: 4 }).events;
    expect(ok).toEqual([['binary', Buffer.concat([Buffer.alloc(5000, 1), Buffer.alloc(5000, 2), Buffer.alloc(5000, 3), Buffer.alloc(5000, 4)]).toString('hex')]]);
    // Byte-at-a-time: 20000 one-byte slices are coalesced, so a cap of 2 is enough.
    expect(parseBytewise(input, { maxBufferedChunks: 2 }).events).toEqual(ok);
  });

  it('rejects invalid limits and missing handler methods', () => {
    const rec = new Recorder();
    expect(() => new FrameParser({ role: 'server', maxMessageSize: 0 }, rec)).toThrow(RangeError);
    expect(() => new FrameParser({ role: 'server', maxFragments: -1 }, rec)).toThrow(RangeError);
    const { onMessage: _unused, ...noMessage } = { onMessage: 1, onPing() {}, onPong() {}, onClose() {}, onError() {} };
    expect(() => new FrameParser({ role: 'server' }, noMessage)).toThrow(RangeError);
    expect(() => new FrameParser({ role: 'server', delivery: 'stream' }, { onMessage() {}, ...noMessage })).toThrow(RangeError);
  });
});

describe('FrameParser: behaviour', () => {
  it('is terminal after an error and ignores further data', () => {
    const rec = new Recorder();
    const p = new FrameParser({ role: 'server' }, rec);
    p.receiveData(frame(0x83));
    expect(p.terminated).toBe(true);
    p.receiveData(frame(0x81, 'hi'));
    expect(rec.events).toEqual([['error', 1002, 'WS_ERR_INVALID_OPCODE']]);
  });

  it('fails on the first bad header byte, before the rest arrives', () => {
    for (const [b0, code] of [[0x83, 'WS_ERR_INVALID_OPCODE'], [0x91, 'WS_ERR_UNEXPECTED_RSV'], [0x09, 'WS_ERR_FRAGMENTED_CONTROL'], [0x80, 'WS_ERR_UNEXPECTED_CONTINUATION']] as const) {
      const rec = new Recorder();
      new FrameParser({ role: 'server' }, rec).receiveData(Uint8Array.of(b0));
      expect(rec.events).toEqual([['error', 1002, code]]);
    }
  });

  it('errors are WebSocketProtocolError with a close code', () => {
    let err: unknown;
    const p = new FrameParser({ role: 'server' }, { onMessage() {}, onPing() {}, onPong() {}, onClose() {}, onError: (e) => (err = e) });
    p.receiveData(frame(0x81, hex('c0 af')));
    expect(err).toBeInstanceOf(WebSocketProtocolError);
    expect((err as WebSocketProtocolError).closeCode).toBe(1007);
  });

  it('delivers a single-chunk message as a view of the input (no copy)', () => {
    let got: Buffer | undefined;
    const input = frame(0x82, Buffer.alloc(3000, 7));
    new FrameParser({ role: 'server' }, { onMessage: (d) => (got = d), onPing() {}, onPong() {}, onClose() {}, onError() {} }).receiveData(input);
    expect(got!.buffer).toBe(input.buffer);
    expect(got!.equals(Buffer.alloc(3000, 7))).toBe(true);
  });

  it('stream delivery emits payload as it arrives, even mid-frame', () => {
    const chunks: string[] = [];
    const p = new FrameParser(
      { role: 'server', delivery: 'stream' },
      { onMessageStart: (t) => chunks.push(`start:${t}`), onMessageData: (d) => chunks.push(d.toString()), onMessageEnd: () => chunks.push('end'), onPing() {}, onPong() {}, onClose() {}, onError() {} },
    );
    const input = frame(0x81, 'abcdef');
    p.receiveData(input.subarray(0, 9));
    expect(chunks).toEqual(['start:true', 'abc']);
    p.receiveData(input.subarray(9));
    expect(chunks).toEqual(['start:true', 'abc', 'def', 'end']);
  });

  it('unmasks correctly across every alignment and chunk phase', () => {
    const payload = Buffer.alloc(300);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 5) & 255;
    const f = frame(0x82, payload);
    for (let shift = 0; shift < 4; shift++) {
      // Place the frame at every byte offset of a backing buffer so word alignment varies.
      const backing = Buffer.alloc(f.length + shift);
      f.copy(backing, shift);
      for (const cut of [0, 1, 5, 8, 9, 10, 71, 150, 299]) {
        const rec = new Recorder();
        const p = new FrameParser({ role: 'server' }, rec);
        const view = new Uint8Array(backing.buffer, backing.byteOffset + shift, f.length).slice();
        const aligned = Buffer.alloc(view.length + shift);
        aligned.set(view, shift);
        const data = aligned.subarray(shift);
        if (cut > 0) p.receiveData(data.subarray(0, cut));
        p.receiveData(data.subarray(cut));
        expect(rec.events).toEqual([['binary', payload.toString('hex')]]);
      }
    }
  });

  it('a throwing handler terminates the parser and propagates', () => {
    const p = new FrameParser({ role: 'server' }, { onMessage() { throw new Error('boom'); }, onPing() {}, onPong() {}, onClose() {}, onError() {} });
    expect(() => p.receiveData(frame(0x81, 'x'))).toThrow('boom');
    expect(p.terminated).toBe(true);
  });
});

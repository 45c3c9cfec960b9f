// permessage-deflate compression (RFC 7692 §7.2): RFC examples as exact bytes, round trips for
// every negotiated combination, fragmented messages in every split, threshold, interop with
// plain zlib, corrupt data and invalid UTF-8.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { gatherResults } from '../../src/defer/index.js';
import { failureResultOf } from '../../src/testing/results.js';
import {
  DEFAULT_DEFLATE_THRESHOLD,
  DEFAULT_MAX_INFLATED_SIZE,
  PerMessageDeflate,
  WebSocketProtocolError,
  deflateConfigFor,
  type DeflateConfig,
  type PerMessageDeflateOptions,
} from '../../src/websocket/index.js';
import {
  Instances,
  TRAILER,
  ZlibProbe,
  deflateLikeAPeer,
  hex,
  inflateLikeAPeer,
  noise,
  params,
  sampleText,
  symmetric,
} from './deflate-helpers.js';
import zlib from 'node:zlib';

const instances = new Instances();
afterEach(() => {
  instances.closeAll();
  vi.restoreAllMocks();
});

/** Await a Deferred expected to fail; return its error. */
async function rejection(d: PromiseLike<unknown>): Promise<unknown> {
  try {
    await d;
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

async function protocolError(d: PromiseLike<unknown>): Promise<WebSocketProtocolError> {
  const e = await rejection(d);
  expect(e).toBeInstanceOf(WebSocketProtocolError);
  return e as WebSocketProtocolError;
}

/** Decompress `parts` as the fragments of one message (fin on the last). */
async function inflateParts(p: PerMessageDeflate, parts: Uint8Array[], text = false): Promise<Buffer> {
  const out = parts.map((part, i) => (text ? p.decompressText(part, i === parts.length - 1) : p.decompress(part, i === parts.length - 1)));
  return Buffer.concat(await Promise.all(out));
}

describe('RFC 7692 §7.2.3 examples', () => {
  // Each row: a message payload as sent on the wire (split into frame payloads) → its text.
  const received: Array<[string, string[], string]> = [
    ['§7.2.3.1 one compressed block', ['f2 48 cd c9 c9 07 00'], 'Hello'],
    ['§7.2.3.2 the same message in two fragments', ['f2 48 cd', 'c9 c9 07 00'], 'Hello'],
    ['§7.2.3.3 a stored (uncompressed) block', ['00 05 00 fa ff 48 65 6c 6c 6f 00'], 'Hello'],
    ['§7.2.3.4 a block with BFINAL set', ['f3 48 cd c9 c9 07 00 00'], 'Hello'],
    ['§7.2.3.5 two blocks in one message', ['f2 48 05 00 00 00 ff ff ca c9 c9 07 00'], 'Hello'],
    ['§7.2.3.6 an empty message', ['00'], ''],
  ];
  it.each(received)('decompresses %s', async (_name, parts, text) => {
    const p = instances.make();
    expect((await inflateParts(p, parts.map(hex), true)).toString()).toBe(text);
    // The instance is still usable afterwards (a BFINAL block ends zlib's stream: a fresh one follows).
    expect((await p.decompress(hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  it('compresses "Hello" to f2 48 cd c9 c9 07 00, then (context takeover) to f2 00 11 00 00', async () => {
    const p = instances.make(symmetric(false));
    const first = p.compress(Buffer.from('Hello'));
    const second = p.compress(Buffer.from('Hello'));
    expect((await first).toString('hex')).toBe('f248cdc9c90700');
    expect((await second).toString('hex')).toBe('f200110000');
  });

  it('decompresses the §7.2.3.2 context-takeover pair with one decompressor', async () => {
    const p = instances.make(symmetric(false));
    expect((await p.decompress(hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    expect((await p.decompress(hex('f2 00 11 00 00'))).toString()).toBe('Hello');
  });

  it('with no context takeover, the second "Hello" is compressed afresh', async () => {
    const p = instances.make(symmetric(true));
    const out = await gatherResults([p.compress(Buffer.from('Hello')), p.compress(Buffer.from('Hello'))]);
    expect(out.map((b) => b.toString('hex'))).toEqual(['f248cdc9c90700', 'f248cdc9c90700']);
  });

  it.each([
    ['a fresh compressor', [] as string[]],
    ['after a message (zlib then emits nothing for the flush)', ['Hello']],
  ])('compresses an empty message to the single octet 00 (§7.2.3.6) with %s', async (_name, before) => {
    const p = instances.make();
    const peer = instances.make();
    for (const m of before) expect((await peer.decompress(await p.compress(Buffer.from(m)))).toString()).toBe(m);
    const empty = await p.compress(Buffer.alloc(0));
    expect(empty.toString('hex')).toBe('00');
    expect((await peer.decompress(empty)).length).toBe(0);
    // The peer's stream is intact: the next message still decodes.
    expect((await peer.decompress(await p.compress(Buffer.from('after')))).toString()).toBe('after');
  });

  it('ignores what follows a BFINAL block in later fragments, then starts afresh', async () => {
    const p = instances.make();
    const parts = ['f3 48 cd c9 c9 07 00', 'ff ff ff', '', '01 02'].map(hex);
    expect((await inflateParts(p, parts, true)).toString()).toBe('Hello');
    expect((await p.decompressText(hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  it('a stored block decodes the same with context takeover across messages', async () => {
    const p = instances.make();
    const parts = ['00 05 00 fa ff 48 65 6c 6c 6f 00', 'f2 00 11 00 00'].map(hex);
    // The second message refers back to the "Hello" the stored block put in the window.
    expect((await p.decompress(parts[0]!)).toString()).toBe('Hello');
    expect((await p.decompress(parts[1]!)).toString()).toBe('Hello');
  });
});

describe('round trips for every negotiated combination', () => {
  const combos: Array<[boolean, boolean, number, number]> = [];
  for (const serverNo of [false, true]) {
    for (const clientNo of [false, true]) {
      for (let serverBits = 9; serverBits <= 15; serverBits++) {
        for (let clientBits = 9; clientBits <= 15; clientBits++) combos.push([serverNo, clientNo, serverBits, clientBits]);
      }
    }
  }
  // Short enough for a 9-bit window: zlib reaches back at most 2^bits - 262 bytes.
  const small = sampleText(120, 3);
  const large = sampleText(20_000, 5);
  const binary = noise(3000);

  it.each(combos)(
    'server_no_context_takeover=%s client_no_context_takeover=%s server_max_window_bits=%i client_max_window_bits=%i',
    async (serverNo, clientNo, serverBits, clientBits) => {
      const { server, client } = instances.pair(
        params({ serverNoContextTakeover: serverNo, clientNoContextTakeover: clientNo, serverMaxWindowBits: serverBits, clientMaxWindowBits: clientBits }),
      );
      const directions: Array<[PerMessageDeflate, PerMessageDeflate, boolean, number]> = [
        [server, client, serverNo, serverBits],
        [client, server, clientNo, clientBits],
      ];
      for (const [sender, receiver, noContext, bits] of directions) {
        const messages = [small, small, large, binary, Buffer.alloc(0), small];
        // Issued all at once: the instance serves them in order.
        const sent = await Promise.all(messages.map((m) => sender.compress(m)));
        const got = await Promise.all(sent.map((c) => receiver.decompress(c)));
        got.forEach((g, i) => expect(g.equals(messages[i]!)).toBe(true));

        if (noContext) expect(sent[1]!.equals(sent[0]!)).toBe(true);
        else expect(sent[1]!.length).toBeLessThan(sent[0]!.length / 4);

        // A plain zlib peer with exactly the agreed window reads the whole sequence: our
        // compressor never refers further back than 2^bits.
        const stream = Buffer.concat(sent.flatMap((c) => [c, TRAILER]));
        const plain = zlib.inflateRawSync(stream, { windowBits: bits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
        expect(plain.equals(Buffer.concat(messages))).toBe(true);
      }
    },
  );
});

describe('fragmented messages', () => {
  // The receiver resets after each message, so one instance serves every split of one payload.
  const receiverConfig: DeflateConfig = symmetric(true);

  it('decompresses a message in every two-way split of its payload', async () => {
    const message = sampleText(400, 11);
    const payload = deflateLikeAPeer(message);
    const p = instances.make(receiverConfig);
    for (let cut = 0; cut <= payload.length; cut++) {
      const out = await inflateParts(p, [payload.subarray(0, cut), payload.subarray(cut)], true);
      expect(out.equals(message)).toBe(true);
    }
  });

  it.each([1, 2, 3, 7])('decompresses a message fed %i byte(s) per fragment', async (size) => {
    const message = sampleText(400, 13);
    const payload = deflateLikeAPeer(message);
    const parts: Buffer[] = [];
    for (let i = 0; i < payload.length; i += size) parts.push(payload.subarray(i, i + size));
    const p = instances.make(receiverConfig);
    expect((await inflateParts(p, parts, true)).equals(message)).toBe(true);
    // And the RFC's "Hello", one byte per fragment.
    const hello = hex('f2 48 cd c9 c9 07 00');
    expect((await inflateParts(p, [...hello].map((b) => Uint8Array.of(b)), true)).toString()).toBe('Hello');
  });

  it('inflates each fragment as it arrives, before the message ends', async () => {
    const message = sampleText(50_000, 17);
    const payload = deflateLikeAPeer(message);
    const p = instances.make(receiverConfig);
    const first = await p.decompress(payload.subarray(0, payload.length >> 1), false);
    expect(first.length).toBeGreaterThan(10_000);
    const rest = await p.decompress(payload.subarray(payload.length >> 1), true);
    expect(Buffer.concat([first, rest]).equals(message)).toBe(true);
  });

  it.each([false, true])('compresses a message in fragments (no context takeover: %s)', async (noContext) => {
    const sender = instances.make(symmetric(noContext));
    const receiver = instances.make(symmetric(noContext));
    for (let round = 0; round < 3; round++) {
      const parts = [sampleText(700, round), sampleText(10, round + 1), Buffer.alloc(0), sampleText(5000, round + 2)];
      const out = await Promise.all(parts.map((part, i) => sender.compress(part, i === parts.length - 1)));
      // Non-final fragments keep their sync-flush tail: it is part of the deflate stream.
      for (const o of out.slice(0, -1)) expect(o.length === 0 || o.subarray(-4).equals(TRAILER)).toBe(true);
      const whole = Buffer.concat(parts);
      expect((await inflateParts(receiver, out)).equals(whole)).toBe(true);
    }
  });

  it('a multi-byte character split across fragments is valid text; one cut short at fin is not', async () => {
    // 'κ' is ce ba: the first fragment's inflated output ends between the two bytes.
    const sender = instances.make(symmetric(true));
    const p = instances.make(receiverConfig);
    const one = await sender.compress(Buffer.from([0x61, 0xce]), false);
    const two = await sender.compress(Buffer.from([0xba, 0x21]), true);
    expect((await inflateParts(p, [one, two], true)).toString()).toBe('aκ!');
    const cut = await sender.compress(Buffer.from([0x61, 0x62, 0xce]), true);
    const err = await protocolError(p.decompressText(cut));
    expect(err.closeCode).toBe(1007);
    expect(err.code).toBe('WS_ERR_INVALID_UTF8');
  });
});

describe('threshold', () => {
  const rows: Array<[PerMessageDeflateOptions, number, boolean]> = [
    [{}, 0, false],
    [{}, DEFAULT_DEFLATE_THRESHOLD - 1, false],
    [{}, DEFAULT_DEFLATE_THRESHOLD, true],
    [{}, 1 << 20, true],
    [{ threshold: 0 }, 0, true],
    [{ threshold: 10 }, 9, false],
    [{ threshold: 10 }, 10, true],
    [{ threshold: Infinity }, 1 << 30, false],
  ];
  it.each(rows)('with %o, shouldCompress(%i) is %s', (options, length, expected) => {
    expect(instances.make(symmetric(), options).shouldCompress(length)).toBe(expected);
  });

  it('defaults: 1024 bytes and 16 MiB', () => {
    const p = instances.make();
    expect(p.threshold).toBe(1024);
    expect(p.maxInflatedSize).toBe(DEFAULT_MAX_INFLATED_SIZE);
    expect(DEFAULT_MAX_INFLATED_SIZE).toBe(16 * 1024 * 1024);
  });

  it('compress() itself compresses whatever it is given', async () => {
    const p = instances.make(symmetric(), { threshold: 1 << 20 });
    expect((await p.compress(Buffer.from('Hello'))).toString('hex')).toBe('f248cdc9c90700');
  });
});

describe('options and config validation', () => {
  const base = symmetric();
  const bad: Array<[string, DeflateConfig, PerMessageDeflateOptions]> = [
    ['an 8-bit compression window', { ...base, compressWindowBits: 8 }, {}],
    ['a 16-bit compression window', { ...base, compressWindowBits: 16 }, {}],
    ['a 7-bit decompression window', { ...base, decompressWindowBits: 7 }, {}],
    ['a fractional window', { ...base, decompressWindowBits: 12.5 }, {}],
    ['a negative threshold', base, { threshold: -1 }],
    ['a NaN threshold', base, { threshold: NaN }],
    ['a zero maxInflatedSize', base, { maxInflatedSize: 0 }],
    ['a NaN maxInflatedSize', base, { maxInflatedSize: NaN }],
    ['level 10', base, { level: 10 }],
    ['level -2', base, { level: -2 }],
    ['memLevel 0', base, { memLevel: 0 }],
    ['memLevel 10', base, { memLevel: 10 }],
  ];
  it.each(bad)('rejects %s with a RangeError', (_name, config, options) => {
    expect(() => new PerMessageDeflate(config, options)).toThrow(RangeError);
  });

  it('accepts an 8-bit decompression window (inflating with 9 is compatible)', async () => {
    const config = deflateConfigFor(params({ clientMaxWindowBits: 8 }), 'server');
    const p = instances.make({ ...config, decompressWindowBits: 8 });
    expect((await p.decompress(deflateLikeAPeer(Buffer.from('tiny window'), 9))).toString()).toBe('tiny window');
  });

  const tuned: Array<[PerMessageDeflateOptions, string]> = [
    [{ level: 0 }, 'stored blocks only'],
    [{ level: 9, memLevel: 9 }, 'best compression'],
    [{ level: 1, memLevel: 1 }, 'least memory'],
  ];
  it.each(tuned)('round-trips with %o (%s)', async (options) => {
    const sender = instances.make(symmetric(), options);
    const receiver = instances.make();
    const m = sampleText(30_000, 23);
    expect((await receiver.decompress(await sender.compress(m))).equals(m)).toBe(true);
  });
});

describe('interop with plain zlib', () => {
  const sizes = [0, 1, 5, 1000, 70_000];
  const bits = [9, 12, 15];
  const rows = sizes.flatMap((size) => bits.map((b) => [size, b] as [number, number]));

  it.each(rows)('our %i-byte message with a %i-bit window is read by zlib.inflateRawSync', async (size, b) => {
    const p = instances.make(symmetric(false, b));
    const m = sampleText(size, size + b);
    expect(inflateLikeAPeer(await p.compress(m), b).equals(m)).toBe(true);
    // Binary data too (mostly stored blocks).
    const n = noise(size, b);
    const second = await p.compress(n);
    const both = zlib.inflateRawSync(Buffer.concat([await p.compress(Buffer.alloc(0)), TRAILER, second, TRAILER]), {
      windowBits: b,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    expect(both.equals(n)).toBe(true);
  });

  it.each(rows)('a %i-byte message from zlib.deflateRawSync with a %i-bit window is read by us', async (size, b) => {
    const p = instances.make(symmetric(true, b));
    const m = sampleText(size, size * 3 + b);
    expect((await p.decompressText(deflateLikeAPeer(m, b))).equals(m)).toBe(true);
    const n = noise(size, b + 1);
    expect((await p.decompress(deflateLikeAPeer(n, b))).equals(n)).toBe(true);
  });
});

describe('corrupt data and invalid UTF-8', () => {
  const corrupt: Array<[string, string[]]> = [
    ['a reserved block type (BTYPE 11)', ['ff ff ff ff']],
    ['a stored block whose NLEN is not ~LEN', ['00 05 00 00 00 48 65 6c 6c 6f']],
    ['a distance before the start of the window', ['f2 00 11 00 00']],
    ['a bad stored block length in the second fragment', ['00 05 00', '00 00 48 65 6c 6c 6f']],
  ];
  it.each(corrupt)('fails %s with 1007 WS_ERR_INVALID_COMPRESSED_DATA', async (_name, parts) => {
    const p = instances.make();
    const results = parts.map((part, i) => p.decompress(hex(part), i === parts.length - 1));
    const settled = await Promise.allSettled(results);
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(failed.length).toBeGreaterThan(0);
    const err = failed[0]!.reason as WebSocketProtocolError;
    expect(err).toBeInstanceOf(WebSocketProtocolError);
    expect(err.closeCode).toBe(1007);
    expect(err.code).toBe('WS_ERR_INVALID_COMPRESSED_DATA');
    // The peer's stream is unusable: later decompress calls fail with the same error...
    expect(await rejection(p.decompress(hex('f2 48 cd c9 c9 07 00')))).toBe(err);
    // ...while compression is unaffected.
    expect((await p.compress(Buffer.from('Hello'))).toString('hex')).toBe('f248cdc9c90700');
  });

  const invalidText: Array<[string, Buffer]> = [
    ['a lone continuation byte', Buffer.from([0x48, 0x80, 0x49])],
    ['an overlong encoding', Buffer.from([0x48, 0xc0, 0x80])],
    ['a surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['a code point above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
    ['0xff after 200 KB of valid text', Buffer.concat([sampleText(200_000, 29), Buffer.from([0xff])])],
    ['a truncated final sequence', Buffer.from([0x48, 0xce])],
  ];
  it.each(invalidText)('fails compressed text with %s with 1007 WS_ERR_INVALID_UTF8', async (_name, bytes) => {
    const p = instances.make(symmetric(true));
    const payload = deflateLikeAPeer(bytes);
    const err = await protocolError(p.decompressText(payload));
    expect(err.closeCode).toBe(1007);
    expect(err.code).toBe('WS_ERR_INVALID_UTF8');
    // The same bytes as a binary message are fine.
    const q = instances.make(symmetric(true));
    expect((await q.decompress(payload)).equals(bytes)).toBe(true);
  });

  it('rejects invalid UTF-8 when the inflated chunk holding it comes out, not at the end', async () => {
    // 1 MiB of text whose second byte is invalid: inflation stops after the first 16 KiB chunk.
    const probe = new ZlibProbe();
    const bytes = Buffer.concat([Buffer.from([0x41, 0xff]), sampleText(1 << 20, 31)]);
    const p = instances.make(symmetric(true));
    const err = await protocolError(p.decompressText(deflateLikeAPeer(bytes)));
    expect(err.code).toBe('WS_ERR_INVALID_UTF8');
    expect(probe.inflated[0]).toBeLessThanOrEqual(16 * 1024);
    expect(probe.inflaters[0]!.destroyed).toBe(true);
  });

  it('the failure is an ordinary Deferred failure carrying the WebSocketProtocolError', async () => {
    const p = instances.make();
    const d = p.decompress(hex('ff ff ff ff'));
    await rejection(d);
    expect(failureResultOf(d, WebSocketProtocolError).value).toBeInstanceOf(WebSocketProtocolError);
  });
});

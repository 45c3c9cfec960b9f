// permessage-deflate under pressure: the inflated-size cap against decompression bombs, call
// order under concurrency, the process-wide zlib concurrency limit, close() and cancel() with
// work pending.
import zlib from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CancelledError, type Deferred, type Failure } from '../../src/defer/index.js';
import {
  DEFAULT_ZLIB_CONCURRENCY,
  DeflateClosedError,
  WebSocketProtocolError,
  getZlibConcurrency,
  setZlibConcurrency,
  type PerMessageDeflate,
} from '../../src/websocket/index.js';
import { zlibSemaphore } from '../../src/websocket/zlib-limiter.js';
import { Instances, ZlibProbe, deflateLikeAPeer, noise, sampleText, symmetric } from './deflate-helpers.js';

const instances = new Instances();
afterEach(() => {
  instances.closeAll();
  vi.restoreAllMocks();
  setZlibConcurrency(DEFAULT_ZLIB_CONCURRENCY);
});

const MiB = 1024 * 1024;

async function rejection(d: PromiseLike<unknown>): Promise<unknown> {
  try {
    await d;
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

/** `total` zero bytes deflated (sync flush, tail removed) without ever holding them in memory. */
function deflateZeros(total: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = zlib.createDeflateRaw();
    const out: Buffer[] = [];
    s.on('data', (c: Buffer) => out.push(c));
    s.on('error', reject);
    const block = Buffer.alloc(MiB);
    for (let n = 0; n < total; n += MiB) s.write(n + MiB <= total ? block : block.subarray(0, total - n));
    s.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      const b = Buffer.concat(out);
      s.close();
      resolve(b.subarray(0, b.length - 4));
    });
  });
}

/** Slots of the process-wide limit currently free: equal to the limit when nothing leaked. */
function freeSlots(): number {
  return zlibSemaphore().tokens;
}

describe('decompression bombs and the inflated-size cap', () => {
  let bomb: Buffer;
  beforeAll(async () => {
    bomb = await deflateZeros(100 * 1000 * 1000);
  });

  it('100 MB of zeros compresses to about 100 KB', () => {
    expect(bomb.length).toBeLessThan(200_000);
  });

  it.each([
    ['the default 16 MiB cap', undefined, 16 * MiB],
    ['a 64 KiB cap', 64 * 1024, 64 * 1024],
  ])('fails the bomb with 1009 under %s, quickly and without inflating it all', async (_name, cap, expectedCap) => {
    const probe = new ZlibProbe();
    const p = instances.make(symmetric(), cap === undefined ? {} : { maxInflatedSize: cap });
    const start = process.hrtime.bigint();
    const err = (await rejection(p.decompress(bomb))) as WebSocketProtocolError;
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    expect(err).toBeInstanceOf(WebSocketProtocolError);
    expect(err.closeCode).toBe(1009);
    expect(err.code).toBe('WS_ERR_MESSAGE_TOO_BIG');
    expect(ms).toBeLessThan(5000);
    // zlib was stopped at the cap: it produced at most one 16 KiB chunk past it, consumed only
    // a fraction of the input, and its stream is released.
    expect(probe.inflaters).toHaveLength(1);
    expect(probe.inflated[0]).toBeGreaterThan(expectedCap);
    expect(probe.inflated[0]).toBeLessThanOrEqual(expectedCap + 16 * 1024);
    expect(probe.inflaters[0]!.bytesWritten).toBeLessThan(bomb.length / 2);
    expect(probe.inflaters[0]!.destroyed).toBe(true);
  });

  it('fails a text bomb the same way (the size check comes before UTF-8 validation)', async () => {
    const p = instances.make(symmetric(), { maxInflatedSize: MiB });
    const err = (await rejection(p.decompressText(bomb))) as WebSocketProtocolError;
    expect(err.closeCode).toBe(1009);
  });

  const boundary: Array<[string, number[], boolean]> = [
    ['one part of exactly the cap', [1000], true],
    ['one part one byte over', [1001], false],
    ['two parts summing to the cap', [400, 600], true],
    ['two parts summing to one over', [600, 401], false],
    ['an empty message', [0], true],
  ];
  it.each(boundary)('with a 1000-byte cap, accepts or fails (1009) %s', async (_name, sizes, ok) => {
    const sender = instances.make();
    const receiver = instances.make(symmetric(), { maxInflatedSize: 1000 });
    const parts = sizes.map((n, i) => sampleText(n, i + 1));
    const payloads = await Promise.all(parts.map((part, i) => sender.compress(part, i === parts.length - 1)));
    const results = payloads.map((c, i) => receiver.decompressText(c, i === payloads.length - 1));
    const settled = await Promise.allSettled(results);
    if (ok) {
      const values = settled.map((s) => (s as PromiseFulfilledResult<Buffer>).value);
      expect(Buffer.concat(values).equals(Buffer.concat(parts))).toBe(true);
    } else {
      const last = settled[settled.length - 1]!;
      expect(last.status).toBe('rejected');
      expect(((last as PromiseRejectedResult).reason as WebSocketProtocolError).closeCode).toBe(1009);
      // Earlier parts, under the cap on their own, were delivered.
      for (const s of settled.slice(0, -1)) expect(s.status).toBe('fulfilled');
    }
  });

  it('counts each message on its own: many messages just under the cap all pass', async () => {
    const sender = instances.make();
    const receiver = instances.make(symmetric(), { maxInflatedSize: 1000 });
    const messages = Array.from({ length: 50 }, (_, i) => sampleText(1000, i));
    const out = await Promise.all(messages.map(async (m) => receiver.decompress(await sender.compress(m))));
    out.forEach((o, i) => expect(o.equals(messages[i]!)).toBe(true));
  });

  it('after a 1009 the peer stream is poisoned; compression still works', async () => {
    const p = instances.make(symmetric(), { maxInflatedSize: 1000 });
    const tooBig = p.decompress(deflateLikeAPeer(Buffer.alloc(5000)));
    const queued = p.decompress(deflateLikeAPeer(Buffer.from('small')));
    const err = await rejection(tooBig);
    expect(await rejection(queued)).toBe(err);
    expect(await rejection(p.decompress(deflateLikeAPeer(Buffer.from('later'))))).toBe(err);
    expect((await p.compress(Buffer.from('Hello'))).toString('hex')).toBe('f248cdc9c90700');
  });

  it('maxInflatedSize: Infinity disables the cap', async () => {
    const p = instances.make(symmetric(), { maxInflatedSize: Infinity });
    const out = await p.decompress(await deflateZeros(20 * MiB));
    expect(out.length).toBe(20 * MiB);
  });
});

describe('order under concurrency', () => {
  it('300 compress calls in flight on one instance fire in call order and decode in order', async () => {
    const sender = instances.make();
    const receiver = instances.make();
    const messages = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? noise(5000 + i, i) : sampleText((i * 37) % 4000, i)));
    const fired: number[] = [];
    const sent = messages.map((m, i) =>
      sender.compress(m).addCallback((c) => {
        fired.push(i);
        return c;
      }),
    );
    expect(sender.pending).toBe(300);
    const payloads = await Promise.all(sent);
    expect(fired).toEqual(messages.map((_, i) => i));
    expect(sender.pending).toBe(0);
    const got = await Promise.all(payloads.map((c) => receiver.decompress(c)));
    got.forEach((g, i) => expect(g.equals(messages[i]!)).toBe(true));
  });

  it('interleaved compress and decompress calls on many instances keep each instance in call order', async () => {
    const peers = Array.from({ length: 30 }, () => ({ local: instances.make(), remote: instances.make() }));
    const incoming = await Promise.all(
      peers.map(async ({ remote }, k) => Promise.all(Array.from({ length: 10 }, (_, i) => remote.compress(sampleText(2000, k * 100 + i))))),
    );
    await Promise.all(
      peers.map(async ({ local }, k) => {
        const order: string[] = [];
        const ops: Array<Deferred<Buffer>> = [];
        for (let i = 0; i < 10; i++) {
          ops.push(local.decompress(incoming[k]![i]!).addCallback((b) => (order.push(`d${i}`), b)));
          ops.push(local.compress(noise(3000, i)).addCallback((b) => (order.push(`c${i}`), b)));
        }
        const results = await Promise.all(ops);
        expect(order).toEqual(Array.from({ length: 10 }, (_, i) => [`d${i}`, `c${i}`]).flat());
        for (let i = 0; i < 10; i++) expect(results[2 * i]!.equals(sampleText(2000, k * 100 + i))).toBe(true);
      }),
    );
  });
});

describe('the process-wide zlib concurrency limit', () => {
  it(`defaults to ${DEFAULT_ZLIB_CONCURRENCY}`, () => {
    expect(DEFAULT_ZLIB_CONCURRENCY).toBe(10);
    expect(getZlibConcurrency()).toBe(10);
  });

  it.each([0, -1, 1.5, NaN, Infinity])('setZlibConcurrency(%s) is a RangeError', (n) => {
    expect(() => setZlibConcurrency(n)).toThrow(RangeError);
    expect(getZlibConcurrency()).toBe(DEFAULT_ZLIB_CONCURRENCY);
  });

  it.each([
    [1, 12],
    [3, 20],
    [DEFAULT_ZLIB_CONCURRENCY, 40],
  ])('with a limit of %i, %i connections compressing at once never run more zlib operations than that', async (limit, connections) => {
    setZlibConcurrency(limit);
    expect(getZlibConcurrency()).toBe(limit);
    const probe = new ZlibProbe();
    const senders = Array.from({ length: connections }, () => instances.make());
    const receivers = Array.from({ length: connections }, () => instances.make());
    const messages = senders.map((_, i) => Buffer.concat([noise(100_000, i), sampleText(100_000, i)]));
    const compressed = await Promise.all(senders.flatMap((s, i) => [s.compress(messages[i]!), s.compress(messages[i]!)]));
    const inflated = await Promise.all(receivers.flatMap((r, i) => [r.decompress(compressed[2 * i]!), r.decompress(compressed[2 * i + 1]!)]));
    inflated.forEach((b, j) => expect(b.equals(messages[j >> 1]!)).toBe(true));
    // The limit was reached (the test is not vacuous) and never exceeded.
    expect(probe.maxActive).toBe(limit);
    expect(probe.active).toBe(0);
    expect(freeSlots()).toBe(limit);
  });
});

describe('close() with pending work', () => {
  it('fails the running and queued operations with DeflateClosedError, in call order', async () => {
    const probe = new ZlibProbe();
    const p = instances.make();
    const peerPayload = deflateLikeAPeer(sampleText(100_000));
    const ops = [
      p.compress(noise(500_000)),
      p.decompress(peerPayload),
      p.compress(Buffer.from('Hello')),
      p.decompressText(peerPayload),
      p.compress(Buffer.from('Hello'), false),
    ];
    const failedInOrder: number[] = [];
    const errors = ops.map((d, i) =>
      d.addCallbacks(
        () => 'unexpected success',
        (f: Failure) => {
          failedInOrder.push(i);
          return f.value;
        },
      ),
    );
    expect(p.pending).toBe(5);
    p.close();
    expect(p.closed).toBe(true);
    expect(p.pending).toBe(0);
    expect(failedInOrder).toEqual([0, 1, 2, 3, 4]);
    for (const e of await Promise.all(errors)) {
      expect(e).toBeInstanceOf(DeflateClosedError);
      expect((e as Error).message).toMatch(/closed/);
    }
    // Later calls fail the same way; every zlib stream opened is released; no slot leaked.
    expect(await rejection(p.compress(Buffer.from('x')))).toBeInstanceOf(DeflateClosedError);
    expect(await rejection(p.decompress(Buffer.from('x')))).toBeInstanceOf(DeflateClosedError);
    expect(probe.deflaters).toHaveLength(1);
    for (const s of probe.streams) expect(s.destroyed).toBe(true);
    expect(freeSlots()).toBe(DEFAULT_ZLIB_CONCURRENCY);
    p.close(); // idempotent
  });

  it('releases both streams after use, and opens none for a direction never used', async () => {
    const probe = new ZlibProbe();
    const sendOnly = instances.make();
    await sendOnly.compress(Buffer.from('Hello'));
    const both = instances.make();
    await both.decompress(await both.compress(Buffer.from('Hello')));
    expect(probe.deflaters).toHaveLength(2);
    expect(probe.inflaters).toHaveLength(1);
    for (const s of probe.streams) expect(s.destroyed).toBe(false);
    sendOnly.close();
    both.close();
    for (const s of probe.streams) expect(s.destroyed).toBe(true);
  });

  it('gives back a slot it holds: a connection waiting for it proceeds', async () => {
    setZlibConcurrency(1);
    const a = instances.make();
    const b = instances.make();
    const running = a.compress(noise(2 * MiB));
    const waiting = b.compress(Buffer.from('Hello'));
    expect(freeSlots()).toBe(0);
    a.close();
    expect(await rejection(running)).toBeInstanceOf(DeflateClosedError);
    expect((await waiting).toString('hex')).toBe('f248cdc9c90700');
    expect(freeSlots()).toBe(1);
  });

  it('leaves the line when closed while waiting for a slot', async () => {
    setZlibConcurrency(1);
    const a = instances.make();
    const b = instances.make();
    const c = instances.make();
    const running = a.compress(sampleText(500_000));
    const waitingB = b.compress(Buffer.from('Hello'));
    const waitingC = c.compress(Buffer.from('Hello'));
    b.close();
    expect(await rejection(waitingB)).toBeInstanceOf(DeflateClosedError);
    const out = await Promise.all([running, waitingC]);
    expect(out[1]!.toString('hex')).toBe('f248cdc9c90700');
    expect(freeSlots()).toBe(1);
  });

  it('closing from inside a result callback fails the rest', async () => {
    const p = instances.make();
    const first = p.compress(Buffer.from('Hello')).addCallback((c) => {
      p.close();
      return c;
    });
    const second = p.compress(Buffer.from('Hello'));
    expect((await first).toString('hex')).toBe('f248cdc9c90700');
    expect(await rejection(second)).toBeInstanceOf(DeflateClosedError);
    expect(freeSlots()).toBe(DEFAULT_ZLIB_CONCURRENCY);
  });
});

describe('cancel()', () => {
  it('a queued operation leaves the queue; the others complete in order', async () => {
    const sender = instances.make();
    const receiver = instances.make();
    const messages = [sampleText(3000, 1), sampleText(3000, 2), sampleText(3000, 3)];
    const ds = messages.map((m) => sender.compress(m));
    ds[1]!.cancel();
    expect(await rejection(ds[1]!)).toBeInstanceOf(CancelledError);
    const [one, three] = await Promise.all([ds[0]!, ds[2]!]);
    expect((await receiver.decompress(one!)).equals(messages[0]!)).toBe(true);
    expect((await receiver.decompress(three!)).equals(messages[2]!)).toBe(true);
  });

  it('a running compression fails at once; the compressor forgets it, so the peer never needs it', async () => {
    const sender = instances.make();
    const m = sampleText(3000, 5);
    const running = sender.compress(m);
    running.cancel();
    expect(await rejection(running)).toBeInstanceOf(CancelledError);
    // The same text again: had the cancelled output stayed in the window, this would refer to
    // bytes the peer never received.
    const next = await sender.compress(m);
    const freshPeer = instances.make();
    expect((await freshPeer.decompress(next)).equals(m)).toBe(true);
    expect(freeSlots()).toBe(DEFAULT_ZLIB_CONCURRENCY);
  });

  it('an operation waiting for a slot leaves the line and fails with CancelledError', async () => {
    setZlibConcurrency(1);
    const a = instances.make();
    const b = instances.make();
    const running = a.compress(sampleText(500_000));
    const waiting = b.compress(Buffer.from('Hello'));
    const after = b.compress(Buffer.from('Hello'));
    const fired: string[] = [];
    waiting.addErrback((f: Failure) => {
      fired.push('waiting');
      return f;
    });
    after.addCallback((c) => (fired.push('after'), c));
    waiting.cancel();
    expect(await rejection(waiting)).toBeInstanceOf(CancelledError);
    await running;
    expect((await after).toString('hex')).toBe('f248cdc9c90700');
    expect(fired).toEqual(['waiting', 'after']);
    expect(freeSlots()).toBe(1);
  });
});

describe('instances are independent', () => {
  it('a poisoned or closed instance does not affect another', async () => {
    const bad = instances.make();
    const good = instances.make();
    const failed = bad.decompress(Buffer.from('ffffffff', 'hex'));
    const fine = good.decompress(deflateLikeAPeer(Buffer.from('fine')));
    expect(((await rejection(failed)) as WebSocketProtocolError).closeCode).toBe(1007);
    bad.close();
    expect((await fine).toString()).toBe('fine');
    const check: PerMessageDeflate = good;
    expect(check.closed).toBe(false);
  });
});

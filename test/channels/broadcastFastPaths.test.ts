// The fast paths of a group broadcast, each pinned by what would go wrong if it were wrong: the
// consumer loop (messages taken back to back, one microtask for many consumers), the layer's
// groupSend (one copy per member, of the message as sent; waiting lines kept for members), and
// the server's shared frame (one frame for consecutive sends of the same text).
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { AsyncConsumer } from '../../src/channels/consumers/asyncConsumer.js';
import { StopConsumer } from '../../src/channels/consumers/exceptions.js';
import { AsyncWebsocketConsumer } from '../../src/channels/consumers/websocketConsumer.js';
import type { ASGIEvent, Message } from '../../src/channels/types.js';
import { connectTo, layer } from './consumerFixture.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { assertNoResult } from '../../src/testing/results.js';
import { serverFrames, settleMany, startServer, upgrade, type Conn } from './serverHelpers.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));


describe('the consumer loop', () => {
  it('takes queued messages back to back, in order, one handler at a time, even when handlers await', async () => {
    const log: string[] = [];
    let channel = '';
    class Worker extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        channel = this.channelName;
        return this.accept();
      }
      async job_slow(m: ASGIEvent): Promise<void> {
        log.push(`start ${String(m.n)}`);
        await settle(); // a real wait: the next message must not start meanwhile
        log.push(`end ${String(m.n)}`);
      }
      job_sync(m: ASGIEvent): void {
        log.push(`sync ${String(m.n)}`);
      }
      job_deferred(m: ASGIEvent): Deferred<void> {
        log.push(`deferred ${String(m.n)}`);
        return Deferred.fromPromise(this.send({ text: `d${String(m.n)}` }));
      }
    }
    const comm = connectTo(Worker.asApp());
    await comm.connect();
    // Queued before the consumer looks: all taken from the layer's queue, in order.
    const types = ['job.slow', 'job.sync', 'job.deferred', 'job.slow', 'job.sync', 'job.deferred', 'job.sync'];
    for (let n = 0; n < types.length; n++) await layer.send(channel, { type: types[n]!, n });
    for (let i = 0; i < 10; i++) await settle();
    expect(log).toEqual([
      'start 0',
      'end 0',
      'sync 1',
      'deferred 2',
      'start 3',
      'end 3',
      'sync 4',
      'deferred 5',
      'sync 6',
    ]);
    expect(await comm.receiveFrom()).toEqual({ text: 'd2' });
    expect(await comm.receiveFrom()).toEqual({ text: 'd5' });
  });

  it('StopConsumer from a handler ends the consumer: the messages queued behind it are not handled', async () => {
    const log: string[] = [];
    let channel = '';
    class Quitter extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        channel = this.channelName;
        return this.accept();
      }
      job_run(m: ASGIEvent): void {
        log.push(`run ${String(m.n)}`);
        if (m.n === 1) throw new StopConsumer();
      }
    }
    const comm = connectTo(Quitter.asApp());
    await comm.connect();
    for (const n of [0, 1, 2, 3]) await layer.send(channel, { type: 'job.run', n });
    await comm.wait();
    expect(log).toEqual(['run 0', 'run 1']);
    // It left its groups and stopped reading its channel: what it did not take is still queued.
    expect(await layer.receive(channel)).toMatchObject({ n: 2 });
  });

  it('a failing handler among queued ones ends the consumer with its error', async () => {
    let channel = '';
    class Crasher extends AsyncConsumer {
      async websocket_connect(): Promise<void> {
        channel = this.channelName;
        await this.send({ type: 'websocket.accept' });
      }
      job_run(m: ASGIEvent): void {
        if (m.n === 1) throw new RangeError('boom 1');
      }
      job_never(): void {
        throw new Error('never reached');
      }
    }
    const comm = connectTo(Crasher.asApp());
    await comm.connect();
    await layer.send(channel, { type: 'job.run', n: 0 });
    await layer.send(channel, { type: 'job.run', n: 1 });
    await layer.send(channel, { type: 'job.never' });
    await expect(comm.wait()).rejects.toThrow('boom 1');
    flushLoggedErrors(RangeError);
  });

  it('an overridden dispatch() still sees every message', async () => {
    const seen: string[] = [];
    let channel = '';
    class Spy extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        channel = this.channelName;
        return this.accept();
      }
      override async dispatch(message: ASGIEvent): Promise<void> {
        seen.push(message.type);
        await super.dispatch(message);
      }
      job_run(): void {}
    }
    const comm = connectTo(Spy.asApp());
    await comm.connect();
    await layer.send(channel, { type: 'job.run' });
    await comm.sendTo({ text: 'hi' });
    for (let i = 0; i < 5; i++) await settle();
    expect(seen).toEqual(['websocket.connect', 'job.run', 'websocket.receive']);
  });

  it('a group send wakes every member; no handler runs inside groupSend, and causal order holds', async () => {
    const log: string[] = [];
    let made = 0;
    class Member extends AsyncWebsocketConsumer {
      readonly id = made++;
      static override groups = ['room'];
      async room_message(m: ASGIEvent): Promise<void> {
        log.push(`${this.id}:${String(m.text)}`);
        // The first member answers the group at once: every member must still see "first"
        // before "second" (all deliveries of one groupSend happen before any handler runs).
        if (m.text === 'first' && this.id === 0) await this.channelLayer.groupSend('room', { type: 'room.message', text: 'second' });
      }
    }
    const comms = [0, 1, 2].map(() => connectTo(Member.asApp()));
    for (const c of comms) await c.connect();
    const d = layer.groupSend('room', { type: 'room.message', text: 'first' });
    expect(log).toEqual([]); // nothing ran synchronously, inside the sender's call
    await d;
    for (let i = 0; i < 10; i++) await settle();
    for (const id of [0, 1, 2]) {
      expect(log.filter((l) => l.startsWith(`${id}:`))).toEqual([`${id}:first`, `${id}:second`]);
    }
  });
});

describe('InMemoryChannelLayer.groupSend', () => {
  it('gives each member its own copy of the message as it was sent, whatever an earlier receiver does', async () => {
    const a = await layer.newChannel();
    const b = await layer.newChannel();
    const c = await layer.newChannel();
    for (const ch of [a, b, c]) await layer.groupAdd('g', ch);
    const sent: Message = { type: 'm', text: 'hi', n: 1 };
    const got: Message[] = [];
    // Receivers run synchronously inside groupSend: the first one mutates the sender's object
    // and its own copy.
    layer.receive(a).addCallback((m) => {
      got.push(m);
      sent.text = 'changed';
      m.n = 99;
    });
    layer.receive(b).addCallback((m) => void got.push(m));
    layer.receive(c).addCallback((m) => void got.push(m));
    await layer.groupSend('g', sent);
    expect(got).toEqual([
      { type: 'm', text: 'hi', n: 99 },
      { type: 'm', text: 'hi', n: 1 },
      { type: 'm', text: 'hi', n: 1 },
    ]);
    expect(got[1]).not.toBe(got[2]);
    // Nested values too (the structuredClone path).
    const nested: Message = { type: 'm', list: [1, { x: 2 }] };
    const d1 = layer.receive(a);
    const d2 = layer.receive(b);
    const d3 = layer.receive(c);
    await layer.groupSend('g', nested);
    const [m1, m2] = [await d1, await d2];
    await d3;
    expect(m2).toEqual(nested);
    expect(m1.list).not.toBe(m2.list);
    expect(m1.list).not.toBe(nested.list);
  });

  it('keeps serving a member that waits again after every message, and forgets it once it left', async () => {
    const ch = await layer.newChannel();
    await layer.groupAdd('g', ch);
    for (let i = 0; i < 3; i++) {
      const d = layer.receive(ch);
      assertNoResult(d);
      await layer.groupSend('g', { type: 'm', i });
      expect(await d).toEqual({ type: 'm', i });
    }
    await layer.groupDiscard('g', ch);
    const d = layer.receive(ch);
    await layer.groupSend('g', { type: 'm', i: 3 });
    assertNoResult(d); // no longer a member
    await layer.send(ch, { type: 'direct' });
    expect(await d).toEqual({ type: 'direct' });
    // A name that is no member's is still checked.
    expect(() => layer.receive('bad name!')).toThrow(TypeError);
    // flush() forgets the groups: a waiting member keeps waiting for direct sends.
    await layer.groupAdd('g', ch);
    const waiting = layer.receive(ch);
    await layer.flush();
    await layer.groupSend('g', { type: 'lost' });
    assertNoResult(waiting);
    await layer.send(ch, { type: 'after' });
    expect(await waiting).toEqual({ type: 'after' });
  });
});

describe('the server: one frame for consecutive sends of the same text', () => {
  /** Accepts, then sends whatever text the layer brings (as a broadcast member does). */
  class Member extends AsyncWebsocketConsumer {
    static override groups = ['room'];
    async room_message(m: ASGIEvent): Promise<void> {
      await this.send({ text: m.text as string });
    }
  }

  async function members(n: number, extensions: Record<string, string> = {}): Promise<{ conns: Conn[]; end: () => Promise<void> }> {
    const server = await startServer(Member.asApp(), { channelLayer: layer, websocketPingInterval: null });
    const conns: Conn[] = [];
    for (let i = 0; i < n; i++) {
      const c = server.connect();
      c.send(upgrade('/ws/', extensions));
      conns.push(c);
    }
    await settleMany(3);
    for (const c of conns) expect(c.out()).toMatch(/^HTTP\/1\.1 101 /);
    const end = async (): Promise<void> => {
      for (const c of conns) c.lose(true);
      await settleMany(3);
    };
    return { conns, end };
  }

  const texts = (c: Conn): string[] => serverFrames(c.transport.value()).map((f) => f.payload.toString('utf8'));

  it('never sends a frame made for another text', async () => {
    const { conns, end } = await members(3);
    const sequence = ['same', 'same', 'other', 'é€😀 unicode', 'same', '', 'x'.repeat(300), 'x'.repeat(70_000), 'x'.repeat(299) + 'y'];
    for (const text of sequence) {
      await layer.groupSend('room', { type: 'room.message', text });
      await settleMany(2);
    }
    for (const c of conns) expect(texts(c)).toEqual(sequence);
    await end();
  });

  it('a connection that negotiated compression compresses as before (no shared frame)', async () => {
    const { conns, end } = await members(2, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    const big = 'z'.repeat(4096); // over the compression threshold
    const before = conns.map((c) => c.transport.value().length);
    await layer.groupSend('room', { type: 'room.message', text: big });
    // Compression runs on zlib's threads: real turns, bounded in time (a loaded machine — the
    // whole suite runs in parallel — can keep zlib's pool busy for more than a few hundred turns).
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && conns.some((c, k) => c.transport.value().length === before[k])) await settle();
    for (const c of conns) {
      const out = c.transport.value();
      const head = out.indexOf('\r\n\r\n') + 4;
      expect(out.subarray(0, head).toString('latin1')).toMatch(/sec-websocket-extensions: permessage-deflate/i);
      expect(out[head]! & 0x40).toBe(0x40); // RSV1: compressed
      expect(out.length - head).toBeLessThan(1000);
    }
    await end();
  });
});

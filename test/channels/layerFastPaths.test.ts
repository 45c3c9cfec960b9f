// The in-memory layer's broadcast fast paths, each pinned by what would go wrong if it were wrong:
// one record per channel (memberships point at it, a waiter remembers it), groups walked as a
// flat array of memberships (left ones marked, compacted into a new array now and then), the
// consumer loop's re-armed waiter instead of a Deferred per message, the handler-name cache, and
// a consumer's send that the server carried out at once.
import { afterEach, describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import { Deferred } from '../../src/defer/deferred.js';
import { AsyncConsumer } from '../../src/channels/consumers/asyncConsumer.js';
import { registerFrameworkClass, resolveHandler } from '../../src/channels/consumers/dispatch.js';
import { DispatchError } from '../../src/channels/consumers/exceptions.js';
import { AsyncHttpConsumer } from '../../src/channels/consumers/httpConsumer.js';
import { AsyncWebsocketConsumer } from '../../src/channels/consumers/websocketConsumer.js';
import { ChannelLayerClosed } from '../../src/channels/layers/errors.js';
import { InMemoryChannelLayer, type ChannelWaiter } from '../../src/channels/layers/inMemory.js';
import { WebsocketCommunicator } from '../../src/channels/testing/websocketCommunicator.js';
import type { ASGIEvent, Message } from '../../src/channels/types.js';
import { Clock } from '../../src/testing/clock.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { request, serverFrames, settleMany, startServer, upgrade } from './serverHelpers.js';

function make(options: ConstructorParameters<typeof InMemoryChannelLayer>[0] = {}): { layer: InMemoryChannelLayer; clock: Clock } {
  const clock = new Clock();
  return { layer: new InMemoryChannelLayer({ reactor: clock, ...options }), clock };
}

/** A ChannelWaiter that records what it gets. */
function recorder(): ChannelWaiter & { got: Message[]; errors: unknown[] } {
  const got: Message[] = [];
  const errors: unknown[] = [];
  return { got, errors, spot: null, callback: (m) => void got.push(m), errback: (e) => void errors.push(e) };
}

/** Nothing is waiting on or queued for `channel`: a receive does not answer. */
function expectEmpty(layer: InMemoryChannelLayer, channel: string): void {
  const r = layer.receive(channel);
  assertNoResult(r);
  r.cancel();
  failureResultOf(r, CancelledError);
}

describe('InMemoryChannelLayer.receiveInto (the consumer loop’s waiter)', () => {
  test('gives a queued message at once, else waits and gets the next one synchronously inside send', () => {
    const { layer } = make();
    successResultOf(layer.send('c', { type: 'queued' }));
    const w = recorder();
    expect(layer.receiveInto('c', w)).toEqual({ type: 'queued' });
    expect(layer.receiveInto('c', w)).toBeUndefined();
    successResultOf(layer.send('c', { type: 'next' }));
    expect(w.got).toEqual([{ type: 'next' }]);
    // Taken: the next message is queued, not handed to the spent waiter.
    successResultOf(layer.send('c', { type: 'later' }));
    expect(w.got).toHaveLength(1);
    expect(successResultOf(layer.receive('c'))).toEqual({ type: 'later' });
  });

  test('waiters and receive() Deferreds share one line, served in the order they came', () => {
    const { layer } = make();
    const w = recorder();
    const d1 = layer.receive('c');
    expect(layer.receiveInto('c', w)).toBeUndefined();
    const d2 = layer.receive('c');
    for (const n of [1, 2, 3]) successResultOf(layer.send('c', { type: 't', n }));
    expect(successResultOf(d1).n).toBe(1);
    expect(w.got.map((m) => m.n)).toEqual([2]);
    expect(successResultOf(d2).n).toBe(3);
  });

  // The line keeps its first receiver in a field of its own and the rest in an array: withdraw
  // each position in turn, and the others are served in the order they came.
  test.each([0, 1, 2, 3])('withdrawing waiter %i of four keeps the order of the other three', (gone) => {
    const { layer } = make();
    const waiters = [recorder(), recorder(), recorder(), recorder()];
    for (const w of waiters) expect(layer.receiveInto('c', w)).toBeUndefined();
    layer.cancelReceiveInto('c', waiters[gone]!);
    for (const n of [1, 2, 3, 4]) successResultOf(layer.send('c', { type: 't', n }));
    const order = waiters.map((w) => w.got.map((m) => m.n));
    const expected: number[][] = [];
    let next = 1;
    for (let i = 0; i < 4; i++) expected.push(i === gone ? [] : [next++]);
    expect(order).toEqual(expected);
    // Three were served; the fourth message is queued (nobody waits any more).
    expect(successResultOf(layer.receive('c')).n).toBe(4);
    expectEmpty(layer, 'c');
  });

  test('the last waiter leaving forgets a plain channel’s record; a new waiter starts a new line', () => {
    const { layer } = make();
    const a = recorder();
    const b = recorder();
    expect(layer.receiveInto('c', a)).toBeUndefined();
    expect(layer.receiveInto('c', b)).toBeUndefined();
    layer.cancelReceiveInto('c', a);
    layer.cancelReceiveInto('c', b);
    expect(layer.receiveInto('c', a)).toBeUndefined();
    successResultOf(layer.send('c', { type: 'one' }));
    expect(a.got).toEqual([{ type: 'one' }]);
    expect(b.got).toEqual([]);
  });

  test('honours expiry: an expired queued message is dropped, and the waiter waits', () => {
    const { layer, clock } = make({ expiry: 10 });
    successResultOf(layer.send('c', { type: 'old' }));
    clock.rightNow += 11;
    const w = recorder();
    expect(layer.receiveInto('c', w)).toBeUndefined();
    expect(layer.stats.messagesExpired).toBe(1);
    successResultOf(layer.send('c', { type: 'new' }));
    expect(w.got).toEqual([{ type: 'new' }]);
  });

  test('cancelReceiveInto takes the waiter out of the line: the next message stays queued', () => {
    const { layer } = make();
    const w = recorder();
    expect(layer.receiveInto('c', w)).toBeUndefined();
    layer.cancelReceiveInto('c', w);
    layer.cancelReceiveInto('c', w); // not in the line: nothing happens
    layer.cancelReceiveInto('never.used', w);
    successResultOf(layer.send('c', { type: 'kept' }));
    expect(w.got).toEqual([]);
    expect(successResultOf(layer.receive('c'))).toEqual({ type: 'kept' });
  });

  test('close() fails a waiting waiter with ChannelLayerClosed; after it receiveInto throws', () => {
    const { layer } = make();
    const w = recorder();
    successResultOf(layer.groupAdd('g', 'c'));
    expect(layer.receiveInto('c', w)).toBeUndefined();
    successResultOf(layer.close());
    expect(w.errors).toHaveLength(1);
    expect(w.errors[0]).toBeInstanceOf(ChannelLayerClosed);
    // The record it remembers is no longer the layer's.
    expect(() => layer.receiveInto('c', w)).toThrow(ChannelLayerClosed);
  });

  test('checks the name like receive(), unless the layer already holds it', () => {
    const { layer } = make();
    expect(() => layer.receiveInto('bad name', recorder())).toThrow(TypeError);
    expect(() => layer.receiveInto('a!b!c', recorder())).toThrow(/at most one "!"/);
  });

  test('a remembered record is reused only while it is that layer’s record of that name', () => {
    const { layer } = make();
    const other = make().layer;
    const w = recorder();
    // Waits in a record that is then forgotten (a plain channel, emptied by the delivery).
    expect(layer.receiveInto('c', w)).toBeUndefined();
    successResultOf(layer.send('c', { type: 'one' }));
    // A new record for the same name: the waiter must land in it, not in the stale one.
    successResultOf(layer.send('c', { type: 'two' }));
    expect(layer.receiveInto('c', w)).toEqual({ type: 'two' });
    expect(layer.receiveInto('c', w)).toBeUndefined();
    successResultOf(layer.send('c', { type: 'three' }));
    // Another name, and the same name on another layer: the remembered record (kept alive by
    // a membership) is not theirs.
    successResultOf(layer.groupAdd('g', 'd'));
    expect(layer.receiveInto('d', w)).toBeUndefined();
    successResultOf(layer.send('d', { type: 'four' }));
    expect(other.receiveInto('d', w)).toBeUndefined();
    successResultOf(other.send('d', { type: 'five' }));
    successResultOf(layer.send('d', { type: 'six' }));
    expect(w.got.map((m) => m.type)).toEqual(['one', 'three', 'four', 'five']);
    expect(successResultOf(layer.receive('d'))).toEqual({ type: 'six' });
  });
});

describe('InMemoryChannelLayer groups: the flat member list', () => {
  test('members who join during a groupSend do not get that message; they get the next', () => {
    const { layer } = make();
    successResultOf(layer.groupAdd('g', 'a'));
    layer.receive('a').addCallback(() => {
      successResultOf(layer.groupAdd('g', 'late'));
    });
    successResultOf(layer.groupSend('g', { type: 'first' }));
    expectEmpty(layer, 'late');
    successResultOf(layer.groupSend('g', { type: 'second' }));
    expect(successResultOf(layer.receive('late'))).toEqual({ type: 'second' });
  });

  test('a waiting member discarded during a groupSend is skipped', () => {
    const { layer } = make();
    for (const ch of ['a', 'b']) successResultOf(layer.groupAdd('g', ch));
    const b = layer.receive('b');
    layer.receive('a').addCallback(() => {
      successResultOf(layer.groupDiscard('g', 'b'));
    });
    successResultOf(layer.groupSend('g', { type: 'x' }));
    assertNoResult(b);
    b.cancel();
    failureResultOf(b, CancelledError);
  });

  test('a member who leaves and rejoins during a groupSend is not sent it (it rejoined after)', () => {
    const { layer } = make();
    for (const ch of ['a', 'b']) successResultOf(layer.groupAdd('g', ch));
    const b = layer.receive('b');
    layer.receive('a').addCallback(() => {
      successResultOf(layer.groupDiscard('g', 'b'));
      successResultOf(layer.groupAdd('g', 'b'));
    });
    successResultOf(layer.groupSend('g', { type: 'x' }));
    assertNoResult(b);
    successResultOf(layer.groupSend('g', { type: 'y' }));
    expect(successResultOf(b)).toEqual({ type: 'y' });
    expectEmpty(layer, 'b');
  });

  test('join order: a refresh keeps its place, a rejoin goes last', () => {
    const { layer } = make();
    for (const ch of ['a', 'b', 'c']) successResultOf(layer.groupAdd('g', ch));
    successResultOf(layer.groupAdd('g', 'a')); // refresh
    successResultOf(layer.groupDiscard('g', 'b'));
    successResultOf(layer.groupAdd('g', 'b')); // rejoin
    const order: string[] = [];
    for (const ch of ['a', 'b', 'c']) layer.receive(ch).addCallback(() => void order.push(ch));
    successResultOf(layer.groupSend('g', { type: 'x' }));
    expect(order).toEqual(['a', 'c', 'b']);
  });

  test('many members leaving (the list is compacted) during and between sends: each member gets each message once', () => {
    const { layer } = make({ capacity: 10 });
    const names = Array.from({ length: 200 }, (_, i) => `m${i}`);
    for (const ch of names) successResultOf(layer.groupAdd('g', ch));
    // The first member, on the first message, discards 150 others (enough to compact the list
    // while the groupSend walks the old one), including some already delivered to.
    let first = true;
    layer.receive('m0').addCallback(() => {
      if (!first) return;
      first = false;
      for (let i = 20; i < 170; i++) successResultOf(layer.groupDiscard('g', `m${i}`));
    });
    successResultOf(layer.groupSend('g', { type: 'one' }));
    successResultOf(layer.groupSend('g', { type: 'two' }));
    const stay = names.filter((_, i) => i < 20 || i >= 170);
    const left = names.filter((_, i) => i >= 20 && i < 170);
    for (const ch of stay) {
      const types: string[] = [];
      if (ch !== 'm0') types.push(successResultOf(layer.receive(ch)).type);
      types.push(successResultOf(layer.receive(ch)).type);
      expect(types).toEqual(ch === 'm0' ? ['two'] : ['one', 'two']);
      expectEmpty(layer, ch);
    }
    for (const ch of left) expectEmpty(layer, ch);
    // Leaving until the group is empty, then joining again, starts a new group.
    for (const ch of stay) successResultOf(layer.groupDiscard('g', ch));
    successResultOf(layer.groupAdd('g', 'm5'));
    successResultOf(layer.groupSend('g', { type: 'three' }));
    expect(successResultOf(layer.receive('m5'))).toEqual({ type: 'three' });
    expectEmpty(layer, 'm6');
  });

  test('flush during a groupSend: the members not reached yet are not sent it', () => {
    const { layer } = make();
    for (const ch of ['a', 'b']) successResultOf(layer.groupAdd('g', ch));
    layer.receive('a').addCallback(() => {
      successResultOf(layer.flush());
    });
    successResultOf(layer.groupSend('g', { type: 'x' }));
    expectEmpty(layer, 'b');
  });
});

describe('the consumer loop on the in-memory layer', () => {
  let open: WebsocketCommunicator[] = [];
  afterEach(async () => {
    for (const c of open) await c.stop({ exceptions: false });
    open = [];
  });

  test('a layer subclass that overrides receive() still sees every receive of the consumer', async () => {
    const seen: string[] = [];
    class Spying extends InMemoryChannelLayer {
      override receive(channel: string): Deferred<Message> {
        seen.push(channel);
        return super.receive(channel);
      }
    }
    const layer = new Spying({ reactor: new Clock() });
    const got: string[] = [];
    let channel = '';
    class Member extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        channel = this.channelName;
        return this.accept();
      }
      job_run(m: ASGIEvent): void {
        got.push(String(m.n));
      }
    }
    const comm = new WebsocketCommunicator(Member.asApp(), '/ws/', { channelLayer: layer });
    open.push(comm);
    await comm.connect();
    for (const n of [1, 2]) await layer.send(channel, { type: 'job.run', n });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(got).toEqual(['1', '2']);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen)).toEqual(new Set([channel]));
    await layer.close();
  });

  test('a consumer that ends withdraws its waiter: a message sent afterwards stays queued', async () => {
    const layer = new InMemoryChannelLayer({ reactor: new Clock() });
    let channel = '';
    class Member extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        channel = this.channelName;
        return this.accept();
      }
    }
    const comm = new WebsocketCommunicator(Member.asApp(), '/ws/', { channelLayer: layer });
    await comm.connect();
    await comm.disconnect();
    await layer.send(channel, { type: 'after.end' });
    expect(await layer.receive(channel)).toEqual({ type: 'after.end' });
    await layer.close();
  });

  test('closing the layer under a waiting consumer ends it with ChannelLayerClosed', async () => {
    const layer = new InMemoryChannelLayer({ reactor: new Clock() });
    class Member extends AsyncWebsocketConsumer {}
    const comm = new WebsocketCommunicator(Member.asApp(), '/ws/', { channelLayer: layer });
    open.push(comm);
    await comm.connect();
    await layer.close();
    await expect(comm.wait()).rejects.toBeInstanceOf(ChannelLayerClosed);
  });
});

describe('the handler-name cache', () => {
  test('a type resolved before is refused once a framework class makes its name API', () => {
    class Probe extends AsyncConsumer {
      zzcacheprobe(): void {}
    }
    const consumer = new Probe();
    expect(resolveHandler(consumer, { type: 'zzcacheprobe' })).toBe(Probe.prototype.zzcacheprobe);
    class Framework {
      zzcacheprobe(): void {}
    }
    registerFrameworkClass(Framework);
    expect(() => resolveHandler(consumer, { type: 'zzcacheprobe' })).toThrow(DispatchError);
  });

  test('the last type is resolved against each consumer: another class, or an instance method, gets its own', () => {
    class A extends AsyncConsumer {
      chat_message(): string {
        return 'a';
      }
    }
    class B extends AsyncConsumer {}
    const a = new A();
    const own = new A();
    (own as unknown as { chat_message: () => string }).chat_message = () => 'own';
    expect(resolveHandler(a, { type: 'chat.message' }).call(a, { type: 'chat.message' })).toBe('a');
    expect(resolveHandler(own, { type: 'chat.message' }).call(own, { type: 'chat.message' })).toBe('own');
    expect(() => resolveHandler(new B(), { type: 'chat.message' })).toThrow(/No handler for message type "chat.message"/);
    expect(() => resolveHandler(a, { type: '_private' })).toThrow(/private/);
    expect(() => resolveHandler(a, { type: '_private' })).toThrow(/private/);
  });
});

describe('AsyncConsumer.send on a send carried out at once', () => {
  test("gives the server's shared resolved Promise (the cheapest thing to await); a refused send fails as a Deferred", async () => {
    const kinds: string[] = [];
    const kind = (r: PromiseLike<void>): string => (r instanceof Deferred ? 'Deferred' : r instanceof Promise ? 'Promise' : 'other');
    class Hello extends AsyncHttpConsumer {
      override async handle(): Promise<void> {
        const start = this.send({ type: 'http.response.start', status: 200, headers: [] });
        kinds.push(kind(start));
        const body = this.send({ type: 'http.response.body', body: new TextEncoder().encode('hi') });
        kinds.push(kind(body));
        expect(body).toBe(start); // one shared Promise for every send carried out at once
        await body;
        // A refused send still fails, as a Deferred (logged if nobody looked, never an unhandled rejection).
        const late = this.send({ type: 'http.response.body', body: new Uint8Array() });
        kinds.push(kind(late));
        failureResultOf(late as Deferred<void>);
      }
    }
    const t = await startServer(Hello.asApp());
    const c = t.connect();
    c.send(request('GET', '/'));
    await settleMany(5);
    const [response] = c.responses();
    expect(response!.status).toBe(200);
    expect(response!.body).toBe('hi');
    expect(kinds).toEqual(['Promise', 'Promise', 'Deferred']);
    await t.stop();
  });

  test('a WebSocket message written at once gives the shared Promise; held back by backpressure, a Deferred that fires when it is written, in order', async () => {
    const results: PromiseLike<void>[] = [];
    const layer = new InMemoryChannelLayer({ reactor: new Clock() });
    class Member extends AsyncWebsocketConsumer {
      static override groups = ['room'];
      room_message(m: ASGIEvent): void {
        // Not awaited, so that several sends can be under way at once.
        results.push(this.send(m.bytes !== undefined ? { bytes: m.bytes as Uint8Array } : { text: m.text as string }));
      }
    }
    const t = await startServer(Member.asApp(), { channelLayer: layer, websocketPingInterval: null });
    const c = t.connect();
    c.send(upgrade('/ws/'));
    await settleMany(3);
    expect(c.out()).toMatch(/^HTTP\/1\.1 101 /);
    const payloads = (): string[] => serverFrames(c.transport.value()).map((f) => f.payload.toString('latin1'));
    c.transport.clear();

    await layer.groupSend('room', { type: 'room.message', text: 'now' });
    await layer.groupSend('room', { type: 'room.message', bytes: new Uint8Array([0x41, 0x42]) });
    await settleMany(2);
    expect(results.map((r) => r instanceof Promise)).toEqual([true, true]);
    expect(payloads()).toEqual(['now', 'AB']);

    // The transport is full: the protocol is asked to stop writing.
    const producer = c.transport.producer as unknown as { pauseProducing(): void; resumeProducing(): void };
    producer.pauseProducing();
    c.transport.clear();
    await layer.groupSend('room', { type: 'room.message', text: 'held 1' });
    await layer.groupSend('room', { type: 'room.message', bytes: new Uint8Array([0x43]) });
    await layer.groupSend('room', { type: 'room.message', text: 'held 2' });
    await settleMany(2);
    const held = results.slice(2);
    expect(held.map((r) => r instanceof Deferred)).toEqual([true, true, true]);
    for (const d of held) assertNoResult(d as Deferred<void>);
    expect(payloads()).toEqual([]);

    producer.resumeProducing();
    await settleMany(2);
    expect(payloads()).toEqual(['held 1', 'C', 'held 2']);
    for (const d of held) successResultOf(d as Deferred<void>);
    // Nothing queued any more: straight out again.
    await layer.groupSend('room', { type: 'room.message', text: 'after' });
    await settleMany(2);
    expect(results[5]).toBeInstanceOf(Promise);
    expect(payloads()).toEqual(['held 1', 'C', 'held 2', 'after']);
    c.lose(true);
    await t.stop();
    await layer.close();
  });
});

/**
 * The channel-layer contract: what every `ChannelLayer` (in-memory, Redis, …) must do, as vitest
 * `describe`/`test` blocks. A layer's test file calls `runChannelLayerContract(makeLayer, …)`.
 *
 * Rules the suite assumes of `makeLayer`:
 * - each call gives a layer with the `capacity`, `expiry` and `groupExpiry` passed in the options
 *   (defaults: Channels' 100, 60 and 86,400), whose time comes from `options.clock` when given;
 * - layers made for one test may share storage (Redis): the suite uses fresh random names in
 *   every test and flushes (when the layer supports `flush`) and closes the layer after each test.
 *
 * Names and messages are checked synchronously: invalid ones throw a `TypeError` from the call
 * itself (not a failed Deferred).
 *
 * @example
 * ```ts
 * const clock = new Clock();
 * runChannelLayerContract(() => new InMemoryChannelLayer({ reactor: clock, capacity: 5 }), { clock, capacity: 5 });
 * ```
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import type { Deferred } from '../../src/defer/deferred.js';
import type { Clock } from '../../src/testing/clock.js';
import type { ChannelLayer, Message } from '../../src/channels/types.js';
import { ChannelFull, ChannelLayerClosed } from '../../src/channels/layers/errors.js';
import { requireValidChannelName } from '../../src/channels/layers/names.js';

export interface ChannelLayerContractOptions {
  /** Suffix of the `describe` title. */
  name?: string;
  /** The clock the made layers use: enables the expiry tests. */
  clock?: Clock;
  /** Run the expiry tests (default: when `clock` is given). */
  supportsExpiryWithClock?: boolean;
  /** The capacity of the made layers' channels. Default 100. */
  capacity?: number;
  /** The made layers' message expiry, in seconds. Default 60. */
  expiry?: number;
  /** The made layers' group expiry, in seconds. Default 86,400. */
  groupExpiry?: number;
  /**
   * An expired message removes its channel from every group (Channels' spec; the in-memory
   * layer does it). Default true; false for layers that cannot know a channel's groups
   * (channels_redis's Redis format keeps no channel → groups index).
   */
  expiredMessagesLeaveGroups?: boolean;
  /**
   * Messages wait in the layer until received. Default true; false for a pub/sub layer, where
   * a message reaches only channels already listened to (`newChannel`, `receive`, `groupAdd`)
   * and nothing bounds a channel: the tests that send before anyone listens, or that fill a
   * channel to capacity, are skipped.
   */
  storesMessages?: boolean;
  /**
   * Lets an asynchronous layer finish what it is doing before the suite asserts that nothing
   * arrived. Default: two turns of the event loop.
   */
  settle?: () => Promise<void>;
}

const defaultSettle = async (): Promise<void> => {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Register the contract tests for the layers `makeLayer` gives. */
export function runChannelLayerContract(
  makeLayer: () => ChannelLayer | Promise<ChannelLayer>,
  options: ChannelLayerContractOptions = {},
): void {
  const capacity = options.capacity ?? 100;
  const expiry = options.expiry ?? 60;
  const groupExpiry = options.groupExpiry ?? 86_400;
  const settle = options.settle ?? defaultSettle;
  const clock = options.clock;
  const withClock = (options.supportsExpiryWithClock ?? clock !== undefined) && clock !== undefined;
  const leavesGroups = options.expiredMessagesLeaveGroups ?? true;
  const stores = options.storesMessages ?? true;
  /** A test that needs messages kept for later receivers. */
  const storedTest = stores ? test : test.skip;

  describe(`channel layer contract${options.name !== undefined ? `: ${options.name}` : ''}`, () => {
    let layer: ChannelLayer;
    /** Receives a test left waiting: cancelled after the test, before the layer closes. */
    let pending: Deferred<Message>[];
    const run = randomBytes(4).toString('hex');
    let seq = 0;
    /** A fresh name for this test (layers may share storage across tests and runs). */
    const fresh = (kind: string): string => `contract.${kind}.${run}.${++seq}`;

    /** The test closed the layer itself. */
    let closed: boolean;

    beforeEach(async () => {
      pending = [];
      closed = false;
      layer = await makeLayer();
    });

    afterEach(async () => {
      for (const d of pending) stopWaiting(d);
      if (closed) return;
      if (layer.extensions.includes('flush')) await layer.flush();
      await layer.close();
    });

    /** A receive that must not have a message (yet); kept to be cancelled after the test. */
    async function expectNothing(d: Deferred<Message>): Promise<void> {
      await settle();
      expect(d.called, 'no message expected').toBe(false);
      pending.push(d);
    }

    function stopWaiting(d: Deferred<Message>): void {
      if (d.called) return;
      d.addErrback((f) => {
        f.trap(CancelledError, ChannelLayerClosed);
        return undefined;
      });
      d.cancel();
    }

    describe('send and receive', () => {
      storedTest('a message sent is received, equal, with its type', async () => {
        const c = fresh('chan');
        const message = { type: 'test.message', text: 'hi', n: 1.5, list: [1, 'two', null], nested: { ok: true } };
        await layer.send(c, message);
        expect(await layer.receive(c)).toEqual(message);
      });

      storedTest('messages on one channel are received in the order they were sent', async () => {
        const c = fresh('chan');
        const n = Math.min(capacity, 10);
        for (let i = 0; i < n; i++) await layer.send(c, { type: 'seq', i });
        const got: unknown[] = [];
        for (let i = 0; i < n; i++) got.push((await layer.receive(c)).i);
        expect(got).toEqual([...Array(n).keys()]);
      });

      storedTest('channels are independent', async () => {
        const [a, b] = [fresh('a'), fresh('b')];
        await layer.send(a, { type: 'to.a' });
        await layer.send(b, { type: 'to.b' });
        expect((await layer.receive(b)).type).toBe('to.b');
        expect((await layer.receive(a)).type).toBe('to.a');
      });

      test('a receive waits for the next message', async () => {
        const c = fresh('chan');
        const r = layer.receive(c);
        await expectNothing(r);
        pending.pop();
        await layer.send(c, { type: 'late' });
        expect(await r).toEqual({ type: 'late' });
      });

      test('waiting receivers are served in the order they asked, one message each', async () => {
        const c = fresh('chan');
        const r1 = layer.receive(c);
        const r2 = layer.receive(c);
        const r3 = layer.receive(c);
        await settle();
        await layer.send(c, { type: 'm', i: 1 });
        await layer.send(c, { type: 'm', i: 2 });
        expect((await r1).i).toBe(1);
        expect((await r2).i).toBe(2);
        await expectNothing(r3);
      });

      storedTest('a message is delivered once: the second receive waits', async () => {
        const c = fresh('chan');
        await layer.send(c, { type: 'once' });
        await layer.receive(c);
        await expectNothing(layer.receive(c));
      });

      test('process-local channels from newChannel carry messages', async () => {
        const c = await layer.newChannel();
        await layer.send(c, { type: 'local' });
        expect(await layer.receive(c)).toEqual({ type: 'local' });
      });
    });

    describe('copies', () => {
      storedTest('changing the sent object after send does not change the message', async () => {
        const c = fresh('chan');
        const message = { type: 'copy', list: [1, 2], inner: { a: 1 } };
        await layer.send(c, message);
        message.list.push(3);
        message.inner.a = 2;
        const got = await layer.receive(c);
        expect(got).toEqual({ type: 'copy', list: [1, 2], inner: { a: 1 } });
        expect(got).not.toBe(message);
      });

      test('a waiting receiver gets a copy, not the sent object', async () => {
        const c = fresh('chan');
        const r = layer.receive(c);
        const message = { type: 'copy', inner: { a: 1 } };
        await layer.send(c, message);
        const got = await r;
        expect(got).toEqual(message);
        expect(got).not.toBe(message);
        expect(got.inner).not.toBe(message.inner);
      });

      test('each group member gets its own copy', async () => {
        const g = fresh('group');
        const [a, b] = [fresh('a'), fresh('b')];
        await layer.groupAdd(g, a);
        await layer.groupAdd(g, b);
        const message = { type: 'copy', inner: { a: 1 } };
        await layer.groupSend(g, message);
        const [ga, gb] = [await layer.receive(a), await layer.receive(b)];
        expect(ga).toEqual(message);
        expect(gb).toEqual(message);
        expect(ga).not.toBe(gb);
        expect(ga.inner).not.toBe(gb.inner);
        expect(ga).not.toBe(message);
      });

      storedTest('bytes survive as bytes', async () => {
        const c = fresh('chan');
        await layer.send(c, { type: 'bytes', bytes: new Uint8Array([0, 1, 255]) });
        const got = await layer.receive(c);
        expect(got.bytes).toBeInstanceOf(Uint8Array);
        expect([...(got.bytes as Uint8Array)]).toEqual([0, 1, 255]);
      });
    });

    describe('capacity', () => {
      storedTest(`a channel holds ${capacity} messages; the next send fails with ChannelFull`, async () => {
        const c = fresh('full');
        for (let i = 0; i < capacity; i++) await layer.send(c, { type: 'fill', i });
        const error = await layer.send(c, { type: 'one.too.many' }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ChannelFull);
        expect((error as ChannelFull).channel).toBe(c);
        // Nothing was lost or added: the first message is still first, the refused one absent.
        expect((await layer.receive(c)).i).toBe(0);
      });

      storedTest('receiving one message makes room for one more', async () => {
        const c = fresh('full');
        for (let i = 0; i < capacity; i++) await layer.send(c, { type: 'fill', i });
        await layer.receive(c);
        await layer.send(c, { type: 'room' });
        await expect(layer.send(c, { type: 'no.room' })).rejects.toBeInstanceOf(ChannelFull);
      });

      storedTest('a full channel does not block other channels', async () => {
        const [full, other] = [fresh('full'), fresh('other')];
        for (let i = 0; i < capacity; i++) await layer.send(full, { type: 'fill' });
        await layer.send(other, { type: 'fine' });
        expect(await layer.receive(other)).toEqual({ type: 'fine' });
      });
    });

    describe('groups', () => {
      test('groupSend reaches every member', async () => {
        const g = fresh('group');
        const members = [fresh('m'), fresh('m'), fresh('m')];
        for (const m of members) await layer.groupAdd(g, m);
        await layer.groupSend(g, { type: 'hello.all' });
        for (const m of members) expect(await layer.receive(m)).toEqual({ type: 'hello.all' });
      });

      test('groupSend to a member already waiting delivers at once', async () => {
        const g = fresh('group');
        const m = fresh('m');
        await layer.groupAdd(g, m);
        const r = layer.receive(m);
        await layer.groupSend(g, { type: 'now' });
        expect(await r).toEqual({ type: 'now' });
      });

      test('groupAdd twice is one membership: one copy per groupSend', async () => {
        const g = fresh('group');
        const m = fresh('m');
        await layer.groupAdd(g, m);
        await layer.groupAdd(g, m);
        await layer.groupSend(g, { type: 'once' });
        await layer.receive(m);
        await expectNothing(layer.receive(m));
      });

      test('groupDiscard removes the member; discarding a non-member is a no-op', async () => {
        const g = fresh('group');
        const [stay, go] = [fresh('stay'), fresh('go')];
        await layer.groupAdd(g, stay);
        await layer.groupAdd(g, go);
        await layer.groupDiscard(g, go);
        await layer.groupDiscard(g, go);
        await layer.groupDiscard(g, fresh('never'));
        await layer.groupDiscard(fresh('nogroup'), go);
        await layer.groupSend(g, { type: 'after.discard' });
        expect(await layer.receive(stay)).toEqual({ type: 'after.discard' });
        await expectNothing(layer.receive(go));
      });

      test('groupSend to an empty or unknown group succeeds', async () => {
        const g = fresh('group');
        const m = fresh('m');
        await layer.groupSend(fresh('unknown'), { type: 'nobody' });
        await layer.groupAdd(g, m);
        await layer.groupDiscard(g, m);
        await layer.groupSend(g, { type: 'nobody' });
      });

      test('a channel may be in several groups; groups are independent', async () => {
        const [g1, g2] = [fresh('g1'), fresh('g2')];
        const [both, only1] = [fresh('both'), fresh('only1')];
        await layer.groupAdd(g1, both);
        await layer.groupAdd(g2, both);
        await layer.groupAdd(g1, only1);
        await layer.groupSend(g2, { type: 'to.g2' });
        await layer.groupSend(g1, { type: 'to.g1' });
        expect((await layer.receive(both)).type).toBe('to.g2');
        expect((await layer.receive(both)).type).toBe('to.g1');
        expect((await layer.receive(only1)).type).toBe('to.g1');
        await expectNothing(layer.receive(only1));
      });

      storedTest('groupSend skips a full member and still reaches the others', async () => {
        const g = fresh('group');
        const [full, ok] = [fresh('full'), fresh('ok')];
        await layer.groupAdd(g, full);
        await layer.groupAdd(g, ok);
        for (let i = 0; i < capacity; i++) await layer.send(full, { type: 'fill', i });
        await layer.groupSend(g, { type: 'group.message' });
        expect(await layer.receive(ok)).toEqual({ type: 'group.message' });
        // The full channel holds exactly its capacity: the group message was not queued.
        for (let i = 0; i < capacity; i++) expect((await layer.receive(full)).i).toBe(i);
        await expectNothing(layer.receive(full));
      });

      test('group messages and direct messages keep their order on a channel', async () => {
        const g = fresh('group');
        const m = fresh('m');
        await layer.groupAdd(g, m);
        await layer.send(m, { type: 'first' });
        await layer.groupSend(g, { type: 'second' });
        await layer.send(m, { type: 'third' });
        const got = [await layer.receive(m), await layer.receive(m), await layer.receive(m)].map((x) => x.type);
        expect(got).toEqual(['first', 'second', 'third']);
      });
    });

    describe('newChannel', () => {
      test('names are valid, process-local (one "!"), prefixed, and unique', async () => {
        const names = new Set<string>();
        for (let i = 0; i < 200; i++) {
          const name = await layer.newChannel();
          requireValidChannelName(name);
          expect(name.split('!')).toHaveLength(2);
          expect(name.startsWith('specific.')).toBe(true);
          names.add(name);
        }
        expect(names.size).toBe(200);
      });

      test('the prefix is the start of the name', async () => {
        const name = await layer.newChannel('websocket.chat');
        expect(name.startsWith('websocket.chat.')).toBe(true);
        expect(name).toContain('!');
      });

      test.each([['bad!prefix'], ['has space'], ['']])('an invalid prefix %j is a TypeError', (prefix) => {
        expect(() => layer.newChannel(prefix)).toThrow(TypeError);
      });
    });

    describe('names and messages are checked (TypeError naming the rule)', () => {
      const long = 'a'.repeat(100);
      const badChannels: [string, unknown, RegExp][] = [
        ['empty', '', /empty/],
        ['100 characters', long, /shorter than 100/],
        ['a space', 'has space', /letters, digits/],
        ['non-ASCII', 'café', /letters, digits/],
        ['a "?"', 'what?', /letters, digits/],
        ['two "!"', 'a!b!c', /at most one "!"/],
        ['a leading "!"', '!abc', /must not start with "!"/],
        ['a number', 42, /must be a string/],
        ['undefined', undefined, /must be a string/],
      ];
      const badGroups: [string, unknown, RegExp][] = [
        ['empty', '', /empty/],
        ['100 characters', long, /shorter than 100/],
        ['a "!"', 'room!1', /must not contain "!"/],
        ['a slash', 'room/1', /letters, digits/],
        ['a number', 7, /must be a string/],
      ];
      const goodChannels = ['a'.repeat(99), 'A-z_0.9', 'prefix!', 'prefix!local-1.x_y', 'http.response!abc'];
      const goodGroups = ['a'.repeat(99), 'room.lobby', 'Room_1-2'];
      const msg = { type: 'x' };

      test.each(badChannels)('channel with %s', (_what, name, rule) => {
        const bad = name as string;
        expect(() => layer.send(bad, msg)).toThrow(rule);
        expect(() => layer.send(bad, msg)).toThrow(TypeError);
        expect(() => layer.receive(bad)).toThrow(rule);
        expect(() => layer.groupAdd('good', bad)).toThrow(rule);
        expect(() => layer.groupDiscard('good', bad)).toThrow(rule);
      });

      test.each(badGroups)('group with %s', (_what, name, rule) => {
        const bad = name as string;
        expect(() => layer.groupAdd(bad, 'good')).toThrow(rule);
        expect(() => layer.groupAdd(bad, 'good')).toThrow(TypeError);
        expect(() => layer.groupDiscard(bad, 'good')).toThrow(rule);
        expect(() => layer.groupSend(bad, msg)).toThrow(rule);
      });

      storedTest('valid names at the limits are accepted', async () => {
        for (const name of goodChannels) {
          await layer.send(name, { type: 'ok' });
          expect(await layer.receive(name)).toEqual({ type: 'ok' });
        }
        for (const group of goodGroups) {
          await layer.groupAdd(group, 'member');
          await layer.groupDiscard(group, 'member');
        }
      });

      const badMessages: [string, unknown, RegExp][] = [
        ['null', null, /plain object/],
        ['a string', 'hello', /plain object/],
        ['an array', [{ type: 'x' }], /plain object/],
        ['a class instance', new (class Event { type = 'x'; })(), /plain object/],
        ['a Map', new Map([['type', 'x']]), /plain object/],
        ['no type', { text: 'hi' }, /"type" string/],
        ['a numeric type', { type: 1 }, /"type" string/],
        ['the reserved __asgi_channel__ key', { type: 'x', __asgi_channel__: 'c' }, /__asgi_channel__/],
      ];

      test.each(badMessages)('a message that is %s', (_what, message, rule) => {
        const bad = message as Message;
        expect(() => layer.send('good', bad)).toThrow(rule);
        expect(() => layer.send('good', bad)).toThrow(TypeError);
        expect(() => layer.groupSend('good', bad)).toThrow(rule);
      });

      test('a message that cannot be copied (a function inside) is a TypeError', () => {
        expect(() => layer.send('good', { type: 'x', fn: () => 1 })).toThrow(TypeError);
        expect(() => layer.groupSend('good', { type: 'x', fn: () => 1 })).toThrow(TypeError);
      });

      storedTest('a message with a null prototype is a plain object', async () => {
        const c = fresh('chan');
        const message = Object.assign(Object.create(null) as Message, { type: 'bare' });
        await layer.send(c, message);
        expect((await layer.receive(c)).type).toBe('bare');
      });
    });

    describe('receive cancellation', () => {
      storedTest('a cancelled receive fails with CancelledError and loses no message', async () => {
        const c = fresh('chan');
        const r = layer.receive(c);
        r.cancel();
        await expect(r).rejects.toBeInstanceOf(CancelledError);
        await layer.send(c, { type: 'kept' });
        expect(await layer.receive(c)).toEqual({ type: 'kept' });
      });

      test('cancelling the first of two waiting receivers gives the message to the second', async () => {
        const c = fresh('chan');
        const r1 = layer.receive(c);
        const r2 = layer.receive(c);
        await settle();
        r1.cancel();
        await expect(r1).rejects.toBeInstanceOf(CancelledError);
        await layer.send(c, { type: 'to.second' });
        expect(await r2).toEqual({ type: 'to.second' });
      });

      storedTest('cancelling a receive that already has its message changes nothing', async () => {
        const c = fresh('chan');
        await layer.send(c, { type: 'here' });
        const r = layer.receive(c);
        const got = await r;
        r.cancel();
        expect(got).toEqual({ type: 'here' });
      });
    });

    describe('flush and close', () => {
      test('flush forgets messages and groups', async () => {
        if (!layer.extensions.includes('flush')) return;
        const g = fresh('group');
        const [c, m] = [fresh('chan'), fresh('m')];
        await layer.send(c, { type: 'gone' });
        await layer.groupAdd(g, m);
        await layer.flush();
        await expectNothing(layer.receive(c));
        await layer.groupSend(g, { type: 'nobody' });
        await expectNothing(layer.receive(m));
      });

      storedTest('the layer works after a flush', async () => {
        if (!layer.extensions.includes('flush')) return;
        const c = fresh('chan');
        await layer.flush();
        await layer.send(c, { type: 'after' });
        expect(await layer.receive(c)).toEqual({ type: 'after' });
      });

      test('close fails a waiting receive with ChannelLayerClosed', async () => {
        const r = layer.receive(fresh('chan'));
        await settle();
        closed = true;
        await layer.close();
        await expect(r).rejects.toBeInstanceOf(ChannelLayerClosed);
      });

      test('extensions name the optional capabilities', () => {
        expect(Array.isArray(layer.extensions)).toBe(true);
        for (const e of layer.extensions) expect(['groups', 'flush']).toContain(e);
      });
    });

    describe.skipIf(!withClock)('expiry (on the layer clock)', () => {
      const advance = (seconds: number): void => clock!.advance(seconds);

      test('a message is received until it is `expiry` seconds old', async () => {
        const c = fresh('chan');
        await layer.send(c, { type: 'fresh' });
        advance(expiry - 1);
        expect(await layer.receive(c)).toEqual({ type: 'fresh' });
      });

      test('an expired message is dropped; later messages still arrive', async () => {
        const c = fresh('chan');
        await layer.send(c, { type: 'old' });
        advance(expiry / 2);
        await layer.send(c, { type: 'younger' });
        advance(expiry / 2 + 1);
        expect(await layer.receive(c)).toEqual({ type: 'younger' });
        advance(expiry);
        await layer.send(c, { type: 'new' });
        expect(await layer.receive(c)).toEqual({ type: 'new' });
      });

      test('expired messages free their place: a full channel takes messages again', async () => {
        const c = fresh('full');
        for (let i = 0; i < capacity; i++) await layer.send(c, { type: 'fill' });
        advance(expiry + 1);
        await layer.send(c, { type: 'room.again' });
        expect(await layer.receive(c)).toEqual({ type: 'room.again' });
      });

      test.skipIf(!leavesGroups)('an expired message removes its channel from all its groups', async () => {
        const [g1, g2] = [fresh('g1'), fresh('g2')];
        const [stale, live] = [fresh('stale'), fresh('live')];
        await layer.groupAdd(g1, stale);
        await layer.groupAdd(g2, stale);
        await layer.groupAdd(g1, live);
        await layer.send(stale, { type: 'never.read' });
        advance(expiry + 1);
        await layer.groupSend(g1, { type: 'after.expiry' });
        await layer.groupSend(g2, { type: 'after.expiry' });
        expect(await layer.receive(live)).toEqual({ type: 'after.expiry' });
        await expectNothing(layer.receive(stale));
        // Direct sends still reach the channel; only its memberships are gone.
        await layer.send(stale, { type: 'direct' });
        const direct = pending.pop()!;
        expect(await direct).toEqual({ type: 'direct' });
      });

      test('a membership expires `groupExpiry` seconds after the last groupAdd', async () => {
        const g = fresh('group');
        const m = fresh('m');
        await layer.groupAdd(g, m);
        advance(groupExpiry + 1);
        await layer.groupSend(g, { type: 'too.late' });
        await expectNothing(layer.receive(m));
      });

      test('groupAdd refreshes a membership', async () => {
        const g = fresh('group');
        const m = fresh('m');
        await layer.groupAdd(g, m);
        advance(groupExpiry - 10);
        await layer.groupAdd(g, m);
        advance(20);
        await layer.groupSend(g, { type: 'still.member' });
        expect(await layer.receive(m)).toEqual({ type: 'still.member' });
      });
    });
  });
}

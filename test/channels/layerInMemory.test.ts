import { describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import { Clock } from '../../src/testing/clock.js';
import { failureResultOf, successResultOf, assertNoResult } from '../../src/testing/results.js';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { ChannelFull, ChannelLayerClosed } from '../../src/channels/layers/errors.js';
import type { Message } from '../../src/channels/types.js';
import { runChannelLayerContract } from './layerContract.js';

// The contract, with Channels' defaults and with small settings.
{
  const clock = new Clock();
  runChannelLayerContract(() => new InMemoryChannelLayer({ reactor: clock }), { name: 'in-memory, defaults', clock });
}
{
  const clock = new Clock();
  runChannelLayerContract(
    () => new InMemoryChannelLayer({ reactor: clock, capacity: 3, expiry: 5, groupExpiry: 50 }),
    { name: 'in-memory, capacity 3, expiry 5 s, group expiry 50 s', clock, capacity: 3, expiry: 5, groupExpiry: 50 },
  );
}

function make(options: ConstructorParameters<typeof InMemoryChannelLayer>[0] = {}): { layer: InMemoryChannelLayer; clock: Clock } {
  const clock = new Clock();
  return { layer: new InMemoryChannelLayer({ reactor: clock, ...options }), clock };
}

describe('InMemoryChannelLayer: options', () => {
  test('defaults are Channels’', () => {
    const { layer } = make();
    expect([layer.capacity, layer.expiry, layer.groupExpiry]).toEqual([100, 60, 86_400]);
    expect(layer.extensions).toEqual(['groups', 'flush']);
  });

  test.each([
    [{ capacity: 0 }, /capacity must be a positive integer/],
    [{ capacity: 1.5 }, /capacity must be a positive integer/],
    [{ expiry: 0 }, /expiry must be a positive number/],
    [{ expiry: Number.NaN }, /expiry must be a positive number/],
    [{ groupExpiry: -1 }, /groupExpiry must be a positive number/],
    [{ channelCapacity: { 'a.*': 0 } }, /channelCapacity\[a\.\*\] must be a positive integer/],
  ])('%j is a RangeError', (options, message) => {
    expect(() => new InMemoryChannelLayer({ reactor: new Clock(), ...options })).toThrow(RangeError);
    expect(() => new InMemoryChannelLayer({ reactor: new Clock(), ...options })).toThrow(message);
  });

  test('without a reactor the layer uses the global one', async () => {
    const layer = new InMemoryChannelLayer();
    await layer.send('c', { type: 'x' });
    expect(await layer.receive('c')).toEqual({ type: 'x' });
    await layer.close();
  });
});

describe('InMemoryChannelLayer: capacity by name pattern', () => {
  const table: [string, number][] = [
    ['http.response!abc', 2],
    ['http.response.other', 100],
    ['thumbnails-generate', 5],
    ['thumbnails.x', 5],
    ['xthumbnails', 7],
    ['room.1', 3],
    ['room.12', 100],
    ['plain', 100],
  ];
  const layer = new InMemoryChannelLayer({
    reactor: new Clock(),
    channelCapacity: [
      ['http.response!*', 2],
      [/thumbnails/, 5], // a RegExp matches at the start of the name (re.match)
      ['room.?', 3],
      ['*thumbnails*', 7], // never reached for names starting with "thumbnails": the first match wins
    ],
  });

  test.each(table)('%s holds %i messages', (name, capacity) => {
    expect(layer.capacityOf(name)).toBe(capacity);
  });

  test('the object form takes globs, in insertion order', () => {
    const l = new InMemoryChannelLayer({ reactor: new Clock(), capacity: 9, channelCapacity: { 'a.*': 1, '*': 4 } });
    expect([l.capacityOf('a.b'), l.capacityOf('b'), l.capacityOf('a')]).toEqual([1, 4, 4]);
  });

  test.each([
    ['[abc].x', 'b.x', true],
    ['[abc].x', 'd.x', false],
    ['[!abc].x', 'd.x', true],
    ['[!abc].x', 'a.x', false],
    ['a-[0-9]', 'a-7', true],
    ['file.[]]', 'file.]', true],
    ['a.b', 'aXb', false],
    ['[unclosed', '[unclosed', true],
  ])('glob %s on %s: %s', (glob, name, matches) => {
    const l = new InMemoryChannelLayer({ reactor: new Clock(), capacity: 100, channelCapacity: { [glob]: 1 } });
    expect(l.capacityOf(name) === 1).toBe(matches);
  });

  test('a pattern capacity is enforced by send', () => {
    const { layer: l } = make({ channelCapacity: { 'small.*': 1 } });
    successResultOf(l.send('small.one', { type: 'a' }));
    const f = failureResultOf(l.send('small.one', { type: 'b' }), ChannelFull);
    expect(f.value.capacity).toBe(1);
    expect(f.value.message).toMatch(/small\.one is full \(capacity 1/);
    successResultOf(l.send('big', { type: 'a' }));
    successResultOf(l.send('big', { type: 'b' }));
  });
});

describe('InMemoryChannelLayer: counters', () => {
  test('sendsRefused counts ChannelFull, groupSendsSkipped counts skipped members', () => {
    const { layer } = make({ capacity: 1 });
    successResultOf(layer.groupAdd('g', 'a'));
    successResultOf(layer.groupAdd('g', 'b'));
    successResultOf(layer.send('a', { type: 'fill' }));
    failureResultOf(layer.send('a', { type: 'refused' }), ChannelFull);
    successResultOf(layer.groupSend('g', { type: 'g1' })); // a full, b gets it
    successResultOf(layer.groupSend('g', { type: 'g2' })); // both full
    expect(layer.stats).toEqual({ sendsRefused: 1, groupSendsSkipped: 3, messagesExpired: 0, groupMembershipsExpired: 0 });
  });

  test('expiries are counted', () => {
    const { layer, clock } = make({ expiry: 10, groupExpiry: 100 });
    successResultOf(layer.send('a', { type: '1' }));
    successResultOf(layer.send('a', { type: '2' }));
    successResultOf(layer.groupAdd('g', 'b'));
    clock.advance(101);
    successResultOf(layer.groupSend('g', { type: 'late' }));
    expect(layer.stats.messagesExpired).toBe(2);
    expect(layer.stats.groupMembershipsExpired).toBe(1);
  });
});

describe('InMemoryChannelLayer: expiry', () => {
  test('a message lives exactly `expiry` seconds', () => {
    const { layer, clock } = make({ expiry: 10 });
    successResultOf(layer.send('a', { type: 'kept' }));
    successResultOf(layer.send('b', { type: 'dropped' }));
    clock.advance(9.999);
    expect(successResultOf(layer.receive('a'))).toEqual({ type: 'kept' });
    clock.advance(0.001);
    const r = layer.receive('b');
    assertNoResult(r);
    r.cancel();
    failureResultOf(r, CancelledError);
  });

  test('the sweep drops expired messages nobody touches, and their memberships, and then stops', () => {
    const { layer, clock } = make({ expiry: 10 });
    successResultOf(layer.groupAdd('g', 'idle'));
    successResultOf(layer.send('idle', { type: 'never.read' }));
    expect(clock.getDelayedCalls()).toHaveLength(1);
    clock.advance(10);
    expect(layer.stats.messagesExpired).toBe(1);
    expect(clock.getDelayedCalls()).toHaveLength(0);
    // The membership went with the message: a later groupSend does not queue for 'idle'.
    successResultOf(layer.groupSend('g', { type: 'x' }));
    const r = layer.receive('idle');
    assertNoResult(r);
    r.cancel();
    failureResultOf(r, CancelledError);
  });

  test('the sweep comes back for younger messages', () => {
    const { layer, clock } = make({ expiry: 10 });
    successResultOf(layer.send('a', { type: '1' }));
    clock.advance(4);
    successResultOf(layer.send('b', { type: '2' }));
    clock.advance(6);
    expect(layer.stats.messagesExpired).toBe(1);
    expect(clock.getDelayedCalls()).toHaveLength(1);
    clock.advance(4);
    expect(layer.stats.messagesExpired).toBe(2);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test.each([
    ['send', (l: InMemoryChannelLayer) => successResultOf(l.send('c', { type: 'new' }))],
    ['receive', (l: InMemoryChannelLayer) => {
      const r = l.receive('c');
      successResultOf(l.send('c', { type: 'new' }));
      expect(successResultOf(r)).toEqual({ type: 'new' });
      successResultOf(l.send('c', { type: 'new' }));
    }],
    ['groupSend', (l: InMemoryChannelLayer) => {
      successResultOf(l.groupSend('g', { type: 'skipped' }));
      successResultOf(l.send('c', { type: 'new' }));
    }],
  ])('expiry found by %s (no sweep ran): the channel keeps working', (_what, act) => {
    const { layer, clock } = make({ expiry: 10 });
    successResultOf(layer.groupAdd('g', 'c'));
    successResultOf(layer.send('c', { type: 'old' }));
    successResultOf(layer.send('c', { type: 'old' }));
    clock.rightNow += 11; // time moves without running the sweep
    act(layer);
    expect(layer.stats.messagesExpired).toBe(2);
    expect(successResultOf(layer.receive('c'))).toEqual({ type: 'new' });
    const r = layer.receive('c');
    assertNoResult(r);
    r.cancel();
    failureResultOf(r, CancelledError);
    clock.advance(100); // the sweep finds nothing left and stops
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test('an expired message on a group member is found by groupSend itself', () => {
    const { layer, clock } = make({ expiry: 10 });
    successResultOf(layer.groupAdd('g', 'stale'));
    successResultOf(layer.send('stale', { type: 'old' }));
    clock.rightNow += 11; // time moves without running the sweep
    successResultOf(layer.groupSend('g', { type: 'new' }));
    expect(layer.stats.messagesExpired).toBe(1);
    const r = layer.receive('stale');
    assertNoResult(r);
    r.cancel();
    failureResultOf(r, CancelledError);
  });
});

describe('InMemoryChannelLayer: delivery', () => {
  test('a waiting receiver gets the message synchronously, inside send', () => {
    const { layer } = make();
    const seen: string[] = [];
    layer.receive('c').addCallback((m) => {
      seen.push(m.type);
    });
    successResultOf(layer.send('c', { type: 'now' }));
    expect(seen).toEqual(['now']);
  });

  test('a receiver that receives again from its callback gets the next message in order', () => {
    const { layer } = make();
    const seen: unknown[] = [];
    const loop = (): void => {
      layer.receive('c').addCallback((m) => {
        seen.push(m.i);
        if (seen.length < 3) loop();
      });
    };
    loop();
    for (let i = 0; i < 4; i++) successResultOf(layer.send('c', { type: 'n', i }));
    expect(seen).toEqual([0, 1, 2]);
    expect(successResultOf(layer.receive('c')).i).toBe(3);
  });

  test('a member that discards another during groupSend: the other is skipped', () => {
    const { layer } = make();
    successResultOf(layer.groupAdd('g', 'a'));
    successResultOf(layer.groupAdd('g', 'b'));
    layer.receive('a').addCallback(() => {
      successResultOf(layer.groupDiscard('g', 'b'));
    });
    successResultOf(layer.groupSend('g', { type: 'x' }));
    const r = layer.receive('b');
    assertNoResult(r);
    r.cancel();
    failureResultOf(r, CancelledError);
  });

  test('groupSend copies from the sender’s message for each member', () => {
    const { layer } = make();
    successResultOf(layer.groupAdd('g', 'a'));
    successResultOf(layer.groupAdd('g', 'b'));
    layer.receive('a').addCallback((m: Message) => {
      (m.list as number[]).push(99); // the first copy is changed by its receiver
    });
    successResultOf(layer.groupSend('g', { type: 'x', list: [1] }));
    expect(successResultOf(layer.receive('b'))).toEqual({ type: 'x', list: [1] });
  });

  test('newChannel names look like specific.<hex>!<hex> and differ between layers', () => {
    const a = successResultOf(make().layer.newChannel());
    const b = successResultOf(make().layer.newChannel());
    expect(a).toMatch(/^specific\.[0-9a-f]{12}![0-9a-f]{16}$/);
    expect(a.split('!')[0]).not.toBe(b.split('!')[0]);
  });

  test('a prefix so long that the name reaches 100 characters is a TypeError', () => {
    const { layer } = make();
    expect(() => layer.newChannel('p'.repeat(70))).toThrow(/newChannel prefix is too long/);
  });
});

describe('InMemoryChannelLayer: flush and close', () => {
  test('flush keeps waiting receivers waiting, and stops the sweep', () => {
    const { layer, clock } = make();
    successResultOf(layer.send('queued', { type: 'x' }));
    const r = layer.receive('waiting');
    successResultOf(layer.flush());
    expect(clock.getDelayedCalls()).toHaveLength(0);
    successResultOf(layer.send('waiting', { type: 'after.flush' }));
    expect(successResultOf(r)).toEqual({ type: 'after.flush' });
  });

  test('after close, every operation fails with ChannelLayerClosed; closing again is harmless', () => {
    const { layer, clock } = make();
    successResultOf(layer.send('queued', { type: 'x' }));
    const r1 = layer.receive('a');
    const r2 = layer.receive('a');
    successResultOf(layer.close());
    expect(failureResultOf(r1, ChannelLayerClosed).value.message).toMatch(/closed while receiving/);
    failureResultOf(r2, ChannelLayerClosed);
    expect(clock.getDelayedCalls()).toHaveLength(0);
    failureResultOf(layer.send('a', { type: 'x' }), ChannelLayerClosed);
    failureResultOf(layer.receive('queued'), ChannelLayerClosed);
    failureResultOf(layer.groupAdd('g', 'a'), ChannelLayerClosed);
    failureResultOf(layer.groupDiscard('g', 'a'), ChannelLayerClosed);
    failureResultOf(layer.groupSend('g', { type: 'x' }), ChannelLayerClosed);
    failureResultOf(layer.newChannel(), ChannelLayerClosed);
    successResultOf(layer.close());
  });
});

/**
 * The exact commands RedisChannelLayer sends, against a recording fake Redis (no I/O), compared
 * with what channels_redis 4.0 sends (captured with MONITOR, channels.md §3.4; layer
 * `capacity=2, expiry=30, group_expiry=600`). Where Spindle differs it is deliberate: EVALSHA
 * first (EVAL on NOSCRIPT), SCAN for flush, the send's two round trips pipelined two by two.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { ChannelFull, ChannelLayerClosed } from '../../src/channels/layers/errors.js';
import { RedisChannelLayer, type RedisChannelLayerOptions } from '../../src/channels/layers/redis.js';
import { GROUP_SEND_SCRIPT, RESTORE_SCRIPT } from '../../src/channels/layers/redisScripts.js';
import { CancelledError } from '../../src/defer/errors.js';
import { decode, encode } from '../../src/redis/msgpack/index.js';
import { ConnectionCompleter } from '../../src/testing/iosim.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { FakeRedis, reply } from '../redis/fakeRedis.js';

const NOW = 1795258212.0261;
const P = '0463aa0463aa0463aa0463aa0463aa04';
const A = `specific.${P}!88ca88ca88ca88ca88ca88ca88ca88ca`;
const B = `specific.${P}!fb7ffb7ffb7ffb7ffb7ffb7ffb7ffb7f`;
const OTHER = 'specific.77bb77bb77bb77bb77bb77bb77bb77bb!0000';

function setup(options: RedisChannelLayerOptions = {}) {
  const reactor = new MemoryReactorClock();
  reactor.advance(NOW);
  const fake = new FakeRedis();
  // EVAL loads a script, as Redis does: the next EVALSHA of it succeeds.
  fake.on('EVAL', (args) => {
    fake.knownScripts.add(createHash('sha1').update(args[1]!, 'latin1').digest('hex'));
    return undefined;
  });
  reactor.listenTCP(6379, fake.factory);
  const layer = new RedisChannelLayer({
    hosts: ['redis://127.0.0.1:6379'],
    reactor,
    capacity: 2,
    expiry: 30,
    groupExpiry: 600,
    connection: { reconnect: { jitter: 0 } },
    ...options,
  });
  const completer = new ConnectionCompleter(reactor);
  return { reactor, fake, layer, completer };
}

/** The message inside a member argument (latin1 text of 12 random bytes + msgpack). */
function memberMessage(arg: string): unknown {
  const bytes = Buffer.from(arg, 'latin1');
  return decode(bytes.subarray(12));
}

describe('RedisChannelLayer: the commands it sends, as channels_redis (channels.md §3.4)', () => {
  test('groupAdd: ZADD group now channel; EXPIRE group groupExpiry', () => {
    const { fake, layer, completer } = setup();
    const d = layer.groupAdd('g1', A);
    completer.succeedOnce();
    successResultOf(d);
    expect(fake.lines()).toEqual([`ZADD asgi:group:g1 1795258212.0261 ${A}`, 'EXPIRE asgi:group:g1 600']);
  });

  test('send to a normal channel: ZREMRANGEBYSCORE, ZCOUNT, ZADD, EXPIRE', () => {
    const { fake, layer, completer } = setup();
    const d = layer.send('worker-q', { type: 'counter.increment', page: '/home' });
    completer.succeedOnce();
    successResultOf(d);
    expect(fake.lines()).toEqual([
      'ZREMRANGEBYSCORE asgiworker-q 0 1795258182',
      'ZCOUNT asgiworker-q -inf +inf',
      'ZADD asgiworker-q 1795258212.0261 <47 bytes>',
      'EXPIRE asgiworker-q 30',
    ]);
    const member = fake.log[2]!.args[3]!;
    // 12 random bytes, then exactly the msgpack channels_redis wrote for this message (§3.3).
    expect(Buffer.from(member, 'latin1').subarray(12).toString('hex')).toBe('82a474797065b1636f756e7465722e696e6372656d656e74a470616765a52f686f6d65');
  });

  test('send to a process-local channel: the non-local key, the full name in __asgi_channel__', () => {
    const { fake, layer, completer } = setup();
    const d = layer.send(A, { type: 'direct.msg', x: 1.5 });
    completer.succeedOnce();
    successResultOf(d);
    const key = `asgispecific.${P}!`;
    expect(fake.lines().map((l) => l.replace(/<\d+ bytes>/, '<member>'))).toEqual([
      `ZREMRANGEBYSCORE ${key} 0 1795258182`,
      `ZCOUNT ${key} -inf +inf`,
      `ZADD ${key} 1795258212.0261 <member>`,
      `EXPIRE ${key} 30`,
    ]);
    expect(memberMessage(fake.log[2]!.args[3]!)).toEqual({ type: 'direct.msg', x: 1.5, __asgi_channel__: A });
  });

  test.each([[3], [14], [15], [16], [70_000]])('__asgi_channel__ appended to a map of %i keys: the bytes msgpack writes for the whole dict', (n) => {
    const { fake, layer, completer } = setup({ capacity: 10 });
    const message: Record<string, unknown> = { type: 'wide' };
    for (let i = 1; i < n; i++) message[`k${i}`] = i;
    const d = layer.send(A, message as { type: string });
    const g = layer.groupSend('g', message as { type: string });
    fake.on('ZRANGE', () => reply.array([reply.bulk(A), reply.bulk(B)]));
    completer.succeedOnce();
    successResultOf(d);
    successResultOf(g);
    const zadd = fake.log.find((l) => l.args[0] === 'ZADD')!;
    expect(Buffer.from(zadd.args[3]!, 'latin1').subarray(12).equals(encode({ ...message, __asgi_channel__: A }))).toBe(true);
    const script = fake.log.find((l) => l.args[0] === 'EVALSHA')!;
    expect(Buffer.from(script.args[4]!, 'latin1').subarray(12).equals(encode({ ...message, __asgi_channel__: [A, B] }))).toBe(true);
  });

  test('a full channel: ChannelFull after ZCOUNT, and no ZADD', () => {
    const { fake, layer, completer } = setup();
    fake.on('ZCOUNT', () => reply.int(2));
    const d = layer.send('worker-q', { type: 'x' });
    completer.succeedOnce();
    const f = failureResultOf(d, ChannelFull);
    expect(f.value.channel).toBe('worker-q');
    expect(f.value.capacity).toBe(2);
    expect(fake.lines()).toEqual(['ZREMRANGEBYSCORE asgiworker-q 0 1795258182', 'ZCOUNT asgiworker-q -inf +inf']);
    expect(layer.stats.sendsRefused).toBe(1);
  });

  test('groupSend: trim and read the group, MULTI-trim each key, then the group script per host', () => {
    const { reactor, fake, layer, completer } = setup();
    fake.on('ZRANGE', (args) => (args[1] === 'asgi:group:g1' ? reply.array([reply.bulk(A), reply.bulk(B), reply.bulk(OTHER), reply.bulk('worker-q')]) : undefined));
    fake.on('EVAL', (args) => {
      fake.knownScripts.add(createHash('sha1').update(args[1]!, 'latin1').digest('hex'));
      return reply.int(1); // one key over capacity
    });
    const d = layer.groupSend('g1', { type: 'chat.message', text: 'hi' });
    const pump = completer.succeedOnce();
    successResultOf(d);
    const mine = `asgispecific.${P}!`;
    const theirs = 'asgispecific.77bb77bb77bb77bb77bb77bb77bb77bb!';
    const lines = fake.lines().map((l) => l.replace(/<\d+ bytes>/g, '<…>'));
    expect(lines).toEqual([
      'ZREMRANGEBYSCORE asgi:group:g1 0 1795257612',
      'ZRANGE asgi:group:g1 0 -1',
      'MULTI',
      `ZREMRANGEBYSCORE ${mine} 0 1795258182`,
      `ZREMRANGEBYSCORE ${theirs} 0 1795258182`,
      'ZREMRANGEBYSCORE asgiworker-q 0 1795258182',
      'EXEC',
      `EVALSHA ${GROUP_SEND_SCRIPT.sha1} 3 ${mine} ${theirs} asgiworker-q <…> <…> <…> 2 2 2 1795258212.0261 30`,
      `EVAL <…> 3 ${mine} ${theirs} asgiworker-q <…> <…> <…> 2 2 2 1795258212.0261 30`,
    ]);
    const evalArgs = fake.log[8]!.args;
    expect(evalArgs[1]).toBe(GROUP_SEND_SCRIPT.source);
    // One member per key; the two channels of one process share theirs.
    expect(memberMessage(evalArgs[6]!)).toEqual({ type: 'chat.message', text: 'hi', __asgi_channel__: [A, B] });
    expect(memberMessage(evalArgs[7]!)).toEqual({ type: 'chat.message', text: 'hi', __asgi_channel__: [OTHER] });
    expect(memberMessage(evalArgs[8]!)).toEqual({ type: 'chat.message', text: 'hi', __asgi_channel__: ['worker-q'] });
    expect(layer.stats.groupSendsSkipped).toBe(1);

    // Redis now knows the script: the next groupSend is EVALSHA only.
    fake.log.length = 0;
    reactor.advance(1);
    const again = layer.groupSend('g1', { type: 'again' });
    pump.flush();
    successResultOf(again);
    expect(fake.lines().filter((l) => l.startsWith('EVAL'))).toHaveLength(1);
    expect(fake.lines().at(-1)).toMatch(new RegExp(`^EVALSHA ${GROUP_SEND_SCRIPT.sha1} 3 `));
  });

  test('groupSend to an empty group stops after reading it', () => {
    const { fake, layer, completer } = setup();
    const d = layer.groupSend('empty', { type: 'x' });
    completer.succeedOnce();
    successResultOf(d);
    expect(fake.lines()).toEqual(['ZREMRANGEBYSCORE asgi:group:empty 0 1795257612', 'ZRANGE asgi:group:empty 0 -1']);
  });

  test('groupDiscard: ZREM', () => {
    const { fake, layer, completer } = setup();
    const d = layer.groupDiscard('g1', A);
    completer.succeedOnce();
    successResultOf(d);
    expect(fake.lines()).toEqual([`ZREM asgi:group:g1 ${A}`]);
  });

  test('receive: the restore script, BZPOPMIN key 5 on a connection of its own, ZADD key$inflight, ZPOPMIN key$inflight', () => {
    const { fake, layer, completer } = setup();
    const key = `asgispecific.${layer.clientPrefix}!`;
    const channel = `specific.${layer.clientPrefix}!abc`;
    const r = layer.receive(channel);
    const main = completer.succeedOnce();
    expect(fake.lines(0)).toEqual([`EVALSHA ${RESTORE_SCRIPT.sha1} 0 ${key} ${key}$inflight`, `EVAL <${RESTORE_SCRIPT.source.length} bytes> 0 ${key} ${key}$inflight`]);
    const blocking = completer.succeedOnce();
    expect(fake.lines(1)).toEqual([`BZPOPMIN ${key} 5`]);
    assertNoResult(r);
    const member = Buffer.concat([Buffer.alloc(12, 7), encode({ type: 'hello', __asgi_channel__: channel })]);
    fake.connections[1]!.release(reply.array([reply.bulk(key), reply.bulk(member), reply.bulk('1795258212.0261')]));
    blocking.flush();
    expect(successResultOf(r)).toEqual({ type: 'hello' });
    main.flush();
    expect(fake.lines(0).slice(2)).toEqual([`ZADD ${key}$inflight 1795258212.0261 <${member.length} bytes>`, `ZPOPMIN ${key}$inflight`]);
    expect(fake.log.filter((l) => l.conn === 0)[2]!.args[3]).toBe(member.toString('latin1'));
  });

  test('a BZPOPMIN that times out (nil) is repeated after the restore script, while someone waits', () => {
    const { fake, layer, completer } = setup();
    const r = layer.receive('jobs');
    const main = completer.succeedOnce();
    const blocking = completer.succeedOnce();
    fake.connections[1]!.release(reply.nilArray);
    blocking.flush();
    main.flush();
    blocking.flush();
    expect(fake.lines(0).filter((l) => l.startsWith('EVALSHA'))).toHaveLength(2);
    expect(fake.lines(1)).toEqual(['BZPOPMIN asgijobs 5', 'BZPOPMIN asgijobs 5']);
    r.cancel();
    failureResultOf(r, CancelledError);
    // The pop in flight returns nothing; with nobody waiting, the loop stops there.
    fake.connections[1]!.release(reply.nilArray);
    blocking.flush();
    main.flush();
    expect(fake.lines(1)).toHaveLength(2);
  });

  test('a message popped for a normal channel after its receiver left is put back, score unchanged', () => {
    const { fake, layer, completer } = setup();
    const r = layer.receive('jobs');
    const main = completer.succeedOnce();
    const blocking = completer.succeedOnce();
    r.cancel();
    failureResultOf(r, CancelledError);
    const member = Buffer.concat([Buffer.alloc(12, 1), encode({ type: 'job' })]);
    fake.connections[1]!.release(reply.array([reply.bulk('asgijobs'), reply.bulk(member), reply.bulk('1795258200.5')]));
    blocking.flush();
    main.flush();
    expect(fake.lines(0).slice(2)).toEqual([
      `ZADD asgijobs$inflight 1795258200.5 <${member.length} bytes>`,
      `ZADD asgijobs 1795258200.5 <${member.length} bytes>`,
      'ZPOPMIN asgijobs$inflight',
    ]);
  });

  test('flush: SCAN MATCH prefix* and DEL what it finds, never KEYS', () => {
    const { fake, layer, completer } = setup({ prefix: 'my*app' });
    let scans = 0;
    fake.on('SCAN', () => {
      scans++;
      return scans === 1
        ? reply.array([reply.bulk('17'), reply.array([reply.bulk('my*appa'), reply.bulk('my*app:group:g')])])
        : reply.array([reply.bulk('0'), reply.array([reply.bulk('my*appb')])]);
    });
    const d = layer.flush();
    completer.succeedOnce();
    successResultOf(d);
    expect(fake.lines()).toEqual([
      'SCAN 0 MATCH my\\*app* COUNT 1000',
      'DEL my*appa my*app:group:g',
      'SCAN 17 MATCH my\\*app* COUNT 1000',
      'DEL my*appb',
    ]);
  });

  test('close: waiting receives fail; the main connection QUITs; later calls fail', () => {
    const { fake, layer, completer } = setup();
    const r = layer.receive('jobs');
    const main = completer.succeedOnce();
    const blocking = completer.succeedOnce();
    const closed = layer.close();
    failureResultOf(r, ChannelLayerClosed);
    main.flush();
    blocking.flush();
    successResultOf(closed);
    expect(fake.lines(0).at(-1)).toBe('QUIT');
    failureResultOf(layer.send('jobs', { type: 'x' }), ChannelLayerClosed);
    failureResultOf(layer.groupSend('g', { type: 'x' }), ChannelLayerClosed);
  });

  test('scores of one layer increase even when the clock does not move (order is kept)', () => {
    const { fake, layer, completer } = setup({ capacity: 100 });
    for (let i = 0; i < 3; i++) void layer.send('q', { type: 'x' });
    completer.succeedOnce();
    const scores = fake.log.filter((l) => l.args[0] === 'ZADD').map((l) => Number(l.args[2]));
    expect(scores[0]).toBe(NOW);
    expect(scores[1]).toBeGreaterThan(scores[0]!);
    expect(scores[2]).toBeGreaterThan(scores[1]!);
    expect(scores[2]! - NOW).toBeLessThan(1e-6);
  });
});

describe('RedisChannelLayer: options', () => {
  test('defaults are channels_redis’s', () => {
    const l = new RedisChannelLayer({ reactor: new MemoryReactorClock() });
    expect([l.prefix, l.capacity, l.expiry, l.groupExpiry]).toEqual(['asgi', 100, 60, 86_400]);
    expect(l.hosts.map((h) => [h.host, h.port])).toEqual([['localhost', 6379]]);
    expect(l.extensions).toEqual(['groups', 'flush']);
    expect(l.channelKey('specific.ab!cd')).toBe('asgispecific.ab!');
    expect(l.groupKey('room')).toBe('asgi:group:room');
  });

  test('hosts: URLs, { address }, [host, port]', () => {
    const l = new RedisChannelLayer({ reactor: new MemoryReactorClock(), hosts: ['redis://a:1/2', { address: 'unix:///tmp/s' }, ['::1', 7000]] });
    expect(l.hosts.map((h) => [h.transport, h.host, h.port, h.path, h.db])).toEqual([
      ['tcp', 'a', 1, '', 2],
      ['unix', '', 0, '/tmp/s', 0],
      ['tcp', '::1', 7000, '', 0],
    ]);
  });

  test.each([
    [{ hosts: 'redis://x' as unknown as string[] }, TypeError],
    [{ hosts: [] }, TypeError],
    [{ capacity: 0 }, RangeError],
    [{ expiry: 0 }, RangeError],
    [{ groupExpiry: -1 }, RangeError],
    [{ symmetricEncryptionKeys: 'one' as unknown as string[] }, TypeError],
  ] as const)('%j is refused', (options, type) => {
    expect(() => new RedisChannelLayer({ reactor: new MemoryReactorClock(), ...options })).toThrow(type);
  });

  test('a message msgpack cannot carry is a TypeError, before anything is sent', () => {
    const { layer, reactor } = setup();
    expect(() => layer.send('q', { type: 'x', when: new Date() })).toThrow(/encodable with msgpack/);
    expect(() => layer.groupSend('g', { type: 'x', s: Symbol('no') })).toThrow(TypeError);
    expect(reactor.tcpClients).toHaveLength(0);
  });
});

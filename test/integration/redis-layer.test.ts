/**
 * RedisChannelLayer against a real redis-server: the channel-layer contract (real time, and
 * with a Clock for the message and membership times), sharding over two servers, encryption.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { ChannelFull } from '../../src/channels/layers/errors.js';
import { Fernet, InvalidToken } from '../../src/channels/layers/fernet.js';
import { consistentHash } from '../../src/channels/layers/sharding.js';
import { connectRedis, type RedisConnection } from '../../src/redis/connect.js';
import { decode, encode } from '../../src/redis/msgpack/index.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { RedisChannelLayer, type RedisChannelLayerOptions } from '../../src/channels/layers/redis.js';
import { RedisPubSubChannelLayer } from '../../src/channels/layers/redisPubSub.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { Clock } from '../../src/testing/clock.js';
import { runChannelLayerContract } from '../channels/layerContract.js';
import { RedisServer, requireRedisOrSkip } from './redisServer.js';
import { until } from './helpers.js';

const missing = requireRedisOrSkip('the Redis channel layer tests');

let server: RedisServer;
let reactor: NodeReactor;

beforeAll(async () => {
  if (missing !== null) return;
  reactor = new NodeReactor();
  void reactor.run();
  server = await RedisServer.start();
});

afterAll(async () => {
  if (missing !== null) return;
  if (reactor.running) reactor.stop();
  await server.dispose();
});

/** Poll `predicate` every 10 ms for at most `ms`. */

function layer(options: RedisChannelLayerOptions = {}): RedisChannelLayer {
  return new RedisChannelLayer({ hosts: [server.url()], reactor, prefix: 'contract', ...options });
}

if (missing === null) {
  runChannelLayerContract(() => layer(), { name: 'redis, defaults' });
} else {
  test.skip(`redis contract: ${missing}`, () => {});
}

if (missing === null) {
  const clock = new Clock();
  clock.rightNow = 1_800_000_000;
  runChannelLayerContract(() => layer({ clock, capacity: 3, expiry: 5, groupExpiry: 50 }), {
    name: 'redis, a Clock for message times, capacity 3, expiry 5 s, group expiry 50 s',
    clock,
    capacity: 3,
    expiry: 5,
    groupExpiry: 50,
    // channels_redis's format has no channel → groups index to drop memberships with.
    expiredMessagesLeaveGroups: false,
  });
}

if (missing === null) {
  runChannelLayerContract(
    () => new RedisPubSubChannelLayer({ hosts: [server.url()], reactor, prefix: 'contractps' }),
    { name: 'redis pub/sub', storesMessages: false, settle: () => new Promise((r) => setTimeout(r, 30)) },
  );
}

// ------------------------------------------------------------------ the wire format, read back raw

/** Members of a sorted set with their scores. */
async function zrange(conn: RedisConnection, key: string): Promise<{ member: Buffer; score: number }[]> {
  const flat = (await conn.command('ZRANGE', key, 0, -1, 'WITHSCORES')) as Buffer[];
  const out: { member: Buffer; score: number }[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ member: flat[i]!, score: Number(flat[i + 1]!.toString()) });
  return out;
}

/** A member as channels_redis writes it: 12 random bytes, then msgpack. */
function member(message: Record<string, unknown>): Buffer {
  return Buffer.concat([randomBytes(12), encode(message)]);
}

describe.skipIf(missing !== null)('RedisChannelLayer: keys and members as channels_redis (read back raw)', () => {
  let raw: RedisConnection;
  let prefix: string;
  let l: RedisChannelLayer;

  beforeEach(() => {
    raw = connectRedis(reactor, server.url());
    prefix = `wire${randomBytes(4).toString('hex')}`;
    l = layer({ prefix });
  });

  afterEach(async () => {
    await l.flush();
    await l.close();
    await raw.quit();
  });

  test('send to a normal channel: key prefix + name, 12 random bytes + msgpack, float-second score, EXPIRE expiry', async () => {
    const before = Date.now() / 1000;
    await l.send('tasks', { type: 'counter.increment', page: '/home' });
    await l.send('tasks', { type: 'counter.increment', page: '/home' });
    const members = await zrange(raw, `${prefix}tasks`);
    // Two identical messages stay two members: the random prefix keeps them apart.
    expect(members).toHaveLength(2);
    for (const m of members) {
      expect(decode(m.member.subarray(12))).toEqual({ type: 'counter.increment', page: '/home' });
      expect(m.score).toBeGreaterThanOrEqual(before - 1);
      expect(m.score).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    }
    expect(members[0]!.member.subarray(12).toString('hex')).toBe('82a474797065b1636f756e7465722e696e6372656d656e74a470616765a52f686f6d65');
    expect(await raw.command('TTL', `${prefix}tasks`)).toBe(60);
  });

  test('send to a process-local channel: the non-local key, __asgi_channel__ as a string', async () => {
    const name = await l.newChannel();
    expect(name).toMatch(new RegExp(`^specific\\.${l.clientPrefix}![0-9a-f]{32}$`));
    await l.send(name, { type: 'direct.msg', x: 1.5 });
    const key = `${prefix}specific.${l.clientPrefix}!`;
    const [m] = await zrange(raw, key);
    expect(decode(m!.member.subarray(12))).toEqual({ type: 'direct.msg', x: 1.5, __asgi_channel__: name });
    // x is a float64 (cb), as Python packs 1.5.
    expect(m!.member.subarray(12).toString('hex')).toContain('a178cb3ff8000000000000');
  });

  test('groupAdd: a sorted set of channel names scored by join time, EXPIRE groupExpiry; groupDiscard: ZREM', async () => {
    const [a, b] = [await l.newChannel(), await l.newChannel()];
    await l.groupAdd('room1', a);
    await l.groupAdd('room1', b);
    const members = await zrange(raw, `${prefix}:group:room1`);
    expect(members.map((m) => m.member.toString()).sort()).toEqual([a, b].sort());
    expect(await raw.command('TTL', `${prefix}:group:room1`)).toBe(86_400);
    await l.groupDiscard('room1', a);
    expect((await zrange(raw, `${prefix}:group:room1`)).map((m) => m.member.toString())).toEqual([b]);
  });

  test('groupSend: one member per key, listing every local channel of that key in __asgi_channel__', async () => {
    const other = layer({ prefix });
    try {
      const [a, b] = [await l.newChannel(), await l.newChannel()];
      const c = await other.newChannel();
      for (const ch of [a, b, c, 'worker-q']) await l.groupAdd('room1', ch);
      await l.groupSend('room1', { type: 'chat.message', text: 'hi', n: 1, raw: Buffer.from([0, 1]) });
      const mine = await zrange(raw, `${prefix}specific.${l.clientPrefix}!`);
      expect(mine).toHaveLength(1);
      const decoded = decode(mine[0]!.member.subarray(12)) as Record<string, unknown>;
      expect({ ...decoded, __asgi_channel__: (decoded.__asgi_channel__ as string[]).sort() }).toEqual({
        type: 'chat.message',
        text: 'hi',
        n: 1,
        raw: Buffer.from([0, 1]),
        __asgi_channel__: [a, b].sort(),
      });
      const theirs = await zrange(raw, `${prefix}specific.${other.clientPrefix}!`);
      expect((decode(theirs[0]!.member.subarray(12)) as Record<string, unknown>).__asgi_channel__).toEqual([c]);
      const worker = await zrange(raw, `${prefix}worker-q`);
      expect((decode(worker[0]!.member.subarray(12)) as Record<string, unknown>).__asgi_channel__).toEqual(['worker-q']);
      // Each local channel gets its copy; the worker channel's message arrives without the key.
      expect(await l.receive(a)).toEqual({ type: 'chat.message', text: 'hi', n: 1, raw: Buffer.from([0, 1]) });
      expect(await l.receive(b)).toEqual({ type: 'chat.message', text: 'hi', n: 1, raw: Buffer.from([0, 1]) });
      expect(await other.receive(c)).toEqual({ type: 'chat.message', text: 'hi', n: 1, raw: Buffer.from([0, 1]) });
      expect(await l.receive('worker-q')).toEqual({ type: 'chat.message', text: 'hi', n: 1, raw: Buffer.from([0, 1]) });
    } finally {
      await other.close();
    }
  });

  test('members written by another process (as Python writes them) are received, with bigints and nested values', async () => {
    const name = await l.newChannel();
    const key = `${prefix}specific.${l.clientPrefix}!`;
    const message = { type: 'from.python', big: 2n ** 60n, neg: -(2n ** 62n), f: 0.5, l: [1, 'a', null, true, [{ x: Buffer.from('y') }]] };
    await raw.command('ZADD', key, Date.now() / 1000, member({ ...message, __asgi_channel__: name }));
    expect(await l.receive(name)).toEqual(message);
    await raw.command('ZADD', `${prefix}worker-q`, Date.now() / 1000, member({ type: 'job', n: 1 }));
    expect(await l.receive('worker-q')).toEqual({ type: 'job', n: 1 });
  });

  test('receive: a member left in key$inflight (a receiver that died) is put back first by the restore script', async () => {
    const key = `${prefix}jobs`;
    const now = Date.now() / 1000;
    await raw.command('ZADD', `${key}$inflight`, now - 1, member({ type: 'orphan' }));
    await raw.command('ZADD', key, now, member({ type: 'next' }));
    expect((await l.receive('jobs')).type).toBe('orphan');
    expect((await l.receive('jobs')).type).toBe('next');
    // Each delivery's backup is popped right after it (ZPOPMIN on the layer's connection).
    await until(async () => (await raw.command('EXISTS', `${key}$inflight`)) === 0, 'the backup to be cleaned');
  });

  test('a message older than expiry is dropped on receive', async () => {
    const key = `${prefix}jobs`;
    const now = Date.now() / 1000;
    await raw.command('ZADD', key, now - 61, member({ type: 'stale' }), now, member({ type: 'fresh' }));
    expect((await l.receive('jobs')).type).toBe('fresh');
    expect(l.stats.messagesExpired).toBe(1);
  });

  test('send refuses at capacity with ChannelFull (ZCOUNT), counting the refusal', async () => {
    const small = layer({ prefix, capacity: 2, channelCapacity: { 'big*': 3 } });
    try {
      await small.send('q', { type: 'a' });
      await small.send('q', { type: 'b' });
      await expect(small.send('q', { type: 'c' })).rejects.toBeInstanceOf(ChannelFull);
      for (let i = 0; i < 3; i++) await small.send('bigq', { type: 'x' });
      await expect(small.send('bigq', { type: 'y' })).rejects.toMatchObject({ capacity: 3 });
      expect(small.stats.sendsRefused).toBe(2);
      expect(await raw.command('ZCARD', `${prefix}q`)).toBe(2);
    } finally {
      await small.close();
    }
  });

  test('process-local buffers are bounded: the oldest message is dropped and counted', async () => {
    const small = layer({ prefix, capacity: 2 });
    try {
      const [a, b] = [await small.newChannel(), await small.newChannel()];
      const waitingB = small.receive(b); // keeps the process's receive loop running
      await small.send(a, { type: 'm', i: 1 });
      await small.send(a, { type: 'm', i: 2 });
      await until(() => small.stats.bufferOverflows === 0 && (small as unknown as { buffers: Map<string, unknown[]> }).buffers.get(a)?.length === 2, 'two buffered');
      await small.send(a, { type: 'm', i: 3 });
      await until(() => small.stats.bufferOverflows === 1, 'an overflow');
      expect((await small.receive(a)).i).toBe(2);
      expect((await small.receive(a)).i).toBe(3);
      await small.send(b, { type: 'for.b' });
      expect(await waitingB).toEqual({ type: 'for.b' });
    } finally {
      await small.close();
    }
  });

  test('flush deletes this prefix’s keys with SCAN, and nothing else', async () => {
    await raw.command('SET', `not${prefix}`, 'keep');
    for (let i = 0; i < 50; i++) await l.send(`q${i}`, { type: 'x' });
    await l.groupAdd('g', 'q1');
    await l.flush();
    const [, left] = (await raw.command('SCAN', 0, 'MATCH', `${prefix}*`, 'COUNT', 10_000)) as [Buffer, Buffer[]];
    expect(left).toEqual([]);
    expect(await raw.command('GET', `not${prefix}`)).toEqual(Buffer.from('keep'));
    await raw.command('DEL', `not${prefix}`);
  });

  test('real expiry: the key disappears `expiry` seconds after the last send', async () => {
    const quick = layer({ prefix, expiry: 1 });
    try {
      await quick.send('short', { type: 'x' });
      expect(await raw.command('TTL', `${prefix}short`)).toBe(1);
      await until(async () => (await raw.command('EXISTS', `${prefix}short`)) === 0, 'the key to expire', 3000);
    } finally {
      await quick.close();
    }
  });
});

describe.skipIf(missing !== null)('RedisChannelLayer: encryption (Fernet, channels_redis’s key derivation)', () => {
  test('members are 12 bytes then a Fernet token; rotated keys still decrypt; a stranger cannot', async () => {
    const prefix = `enc${randomBytes(4).toString('hex')}`;
    const raw = connectRedis(reactor, server.url());
    const writer = layer({ prefix, symmetricEncryptionKeys: ['new-secret', 'old-secret'] });
    const rotated = layer({ prefix, symmetricEncryptionKeys: ['newer-secret', 'new-secret'] });
    const stranger = layer({ prefix, symmetricEncryptionKeys: ['other'] });
    try {
      await writer.send('secret', { type: 'secret.msg', n: 7 });
      const [m] = await zrange(raw, `${prefix}secret`);
      const token = m!.member.subarray(12).toString('latin1');
      expect(token).toMatch(/^gAAAAA[A-Za-z0-9_-]+=*$/);
      expect(decode(Fernet.fromSecret('new-secret').decrypt(token, { now: Date.now() / 1000 }))).toEqual({ type: 'secret.msg', n: 7 });
      expect(await rotated.receive('secret')).toEqual({ type: 'secret.msg', n: 7 });
      await writer.send('secret', { type: 'secret.msg', n: 8 });
      const r = stranger.receive('secret');
      await until(() => stranger.stats.messagesUndecodable === 1, 'the undecodable message');
      expect(flushLoggedErrors(InvalidToken)).toHaveLength(1);
      r.cancel();
      await r.then(
        () => undefined,
        () => undefined,
      );
    } finally {
      await writer.flush();
      for (const x of [writer, rotated, stranger]) await x.close();
      await raw.quit();
    }
  });
});

describe.skipIf(missing !== null)('RedisChannelLayer: sharding over two servers', () => {
  let second: RedisServer;
  beforeAll(async () => {
    second = await RedisServer.start();
  });
  afterAll(async () => {
    await second.dispose();
  });

  test('groups on hash(group), process-local keys on hash(non-local name) — for send too; normal channels round-robin', async () => {
    const prefix = `shard${randomBytes(4).toString('hex')}`;
    const hosts = [server.url(), second.url()];
    const raws = hosts.map((u) => connectRedis(reactor, u));
    const l = new RedisChannelLayer({ hosts, reactor, prefix });
    try {
      const names: string[] = [];
      for (let i = 0; i < 4; i++) names.push(await l.newChannel());
      const localKey = `${prefix}specific.${l.clientPrefix}!`;
      const localShard = consistentHash(`specific.${l.clientPrefix}!`, 2);
      for (const n of names) await l.send(n, { type: 'direct' });
      // Every direct send landed on the shard of the non-local name, whatever the full name hashes to.
      expect(await raws[localShard]!.command('ZCARD', localKey)).toBe(4);
      expect(await raws[1 - localShard]!.command('EXISTS', localKey)).toBe(0);
      for (const n of names) expect(await l.receive(n)).toEqual({ type: 'direct' });

      for (const group of ['room1', 'g1', 'chat.lobby', 'tasks']) {
        await l.groupAdd(group, names[0]!);
        const shard = consistentHash(group, 2);
        expect(await raws[shard]!.command('EXISTS', `${prefix}:group:${group}`)).toBe(1);
        expect(await raws[1 - shard]!.command('EXISTS', `${prefix}:group:${group}`)).toBe(0);
        await l.groupSend(group, { type: 'to.group', group });
        expect(await l.receive(names[0]!)).toEqual({ type: 'to.group', group });
      }

      await l.send('worker-q', { type: 'w', i: 1 });
      await l.send('worker-q', { type: 'w', i: 2 });
      expect([await raws[0]!.command('ZCARD', `${prefix}worker-q`), await raws[1]!.command('ZCARD', `${prefix}worker-q`)]).toEqual([1, 1]);
      const got = [(await l.receive('worker-q')).i, (await l.receive('worker-q')).i].sort();
      expect(got).toEqual([1, 2]);

      // What channels_redis's own send does (#221): a direct message on the shard of the FULL name.
      const misrouted = names.find((n) => consistentHash(n, 2) !== localShard) ?? names[0]!;
      await raws[consistentHash(misrouted, 2)]!.command('ZADD', localKey, Date.now() / 1000, member({ type: 'via.full.name', __asgi_channel__: misrouted }));
      expect(await l.receive(misrouted)).toEqual({ type: 'via.full.name' });
    } finally {
      await l.flush();
      await l.close();
      for (const r of raws) await r.quit();
    }
  });
});

/**
 * Redis going away under the client and the layers, on a real redis-server: killed in the
 * middle of traffic and started again on the same port; and not there at all at start.
 * Every wait is bounded; nothing may crash or leave an unhandled error behind.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisChannelLayer } from '../../src/channels/layers/redis.js';
import { RedisPubSubChannelLayer } from '../../src/channels/layers/redisPubSub.js';
import type { Message } from '../../src/channels/types.js';
import type { Deferred } from '../../src/defer/deferred.js';
import type { Failure } from '../../src/defer/failure.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { RedisConnectionLost, RedisNotConnected } from '../../src/redis/client.js';
import { connectRedis, type RedisConnectionOptions } from '../../src/redis/connect.js';
import { connectRedisPubSub } from '../../src/redis/pubsub.js';
import type { RespValue } from '../../src/redis/resp.js';
import { RedisServer, freePort, requireRedisOrSkip } from './redisServer.js';
import { withinDefault, until as untilWithin } from './helpers.js';

const missing = requireRedisOrSkip('the Redis fault tests');

let reactor: NodeReactor;
beforeAll(() => {
  reactor = new NodeReactor();
  void reactor.run();
});
afterAll(() => {
  if (reactor.running) reactor.stop();
});

/** Fast, bounded reconnection for tests. */
const FAST: RedisConnectionOptions = { reconnect: { initialDelay: 0.05, maxDelay: 0.3 }, connectTimeout: 2 };

/** Poll `predicate` every 10 ms for at most `ms`. */
const until = (predicate: () => boolean | Promise<boolean>, what: string, ms = 8000): Promise<void> =>
  untilWithin(predicate, what, ms);

const within = withinDefault(8000);

/** The outcome of a Deferred, as a value: never an unhandled failure. */
interface Outcome<T> {
  ok: boolean;
  value?: T;
  error?: Error;
}

function settle<T>(d: Deferred<T>): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    d.addCallbacks(
      (value) => void resolve({ ok: true, value }),
      (f: Failure) => void resolve({ ok: false, error: f.value as Error }),
    );
  });
}

describe.skipIf(missing !== null)('Redis restarted in the middle of traffic', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server.dispose();
  });

  test('the connection: in-flight commands fail with RedisConnectionLost, it reconnects, later commands work', async () => {
    const redis = connectRedis(reactor, server.url(), FAST);
    try {
      await redis.command('SET', 'counter', 0);
      // Traffic: a stream of INCRs, a blocking command in flight when Redis dies.
      const outcomes: Promise<Outcome<RespValue>>[] = [];
      for (let i = 0; i < 200; i++) outcomes.push(settle(redis.command('INCR', 'counter')));
      const blocked = settle(redis.execute(['BLPOP', 'never', 0], { timeout: null }));
      await until(() => redis.connected, 'the connection');
      await server.stop('SIGKILL');
      const lost = await within(blocked, 'the blocked command to fail');
      expect(lost.ok).toBe(false);
      expect(lost.error).toBeInstanceOf(RedisConnectionLost);
      expect(lost.error!.message).toMatch(/connection to Redis was lost before the reply to BLPOP arrived/);
      for (const o of await Promise.all(outcomes)) {
        // Each INCR either ran (a reply) or failed with the clear error: nothing else.
        if (!o.ok) expect(o.error).toBeInstanceOf(RedisConnectionLost);
      }
      // While Redis is down: a command waits for the next attempt and fails with a clear error.
      await until(() => !redis.connected, 'the loss to be noticed');
      const down = await within(settle(redis.command('GET', 'counter')), 'a command while down');
      expect(down.ok).toBe(false);
      expect(down.error).toBeInstanceOf(RedisNotConnected);
      expect((down.error as RedisNotConnected).reason).toBe('unreachable');
      expect(down.error!.message).toMatch(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${server.port} is unreachable .*; retrying`));

      await server.restart();
      await within(redis.whenConnected(), 'the reconnection');
      // A fresh server (nothing persisted): the connection works as new.
      expect(await redis.command('INCR', 'counter')).toBe(1);
      // Commands given while reconnecting are queued and sent once ready.
      await server.restart();
      const queued = settle(redis.command('SET', 'after', 'restart'));
      const result = await within(queued, 'a queued command');
      if (result.ok) expect(result.value).toBe('OK');
      else expect(result.error).toBeInstanceOf(RedisNotConnected);
      await within(redis.whenConnected(), 'the second reconnection');
      expect(await redis.command('PING')).toBe('PONG');
    } finally {
      await redis.quit();
    }
  });

  test('pub/sub: subscriptions are made again after the restart', async () => {
    const sub = connectRedisPubSub(reactor, server.url(), FAST);
    const pub = connectRedis(reactor, server.url(), FAST);
    try {
      const got: string[] = [];
      let reconnects = 0;
      let disconnects = 0;
      sub.onReconnect = () => void reconnects++;
      sub.onDisconnect = () => void disconnects++;
      await sub.subscribe('news', (data) => void got.push(data.toString()));
      await sub.psubscribe('ev.*', (data, channel, pattern) => void got.push(`${pattern}:${channel}:${data.toString()}`));
      await pub.command('PUBLISH', 'news', 'before');
      await until(() => got.includes('before'), 'the first message');
      await server.restart();
      await until(() => reconnects === 1, 'the resubscription');
      expect(disconnects).toBe(1);
      await within(pub.whenConnected(), 'the publisher');
      await pub.command('PUBLISH', 'news', 'after');
      await pub.command('PUBLISH', 'ev.x', 'pattern');
      await until(() => got.includes('after') && got.includes('ev.*:ev.x:pattern'), 'messages after the restart');
    } finally {
      await sub.close();
      await pub.quit();
    }
  });

  test('the channel layer: a waiting consumer and a worker loop keep working once Redis is back', async () => {
    const layer = new RedisChannelLayer({ hosts: [server.url()], reactor, connection: FAST, blockTimeout: 1 });
    const sender = new RedisChannelLayer({ hosts: [server.url()], reactor, connection: FAST });
    try {
      const me = await layer.newChannel();
      await layer.groupAdd('room', me);
      await sender.groupSend('room', { type: 'before' });
      expect(await within(layer.receive(me), 'the first message')).toEqual({ type: 'before' });

      // A worker loop on a normal channel, and a consumer waiting on its own channel.
      const worked: unknown[] = [];
      let stopWorker = false;
      const worker = (async () => {
        while (!stopWorker) {
          const r = await settle(layer.receive('jobs'));
          if (r.ok) worked.push(r.value!.n);
        }
      })();
      const waiting = layer.receive(me);
      await sender.send('jobs', { type: 'job', n: 1 });
      await until(() => worked.includes(1), 'the first job');

      await server.restart();
      // Sends during the outage fail clearly or go through once reconnected; never anything else.
      const during = await within(settle(sender.send('jobs', { type: 'job', n: 2 })), 'a send during the restart');
      if (!during.ok) expect(during.error).toBeInstanceOf(Error);

      // Redis is back (empty: nothing was persisted): the same waiting receive gets new messages.
      await within(sender.send(me, { type: 'after' }), 'a send after the restart', 10_000);
      expect(await within(waiting, 'the waiting consumer', 10_000)).toEqual({ type: 'after' });
      await sender.send('jobs', { type: 'job', n: 3 });
      await until(() => worked.includes(3), 'a job after the restart', 10_000);
      await layer.groupAdd('room', me);
      await sender.groupSend('room', { type: 'group.after' });
      expect(await within(layer.receive(me), 'a group message after the restart', 10_000)).toEqual({ type: 'group.after' });
      stopWorker = true;
      await sender.send('jobs', { type: 'job', n: 4 });
      await within(worker, 'the worker to stop', 10_000);
    } finally {
      await layer.close();
      await sender.close();
    }
  });

  test('the pub/sub layer: group members hear group sends again after the restart', async () => {
    const layer = new RedisPubSubChannelLayer({ hosts: [server.url()], reactor, connection: FAST });
    const sender = new RedisPubSubChannelLayer({ hosts: [server.url()], reactor, connection: FAST });
    try {
      const me = await layer.newChannel();
      await layer.groupAdd('room', me);
      await sender.groupSend('room', { type: 'before' });
      expect(await within(layer.receive(me), 'the first message')).toEqual({ type: 'before' });
      await server.restart();
      // Published while nobody listens is lost (pub/sub): keep publishing until it is heard.
      const got = layer.receive(me);
      let heard: Message | null = null;
      void got.addCallback((m) => void (heard = m));
      await until(async () => {
        await settle(sender.groupSend('room', { type: 'after' }));
        await new Promise((r) => setTimeout(r, 50));
        return heard !== null;
      }, 'a group message after the restart', 10_000);
      expect(heard).toEqual({ type: 'after' });
    } finally {
      await layer.close();
      await sender.close();
    }
  });
});

describe.skipIf(missing !== null)('Redis unreachable at start', () => {
  test('the first commands fail with a clear error; attempts go on, and succeed once Redis is up', async () => {
    const port = await freePort();
    const redis = connectRedis(reactor, `redis://127.0.0.1:${port}`, FAST);
    let server: RedisServer | null = null;
    try {
      const first = await within(settle(redis.command('PING')), 'the first command');
      expect(first.ok).toBe(false);
      expect(first.error).toBeInstanceOf(RedisNotConnected);
      expect((first.error as RedisNotConnected).reason).toBe('unreachable');
      expect(first.error!.message).toMatch(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${port} is unreachable \\(.*refused.*\\); retrying in [\\d.]+ s$`, 'i'));
      expect(redis.lastError).not.toBeNull();
      server = await RedisServer.start({ port });
      await within(redis.whenConnected(), 'the background connection');
      expect(await redis.command('PING')).toBe('PONG');
    } finally {
      await redis.quit();
      await server?.dispose();
    }
  });

  test('the layer: sends fail with the clear error, then work once Redis is up', async () => {
    const port = await freePort();
    const layer = new RedisChannelLayer({ hosts: [`redis://127.0.0.1:${port}`], reactor, connection: FAST });
    let server: RedisServer | null = null;
    try {
      const first = await within(settle(layer.send('jobs', { type: 'job' })), 'the first send');
      expect(first.ok).toBe(false);
      expect(first.error).toBeInstanceOf(RedisNotConnected);
      expect(first.error!.message).toMatch(/is unreachable/);
      // A receive waits through the outage.
      const waiting = layer.receive('jobs');
      server = await RedisServer.start({ port });
      await until(async () => (await settle(layer.send('jobs', { type: 'job', n: 1 }))).ok, 'a send to go through', 10_000);
      expect(await within(waiting, 'the receive', 10_000)).toEqual({ type: 'job', n: 1 });
    } finally {
      await layer.close();
      await server?.dispose();
    }
  });
});

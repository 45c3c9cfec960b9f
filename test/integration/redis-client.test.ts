/**
 * The Redis client, connection, blocking pool and pub/sub against a real redis-server on
 * 127.0.0.1 (and a UNIX socket in a temp dir): pipelining, typed errors, EVALSHA/EVAL, AUTH and
 * SELECT from the URL, timeouts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { RedisBlockingPool } from '../../src/redis/blocking.js';
import { RedisConnectionLost, RedisNotConnected, RedisScript, RedisTimeoutError } from '../../src/redis/client.js';
import { connectRedis, type RedisConnection } from '../../src/redis/connect.js';
import { connectRedisPubSub } from '../../src/redis/pubsub.js';
import { RedisReplyError } from '../../src/redis/respErrors.js';
import { RedisServer, requireRedisOrSkip } from './redisServer.js';
import { until } from './helpers.js';

const missing = requireRedisOrSkip('the Redis client integration tests');

let reactor: NodeReactor;
let server: RedisServer;
const open: { quit(): PromiseLike<void> }[] = [];

function connect(url = server.url(), options = {}): RedisConnection {
  const c = connectRedis(reactor, url, { reconnect: { maxDelay: 0.5 }, ...options });
  open.push(c);
  return c;
}

beforeAll(async () => {
  if (missing !== null) return;
  reactor = new NodeReactor();
  void reactor.run();
  server = await RedisServer.start({ unixSocket: true, args: ['--requirepass', 'sesame'] });
});

afterAll(async () => {
  if (missing !== null) return;
  for (const c of open) await c.quit();
  if (reactor.running) reactor.stop();
  await server.dispose();
});

describe.skipIf(missing !== null)('RedisConnection on a real redis-server', () => {
  const url = (db = 0): string => `redis://:sesame@127.0.0.1:${server.port}${db !== 0 ? `/${db}` : ''}`;

  test('10,000 commands in flight at once: every reply matches its command', async () => {
    const redis = connect(url());
    await redis.whenConnected();
    const ds = [];
    for (let i = 0; i < 10_000; i++) ds.push(redis.command('ECHO', `m${i}`));
    const replies = await Promise.all(ds);
    expect(replies.every((r, i) => (r as Buffer).toString() === `m${i}`)).toBe(true);
  });

  test('AUTH and SELECT from the URL; a wrong password is a clear error', async () => {
    const db3 = connect(url(3));
    await db3.command('SET', 'where', 'db3');
    const db0 = connect(url());
    expect(await db0.command('GET', 'where')).toBeNull();
    expect(await db0.command('SELECT', 3)).toBe('OK');
    expect(await db0.command('GET', 'where')).toEqual(Buffer.from('db3'));

    const wrong = connect(`redis://:nope@127.0.0.1:${server.port}`);
    const e = await wrong.command('PING').then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(RedisNotConnected);
    expect((e as Error).message).toMatch(/WRONGPASS|invalid password/);
    await wrong.close();
  });

  test('a UNIX socket with ?db=', async () => {
    const redis = connect(`unix://:sesame@${server.socketPath!}?db=2`);
    await redis.command('SET', 'over-unix', '1');
    expect(await connect(url(2)).command('GET', 'over-unix')).toEqual(Buffer.from('1'));
  });

  test('error replies are RedisReplyError with their code; the connection goes on', async () => {
    const redis = connect(url());
    await redis.command('SET', 'str', 'x');
    const e = await redis.command('LPUSH', 'str', 'y').then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(RedisReplyError);
    expect((e as RedisReplyError).code).toBe('WRONGTYPE');
    expect(await redis.command('PING')).toBe('PONG');
  });

  test('binary-safe values, 1 MiB each way', async () => {
    const redis = connect(url());
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    await redis.command('SET', 'big', big);
    const got = (await redis.command('GET', 'big')) as Buffer;
    // Buffer.equals: a deep toEqual over a MiB is slow.
    expect(got.equals(big)).toBe(true);
  });

  test('EVALSHA, falling back to EVAL after SCRIPT FLUSH; the SHA-1 is Redis’s', async () => {
    const redis = connect(url());
    const script = new RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    expect((await redis.command('SCRIPT', 'LOAD', script.source)) as Buffer).toEqual(Buffer.from(script.sha1));
    await redis.command('SCRIPT', 'FLUSH');
    expect(await redis.evalScript(script, ['n'], [5])).toBe(5);
    expect(await redis.evalScript(script, ['n'], [5])).toBe(10);
    expect(await redis.command('SCRIPT', 'EXISTS', script.sha1)).toEqual([1]);
  });

  test('commandTimeout: a command answered too late fails, the connection is re-made', async () => {
    const redis = connect(url(), { commandTimeout: 0.2 });
    await redis.whenConnected();
    const e = await redis.command('BLPOP', 'nothing', 2).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(RedisTimeoutError);
    await redis.whenConnected();
    expect(await redis.command('PING')).toBe('PONG');
  });
});

describe.skipIf(missing !== null)('RedisBlockingPool and RedisPubSub on a real redis-server', () => {
  const url = (): string => `redis://:sesame@127.0.0.1:${server.port}`;

  test('BZPOPMIN on a connection of its own, while the main one stays free', async () => {
    const pool = new RedisBlockingPool(reactor, url());
    const redis = connect(url());
    try {
      const popped = pool.bzpopmin(['zq'], 5);
      // The pipelined connection is not blocked meanwhile.
      expect(await redis.command('PING')).toBe('PONG');
      await redis.command('ZADD', 'zq', 1.5, 'member');
      expect(await popped).toEqual({ key: 'zq', member: Buffer.from('member'), score: 1.5 });
      expect(await pool.bzpopmin(['zq'], 0.1)).toBeNull();
    } finally {
      await pool.close();
    }
  });

  test('subscribe, psubscribe, unsubscribe', async () => {
    const sub = connectRedisPubSub(reactor, url());
    const pub = connect(url());
    try {
      const got: string[] = [];
      await sub.subscribe('news', (data, channel) => void got.push(`${channel}=${data.toString()}`));
      await sub.psubscribe('ev.*', (data, channel, pattern) => void got.push(`${pattern}:${channel}=${data.toString()}`));
      expect(await pub.command('PUBLISH', 'news', 'a')).toBe(1);
      await pub.command('PUBLISH', 'ev.click', 'b');
      await until(() => got.length === 2, 'two messages');
      await sub.unsubscribe('news');
      expect(await pub.command('PUBLISH', 'news', 'c')).toBe(0);
      expect(got).toEqual(['news=a', 'ev.*:ev.click=b']);
    } finally {
      await sub.close();
    }
  });

  test('a blocked command fails with RedisConnectionLost when the pool closes', async () => {
    const pool = new RedisBlockingPool(reactor, url());
    const popped = pool.bzpopmin(['never'], 5);
    await new Promise((r) => setTimeout(r, 50));
    await pool.close();
    await expect(popped).rejects.toBeInstanceOf(RedisConnectionLost);
  });
});

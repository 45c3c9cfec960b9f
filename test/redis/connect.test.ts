/**
 * Redis URLs, and the reconnecting RedisConnection on a MemoryReactorClock with a scripted
 * Redis: handshake from the URL, queueing while disconnected, failures, backoff, close.
 */
import { describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import { ConnectionRefusedError } from '../../src/reactor/errors.js';
import { RedisConnectionLost, RedisNotConnected, RedisTimeoutError } from '../../src/redis/client.js';
import { connectRedis, describeRedisAddress, parseRedisUrl, type RedisAddress, type RedisConnectionOptions } from '../../src/redis/connect.js';
import { RedisReplyError } from '../../src/redis/respErrors.js';
import { ConnectionCompleter, type IOPump } from '../../src/testing/iosim.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { FakeRedis, reply } from './fakeRedis.js';

describe('parseRedisUrl', () => {
  const base = { transport: 'tcp', host: 'localhost', port: 6379, path: '', username: null, password: null, db: 0 };
  const table: [string, Partial<RedisAddress>][] = [
    ['redis://localhost', {}],
    ['redis://localhost:6379/0', {}],
    ['redis://127.0.0.1:6380/2', { host: '127.0.0.1', port: 6380, db: 2 }],
    ['redis://:s3cret@cache.internal:6380/2', { host: 'cache.internal', port: 6380, password: 's3cret', db: 2 }],
    ['redis://user:p%40ss%3Aword@localhost', { username: 'user', password: 'p@ss:word' }],
    ['redis://secret@localhost', { password: 'secret' }],
    ['rediss://cache.example.com:6390', { transport: 'tls', host: 'cache.example.com', port: 6390 }],
    ['redis://[::1]:6380/1', { host: '::1', port: 6380, db: 1 }],
    ['redis://localhost?db=5', { db: 5 }],
    ['redis://localhost/3?db=5', { db: 3 }],
    ['redis://localhost?password=x%20y', { password: 'x y' }],
    ['REDIS://localhost:7000/', { port: 7000 }],
    ['unix:///tmp/redis.sock', { transport: 'unix', host: '', port: 0, path: '/tmp/redis.sock' }],
    ['unix:///run/redis/redis.sock?db=3', { transport: 'unix', host: '', port: 0, path: '/run/redis/redis.sock', db: 3 }],
    ['unix://:pw@/tmp/r.sock', { transport: 'unix', host: '', port: 0, path: '/tmp/r.sock', password: 'pw' }],
  ];
  test.each(table)('%s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual({ ...base, ...expected });
  });

  const bad: [string, RegExp][] = [
    ['http://localhost', /unsupported Redis URL scheme "http"/],
    ['localhost:6379', /not a Redis URL/],
    ['redis://', /needs a host/],
    ['redis://:pw@', /needs a host/],
    ['redis://h:0', /bad port/],
    ['redis://h:99999', /bad port/],
    ['redis://h:6379x', /bad port/],
    ['redis://h/x', /database must be a number/],
    ['redis://h?db=-1', /database must be a number/],
    ['unix://relative.sock', /absolute socket path/],
    ['redis://[::1', /unclosed IPv6/],
    ['redis://u:%zz@h', /badly percent-encoded/],
  ];
  test.each(bad)('%s is a TypeError', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(TypeError);
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  test('the password never appears in errors or descriptions', () => {
    expect(() => parseRedisUrl('redis://user:hunter2@h/x')).toThrow(/user:\*\*\*@/);
    expect(describeRedisAddress(parseRedisUrl('redis://user:hunter2@h:1/4'))).toBe('redis://user:***@h:1/4');
    expect(describeRedisAddress(parseRedisUrl('rediss://[::1]'))).toBe('rediss://[::1]:6379');
    expect(describeRedisAddress(parseRedisUrl('unix://:pw@/tmp/s?db=2'))).toBe('unix://:***@/tmp/s?db=2');
  });
});

/** A connection to a scripted Redis on a MemoryReactorClock. */
function setup(url = 'redis://127.0.0.1:6379', options: RedisConnectionOptions = {}) {
  const reactor = new MemoryReactorClock();
  const fake = new FakeRedis();
  reactor.listenTCP(6379, fake.factory);
  const redis = connectRedis(reactor, url, { reconnect: { jitter: 0 }, ...options });
  const completer = new ConnectionCompleter(reactor);
  return { reactor, fake, redis, completer };
}

describe('RedisConnection: connecting', () => {
  test('connects at once; commands given before it is ready are sent after AUTH and SELECT, in order', () => {
    const { reactor, fake, redis, completer } = setup('redis://app:pw@127.0.0.1:6379/2');
    expect(reactor.tcpClients).toMatchObject([{ host: '127.0.0.1', port: 6379, timeout: 10 }]);
    expect(redis.state).toBe('connecting');
    const a = redis.command('SET', 'a', '1');
    const b = redis.command('GET', 'a');
    expect(redis.queued).toBe(2);
    const pump = completer.succeedOnce();
    pump.flush();
    expect(fake.lines()).toEqual(['AUTH app pw', 'SELECT 2', 'SET a 1', 'GET a']);
    expect(successResultOf(a)).toBe('OK');
    failureResultOf(b, RedisReplyError); // the fake does not know GET
    expect(redis.state).toBe('connected');
    expect(redis.queued).toBe(0);
  });

  test('once connected, commands are written at once (pipelined), and whenConnected fires at once', () => {
    const { fake, redis, completer } = setup();
    const pump = completer.succeedOnce();
    successResultOf(redis.whenConnected());
    const ds = [redis.command('PING'), redis.command('PING'), ...redis.pipeline([['ZCOUNT', 'k', '-inf', '+inf'], ['ZADD', 'k', 1, 'm']])];
    pump.flush();
    expect(ds.map((d) => successResultOf(d))).toEqual(['PONG', 'PONG', 0, 1]);
    expect(fake.lines()).toEqual(['PING', 'PING', 'ZCOUNT k -inf +inf', 'ZADD k 1 m']);
  });

  test.each([
    ['unix:///tmp/redis.sock?db=1', 'unixClients', { path: '/tmp/redis.sock' }],
    ['rediss://cache.example.com:6390', 'sslClients', { host: 'cache.example.com', port: 6390, tls: { servername: 'cache.example.com' } }],
    ['rediss://10.0.0.5:6390', 'sslClients', { host: '10.0.0.5', tls: {} }],
  ] as const)('%s connects with %s', (url, record, expected) => {
    const reactor = new MemoryReactorClock();
    const redis = connectRedis(reactor, url);
    expect(reactor[record]).toMatchObject([expected]);
    successResultOf(redis.close());
  });

  test('TLS options are passed on, with the host as servername', () => {
    const reactor = new MemoryReactorClock();
    const redis = connectRedis(reactor, 'rediss://cache.example.com', { tls: { ca: 'PEM', rejectUnauthorized: true } });
    expect(reactor.sslClients[0]!.tls).toEqual({ servername: 'cache.example.com', ca: 'PEM', rejectUnauthorized: true });
    successResultOf(redis.close());
  });

  test('options override the URL’s credentials and database', () => {
    const { fake, redis, completer } = setup('redis://u:old@127.0.0.1:6379/1', { password: 'new', db: 0, username: null });
    const d = redis.command('PING');
    completer.succeedOnce().flush();
    expect(fake.lines()).toEqual(['AUTH new', 'PING']);
    successResultOf(d);
  });
});

describe('RedisConnection: Redis unreachable', () => {
  test('a failed attempt fails the queued commands with a clear error, and retries with backoff', () => {
    const { reactor, redis, completer } = setup();
    const a = redis.command('PING');
    completer.failOnce(new ConnectionRefusedError('connection refused'));
    const f = failureResultOf(a, RedisNotConnected);
    expect(f.value.reason).toBe('unreachable');
    expect(f.value.message).toBe('Redis at redis://127.0.0.1:6379 is unreachable (connection refused); retrying in 0.2 s');
    expect(f.value.cause).toBeInstanceOf(ConnectionRefusedError);
    expect(redis.state).toBe('waiting');
    expect(redis.lastError).toBeInstanceOf(ConnectionRefusedError);

    // Commands given while waiting go with the next attempt.
    const b = redis.command('PING');
    reactor.advance(0.2);
    expect(redis.state).toBe('connecting');
    completer.failOnce();
    expect(failureResultOf(b, RedisNotConnected).value.message).toMatch(/retrying in 0\.4 s$/);
    reactor.advance(0.4);
    const c = redis.command('PING');
    const pump = completer.succeedOnce();
    pump.flush();
    expect(successResultOf(c)).toBe('PONG');
    expect(redis.state).toBe('connected');
  });

  test('whenConnected waits through failed attempts', () => {
    const { reactor, redis, completer } = setup();
    const ready = redis.whenConnected();
    completer.failOnce();
    reactor.advance(0.2);
    completer.failOnce();
    assertNoResult(ready);
    reactor.advance(0.4);
    completer.succeedOnce();
    successResultOf(ready);
  });

  test('AUTH refused: the queued commands fail with the reply as cause, and it retries', () => {
    const { reactor, fake, redis, completer } = setup('redis://:wrong@127.0.0.1:6379');
    fake.on('AUTH', () => reply.error('WRONGPASS invalid username-password pair or user is disabled.'));
    const a = redis.command('PING');
    completer.succeedOnce().flush();
    const f = failureResultOf(a, RedisNotConnected);
    expect(f.value.cause).toBeInstanceOf(RedisReplyError);
    expect(f.value.message).toMatch(/is unreachable \(WRONGPASS invalid username-password pair/);
    expect(redis.state).toBe('waiting');
    expect(reactor.getDelayedCalls()).toHaveLength(1);
  });

  test('maxQueued bounds what waits for a connection', () => {
    const { redis } = setup('redis://127.0.0.1:6379', { maxQueued: 2 });
    const ds = [redis.command('PING'), redis.command('PING'), redis.command('PING')];
    const f = failureResultOf(ds[2]!, RedisNotConnected);
    expect(f.value.reason).toBe('queue-full');
    assertNoResult(ds[0]!);
    successResultOf(redis.close());
    failureResultOf(ds[0]!, RedisNotConnected);
    failureResultOf(ds[1]!, RedisNotConnected);
  });

  test('commandTimeout counts the time queued', () => {
    const { reactor, redis, completer } = setup('redis://127.0.0.1:6379', { commandTimeout: 1 });
    const a = redis.command('PING');
    reactor.advance(0.6);
    const b = redis.command('PING');
    reactor.advance(0.4);
    expect(failureResultOf(a, RedisTimeoutError).value.message).toBe('Redis command PING timed out after 1 seconds');
    expect(redis.queued).toBe(1);
    const pump = completer.succeedOnce();
    pump.flush();
    expect(successResultOf(b)).toBe('PONG');
  });

  test('cancelling a queued command removes it', () => {
    const { fake, redis, completer } = setup();
    const a = redis.command('SET', 'x', '1');
    const b = redis.command('PING');
    a.cancel();
    failureResultOf(a, CancelledError);
    completer.succeedOnce().flush();
    expect(fake.lines()).toEqual(['PING']);
    successResultOf(b);
  });

  test('maxRetries: once it gives up, commands fail at once', () => {
    const { reactor, redis, completer } = setup('redis://127.0.0.1:6379', { reconnect: { jitter: 0, maxRetries: 1 } });
    const waiting = redis.whenConnected();
    completer.failOnce();
    reactor.advance(0.2);
    completer.failOnce();
    expect(redis.state).toBe('stopped');
    failureResultOf(waiting, RedisNotConnected);
    expect(failureResultOf(redis.command('PING'), RedisNotConnected).value.message).toMatch(/gave up retrying/);
  });
});

describe('RedisConnection: connection lost', () => {
  function connected(url?: string) {
    const s = setup(url);
    const pump = s.completer.succeedOnce();
    return { ...s, pump };
  }

  function dropServerSide(fake: FakeRedis, pump: IOPump, conn = 0): void {
    fake.connections[conn]!.transport!.abortConnection();
    pump.flush();
  }

  test('commands in flight fail with RedisConnectionLost; it reconnects, logs in again, and goes on', () => {
    const { reactor, fake, redis, completer, pump } = connected('redis://:pw@127.0.0.1:6379/3');
    fake.on('BLPOP', () => null);
    const inFlight = redis.command('BLPOP', 'q', 0);
    pump.flush();
    dropServerSide(fake, pump);
    const f = failureResultOf(inFlight, RedisConnectionLost);
    expect(f.value.command).toBe('BLPOP');
    expect(redis.state).toBe('waiting');
    // Given while away: sent on the next connection, after AUTH and SELECT again.
    const later = redis.command('PING');
    reactor.advance(0.2);
    const pump2 = completer.succeedOnce();
    pump2.flush();
    expect(successResultOf(later)).toBe('PONG');
    expect(fake.lines(1)).toEqual(['AUTH pw', 'SELECT 3', 'PING']);
  });

  test('the backoff starts again after a successful connection', () => {
    const { reactor, fake, redis, completer, pump } = connected();
    dropServerSide(fake, pump);
    expect(reactor.getDelayedCalls()[0]!.getTime()).toBeCloseTo(0.2);
    reactor.advance(0.2);
    completer.failOnce();
    expect(reactor.getDelayedCalls()[0]!.getTime()).toBeCloseTo(0.2 + 0.4);
    reactor.advance(0.4);
    const pump2 = completer.succeedOnce();
    dropServerSide(fake, pump2, 1);
    expect(reactor.getDelayedCalls()[0]!.getTime() - reactor.seconds()).toBeCloseTo(0.2);
    successResultOf(redis.close());
  });
});

describe('RedisConnection: close and quit', () => {
  test('close(): queued commands fail, in-flight ones fail with RedisConnectionLost, no reconnection', () => {
    const { reactor, fake, redis, completer } = setup();
    const pump = completer.succeedOnce();
    fake.on('BLPOP', () => null);
    const inFlight = redis.command('BLPOP', 'q', 0);
    pump.flush();
    const closed = redis.close();
    pump.flush();
    successResultOf(closed);
    failureResultOf(inFlight, RedisConnectionLost);
    expect(redis.state).toBe('closed');
    expect(reactor.getDelayedCalls()).toHaveLength(0);
    expect(failureResultOf(redis.command('PING'), RedisNotConnected).value.reason).toBe('closed');
    failureResultOf(redis.whenConnected(), RedisNotConnected);
    successResultOf(redis.close());
  });

  test('close() while waiting to retry cancels the retry', () => {
    const { reactor, redis, completer } = setup();
    const waiting = redis.whenConnected();
    completer.failOnce();
    expect(reactor.getDelayedCalls()).toHaveLength(1);
    successResultOf(redis.close());
    expect(reactor.getDelayedCalls()).toHaveLength(0);
    failureResultOf(waiting, RedisNotConnected);
  });

  test('close() while connecting stops the attempt', () => {
    const { reactor, redis } = setup();
    const a = redis.command('PING');
    successResultOf(redis.close());
    expect(reactor.connectors[0]!.stoppedConnecting).toBe(true);
    failureResultOf(a, RedisNotConnected);
    expect(reactor.getDelayedCalls()).toHaveLength(0);
  });

  test('quit(): commands in flight are answered, then QUIT, and no reconnection', () => {
    const { reactor, fake, redis, completer } = setup();
    const pump = completer.succeedOnce();
    const a = redis.command('SET', 'k', 'v');
    const done = redis.quit();
    pump.flush();
    expect(successResultOf(a)).toBe('OK');
    successResultOf(done);
    expect(fake.lines()).toEqual(['SET k v', 'QUIT']);
    expect(redis.state).toBe('closed');
    expect(reactor.getDelayedCalls()).toHaveLength(0);
  });
});

/**
 * RedisBlockingPool without I/O: blocking commands on connections of their own, reused, bounded,
 * timed out and cancelled (a MemoryReactorClock and a scripted Redis).
 */
import { describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import { RedisBlockingPool, type RedisBlockingPoolOptions } from '../../src/redis/blocking.js';
import { RedisConnectionLost, RedisNotConnected, RedisTimeoutError } from '../../src/redis/client.js';
import { ConnectionCompleter } from '../../src/testing/iosim.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { FakeRedis, reply } from './fakeRedis.js';

function setup(options: RedisBlockingPoolOptions = {}) {
  const reactor = new MemoryReactorClock();
  const fake = new FakeRedis();
  reactor.listenTCP(6379, fake.factory);
  const pool = new RedisBlockingPool(reactor, 'redis://127.0.0.1:6379', { reconnect: { jitter: 0 }, ...options });
  const completer = new ConnectionCompleter(reactor);
  return { reactor, fake, pool, completer };
}

const popped = (key: string, member: string, score: string): string => reply.array([reply.bulk(key), reply.bulk(member), reply.bulk(score)]);

describe('RedisBlockingPool', () => {
  test('each blocking command gets a connection of its own; an answered one is reused', () => {
    const { reactor, fake, pool, completer } = setup();
    const a = pool.bzpopmin(['q1'], 5);
    const b = pool.bzpopmin(['q2'], 5);
    expect(reactor.tcpClients).toHaveLength(2);
    const pumpA = completer.succeedOnce();
    const pumpB = completer.succeedOnce();
    expect(fake.lines(0)).toEqual(['BZPOPMIN q1 5']);
    expect(fake.lines(1)).toEqual(['BZPOPMIN q2 5']);
    expect(pool.busyCount).toBe(2);
    fake.connections[1]!.release(popped('q2', 'm', '1795258212.0261'));
    pumpB.flush();
    expect(successResultOf(b)).toEqual({ key: 'q2', member: Buffer.from('m'), score: 1795258212.0261 });
    assertNoResult(a);
    // The next command takes the idle connection: no new connector.
    const c = pool.bzpopmin(['q3'], 5);
    pumpB.flush();
    expect(reactor.tcpClients).toHaveLength(2);
    expect(fake.lines(1)).toEqual(['BZPOPMIN q2 5', 'BZPOPMIN q3 5']);
    fake.connections[1]!.release(reply.nilArray);
    pumpB.flush();
    expect(successResultOf(c)).toBeNull();
    fake.connections[0]!.release(reply.nilArray);
    pumpA.flush();
    expect(successResultOf(a)).toBeNull();
    expect([pool.size, pool.busyCount]).toEqual([2, 0]);
  });

  test('at maxConnections, commands wait for a connection, in order', () => {
    const { reactor, fake, pool, completer } = setup({ maxConnections: 1 });
    const a = pool.execute(['BLPOP', 'q', 1], 1);
    const b = pool.execute(['BLPOP', 'r', 1], 1);
    expect(reactor.tcpClients).toHaveLength(1);
    expect(pool.waitingCount).toBe(1);
    const pump = completer.succeedOnce();
    fake.connections[0]!.release(reply.nilArray);
    pump.flush();
    successResultOf(a);
    expect(fake.lines()).toEqual(['BLPOP q 1', 'BLPOP r 1']);
    fake.connections[0]!.release(reply.nilArray);
    pump.flush();
    successResultOf(b);
  });

  test('the reply timeout is the block time plus replyMargin; then the connection is aborted', () => {
    const { reactor, pool, completer } = setup({ replyMargin: 2 });
    const a = pool.bzpopmin(['q'], 5);
    completer.succeedOnce();
    reactor.advance(6.9);
    assertNoResult(a);
    reactor.advance(0.1);
    expect(failureResultOf(a, RedisTimeoutError).value.timeout).toBe(7);
  });

  test('block time 0 (forever) has no timeout', () => {
    const { reactor, pool, completer } = setup();
    const a = pool.execute(['BLPOP', 'q', 0], 0);
    const pump = completer.succeedOnce();
    reactor.advance(3600);
    assertNoResult(a);
    const closed = pool.close();
    pump.flush();
    successResultOf(closed);
    failureResultOf(a, RedisConnectionLost);
  });

  test('cancelling a blocked command closes its connection; a waiting command gets a fresh one', () => {
    const { reactor, fake, pool, completer } = setup({ maxConnections: 1 });
    const a = pool.bzpopmin(['q'], 5);
    const b = pool.bzpopmin(['r'], 5);
    const pump = completer.succeedOnce();
    a.cancel();
    failureResultOf(a, CancelledError);
    pump.flush();
    expect(fake.connections[0]!.lost).not.toBeNull();
    expect(reactor.tcpClients).toHaveLength(2);
    const pump2 = completer.succeedOnce();
    expect(fake.lines(1)).toEqual(['BZPOPMIN r 5']);
    assertNoResult(b);
    const closed = pool.close();
    pump2.flush();
    successResultOf(closed);
    failureResultOf(b, RedisConnectionLost);
  });

  test('close(): blocked commands fail with RedisConnectionLost, waiting ones with RedisNotConnected', () => {
    const { pool, completer } = setup({ maxConnections: 1 });
    const a = pool.bzpopmin(['q'], 5);
    const b = pool.bzpopmin(['r'], 5);
    const pump = completer.succeedOnce();
    const closed = pool.close();
    pump.flush();
    successResultOf(closed);
    failureResultOf(a, RedisConnectionLost);
    expect(failureResultOf(b, RedisNotConnected).value.reason).toBe('closed');
    expect(failureResultOf(pool.bzpopmin(['s'], 5), RedisNotConnected).value.reason).toBe('closed');
  });

  test('idle connections beyond maxIdle are closed', () => {
    const { fake, pool, completer } = setup({ maxIdle: 0 });
    const a = pool.bzpopmin(['q'], 5);
    const pump = completer.succeedOnce();
    fake.connections[0]!.release(reply.nilArray);
    pump.flush();
    successResultOf(a);
    expect(pool.size).toBe(0);
    expect(fake.connections[0]!.lost).not.toBeNull();
  });

  test.each([[{ maxConnections: 0 }], [{ maxIdle: -1 }], [{ replyMargin: 0 }]])('%j is a RangeError', (options) => {
    expect(() => new RedisBlockingPool(new MemoryReactorClock(), 'redis://h', options)).toThrow(RangeError);
  });
});

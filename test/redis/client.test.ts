/**
 * RedisClient without I/O: a StringTransport for what it writes, replies fed by hand in every
 * split, a Clock for timeouts.
 */
import { describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import { Failure } from '../../src/defer/failure.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import {
  RedisClient,
  RedisConnectionLost,
  RedisNotConnected,
  RedisScript,
  RedisTimeoutError,
  type RedisClientOptions,
} from '../../src/redis/client.js';
import { encodeCommand, type RespValue } from '../../src/redis/resp.js';
import { RedisReplyError, RespProtocolError } from '../../src/redis/respErrors.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { chunkings } from '../protocol/chunks.js';

function connected(options: RedisClientOptions = {}): { client: RedisClient; transport: StringTransport; clock: Clock } {
  const clock = new Clock();
  const client = new RedisClient({ clock, ...options });
  const transport = new StringTransport();
  client.makeConnection(transport);
  return { client, transport, clock };
}

/** What was written, as RESP commands rendered readably. */
function written(t: StringTransport): string {
  return t.value().toString('latin1');
}

function cmd(...args: (string | number)[]): string {
  return encodeCommand(args).toString('latin1');
}

describe('RedisClient: pipelining', () => {
  const replies = '+OK\r\n$5\r\nhello\r\n:42\r\n*2\r\n$1\r\na\r\n$-1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:7\r\n';

  test.each(chunkings(replies).map((c) => [c.name, c.chunks] as const))(
    'many commands in flight, replies matched in order (%s)',
    (_name, chunks) => {
      const { client, transport } = connected();
      const ds = [
        client.command('SET', 'k', 'hello'),
        client.command('GET', 'k'),
        client.command('INCRBY', 'n', 42),
        client.command('MGET', 'a', 'missing'),
        client.command('LPUSH', 'k', 'x'),
        client.command('INCR', 'm'),
      ];
      // Everything is written at once, before any reply.
      expect(written(transport)).toBe(
        cmd('SET', 'k', 'hello') + cmd('GET', 'k') + cmd('INCRBY', 'n', 42) + cmd('MGET', 'a', 'missing') + cmd('LPUSH', 'k', 'x') + cmd('INCR', 'm'),
      );
      expect(client.inFlight).toBe(6);
      for (const d of ds) assertNoResult(d);
      for (const c of chunks) client.dataReceived(c);
      expect(successResultOf(ds[0]!)).toBe('OK');
      expect(successResultOf(ds[1]!)).toEqual(Buffer.from('hello'));
      expect(successResultOf(ds[2]!)).toBe(42);
      expect(successResultOf(ds[3]!)).toEqual([Buffer.from('a'), null]);
      const e = failureResultOf(ds[4]!, RedisReplyError).value;
      expect(e.code).toBe('WRONGTYPE');
      // An error reply changes nothing for the commands after it.
      expect(successResultOf(ds[5]!)).toBe(7);
      expect(client.inFlight).toBe(0);
    },
  );

  test('a reply fires its Deferred synchronously, before the next reply is parsed', () => {
    const { client } = connected();
    const order: string[] = [];
    client.command('GET', 'a').addCallback(() => {
      order.push('a');
      // A callback may send more: it is queued behind the ones in flight.
      client.command('GET', 'c').addCallback(() => void order.push('c'));
    });
    client.command('GET', 'b').addCallback(() => void order.push('b'));
    client.dataReceived(Buffer.from('$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n'));
    expect(order).toEqual(['a', 'b', 'c']);
  });

  test('pipeline() writes its commands in one write and gives a Deferred each', () => {
    const { client, transport } = connected();
    let writes = 0;
    const write = transport.write.bind(transport);
    transport.write = (data) => {
      writes++;
      write(data);
    };
    const [a, b] = client.pipeline([
      ['ZCOUNT', 'k', '-inf', '+inf'],
      ['ZADD', 'k', 1.5, Buffer.from([0, 255])],
    ]);
    expect(writes).toBe(1);
    client.dataReceived(Buffer.from(':0\r\n:1\r\n'));
    expect([successResultOf(a!), successResultOf(b!)]).toEqual([0, 1]);
  });

  test('bulk replies are binary-safe Buffers', () => {
    const { client } = connected();
    const d = client.command('GET', 'bin');
    client.dataReceived(Buffer.from([0x24, 0x33, 13, 10, 0x00, 0xff, 0x0d, 13, 10]));
    expect(successResultOf(d)).toEqual(Buffer.from([0x00, 0xff, 0x0d]));
  });
});

describe('RedisClient: failures', () => {
  test('a lost connection fails every command in flight with RedisConnectionLost', () => {
    const { client } = connected();
    const a = client.command('SET', 'k', 'v');
    const b = client.command('GET', 'k');
    client.dataReceived(Buffer.from('+OK\r\n'));
    const c = client.command('INCR', 'n');
    client.connectionLost(new Failure(new ConnectionLost('reset by peer')));
    expect(successResultOf(a)).toBe('OK');
    for (const [d, name] of [[b, 'GET'], [c, 'INCR']] as const) {
      const f = failureResultOf(d, RedisConnectionLost);
      expect(f.value.command).toBe(name);
      expect(f.value.inFlight).toBe(2);
      expect(f.value).toBeInstanceOf(ConnectionLost);
      expect(f.value.message).toMatch(new RegExp(`before the reply to ${name} arrived .*2 commands in flight.*reset by peer`));
    }
    // Later commands are never sent.
    const later = failureResultOf(client.command('GET', 'k'), RedisNotConnected);
    expect(later.value.reason).toBe('closed');
  });

  test('a command before the connection is made fails with RedisNotConnected', () => {
    const client = new RedisClient({ clock: new Clock() });
    expect(failureResultOf(client.command('PING'), RedisNotConnected).value.reason).toBe('closed');
  });

  test('after close(), commands fail at once; the ones in flight fail when the connection ends', () => {
    const { client, transport } = connected();
    const inFlight = client.command('GET', 'k');
    client.close();
    expect(transport.disconnecting).toBe(true);
    failureResultOf(client.command('GET', 'k'), RedisNotConnected);
    assertNoResult(inFlight);
    client.connectionLost(new Failure(new ConnectionDone()));
    failureResultOf(inFlight, RedisConnectionLost);
  });

  test('bytes that are not RESP abort the connection; in-flight commands fail with the protocol error as cause', () => {
    const { client, transport } = connected();
    const a = client.command('GET', 'a');
    const b = client.command('GET', 'b');
    client.dataReceived(Buffer.from('$1\r\na\r\n?what\r\n'));
    expect(successResultOf(a)).toEqual(Buffer.from('a'));
    const f = failureResultOf(b, RedisConnectionLost);
    expect(f.value.cause).toBeInstanceOf(RespProtocolError);
    expect(transport.disconnected).toBe(true);
    expect(flushLoggedErrors(RespProtocolError)).toHaveLength(1);
  });

  test('a reply nobody asked for aborts the connection', () => {
    const { client, transport } = connected();
    client.dataReceived(Buffer.from('+OK\r\n'));
    expect(transport.disconnected).toBe(true);
    expect(flushLoggedErrors()).toHaveLength(1);
  });

  test('an argument RESP cannot carry throws, and nothing is written', () => {
    const { client, transport } = connected();
    expect(() => client.command('SET', 'k', NaN)).toThrow(RangeError);
    expect(() => client.command('SET', 'k', {} as unknown as string)).toThrow(TypeError);
    expect(transport.value().length).toBe(0);
    expect(client.inFlight).toBe(0);
  });
});

describe('RedisClient: cancellation and timeouts', () => {
  test('cancelling a command abandons it: its reply is dropped, the next reply goes to the next command', () => {
    const { client } = connected();
    const a = client.command('GET', 'a');
    const b = client.command('GET', 'b');
    a.cancel();
    failureResultOf(a, CancelledError);
    expect(client.inFlight).toBe(2);
    client.dataReceived(Buffer.from('$1\r\na\r\n$1\r\nb\r\n'));
    expect(successResultOf(b)).toEqual(Buffer.from('b'));
    expect(client.inFlight).toBe(0);
  });

  test('commandTimeout: the command fails with RedisTimeoutError and the connection is aborted', () => {
    const { client, transport, clock } = connected({ commandTimeout: 5 });
    const slow = client.command('EVAL', 'while true do end', 0);
    clock.advance(1);
    const other = client.command('GET', 'k');
    clock.advance(3.999);
    assertNoResult(slow);
    clock.advance(0.001);
    const f = failureResultOf(slow, RedisTimeoutError);
    expect(f.value.message).toBe('Redis command EVAL timed out after 5 seconds');
    expect(f.value.command).toBe('EVAL');
    expect(transport.disconnected).toBe(true);
    const o = failureResultOf(other, RedisConnectionLost);
    expect(o.value.cause).toBeInstanceOf(RedisTimeoutError);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test('a reply in time cancels the timer; per-command timeouts override the default', () => {
    const { client, clock } = connected({ commandTimeout: 5 });
    const quick = client.command('PING');
    const blocking = client.execute(['BZPOPMIN', 'q', 30], { timeout: 40 });
    const forever = client.execute(['BLPOP', 'q', 0], { timeout: null });
    client.dataReceived(Buffer.from('+PONG\r\n'));
    expect(successResultOf(quick)).toBe('PONG');
    clock.advance(39);
    assertNoResult(blocking);
    client.dataReceived(Buffer.from('*-1\r\n'));
    expect(successResultOf(blocking)).toBeNull();
    expect(clock.getDelayedCalls()).toHaveLength(0);
    clock.advance(1000);
    assertNoResult(forever);
    client.connectionLost(new Failure(new ConnectionDone()));
    failureResultOf(forever, RedisConnectionLost);
  });

  test.each([[0], [-1], [Number.NaN], [Infinity]])('a timeout of %d is a RangeError', (t) => {
    expect(() => new RedisClient({ commandTimeout: t })).toThrow(RangeError);
  });
});

describe('RedisClient: scripts (EVALSHA, falling back to EVAL on NOSCRIPT)', () => {
  const source = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  const script = new RedisScript(source);

  test('the SHA-1 is the one Redis computes', () => {
    // SCRIPT LOAD of this source on redis 7 answers this digest.
    expect(new RedisScript('return 1').sha1).toBe('e0e1f9fabfc9d4800c877a703b823ac0578ff8db');
    expect(script.sha1).toMatch(/^[0-9a-f]{40}$/);
  });

  test('EVALSHA when Redis knows the script', () => {
    const { client, transport } = connected();
    const d = client.evalScript(script, ['counter'], [5]);
    expect(written(transport)).toBe(cmd('EVALSHA', script.sha1, 1, 'counter', 5));
    client.dataReceived(Buffer.from(':5\r\n'));
    expect(successResultOf(d)).toBe(5);
  });

  test.each(chunkings('-NOSCRIPT No matching script. Please use EVAL.\r\n:5\r\n').filter((_, i, all) => i === 0 || i === all.length - 1 || i % 9 === 0).map((c) => [c.name, c.chunks] as const))(
    'NOSCRIPT: the same call again with EVAL and the source (%s)',
    (_name, chunks) => {
      const { client, transport } = connected();
      const d = client.evalScript(source, ['counter'], [5]);
      transport.clear();
      for (const c of chunks) client.dataReceived(c);
      expect(written(transport)).toBe(cmd('EVAL', source, 1, 'counter', 5));
      expect(successResultOf(d)).toBe(5);
    },
  );

  test('an error of the script itself is not retried', () => {
    const { client, transport } = connected();
    const d = client.evalScript('return redis.error_reply("nope")', [], []);
    transport.clear();
    client.dataReceived(Buffer.from('-nope\r\n'));
    expect(transport.value().length).toBe(0);
    expect(failureResultOf(d, RedisReplyError).value.message).toBe('nope');
  });

  test('scripts with no keys send numkeys 0 and pass every ARGV', () => {
    const { client, transport } = connected();
    void client.evalScript(script, [], ['a', Buffer.from('b')]).addErrback(() => undefined);
    expect(written(transport)).toBe(cmd('EVALSHA', script.sha1, 0, 'a', 'b'));
    client.connectionLost(new Failure(new ConnectionDone()));
  });
});

describe('RedisClient: handshake (AUTH, SELECT)', () => {
  const handshake = [['AUTH', 'user', 'pa ss'], ['SELECT', 3]];

  test.each(chunkings('+OK\r\n+OK\r\n').map((c) => [c.name, c.chunks] as const))('the handshake goes first; ready once both answered (%s)', (_name, chunks) => {
    const { client, transport } = connected({ handshake });
    let ready = 0;
    client.onReady = () => void ready++;
    const whenReady = client.whenReady();
    expect(written(transport)).toBe(cmd('AUTH', 'user', 'pa ss') + cmd('SELECT', 3));
    expect(client.ready).toBe(false);
    for (const c of chunks) client.dataReceived(c);
    successResultOf(whenReady);
    expect(ready).toBe(1);
    expect(client.ready).toBe(true);
    successResultOf(client.whenReady());
  });

  test('no handshake: ready at once', () => {
    const { client } = connected();
    expect(client.ready).toBe(true);
  });

  test('a refused AUTH fails whenReady, reports it, and drops the connection', () => {
    const { client, transport } = connected({ handshake });
    const errors: Error[] = [];
    client.onHandshakeFailed = (e) => void errors.push(e);
    const whenReady = client.whenReady();
    client.dataReceived(Buffer.from('-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n'));
    expect(failureResultOf(whenReady, RedisReplyError).value.code).toBe('WRONGPASS');
    expect(errors.map((e) => (e as RedisReplyError).code)).toEqual(['WRONGPASS']);
    expect(transport.disconnecting).toBe(true);
    expect(client.ready).toBe(false);
  });

  test('a connection lost during the handshake fails whenReady with RedisNotConnected, not a handshake error', () => {
    const { client } = connected({ handshake });
    const errors: Error[] = [];
    client.onHandshakeFailed = (e) => void errors.push(e);
    const lost: Failure[] = [];
    client.onConnectionLost = (r) => void lost.push(r);
    const whenReady = client.whenReady();
    client.connectionLost(new Failure(new ConnectionLost()));
    failureResultOf(whenReady, RedisNotConnected);
    expect(errors).toEqual([]);
    expect(lost).toHaveLength(1);
  });

  test('the handshake is bounded by commandTimeout', () => {
    const { client, clock, transport } = connected({ handshake, commandTimeout: 10 });
    const whenReady = client.whenReady();
    clock.advance(10);
    failureResultOf(whenReady);
    expect(transport.disconnected).toBe(true);
  });
});

describe('RedisClient: values', () => {
  const table: [string, string, RespValue][] = [
    ['simple string', '+PONG\r\n', 'PONG'],
    ['integer', ':-12\r\n', -12],
    ['big integer', ':9223372036854775807\r\n', 9223372036854775807n],
    ['null bulk', '$-1\r\n', null],
    ['empty array', '*0\r\n', []],
    ['nested', '*2\r\n*1\r\n:1\r\n$0\r\n\r\n', [[1], Buffer.alloc(0)]],
  ];
  test.each(table)('%s', (_name, wire, value) => {
    const { client } = connected();
    const d = client.command('X');
    client.dataReceived(Buffer.from(wire));
    expect(successResultOf(d)).toEqual(value);
  });

  test('an error inside an array (EXEC) is a value, not a failure', () => {
    const { client } = connected();
    const d = client.command('EXEC');
    client.dataReceived(Buffer.from('*2\r\n+OK\r\n-ERR bad\r\n'));
    const v = successResultOf(d) as RespValue[];
    expect(v[0]).toBe('OK');
    expect(v[1]).toBeInstanceOf(RedisReplyError);
  });
});

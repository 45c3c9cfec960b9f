/**
 * Pub/sub without I/O: the subscriber protocol on a StringTransport (input in every split), and
 * the reconnecting RedisPubSub on a MemoryReactorClock with a scripted Redis — resubscribing
 * after a reconnection.
 */
import { describe, expect, test } from 'vitest';
import { ConnectionDone } from '../../src/reactor/errors.js';
import { Failure } from '../../src/defer/failure.js';
import { RedisConnectionLost } from '../../src/redis/client.js';
import { RedisSubscriber, connectRedisPubSub, type PubSubMessage } from '../../src/redis/pubsub.js';
import { encodeCommand } from '../../src/redis/resp.js';
import { RedisReplyError } from '../../src/redis/respErrors.js';
import { Clock } from '../../src/testing/clock.js';
import { ConnectionCompleter, type IOPump } from '../../src/testing/iosim.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { chunkings } from '../protocol/chunks.js';
import { FakeRedis, reply } from './fakeRedis.js';

const { array, bulk, int } = reply;

function subscriber(): { client: RedisSubscriber; transport: StringTransport; messages: PubSubMessage[] } {
  const client = new RedisSubscriber({ clock: new Clock() });
  const transport = new StringTransport();
  client.makeConnection(transport);
  const messages: PubSubMessage[] = [];
  client.onMessage = (m) => void messages.push(m);
  return { client, transport, messages };
}

describe('RedisSubscriber (the protocol)', () => {
  const wire =
    array([bulk('subscribe'), bulk('news'), int(1)]) +
    array([bulk('message'), bulk('news'), bulk(Buffer.from([0x82, 0xa4, 0x00, 0xff]))]) +
    array([bulk('subscribe'), bulk('sport'), int(2)]) +
    array([bulk('psubscribe'), bulk('ev.*'), int(3)]) +
    array([bulk('pmessage'), bulk('ev.*'), bulk('ev.click'), bulk('x')]) +
    array([bulk('message'), bulk('sport'), bulk('')]);

  test.each(chunkings(wire).filter((_, i, all) => i === 0 || i === all.length - 1 || i % 7 === 0).map((c) => [c.name, c.chunks] as const))(
    'confirmations fire their subscriptions; messages go to onMessage (%s)',
    (_name, chunks) => {
      const { client, transport, messages } = subscriber();
      const both = client.subscribe('news', 'sport');
      const pattern = client.psubscribe('ev.*');
      expect(transport.value().toString('latin1')).toBe(
        encodeCommand(['SUBSCRIBE', 'news']).toString('latin1') + encodeCommand(['SUBSCRIBE', 'sport']).toString('latin1') + encodeCommand(['PSUBSCRIBE', 'ev.*']).toString('latin1'),
      );
      for (const c of chunks) client.dataReceived(c);
      successResultOf(both);
      successResultOf(pattern);
      expect(messages).toEqual([
        { channel: 'news', data: Buffer.from([0x82, 0xa4, 0x00, 0xff]), pattern: null },
        { channel: 'ev.click', data: Buffer.from('x'), pattern: 'ev.*' },
        { channel: 'sport', data: Buffer.alloc(0), pattern: null },
      ]);
    },
  );

  test('an error reply fails only the subscription it answers', () => {
    const { client } = subscriber();
    const denied = client.subscribe('secret');
    const fine = client.subscribe('public');
    client.dataReceived(Buffer.from(reply.error("NOPERM this user has no permissions to access the 'secret' channel") + array([bulk('subscribe'), bulk('public'), int(1)])));
    expect(failureResultOf(denied, RedisReplyError).value.code).toBe('NOPERM');
    successResultOf(fine);
  });

  test('unsubscribe is confirmed like subscribe', () => {
    const { client } = subscriber();
    const d = client.unsubscribe('news');
    client.dataReceived(Buffer.from(array([bulk('unsubscribe'), bulk('news'), int(0)])));
    successResultOf(d);
  });

  test('a handler that throws is logged; the next messages still arrive', () => {
    const { client, messages } = subscriber();
    client.onMessage = (m) => {
      messages.push(m);
      if (m.data.toString() === 'bad') throw new Error('handler broke');
    };
    client.dataReceived(Buffer.from(array([bulk('message'), bulk('c'), bulk('bad')]) + array([bulk('message'), bulk('c'), bulk('good')])));
    expect(messages.map((m) => m.data.toString())).toEqual(['bad', 'good']);
    expect(flushLoggedErrors()).toHaveLength(1);
  });

  test('subscriptions waiting for confirmation fail when the connection ends', () => {
    const { client } = subscriber();
    const d = client.subscribe('news');
    client.connectionLost(new Failure(new ConnectionDone()));
    failureResultOf(d, RedisConnectionLost);
  });
});

function setup() {
  const reactor = new MemoryReactorClock();
  const fake = new FakeRedis();
  reactor.listenTCP(6379, fake.factory);
  const sub = connectRedisPubSub(reactor, 'redis://:pw@127.0.0.1:6379', { reconnect: { jitter: 0 } });
  const completer = new ConnectionCompleter(reactor);
  return { reactor, fake, sub, completer };
}

function publish(fake: FakeRedis, pump: IOPump, conn: number, channel: string, data: string, pattern?: string): void {
  const c = fake.connections[conn]!;
  c.send(pattern === undefined ? array([bulk('message'), bulk(channel), bulk(data)]) : array([bulk('pmessage'), bulk(pattern), bulk(channel), bulk(data)]));
  pump.flush();
}

describe('RedisPubSub (reconnecting)', () => {
  test('subscribe fires once confirmed, after the connection is ready; handlers get the messages', () => {
    const { fake, sub, completer } = setup();
    const got: string[] = [];
    const d = sub.subscribe('news', (data, channel, pattern) => void got.push(`${channel}:${data.toString()}:${String(pattern)}`));
    const p = sub.psubscribe('ev.*', (data, channel, pattern) => void got.push(`${channel}:${data.toString()}:${String(pattern)}`));
    assertNoResult(d);
    const pump = completer.succeedOnce();
    pump.flush();
    successResultOf(d);
    successResultOf(p);
    expect(fake.lines()).toEqual(['AUTH pw', 'SUBSCRIBE news', 'PSUBSCRIBE ev.*']);
    publish(fake, pump, 0, 'news', 'hello');
    publish(fake, pump, 0, 'ev.click', 'x', 'ev.*');
    publish(fake, pump, 0, 'other', 'ignored');
    expect(got).toEqual(['news:hello:null', 'ev.click:x:ev.*']);
  });

  test('after a reconnection every channel and pattern is subscribed again; onReconnect tells', () => {
    const { reactor, fake, sub, completer } = setup();
    const got: string[] = [];
    let reconnects = 0;
    const lost: Error[] = [];
    sub.onReconnect = () => void reconnects++;
    sub.onDisconnect = (e) => void lost.push(e);
    void sub.subscribe('a', (data) => void got.push(`a:${data.toString()}`));
    void sub.subscribe('b', (data) => void got.push(`b:${data.toString()}`));
    void sub.psubscribe('p.*', (data) => void got.push(`p:${data.toString()}`));
    const pump = completer.succeedOnce();
    pump.flush();
    fake.connections[0]!.transport!.abortConnection();
    pump.flush();
    expect(lost).toHaveLength(1);
    // Subscribed meanwhile: it goes with the others on the next connection.
    const c = sub.subscribe('c', (data) => void got.push(`c:${data.toString()}`));
    assertNoResult(c);
    reactor.advance(0.2);
    const pump2 = completer.succeedOnce();
    pump2.flush();
    successResultOf(c);
    expect(fake.lines(1)).toEqual(['AUTH pw', 'SUBSCRIBE a', 'SUBSCRIBE b', 'SUBSCRIBE c', 'PSUBSCRIBE p.*']);
    expect(reconnects).toBe(1);
    publish(fake, pump2, 1, 'a', '1');
    publish(fake, pump2, 1, 'c', '2');
    publish(fake, pump2, 1, 'p.x', '3', 'p.*');
    expect(got).toEqual(['a:1', 'c:2', 'p:3']);
  });

  test('unsubscribe removes a handler; the channel is unsubscribed (and not resubscribed) when none is left', () => {
    const { reactor, fake, sub, completer } = setup();
    const got: string[] = [];
    const h1 = (data: Buffer): void => void got.push(`1:${data.toString()}`);
    const h2 = (data: Buffer): void => void got.push(`2:${data.toString()}`);
    void sub.subscribe('news', h1);
    void sub.subscribe('news', h2);
    void sub.subscribe('keep', h1);
    const pump = completer.succeedOnce();
    pump.flush();
    successResultOf(sub.unsubscribe('news', h1));
    publish(fake, pump, 0, 'news', 'x');
    expect(got).toEqual(['2:x']);
    const d = sub.unsubscribe('news');
    pump.flush();
    successResultOf(d);
    expect(fake.lines()).toEqual(['AUTH pw', 'SUBSCRIBE news', 'SUBSCRIBE keep', 'UNSUBSCRIBE news']);
    expect(sub.subscribedChannels).toEqual(['keep']);
    fake.connections[0]!.transport!.abortConnection();
    pump.flush();
    reactor.advance(0.2);
    completer.succeedOnce().flush();
    expect(fake.lines(1)).toEqual(['AUTH pw', 'SUBSCRIBE keep']);
  });

  test('close: waiting subscriptions fail, nothing reconnects', () => {
    const { reactor, sub } = setup();
    const d = sub.subscribe('news', () => undefined);
    successResultOf(sub.close());
    failureResultOf(d);
    expect(reactor.getDelayedCalls()).toHaveLength(0);
    expect(() => sub.subscribe('', () => undefined)).toThrow(TypeError);
  });
});

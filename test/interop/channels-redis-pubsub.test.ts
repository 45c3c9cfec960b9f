/**
 * Spindle's RedisPubSubChannelLayer and channels_redis's RedisPubSubChannelLayer (Debian's 4.0,
 * /usr/bin/python3) on one redis-server started here: group sends and direct sends both ways.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisPubSubChannelLayer } from '../../src/channels/layers/redisPubSub.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { RedisServer, redisMissing } from '../integration/redisServer.js';
import { PythonPeer, pythonChannelsMissing, withTimeout } from './pythonPeer.js';

const missing = redisMissing() ?? pythonChannelsMissing();
if (missing !== null) {
  if (process.env.CI === 'true') throw new Error(`CI must run the channels_redis pub/sub interop tests: ${missing}`);
  console.log(`skipping the channels_redis pub/sub interop tests: ${missing}`);
}

let server: RedisServer;
let reactor: NodeReactor;
let python: PythonPeer;
let layer: RedisPubSubChannelLayer;

beforeAll(async () => {
  if (missing !== null) return;
  reactor = new NodeReactor();
  void reactor.run();
  server = await RedisServer.start();
  python = await PythonPeer.start({ backend: 'pubsub', hosts: [server.url()] });
  layer = new RedisPubSubChannelLayer({ hosts: [server.url()], reactor });
});

afterAll(async () => {
  if (missing !== null) return;
  await layer.close();
  await python.stop();
  if (reactor.running) reactor.stop();
  await server.dispose();
});

/** Python subscribes asynchronously: repeat a publish until the receive it waits for has it. */
async function repeatUntil<T>(received: Promise<T>, publish: () => PromiseLike<unknown>, what: string): Promise<T> {
  let done = false;
  const result = received.then((v) => {
    done = true;
    return v;
  });
  for (let i = 0; i < 50 && !done; i++) {
    await publish();
    await Promise.race([result, new Promise((r) => setTimeout(r, 100))]);
  }
  return withTimeout(result, 5000, what);
}

describe.skipIf(missing !== null)('Spindle ⇄ channels_redis pub/sub layer', () => {
  test('Python group_send reaches a Spindle member', async () => {
    const channel = await layer.newChannel();
    await layer.groupAdd('room', channel);
    await python.groupSend('room', { type: 'chat.message', text: 'hi from python', n: { $bigint: String(2n ** 60n) }, b: { $bytes: 'ff00' } });
    expect(await withTimeout(layer.receive(channel).asPromise(), 10_000, 'the group message')).toEqual({
      type: 'chat.message',
      text: 'hi from python',
      n: 2n ** 60n,
      b: Buffer.from([0xff, 0]),
    });
  });

  test('Spindle groupSend reaches a Python member', async () => {
    const channel = await python.newChannel();
    expect(channel).toMatch(/^asgispecific\.[0-9a-f]{32}$/);
    await python.groupAdd('lobby', channel);
    const got = python.receive(channel, 15);
    expect(await repeatUntil(got, () => layer.groupSend('lobby', { type: 'chat.message', text: 'hi from spindle', f: 0.25 }), 'the Python member')).toEqual({
      type: 'chat.message',
      text: 'hi from spindle',
      f: { $float: '0.25' },
    });
  });

  test('direct sends both ways', async () => {
    const mine = await layer.newChannel();
    await python.send(mine, { type: 'direct', from: 'python' });
    expect(await withTimeout(layer.receive(mine).asPromise(), 10_000, 'the direct message')).toEqual({ type: 'direct', from: 'python' });

    const theirs = await python.newChannel();
    const got = python.receive(theirs, 15);
    expect(await repeatUntil(got, () => layer.send(theirs, { type: 'direct', from: 'spindle', list: [1, [2, null]] }), 'the Python channel')).toEqual({
      type: 'direct',
      from: 'spindle',
      list: [1, [2, null]],
    });
  });
});

/**
 * Spindle's RedisChannelLayer and Django Channels' channels_redis (Debian's 4.0, run by
 * /usr/bin/python3) on one redis-server started here: groups, direct sends both ways, a worker
 * channel, every msgpack type, encryption, and two shards (with channels_redis's misrouted
 * direct sends, its issue #221).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisChannelLayer, type RedisChannelLayerOptions } from '../../src/channels/layers/redis.js';
import { ChannelFull } from '../../src/channels/layers/errors.js';
import { consistentHash } from '../../src/channels/layers/sharding.js';
import { JsonWebsocketConsumer } from '../../src/channels/consumers/websocketConsumer.js';
import { WebsocketCommunicator } from '../../src/channels/testing/websocketCommunicator.js';
import type { ASGIEvent, Message } from '../../src/channels/types.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { RedisServer, redisMissing } from '../integration/redisServer.js';
import { PythonPeer, pythonChannelsMissing, tag, untag, withTimeout, type PeerConfig, type Tagged } from './pythonPeer.js';

const missing = redisMissing() ?? pythonChannelsMissing();
if (missing !== null) {
  if (process.env.CI === 'true') throw new Error(`CI must run the channels_redis interop tests: ${missing}`);
  console.log(`skipping the channels_redis interop tests: ${missing}`);
}

/** Every msgpack type, as the Spindle side holds it. */
const VALUES: Message = {
  type: 'interop.values',
  text: 'héllo ✓ 日本語 🎉',
  empty: '',
  bytes: Buffer.from([0, 1, 2, 127, 128, 255]),
  noBytes: Buffer.alloc(0),
  small: 42,
  negative: -17,
  zero: 0,
  int32: 2 ** 31,
  int53: 2 ** 53,
  beyond53: 2n ** 53n + 1n,
  max64: 2n ** 63n - 1n,
  min64: -(2n ** 63n),
  maxU64: 2n ** 64n - 1n,
  half: 0.5,
  pi: Math.PI,
  tiny: 5e-324,
  huge: 1e300,
  negativeFloat: -2.5,
  yes: true,
  no: false,
  nothing: null,
  list: [1, 'two', [3.5, [Buffer.from('x'), null]], { a: 1 }],
  map: { nested: { deeper: { list: [2n ** 60n, 'z'] } } },
};

/** VALUES as Python must see them (ints stay ints, floats stay floats, bytes stay bytes). */
const VALUES_TAGGED: Tagged = {
  type: 'interop.values',
  text: 'héllo ✓ 日本語 🎉',
  empty: '',
  bytes: { $bytes: '0001027f80ff' },
  noBytes: { $bytes: '' },
  small: 42,
  negative: -17,
  zero: 0,
  int32: 2147483648,
  int53: 9007199254740992,
  beyond53: { $bigint: '9007199254740993' },
  max64: { $bigint: '9223372036854775807' },
  min64: { $bigint: '-9223372036854775808' },
  maxU64: { $bigint: '18446744073709551615' },
  half: { $float: '0.5' },
  pi: { $float: '3.141592653589793' },
  tiny: { $float: '5e-324' },
  huge: { $float: '1e+300' },
  negativeFloat: { $float: '-2.5' },
  yes: true,
  no: false,
  nothing: null,
  list: [1, 'two', [{ $float: '3.5' }, [{ $bytes: '78' }, null]], { a: 1 }],
  map: { nested: { deeper: { list: [{ $bigint: '1152921504606846976' }, 'z'] } } },
};

/** What a Python sender sends: a float that happens to be whole stays a float on the wire. */
const FROM_PYTHON: Tagged = { ...(VALUES_TAGGED as Record<string, Tagged>), type: 'from.python', wholeFloat: { $float: '2.0' } };
const FROM_PYTHON_IN_JS = { ...VALUES, type: 'from.python', wholeFloat: 2 };

let server: RedisServer;
let reactor: NodeReactor;
const peers: PythonPeer[] = [];
const layers: RedisChannelLayer[] = [];

async function peer(config: Partial<PeerConfig> = {}): Promise<PythonPeer> {
  const p = await PythonPeer.start({ backend: 'core', hosts: [server.url()], ...config });
  peers.push(p);
  return p;
}

function spindle(options: RedisChannelLayerOptions = {}): RedisChannelLayer {
  const l = new RedisChannelLayer({ hosts: [server.url()], reactor, ...options });
  layers.push(l);
  return l;
}

let n = 0;
const fresh = (what: string): string => `interop-${what}-${process.pid}-${++n}`;

beforeAll(async () => {
  if (missing !== null) return;
  reactor = new NodeReactor();
  void reactor.run();
  server = await RedisServer.start();
});

afterAll(async () => {
  if (missing !== null) return;
  for (const l of layers) await l.close();
  for (const p of peers) await p.stop();
  if (reactor.running) reactor.stop();
  await server.dispose();
});

describe.skipIf(missing !== null)('Spindle ⇄ channels_redis 4.x (core layer), one redis-server', () => {
  let python: PythonPeer;
  let layer: RedisChannelLayer;
  beforeAll(async () => {
    python = await peer();
    layer = spindle();
  });

  test('Python group_send reaches a Spindle consumer (its chat_message handler, to the WebSocket)', async () => {
    const room = fresh('room');
    class Chat extends JsonWebsocketConsumer {
      static override groups = [room];
      async chat_message(event: ASGIEvent): Promise<void> {
        await this.sendJson({ text: event.text, n: event.n, from: event.from });
      }
    }
    const comm = new WebsocketCommunicator(Chat.asApp(), '/ws/chat/', { channelLayer: layer, clock: reactor });
    const [accepted] = await comm.connect();
    expect(accepted).toBe(true);
    await python.groupSend(room, { type: 'chat.message', text: 'hello from Django', n: 3, from: 'python' });
    expect(await comm.receiveJsonFrom(10)).toEqual({ text: 'hello from Django', n: 3, from: 'python' });
    await comm.disconnect();
  });

  test('Spindle groupSend reaches a Python receiver, every type intact', async () => {
    const group = fresh('group');
    const channel = await python.newChannel();
    await python.groupAdd(group, channel);
    const received = python.receive(channel);
    await layer.groupSend(group, VALUES);
    expect(await received).toEqual(VALUES_TAGGED);
  });

  test('one group, members in both processes: each side’s groupSend reaches both', async () => {
    const group = fresh('mixed');
    const pyChannel = await python.newChannel();
    const jsChannel = await layer.newChannel();
    await python.groupAdd(group, pyChannel);
    await layer.groupAdd(group, jsChannel);

    const pyGot = python.receive(pyChannel);
    await layer.groupSend(group, { type: 'from.spindle', k: 1 });
    expect(await pyGot).toEqual({ type: 'from.spindle', k: 1 });
    expect(await withTimeout(layer.receive(jsChannel).asPromise(), 10_000, 'the Spindle member')).toEqual({ type: 'from.spindle', k: 1 });

    const pyGot2 = python.receive(pyChannel);
    await python.groupSend(group, { type: 'from.python', k: 2 });
    expect(await pyGot2).toEqual({ type: 'from.python', k: 2 });
    expect(await withTimeout(layer.receive(jsChannel).asPromise(), 10_000, 'the Spindle member')).toEqual({ type: 'from.python', k: 2 });
  });

  test('Python send() to a Spindle process-local channel: every type arrives as msgpack maps it', async () => {
    const channel = await layer.newChannel();
    expect(channel).toMatch(/^specific\.[0-9a-f]{32}![0-9a-f]{32}$/);
    await python.send(channel, FROM_PYTHON);
    const got = await withTimeout(layer.receive(channel).asPromise(), 10_000, 'the direct message');
    expect(got).toEqual(FROM_PYTHON_IN_JS);
    expect(got.beyond53).toBe(9007199254740993n);
    expect(got.bytes).toBeInstanceOf(Uint8Array);
  });

  test('Spindle send() to a Python new_channel name', async () => {
    const channel = await python.newChannel();
    const received = python.receive(channel);
    await layer.send(channel, VALUES);
    expect(await received).toEqual(VALUES_TAGGED);
  });

  test('a Spindle worker loop consumes a named channel Python sends to, in order', async () => {
    const queue = fresh('thumbnails-generate');
    for (let i = 0; i < 20; i++) await python.send(queue, { type: 'thumbnail.generate', i, id: { $bigint: String(2n ** 62n + BigInt(i)) } });
    const got: unknown[] = [];
    // The worker: receive, handle, repeat (what `spindle worker` does per channel).
    while (got.length < 20) {
      const m = await withTimeout(layer.receive(queue).asPromise(), 10_000, `message ${got.length}`);
      got.push([m.i, m.id]);
    }
    expect(got).toEqual([...Array(20).keys()].map((i) => [i, 2n ** 62n + BigInt(i)]));
  });

  test('a Python worker consumes a named channel Spindle sends to', async () => {
    const queue = fresh('page-counter');
    for (let i = 0; i < 5; i++) await layer.send(queue, { type: 'counter.increment', path: `/p/${i}` });
    for (let i = 0; i < 5; i++) expect(await python.receive(queue)).toEqual({ type: 'counter.increment', path: `/p/${i}` });
  });

  test('capacity is shared: Python sees ChannelFull on a key Spindle filled, and the other way round', async () => {
    const queue = fresh('full');
    for (let i = 0; i < 100; i++) await layer.send(queue, { type: 'fill', i });
    await expect(python.send(queue, { type: 'one.more' })).rejects.toThrow(/ChannelFull/);
    const other = fresh('full');
    for (let i = 0; i < 100; i++) await python.send(other, { type: 'fill', i });
    await expect(layer.send(other, { type: 'one.more' })).rejects.toBeInstanceOf(ChannelFull);
  });

  test('the Python and Spindle value mappings agree with the tags used here', () => {
    expect(tag(VALUES)).toEqual(VALUES_TAGGED);
    expect(untag(FROM_PYTHON)).toEqual(FROM_PYTHON_IN_JS);
  });
});

describe.skipIf(missing !== null)('Spindle ⇄ channels_redis with symmetric_encryption_keys (Fernet)', () => {
  test('messages encrypted by either side decrypt on the other; rotated keys work', async () => {
    const python = await peer({ symmetric_encryption_keys: ['key-2024', 'key-2023'], prefix: 'enc' });
    const layer = spindle({ symmetricEncryptionKeys: ['key-2023'], prefix: 'enc' });
    const rotated = spindle({ symmetricEncryptionKeys: ['key-2025', 'key-2024'], prefix: 'enc' });
    const pyChannel = await python.newChannel();
    const received = python.receive(pyChannel);
    await layer.send(pyChannel, { type: 'secret', text: 'from spindle, old key' });
    expect(await received).toEqual({ type: 'secret', text: 'from spindle, old key' });

    const jsChannel = await rotated.newChannel();
    await python.send(jsChannel, { type: 'secret', text: 'from python, new key', b: { $bytes: '00ff' } });
    expect(await withTimeout(rotated.receive(jsChannel).asPromise(), 10_000, 'the encrypted message')).toEqual({
      type: 'secret',
      text: 'from python, new key',
      b: Buffer.from([0, 255]),
    });
  });
});

describe.skipIf(missing !== null)('Spindle ⇄ channels_redis over two shards', () => {
  let second: RedisServer;
  beforeAll(async () => {
    second = await RedisServer.start();
  });
  afterAll(async () => {
    for (const p of peers.splice(0)) await p.stop();
    await second.dispose();
  });

  test('groups and direct sends cross both ways, including what channels_redis’s send misroutes (#221)', async () => {
    const hosts = [server.url(), second.url()];
    const python = await peer({ hosts, prefix: 'shard' });
    const layer = spindle({ hosts, prefix: 'shard' });

    // Python's send() hashes the full name: over 8 channels both shards get some.
    const local = `specific.${layer.clientPrefix}!`;
    const names: string[] = [];
    for (let i = 0; i < 8; i++) names.push(await layer.newChannel());
    const shardsUsed = new Set(names.map((nm) => consistentHash(nm, 2)));
    expect(shardsUsed.size).toBe(2);
    expect(consistentHash(local, 2)).toBeGreaterThanOrEqual(0);
    for (const [i, nm] of names.entries()) await python.send(nm, { type: 'direct', i });
    for (const [i, nm] of names.entries()) {
      expect(await withTimeout(layer.receive(nm).asPromise(), 10_000, `direct ${i}`)).toEqual({ type: 'direct', i });
    }

    // Spindle's send hashes the non-local name: Python's receive finds every one.
    const pyNames: string[] = [];
    for (let i = 0; i < 6; i++) pyNames.push(await python.newChannel());
    for (const [i, nm] of pyNames.entries()) await layer.send(nm, { type: 'to.python', i });
    for (const [i, nm] of pyNames.entries()) expect(await python.receive(nm)).toEqual({ type: 'to.python', i });

    // Groups: the same shard for the group key on both sides.
    for (let g = 0; g < 4; g++) {
      const group = fresh(`sharded-${g}`);
      await python.groupAdd(group, pyNames[g]!);
      await layer.groupAdd(group, names[g]!);
      const pyGot = python.receive(pyNames[g]!);
      await layer.groupSend(group, { type: 'g', g });
      expect(await pyGot).toEqual({ type: 'g', g });
      expect(await withTimeout(layer.receive(names[g]!).asPromise(), 10_000, 'group message')).toEqual({ type: 'g', g });
      const pyGot2 = python.receive(pyNames[g]!);
      await python.groupSend(group, { type: 'g2', g });
      expect(await pyGot2).toEqual({ type: 'g2', g });
      expect(await withTimeout(layer.receive(names[g]!).asPromise(), 10_000, 'group message')).toEqual({ type: 'g2', g });
    }
  });
});

// bench/redis-layer: `groupSend` through one redis-server — Spindle's RedisChannelLayer against
// Python's channels_redis (Debian's python3-channels-redis under /usr/bin/python3), in the same
// run, on the same private redis-server.
//
// Both sides do the same thing (bench/channels_redis_bench.py is the Python side): a group of
// `--group` (default 20) receiving channels made with newChannel()/new_channel() in one process,
// each with its own receive loop; then `--messages` group sends of a message whose text is 100
// bytes (plus a send timestamp), measured from the first send to the last delivery:
//   - sends/s = messages / elapsed; latency = from the start of a send to each receive (p50/p99);
//   - three modes: "paced" (each send waits for its group's deliveries: the latency figures
//     without queueing), "awaited" (each send awaited before the next, window 1) and "windowed"
//     (at most `--window`, default 64, sends in flight).
// Both layers get capacity 1,000,000 (so no message is dropped as ChannelFull) and expiry 600 s.
// The sides take turns (`--rounds`, default 3, alternating who goes first) and the median
// sends/s is kept. Goal (issue 7): Spindle >= 2x channels_redis.
//
//   npm run build && node bench/redis-layer.js [--messages 2000] [--group 20] [--window 64] [--rounds 3]
//        [--clients 500] [--broadcasts 100] [--only groupsend|broadcast]
//
// (b) broadcast across processes: two `spindle serve bench/redis-layer.js:Member --layer
//     redis://…` processes (each connection an AsyncWebsocketConsumer in group "bench" that sends
//     each `bench.message` text on), `--clients` (default 500) WebSocket clients on each (ws, from
//     bench/node_modules, in this process), and `--broadcasts` (default 100: no more than the
//     layer's default channel capacity, so none is dropped) group sends of a 100-byte text from
//     this process through the Redis layer, each awaited: deliveries/s = broadcasts × clients ×
//     2 / time from the first send to the last delivery.
//
// Every process it starts (redis-server, python, spindle serve) is killed by its pid in `finally`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { AsyncWebsocketConsumer } from '../dist/channels/index.js';

const here = fileURLToPath(import.meta.url);
const root = dirname(dirname(here));
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const PYTHON = '/usr/bin/python3';
const REDIS_SERVER = '/usr/bin/redis-server';
const MESSAGE_SIZE = 100;

/** The broadcast member, served by `spindle serve bench/redis-layer.js:Member` (part b). */
export class Member extends AsyncWebsocketConsumer {
  static groups = ['bench'];
  async bench_message(event) {
    await this.send({ text: event.text });
  }
}

function option(argv, name, fallback) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A private redis-server on a free loopback port, nothing saved; resolves once it answers. */
async function startRedis(children) {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  children.push(child);
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return `redis://127.0.0.1:${port}`;
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The Spindle side, in this process. */
async function spindleRound(url, { messages, group: groupSize, window }) {
  const { RedisChannelLayer } = await import(dist('channels/layers/redis.js'));
  const layer = new RedisChannelLayer({ hosts: [url], capacity: 1_000_000, expiry: 600 });
  const group = 'bench';
  try {
    const channels = [];
    for (let i = 0; i < groupSize; i++) channels.push(await layer.newChannel());
    for (const c of channels) await layer.groupAdd(group, c);
    const text = 'x'.repeat(MESSAGE_SIZE);
    let expected = groupSize;
    const latencies = [];
    let stopping = false;
    let onDone = () => {};
    let onRound = () => {};
    const receivers = channels.map(async (c) => {
      while (!stopping) {
        let message;
        try {
          message = await layer.receive(c);
        } catch {
          return; // closed at the end
        }
        latencies.push(performance.now() - message.t);
        if (latencies.length % groupSize === 0) onRound();
        if (latencies.length >= expected) onDone();
      }
    });
    // Warm-up: one send through first, as the Python side does.
    let warm = new Promise((r) => (onDone = r));
    await layer.groupSend(group, { type: 'bench.warmup', text, t: performance.now() });
    await warm;
    latencies.length = 0;
    expected = messages * groupSize;
    const done = new Promise((r) => (onDone = () => r(performance.now())));

    const start = performance.now();
    if (window === 0) {
      // Paced: each send waits for its group's deliveries, so latency is not queueing.
      for (let i = 0; i < messages; i++) {
        await layer.groupSend(group, { type: 'bench.message', text, t: performance.now() });
        while (latencies.length < (i + 1) * groupSize) await new Promise((r) => (onRound = r));
      }
    } else if (window === 1) {
      for (let i = 0; i < messages; i++) await layer.groupSend(group, { type: 'bench.message', text, t: performance.now() });
    } else {
      let next = 0;
      const lane = async () => {
        while (next < messages) {
          next++;
          await layer.groupSend(group, { type: 'bench.message', text, t: performance.now() });
        }
      };
      await Promise.all(Array.from({ length: window }, lane));
    }
    const end = await Promise.race([done, sleep(60_000).then(() => Promise.reject(new Error(`only ${latencies.length} of ${expected} deliveries in 60 s`)))]);
    stopping = true;
    for (const c of channels) await layer.groupDiscard(group, c);
    const lat = latencies.slice().sort((a, b) => a - b);
    const elapsed = (end - start) / 1000;
    void receivers;
    return { elapsed, sendsPerSecond: messages / elapsed, deliveries: latencies.length, p50: percentile(lat, 50), p99: percentile(lat, 99) };
  } finally {
    await layer.close();
  }
}

/** The channels_redis side, in a Python child. */
function pythonRound(url, { messages, group, window }, children) {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [join(root, 'bench', 'channels_redis_bench.py'), url, String(messages), String(group), String(MESSAGE_SIZE), String(window)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()));
      else reject(new Error(`channels_redis_bench.py exited ${code}: ${err}`));
    });
  });
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (r, group) => `${r.sendsPerSecond.toFixed(0).padStart(7)} sends/s  ${(r.sendsPerSecond * group).toFixed(0).padStart(8)} deliveries/s  p50 ${r.p50.toFixed(2).padStart(8)} ms  p99 ${r.p99.toFixed(2).padStart(8)} ms`;

/** Spawn `spindle serve … :Member` on a free port with the Redis layer; resolves with its port. */
function startServe(url, children) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'serve', 'bench/redis-layer.js:Member', '-e', 'tcp:0:interface=127.0.0.1:backlog=4096', '--layer', url, '-v', '0', '--lifespan', 'off', '--ping-interval', '0'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`spindle serve did not listen in 15 s: ${err}`)), 15_000);
    child.stderr.on('data', (c) => (err += c));
    child.stdout.on('data', (c) => {
      out += c;
      const m = /Listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`spindle serve exited ${code}: ${err}`)));
  });
}

/** Part (b): a broadcast across two serve processes sharing one Redis. */
async function broadcastAcrossProcesses(url, { clients, broadcasts }, children) {
  const require = createRequire(join(root, 'bench', 'package.json'));
  let WebSocket;
  try {
    ({ WebSocket } = require('ws'));
  } catch {
    console.log('\nbroadcast across two processes: skipped (run `cd bench && npm install` for ws)');
    return;
  }
  const ports = [await startServe(url, children), await startServe(url, children)];
  const sockets = [];
  let received = 0;
  let expected = Infinity;
  let onDone = () => {};
  const onMessage = () => {
    received++;
    if (received >= expected) onDone(performance.now());
  };
  const { RedisChannelLayer } = await import(dist('channels/layers/redis.js'));
  const layer = new RedisChannelLayer({ hosts: [url] });
  try {
    for (const port of ports) {
      let opened = 0;
      const lane = async () => {
        while (opened < clients) {
          opened++;
          sockets.push(
            await new Promise((resolve, reject) => {
              const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
              ws.on('message', onMessage);
              ws.once('open', () => resolve(ws));
              ws.once('error', reject);
            }),
          );
        }
      };
      await Promise.all(Array.from({ length: 50 }, lane));
    }
    const text = 'x'.repeat(MESSAGE_SIZE);
    // Every member is in the group once a warm-up broadcast reaches them all.
    expected = sockets.length;
    let warm = new Promise((r) => (onDone = r));
    await layer.groupSend('bench', { type: 'bench.message', text });
    await Promise.race([warm, sleep(15_000).then(() => Promise.reject(new Error(`warm-up: ${received} of ${expected} deliveries`)))]);
    received = 0;
    expected = broadcasts * sockets.length;
    const done = new Promise((r) => (onDone = r));
    const start = performance.now();
    for (let i = 0; i < broadcasts; i++) await layer.groupSend('bench', { type: 'bench.message', text });
    const end = await Promise.race([done, sleep(60_000).then(() => Promise.reject(new Error(`only ${received} of ${expected} deliveries in 60 s`)))]);
    const seconds = (end - start) / 1000;
    console.log(`\nbroadcast across two spindle serve processes on one Redis (${sockets.length} WebSocket clients, ${broadcasts} group sends of ${MESSAGE_SIZE} bytes):`);
    console.log(`  ${expected} deliveries in ${seconds.toFixed(2)} s: ${(expected / seconds).toFixed(0)} deliveries/s`);
  } finally {
    for (const ws of sockets) ws.terminate();
    await layer.close();
  }
}

/** Run the comparison (see the top of the file); prints the figures and the ratios. */
export async function run(argv = process.argv.slice(2)) {
  const settings = { clients: option(argv, 'clients', 500), broadcasts: option(argv, 'broadcasts', 100), only: argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null, messages: option(argv, 'messages', 2000), group: option(argv, 'group', 20), window: option(argv, 'window', 64), rounds: option(argv, 'rounds', 3) };
  for (const [what, path] of [['redis-server', REDIS_SERVER], ['python3', PYTHON]]) {
    if (!existsSync(path)) {
      console.log(`skipped: ${what} is missing (${path})`);
      return;
    }
  }
  const children = [];
  try {
    const url = await startRedis(children);
    console.log(`redis-server at ${url}; group of ${settings.group} channels, ${MESSAGE_SIZE}-byte text, ${settings.messages} group sends, ${settings.rounds} rounds (median sends/s)`);
    for (const window of settings.only === 'broadcast' ? [] : [0, 1, settings.window]) {
      const mode = window === 0 ? 'paced (each send waits for its deliveries: latency without queueing)' : window === 1 ? 'awaited (window 1)' : `windowed (window ${window})`;
      const results = { spindle: [], channels_redis: [] };
      for (let round = 0; round < settings.rounds; round++) {
        const order = round % 2 === 0 ? ['spindle', 'channels_redis'] : ['channels_redis', 'spindle'];
        for (const who of order) {
          const s = { ...settings, window };
          results[who].push(who === 'spindle' ? await spindleRound(url, s) : await pythonRound(url, s, children));
        }
      }
      const pick = (rs) => {
        const m = median(rs.map((r) => r.sendsPerSecond));
        return rs.find((r) => r.sendsPerSecond === m);
      };
      const s = pick(results.spindle);
      const p = pick(results.channels_redis);
      console.log(`\n${mode}:`);
      console.log(`  spindle         ${fmt(s, settings.group)}`);
      console.log(`  channels_redis  ${fmt(p, settings.group)}`);
      console.log(`  ratio: ${(s.sendsPerSecond / p.sendsPerSecond).toFixed(2)}x channels_redis sends/s (goal >= 2x); p50 latency ${(p.p50 / s.p50).toFixed(2)}x lower`);
    }
    if (settings.only !== 'groupsend') await broadcastAcrossProcesses(url, settings, children);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

if (process.argv[1] === here) {
  run().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

// bench/channels: Spindle's Channels layer against its peers, in the same run.
//
// (a) group broadcast — a 100-byte text message sent `--messages` times (default 200) to a room of
//     1,000 WebSocket clients on loopback, one send per turn of the server's event loop:
//       - Spindle: `serve()` with an `InMemoryChannelLayer`; each connection is an
//         `AsyncWebsocketConsumer` in group "bench" whose `bench_message` handler sends the text
//         on; the broadcast is `layer.groupSend('bench', { type: 'bench.message', text })`;
//       - Socket.IO (bench/package.json): `io.to('bench').emit('m', text)`, every socket joined to
//         the room, websocket transport only on both ends, no compression.
//     The clients (1,000) run in another process and count messages: deliveries/s = messages ×
//     1,000 / time from the first send until the last one arrived (one "burst"). They are the
//     same lean client for both servers (bench/_counting-client.js: raw frames read into one
//     static buffer and counted; only the handshake differs, Socket.IO's being Engine.IO's over
//     a WebSocket), so that one client core keeps up and the servers are what is measured — with
//     ws's client and socket.io-client the client process was the bottleneck (90–100% busy). The
//     server's CPU time per delivery (and its user-mode part; the rest is the kernel's, mostly
//     the socket writes) is shown too.
// (b) HTTP hello world — `spindle serve bench/channels.js:hello` (the CLI running the ASGI app
//     `hello` below, `-v 0` so no access log, `--lifespan off`) against a `node:http` hello
//     world, both answering "Hello, World!" as text/plain, loaded by wrk (Debian's): keep-alive
//     (50 connections, one request at a time each) and pipelined (50 connections, 16 requests per
//     write: bench/pipeline.lua). 1 s warm-up, then `--seconds` (default 5) measured.
//
// Every server runs in a child process pinned to CPU 1 (`taskset -c 1`, when available); the
// clients (or wrk) in another, on CPU 0. For (a) both servers and their clients are up at once
// and take turns burst by burst — after one warm-up burst each, `--rounds` (default 9) pairs of
// bursts, the order alternating — and the ratio is the median of the pairs' ratios: the shared
// machine's speed drifts over seconds, and bursts a second apart see the same drift. For (b) the
// servers take turns in a different order each round (`--rounds`, default 3) and the median is
// kept. All on 127.0.0.1; every child is killed by its PID when the run ends, whatever happens.
//
// Goals (issue 6): broadcast >= 1.5x Socket.IO; HTTP >= 1.0x node:http keep-alive and >= 2x
// pipelined.
//
//   npm run build && (cd bench && npm install) && node bench/channels.js [--seconds 5] [--rounds N]
//        [--messages 200] [--clients 1000] [--only broadcast|http]
//   node bench/channels.js --profile spindle-ws|spindle-http [--pipelined] [--keep]
//        # a CPU profile of the Spindle server child under the same load, summarised as self time
//        # (--keep leaves the .cpuprofile in the temporary directory, for Chrome's DevTools)
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openCountingClient } from './_counting-client.js';
import { rpcClient, runWrk, serveRpc, wrkArgs } from './_lib.js';

const here = fileURLToPath(import.meta.url);
const root = dirname(dirname(here));
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const pipelineScript = join(root, 'bench', 'pipeline.lua');

const BODY = 'Hello, World!';
const PIPELINE_DEPTH = 16;
const MESSAGE_SIZE = 100;
const GROUP = 'bench';

// ================================================================== the ASGI hello world (part b)

const helloBody = new TextEncoder().encode(BODY);
const helloStart = {
  type: 'http.response.start',
  status: 200,
  headers: [
    ['content-type', 'text/plain'],
    ['content-length', String(helloBody.length)],
  ],
};

/**
 * "Hello, World!" as an ASGI application, served by `spindle serve bench/channels.js:hello`.
 * It does not read the (empty) GET body, as ASGI hello worlds usually don't.
 */
export async function hello(scope, receive, send) {
  if (scope.type !== 'http') throw new Error(`hello only speaks HTTP, not ${scope.type}`);
  await send(helloStart);
  await send({ type: 'http.response.body', body: helloBody });
}

// ================================================================== line RPC between processes


const children = new Set();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function hasCommand(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (e) {
    // wrk exits 1 after printing its usage: it exists.
    return e.code !== 'ENOENT' && e.status !== undefined && e.status !== null;
  }
}

const PINNED = hasCommand('taskset', ['-c', '0', 'true']);

/** `argv` pinned to `cpu` when taskset exists (taskset execs it: the PID is the program's). */
function pinned(cpu, argv) {
  return PINNED ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0], argv.slice(1)];
}

/**
 * A child process: `node [nodeFlags] <argv>` on `cpu`, spoken to with JSON lines when `rpc`, and
 * ready once it prints `{ ready }` (rpc) or "Listening on http://…:PORT" (the CLI).
 */
function startChild(cpu, argv, { nodeFlags = [], label, rpc = true } = {}) {
  const [cmd, args] = pinned(cpu, [process.execPath, ...nodeFlags, ...argv]);
  const child = spawn(cmd, args, { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const client = rpcClient(child, label, { readyLine: rpc ? null : /Listening on http:\/\/[^\s:]+:(\d+)/ });
  const exited = client.exited;
  void exited.then(() => children.delete(child));
  return {
    pid: child.pid,
    ready: Promise.race([
      client.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`${label} did not start within 20 s`)), 20_000).unref()),
    ]),
    call: client.call,
    /** Ask for a normal exit (so --cpu-prof writes its profile), bounded; then by PID. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (rpc) child.stdin.end();
      else child.kill('SIGTERM'); // the CLI's graceful stop
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds used so far by process `pid` in user mode and in the kernel (Linux), or null. */
function cpuSplitOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) used so far by process `pid` (Linux), or null. */
function cpuOf(pid) {
  const cpu = cpuSplitOf(pid);
  return cpu === null ? null : cpu.user + cpu.system;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const turn = () => new Promise((r) => setImmediate(r));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (x, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mark = (ratio, goal) => `${ratio.toFixed(2)}x (goal >= ${goal}x: ${ratio >= goal ? 'met' : 'MISSED'})`;

// ================================================================== (a) broadcast: the servers

/**
 * Spindle's side of (a), in this process: `serve()` on 127.0.0.1 with the bench's consumer, over an
 * InMemoryChannelLayer of `capacity` per channel (also used by bench/_broadcast-cachesim.js).
 */
export async function spindleBroadcastServer(capacity) {
  const { NodeReactor } = await import(dist('index.js'));
  const { AsyncWebsocketConsumer, InMemoryChannelLayer, serve } = await import(dist('channels/index.js'));
  const reactor = new NodeReactor();
  const running = reactor.run();
  // Room for every message of a run in each channel: a member that falls behind is then slowed
  // down, never skipped (skips are counted and reported anyway).
  const layer = new InMemoryChannelLayer({ reactor, capacity });
  let members = 0;
  class Member extends AsyncWebsocketConsumer {
    static groups = [GROUP];
    async connect() {
      members++;
      await this.accept();
    }
    disconnect() {
      members--;
    }
    async bench_message(event) {
      await this.send({ text: event.text });
    }
  }
  const server = await serve(Member.asApp(), {
    reactor,
    channelLayer: layer,
    endpoints: ['tcp:0:interface=127.0.0.1:backlog=4096'],
    lifespan: 'off',
    websocketPingInterval: null,
  });
  return {
    port: server.addresses[0].port,
    members: () => members,
    broadcastOnce: (text) => layer.groupSend(GROUP, { type: 'bench.message', text }),
    skipped: () => layer.stats.groupSendsSkipped,
    async stop() {
      await server.stop();
      await layer.close();
      reactor.stop();
      await running;
    },
  };
}

async function socketioBroadcastServer() {
  const { Server } = await import('socket.io');
  const httpServer = http.createServer();
  // Pings every 5 minutes: none during a run, as Spindle's are off (its side idles between bursts).
  const io = new Server(httpServer, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    pingInterval: 300_000,
    pingTimeout: 60_000,
  });
  io.on('connection', (socket) => socket.join(GROUP));
  await new Promise((r) => httpServer.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  return {
    port: httpServer.address().port,
    members: () => io.of('/').adapter.rooms.get(GROUP)?.size ?? 0,
    broadcastOnce: (text) => io.to(GROUP).emit('m', text),
    skipped: () => 0,
    stop: () => new Promise((r) => io.close(() => r())),
  };
}

async function broadcastServerChild(kind, capacity) {
  const s = kind === 'spindle' ? await spindleBroadcastServer(capacity) : await socketioBroadcastServer();
  serveRpc({
    members: () => ({ members: s.members(), skipped: s.skipped() }),
    broadcast: async ({ count, size }) => {
      const text = 'b'.repeat(size);
      for (let i = 0; i < count; i++) {
        s.broadcastOnce(text);
        await turn();
      }
      return true;
    },
    stop: async () => {
      await s.stop();
      return true;
    },
  });
  process.stdout.write(`${JSON.stringify({ ready: s.port })}\n`);
}

// ================================================================== (a) broadcast: the clients

async function clientsChild() {
  let sockets = [];
  let received = 0;
  let expected = 0;
  let done = null;
  let started = 0n;
  let finished = null;

  const onMessage = () => {
    received++;
    if (received === expected && done !== null) {
      done(Number(process.hrtime.bigint() - started) / 1e6);
      done = null;
    }
  };

  /** Open `n` clients, up to 100 handshakes at a time. */
  async function open(kind, port, n) {
    const one = () => openCountingClient(kind, port, onMessage);
    let opened = 0;
    const worker = async () => {
      while (opened < n) {
        opened++;
        sockets.push(await one());
      }
    };
    await Promise.all(Array.from({ length: Math.min(100, n) }, worker));
    return sockets.length;
  }

  serveRpc({
    open: async ({ kind, port, n }) => ({ opened: await open(kind, port, n) }),
    expect: ({ total }) => {
      received = 0;
      expected = total;
      started = process.hrtime.bigint();
      finished = new Promise((r) => (done = r));
      return true;
    },
    wait: async ({ timeoutMs }) => {
      const ms = await Promise.race([finished, sleep(timeoutMs).then(() => null)]);
      return { ms, received };
    },
    closeAll: async () => {
      for (const s of sockets) s.close();
      sockets = [];
      return true;
    },
  });
  process.stdout.write(`${JSON.stringify({ ready: 0 })}\n`);
}

// ================================================================== (a) broadcast: the driver

async function waitMembers(server, n, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const { members } = await server.call('members');
    if (members === n) return;
    if (Date.now() > deadline) throw new Error(`the server has ${members} members, expected ${n}`);
    await sleep(50);
  }
}

/** Both children of one side of the broadcast (a server and its clients), connected and joined. */
async function openSide(kind, o, nodeFlags = []) {
  const server = startChild(1, [here, '--broadcast-server', kind, String(o.messages + 100)], { nodeFlags, label: `${kind} server` });
  const clients = startChild(0, [here, '--clients'], { label: `${kind} clients` });
  const side = { kind, server, clients };
  try {
    const port = await server.ready;
    await clients.ready;
    if (port === null) throw new Error(`the ${kind} server did not start`);
    await clients.call('open', { kind, port, n: o.clients });
    await waitMembers(server, o.clients);
    return side;
  } catch (e) {
    await closeSide(side, false);
    throw e;
  }
}

/** Disconnect the clients (and see the server notice, when `clean`), then end both children. */
async function closeSide({ server, clients }, clean = true) {
  try {
    if (clean) {
      await clients.call('closeAll');
      await waitMembers(server, 0);
      await server.call('stop');
    }
  } finally {
    await clients.stop();
    await server.stop();
  }
}

/**
 * One burst: `o.messages` broadcasts to the side's clients, timed from the first send to the last
 * delivery. Deliveries/s, and the server's CPU (user + kernel) and user time over the burst.
 */
async function burst({ kind, server, clients }, o) {
  const total = o.clients * o.messages;
  await clients.call('expect', { total });
  const s0 = cpuSplitOf(server.pid);
  const c0 = cpuOf(clients.pid);
  await server.call('broadcast', { count: o.messages, size: MESSAGE_SIZE });
  const { ms, received } = await clients.call('wait', { timeoutMs: 60_000 }, 70_000);
  const s1 = cpuSplitOf(server.pid);
  const c1 = cpuOf(clients.pid);
  const { skipped } = await server.call('members');
  if (ms === null) throw new Error(`${kind}: ${received} of ${total} deliveries within 60 s (${skipped} skipped by the layer)`);
  const cpu = s0 === null || s1 === null ? null : { user: s1.user - s0.user, system: s1.system - s0.system };
  return {
    deliveries: total,
    ms,
    perSecond: (total * 1000) / ms,
    cpu, // CPU seconds of the server over the burst, or null
    serverBusy: cpu === null ? null : ((cpu.user + cpu.system) * 1000) / ms, // share of one core
    clientsBusy: c0 === null || c1 === null ? null : ((c1 - c0) * 1000) / ms,
    skipped,
  };
}

/** One burst against a freshly started server (what `--profile spindle-ws` measures). */
async function broadcastOnce(kind, o, nodeFlags = []) {
  const side = await openSide(kind, o, nodeFlags);
  try {
    return await burst(side, o);
  } finally {
    await closeSide(side);
  }
}

async function broadcastBench(o) {
  const missing = ['socket.io'].filter((p) => !existsSync(join(root, 'bench', 'node_modules', p)));
  if (missing.length > 0) {
    console.log(`(a) broadcast: ${missing.join(', ')} missing: run (cd bench && npm install); nothing measured`);
    return null;
  }
  const version = JSON.parse(readFileSync(join(root, 'bench', 'node_modules', 'socket.io', 'package.json'), 'utf8')).version;
  const rounds = o.rounds ?? 9;
  console.log(
    `(a) broadcast: ${MESSAGE_SIZE}-byte text × ${o.messages} per burst to ${fmt(o.clients)} WebSocket clients, one send ` +
      `per turn; Socket.IO ${version}; both servers up at once, ${rounds} pair(s) of bursts after a warm-up burst each`,
  );
  // Both sides stay connected for the whole run and take turns, burst by burst (the order
  // alternating), so that whatever the shared machine does over seconds hits both alike; the
  // side not bursting is idle (no pings: Spindle's are off, Socket.IO's interval is longer than a
  // run). Each pair of bursts gives one ratio; the median ratio is the result.
  const sides = {};
  try {
    for (const kind of ['spindle', 'socketio']) sides[kind] = await openSide(kind, o);
    for (const kind of ['spindle', 'socketio']) await burst(sides[kind], o); // warm-up: JIT, buffers
    const runs = { spindle: [], socketio: [] };
    const ratios = [];
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? ['spindle', 'socketio'] : ['socketio', 'spindle']) runs[kind].push(await burst(sides[kind], o));
      ratios.push(runs.spindle[r].perSecond / runs.socketio[r].perSecond);
    }
    const result = {};
    const labels = { spindle: 'spindle groupSend (in-memory layer)', socketio: 'socket.io io.to(room).emit' };
    const pct = (x) => (x === null ? '?' : `${Math.round(x * 100)}%`);
    for (const kind of ['spindle', 'socketio']) {
      const rs = runs[kind];
      const deliveries = rs.reduce((n, x) => n + x.deliveries, 0);
      const ms = rs.reduce((n, x) => n + x.ms, 0);
      const withCpu = rs.every((x) => x.cpu !== null);
      const user = withCpu ? rs.reduce((n, x) => n + x.cpu.user, 0) : null;
      const system = withCpu ? rs.reduce((n, x) => n + x.cpu.system, 0) : null;
      result[kind] = {
        perSecond: (deliveries * 1000) / ms,
        cpuPerDelivery: withCpu ? ((user + system) * 1e6) / deliveries : null,
        userPerDelivery: withCpu ? (user * 1e6) / deliveries : null,
      };
      const skipped = rs.reduce((n, x) => n + x.skipped, 0);
      const busy = (xs) => (xs.some((x) => x === null) ? '?' : pct(median(xs)));
      console.log(
        `  ${labels[kind].padEnd(36)} ${fmt(result[kind].perSecond).padStart(11)} deliveries/s` +
          `${result[kind].cpuPerDelivery === null ? '' : `   server CPU ${fmt(result[kind].cpuPerDelivery, 2)} µs/delivery`}` +
          `${result[kind].userPerDelivery === null ? '' : ` (user ${fmt(result[kind].userPerDelivery, 2)})`}` +
          `   busy: server ${busy(rs.map((x) => x.serverBusy))}, clients ${busy(rs.map((x) => x.clientsBusy))}` +
          `${skipped > 0 ? `   (${skipped} skipped!)` : ''}`,
      );
      console.log(`    bursts: ${rs.map((x) => fmt(x.perSecond)).join(' ')}`);
    }
    result.ratio = median(ratios);
    console.log(`  per pair: ${ratios.map((x) => x.toFixed(2)).join(' ')}   (all bursts together: ${(result.spindle.perSecond / result.socketio.perSecond).toFixed(2)}x)`);
    console.log(`  spindle/socket.io deliveries, median pair: ${mark(result.ratio, 1.5)}`);
    return result;
  } finally {
    for (const side of Object.values(sides)) await closeSide(side);
  }
}

// ================================================================== (b) HTTP: the servers and wrk

function nodeHttpChild() {
  const headers = { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(BODY)) };
  const server = http.createServer((req, res) => {
    res.writeHead(200, headers);
    res.end(BODY);
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log(`Listening on http://127.0.0.1:${server.address().port}`));
  process.on('SIGTERM', () => process.exit(0));
}

const HTTP_SERVERS = [
  { key: 'spindle', label: 'spindle serve (ASGI)', argv: [join(root, 'dist', 'cli', 'main.js'), 'serve', `${here}:hello`, '-e', 'tcp:0:interface=127.0.0.1:backlog=1024', '-v', '0', '--lifespan', 'off'] },
  { key: 'node', label: 'node:http', argv: [here, '--http-node'] },
];

function startHttpServer(s, nodeFlags = []) {
  return startChild(1, s.argv, { nodeFlags, label: s.label, rpc: false });
}

/** One request, to check the server answers what the other answers. */
function check(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200 || body !== BODY || res.headers['content-type'] !== 'text/plain') {
          reject(new Error(`unexpected answer: ${res.statusCode} ${res.headers['content-type']} ${JSON.stringify(body)}`));
        } else resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
  });
}

/** Run wrk on CPU 0; requests/s. Bounded by its duration plus a margin. */
function wrk(port, { seconds, connections, pipelined }) {
  const args = wrkArgs(port, { seconds, connections, pipelineScript: pipelined ? pipelineScript : null, depth: PIPELINE_DEPTH });
  const [cmd, argv] = pinned(0, ['wrk', ...args]);
  return runWrk(cmd, argv, seconds);
}

/** Warm up 1 s, then measure: req/s and the server's CPU µs per request. */
async function measureHttp(server, port, workload, o) {
  await wrk(port, { ...o, ...workload, seconds: 1 });
  const cpu0 = cpuOf(server.pid);
  const r = await wrk(port, { ...o, ...workload });
  const cpu1 = cpuOf(server.pid);
  if (r.non2xx !== 0 || r.errors !== '') console.log(`    (warning: ${r.non2xx} non-2xx responses; socket errors: ${r.errors || 'none'})`);
  return { rate: r.rate, cpuPerRequest: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) * 1e6) / (r.rate * o.seconds) };
}

const WORKLOADS = [
  { key: 'keepalive', label: 'keep-alive', pipelined: false, goal: 1.0 },
  { key: 'pipelined', label: `pipelined x${PIPELINE_DEPTH}`, pipelined: true, goal: 2.0 },
];

async function httpBench(o) {
  if (!hasCommand('wrk', ['-v'])) {
    console.log('(b) HTTP: wrk is not installed (Debian: apt-get install -y wrk); nothing measured');
    return null;
  }
  const rounds = o.rounds ?? 3;
  console.log(
    `(b) HTTP hello world: wrk -t1 -c${o.connections}, ${o.seconds} s per run after a 1 s warm-up, median of ${rounds} round(s)`,
  );
  const runs = Object.fromEntries(HTTP_SERVERS.map((s) => [s.key, { keepalive: [], pipelined: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 === 0 ? HTTP_SERVERS : [...HTTP_SERVERS].reverse()) {
      const server = startHttpServer(s);
      try {
        const port = await server.ready;
        if (port === null) throw new Error(`${s.label} did not start`);
        await check(port);
        for (const w of WORKLOADS) runs[s.key][w.key].push(await measureHttp(server, port, w, o));
      } finally {
        await server.stop();
      }
    }
  }
  const result = {};
  for (const s of HTTP_SERVERS) {
    result[s.key] = {};
    let line = `  ${s.label.padEnd(22)}`;
    for (const w of WORKLOADS) {
      const rs = runs[s.key][w.key];
      const cpus = rs.map((x) => x.cpuPerRequest).filter((x) => x !== null);
      const m = { rate: median(rs.map((x) => x.rate)), cpuPerRequest: cpus.length > 0 ? median(cpus) : null };
      result[s.key][w.key] = m;
      line += `  ${w.label} ${fmt(m.rate).padStart(8)} req/s${m.cpuPerRequest === null ? '' : ` (${fmt(m.cpuPerRequest, 2)} µs/req)`}`;
      line += ` [${rs.map((x) => fmt(x.rate)).join('/')}]`;
    }
    console.log(line);
  }
  result.ratios = {};
  for (const w of WORKLOADS) {
    result.ratios[w.key] = result.spindle[w.key].rate / result.node[w.key].rate;
    console.log(`  spindle serve/node:http ${w.label.padEnd(13)} ${mark(result.ratios[w.key], w.goal)}`);
  }
  return result;
}

// ================================================================== profiling

/** Self time per function of a .cpuprofile, largest first. */
function summariseProfile(file, top = 30) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const f = byId.get(profile.samples[i]).callFrame;
    const dt = profile.timeDeltas[i] ?? 0;
    const key = `${f.functionName || '(anonymous)'}${f.url === '' ? '' : ` ${basename(f.url)}:${f.lineNumber + 1}`}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  console.log(`  self time, ${(total / 1e6).toFixed(2)} s sampled:`);
  for (const [key, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
}

async function profile(which, o) {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-channels-prof-'));
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  try {
    if (which === 'spindle-ws') {
      const r = await broadcastOnce('spindle', o, flags);
      console.log(`profile of the spindle broadcast server: ${fmt(r.perSecond)} deliveries/s`);
    } else if (which === 'spindle-http') {
      const server = startHttpServer(HTTP_SERVERS[0], flags);
      try {
        const port = await server.ready;
        await check(port);
        const w = o.pipelined ? WORKLOADS[1] : WORKLOADS[0];
        const m = await measureHttp(server, port, w, o);
        console.log(`profile of spindle serve, ${w.label}: ${fmt(m.rate)} req/s`);
      } finally {
        await server.stop();
      }
    } else throw new Error(`--profile takes spindle-ws or spindle-http, not ${which}`);
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) console.log('  no profile was written');
    else {
      summariseProfile(join(dir, files[0]));
      if (o.keep) {
        const kept = join(tmpdir(), `spindle-${which}-${Date.now()}.cpuprofile`);
        copyFileSync(join(dir, files[0]), kept);
        console.log(`  profile kept in ${kept}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ================================================================== entry points

function parseArgs(argv) {
  const o = { seconds: 5, rounds: null, messages: 200, clients: 1000, connections: 50, only: null, profile: null, pipelined: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--messages') o.messages = Number(argv[++i]);
    else if (a === '--clients') o.clients = Number(argv[++i]);
    else if (a === '--connections') o.connections = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--profile') o.profile = argv[++i];
    else if (a === '--pipelined') o.pipelined = true;
    else if (a === '--keep') o.keep = true;
  }
  return o;
}

/**
 * Run both parts and print the figures and ratios (the `bench/run.js` entry point; `argv` as on
 * the command line). Returns `{ broadcast, http }` (either null when its peer is missing).
 */
export async function run(argv = []) {
  const o = parseArgs(argv);
  if (!existsSync(join(root, 'dist', 'channels', 'index.js'))) throw new Error('build first: npm run build');
  if (o.profile !== null) return profile(o.profile, o);
  console.log(
    `bench/channels — node ${process.version}; ${PINNED ? 'servers on CPU 1, clients and wrk on CPU 0' : 'taskset missing: NOT pinned'}; ` +
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );
  const broadcast = o.only === null || o.only === 'broadcast' ? await broadcastBench(o) : null;
  const httpResult = o.only === null || o.only === 'http' ? await httpBench(o) : null;
  return { broadcast, http: httpResult };
}

const argv = process.argv.slice(2);
if (argv[0] === '--broadcast-server') await broadcastServerChild(argv[1], Number(argv[2]));
else if (argv[0] === '--clients') await clientsChild();
else if (argv[0] === '--http-node') nodeHttpChild();
else if (process.argv[1] === here) await run(argv);

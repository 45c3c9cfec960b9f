// bench/ws: Spindle's WebSocket server against `ws` (bench/package.json), loaded by the same
// client (permessage-deflate off on both sides) in the same run:
//   - echo, 32-byte text: 50 connections, each sending its next message when the echo of the
//     previous one arrives (messages/s);
//   - echo, 64 KiB binary: the same (MB/s of echoed payload);
//   - broadcast: a 100-byte text message to 500 clients, 1,000 times, one broadcast per turn of
//     the event loop (deliveries/s: 500,000 / time until every client has all 1,000);
//   - memory: 10,000 idle connections (the server's RSS growth after a GC, divided by 10,000).
//
// The client is, by default, the lean one of bench/_counting-client.js (frames read into one
// static buffer and counted; each echo sends one pre-masked frame again): with `ws`'s own client
// (`--client ws`) the client process saturates its core first (≈ 90k echoes/s), the servers then
// idle between messages, and each server's CPU per message includes waking up for nearly every
// one. The lean client keeps the servers busy, so their CPU per message is their own.
//
// Each server runs in a child process pinned to CPU 1 (`taskset -c 1`, when available), the
// client in another pinned to CPU 0. Both servers stay up (the idle one costs nothing) and take
// turns phase by phase, round after round, alternating which goes first. Each server measures
// its own CPU time (`process.cpuUsage()`, user and system) over each measured window, and the
// table shows CPU µs per message (per delivery for broadcast) next to the throughput: that is
// the figure least disturbed by the client and by other work on the machine.
//
// The ratio of a row is the median of the per-round ratios (spindle's figure over ws's in the
// same round: the two measurements of a round are minutes apart at most, so load from elsewhere
// on the machine weighs on both alike), printed with every round's ratio so the spread shows;
// the two figures beside it are each server's median. The echo32 phase runs 5 rounds of 3 s by
// default (one noisy window cannot decide its ratio), the others 1 round of 5 s; `--rounds` and
// `--seconds` set them for every phase.
//
// Goals (issue 5): echo throughput >= 1.0x ws and server CPU per message <= 0.8x ws's;
// broadcast >= 1.5x ws; memory per idle connection <= ws's.
//
//   npm run build && (cd bench && npm install) && node bench/ws.js [--seconds S] [--rounds N] [--idle 10000]
//        [--phase echo32|echo64k|broadcast|memory] [--client lean|ws]
//   node bench/ws.js --profile spindle [--phase echo32|echo64k|broadcast] [--seconds 5]
//                                     # a CPU profile of the Spindle server child, summarised
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { clientFrame, openCountingClient } from './_counting-client.js';
import { rpcClient, serveRpc } from './_lib.js';

const here = fileURLToPath(import.meta.url);
const root = dirname(dirname(here));

const ECHO_CONNECTIONS = 50;
const BROADCAST_CLIENTS = 500;
const BROADCAST_COUNT = 1000;
const BROADCAST_SIZE = 100;
const SERVERS = [{ key: 'spindle' }, { key: 'ws' }];

// ================================================================== line RPC between processes


/** A child process spoken to with JSON lines; `call(cmd, args)` resolves with its answer. */
function rpcChild(command, args, label) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const rpc = rpcClient(child, label);
  return {
    ready: rpc.ready,
    call: rpc.call,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await rpc.exited;
      clearTimeout(timer);
    },
  };
}

function hasTaskset() {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Start `node <this file> ...args` pinned to `cpu`, with a high open-file limit (10,000 sockets). */
function startChild(cpu, args, nodeFlags = [], label = args.join(' ')) {
  const node = [process.execPath, ...nodeFlags, here, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const pin = hasTaskset() ? `taskset -c ${cpu} ` : '';
  return rpcChild('sh', ['-c', `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${pin}${node}`], label);
}

// ================================================================== the servers (child side)

function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

function turn() {
  return new Promise((r) => setImmediate(r));
}

async function serverChild(kind) {
  let count = () => 0;
  let broadcastOnce;
  let stop;
  if (kind === 'spindle') {
    const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
    const { NodeReactor } = await import(dist('reactor/nodeReactor.js'));
    const { WebSocketServerFactory } = await import(dist('websocket/index.js'));
    const reactor = new NodeReactor();
    const running = reactor.run();
    const factory = new WebSocketServerFactory({
      reactor,
      onConnection(ws) {
        ws.onMessage = (data, isBinary) => {
          ws.send(data, { binary: isBinary });
        };
      },
    });
    const port = reactor.listenTCP(0, factory, { interface: '127.0.0.1', backlog: 4096 });
    await port.ready;
    count = () => factory.sockets.size;
    broadcastOnce = (msg) => factory.broadcast(msg, { binary: false });
    stop = async () => {
      reactor.stop();
      await running;
    };
    process.stdout.write(`${JSON.stringify({ ready: port.getHost().port })}\n`);
  } else {
    const { WebSocketServer, WebSocket } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    count = () => wss.clients.size;
    // ws's broadcast, as its README shows it: one send per client.
    broadcastOnce = (msg) => {
      for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(msg, { binary: false });
    };
    stop = () => new Promise((r) => wss.close(r));
    process.stdout.write(`${JSON.stringify({ ready: wss.address().port })}\n`);
  }
  serveRpc({
    cpu: () => ({ ...process.cpuUsage(), ...memory(), conns: count() }),
    gc: async () => {
      for (let i = 0; i < 3; i++) {
        globalThis.gc?.();
        await turn();
      }
      return { ...memory(), conns: count() };
    },
    broadcast: async ({ count: n, size }) => {
      const msg = Buffer.alloc(size, 'b');
      for (let i = 0; i < n; i++) {
        broadcastOnce(msg);
        await turn();
      }
      return { conns: count() };
    },
    stop: async () => {
      await stop();
      return true;
    },
  });
}

// ================================================================== the client (child side)

async function clientChild(kind) {
  const { WebSocket } = await import('ws');
  let sockets = [];
  let echo = null;
  let received = 0;
  let expected = 0;
  let allReceived = null;
  let broadcastDone = null;

  /** The `ws` client: one WebSocket per connection, messages as events. */
  const openWs = (port, n, onMessage) =>
    new Promise((resolve, reject) => {
      let opened = 0;
      let started = 0;
      const batch = 256;
      const one = () => {
        started++;
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        const peer = { send: (payload) => ws.send(payload, { binary: echo.binary }), close: () => ws.terminate() };
        ws.on('message', (data) => onMessage(peer, data.length));
        ws.once('open', () => {
          sockets.push(peer);
          opened++;
          if (opened === n) resolve(opened);
          else if (started < n) one();
        });
        ws.once('error', reject);
      };
      for (let i = 0; i < Math.min(batch, n); i++) one();
    });

  /** The lean client (bench/_counting-client.js): frames counted in a static buffer, echoes pre-masked. */
  const openLean = async (port, n, onMessage) => {
    let opened = 0;
    const worker = async () => {
      while (opened < n) {
        opened++;
        const peer = await openCountingClient('spindle', port, (socket, length) => onMessage(peer, length));
        sockets.push(peer);
      }
    };
    await Promise.all(Array.from({ length: Math.min(256, n) }, worker));
    return sockets.length;
  };
  const open = kind === 'lean' ? openLean : openWs;

  const onMessage = (peer, length) => {
    if (echo !== null) {
      echo.count++;
      echo.bytes += length;
      if (echo.running) peer.send(echo.payload);
      return;
    }
    received++;
    if (received === expected && allReceived !== null) {
      allReceived(process.hrtime.bigint());
      allReceived = null;
    }
  };

  serveRpc({
    open: async ({ port, n }) => ({ opened: await open(port, n, onMessage) }),
    echoStart: ({ size, binary }) => {
      const data = binary ? Buffer.alloc(size, 0xfe) : Buffer.alloc(size, 'e');
      // The lean client sends one pre-masked frame again and again; ws frames (and masks) each send.
      const payload = kind === 'lean' ? clientFrame(data, binary) : data;
      echo = { payload, binary, count: 0, bytes: 0, running: true };
      for (const peer of sockets) peer.send(payload);
      return true;
    },
    count: () => ({ count: echo?.count ?? 0, bytes: echo?.bytes ?? 0, t: Number(process.hrtime.bigint()) / 1e6, ...process.cpuUsage() }),
    echoStop: async () => {
      echo.running = false;
      // Let the messages in flight come back.
      await new Promise((r) => setTimeout(r, 200));
      echo = null;
      return true;
    },
    expect: ({ total }) => {
      received = 0;
      expected = total;
      const started = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      const done = new Promise((r) => (allReceived = r));
      // Answered at once; `wait` gets the time (and our CPU time meanwhile).
      broadcastDone = done.then((t) => ({ ms: Number(t - started) / 1e6, cpu: process.cpuUsage(cpu) }));
      return true;
    },
    wait: async () => ({ ...(await broadcastDone), received }),
    closeAll: async () => {
      for (const peer of sockets) peer.close();
      sockets = [];
      return true;
    },
  });
  process.stdout.write(`${JSON.stringify({ ready: 0 })}\n`);
}

// ================================================================== the orchestrator

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuUs = (a, b) => b.user - a.user + (b.system - a.system);

async function waitConns(server, n, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await server.call('cpu');
    if (s.conns === n) return;
    if (Date.now() > deadline) throw new Error(`the server has ${s.conns} connections, expected ${n}`);
    await sleep(50);
  }
}

async function echoPhase(server, client, port, { size, binary, seconds }) {
  await client.call('open', { port, n: ECHO_CONNECTIONS });
  await waitConns(server, ECHO_CONNECTIONS);
  await client.call('echoStart', { size, binary });
  await sleep(1000); // warm-up
  const [c0, s0] = await Promise.all([client.call('count'), server.call('cpu')]);
  await sleep(seconds * 1000);
  const [c1, s1] = await Promise.all([client.call('count'), server.call('cpu')]);
  await client.call('echoStop');
  await client.call('closeAll');
  await waitConns(server, 0);
  const ms = c1.t - c0.t;
  const messages = c1.count - c0.count;
  return {
    perSecond: (messages * 1000) / ms,
    mbPerSecond: ((c1.bytes - c0.bytes) * 1000) / ms / 1e6,
    cpuPerMessage: cpuUs(s0, s1) / messages,
    userPerMessage: (s1.user - s0.user) / messages,
    systemPerMessage: (s1.system - s0.system) / messages,
    cpuShare: cpuUs(s0, s1) / 1000 / ms,
    clientShare: cpuUs(c0, c1) / 1000 / ms,
  };
}

async function broadcastPhase(server, client, port) {
  await client.call('open', { port, n: BROADCAST_CLIENTS });
  await waitConns(server, BROADCAST_CLIENTS);
  await client.call('expect', { total: BROADCAST_CLIENTS * BROADCAST_COUNT });
  const s0 = await server.call('cpu');
  await server.call('broadcast', { count: BROADCAST_COUNT, size: BROADCAST_SIZE });
  const s1 = await server.call('cpu');
  const { ms, cpu } = await client.call('wait', {}, 300_000);
  await client.call('closeAll');
  await waitConns(server, 0);
  const deliveries = BROADCAST_CLIENTS * BROADCAST_COUNT;
  return {
    perSecond: (deliveries * 1000) / ms,
    cpuPerDelivery: cpuUs(s0, s1) / deliveries,
    cpuShare: cpuUs(s0, s1) / 1000 / ms,
    clientShare: (cpu.user + cpu.system) / 1000 / ms,
  };
}

async function memoryPhase(server, client, port, n) {
  const before = await server.call('gc');
  await client.call('open', { port, n }, 300_000);
  await waitConns(server, n, 120_000);
  await sleep(500);
  const after = await server.call('gc');
  await client.call('closeAll', {}, 300_000);
  await waitConns(server, 0, 120_000);
  return { perConnection: (after.rss - before.rss) / n, heapPerConnection: (after.heapUsed - before.heapUsed) / n };
}

const PHASES = {
  echo32: (server, client, port, o) => echoPhase(server, client, port, { size: 32, binary: false, seconds: secondsFor('echo32', o) }),
  echo64k: (server, client, port, o) => echoPhase(server, client, port, { size: 64 * 1024, binary: true, seconds: secondsFor('echo64k', o) }),
  broadcast: (server, client, port) => broadcastPhase(server, client, port),
  memory: (server, client, port, o) => memoryPhase(server, client, port, o.idle),
};

// Rounds and seconds per measured window when not given: the echo32 ratio, the closest to its
// goal, from more and shorter windows.
const DEFAULT_ROUNDS = { echo32: 5 };
const DEFAULT_SECONDS = { echo32: 3 };

function roundsFor(phase, o) {
  return o.rounds ?? DEFAULT_ROUNDS[phase] ?? 1;
}

function secondsFor(phase, o) {
  return o.seconds ?? DEFAULT_SECONDS[phase] ?? 5;
}

/**
 * Start both servers (idle while the other is measured) and the client once; then, phase by
 * phase, measure the servers in turn, round after round, alternating which goes first. Pairing
 * the measurements this closely keeps load from elsewhere on the machine from favouring one.
 * Returns, per server and phase, the list of results of each round.
 */
async function measureAll(kinds, options) {
  const servers = {};
  for (const kind of kinds) servers[kind] = startChild(1, ['--serve', kind], ['--expose-gc', ...(options.nodeFlags ?? [])], `${kind} server`);
  const client = startChild(0, ['--client', options.client], [], `${options.client} client`);
  const rounds = Object.fromEntries(kinds.map((k) => [k, {}]));
  try {
    const ports = {};
    for (const kind of kinds) {
      ports[kind] = await servers[kind].ready;
      if (ports[kind] === null) throw new Error(`the ${kind} server did not start`);
    }
    await client.ready;
    for (const phase of options.phases) {
      for (const kind of kinds) rounds[kind][phase] = [];
      for (let r = 0; r < roundsFor(phase, options); r++) {
        const order = r % 2 === 0 ? kinds : [...kinds].reverse();
        for (const kind of order) rounds[kind][phase][r] = await PHASES[phase](servers[kind], client, ports[kind], options);
      }
    }
    for (const kind of kinds) await servers[kind].call('stop').catch(() => undefined);
    return rounds;
  } finally {
    await client.stop();
    for (const kind of kinds) await servers[kind].stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/**
 * The table. For each row: each server's median over the rounds, and the ratio — the median of
 * the per-round ratios (paired: each round measured both servers back to back), followed by
 * every round's ratio when there was more than one.
 */
function report(results) {
  const s = results.spindle;
  const w = results.ws;
  const rows = [];
  const row = (what, phase, figure, unit, digits, goal, higherIsBetter, scale = 1) => {
    const sr = s[phase].map((r) => figure(r) * scale);
    const wr = w[phase].map((r) => figure(r) * scale);
    const perRound = sr.map((a, i) => a / wr[i]);
    const ratio = median(perRound);
    const ok = goal === null ? '' : higherIsBetter ? (ratio >= goal ? `✓ (goal ≥ ${goal}x)` : `✗ (goal ≥ ${goal}x)`) : ratio <= goal ? `✓ (goal ≤ ${goal}x)` : `✗ (goal ≤ ${goal}x)`;
    const spread = perRound.length > 1 ? perRound.map((x) => x.toFixed(2)).join(' ') : '';
    rows.push([what, `${fmt(median(sr), digits)} ${unit}`, `${fmt(median(wr), digits)} ${unit}`, `${ratio.toFixed(2)}x`, ok, spread]);
  };
  if (s.echo32) {
    row('echo 32 B text: throughput', 'echo32', (r) => r.perSecond, 'msg/s', 0, 1.0, true);
    row('echo 32 B text: server CPU per message', 'echo32', (r) => r.cpuPerMessage, 'µs', 2, 0.8, false);
    row('  of which user (JS, Node, libuv)', 'echo32', (r) => r.userPerMessage, 'µs', 2, null, false);
    row('  of which system (the kernel)', 'echo32', (r) => r.systemPerMessage, 'µs', 2, null, false);
    row('echo 32 B text: server CPU use', 'echo32', (r) => r.cpuShare, '%', 0, null, true, 100);
    row('echo 32 B text: client CPU use', 'echo32', (r) => r.clientShare, '%', 0, null, true, 100);
  }
  if (s.echo64k) {
    row('echo 64 KiB binary: throughput', 'echo64k', (r) => r.mbPerSecond, 'MB/s', 1, 1.0, true);
    row('echo 64 KiB binary: server CPU per message', 'echo64k', (r) => r.cpuPerMessage, 'µs', 1, 0.8, false);
    row('echo 64 KiB binary: server CPU use', 'echo64k', (r) => r.cpuShare, '%', 0, null, true, 100);
    row('echo 64 KiB binary: client CPU use', 'echo64k', (r) => r.clientShare, '%', 0, null, true, 100);
  }
  if (s.broadcast) {
    row(`broadcast ${BROADCAST_SIZE} B × ${BROADCAST_COUNT} to ${BROADCAST_CLIENTS}: deliveries`, 'broadcast', (r) => r.perSecond, '/s', 0, 1.5, true);
    row('broadcast: server CPU per delivery', 'broadcast', (r) => r.cpuPerDelivery, 'µs', 3, null, false);
    row('broadcast: server CPU use', 'broadcast', (r) => r.cpuShare, '%', 0, null, true, 100);
    row('broadcast: client CPU use', 'broadcast', (r) => r.clientShare, '%', 0, null, true, 100);
  }
  if (s.memory) {
    row('memory per idle connection (RSS)', 'memory', (r) => r.perConnection, 'KiB', 1, 1.0, false, 1 / 1024);
    row('  of which JS heap', 'memory', (r) => r.heapPerConnection, 'KiB', 1, null, false, 1 / 1024);
  }
  const head = ['', 'spindle', 'ws', 'spindle/ws', 'goal', 'per round'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

function parseArgs(argv) {
  // seconds and rounds: null for each phase's default (see roundsFor, secondsFor).
  const o = { seconds: null, rounds: null, idle: 10_000, profile: null, phase: null, client: 'lean' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--idle') o.idle = Number(argv[++i]);
    else if (a === '--profile') o.profile = argv[++i];
    else if (a === '--phase') o.phase = argv[++i];
    else if (a === '--client') o.client = argv[++i];
  }
  if (o.client !== 'lean' && o.client !== 'ws') throw new Error(`--client is lean or ws, not ${o.client}`);
  return o;
}

/** Self time per function from a .cpuprofile, top `n`. */
function summarizeProfile(file, n = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules|node:)/, '$1')}:${f.lineNumber + 1}`;
    const t = dt[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + t);
    total += t;
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  for (const [k, t] of top) console.log(`${((t / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
}

/** Run the benchmark (the `bench/run.js` entry point). */
export async function run(argv = []) {
  const o = parseArgs(argv);
  if (!existsSync(join(root, 'dist', 'websocket', 'index.js'))) throw new Error('build first: npm run build');
  if (!existsSync(join(root, 'bench', 'node_modules', 'ws'))) throw new Error('install the peers first: (cd bench && npm install)');
  const phases = o.phase ? [o.phase] : ['echo32', 'echo64k', 'broadcast', 'memory'];
  if (o.profile !== null) {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-ws-prof-'));
    try {
      await measureAll([o.profile], { ...o, rounds: 1, phases: o.phase ? [o.phase] : ['echo32'], nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
      for (const f of readdirSync(dir)) {
        console.log(`\nself time, ${o.profile} server (${o.phase ?? 'echo32'}):`);
        summarizeProfile(join(dir, f));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const plan = phases
    .map((p) => (p === 'echo32' || p === 'echo64k' ? `${p} ${roundsFor(p, o)} × ${secondsFor(p, o)} s` : `${p} ${roundsFor(p, o)} round(s)`))
    .join(', ');
  console.log(
    `ws ${JSON.parse(readFileSync(join(root, 'bench', 'node_modules', 'ws', 'package.json'), 'utf8')).version}; node ${process.version}; ` +
      `servers on CPU 1, client on CPU 0${hasTaskset() ? '' : ' (taskset missing: not pinned)'}; ${plan}; ${o.idle} idle connections`,
  );
  const rounds = await measureAll(
    SERVERS.map((s) => s.key),
    { ...o, phases },
  );
  report(rounds);
}

// ================================================================== entry

const argv = process.argv.slice(2);
if (argv[0] === '--serve') await serverChild(argv[1]);
else if (argv[0] === '--client') await clientChild(argv[1]);
else if (process.argv[1] === here) await run(argv);

// bench/tcp: a TCP echo server written as a Spindle protocol vs a raw `node:net` echo server,
// driven by the same raw `node:net` client in the same run.
//
// Each server runs in a child process pinned to CPU 1 (`taskset -c 1`, when available; the
// client is pinned to CPU 0) and reports its own `process.cpuUsage()`, so besides throughput
// we print the server's CPU time per round trip and per MB. Workloads, each for a fixed time:
//   - ping-pong: 50 connections, each sending a 64-byte message and waiting for its echo;
//   - bulk: one connection streaming 64 KiB writes while reading the echo back.
// Servers alternate (raw first in even rounds, spindle first in odd ones) and the median of
// each is kept; the machine's load average is printed, since other work on the same cores
// skews wall-clock throughput far more than CPU time per unit.
//
// Goal (issue 3): Spindle >= 0.9x raw throughput, and <= 1.15x raw server CPU per unit.
//
//   npm run build && node bench/tcp.js [--seconds 5] [--rounds 3] [--only ping|bulk]
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { replyQueue } from './_lib.js';

const here = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ the servers (child side)

async function serve(kind) {
  let port;
  if (kind === 'raw') {
    const server = net.createServer((socket) => {
      socket.on('data', (data) => socket.write(data));
      socket.on('error', () => {});
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = server.address().port;
  } else {
    const { NodeReactor } = await import('../dist/reactor/index.js');
    const { Factory, Protocol } = await import('../dist/protocol/index.js');
    class Echo extends Protocol {
      dataReceived(data) {
        this.transport.write(data);
      }
    }
    const factory = Factory.forProtocol(Echo);
    factory.noisy = false;
    const reactor = new NodeReactor();
    reactor.run();
    const listening = reactor.listenTCP(0, factory, { interface: '127.0.0.1' });
    await listening.ready;
    port = listening.getHost().port;
  }
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage() });
  });
  // Gone with the parent, whatever happens to it.
  process.on('disconnect', () => process.exit(0));
  process.send({ port });
}

// ------------------------------------------------------------------ the client (parent side)

function pin(cpu, pid = process.pid) {
  try {
    execFileSync('taskset', ['-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function startServer(kind, pinned) {
  const args = [here, '--serve', kind];
  const child = pinned
    ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = replyQueue(child, kind);
  return {
    ready: next().then((m) => m.port),
    async cpu() {
      child.send('cpu');
      const { cpu } = await next();
      return cpu.user + cpu.system;
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}

function connectAll(port, n) {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.setNoDelay(true);
          s.once('error', reject);
        }),
    ),
  );
}

/** 50 connections ping-ponging 64-byte messages for `ms`: round trips per second. */
async function pingPong(port, ms) {
  const sockets = await connectAll(port, 50);
  const message = Buffer.alloc(64, 0x2a);
  let trips = 0;
  let running = true;
  await new Promise((resolve) => {
    for (const s of sockets) {
      let pending = 0;
      s.on('data', (d) => {
        pending -= d.length;
        if (pending > 0) return;
        trips++;
        if (!running) return;
        pending = message.length;
        s.write(message);
      });
      pending = message.length;
      s.write(message);
    }
    setTimeout(() => {
      running = false;
      resolve();
    }, ms);
  });
  for (const s of sockets) s.destroy();
  return trips;
}

/** One connection writing 64 KiB chunks and reading the echo for `ms`: bytes echoed. */
async function bulk(port, ms) {
  const [s] = await connectAll(port, 1);
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let echoed = 0;
  let running = true;
  s.on('data', (d) => (echoed += d.length));
  const pump = () => {
    while (running && s.write(chunk)) {
      /* until the socket's buffer is full */
    }
  };
  s.on('drain', pump);
  pump();
  await new Promise((resolve) => setTimeout(resolve, ms));
  running = false;
  s.destroy();
  return echoed;
}

async function measure(kind, workload, ms, pinned) {
  const server = startServer(kind, pinned);
  try {
    const port = await server.ready;
    await workload(port, Math.min(1000, ms / 4)); // warm-up (JIT)
    const cpu0 = await server.cpu();
    const t0 = process.hrtime.bigint();
    const units = await workload(port, ms);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await server.cpu()) - cpu0;
    return { units, seconds, cpu };
  } finally {
    server.stop();
  }
}

const fmt = (x, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function run(options = {}) {
  const seconds = options.seconds ?? 5;
  const rounds = options.rounds ?? 3;
  const pinned = pin(0);
  console.log(
    `bench/tcp — ${seconds} s per measurement, median of ${rounds} alternating rounds; ` +
      (pinned ? 'client on CPU 0, server on CPU 1 (taskset)' : 'taskset unavailable: not pinned') +
      `; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  );
  const workloads = [
    { key: 'ping', name: 'ping-pong, 50 connections x 64 B', fn: pingPong, unit: 'round trips/s', per: 'round trip', scale: 1 },
    { key: 'bulk', name: 'bulk echo, 1 connection, 64 KiB writes', fn: bulk, unit: 'MB/s', per: 'MB', scale: 1e6 },
  ].filter((w) => options.only === undefined || w.key === options.only);
  const results = [];
  for (const w of workloads) {
    const runs = { raw: [], spindle: [] };
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? ['raw', 'spindle'] : ['spindle', 'raw']) {
        const m = await measure(kind, w.fn, seconds * 1000, pinned);
        runs[kind].push({ rate: m.units / w.scale / m.seconds, cpuPerUnit: m.cpu / (m.units / w.scale) });
      }
    }
    const summary = {};
    for (const kind of ['raw', 'spindle']) {
      summary[kind] = {
        rate: median(runs[kind].map((x) => x.rate)),
        cpuPerUnit: median(runs[kind].map((x) => x.cpuPerUnit)),
      };
    }
    const throughput = summary.spindle.rate / summary.raw.rate;
    const cpu = summary.spindle.cpuPerUnit / summary.raw.cpuPerUnit;
    const digits = w.scale === 1 ? 0 : 1;
    console.log(`${w.name}`);
    for (const kind of ['raw', 'spindle']) {
      console.log(
        `  ${kind.padEnd(8)} ${fmt(summary[kind].rate, digits).padStart(10)} ${w.unit}   ` +
          `server CPU ${fmt(summary[kind].cpuPerUnit, 2)} µs per ${w.per}` +
          `   (rounds: ${runs[kind].map((x) => fmt(x.rate, digits)).join(', ')})`,
      );
    }
    console.log(
      `  spindle/raw: throughput ${throughput.toFixed(3)}x (goal >= 0.9: ${throughput >= 0.9 ? 'met' : 'MISSED'}), ` +
        `CPU per ${w.per} ${cpu.toFixed(3)}x (goal <= 1.15: ${cpu <= 1.15 ? 'met' : 'MISSED'})`,
    );
    results.push({ name: w.name, raw: summary.raw, spindle: summary.spindle, throughput, cpu });
  }
  return results;
}

const argv = process.argv.slice(2);
if (argv[0] === '--serve') {
  await serve(argv[1]);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const value = (name) => {
    const i = argv.indexOf(name);
    return i === -1 ? undefined : argv[i + 1];
  };
  await run({ seconds: Number(value('--seconds') ?? 5), rounds: Number(value('--rounds') ?? 3), only: value('--only') });
}

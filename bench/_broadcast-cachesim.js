// bench/_broadcast-cachesim: what one broadcast delivery costs Spindle's server in instructions and
// in memory traffic, counted by valgrind's cache simulator rather than timed — this VM's timings
// drift by ±30% between runs, counts do not.
//
// The server (bench/channels.js's Spindle side: `serve()` and its consumer, on an
// InMemoryChannelLayer) runs in one process under valgrind; `--clients` counting clients
// (bench/_counting-client.js) run in a child, untraced, on real loopback sockets. The server sends `--from` and then `--to` messages (one
// `groupSend` per turn); the difference between the two runs, divided by the extra deliveries, is
// the steady cost of one delivery: instructions, L1 data misses, and misses of a 2 MiB last level
// (this machine's per-core L2; the simulation does not see the kernel, whose share of the caches
// only makes misses dearer). With 1,000 connections every object a delivery reads is a miss, so
// the misses follow the number of distinct objects and memory lines touched per message.
//
//   npm run build && node bench/_broadcast-cachesim.js [--clients 1000] [--from 100] [--to 300]
//   node bench/_broadcast-cachesim.js --run MESSAGES CLIENTS [--time]   # one run, no valgrind
//
// A tool, not a comparison with a peer (hence the leading underscore: `npm run bench` skips it).
// Needs valgrind (Debian's package). Everything on 127.0.0.1; the child is killed when a run ends.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spindleBroadcastServer } from './channels.js';
import { openCountingClient } from './_counting-client.js';

const here = fileURLToPath(import.meta.url);

/** The clients: open `n` connections, count deliveries, report when `expect` have arrived. */
async function clients(port, n) {
  let received = 0;
  let expected = -1;
  const check = () => {
    if (received === expected) process.send({ done: received });
  };
  const sockets = [];
  while (sockets.length < n) {
    const batch = Array.from({ length: Math.min(50, n - sockets.length) }, () =>
      openCountingClient('spindle', port, () => {
        received++;
        check();
      }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  process.on('message', (m) => {
    if (m.expect !== undefined) {
      expected = m.expect;
      check();
    }
    if (m.close) {
      for (const s of sockets) s.close();
      setTimeout(() => process.exit(0), 100);
    }
  });
  process.send({ opened: sockets.length });
}

/** One run: `messages` broadcasts to `count` clients, one per turn of the event loop. */
async function server(messages, count, time) {
  const side = await spindleBroadcastServer(messages + 100);
  const child = fork(here, ['--clients-of', String(side.port), String(count)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killer = setTimeout(() => {
    child.kill('SIGKILL');
    console.error('broadcast-cachesim: a run took over 10 minutes; stopped');
    process.exit(2);
  }, 600_000);
  const next = (pred) =>
    new Promise((resolve) => {
      const f = (m) => {
        if (pred(m)) {
          child.off('message', f);
          resolve(m);
        }
      };
      child.on('message', f);
    });
  await next((m) => m.opened !== undefined);
  while (side.members() !== count) await new Promise((r) => setTimeout(r, 10));
  const text = 'b'.repeat(100);
  const done = next((m) => m.done !== undefined);
  child.send({ expect: messages * count });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < messages; k++) {
    side.broadcastOnce(text);
    await new Promise((r) => setImmediate(r));
  }
  await done;
  const n = messages * count;
  if (time) {
    const cpu = process.cpuUsage(cpu0);
    const wall = Number(process.hrtime.bigint() - t0) / 1000;
    console.log(`${n} deliveries: ${(wall / n).toFixed(3)} µs wall, ${(cpu.user / n).toFixed(3)} µs user, ${(cpu.system / n).toFixed(3)} µs system each`);
  }
  child.send({ close: true });
  while (side.members() !== 0) await new Promise((r) => setTimeout(r, 10));
  clearTimeout(killer);
  await side.stop();
  process.exit(0);
}

/** Run `messages` under cachegrind; its totals (instructions, data reads+writes, D1 and LL data misses). */
function simulate(messages, count) {
  const r = spawnSync(
    'valgrind',
    ['--tool=cachegrind', '--cache-sim=yes', '--D1=49152,12,64', '--I1=32768,8,64', '--LL=2097152,16,64', '--cachegrind-out-file=/dev/null',
      process.execPath, '--single-threaded', '--random-seed=7', '--hash-seed=7', here, '--run', String(messages), String(count)],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`valgrind run failed (${r.status}):\n${r.stderr.slice(-2000)}`);
  const total = (label) => {
    const m = new RegExp(`${label}:\\s+([\\d,]+)`).exec(r.stderr);
    if (m === null) throw new Error(`no "${label}" in valgrind's summary`);
    return Number(m[1].replaceAll(',', ''));
  };
  return { ir: total('I\\s+refs'), d: total('D\\s+refs'), d1: total('D1\\s+misses'), ll: total('LLd\\s+misses') };
}

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const argv = process.argv.slice(2);
if (process.argv[1] !== here) {
  // Imported, not run: nothing to do.
} else if (argv[0] === '--clients-of') await clients(Number(argv[1]), Number(argv[2]));
else if (argv[0] === '--run') await server(Number(argv[1]), Number(argv[2]), argv.includes('--time'));
else {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    console.log('bench/_broadcast-cachesim: skipped — valgrind is not installed (Debian: apt-get install valgrind)');
    process.exit(0);
  }
  const count = option('clients', 1000);
  const from = option('from', 100);
  const to = option('to', 300);
  console.log(`bench/_broadcast-cachesim — ${count} clients, ${from} then ${to} messages under valgrind (a few minutes)`);
  const a = simulate(from, count);
  const b = simulate(to, count);
  const per = (k) => (b[k] - a[k]) / ((to - from) * count);
  console.log(`  per delivery: ${per('ir').toFixed(0)} instructions, ${per('d').toFixed(0)} data reads and writes`);
  console.log(`  data misses: L1 (48 KiB) ${per('d1').toFixed(1)}, last level (2 MiB) ${per('ll').toFixed(1)}`);
}

// bench/deferred: Deferred callback chains vs native Promise chains, in one process,
// alternating rounds so both see the same machine state. Prints ops/s and the ratio.
//
// Goals (issue 2): the 10-callback chain >= 3x the Promise chain; a lone Deferred >= 1x
// Promise.resolve.
import { Deferred } from '../dist/index.js';

// Many short alternating rounds rather than a few long ones: a burst of load from another
// process then spoils a few rounds (of both sides alike), not a large share of one side's.
const ROUNDS = 15;
const ROUND_MS = 200;
// Long enough for both sides to reach optimised code (and a steady heap) before rounds count.
const WARMUP_MS = 300;

const inc = (x) => x + 1;

/** Run `fn(n)` in batches until `ms` elapse; returns operations per second. */
async function measure(fn, ms) {
  let ops = 0;
  let batch = 1000;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    await fn(batch);
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
    if (elapsed < limit / 10n) batch *= 2;
  }
  return ops / (Number(elapsed) / 1e9);
}

let sink = 0;
const addToSink = (v) => {
  sink += v;
};

const cases = [
  {
    name: 'chain of 10 callbacks, created and fired',
    deferred: async (n) => {
      for (let i = 0; i < n; i++) {
        const d = new Deferred();
        d.addCallback(inc).addCallback(inc).addCallback(inc).addCallback(inc).addCallback(inc);
        d.addCallback(inc).addCallback(inc).addCallback(inc).addCallback(inc).addCallback(inc);
        d.addCallback(addToSink);
        d.callback(0);
      }
    },
    promise: async (n) => {
      for (let i = 0; i < n; i++) {
        sink += await Promise.resolve(0)
          .then(inc).then(inc).then(inc).then(inc).then(inc)
          .then(inc).then(inc).then(inc).then(inc).then(inc);
      }
    },
    goal: 3,
  },
  {
    name: 'a lone Deferred created and fired vs Promise.resolve',
    deferred: async (n) => {
      for (let i = 0; i < n; i++) {
        const d = new Deferred();
        d.callback(i);
      }
    },
    promise: async (n) => {
      for (let i = 0; i < n; i++) {
        Promise.resolve(i);
      }
    },
    goal: 1,
  },
  {
    name: 'a lone Deferred created, fired and awaited vs Promise.resolve awaited',
    deferred: async (n) => {
      for (let i = 0; i < n; i++) {
        const d = new Deferred();
        d.callback(i);
        sink += await d;
      }
    },
    promise: async (n) => {
      for (let i = 0; i < n; i++) {
        sink += await Promise.resolve(i);
      }
    },
    goal: null,
  },
];

const fmt = (x) => Math.round(x).toLocaleString('en-US');

export async function run() {
  const results = [];
  for (const c of cases) {
    const d = [];
    const p = [];
    // Warm up both.
    await measure(c.deferred, WARMUP_MS);
    await measure(c.promise, WARMUP_MS);
    // Alternating, and which side goes first alternates too, so that neither side always
    // inherits the other's garbage-collection debt.
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        d.push(await measure(c.deferred, ROUND_MS));
        p.push(await measure(c.promise, ROUND_MS));
      } else {
        p.push(await measure(c.promise, ROUND_MS));
        d.push(await measure(c.deferred, ROUND_MS));
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const dm = median(d);
    const pm = median(p);
    // The ratio is the median of each round's ratio to the round next to it, so that
    // both sides of a ratio ran under the same load.
    const ratio = median(d.map((x, i) => x / p[i]));
    results.push({ name: c.name, deferred: dm, promise: pm, ratio, goal: c.goal });
    const verdict = c.goal === null ? '' : ratio >= c.goal ? `  (goal >= ${c.goal}x: met)` : `  (goal >= ${c.goal}x: MISSED)`;
    console.log(`${c.name}\n  Deferred ${fmt(dm)} ops/s   Promise ${fmt(pm)} ops/s   ratio ${ratio.toFixed(2)}x${verdict}`);
  }
  if (sink === -1) console.log(sink);
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`bench/deferred — medians of ${ROUNDS} alternating rounds of ${ROUND_MS} ms`);
  await run();
}

/**
 * The Node reactor's own book-keeping: what it keeps open while running and
 * releases when stopped, resource tracking at shutdown, the lazily created
 * thread pool, the stall monitor option.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { CancelledError } from '../../src/defer/errors.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

async function within<T>(p: PromiseLike<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The process's timers and immediates, and every socket handle. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (/TCP|Pipe|Timeout|Immediate/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

const dir = mkdtempSync(join(tmpdir(), 'spindle-reactor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('NodeReactor resources', () => {
  it('holds one handle while running and releases everything once stopped', async () => {
    // The test runner has timers of its own: compare "at least" and "at most", not equality.
    const before = handles();
    const reactor = new NodeReactor();
    // Unref'd: pending calls alone do not hold the process.
    reactor.callLater(60, () => {});
    const stopped = reactor.run();
    expect(handles().Timeout ?? 0).toBeGreaterThanOrEqual((before.Timeout ?? 0) + 1);
    reactor.callLater(0.01, () => {});
    reactor.stop();
    await within(stopped, 'the shutdown');
    await new Promise((r) => setTimeout(r, 10));
    for (const [kind, n] of Object.entries(handles())) expect(n, `${kind} handles left open`).toBeLessThanOrEqual(before[kind] ?? 0);
  });

  it('closes tracked resources during shutdown, waits for their Deferreds, and logs their errors', async () => {
    const reactor = new NodeReactor();
    const stopped = reactor.run();
    const seen: string[] = [];
    const slow = new Deferred<void>();
    reactor.track({ shutdown: () => void seen.push('plain') });
    reactor.track({
      shutdown: () => {
        seen.push('slow');
        return slow;
      },
    });
    reactor.track({
      shutdown: () => {
        throw new EvalError('cannot close');
      },
    });
    const untrack = reactor.track({ shutdown: () => void seen.push('untracked') });
    untrack();
    // A resource opened while others close (a client reconnecting at once) is closed too.
    reactor.track({
      shutdown: () => {
        reactor.track({ shutdown: () => void seen.push('opened during shutdown') });
      },
    });
    reactor.addSystemEventTrigger('after', 'shutdown', () => seen.push('after'));
    reactor.stop();
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual(['plain', 'slow', 'opened during shutdown', 'after']);
    let done = false;
    stopped.addCallback(() => (done = true));
    expect(done).toBe(false);
    slow.callback(undefined);
    expect(done).toBe(true);
    expect(flushLoggedErrors(EvalError)).toHaveLength(1);
  });

  it('creates its thread pool on first use and stops it at shutdown', async () => {
    const module = join(dir, 'work.mjs');
    writeFileSync(module, 'export function double(x) { return 2 * x; }\n');
    const reactor = new NodeReactor({ maxThreads: 1 });
    const stopped = reactor.run();
    expect(await within(reactor.deferToThread<number>(module, 'double', 21), 'the worker', 10_000)).toBe(42);
    reactor.stop();
    await within(stopped, 'the shutdown', 10_000);
    const late = reactor.deferToThread(module, 'double', 1);
    await expect(late).rejects.toBeInstanceOf(CancelledError);
  });

  it('runs a stall monitor while running when asked to', async () => {
    const reactor = new NodeReactor({ stallThresholdMs: 1000 });
    const stopped = reactor.run();
    reactor.stop();
    await within(stopped, 'the shutdown');
  });
});

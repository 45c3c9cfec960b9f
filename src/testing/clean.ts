/**
 * assertClean: fail a test that leaves a reactor dirty — timers still
 * scheduled, ports still listening, connections still open (Twisted trial's
 * DirtyReactorAggregateError, as an explicit call).
 */
import { inspect } from 'node:util';
import type { IDelayedCall } from '../defer/clock.js';
import { DelayedCall } from '../reactor/delayedCall.js';

/**
 * What `assertClean` can check. Anything with `getDelayedCalls()` (a Clock, a
 * MemoryReactorClock, the Node reactor) works; a reactor that tracks open
 * things adds `openResources()`.
 *
 * Contract of `openResources()`: one human-readable line per thing still open
 * that a well-behaved test must close — listening ports not stopped,
 * connection attempts still pending, connections not closed, UDP ports,
 * child processes not reaped, thread pools still running — and nothing
 * else; an empty array when clean. It must not change anything. Each line
 * names the kind and the address, e.g. `"TCP port listening on
 * 127.0.0.1:8080 (not stopped)"`.
 */
export interface CheckableReactor {
  getDelayedCalls(): IDelayedCall[];
  openResources?(): string[];
}

/** A reactor was left with pending calls or open resources. `leftovers` lists them, one per line. */
export class DirtyReactorError extends Error {
  override name = 'DirtyReactorError';
  constructor(readonly leftovers: readonly string[]) {
    super(`the reactor is unclean: ${leftovers.length} thing(s) left behind:\n  ${leftovers.join('\n  ')}`);
  }
}

/** One line for a pending delayed call: what it calls, with what, and when. */
function describeCall(call: IDelayedCall): string {
  const when = `due at t=${call.getTime()}`;
  if (!(call instanceof DelayedCall)) return `delayed call ${when}`;
  const name = call.fn.name === '' ? '<anonymous function>' : call.fn.name;
  const args = call.args.map((a) => inspect(a, { depth: 1, breakLength: Infinity })).join(', ');
  return `delayed call ${name}(${args}) ${when}`;
}

/** Everything `reactor` still has pending or open, one line each (empty when clean). */
export function leftovers(reactor: CheckableReactor): string[] {
  const lines = reactor.getDelayedCalls().filter((c) => c.active()).map(describeCall);
  if (typeof reactor.openResources === 'function') lines.push(...reactor.openResources());
  return lines;
}

/**
 * Throw unless `reactor` is clean: no delayed call still active and, when
 * it reports them, no open resources. Nothing is cancelled or closed: the
 * error lists what the test should have cleaned up.
 *
 * @throws DirtyReactorError listing every leftover.
 *
 * @example
 * ```ts
 * afterEach(() => assertClean(reactor));
 * ```
 */
export function assertClean(reactor: CheckableReactor): void {
  const left = leftovers(reactor);
  if (left.length > 0) throw new DirtyReactorError(left);
}

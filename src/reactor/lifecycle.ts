/**
 * System event triggers (Twisted's `_ThreePhaseEvent`): functions run in
 * three phases when an event such as 'startup' or 'shutdown' fires.
 *
 * 1. 'before' triggers run in the order added; any that return a Deferred
 *    (or Promise) are waited for, success or failure alike.
 * 2. Then 'during' triggers, then 'after' triggers; what they return is ignored.
 *
 * A trigger that throws (or whose 'before' Deferred fails) is logged and the
 * others still run. Triggers are consumed when they run: firing an event
 * again runs only the triggers added since.
 */
import { Deferred, isThenable, succeed } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import { DeferredList } from '../defer/list.js';
import type { TriggerPhase } from './interfaces.js';
import { Logger } from '../logger/index.js';

const log = new Logger('spindle.reactor');

const PHASES: readonly TriggerPhase[] = ['before', 'during', 'after'];

/** The id `add` returns: pass it to `remove`. Opaque to callers. */
export class TriggerId {
  /** @internal */
  constructor(
    readonly event: string,
    readonly phase: TriggerPhase,
    /** @internal */
    readonly trigger: Trigger,
  ) {}
}

interface Trigger {
  fn: (...args: never[]) => unknown;
  args: readonly unknown[];
}

/** The triggers of one event, by phase, and whether its 'before' phase is running. */
class ThreePhaseEvent {
  readonly phases: Record<TriggerPhase, Trigger[]> = { before: [], during: [], after: [] };

  constructor(readonly name: string) {}

  fire(): Deferred<void> {
    const waits: Deferred<unknown>[] = [];
    // Triggers added by a 'before' trigger for this phase run in this firing too.
    for (let t = this.phases.before.shift(); t !== undefined; t = this.phases.before.shift()) {
      const result = this.call(t, 'before');
      if (isThenable(result)) {
        const d = result instanceof Deferred ? result : Deferred.fromPromise(result);
        waits.push(
          d.addErrback((f: Failure) => {
            log.failure('A "before {event}" trigger failed', f, { event: this.name });
          }),
        );
      }
    }
    const done = new DeferredList(waits);
    return done.addCallback(() => {
      for (const phase of ['during', 'after'] as const) {
        for (let t = this.phases[phase].shift(); t !== undefined; t = this.phases[phase].shift()) {
          this.call(t, phase);
        }
      }
    });
  }

  private call(t: Trigger, phase: TriggerPhase): unknown {
    try {
      return (t.fn as (...args: unknown[]) => unknown)(...t.args);
    } catch (e) {
      log.failure('A "{phase} {event}" trigger raised', e, { phase, event: this.name });
      return undefined;
    }
  }
}

/**
 * The system events of one reactor.
 *
 * @example
 * ```ts
 * const events = new SystemEventTriggers();
 * events.add('before', 'shutdown', () => drainConnections()); // may return a Deferred
 * events.add('after', 'shutdown', () => console.log('bye'));
 * await events.fire('shutdown');
 * ```
 */
export class SystemEventTriggers {
  private readonly events = new Map<string, ThreePhaseEvent>();

  /**
   * Add `fn(...args)` to `phase` of `event`; returns an id for {@link remove}.
   * @throws RangeError when `phase` is not 'before', 'during' or 'after'.
   * @throws TypeError when `fn` is not a function.
   */
  add<A extends unknown[]>(phase: TriggerPhase, event: string, fn: (...args: A) => unknown, args: A): TriggerId {
    if (!PHASES.includes(phase)) throw new RangeError(`invalid phase: ${String(phase)}`);
    if (typeof fn !== 'function') throw new TypeError('a system event trigger must be a function');
    let e = this.events.get(event);
    if (e === undefined) this.events.set(event, (e = new ThreePhaseEvent(event)));
    const trigger: Trigger = { fn: fn as (...args: never[]) => unknown, args };
    e.phases[phase].push(trigger);
    return new TriggerId(event, phase, trigger);
  }

  /**
   * Remove a trigger that has not run yet.
   * @throws Error when `id` is not a pending trigger (it ran, was removed, or is not an id).
   */
  remove(id: unknown): void {
    if (id instanceof TriggerId) {
      const list = this.events.get(id.event)?.phases[id.phase];
      const i = list === undefined ? -1 : list.indexOf(id.trigger);
      if (i !== -1) {
        list!.splice(i, 1);
        return;
      }
    }
    throw new Error('removing a nonexistent system event trigger');
  }

  /**
   * Run the three phases of `event`. The Deferred fires once the 'after'
   * triggers have run; it never fails (trigger errors are logged).
   */
  fire(event: string): Deferred<void> {
    const e = this.events.get(event);
    if (e === undefined) return succeed<void>(undefined);
    return e.fire();
  }
}

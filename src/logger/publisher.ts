/**
 * Fan-out of events to observers, containing observers that throw.
 */
import type { LogEvent, LogObserver } from './event.js';
import { toLoggableFailure } from './failure.js';

/** Namespace of the events the logging system emits about itself. */
export const LOGGER_NAMESPACE = 'spindle.logger';

/** The format of the event reporting an observer that threw (Twisted's `OBSERVER_DISABLED`). */
export const OBSERVER_DISABLED = 'Temporarily disabling observer {observer} due to exception';

/**
 * How deeply `publish` may re-enter itself on one publisher (an observer that logs through a
 * logger that ends at the same publisher). Deeper events are dropped: this is what stops an
 * observer that logs its own failures from recursing until the stack overflows.
 */
const MAX_NESTED_PUBLISH = 32;

/**
 * Delivers each published event to every observer, in the order they were added.
 *
 * Contract:
 * - `publish` never throws. An observer that throws keeps its subscription (as in Twisted),
 *   and an `error` event in namespace `spindle.logger` with format {@link OBSERVER_DISABLED},
 *   the thrown value as `log_failure` and the culprit as the `observer` field is delivered to
 *   every *other* observer that did not throw on the same event. That report is contained the
 *   same way, with ever fewer observers, so it cannot recurse forever.
 * - Observers added or removed while an event is being delivered take effect from the next
 *   event.
 * - A publisher is itself an observer: {@link LogPublisher.observer} is `publish`, bound, so
 *   publishers nest (a filtered sub-publisher under the global one).
 */
export class LogPublisher {
  #observers: LogObserver[] = [];
  #depth = 0;

  /** `publish`, bound to this publisher: subscribe it to another publisher or give it to a `Logger`. */
  readonly observer: LogObserver = (event) => this.publish(event);

  /** Subscribes `observer`; adding one that is already subscribed does nothing. */
  addObserver(observer: LogObserver): void {
    if (!this.#observers.includes(observer)) this.#observers = [...this.#observers, observer];
  }

  /** Unsubscribes `observer`; removing one that is not subscribed does nothing. */
  removeObserver(observer: LogObserver): void {
    if (this.#observers.includes(observer)) {
      this.#observers = this.#observers.filter((o) => o !== observer);
    }
  }

  /** The current observers, in delivery order (a snapshot). */
  get observers(): readonly LogObserver[] {
    return this.#observers;
  }

  /** Delivers `event` to every observer. Never throws; see the class contract. */
  publish(event: LogEvent): void {
    if (this.#depth >= MAX_NESTED_PUBLISH) return;
    this.#depth++;
    try {
      deliver(event, this.#observers);
    } finally {
      this.#depth--;
    }
  }
}

/** Gives `event` to each of `observers`, then reports the ones that threw to the others. */
function deliver(event: LogEvent, observers: readonly LogObserver[]): void {
  let broken: Array<{ observer: LogObserver; thrown: unknown }> | undefined;
  for (const observer of observers) {
    try {
      observer(event);
    } catch (thrown) {
      (broken ??= []).push({ observer, thrown });
    }
  }
  if (broken === undefined) return;
  const culprits = new Set(broken.map((b) => b.observer));
  const healthy = observers.filter((o) => !culprits.has(o));
  for (const { observer, thrown } of broken) {
    const report: LogEvent = {
      log_namespace: LOGGER_NAMESPACE,
      log_level: 'error',
      log_format: OBSERVER_DISABLED,
      log_time: Date.now() / 1000,
      log_failure: toLoggableFailure(thrown),
      observer,
    };
    deliver(report, healthy);
  }
}

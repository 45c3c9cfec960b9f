/**
 * Waiting on several Deferreds at once: DeferredList, gatherResults, race.
 */
import { Deferred } from './deferred.js';
import { FailureGroup, FirstError } from './errors.js';
import { Failure } from './failure.js';

/** One entry of a DeferredList's default result: `[true, value]` or `[false, failure]`. */
export type DeferredListEntry<T> = [success: true, value: T] | [success: false, failure: Failure];

/** The default result of a DeferredList: one entry per input, in input order. */
export type DeferredListResult<T> = DeferredListEntry<T>[];

/** Options of {@link DeferredList}. */
export interface DeferredListOptions {
  /** Fire with `[value, index]` as soon as one input succeeds. */
  fireOnOneCallback?: boolean;
  /** Fail with {@link FirstError} as soon as one input fails. */
  fireOnOneErrback?: boolean;
  /** Take the failures from the inputs, so they are not reported as unhandled there. */
  consumeErrors?: boolean;
}

/**
 * A Deferred that fires when all of `deferreds` have (or, with the
 * `fireOnOne*` options, at the first success or failure).
 *
 * Results:
 * - default: `[[true, value] | [false, failure], ...]` in input order, once
 *   every input has fired; an empty list fires `[]` at once;
 * - `fireOnOneCallback`: `[value, index]` of the first success (type it with
 *   the second type parameter); if every input fails it fails with a
 *   {@link FailureGroup} (Twisted fires the whole list instead); an empty list
 *   never fires;
 * - `fireOnOneErrback`: fails with `FirstError(subFailure, index)` at the first failure.
 *
 * Cancelling it before it fires cancels every input.
 *
 * @example
 * ```ts
 * const dl = new DeferredList([getUser(1), getUser(2)], { consumeErrors: true });
 * for (const [ok, v] of await dl) console.log(ok ? v : v.getErrorMessage());
 * ```
 */
export class DeferredList<T, R = DeferredListResult<T>> extends Deferred<R> {
  /** The per-input results gathered so far (undefined where not yet fired). */
  readonly resultList: (DeferredListEntry<T> | undefined)[];
  private readonly inputs: Deferred<T>[];
  private finishedCount = 0;
  private failedCount = 0;

  constructor(deferreds: Iterable<Deferred<T>>, options: DeferredListOptions = {}) {
    super((self) => (self as DeferredList<T, R>).cancelInputs());
    const inputs = [...deferreds];
    this.inputs = inputs;
    this.resultList = new Array<DeferredListEntry<T> | undefined>(inputs.length);
    const { fireOnOneCallback = false, fireOnOneErrback = false, consumeErrors = false } = options;
    if (inputs.length === 0 && !fireOnOneCallback) {
      this.callback([] as R);
      return;
    }
    inputs.forEach((d, index) => {
      d.addCallbacks(
        (value: T) => {
          this.resultList[index] = [true, value];
          this.finishedCount++;
          if (!this.called) {
            if (fireOnOneCallback) this.callback([value, index] as R);
            else if (this.finishedCount === inputs.length) this.callback(this.resultList as R);
          }
          return value;
        },
        (failure: Failure) => {
          this.resultList[index] = [false, failure];
          this.finishedCount++;
          this.failedCount++;
          if (!this.called) {
            if (fireOnOneErrback) this.errback(new FirstError(failure, index));
            else if (fireOnOneCallback && this.failedCount === inputs.length) {
              this.errback(new FailureGroup(this.resultList.map((e) => e![1] as Failure)));
            } else if (!fireOnOneCallback && this.finishedCount === inputs.length) {
              this.callback(this.resultList as R);
            }
          }
          return consumeErrors ? undefined : failure;
        },
      );
    });
  }

  private cancelInputs(): void {
    for (const d of this.inputs) d.cancel();
  }
}

/** Options of {@link gatherResults}. */
export interface GatherOptions {
  /** Take the failures from the inputs, so they are not reported as unhandled there. */
  consumeErrors?: boolean;
}

/**
 * The values of all `deferreds`, in order, or a failure with {@link FirstError}
 * (carrying `subFailure` and `index`) at the first one that fails. An empty
 * list gives `[]` at once. Cancelling it cancels every input.
 *
 * @example
 * ```ts
 * const [a, b] = await gatherResults([fetchA(), fetchB()]);
 * ```
 */
export function gatherResults<T>(deferreds: Iterable<Deferred<T>>, options: GatherOptions = {}): Deferred<T[]> {
  const dl = new DeferredList<T>(deferreds, { fireOnOneErrback: true, consumeErrors: options.consumeErrors ?? false });
  return dl.addCallback((entries) => entries.map((e) => e[1] as T));
}

/**
 * The first of `deferreds` to succeed, as `[index, value]`; every other input
 * is then cancelled. If all fail, it fails with a {@link FailureGroup} holding
 * every failure in input order. Cancelling the race cancels every input.
 *
 * @example
 * ```ts
 * const [which, reply] = await race([askPrimary(), askReplica()]);
 * ```
 */
export function race<T>(deferreds: Iterable<Deferred<T>>): Deferred<[index: number, value: T]> {
  const inputs = [...deferreds];
  let cancelling = false;
  const final = new Deferred<[number, T]>(() => {
    cancelling = true;
    for (const d of inputs) d.cancel();
    cancelling = false;
  });
  const failures: (Failure | undefined)[] = new Array<Failure | undefined>(inputs.length);
  let failedCount = 0;
  inputs.forEach((d, index) => {
    d.addCallbacks(
      (value: T) => {
        if (!final.called) {
          final.callback([index, value]);
          inputs.forEach((other, i) => {
            if (i !== index) other.cancel();
          });
        }
        return undefined;
      },
      (failure: Failure) => {
        // Losers fail (usually with CancelledError) once the race is decided: not an error.
        if (final.called || cancelling) return undefined;
        failures[index] = failure;
        failedCount++;
        if (failedCount === inputs.length) final.errback(new FailureGroup(failures as Failure[]));
        return undefined;
      },
    );
  });
  return final;
}

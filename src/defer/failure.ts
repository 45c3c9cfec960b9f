/**
 * Failure: an error travelling down a Deferred's errback chain, with the
 * helpers errbacks use to filter it (`check`, `trap`) and to report it.
 */
import { inspect } from 'node:util';

/** Any Error class: what `check` and `trap` match against. */
export type ErrorType<E extends Error = Error> = abstract new (...args: never[]) => E;

/**
 * Wraps a thrown value that is not an `Error` (a string, a number...), so that
 * every Failure has an Error to carry. The original is in `thrown`.
 */
export class NonErrorThrown extends Error {
  override name = 'NonErrorThrown';
  constructor(readonly thrown: unknown) {
    super(`a non-Error value was thrown: ${inspect(thrown, { depth: 1, breakLength: Infinity })}`);
  }
}

/**
 * An error in a Deferred's errback chain.
 *
 * Errbacks receive a Failure, not the bare error: `value` is the Error,
 * `check()` tells which of several types it is, and `trap()` passes it on
 * down the chain unless it is one of the types the errback handles.
 *
 * @example
 * ```ts
 * d.addErrback((f) => {
 *   f.trap(KeyError);        // anything else goes on to the next errback
 *   return 'default';        // KeyError is recovered from
 * });
 * ```
 */
export class Failure<E extends Error = Error> {
  /** The error. A thrown non-Error is wrapped in {@link NonErrorThrown}. */
  readonly value: E;

  /** Wrap `error` (anything thrown). Use {@link Failure.from} to reuse an existing Failure. */
  constructor(error: unknown) {
    this.value = (error instanceof Error ? error : new NonErrorThrown(error)) as E;
  }

  /** `x` itself when it is a Failure, otherwise a new Failure wrapping it. */
  static from(x: unknown): Failure {
    return x instanceof Failure ? x : new Failure(x);
  }

  /** The error's class. */
  get type(): ErrorType<E> {
    return this.value.constructor as ErrorType<E>;
  }

  /** What was actually thrown: `value`, or the non-Error value it wraps. */
  get thrown(): unknown {
    return this.value instanceof NonErrorThrown ? this.value.thrown : this.value;
  }

  /**
   * The first of `types`, in argument order, that the error is an instance
   * of, or `null` when none matches.
   */
  check(...types: ErrorType[]): ErrorType | null {
    for (const t of types) if (this.value instanceof t) return t;
    return null;
  }

  /**
   * Like {@link Failure.check}, but when nothing matches it throws this
   * Failure again, so an errback that traps passes other errors on unchanged.
   */
  trap(...types: ErrorType[]): ErrorType {
    const t = this.check(...types);
    if (t === null) throw this;
    return t;
  }

  /** Throws the error itself. */
  raiseException(): never {
    throw this.thrown;
  }

  /**
   * Drop references to live stack frames. V8 keeps the receivers of the
   * frames of a captured stack until the stack is formatted, so an
   * unformatted error can keep alive the very Deferred that holds it.
   */
  cleanFailure(): void {
    let current: unknown = this.value;
    for (let i = 0; i < 8 && current instanceof Error; i++) {
      void current.stack;
      current = current.cause;
    }
  }

  /** The error's message. */
  getErrorMessage(): string {
    return this.value.message;
  }

  /**
   * The stack of the error followed by its `cause` chain, one
   * "Caused by:" section per cause (cycles are cut).
   */
  getTraceback(): string {
    const parts: string[] = [];
    const seen = new Set<unknown>();
    let current: unknown = this.value;
    while (current !== undefined && !seen.has(current) && parts.length < 32) {
      seen.add(current);
      const text =
        current instanceof Error
          ? (current.stack ?? `${current.name}: ${current.message}`)
          : inspect(current, { depth: 2, breakLength: Infinity });
      parts.push(parts.length === 0 ? text : `Caused by: ${text}`);
      current = current instanceof Error ? current.cause : undefined;
    }
    return parts.join('\n');
  }

  toString(): string {
    return `[Failure ${this.value.name}: ${this.value.message}]`;
  }
}

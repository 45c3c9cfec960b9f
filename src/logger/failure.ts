/**
 * The logger's view of a failure: something that holds a thrown value and can render a
 * traceback. The Deferred layer's `Failure` satisfies it structurally; any other thrown value
 * is wrapped by {@link toLoggableFailure}.
 */
import { isError, safeInspect, safely } from './inspect.js';

/**
 * A failure as the logger needs it: the thrown value and a way to render its traceback.
 *
 * `getTraceback()` should not throw; observers guard against it anyway.
 */
export interface LoggableFailure {
  /** What was thrown (usually an `Error`, but any value can be thrown). */
  readonly value: unknown;
  /** A human-readable, possibly multi-line traceback. */
  getTraceback(): string;
}

/** How far a `cause` chain is followed before it is cut short. */
const MAX_CAUSES = 16;
/** How many members of an `AggregateError` are rendered. */
const MAX_AGGREGATED = 10;

/**
 * True when `value` already is a {@link LoggableFailure}: an object with a `value` property and
 * a `getTraceback` method.
 */
export function isLoggableFailure(value: unknown): value is LoggableFailure {
  return (
    typeof value === 'object' &&
    value !== null &&
    'value' in value &&
    typeof (value as { getTraceback?: unknown }).getTraceback === 'function'
  );
}

/**
 * Returns `value` itself when it is a {@link LoggableFailure}; otherwise wraps it, whatever it is
 * (an `Error`, a thrown string, `undefined`…), in a failure whose traceback is
 * {@link renderTraceback} of the value, computed each time it is asked for.
 */
export function toLoggableFailure(value: unknown): LoggableFailure {
  return isLoggableFailure(value) ? value : new WrappedFailure(value);
}

class WrappedFailure implements LoggableFailure {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
  getTraceback(): string {
    return renderTraceback(this.value);
  }
}

/**
 * Renders a thrown value as text, never throwing:
 *
 * - an `Error` renders as its `stack` (or `Name: message` when it has none);
 * - an `AggregateError` adds its members, indented, numbered `[i/n]` (at most 10);
 * - any other value renders as `Non-Error value: <util.inspect of it>`;
 * - then each link of the `cause` chain adds a line `Caused by: <the cause rendered alike>`
 *   (at most 16 links; a cycle ends with `Caused by: [circular cause]`).
 *
 * @example
 * renderTraceback(new Error('outer', { cause: new Error('inner') }));
 * // "Error: outer\n    at …\nCaused by: Error: inner\n    at …"
 */
export function renderTraceback(value: unknown): string {
  const parts: string[] = [renderOne(value)];
  const seen = new Set<unknown>([value]);
  let current = value;
  for (let links = 0; ; links++) {
    const cause = causeOf(current);
    if (cause === undefined) break;
    if (links >= MAX_CAUSES) {
      parts.push('Caused by: [cause chain truncated]');
      break;
    }
    if (seen.has(cause)) {
      parts.push('Caused by: [circular cause]');
      break;
    }
    seen.add(cause);
    parts.push(`Caused by: ${renderOne(cause)}`);
    current = cause;
  }
  return parts.join('\n');
}

/** What {@link describeFailure} tells about a failure (and what JSON logs store). */
export interface FailureDescription {
  /** The error's `name` (`TypeError`), or for a non-Error value `typeof` / its constructor name. */
  type: string;
  /** The error's message, or for a non-Error value the value itself (inspected unless a string). */
  message: string;
}

/**
 * A short classification of a failure's value, as stored in JSON logs: `type` is the error's
 * `name` (or, for non-errors, `typeof` / the constructor name), `message` its message (or the
 * inspected value). Never throws.
 */
export function describeFailure(failure: LoggableFailure): FailureDescription {
  const value = safely(() => failure.value, undefined);
  if (isError(value)) {
    return {
      type: safely(() => String(value.name), 'Error'),
      message: safely(() => String(value.message), ''),
    };
  }
  if (typeof value === 'string') return { type: 'string', message: value };
  if (value === null) return { type: 'null', message: 'null' };
  const type =
    typeof value === 'object'
      ? safely(() => (value as object).constructor?.name ?? 'Object', 'Object')
      : typeof value;
  return { type, message: safeInspect(value) };
}

function renderOne(value: unknown): string {
  if (!isError(value)) return `Non-Error value: ${safeInspect(value)}`;
  const stack = safely(() => value.stack, undefined);
  let text =
    typeof stack === 'string' && stack !== ''
      ? stack
      : safely(() => String(value), 'Error: <unprintable error>');
  if (value instanceof AggregateError) {
    const errors = safely<unknown>(() => value.errors, undefined);
    if (Array.isArray(errors) && errors.length > 0) {
      const shown = errors.slice(0, MAX_AGGREGATED);
      shown.forEach((member, index) => {
        text += `\n  [${index + 1}/${errors.length}] ${indent(renderOne(member), '  ')}`;
      });
      if (errors.length > shown.length) {
        text += `\n  … and ${errors.length - shown.length} more`;
      }
    }
  }
  return text;
}

function causeOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return safely(() => (value as { cause?: unknown }).cause, undefined);
}

function indent(text: string, prefix: string): string {
  return text.split('\n').join(`\n${prefix}`);
}

/**
 * Events as JSON, one object per line, and back.
 *
 * Writing keeps every field JSON can represent and turns the rest into text, so a line never
 * fails to serialise; reading restores bytes and failures. See {@link eventAsJSON} for the
 * exact mapping.
 */
import type { LogEvent } from './event.js';
import { describeFailure, toLoggableFailure, type LoggableFailure } from './failure.js';
import { formatEvent } from './format.js';
import { describeThrown, safeInspect, safely } from './inspect.js';

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Nesting deeper than this is stored as inspect text. */
const MAX_DEPTH = 16;

/** The JSON form of a `Uint8Array` (or `Buffer`): `{ "__bytes__": "<base64>" }`. */
export const BYTES_KEY = '__bytes__';

/**
 * Serialises an event as a single line of JSON (no trailing newline). Never throws.
 *
 * Mapping of field values:
 * - strings, booleans, finite numbers, `null`, arrays and plain objects: as themselves
 *   (recursively; `undefined` fields are left out, as `JSON.stringify` does);
 * - `NaN` / `±Infinity`: the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
 * - `bigint`: its decimal string;
 * - `Uint8Array` / `Buffer`: `{ "__bytes__": "<base64>" }`;
 * - objects with `toJSON` (e.g. `Date` → ISO string, `URL` → href): what `toJSON` returns;
 * - anything else (class instances, `Map`, `Set`, errors in ordinary fields, functions,
 *   symbols, cycles, nesting deeper than 16): `util.inspect` text (depth 2, one line), or
 *   `"[Circular]"` for a cycle.
 *
 * Added keys: `log_text`, the message as {@link formatEvent} renders it, and, when the event
 * has a failure, `log_failure: { type, message, traceback }`.
 */
export function eventAsJSON(event: LogEvent): string {
  // Null prototype: a field named `__proto__` must stay a field.
  const record = Object.create(null) as Record<string, JsonValue>;
  for (const key of Object.keys(event)) {
    if (key === 'log_failure' || key === 'log_text') continue;
    const encoded = safely(
      () => encode(event[key], [], 0),
      '<unserialisable value>' as JsonValue | undefined,
    );
    if (encoded !== undefined) record[key] = encoded;
  }
  record.log_text = formatEvent(event);
  const failure: unknown = event.log_failure;
  if (failure !== undefined && failure !== null) record.log_failure = encodeFailure(failure);
  return JSON.stringify(record);
}

/**
 * Parses one line written by {@link eventAsJSON} back into an event: `{ "__bytes__": … }`
 * becomes a `Buffer`, and `log_failure` becomes a {@link LoggableFailure} whose `value` is an
 * `Error` with the stored `name` (the `type`), `message` and `stack` (the traceback), and whose
 * `getTraceback()` returns the stored traceback. Other values stay as JSON gave them (a
 * `bigint` stays a string, a `Date` an ISO string). `log_text` keeps the message exactly as it
 * was rendered when written; `formatEvent` on the restored event renders again from the restored
 * fields, which gives the same text for JSON-native values but may differ for values that were
 * stored as inspect text.
 *
 * @throws SyntaxError when `line` is not JSON; TypeError when it is not a JSON object.
 */
export function eventFromJSON(line: string): LogEvent {
  const parsed: unknown = JSON.parse(line, reviveBytes);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError('a log record must be a JSON object');
  }
  const event = parsed as LogEvent;
  if ('log_failure' in event) {
    const stored: unknown = event.log_failure;
    if (stored === undefined || stored === null) delete event.log_failure;
    else event.log_failure = restoreFailure(stored);
  }
  return event;
}

/** Options of {@link eventsFromJSONLogFile}. */
export interface JSONLogFileOptions {
  /**
   * Called for each line that is not a valid record, instead of throwing; `lineNumber` counts
   * from 1. Pass `() => {}` to skip bad lines (a file cut short by a crash ends with one).
   */
  onInvalidLine?: (line: string, lineNumber: number, error: Error) => void;
}

/**
 * Reads the whole text of a JSON-lines log (as written by `jsonFileLogObserver`) into
 * events, in order. Blank lines, `\r\n` line ends and RFC 7464 record separators (`\x1e`) are
 * accepted.
 *
 * @throws SyntaxError naming the line number of the first invalid line, unless
 *   `options.onInvalidLine` is given.
 */
export function eventsFromJSONLogFile(text: string, options: JSONLogFileOptions = {}): LogEvent[] {
  const events: LogEvent[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    let line = lines[index]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.startsWith('\x1e')) line = line.slice(1);
    if (line.trim() === '') continue;
    try {
      events.push(eventFromJSON(line));
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(describeThrown(thrown));
      if (options.onInvalidLine === undefined) {
        throw new SyntaxError(`Invalid JSON log record on line ${index + 1}: ${error.message}`, {
          cause: error,
        });
      }
      options.onInvalidLine(line, index + 1, error);
    }
  }
  return events;
}

function encode(value: unknown, ancestors: object[], depth: number): JsonValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
      return undefined;
    case 'symbol':
    case 'function':
      return safeInspect(value);
  }
  if (value === null) return null;
  const object = value as object;
  if (object instanceof Uint8Array) {
    const bytes = Buffer.from(object.buffer, object.byteOffset, object.byteLength);
    return { [BYTES_KEY]: bytes.toString('base64') };
  }
  if (ancestors.includes(object)) return '[Circular]';
  if (depth >= MAX_DEPTH) return safeInspect(object);
  ancestors.push(object);
  try {
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      return encode(toJSON.call(object, ''), ancestors, depth + 1) ?? null;
    }
    if (Array.isArray(object)) {
      const items: JsonValue[] = [];
      for (let i = 0; i < object.length; i++) {
        items.push(encode(object[i], ancestors, depth + 1) ?? null);
      }
      return items;
    }
    const proto: unknown = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) return safeInspect(object);
    const out = Object.create(null) as { [key: string]: JsonValue };
    for (const key of Object.keys(object)) {
      const encoded = encode((object as Record<string, unknown>)[key], ancestors, depth + 1);
      if (encoded !== undefined) out[key] = encoded;
    }
    return out;
  } catch {
    return safeInspect(object);
  } finally {
    ancestors.pop();
  }
}

function encodeFailure(failure: unknown): JsonValue {
  const loggable = toLoggableFailure(failure);
  const { type, message } = describeFailure(loggable);
  let traceback: string;
  try {
    traceback = String(loggable.getTraceback());
  } catch (thrown) {
    traceback = `<unable to render traceback: ${describeThrown(thrown)}>`;
  }
  return { type, message, traceback };
}

function reviveBytes(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const encoded = (value as Record<string, unknown>)[BYTES_KEY];
    if (keys.length === 1 && typeof encoded === 'string') return Buffer.from(encoded, 'base64');
  }
  return value;
}

/** A failure read back from a JSON log: the original value is gone, its description remains. */
class RestoredFailure implements LoggableFailure {
  readonly value: Error;
  readonly #traceback: string;
  constructor(type: string, message: string, traceback: string) {
    const error = new Error(message);
    error.name = type;
    error.stack = traceback;
    this.value = error;
    this.#traceback = traceback;
  }
  getTraceback(): string {
    return this.#traceback;
  }
}

function restoreFailure(stored: unknown): LoggableFailure {
  const fields = (typeof stored === 'object' ? stored : {}) as Record<string, unknown>;
  const text = (key: string, fallback: string): string =>
    typeof fields[key] === 'string' ? (fields[key] as string) : fallback;
  const message = text('message', typeof stored === 'string' ? stored : '');
  const type = text('type', 'Error');
  return new RestoredFailure(type, message, text('traceback', `${type}: ${message}`));
}

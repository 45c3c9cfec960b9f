/**
 * Lazy rendering of events to text: {@link formatEvent} fills an event's `log_format` from its
 * own fields, {@link eventAsText} adds the timestamp, namespace, level and traceback.
 *
 * Both are called by observers, never at emit time, and neither ever throws.
 */
import type { LogEvent } from './event.js';
import { toLoggableFailure } from './failure.js';
import { describeThrown, inspectValue, safeInspect } from './inspect.js';

/** A reference to a field in a parsed format: `{a.b!r}` → path `['a', 'b']`, repr `true`. */
interface FieldRef {
  readonly name: string;
  readonly path: readonly string[];
  readonly repr: boolean;
}

type Segment = string | FieldRef;

type Parsed =
  | { readonly ok: true; readonly segments: readonly Segment[] }
  | { readonly ok: false; readonly reason: string };

/** Parsed formats are few and reused (they are literals in code): cache them, bounded. */
const MAX_CACHED_FORMATS = 512;
const parsedFormats = new Map<string, Parsed>();

/**
 * Renders an event's message: its `log_format` with each `{field}` replaced from the event.
 *
 * Template syntax (a subset of Python's `str.format`, as in Twisted):
 * - `{name}` — the field as text: strings as they are; objects with their own `toString`
 *   (errors, URLs, your classes) through it; everything else through `util.inspect` (depth 2,
 *   one line);
 * - `{name!r}` — always `util.inspect` (so strings are quoted); `{name!s}` is the default;
 * - `{a.b.c}` — a dotted path into nested values (`{items.0}` indexes an array);
 * - `{{` and `}}` — literal braces.
 *
 * A field the event does not have renders as `<missing: name>`. Format specs (`{n:>5}`),
 * positional fields (`{}`), unknown conversions, unbalanced braces, or a value whose
 * `toString` / inspect hook throws never throw here: the whole message renders as
 * `Unable to format event: <reason>; raw format: "<log_format>"`.
 *
 * An event without a string `log_format` renders as its `log_text`, or `""`.
 *
 * @example
 * formatEvent({
 *   log_namespace: 'app', log_level: 'info', log_time: 0,
 *   log_format: '{user.name} sent {bytes} bytes to {peer!r} {{ok}}',
 *   user: { name: 'ada' }, bytes: 42, peer: '10.0.0.1',
 * });
 * // → "ada sent 42 bytes to '10.0.0.1' {ok}"
 */
export function formatEvent(event: LogEvent): string {
  let format: unknown;
  try {
    format = event.log_format;
    if (typeof format !== 'string') {
      const text = event.log_text;
      return typeof text === 'string' ? text : '';
    }
    const parsed = parseFormat(format);
    if (!parsed.ok) return unformattable(parsed.reason, format);
    return render(event, parsed.segments);
  } catch (thrown) {
    return unformattable(describeThrown(thrown), format);
  }
}

/** Options of {@link eventAsText}. */
export interface EventAsTextOptions {
  /** Start the line with the ISO-8601 UTC time of `log_time`. Default `true`. */
  includeTimestamp?: boolean;
  /** Append the failure's traceback, if the event has one. Default `true`. */
  includeTraceback?: boolean;
}

/**
 * Renders an event as one human-readable entry:
 *
 * ```text
 * 2026-11-21T11:22:33.123Z [spindle.http#info] GET / 200
 * ```
 *
 * The timestamp is `log_time` in UTC with milliseconds (`-` when the event has no valid time);
 * a missing namespace or level shows as `-`. When the event has a `log_failure` and
 * `includeTraceback` is on, a newline and the failure's traceback follow **as is** (V8 stack
 * frames already carry their own indentation, so the traceback stays copy-pasteable); the
 * result then spans several lines but never ends with a newline. Never throws.
 */
export function eventAsText(event: LogEvent, options: EventAsTextOptions = {}): string {
  const { includeTimestamp = true, includeTraceback = true } = options;
  let text = `[${label(event.log_namespace)}#${label(event.log_level)}] ${formatEvent(event)}`;
  if (includeTimestamp) text = `${formatLogTime(event.log_time)} ${text}`;
  const failure: unknown = event.log_failure;
  if (includeTraceback && failure !== undefined && failure !== null) {
    text += `\n${tracebackOf(failure)}`;
  }
  return text;
}

function label(value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : '-';
}

function formatLogTime(logTime: unknown): string {
  if (typeof logTime !== 'number' || !Number.isFinite(logTime)) return '-';
  // Round, not truncate: seconds * 1000 in floating point can land just under the millisecond.
  const date = new Date(Math.round(logTime * 1000));
  return Number.isNaN(date.getTime()) ? '-' : date.toISOString();
}

function tracebackOf(failure: unknown): string {
  try {
    return String(toLoggableFailure(failure).getTraceback()).replace(/\n+$/, '');
  } catch (thrown) {
    return `<unable to render traceback: ${describeThrown(thrown)}>`;
  }
}

function unformattable(reason: string, format: unknown): string {
  const raw = typeof format === 'string' ? JSON.stringify(format) : safeInspect(format);
  return `Unable to format event: ${reason}; raw format: ${raw}`;
}

function render(event: LogEvent, segments: readonly Segment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'string') {
      out += segment;
      continue;
    }
    const found = lookup(event, segment.path);
    if (!found.present) out += `<missing: ${segment.name}>`;
    else out += segment.repr ? inspectValue(found.value) : asText(found.value);
  }
  return out;
}

type Lookup = { present: true; value: unknown } | { present: false };

function lookup(event: LogEvent, path: readonly string[]): Lookup {
  const [first, ...rest] = path as [string, ...string[]];
  // Top level: the event's own fields only (not `toString` & co. from Object.prototype).
  if (!Object.hasOwn(event, first)) return { present: false };
  let value: unknown = event[first];
  for (const key of rest) {
    if (value === null || value === undefined) return { present: false };
    const holder = Object(value) as Record<string, unknown>;
    if (!(key in holder)) return { present: false };
    value = holder[key];
  }
  return { present: true, value };
}

/** `toString`s that say nothing useful (`[object Object]`, `1,2,3`), so inspect is used instead. */
const GENERIC_TO_STRINGS: ReadonlySet<unknown> = new Set<unknown>([
  Object.prototype.toString,
  Array.prototype.toString,
  Date.prototype.toString,
]);

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    const toString = (value as { toString?: unknown }).toString;
    if (typeof toString === 'function' && !GENERIC_TO_STRINGS.has(toString)) return String(value);
  }
  return inspectValue(value);
}

function parseFormat(format: string): Parsed {
  const cached = parsedFormats.get(format);
  if (cached !== undefined) return cached;
  const parsed = parseUncached(format);
  if (parsedFormats.size >= MAX_CACHED_FORMATS) parsedFormats.clear();
  parsedFormats.set(format, parsed);
  return parsed;
}

function parseUncached(format: string): Parsed {
  const segments: Segment[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const ch = format[i];
    if (ch === '{') {
      if (format[i + 1] === '{') {
        literal += '{';
        i += 2;
        continue;
      }
      const close = format.indexOf('}', i + 1);
      if (close < 0) return failed(`unclosed '{' at position ${i}`);
      const field = parseField(format.slice(i + 1, close), i);
      if (typeof field === 'string') return failed(field);
      if (literal !== '') segments.push(literal);
      literal = '';
      segments.push(field);
      i = close + 1;
    } else if (ch === '}') {
      if (format[i + 1] !== '}') return failed(`single '}' at position ${i}`);
      literal += '}';
      i += 2;
    } else {
      let next = i + 1;
      while (next < format.length && format[next] !== '{' && format[next] !== '}') next++;
      literal += format.slice(i, next);
      i = next;
    }
  }
  if (literal !== '') segments.push(literal);
  return { ok: true, segments };
}

/** Parses the inside of `{…}`; returns the reason as a string when it is not a valid field. */
function parseField(body: string, position: number): FieldRef | string {
  if (body.includes('{')) return `'{' inside the field at position ${position}`;
  if (body.includes(':')) return `format specs are not supported ('{${body}}')`;
  let name = body;
  let repr = false;
  const bang = body.indexOf('!');
  if (bang >= 0) {
    name = body.slice(0, bang);
    const conversion = body.slice(bang + 1);
    if (conversion === 'r') repr = true;
    else if (conversion !== 's') return `unknown conversion '!${conversion}' in '{${body}}'`;
  }
  if (name === '') return `empty field name at position ${position} (positional fields are not supported)`;
  const path = name.split('.');
  if (path.some((key) => key === '')) return `invalid field name '${name}'`;
  return { name, path, repr };
}

function failed(reason: string): Parsed {
  return { ok: false, reason };
}

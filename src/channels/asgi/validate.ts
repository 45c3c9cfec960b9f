/**
 * Checks of the keys applications put in the events they send, shared by the HTTP, WebSocket
 * and lifespan state machines. Each check returns the normalised value or throws an
 * {@link ASGIProtocolError} that names the event and the key.
 */
import { FIELD_VALUE, TOKEN } from '../../http/chars.js';
import type { ASGIEvent, Headers } from '../types.js';
import { ASGIProtocolError } from './errors.js';

const EMPTY = new Uint8Array(0);

/** Whether `x` is an event: a non-null object with a string `type`. */
export function isEvent(x: unknown): x is ASGIEvent {
  return typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

/** Describe a value for an error message without dumping it. */
function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x instanceof Uint8Array) return 'a Uint8Array';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

/** The event's `type`, or an error naming what was sent instead. */
export function requireEvent(x: unknown): ASGIEvent {
  if (!isEvent(x)) {
    throw new ASGIProtocolError(`an ASGI event is an object with a string "type", not ${describe(x)}`);
  }
  return x;
}

/** `status`: an integer from 100 to 599. */
export function checkStatus(event: ASGIEvent): number {
  const status = event.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new ASGIProtocolError(
      `${event.type}: "status" must be an integer from 100 to 599, not ${typeof status === 'number' ? status : describe(status)}`,
      event.type,
    );
  }
  return status;
}

/** What {@link tokenCase} says of a string that is not a token. */
const NOT_TOKEN = -1;
/** A token with no upper-case letter. */
const LOWER_TOKEN = 0;
/** A token with an upper-case letter. */
const MIXED_TOKEN = 1;

/**
 * Whether `s` is a token and, in the same pass, whether it has upper-case letters: a name that
 * is already lower-case (as ASGI applications send them) is kept as it is, no new string.
 */
function tokenCase(s: string): number {
  if (s.length === 0) return NOT_TOKEN;
  let upper = LOWER_TOKEN;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || TOKEN[c] === 0) return NOT_TOKEN;
    if (c >= 0x41 && c <= 0x5a) upper = MIXED_TOKEN;
  }
  return upper;
}

function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Latin1 only (one char per byte) and no CR, LF, NUL or other controls: no header injection.
    if (c > 0xff || FIELD_VALUE[c] === 0) return false;
  }
  return true;
}

/**
 * `headers`: absent, or an array of `[name, value]` pairs of strings; names are tokens
 * (lower-cased here), values latin1 without control characters. `Uint8Array` names or values
 * are refused: Spindle's headers are strings.
 */
export function checkHeaders(event: ASGIEvent, key = 'headers'): Headers {
  const headers = event[key];
  if (headers === undefined || headers === null) return [];
  if (!Array.isArray(headers)) {
    throw new ASGIProtocolError(`${event.type}: "${key}" must be an array of [name, value] pairs, not ${describe(headers)}`, event.type);
  }
  // A copy (of the strings, in new pairs): the application may change its arrays afterwards,
  // and what is written must be what was checked.
  const n = headers.length;
  const out: Headers = [];
  for (let i = 0; i < n; i++) {
    const pair: unknown = headers[i];
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new ASGIProtocolError(`${event.type}: ${key}[${i}] must be a [name, value] pair, not ${describe(pair)}`, event.type);
    }
    const name: unknown = pair[0];
    const value: unknown = pair[1];
    if (typeof name !== 'string' || typeof value !== 'string') {
      const bad = typeof name !== 'string' ? name : value;
      throw new ASGIProtocolError(
        `${event.type}: ${key}[${i}] must hold strings (names lower-case, values latin1), not ${describe(bad)}`,
        event.type,
      );
    }
    const kind = tokenCase(name);
    if (kind === NOT_TOKEN) {
      throw new ASGIProtocolError(`${event.type}: ${key}[${i}] has an invalid header name ${JSON.stringify(name)}`, event.type);
    }
    if (!isFieldValue(value)) {
      throw new ASGIProtocolError(
        `${event.type}: the value of header ${JSON.stringify(name)} holds a control character or a character above \\xff`,
        event.type,
      );
    }
    out.push([kind === MIXED_TOKEN ? name.toLowerCase() : name, value]);
  }
  return out;
}

/** A `Uint8Array` key (`body`, `bytes`): absent or null gives an empty array unless `required`. */
export function checkBytes(event: ASGIEvent, key: string): Uint8Array {
  const v = event[key];
  if (v === undefined || v === null) return EMPTY;
  if (!(v instanceof Uint8Array)) {
    throw new ASGIProtocolError(`${event.type}: "${key}" must be a Uint8Array, not ${describe(v)}`, event.type);
  }
  return v;
}

/** A boolean key (`more_body`): absent or null is `false`. */
export function checkBool(event: ASGIEvent, key: string): boolean {
  const v = event[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') {
    throw new ASGIProtocolError(`${event.type}: "${key}" must be a boolean, not ${describe(v)}`, event.type);
  }
  return v;
}

/** A string key: absent or null gives `fallback`. */
export function checkString(event: ASGIEvent, key: string, fallback: string): string {
  const v = event[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') {
    throw new ASGIProtocolError(`${event.type}: "${key}" must be a string, not ${describe(v)}`, event.type);
  }
  return v;
}

/** Join chunks into one array (no copy when there is only one). */
export function concatBytes(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 0) return EMPTY;
  if (chunks.length === 1) return chunks[0]!;
  const size = total ?? chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The body servers send when they answer for an application: a short plain-text page. */
export function plainTextResponse(status: number, text: string): { headers: Headers; body: Uint8Array } {
  const body = new TextEncoder().encode(text);
  return {
    headers: [
      ['content-type', 'text/plain; charset=utf-8'],
      ['content-length', String(body.length)],
    ],
    body,
  };
}

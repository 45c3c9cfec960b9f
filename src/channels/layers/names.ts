/**
 * Channel and group names, and message shapes, as every channel layer checks them (Channels'
 * `BaseChannelLayer` rules, kept exactly so names are interchangeable with Python processes on a
 * shared Redis). Violations are programming errors: they throw a `TypeError` that names the rule.
 * @module
 */
import type { Message } from '../types.js';

/** Names must be shorter than this (Channels' `MAX_NAME_LENGTH`; its check is `len < 100`). */
export const MAX_NAME_LENGTH = 100;

const NAME_CHARS = /^[A-Za-z0-9._-]+$/;
const CHANNEL_NAME = /^[A-Za-z0-9._-]+(![A-Za-z0-9._-]*)?$/;

function describe(name: unknown): string {
  if (typeof name !== 'string') return typeof name;
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
}

function requireShortString(kind: string, name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    throw new TypeError(`${kind} must be a string, not ${describe(name)}`);
  }
  if (name.length === 0) throw new TypeError(`${kind} must not be empty`);
  if (name.length >= MAX_NAME_LENGTH) {
    throw new TypeError(`${kind} must be shorter than ${MAX_NAME_LENGTH} characters (got ${name.length}): ${describe(name)}`);
  }
}

/**
 * Check a channel name: a string of `[A-Za-z0-9._-]`, shorter than 100 characters, with at most
 * one `!` (which, when present, follows at least one character: `prefix!` or `prefix!local`).
 *
 * @throws TypeError naming the broken rule.
 */
export function requireValidChannelName(name: unknown): asserts name is string {
  requireShortString('channel name', name);
  if (!CHANNEL_NAME.test(name)) {
    const bangs = name.split('!').length - 1;
    if (bangs > 1) throw new TypeError(`channel name may contain at most one "!": ${describe(name)}`);
    if (name.startsWith('!')) throw new TypeError(`channel name must not start with "!": ${describe(name)}`);
    throw new TypeError(
      `channel name may only contain ASCII letters, digits, "-", "_", "." (and one "!"): ${describe(name)}`,
    );
  }
}

/**
 * Check a group name: a string of `[A-Za-z0-9._-]`, shorter than 100 characters (no `!`).
 * `kind` names the thing checked in the message (`newChannel` checks its prefix this way).
 *
 * @throws TypeError naming the broken rule.
 */
export function requireValidGroupName(name: unknown, kind = 'group name'): asserts name is string {
  requireShortString(kind, name);
  if (!NAME_CHARS.test(name)) {
    if (name.includes('!')) throw new TypeError(`${kind} must not contain "!": ${describe(name)}`);
    throw new TypeError(`${kind} may only contain ASCII letters, digits, "-", "_", ".": ${describe(name)}`);
  }
}

/**
 * Check a message: a plain object (not an array, class instance or null) with a `type` string,
 * without the key `__asgi_channel__` (reserved by layers that multiplex channels).
 *
 * @throws TypeError naming the broken rule.
 */
export function requireValidMessage(message: unknown): asserts message is Message {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    throw new TypeError(`a message must be a plain object, not ${message === null ? 'null' : Array.isArray(message) ? 'an array' : typeof message}`);
  }
  const proto: unknown = Object.getPrototypeOf(message);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError('a message must be a plain object, not a class instance');
  }
  const type = (message as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new TypeError(`a message must have a "type" string (got ${type === undefined ? 'none' : typeof type})`);
  }
  if (Object.prototype.hasOwnProperty.call(message, '__asgi_channel__')) {
    throw new TypeError('a message must not contain the reserved key "__asgi_channel__"');
  }
}

/**
 * The part of a channel name that routes it to a process: up to and including the `!` of a
 * process-local name (`specific.ab12!cd34` → `specific.ab12!`), the whole name otherwise.
 */
export function nonLocalName(name: string): string {
  const bang = name.indexOf('!');
  return bang === -1 ? name : name.slice(0, bang + 1);
}

/**
 * Per-name capacities: glob patterns (`*`, `?`, `[abc]`, `[!abc]`, matched against the whole
 * name, as Python's `fnmatch`) or RegExps (matched at the start of the name, as Python's
 * `re.match`: anchor with `$` for a whole-name match), each with the number of messages a
 * matching channel holds. The first pattern that matches wins, in the order given.
 *
 * @example
 * ```ts
 * { 'http.response!*': 10, 'websocket.send!*': 20 }
 * [[/^thumbnails/, 5], ['*', 100]]
 * ```
 */
export type ChannelCapacities =
  | Readonly<Record<string, number>>
  | Iterable<readonly [string | RegExp, number]>;

/** A compiled {@link ChannelCapacities}: `capacityOf(name)` gives the capacity of a channel. */
export class CapacityTable {
  private readonly patterns: [RegExp, number][] = [];
  private readonly cache = new Map<string, number>();

  /**
   * @param fallback the capacity of names no pattern matches.
   * @throws RangeError when a capacity is not a positive integer; TypeError for a bad pattern.
   */
  constructor(
    readonly fallback: number,
    capacities?: ChannelCapacities,
  ) {
    requireCapacity('capacity', fallback);
    if (capacities === undefined) return;
    const entries: Iterable<readonly [string | RegExp, number]> =
      Symbol.iterator in capacities
        ? (capacities as Iterable<readonly [string | RegExp, number]>)
        : Object.entries(capacities as Record<string, number>);
    for (const [pattern, capacity] of entries) {
      requireCapacity(`channelCapacity[${String(pattern)}]`, capacity);
      if (pattern instanceof RegExp) {
        // Sticky: match at the start only (re.match); a fresh RegExp keeps the caller's lastIndex out of it.
        this.patterns.push([new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '') + 'y'), capacity]);
      } else if (typeof pattern === 'string') {
        this.patterns.push([globToRegExp(pattern), capacity]);
      } else {
        throw new TypeError(`channelCapacity patterns must be strings (globs) or RegExps, not ${typeof pattern}`);
      }
    }
  }

  /** The capacity of channel `name`: the first matching pattern's, else the fallback. */
  capacityOf(name: string): number {
    if (this.patterns.length === 0) return this.fallback;
    let c = this.cache.get(name);
    if (c === undefined) {
      c = this.fallback;
      for (const [re, capacity] of this.patterns) {
        re.lastIndex = 0;
        if (re.test(name)) {
          c = capacity;
          break;
        }
      }
      // Names are cached so a hot channel is matched once; the cache is bounded (names are free-form).
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(name, c);
    }
    return c;
  }
}

function requireCapacity(what: string, n: unknown): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new RangeError(`${what} must be a positive integer, not ${String(n)}`);
  }
}

/** Python's `fnmatch.translate`: a glob as a RegExp matching whole names. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      let j = i + 1;
      if (glob[j] === '!') j++;
      if (glob[j] === ']') j++; // a ']' first in the set is a member, as in fnmatch
      const close = glob.indexOf(']', j);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^(?:${out})$`, 's');
}

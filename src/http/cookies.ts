/**
 * Cookies (RFC 6265): reading the `Cookie` request field and building
 * `Set-Cookie` values, with every attribute validated so a cookie can
 * never inject a header or an attribute.
 *
 * @module
 */
import { httpDate } from './date.js';

/** Attributes of a `Set-Cookie` (RFC 6265 §4.1, plus `SameSite` and `Partitioned`). */
export interface CookieOptions {
  /** `Expires`: a Date, or seconds since the epoch. */
  expires?: Date | number;
  /** `Max-Age` in whole seconds (0 or less deletes the cookie). */
  maxAge?: number;
  /** `Domain`. */
  domain?: string;
  /** `Path`. */
  path?: string;
  /** `Secure`: send only over HTTPS. */
  secure?: boolean;
  /** `HttpOnly`: hidden from scripts. */
  httpOnly?: boolean;
  /** `SameSite` (case-insensitive on input, written as `Strict`/`Lax`/`None`). */
  sameSite?: 'Strict' | 'Lax' | 'None' | 'strict' | 'lax' | 'none';
  /** `Partitioned` (CHIPS); browsers also require `Secure`. */
  partitioned?: boolean;
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E, optionally in double quotes.
const COOKIE_VALUE_RE = /^(?:[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")$/;
// Attribute values: any CHAR except CTLs and ';' (RFC 6265 av-octet).
const ATTR_VALUE_RE = /^[\x20-\x3a\x3c-\x7e]*$/;

/**
 * Build a `Set-Cookie` field value.
 *
 * The name must be a token and the value cookie-octets (no space, comma,
 * semicolon, backslash, double quote or control character — encode other
 * values yourself, e.g. with `encodeURIComponent`); `domain` and `path`
 * must not contain `;` or control characters.
 *
 * @throws TypeError for an invalid name, value or attribute (CR/LF included),
 *   a non-integer `maxAge`, an invalid date or `sameSite`.
 *
 * @example
 * ```ts
 * serializeCookie('sid', 'abc123', { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
 * // 'sid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax'
 * ```
 */
export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  if (typeof name !== 'string' || !TOKEN_RE.test(name)) {
    throw new TypeError(`invalid cookie name ${JSON.stringify(name)}`);
  }
  if (typeof value !== 'string' || !COOKIE_VALUE_RE.test(value)) {
    throw new TypeError(`invalid cookie value for ${name}: encode it first (e.g. encodeURIComponent)`);
  }
  let out = `${name}=${value}`;
  const { expires, maxAge, domain, path, secure, httpOnly, sameSite, partitioned } = options;
  if (expires !== undefined) {
    const seconds = expires instanceof Date ? expires.getTime() / 1000 : expires;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new TypeError('invalid cookie expiry date');
    out += `; Expires=${httpDate(seconds)}`;
  }
  if (maxAge !== undefined) {
    if (!Number.isInteger(maxAge)) throw new TypeError(`cookie maxAge must be an integer number of seconds, not ${String(maxAge)}`);
    out += `; Max-Age=${maxAge}`;
  }
  if (domain !== undefined) out += `; Domain=${attribute('domain', domain)}`;
  if (path !== undefined) out += `; Path=${attribute('path', path)}`;
  if (secure === true) out += '; Secure';
  if (httpOnly === true) out += '; HttpOnly';
  if (sameSite !== undefined) {
    const s = typeof sameSite === 'string' ? sameSite.toLowerCase() : '';
    if (s === 'strict') out += '; SameSite=Strict';
    else if (s === 'lax') out += '; SameSite=Lax';
    else if (s === 'none') out += '; SameSite=None';
    else throw new TypeError(`invalid cookie sameSite ${JSON.stringify(sameSite)}`);
  }
  if (partitioned === true) out += '; Partitioned';
  return out;
}

function attribute(what: string, value: string): string {
  if (typeof value !== 'string' || value === '' || !ATTR_VALUE_RE.test(value)) {
    throw new TypeError(`invalid cookie ${what} ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Parse `Cookie` field values into a name → value map (null prototype).
 *
 * Lenient, as browsers are: pairs are split on `;`, whitespace around
 * names and values is dropped, one pair of surrounding double quotes is
 * removed, pairs without `=` are skipped, and the first occurrence of a
 * name wins (RFC 6265 §5.4 puts the most specific path first). Values are
 * not percent-decoded.
 *
 * @example
 * ```ts
 * parseCookies(['a=1; b="two"', 'a=3']); // { a: '1', b: 'two' }
 * ```
 */
export function parseCookies(fieldValues: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const field of fieldValues) {
    for (const pair of field.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      const name = pair.slice(0, eq).trim();
      if (name === '' || name in out) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
        value = value.slice(1, -1);
      }
      out[name] = value;
    }
  }
  return out;
}

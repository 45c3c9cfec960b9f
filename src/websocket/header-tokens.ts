/**
 * Single-pass tokenizers for the handshake's header values (RFC 9110 §5.6, RFC 6455 §9.1).
 * No regular expressions: every loop is linear in the input, whatever the input is.
 *
 * @module
 */

/** A header list as the HTTP layer hands it over: `[lowercaseName, value]` pairs, in order. */
export type HeaderList = ReadonlyArray<readonly [string, string]>;

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

/** Whether `c` (a UTF-16 code unit) is an RFC 9110 `tchar`. */
export function isTokenChar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

/** Whether `s` is a non-empty RFC 9110 `token`. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** `s` without leading and trailing spaces and tabs. */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Every value of header `name` (lowercase), in order. */
export function headerValues(headers: HeaderList, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    if (h[0] === name) out.push(h[1]);
  }
  return out;
}

/**
 * Whether any comma-separated element of any of `values` equals `token` ignoring ASCII case
 * (after trimming spaces). `token` must be given in lowercase. Used for `Connection` and
 * `Upgrade`, whose other elements (`keep-alive`, `h2c`, `TLS/1.0`) are simply skipped.
 */
export function listHasToken(values: readonly string[], token: string): boolean {
  for (const value of values) {
    let start = 0;
    while (start <= value.length) {
      let end = value.indexOf(',', start);
      if (end === -1) end = value.length;
      let a = start;
      let b = end;
      while (a < b && isOws(value.charCodeAt(a))) a++;
      while (b > a && isOws(value.charCodeAt(b - 1))) b--;
      if (b - a === token.length && value.slice(a, b).toLowerCase() === token) return true;
      start = end + 1;
    }
  }
  return false;
}

/**
 * Parse `#token` lists (RFC 9110 §5.6.1: elements separated by commas with optional spaces;
 * empty elements ignored) from all `values`, appending the tokens to `out`.
 *
 * @returns `false` on a syntax error (a character that is neither a token character, a comma nor
 *   whitespace, or two tokens not separated by a comma).
 */
export function parseTokenList(values: readonly string[], out: string[]): boolean {
  for (const value of values) {
    const n = value.length;
    let i = 0;
    while (i < n) {
      const c = value.charCodeAt(i);
      if (isOws(c) || c === 0x2c) {
        i++;
        continue;
      }
      const start = i;
      while (i < n && isTokenChar(value.charCodeAt(i))) i++;
      if (i === start) return false;
      out.push(value.slice(start, i));
      while (i < n && isOws(value.charCodeAt(i))) i++;
      if (i < n) {
        if (value.charCodeAt(i) !== 0x2c) return false;
        i++;
      }
    }
  }
  return true;
}

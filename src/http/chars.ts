/**
 * Byte-class lookup tables for the HTTP/1.1 grammar (RFC 9110 §5.6, RFC 9112).
 *
 * Tables instead of regular expressions: one indexed load per byte in the hot
 * loops, no backtracking, and the same table serves both the parser (bytes)
 * and the serializer (char codes ≤ 0xFF).
 *
 * @internal
 * @module
 */

/** Carriage return. */
export const CR = 0x0d;
/** Line feed. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** Horizontal tab. */
export const HTAB = 0x09;
/** `:` */
export const COLON = 0x3a;
/** `;` */
export const SEMI = 0x3b;
/** `=` */
export const EQUALS = 0x3d;
/** `"` */
export const DQUOTE = 0x22;
/** `\` */
export const BACKSLASH = 0x5c;
/** `,` */
export const COMMA = 0x2c;

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~";

/** `tchar` (RFC 9110 §5.6.2): 1 for bytes allowed in a token. */
export const TOKEN: Uint8Array = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    TCHAR_SYMBOLS.includes(String.fromCharCode(c)),
);

/**
 * Bytes allowed inside a field value or a reason phrase: HTAB, SP, VCHAR and
 * obs-text (RFC 9110 §5.5). Excludes NUL, CR, LF, the other controls and DEL.
 */
export const FIELD_VALUE: Uint8Array = table(
  (c) => c === HTAB || (c >= 0x20 && c !== 0x7f),
);

/**
 * Bytes allowed in a request-target as received: visible ASCII only
 * (0x21–0x7E). Anything else (controls, space, DEL, bytes ≥ 0x80) means the
 * line is malformed or the target was not percent-encoded.
 */
export const TARGET: Uint8Array = table((c) => c > 0x20 && c < 0x7f);

/** `qdtext` (RFC 9110 §5.6.4): bytes allowed unescaped inside a quoted-string. */
export const QDTEXT: Uint8Array = table(
  (c) => c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80,
);

/** Bytes that may follow a backslash in a `quoted-pair`: HTAB, SP, VCHAR, obs-text. */
export const QUOTED_PAIR: Uint8Array = table((c) => c === HTAB || (c >= 0x20 && c !== 0x7f));

/** Hex digit value + 1 (0 = not a HEXDIG), so the table stays a Uint8Array. */
export const HEX1: Uint8Array = table(() => false);
for (let c = 0x30; c <= 0x39; c++) HEX1[c] = c - 0x30 + 1;
for (let c = 0x41; c <= 0x46; c++) HEX1[c] = c - 0x41 + 11;
for (let c = 0x61; c <= 0x66; c++) HEX1[c] = c - 0x61 + 11;

/**
 * Characters of an uri-host that is a reg-name or IPv4 address (RFC 3986
 * §3.2.2): unreserved, sub-delims and `%` (pct-encoded is checked separately).
 */
export const REG_NAME: Uint8Array = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    "-._~!$&'()*+,;=%".includes(String.fromCharCode(c)),
);

/** Characters inside an IP-literal's brackets: hex, `:`, `.`, plus IPvFuture's unreserved / sub-delims. */
export const IP_LITERAL: Uint8Array = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    "-._~!$&'()*+,;=:".includes(String.fromCharCode(c)),
);

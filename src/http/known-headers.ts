/**
 * The table of well-known field names, so the parser can name a header
 * without allocating a string: the bytes are matched case-insensitively
 * against this table and the interned lower-case (and, when the bytes match
 * it exactly, the interned as-received) string is reused.
 *
 * @internal
 * @module
 */

/** A well-known field name. */
export interface KnownHeader {
  /** The lower-case name (interned). */
  readonly lower: string;
  /** The usual spelling on the wire (interned), e.g. `Content-Length`. */
  readonly canon: string;
  /** Lower-case bytes. */
  readonly lowerBytes: Uint8Array;
  /** Usual-spelling bytes. */
  readonly canonBytes: Uint8Array;
  /** A small integer identifying headers the parser interprets (see `H_*`), else 0. */
  readonly id: number;
}

/** Not interpreted by the parser. */
export const H_OTHER = 0;
/** `content-length` */
export const H_CONTENT_LENGTH = 1;
/** `transfer-encoding` */
export const H_TRANSFER_ENCODING = 2;
/** `host` */
export const H_HOST = 3;
/** `connection` */
export const H_CONNECTION = 4;
/** `upgrade` */
export const H_UPGRADE = 5;
/** `expect` */
export const H_EXPECT = 6;

const SPECIAL: Record<string, number> = {
  'content-length': H_CONTENT_LENGTH,
  'transfer-encoding': H_TRANSFER_ENCODING,
  host: H_HOST,
  connection: H_CONNECTION,
  upgrade: H_UPGRADE,
  expect: H_EXPECT,
};

// Usual spellings. The lower-case form is derived.
const NAMES = [
  'Host', 'Connection', 'Content-Length', 'Transfer-Encoding', 'Upgrade', 'Expect', 'Keep-Alive',
  'Accept', 'Accept-Encoding', 'Accept-Language', 'Accept-Charset', 'Accept-Ranges', 'User-Agent',
  'Content-Type', 'Content-Encoding', 'Content-Language', 'Content-Location', 'Content-Range',
  'Content-Disposition', 'Content-Security-Policy', 'Cookie', 'Set-Cookie', 'Authorization',
  'Proxy-Authorization', 'Proxy-Authenticate', 'WWW-Authenticate', 'Cache-Control', 'Pragma',
  'Referer', 'Origin', 'Date', 'ETag', 'Last-Modified', 'If-Modified-Since', 'If-None-Match',
  'If-Match', 'If-Unmodified-Since', 'If-Range', 'Range', 'Location', 'Server', 'Vary', 'Via', 'TE',
  'Trailer', 'Age', 'Allow', 'Expires', 'Retry-After', 'Link', 'Forwarded', 'Priority', 'DNT',
  'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Extensions', 'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Accept', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Real-IP',
  'X-Requested-With', 'X-Request-ID', 'X-Powered-By', 'X-Content-Type-Options', 'X-Frame-Options',
  'Upgrade-Insecure-Requests', 'Sec-Fetch-Site', 'Sec-Fetch-Mode', 'Sec-Fetch-Dest', 'Sec-Fetch-User',
  'Sec-CH-UA', 'Sec-CH-UA-Mobile', 'Sec-CH-UA-Platform', 'Strict-Transport-Security',
  'Access-Control-Allow-Origin', 'Access-Control-Allow-Methods', 'Access-Control-Allow-Headers',
  'Access-Control-Allow-Credentials', 'Access-Control-Expose-Headers', 'Access-Control-Max-Age',
  'Access-Control-Request-Method', 'Access-Control-Request-Headers', 'Traceparent', 'Tracestate',
];

function bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const MAX_KNOWN_LENGTH = 63;
// Bucket index: (length << 5) | (first letter & 31); letters fold to 1..26.
const BUCKETS: (KnownHeader[] | undefined)[] = new Array((MAX_KNOWN_LENGTH + 1) << 5);
const BY_LOWER = new Map<string, KnownHeader>();

for (const canon of NAMES) {
  const lower = canon.toLowerCase();
  const entry: KnownHeader = {
    lower,
    canon,
    lowerBytes: bytes(lower),
    canonBytes: bytes(canon),
    id: SPECIAL[lower] ?? H_OTHER,
  };
  const key = (lower.length << 5) | (lower.charCodeAt(0) & 31);
  (BUCKETS[key] ??= []).push(entry);
  BY_LOWER.set(lower, entry);
}

/**
 * Find the well-known header whose name is `buf[start, end)`, ignoring ASCII
 * case. The bytes must already be a valid token (the fold `| 0x20` is only
 * exact for letters, digits and `-`, which is all the table holds).
 */
export function lookupKnownHeader(buf: Uint8Array, start: number, end: number): KnownHeader | undefined {
  const len = end - start;
  if (len > MAX_KNOWN_LENGTH || len === 0) return undefined;
  const list = BUCKETS[(len << 5) | (buf[start]! & 31)];
  if (list === undefined) return undefined;
  outer: for (let k = 0; k < list.length; k++) {
    const e = list[k]!;
    const lb = e.lowerBytes;
    for (let i = 0; i < len; i++) {
      if ((buf[start + i]! | 0x20) !== lb[i]) continue outer;
    }
    return e;
  }
  return undefined;
}

/** The well-known entry for a lower-case name, if any. */
export function knownHeaderByLower(lower: string): KnownHeader | undefined {
  return BY_LOWER.get(lower);
}

/** True when `buf[start, start + b.length)` equals `b` exactly. */
export function bytesEqual(buf: Uint8Array, start: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (buf[start + i] !== b[i]) return false;
  return true;
}

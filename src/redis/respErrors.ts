/**
 * The two kinds of error the RESP codec deals in.
 *
 * - {@link RedisReplyError}: Redis *answered* with an error (`-ERR …`, `!21\r\nSYNTAX …`). It is a
 *   value in the reply stream, like any other reply: the connection is fine and the next reply
 *   follows. Inside an aggregate (the replies of `EXEC`, a Lua table) it appears as an element.
 * - {@link RespProtocolError}: the bytes are not RESP, or break a configured limit. The parser
 *   that raised it is terminal and the connection must be dropped: there is no way to find the
 *   start of the next reply in a corrupt stream.
 *
 * @module
 */

/**
 * Stable identifiers of every protocol failure. Tests and logs match on these; the message text
 * may change, the code does not.
 */
export type RespProtocolErrorCode =
  /** A LF not preceded by CR. */
  | 'BARE_LF'
  /** A CR not followed by LF. */
  | 'BARE_CR'
  /** A type line (simple string, error, number…) longer than `maxLineLength`. */
  | 'LINE_TOO_LONG'
  /** A first byte that is no RESP2/RESP3 type (or an empty line). */
  | 'INVALID_TYPE'
  /** A RESP3 streamed string or aggregate (`$?`, `*?`, `;`, `.`), which Redis never sends. */
  | 'UNSUPPORTED_TYPE'
  /** A length or count that is not `-1` (where a null is allowed) or a run of decimal digits. */
  | 'INVALID_LENGTH'
  /** A bulk string, bulk error or verbatim string longer than `maxBulkLength`. */
  | 'BULK_TOO_LONG'
  /** An array, set, map, attribute or push with more elements than `maxArrayLength`. */
  | 'ARRAY_TOO_LONG'
  /** Aggregates nested deeper than `maxDepth`. */
  | 'TOO_DEEP'
  /** The two bytes after a bulk payload are not CRLF. */
  | 'MISSING_CRLF'
  /** A `:` number that is not a signed 64-bit decimal integer. */
  | 'INVALID_INTEGER'
  /** A `,` double that is not a decimal floating-point number, `inf`, `-inf` or `nan`. */
  | 'INVALID_DOUBLE'
  /** A `#` boolean other than `#t` or `#f`. */
  | 'INVALID_BOOLEAN'
  /** A `(` big number that is not a decimal integer. */
  | 'INVALID_BIG_NUMBER'
  /** A `_` null line with anything after the underscore. */
  | 'INVALID_NULL'
  /** A `=` verbatim string without its three-byte format and colon. */
  | 'INVALID_VERBATIM'
  /** A `>` push inside an aggregate: pushes are out of band, only ever at the top level. */
  | 'NESTED_PUSH';

/**
 * The peer sent bytes that are not RESP, or broke a limit of the parser (`maxBulkLength`,
 * `maxArrayLength`, `maxLineLength`, `maxDepth`).
 *
 * The parser that raised it is terminal: every later `nextEvent()` throws this same error and
 * input is ignored. Close the connection; a reply in flight can never be matched to its command.
 */
export class RespProtocolError extends Error {
  override name = 'RespProtocolError';
  constructor(
    /** Which rule was broken. */
    readonly code: RespProtocolErrorCode,
    message: string,
    /** Offset of the offending reply line in the stream (bytes since the parser was created). */
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
  }
}

// An error code is the reply's first word when that word is upper case ("ERR", "WRONGTYPE",
// "NOSCRIPT", "MOVED", "BUSYGROUP", "NOPERM"…), as the RESP3 spec describes.
const CODE = /^[A-Z][A-Z0-9_]*(?=\s|$)/;

/**
 * An error reply from Redis: a simple error (`-WRONGTYPE Operation against a key…`) or a RESP3
 * bulk error (`!21\r\nSYNTAX invalid syntax`).
 *
 * The parser produces it as a *value*, it never throws it; a client errbacks the command's
 * Deferred with it. `message` is the whole text Redis sent; `code` is its first word when that
 * word is upper case (`'ERR'`, `'WRONGTYPE'`, `'NOSCRIPT'`, `'MOVED'`, `'ASK'`, `'LOADING'`,
 * `'READONLY'`, `'NOAUTH'`, `'EXECABORT'`…), or `''` when the text does not start with one
 * (a Lua `redis.error_reply('oops')`, say).
 *
 * @example
 * ```ts
 * const e = new RedisReplyError('MOVED 3999 127.0.0.1:6381');
 * e.code;   // 'MOVED'
 * e.detail; // '3999 127.0.0.1:6381'
 * ```
 */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
  /** The upper-case error code (`'ERR'`, `'WRONGTYPE'`…), or `''` when there is none. */
  readonly code: string;
  /** The text after the code and one space (the whole message when there is no code). */
  readonly detail: string;

  constructor(message: string) {
    super(message);
    const m = CODE.exec(message);
    this.code = m === null ? '' : m[0];
    this.detail = m === null ? message : message.slice(m[0].length + 1);
  }
}

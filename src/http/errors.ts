/**
 * The errors the HTTP/1.1 core raises.
 *
 * - {@link HttpParseError}: the *peer* sent something we refuse. It carries
 *   the status to answer with and always means "close the connection after
 *   answering" — a framing error is never resynchronised.
 * - {@link HttpStateError}: *our* side asked the serializer for something
 *   HTTP/1.1 forbids (a body on a 204, more bytes than the Content-Length, a
 *   message after the connection must close…). A programming error.
 * - Header injection (CR, LF, NUL, non-latin1 characters in outgoing names or
 *   values, a method that is not a token, …) is refused with a plain
 *   `TypeError`, like Node's own `http` module.
 *
 * @module
 */

/**
 * Stable identifiers of every parse failure. Tests and logs match on these;
 * the message text may change, the code does not.
 */
export type HttpParseErrorCode =
  // line endings
  | 'BARE_CR'
  | 'BARE_LF'
  // start lines
  | 'INVALID_REQUEST_LINE'
  | 'INVALID_METHOD'
  | 'INVALID_TARGET'
  | 'TARGET_TOO_LONG'
  | 'INVALID_VERSION'
  | 'UNSUPPORTED_VERSION'
  | 'INVALID_STATUS_LINE'
  | 'INVALID_STATUS'
  // field lines
  | 'INVALID_HEADER_TOKEN'
  | 'WHITESPACE_BEFORE_COLON'
  | 'OBS_FOLD'
  | 'INVALID_HEADER_VALUE'
  | 'HEAD_TOO_LARGE'
  | 'TOO_MANY_HEADERS'
  // Host
  | 'HOST_MISSING'
  | 'HOST_REPEATED'
  | 'HOST_INVALID'
  // framing
  | 'CL_INVALID'
  | 'CL_OVERFLOW'
  | 'CL_REPEATED'
  | 'CL_TE_CONFLICT'
  | 'TE_REPEATED'
  | 'TE_INVALID'
  | 'TE_UNSUPPORTED'
  | 'TE_HTTP10'
  | 'BODY_TOO_LARGE'
  // chunked coding
  | 'INVALID_CHUNK_SIZE'
  | 'CHUNK_SIZE_OVERFLOW'
  | 'CHUNK_SIZE_LINE_TOO_LONG'
  | 'INVALID_CHUNK_EXTENSION'
  | 'CHUNK_EXTENSIONS_TOO_LARGE'
  | 'INVALID_CHUNK_DATA_END'
  | 'TRAILERS_TOO_LARGE'
  // connection
  | 'UNEXPECTED_EOF'
  | 'UNSOLICITED_RESPONSE';

/**
 * The peer sent bytes that are not acceptable HTTP/1.1.
 *
 * The parser that raised it is in a terminal state: it never parses another
 * byte (no resynchronisation on the next CRLF, which is how request
 * smuggling works). A server answers with {@link status} — a ready response
 * is not built here — and then closes the connection; a client closes.
 *
 * `status` is the code a server should answer with: 400 for malformed
 * input, 413 for oversized bodies or chunk extensions, 414 for a too-long
 * request target, 431 for a too-large header section or too many fields,
 * 501 for a transfer coding we do not implement, 505 for an HTTP version
 * other than 1.x. On a response parser (client side) the status only
 * classifies the failure; there is nobody to answer.
 *
 * @example
 * ```ts
 * try {
 *   parser.receiveData(chunk);
 *   for (let ev = parser.nextEvent(); typeof ev === 'object'; ev = parser.nextEvent()) handle(ev);
 * } catch (err) {
 *   if (!(err instanceof HttpParseError)) throw err;
 *   transport.write(errorResponseFor(err.status)); // built by the server layer
 *   transport.loseConnection();
 * }
 * ```
 */
export class HttpParseError extends Error {
  override name = 'HttpParseError';
  /** Always true: after a framing error the connection cannot be reused. */
  readonly closeConnection = true as const;
  constructor(
    /** Stable machine-readable reason. */
    readonly code: HttpParseErrorCode,
    /** The HTTP status to answer with (400, 413, 414, 431, 501 or 505). */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Stable identifiers of serializer state errors. */
export type HttpStateErrorCode =
  | 'WRONG_STATE'
  | 'BODY_NOT_ALLOWED'
  | 'TOO_MUCH_DATA'
  | 'TOO_LITTLE_DATA'
  | 'FRAMING_CONFLICT'
  | 'UNSUPPORTED_TRANSFER_ENCODING'
  | 'INVALID_CONTENT_LENGTH'
  | 'INVALID_STATUS'
  | 'HOST_MISSING';

/**
 * Our side misused the serializer: the requested message would break HTTP/1.1
 * framing (h11 calls this a LocalProtocolError). Nothing was produced for the
 * call that threw; the serializer's state is unchanged, except after
 * `TOO_LITTLE_DATA` at `end`, when the message cannot be completed and the
 * connection must be closed.
 */
export class HttpStateError extends Error {
  override name = 'HttpStateError';
  constructor(
    /** Stable machine-readable reason. */
    readonly code: HttpStateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Errors raised by the WebSocket core. Each carries what the peer should be told: a close code
 * for a protocol error, an HTTP status for a failed handshake.
 *
 * @module
 */

/**
 * Stable identifiers of protocol errors, one per rule the parser enforces.
 */
export type WebSocketErrorCode =
  | 'WS_ERR_UNEXPECTED_RSV'
  | 'WS_ERR_INVALID_OPCODE'
  | 'WS_ERR_UNEXPECTED_CONTINUATION'
  | 'WS_ERR_EXPECTED_CONTINUATION'
  | 'WS_ERR_FRAGMENTED_CONTROL'
  | 'WS_ERR_CONTROL_TOO_LONG'
  | 'WS_ERR_EXPECTED_MASK'
  | 'WS_ERR_UNEXPECTED_MASK'
  | 'WS_ERR_NON_MINIMAL_LENGTH'
  | 'WS_ERR_INVALID_LENGTH'
  | 'WS_ERR_INVALID_CLOSE_PAYLOAD'
  | 'WS_ERR_INVALID_CLOSE_CODE'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_MESSAGE_TOO_BIG'
  | 'WS_ERR_TOO_MANY_FRAGMENTS'
  | 'WS_ERR_TOO_MANY_CHUNKS'
  | 'WS_ERR_INVALID_COMPRESSED_DATA';

/**
 * A violation of RFC 6455 by the peer (or of a configured limit). The connection must be failed
 * by sending a close frame with {@link WebSocketProtocolError.closeCode} (1002 protocol error,
 * 1007 invalid UTF-8, 1008 policy, 1009 too big) and closing the transport.
 *
 * The parser never throws it: it is handed to the handler's `onError` (or queued as an
 * `error` event by the connection).
 */
export class WebSocketProtocolError extends Error {
  /** The close code to send to the peer. */
  readonly closeCode: number;
  /** Which rule was broken. */
  readonly code: WebSocketErrorCode;

  constructor(code: WebSocketErrorCode, closeCode: number, message: string) {
    super(message);
    this.name = 'WebSocketProtocolError';
    this.code = code;
    this.closeCode = closeCode;
  }
}

/**
 * A failed opening handshake. On the server side it describes the HTTP response to send
 * (`status`, `headers`); on the client side it says why the server's response was refused
 * (`status` is the status the server sent, or 0 when the status was fine but a header was not).
 */
export class WebSocketHandshakeError extends Error {
  /** HTTP status: the one to answer with (server side) or the one received (client side). */
  readonly status: number;
  /** Extra response headers to send with the rejection (e.g. `Sec-WebSocket-Version: 13`). */
  readonly headers: ReadonlyArray<readonly [string, string]>;

  constructor(status: number, message: string, headers: ReadonlyArray<readonly [string, string]> = []) {
    super(message);
    this.name = 'WebSocketHandshakeError';
    this.status = status;
    this.headers = headers;
  }
}

/**
 * A local misuse of a connection: sending after a close frame was sent (or the connection
 * failed or ended). Thrown synchronously by the sending method; nothing is queued. (Values the
 * protocol cannot carry — a close reason over 123 bytes, a control payload over 125 bytes, an
 * invalid close code — are `RangeError`s from the serializer.)
 */
export class WebSocketStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebSocketStateError';
  }
}

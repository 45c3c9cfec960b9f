/**
 * Wire constants of RFC 6455 shared by the parser, the serializer and the handshake.
 *
 * @module
 */

/** The GUID appended to `Sec-WebSocket-Key` before hashing (RFC 6455 §1.3). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version this implementation speaks (`Sec-WebSocket-Version: 13`). */
export const WEBSOCKET_VERSION = '13';

/**
 * Frame opcodes (RFC 6455 §5.2). 3–7 and 11–15 are reserved and rejected with close 1002.
 */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
/** One of the defined {@link Opcode} values. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/**
 * Close status codes (RFC 6455 §7.4.1 and the IANA registry). `NoStatus` (1005) and
 * `Abnormal` (1006) and `TlsHandshake` (1015) are reported locally and never appear on the wire.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  TlsHandshake: 1015,
} as const;

/** Largest payload of a control frame (ping, pong, close), RFC 6455 §5.5. */
export const MAX_CONTROL_PAYLOAD = 125;

/** Largest close reason in UTF-8 bytes: 125 minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Default cap on one message (sum of its frames' payloads): 16 MiB. Exceeding it → 1009. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/**
 * Default cap on the number of frames in one message: 131072. Exceeding it → 1008.
 * Autobahn 9.3.1 sends 4 MiB as 65536 frames of 64 bytes, so the cap must be above that.
 */
export const DEFAULT_MAX_FRAGMENTS = 131072;

/**
 * Default cap on the number of separate buffers retained for one message being
 * reassembled: 65536. Exceeding it → 1008. Small slices are coalesced into 16 KiB blocks, so with
 * the default message size this cap is never reached by honest traffic; it bounds the
 * per-buffer overhead when `maxMessageSize` is raised.
 */
export const DEFAULT_MAX_BUFFERED_CHUNKS = 65536;

/**
 * Whether `code` may be sent or received in a close frame: 1000–1014 except 1004, 1005 and 1006,
 * and 3000–4999 (registered and private use). Everything else (0–999, 1015–2999, ≥ 5000) is a
 * protocol error when received.
 *
 * @example
 * ```ts
 * isValidCloseCode(1000); // true
 * isValidCloseCode(1005); // false: "no status" is never on the wire
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  if (code >= 1000 && code <= 1014) return code !== 1004 && code !== 1005 && code !== 1006;
  return code >= 3000 && code <= 4999;
}

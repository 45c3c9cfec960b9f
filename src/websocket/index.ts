/**
 * `spindle/websocket`: the sans-IO WebSocket core — frame parser and serializer, a connection
 * state machine, UTF-8 validation, masking, and the opening handshake (RFC 6455, with
 * permessage-deflate negotiation from RFC 7692). No sockets, no timers.
 *
 * @module
 */
export {
  CloseCode,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_MESSAGE_SIZE,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
  isValidCloseCode,
} from './constants.js';
export { WebSocketHandshakeError, WebSocketProtocolError, WebSocketStateError, type WebSocketErrorCode } from './errors.js';
export { Utf8Validator, isValidUtf8 } from './utf8.js';
export { RandomMaskSource, applyMask, defaultMaskSource, type MaskSource } from './mask.js';
export { FrameParser, type FrameHandler, type FrameParserOptions, type WebSocketRole } from './frame-parser.js';
export {
  MERGE_THRESHOLD,
  PreparedMessage,
  encodeCloseFrame,
  encodeControlFrame,
  encodeFrame,
  frameHeaderLength,
  prepareMessage,
  writeFrameHeader,
  type FrameOptions,
} from './frame-serializer.js';
export {
  WebSocketConnection,
  type ConnectionState,
  type SendOptions,
  type WebSocketConnectionOptions,
  type WebSocketEvent,
} from './connection.js';
export { type HeaderList, isToken, listHasToken, parseTokenList } from './header-tokens.js';
export { formatExtension, parseExtensions, type ExtensionOffer, type ExtensionParam } from './extensions.js';
export {
  MIN_COMPRESS_WINDOW_BITS,
  PERMESSAGE_DEFLATE,
  acceptPerMessageDeflateResponse,
  deflateConfigFor,
  formatPerMessageDeflateOffer,
  negotiatePerMessageDeflate,
  type DeflateConfig,
  type DeflateNegotiation,
  type PerMessageDeflateClientOptions,
  type PerMessageDeflateParams,
  type PerMessageDeflateServerOptions,
} from './deflate-negotiation.js';
export {
  acceptUpgrade,
  buildAcceptHeaders,
  computeAcceptKey,
  createClientHandshake,
  generateKey,
  isValidKey,
  selectSubprotocol,
  validateServerResponse,
  validateUpgradeRequest,
  type ClientHandshake,
  type ClientHandshakeOptions,
  type ClientHandshakeResult,
  type HandshakeAcceptance,
  type HandshakeRejection,
  type HandshakeResponse,
  type ServerHandshakeOptions,
  type UpgradeOffer,
  type UpgradeRequest,
} from './handshake.js';
export {
  DEFAULT_DEFLATE_THRESHOLD,
  DEFAULT_MAX_INFLATED_SIZE,
  DeflateClosedError,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from './deflate.js';
export { DEFAULT_ZLIB_CONCURRENCY, getZlibConcurrency, setZlibConcurrency } from './zlib-limiter.js';

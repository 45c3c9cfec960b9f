/**
 * `spindle/websocket`: WebSocket servers and clients (`WebSocketServerFactory`, `connectWebSocket`,
 * the `WebSocket` object, `broadcast`) over the sans-IO core — frame parser and serializer, a connection
 * state machine, UTF-8 validation, masking, and the opening handshake (RFC 6455, with
 * permessage-deflate from RFC 7692). The core has no sockets and no timers; the protocols take
 * theirs from a reactor.
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
export {
  ReadyState,
  WebSocket,
  WebSocketClosedError,
  WebSocketRequest,
  broadcast,
  type CloseInfo,
  type WebSocketData,
  type WebSocketHandlers,
  type WebSocketSendOptions,
  type SocketDriver,
} from './socket.js';
export { WEBSOCKET_DEFAULTS, WebSocketProtocol, type WebSocketOptions, type OpenParams } from './protocol.js';
export {
  WebSocketResource,
  WebSocketServerFactory,
  WebSocketServerProtocol,
  acceptHandshake,
  rejectHandshake,
  webSocketHandler,
  type HandshakeDecision,
  type HandshakeResult,
  type ServerDeflateOptions,
  type UpgradableRequest,
  type UpgradeOutcome,
  type UpgradeRequestHead,
  type WebSocketServerOptions,
} from './server.js';
export {
  WebSocketClientProtocol,
  connectWebSocket,
  parseWebSocketUrl,
  type ClientDeflateOptions,
  type WebSocketClientOptions,
  type WebSocketClientProtocolOptions,
  type WebSocketTarget,
} from './client.js';

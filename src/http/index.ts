/**
 * `spindle/http`: HTTP/1.1 for Spindle.
 *
 * This entry point currently holds the sans-IO core — a strict incremental
 * parser for requests and responses and a serializer that enforces the
 * framing invariants — on which the server protocol (HTTPChannel,
 * Request, Site) and the client (Agent) are built.
 *
 * @module
 */
export { HttpParseError, HttpStateError } from './errors.js';
export type { HttpParseErrorCode, HttpStateErrorCode } from './errors.js';
export { HeaderList } from './headers.js';
export {
  DEFAULT_PARSER_LIMITS,
  HttpParserBase,
  NEED_DATA,
  PAUSED,
  RequestParser,
  ResponseParser,
} from './parser.js';
export type {
  BodyData,
  ConnectionClosed,
  EndOfMessage,
  HttpParserOptions,
  InformationalResponse,
  ParserHandler,
  ParserState,
  RequestEvent,
  RequestHead,
  ResponseEvent,
  ResponseHead,
} from './parser.js';
export { HttpSerializerBase, RequestSerializer, ResponseSerializer } from './serializer.js';
export type {
  BodyFraming,
  BodyInit,
  OutgoingData,
  OutgoingEnd,
  OutgoingHeaders,
  OutgoingInformational,
  OutgoingRequest,
  OutgoingResponse,
  RequestInfo,
  SerializerState,
} from './serializer.js';
export { STATUS_REASONS, cachedStatusLine, reasonPhrase } from './status.js';

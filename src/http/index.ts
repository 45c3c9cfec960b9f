/**
 * `spindle/http`: HTTP/1.1 for Spindle.
 *
 * The sans-IO core — a strict incremental parser for requests and
 * responses and a serializer that enforces the framing invariants — and
 * the server built on it: the protocol (HTTPChannel, HTTPFactory), the
 * Request, resource trees (Site, Resource), the Router, static files
 * (File), and helpers to test handlers without I/O (createTestRequest,
 * render).
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

// The server: HTTPChannel, Request, Site and resources, Router, testing helpers.
export { HTTPChannel, HTTPFactory, HTTP_SERVER_DEFAULTS } from './channel.js';
export type { HTTPFactoryOptions, RequestHandler, ResolvedOptions } from './channel.js';
export {
  DEFAULT_MAX_BODY_SIZE,
  HttpError,
  Request,
  RequestBodyTooLarge,
  RequestTimeout,
  decodePath,
  errorPage,
  escapeHtml,
  statusOfError,
} from './request.js';
export type { BodyReceiver, UpgradeOptions } from './request.js';
export { DateCache, httpDate, parseHttpDate } from './date.js';
export { parseCookies, serializeCookie } from './cookies.js';
export type { CookieOptions } from './cookies.js';
export {
  ACCESS_LOG_NAMESPACE,
  accessLogSink,
  clfTimestamp,
  escapeLogValue,
  formatCombinedLogLine,
} from './accessLog.js';
export type { AccessLogEntry, AccessLogOption } from './accessLog.js';
export {
  DEFAULT_CONTENT_TYPE,
  ErrorPage,
  ForbiddenResource,
  NOT_DONE_YET,
  NoResource,
  Resource,
  Site,
  getChildForRequest,
  renderRequest,
  respondWith,
} from './site.js';
export type { RenderResult, SiteOptions } from './site.js';
export { Router, compilePattern } from './router.js';
export type { ErrorHook, Route, RouteHandler, RouteMatch, RouteOptions } from './router.js';
export { createTestRequest, render, responseOf } from './testing.js';
export type { RenderTarget, TestRequestOptions, TestResponse } from './testing.js';
export * from './client/index.js';
export { File, MIME_TYPES, parseByteRanges } from './static.js';
export type { ByteRange, FileOptions } from './static.js';

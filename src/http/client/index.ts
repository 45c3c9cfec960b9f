/**
 * The HTTP/1.1 client: {@link Agent} (requests by URL over a
 * {@link HTTPConnectionPool}), {@link Response} with a streamed body,
 * {@link readBody}, {@link RedirectAgent}, {@link ContentDecoderAgent}, and
 * the `get`/`post`/`getJSON`/`postJSON` conveniences.
 *
 * @module
 */
export { Agent, normalizeHeaders, parseRequestURL } from './agent.js';
export type { AgentOptions, AgentReactor, IAgent, RequestHeaders } from './agent.js';
export { ContentDecoderAgent, decodeResponse } from './decode.js';
export type { ContentCoding, ContentDecoderOptions } from './decode.js';
export {
  ConnectionAborted,
  ContentDecodingError,
  DecompressedBodyTooLarge,
  HTTPStatusError,
  InfiniteRedirection,
  RedirectBodyNotReplayable,
  RedirectError,
  RequestGenerationFailed,
  RequestNotSent,
  RequestTransmissionFailed,
  ResponseBodyTooLarge,
  ResponseDone,
  ResponseFailed,
  ResponseNeverReceived,
  SchemeNotSupported,
  WrapperError,
} from './errors.js';
export { defaultAgent, get, getJSON, post, postJSON } from './json.js';
export type { SimpleRequestOptions, SimpleResponse } from './json.js';
export { HTTPConnectionPool, shouldRetry } from './pool.js';
export type { HTTPConnectionPoolOptions } from './pool.js';
export { HTTP11ClientProtocol, isReplayableBody } from './protocol.js';
export type {
  ClientProtocolOptions,
  ClientProtocolState,
  ClientRequest,
  IBodyConsumer,
  IBodyProducer,
  IHTTPConnection,
  RequestBody,
} from './protocol.js';
export { DEFAULT_MAX_RESPONSE_BODY_SIZE, readBody } from './readBody.js';
export type { ReadBodyOptions } from './readBody.js';
export { RedirectAgent } from './redirect.js';
export type { RedirectAgentOptions } from './redirect.js';
export { BODY_BUFFER_HIGH_WATER, Response } from './response.js';
export type { IBodyProtocol, ResponseInit, SentRequest } from './response.js';

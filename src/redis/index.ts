/**
 * `spindle/redis`: talking to Redis without a dependency. For now, the pure codecs: RESP
 * (the Redis protocol: an incremental reply parser and a command encoder) and msgpack (the
 * encoding of channels_redis messages). No sockets, no timers.
 *
 * @module
 */
export {
  DEFAULT_RESP_MAX_ARRAY_LENGTH,
  DEFAULT_RESP_MAX_BULK_LENGTH,
  DEFAULT_RESP_MAX_DEPTH,
  DEFAULT_RESP_MAX_LINE_LENGTH,
  RespParser,
  encodeCommand,
  encodeCommands,
  type RespArg,
  type RespEvent,
  type RespParserOptions,
  type RespValue,
} from './resp.js';
export { RedisReplyError, RespProtocolError, type RespProtocolErrorCode } from './respErrors.js';
export * from './msgpack/index.js';

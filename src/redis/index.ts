/**
 * `spindle/redis`: talking to Redis without a dependency. The pure codecs — RESP (the Redis
 * protocol: an incremental reply parser and a command encoder) and msgpack (the encoding of
 * channels_redis messages) — and the client built on them: a pipelining protocol, a
 * reconnecting connection (`connectRedis`), blocking commands on connections of their own,
 * and pub/sub that resubscribes after a reconnection.
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

// The client.
export {
  RedisClient,
  RedisScript,
  RedisConnectionLost,
  RedisNotConnected,
  RedisTimeoutError,
  evalWithFallback,
  type CommandOptions,
  type PendingCommand,
  type RedisClientOptions,
  type RedisNotConnectedReason,
} from './client.js';
export {
  connectRedis,
  parseRedisUrl,
  describeRedisAddress,
  RedisConnection,
  ReconnectingRedis,
  type RedisAddress,
  type RedisConnectionOptions,
  type RedisConnectionState,
  type RedisReactor,
} from './connect.js';
export { RedisBlockingPool, type RedisBlockingPoolOptions, type PoppedMember } from './blocking.js';
export {
  RedisSubscriber,
  RedisPubSub,
  connectRedisPubSub,
  type PubSubHandler,
  type PubSubMessage,
} from './pubsub.js';

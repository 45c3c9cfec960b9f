/**
 * `spindle/channels`: ASGI-style applications, consumers, routers and channel layers.
 * @module
 */

// Shared ASGI and channel-layer types.
export type {
  ASGIApplication,
  ASGIEvent,
  ASGIVersions,
  ChannelLayer,
  Headers,
  Message,
  Receive,
  Scope,
  ScopeSession,
  Send,
  URLRoute,
} from './types.js';

// Channel layers.
export {
  InMemoryChannelLayer,
  type InMemoryChannelLayerOptions,
  type ChannelLayerStats,
} from './layers/inMemory.js';
export { ChannelFull, ChannelLayerClosed } from './layers/errors.js';
export {
  RedisChannelLayer,
  type RedisChannelLayerOptions,
  type RedisChannelLayerStats,
  type RedisHost,
} from './layers/redis.js';
export {
  RedisPubSubChannelLayer,
  type RedisPubSubChannelLayerOptions,
  type RedisPubSubChannelLayerStats,
} from './layers/redisPubSub.js';
export { Fernet, MultiFernet, InvalidToken, fernetForSecrets, type FernetDecryptOptions } from './layers/fernet.js';
export { consistentHash, crc32 } from './layers/sharding.js';
export {
  MAX_NAME_LENGTH,
  requireValidChannelName,
  requireValidGroupName,
  requireValidMessage,
  nonLocalName,
  CapacityTable,
  type ChannelCapacities,
} from './layers/names.js';

// Routing.
export { protocolTypeRouter, type ProtocolTypeApplications } from './routing/protocolTypeRouter.js';
export { urlRouter, path, rePath, Route } from './routing/urlRouter.js';
export { registerConverter, type PathConverter } from './routing/converters.js';
export { channelNameRouter } from './routing/channelNameRouter.js';

// Middleware.
export { originValidator, allowedHostsOriginValidator } from './middleware/origin.js';
export {
  cookieMiddleware,
  cookiesOf,
  setCookie,
  deleteCookie,
  type CookieOptions,
  type DeleteCookieOptions,
} from './middleware/cookies.js';
export {
  sessionMiddleware,
  MemorySessionStore,
  type SessionStore,
  type SessionData,
  type SessionSecret,
  type SessionMiddlewareOptions,
  type MemorySessionStoreOptions,
} from './middleware/sessions.js';
export { respondText, denyWebsocket } from './deny.js';

// ASGI server rules: sans-IO state machines, the app runner, lifespan.
export {
  ASGIProtocolError,
  ASGIConnectionClosed,
  ApplicationCloseTimeoutError,
  LifespanStartupFailed,
  LifespanShutdownFailed,
} from './asgi/errors.js';
export { QueueConnection, type ASGIConnection } from './asgi/connection.js';
export { HttpCycle, type HttpAction, type HttpActionHandler, type HttpCycleOptions } from './asgi/httpCycle.js';
export {
  WebsocketCycle,
  type WebsocketAction,
  type WebsocketActionHandler,
  type WebsocketCycleOptions,
  type ImmediateSender,
  type WebsocketState,
} from './asgi/websocketCycle.js';
export { AppRunner, type AppRunnerOptions, type AppOutcome } from './asgi/appRunner.js';
export { CloseTimeouts, CloseTimeout } from './asgi/closeTimeouts.js';
export { Lifespan, type LifespanOptions } from './asgi/lifespan.js';

// Consumers.
export { AsyncConsumer, type ConsumerAppOptions, type ConsumerApplication } from './consumers/asyncConsumer.js';
export {
  AsyncWebsocketConsumer,
  JsonWebsocketConsumer,
  type WebsocketData,
  type ReceivedData,
} from './consumers/websocketConsumer.js';
export { AsyncHttpConsumer, type ResponseHeaders, type SendHeadersOptions } from './consumers/httpConsumer.js';
export {
  StopConsumer,
  AcceptConnection,
  DenyConnection,
  InvalidChannelLayerError,
  DispatchError,
} from './consumers/exceptions.js';
export { handlerName } from './consumers/dispatch.js';

// Test communicators.
export {
  ApplicationCommunicator,
  ApplicationExitedError,
  type CommunicatorOptions,
  type ServerAction,
} from './testing/applicationCommunicator.js';
export { HttpCommunicator, type HttpCommunicatorOptions, type HttpResponse } from './testing/httpCommunicator.js';
export type { TestHeaders } from './testing/scope.js';
export {
  WebsocketCommunicator,
  type WebsocketCommunicatorOptions,
  type WebsocketMessage,
} from './testing/websocketCommunicator.js';

// The server and the worker.
export { serve, SpindleServer, type ServeOptions } from './server/serve.js';
export { runWorker, Worker, type WorkerOptions } from './worker.js';

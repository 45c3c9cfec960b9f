/**
 * `protocolTypeRouter`: the top of a Channels application, dispatching on `scope.type`.
 * @module
 */
import type { ASGIApplication, Receive, Scope, Send } from '../types.js';

/**
 * The applications of a {@link protocolTypeRouter}, by scope type. The usual types are `http`,
 * `websocket`, `lifespan` and `channel` (the worker's); any other string works too.
 */
export interface ProtocolTypeApplications {
  http?: ASGIApplication;
  websocket?: ASGIApplication;
  lifespan?: ASGIApplication;
  channel?: ASGIApplication;
  [type: string]: ASGIApplication | undefined;
}

/**
 * An application that hands each scope to the application for its `type`, unchanged.
 *
 * A scope type with no application makes the application fail with an Error naming the type.
 * That is how lifespan is declined: leave `lifespan` out and the server, seeing the application
 * fail on the lifespan scope, carries on without startup and shutdown events (ASGI's rule).
 *
 * @throws TypeError when an entry is not a function.
 *
 * @example
 * ```ts
 * export default protocolTypeRouter({
 *   http: urlRouter([path('', pageApp)]),
 *   websocket: allowedHostsOriginValidator(urlRouter([path('ws/chat/<room>/', ChatConsumer.asApp())]), ['example.com']),
 *   channel: channelNameRouter({ 'page-counter': CounterConsumer.asApp() }),
 * });
 * ```
 */
export function protocolTypeRouter(applications: ProtocolTypeApplications): ASGIApplication {
  if (applications === null || typeof applications !== 'object') {
    throw new TypeError('protocolTypeRouter() takes an object of applications by scope type');
  }
  const table = new Map<string, ASGIApplication>();
  for (const [type, app] of Object.entries(applications)) {
    if (app === undefined) continue;
    if (typeof app !== 'function') throw new TypeError(`protocolTypeRouter(): the application for "${type}" must be a function`);
    table.set(type, app);
  }
  return (scope: Scope, receive: Receive, send: Send): PromiseLike<void> => {
    const app = table.get(scope.type);
    if (app === undefined) {
      return Promise.reject(
        new Error(
          `No application configured for scope type ${JSON.stringify(scope.type)} (configured: ${[...table.keys()].join(', ') || 'none'})`,
        ),
      );
    }
    return app(scope, receive, send);
  };
}

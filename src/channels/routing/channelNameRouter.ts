/**
 * `channelNameRouter`: dispatches the worker's `channel` scopes by channel name.
 * @module
 */
import type { ASGIApplication, Receive, Scope, Send } from '../types.js';

/**
 * An application for `channel` scopes (`{ type: 'channel', channel: name }`, as the worker makes
 * them): the application registered for `scope.channel` runs, with the scope unchanged.
 *
 * A scope without a `channel` string, or a channel with no application, makes the application
 * fail with an Error naming it (the worker logs it).
 *
 * @throws TypeError when an entry is not a function.
 *
 * @example
 * ```ts
 * protocolTypeRouter({
 *   channel: channelNameRouter({ 'page-counter': CounterConsumer.asApp() }),
 * });
 * // spindle worker app.js page-counter
 * ```
 */
export function channelNameRouter(applications: Record<string, ASGIApplication>): ASGIApplication {
  if (applications === null || typeof applications !== 'object') {
    throw new TypeError('channelNameRouter() takes an object of applications by channel name');
  }
  const table = new Map<string, ASGIApplication>();
  for (const [name, app] of Object.entries(applications)) {
    if (typeof app !== 'function') throw new TypeError(`channelNameRouter(): the application for "${name}" must be a function`);
    table.set(name, app);
  }
  return (scope: Scope, receive: Receive, send: Send): PromiseLike<void> => {
    const name = scope.channel;
    if (typeof name !== 'string') {
      return Promise.reject(
        new Error(`channelNameRouter got a ${JSON.stringify(scope.type)} scope with no "channel": it routes the worker's channel scopes`),
      );
    }
    const app = table.get(name);
    if (app === undefined) return Promise.reject(new Error(`No application configured for channel ${JSON.stringify(name)}`));
    return app(scope, receive, send);
  };
}

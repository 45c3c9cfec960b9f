/**
 * How routers and middleware turn a connection away without crashing: a plain-text HTTP response,
 * or a WebSocket closed before it is accepted (which the server answers with HTTP 403).
 * @module
 */
import type { Receive, Scope, Send } from './types.js';

const encoder = new TextEncoder();

/**
 * Answer an HTTP scope with `status` and a short `text/plain` body.
 *
 * @example
 * ```ts
 * await respondText(send, 404, 'Not Found');
 * ```
 */
export async function respondText(send: Send, status: number, text: string): Promise<void> {
  const body = encoder.encode(text);
  await send({
    type: 'http.response.start',
    status,
    headers: [
      ['content-type', 'text/plain; charset=utf-8'],
      ['content-length', String(body.length)],
    ],
  });
  await send({ type: 'http.response.body', body });
}

/**
 * Refuse a WebSocket as Channels' `WebsocketDenier` does: wait for `websocket.connect`, then send
 * `websocket.close` before accepting, which the server answers with HTTP 403. When the client is
 * already gone (`websocket.disconnect`), nothing is sent.
 */
export async function denyWebsocket(receive: Receive, send: Send): Promise<void> {
  const event = await receive();
  if (event.type === 'websocket.disconnect') return;
  await send({ type: 'websocket.close', code: 1000 });
}

/**
 * Turn the connection away: HTTP gets `status` with `text`; a WebSocket is closed before accept
 * (HTTP 403 whatever `status` says: that is all ASGI lets an app answer without the
 * `websocket.http.response` extension); any other scope type throws `error`.
 */
export function turnAway(
  scope: Scope,
  receive: Receive,
  send: Send,
  status: number,
  text: string,
  error: () => Error,
): Promise<void> {
  if (scope.type === 'http') return respondText(send, status, text);
  if (scope.type === 'websocket') return denyWebsocket(receive, send);
  return Promise.reject(error());
}

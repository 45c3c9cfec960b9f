/**
 * The chat example's application: rooms over WebSocket, on a channel layer's groups.
 *
 * Its default export is the ASGI application, so any server runs it:
 * `spindle serve examples/chat/app.js` (after `npm run build`), or `node examples/chat/serve.js`,
 * which is what `npm start` runs. Open http://127.0.0.1:8000/, pick a name and a room, and open a
 * second tab to talk to yourself.
 *
 * Routes (Django-style `path()`s; nothing matched → 404 for HTTP, 403 for a WebSocket):
 *   GET  /                          the page (index.html: plain HTML, no build step)
 *   GET  /static/chat.js            its script
 *   POST /rooms/<room>/messages     post `{ "user", "text" }` into a room from outside → 202
 *   WS   /ws/chat/<room>/           the chat itself (`ChatConsumer`, see consumers.js)
 * The WebSocket routes sit behind `allowedHostsOriginValidator`: only pages served from
 * localhost, 127.0.0.1 or [::1] may open them (browsers let any site open a WebSocket to any
 * host, so without this check another site could talk in your rooms as you). Add your host
 * names there when serving it elsewhere.
 */
import { readFileSync } from 'node:fs';
import { allowedHostsOriginValidator, path, protocolTypeRouter, urlRouter } from 'spindle/channels';
import { ChatConsumer, PostMessageConsumer } from './consumers.js';

/** An HTTP application answering GET and HEAD with one file, read once at start-up. */
function staticFile(url, contentType) {
  const body = readFileSync(url);
  const headers = [
    ['content-type', contentType],
    ['content-length', String(body.length)],
    ['cache-control', 'no-cache'],
    ['x-content-type-options', 'nosniff'],
    // The page runs only its own script, and talks only to this server (its WebSocket included).
    ['content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"],
  ];
  return async (scope, receive, send) => {
    await receive(); // the (empty) request body
    if (scope.method !== 'GET' && scope.method !== 'HEAD') {
      await send({ type: 'http.response.start', status: 405, headers: [['allow', 'GET, HEAD'], ['content-length', '0']] });
      await send({ type: 'http.response.body' });
      return;
    }
    await send({ type: 'http.response.start', status: 200, headers });
    await send({ type: 'http.response.body', body: scope.method === 'HEAD' ? new Uint8Array(0) : body });
  };
}

const index = staticFile(new URL('./index.html', import.meta.url), 'text/html; charset=utf-8');
const script = staticFile(new URL('./static/chat.js', import.meta.url), 'text/javascript; charset=utf-8');

export default protocolTypeRouter({
  http: urlRouter([
    path('', index),
    path('static/chat.js', script),
    path('rooms/<str:room>/messages', PostMessageConsumer.asApp()),
  ]),
  websocket: allowedHostsOriginValidator(urlRouter([path('ws/chat/<str:room>/', ChatConsumer.asApp())])),
});

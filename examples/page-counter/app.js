/**
 * The page-counter application: Channels' "background task" case on Spindle.
 *
 * Every page view sends a `page.viewed` message to the `page-counter` channel *without waiting
 * for it to be handled*, and answers at once; a worker consuming that channel counts the views in
 * the background (here in a Map; in a real site it would update a database, which is why it is
 * worth taking off the request's path). `/counts` shows the counts as JSON.
 *
 * This module is the application only: `protocolTypeRouter` sends HTTP to the pages and the
 * worker's `channel` scopes to the `PageCounter` consumer (through `channelNameRouter`). Run it
 * with `node examples/page-counter/main.js`, which serves it and runs the worker in one process
 * on one in-memory layer. With a Redis layer the two can run apart, as in Channels:
 * `spindle serve examples/page-counter/app.js --layer redis://…` and
 * `spindle worker examples/page-counter/app.js page-counter --layer redis://…` (the counts then
 * live in the worker process).
 */
import { AsyncConsumer, channelNameRouter, path, protocolTypeRouter, urlRouter } from 'spindle/channels';

/** Views per path, as counted by the worker. */
export const counts = new Map();

/** The worker side: one instance consumes the `page-counter` channel, one message at a time. */
class PageCounter extends AsyncConsumer {
  // A message of type "page.viewed" is dispatched to page_viewed (dots become underscores).
  page_viewed(message) {
    counts.set(message.path, (counts.get(message.path) ?? 0) + 1);
  }
}

const encoder = new TextEncoder();

async function respond(send, status, contentType, text) {
  await send({ type: 'http.response.start', status, headers: [['content-type', contentType]] });
  await send({ type: 'http.response.body', body: encoder.encode(text) });
}

/** Any page: count it in the background, answer now. */
async function page(scope, receive, send) {
  await receive();
  // Fire and forget: the response does not wait for the worker (a full channel only costs a count).
  scope.channel_layer.send('page-counter', { type: 'page.viewed', path: scope.path }).addErrback(() => undefined);
  await respond(send, 200, 'text/html; charset=utf-8', `<p>You are on ${scope.path}. See <a href="/counts">/counts</a>.</p>\n`);
}

/** The counts so far. */
async function showCounts(_scope, receive, send) {
  await receive();
  await respond(send, 200, 'application/json', `${JSON.stringify(Object.fromEntries(counts))}\n`);
}

export default protocolTypeRouter({
  http: urlRouter([path('counts', showCounts), path('<path:rest>', page), path('', page)]),
  channel: channelNameRouter({ 'page-counter': PageCounter.asApp() }),
});

/**
 * Serve the chat example: `npm start` (which builds first), or `node examples/chat/serve.js [port]`
 * after `npm run build`. Port 8000 by default (`PORT` or the first argument; 0 picks a free one),
 * on 127.0.0.1 only, with an in-memory channel layer: rooms live in this one process (run
 * `spindle serve examples/chat/app.js --layer redis://…` on several processes to share them).
 *
 * Ctrl-C (SIGINT) or SIGTERM stops it gracefully: the server stops accepting, closes the open
 * WebSockets with 1001 (going away) and finishes in-flight requests, then the layer is closed and
 * the process exits 0.
 */
import { reactor } from 'spindle';
import { InMemoryChannelLayer, serve } from 'spindle/channels';
import app from './app.js';

const port = Number(process.argv[2] ?? process.env.PORT ?? 8000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`usage: node examples/chat/serve.js [port]  (not ${JSON.stringify(process.argv[2] ?? process.env.PORT)})`);
  process.exit(2);
}
const channelLayer = new InMemoryChannelLayer({ reactor });

// run() handles SIGINT/SIGTERM: it runs the shutdown triggers below, then fires.
const stopped = reactor.run();
let server;
try {
  server = await serve(app, {
    reactor,
    channelLayer,
    endpoints: [`tcp:${port}:interface=127.0.0.1`],
    // The app has no startup or shutdown work: do not offer it the ASGI lifespan protocol.
    lifespan: 'off',
    // Chat frames are small (the consumer refuses more than 8 KiB): drop anything far larger (1009).
    websocket: { maxMessageSize: 64 * 1024 },
  });
} catch (e) {
  console.error(`Cannot serve the chat on 127.0.0.1:${port}: ${e.message}`);
  reactor.stop();
  await stopped;
  process.exit(1);
}
console.log(`Chat served on http://127.0.0.1:${server.addresses[0].port}/ (Ctrl-C to stop)`);

// Shutdown waits for this: the server first (closing every WebSocket), then the layer.
reactor.addSystemEventTrigger('before', 'shutdown', async () => {
  await server.stop();
  await channelLayer.close();
});

await stopped;
console.log('Chat server stopped.');

/**
 * Serve the page-counter application and run its worker in one process.
 *
 * Run `npm run build && node examples/page-counter/main.js [port]` (default 8000, 0 picks a free
 * port), open http://127.0.0.1:8000/ and a few other paths, then http://127.0.0.1:8000/counts.
 * `serve()` and `runWorker()` share one `InMemoryChannelLayer`, which is what lets the page views
 * reach the worker: the in-memory layer only carries messages inside one process (use a Redis
 * layer to run `spindle serve` and `spindle worker` as separate processes). Ctrl-C (SIGINT) or
 * SIGTERM stops both gracefully: the server stops accepting and finishes its requests, the
 * worker finishes what it took, then the process exits.
 */
import { reactor } from 'spindle';
import { InMemoryChannelLayer, runWorker, serve } from 'spindle/channels';
import app from './app.js';

const port = Number(process.argv[2] ?? process.env.PORT ?? 8000);
const layer = new InMemoryChannelLayer({ reactor });

const stopped = reactor.run();
const server = await serve(app, { reactor, channelLayer: layer, endpoints: [`tcp:${port}:interface=127.0.0.1`] });
const worker = runWorker(app, ['page-counter'], { channelLayer: layer, reactor });
console.log(`Listening on http://127.0.0.1:${server.addresses[0].port}`);

// Shutdown waits for these: first the server, then the worker, then the layer.
reactor.addSystemEventTrigger('before', 'shutdown', async () => {
  await server.stop();
  await worker.stop();
  await layer.close();
});

await stopped;
console.log('stopped');

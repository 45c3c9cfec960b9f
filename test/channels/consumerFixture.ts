// The fixture of the consumer tests: a hand-driven Clock, an in-memory layer on it, and
// communicators that are stopped (and the layer closed, both made afresh) after each test.
// `clock` and `layer` are live bindings: importers always see the current test's.
import { afterEach } from 'vitest';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { WebsocketCommunicator } from '../../src/channels/testing/websocketCommunicator.js';
import type { ASGIApplication } from '../../src/channels/types.js';
import { Clock } from '../../src/testing/clock.js';

export let clock: Clock;
export let layer: InMemoryChannelLayer;
const open: WebsocketCommunicator[] = [];

function fresh(): void {
  clock = new Clock();
  layer = new InMemoryChannelLayer({ reactor: clock });
}
fresh();

afterEach(async () => {
  for (const c of open.splice(0)) await c.stop({ exceptions: false });
  await layer.close();
  fresh();
});

/** Stop `comm` after the test (a communicator made without the fixture's layer). */
export function track(comm: WebsocketCommunicator): WebsocketCommunicator {
  open.push(comm);
  return comm;
}

/** A communicator to `app` on the fixture's clock and layer, stopped after the test. */
export function connectTo(app: ASGIApplication, path = '/ws/', options = {}): WebsocketCommunicator {
  const comm = new WebsocketCommunicator(app, path, { clock, channelLayer: layer, ...options });
  open.push(comm);
  return comm;
}

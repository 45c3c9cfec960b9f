// The worker: one application instance per channel, fed by the layer; crashes logged and the
// instance recreated with a backoff; a graceful stop. In memory, on a Clock.
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { ApplicationCloseTimeoutError, ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { AsyncConsumer } from '../../src/channels/consumers/asyncConsumer.js';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { channelNameRouter } from '../../src/channels/routing/channelNameRouter.js';
import { protocolTypeRouter } from '../../src/channels/routing/protocolTypeRouter.js';
import { path, urlRouter } from '../../src/channels/routing/urlRouter.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';
import { runWorker } from '../../src/channels/worker.js';
import { enc, request, settleMany, startServer } from './serverHelpers.js';

function setup() {
  const clock = new Clock();
  const layer = new InMemoryChannelLayer({ reactor: clock });
  return { clock, layer };
}

/** An application recording `[instance, channel, message type]` per message received. */
function recorder(seen: Array<[number, string, string]>, scopes: Scope[] = []): ASGIApplication {
  let instances = 0;
  return async (scope, receive) => {
    const me = ++instances;
    scopes.push(scope);
    for (;;) {
      const ev = await receive();
      seen.push([me, scope.channel as string, ev.type]);
    }
  };
}

describe('runWorker()', () => {
  it('runs one instance per channel with a channel scope, messages in order', async () => {
    const { clock, layer } = setup();
    const seen: Array<[number, string, string]> = [];
    const scopes: Scope[] = [];
    const worker = runWorker(recorder(seen, scopes), ['thumbnails', 'emails'], { channelLayer: layer, reactor: clock });
    for (let i = 0; i < 3; i++) {
      await layer.send('thumbnails', { type: `thumb.${i}` });
      await layer.send('emails', { type: `email.${i}` });
    }
    await settleMany(3);
    expect(seen.filter(([, c]) => c === 'thumbnails').map(([, , t]) => t)).toEqual(['thumb.0', 'thumb.1', 'thumb.2']);
    expect(seen.filter(([, c]) => c === 'emails').map(([, , t]) => t)).toEqual(['email.0', 'email.1', 'email.2']);
    expect(scopes).toHaveLength(2);
    expect(scopes.map((s) => ({ type: s.type, channel: s.channel, layer: s.channel_layer === layer }))).toEqual([
      { type: 'channel', channel: 'thumbnails', layer: true },
      { type: 'channel', channel: 'emails', layer: true },
    ]);
    // One instance per channel: every message of a channel went to the same instance.
    expect(new Set(seen.filter(([, c]) => c === 'thumbnails').map(([i]) => i)).size).toBe(1);
    const stopped = worker.stop();
    await settleMany(2);
    expect(stopped.called).toBe(true);
  });

  it('dispatches to consumers through channelNameRouter', async () => {
    const { clock, layer } = setup();
    const counts = new Map<string, number>();
    class PageCounter extends AsyncConsumer {
      page_viewed(message: ASGIEvent): void {
        const p = message.path as string;
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
    }
    const app = protocolTypeRouter({ channel: channelNameRouter({ 'page-counter': PageCounter.asApp() }) });
    const worker = runWorker(app, ['page-counter'], { channelLayer: layer, reactor: clock });
    for (const p of ['/', '/about', '/']) await layer.send('page-counter', { type: 'page.viewed', path: p });
    await settleMany(5);
    expect(Object.fromEntries(counts)).toEqual({ '/': 2, '/about': 1 });
    await worker.stop();
  });

  it('logs a crash and recreates the instance after a backoff that doubles, giving it the messages not yet received', async () => {
    const { clock, layer } = setup();
    const handled: string[] = [];
    let instances = 0;
    const app: ASGIApplication = async (_scope, receive) => {
      instances++;
      for (;;) {
        const ev = await receive();
        if (ev.type === 'job.crash') throw new RangeError(`crash on ${String(ev.n)}`);
        handled.push(`${instances}:${String(ev.n)}`);
      }
    };
    const worker = runWorker(app, ['jobs'], { channelLayer: layer, reactor: clock, restartDelay: 1, maxRestartDelay: 8 });
    await layer.send('jobs', { type: 'job.crash', n: 1 });
    await layer.send('jobs', { type: 'job.ok', n: 2 });
    await settleMany(3);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
    expect(worker.crashes).toEqual({ jobs: 1 });
    expect(handled).toEqual([]);
    clock.advance(0.9);
    await settleMany(2);
    expect(instances).toBe(1);
    clock.advance(0.1);
    await settleMany(3);
    expect(instances).toBe(2);
    expect(handled).toEqual(['2:2']);
    // Two crashes in a row: the second backoff is twice the first.
    await layer.send('jobs', { type: 'job.crash', n: 3 });
    await layer.send('jobs', { type: 'job.crash', n: 4 });
    await layer.send('jobs', { type: 'job.ok', n: 5 });
    await settleMany(3);
    clock.advance(1);
    await settleMany(3);
    expect(instances).toBe(3);
    clock.advance(1.9);
    await settleMany(3);
    expect(instances).toBe(3);
    clock.advance(0.1);
    await settleMany(3);
    expect(instances).toBe(4);
    expect(handled).toEqual(['2:2', '4:5']);
    expect(flushLoggedErrors(RangeError)).toHaveLength(2);
    await worker.stop();
  });

  it('one crashing channel does not affect another', async () => {
    const { clock, layer } = setup();
    const seen: string[] = [];
    const app: ASGIApplication = async (scope, receive) => {
      for (;;) {
        const ev = await receive();
        if (scope.channel === 'bad') throw new Error('bad consumer');
        seen.push(ev.type);
      }
    };
    const worker = runWorker(app, ['bad', 'good'], { channelLayer: layer, reactor: clock });
    await layer.send('bad', { type: 'x' });
    await layer.send('good', { type: 'a' });
    await settleMany(3);
    await layer.send('good', { type: 'b' });
    await settleMany(3);
    expect(seen).toEqual(['a', 'b']);
    expect(flushLoggedErrors(Error)).toHaveLength(1);
    await worker.stop();
  });

  it('refuses send from a channel application', async () => {
    const { clock, layer } = setup();
    const errors: unknown[] = [];
    const app: ASGIApplication = async (_scope, receive, send) => {
      for (;;) {
        await receive();
        await send({ type: 'reply' }).then(undefined, (e: unknown) => errors.push(e));
      }
    };
    const worker = runWorker(app, ['q'], { channelLayer: layer, reactor: clock });
    await layer.send('q', { type: 'ask' });
    await settleMany(3);
    expect(errors[0]).toBeInstanceOf(ASGIProtocolError);
    expect((errors[0] as Error).message).toMatch(/through the channel layer/);
    await worker.stop();
  });

  it('stops taking from the layer beyond maxPending messages (they wait in the layer, under its capacity)', async () => {
    const clock = new Clock();
    const layer = new InMemoryChannelLayer({ reactor: clock, capacity: 5 });
    const gate = new Deferred<void>();
    const seen: string[] = [];
    const app: ASGIApplication = async (_scope, receive) => {
      for (;;) {
        const ev = await receive();
        await gate;
        seen.push(ev.type);
      }
    };
    const worker = runWorker(app, ['slow'], { channelLayer: layer, reactor: clock, maxPending: 2 });
    const accepted: string[] = [];
    for (let i = 0; i < 10; i++) {
      await layer.send('slow', { type: `m${i}` }).then(
        () => accepted.push(`m${i}`),
        () => undefined,
      );
      await settleMany(1);
    }
    // One message being handled and two pending in the worker; five fill the layer; two refused.
    expect(accepted).toHaveLength(8);
    expect(layer.stats.sendsRefused).toBe(2);
    gate.callback(undefined);
    await settleMany(20);
    expect(seen).toEqual(accepted);
    await worker.stop();
  });

  it('stop() cancels the receives (no message is lost in the layer) and ends idle instances quietly', async () => {
    const { clock, layer } = setup();
    const seen: Array<[number, string, string]> = [];
    const worker = runWorker(recorder(seen), ['q'], { channelLayer: layer, reactor: clock });
    await layer.send('q', { type: 'first' });
    await settleMany(2);
    const stopped = worker.stop();
    expect(worker.stopping).toBe(true);
    // The idle instance ends as soon as the current call returns (no timer involved).
    expect(stopped.called).toBe(false);
    await settleMany(1);
    expect(stopped.called).toBe(true);
    await layer.send('q', { type: 'after' });
    expect(seen.map(([, , t]) => t)).toEqual(['first']);
    // The message sent after stop() is still in the layer.
    expect((await layer.receive('q')).type).toBe('after');
  });

  it('stop(): a busy instance finishes what it took; one that takes too long is killed and logged', async () => {
    const { clock, layer } = setup();
    const never = new Deferred<void>();
    const app: ASGIApplication = async (_scope, receive) => {
      await receive();
      await never;
    };
    const worker = runWorker(app, ['q'], { channelLayer: layer, reactor: clock, applicationCloseTimeout: 3 });
    await layer.send('q', { type: 'stuck' });
    await settleMany(2);
    const stopped = worker.stop();
    clock.advance(2.9);
    await settleMany(2);
    expect(stopped.called).toBe(false);
    clock.advance(0.1);
    await settleMany(2);
    expect(stopped.called).toBe(true);
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });

  it.each([
    ['no channels', [], /at least one channel/],
    ['a bad name', ['no spaces'], /TypeError|channel/],
    ['a process-local name', ['specific.abc!def'], /process-local/],
    ['a duplicate', ['a', 'a'], /twice/],
  ])('refuses %s', (_name, channels, message) => {
    const { layer } = setup();
    expect(() => runWorker(recorder([]), channels as string[], { channelLayer: layer })).toThrow(message);
  });
});

describe('the page-counter pattern', () => {
  it('an HTTP view sends to a channel without waiting; the worker counts in the background', async () => {
    const counts = new Map<string, number>();
    const seenBeforeResponse: number[] = [];
    class PageCounter extends AsyncConsumer {
      page_viewed(message: ASGIEvent): void {
        counts.set(message.path as string, (counts.get(message.path as string) ?? 0) + 1);
      }
    }
    const page: ASGIApplication = async (scope, receive, send) => {
      await receive();
      // Fire and forget: the response does not wait for the count.
      void scope.channel_layer!.send('page-counter', { type: 'page.viewed', path: scope.path as string });
      seenBeforeResponse.push(counts.get(scope.path as string) ?? 0);
      await send({ type: 'http.response.start', status: 200, headers: [['content-type', 'text/plain']] });
      await send({ type: 'http.response.body', body: enc(`page ${String(scope.path)}`) });
    };
    const app = protocolTypeRouter({
      http: urlRouter([path('<path:rest>', page)]),
      channel: channelNameRouter({ 'page-counter': PageCounter.asApp() }),
    });
    const t = await startServer(app);
    const worker = runWorker(app, ['page-counter'], { channelLayer: t.server.channelLayer!, reactor: t.reactor });
    for (const target of ['/a', '/b', '/a']) {
      const c = t.connect();
      c.send(request('GET', target));
      await settleMany(5);
      expect(c.responses()[0]!.body).toBe(`page ${target}`);
    }
    expect(Object.fromEntries(counts)).toEqual({ '/a': 2, '/b': 1 });
    expect(seenBeforeResponse).toEqual([0, 0, 1]);
    await worker.stop();
    await t.stop();
  });
});

import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { TimeoutError } from '../../src/defer/errors.js';
import { ASGIProtocolError, LifespanShutdownFailed, LifespanStartupFailed } from '../../src/channels/asgi/errors.js';
import { Lifespan } from '../../src/channels/asgi/lifespan.js';
import { protocolTypeRouter } from '../../src/channels/routing/protocolTypeRouter.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';
import { captureEvents } from '../../src/logger/index.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

/** A well-behaved lifespan application that records what it saw. */
function lifespanApp(seen: ASGIEvent[], scopes: Scope[] = []): ASGIApplication {
  return async (scope, receive, send) => {
    scopes.push(scope);
    for (;;) {
      const ev = await receive();
      seen.push(ev);
      if (ev.type === 'lifespan.startup') {
        scope.state!.db = { pool: 'open' };
        await send({ type: 'lifespan.startup.complete' });
      } else if (ev.type === 'lifespan.shutdown') {
        await send({ type: 'lifespan.shutdown.complete' });
        return;
      }
    }
  };
}

describe('Lifespan', () => {
  it('runs startup and shutdown, with a lifespan scope', async () => {
    const seen: ASGIEvent[] = [];
    const scopes: Scope[] = [];
    const lifespan = new Lifespan(lifespanApp(seen, scopes), { clock: new Clock() });
    expect(lifespan.supported).toBe(null);
    await lifespan.startup();
    expect(lifespan.supported).toBe(true);
    expect(scopes).toEqual([{ type: 'lifespan', asgi: { version: '3.0', spec_version: '2.0' }, state: { db: { pool: 'open' } } }]);
    await lifespan.shutdown();
    expect(seen.map((e) => e.type)).toEqual(['lifespan.startup', 'lifespan.shutdown']);
  });

  it('copies the state into each connection scope (shallow)', async () => {
    const lifespan = new Lifespan(lifespanApp([]), { clock: new Clock() });
    await lifespan.startup();
    const a = lifespan.scope<Scope>({ type: 'http', path: '/a' });
    const b = lifespan.scope<Scope>({ type: 'websocket', path: '/b' });
    expect(a).toEqual({ type: 'http', path: '/a', state: { db: { pool: 'open' } } });
    a.state!.extra = 1;
    expect(b.state).toEqual({ db: { pool: 'open' } });
    expect(lifespan.state).toEqual({ db: { pool: 'open' } });
    expect(a.state!.db).toBe(lifespan.state.db); // shallow: the same pool object
    await lifespan.shutdown();
  });

  it('fails startup with LifespanStartupFailed and its message', async () => {
    const lifespan = new Lifespan(async (_s, receive, send) => {
      await receive();
      await send({ type: 'lifespan.startup.failed', message: 'no database' });
    }, { clock: new Clock() });
    await expect(lifespan.startup()).rejects.toThrow(new LifespanStartupFailed('no database'));
  });

  it('fails shutdown with LifespanShutdownFailed', async () => {
    const lifespan = new Lifespan(async (_s, receive, send) => {
      await receive();
      await send({ type: 'lifespan.startup.complete' });
      await receive();
      await send({ type: 'lifespan.shutdown.failed', message: 'pool stuck' });
    }, { clock: new Clock() });
    await lifespan.startup();
    await expect(lifespan.shutdown()).rejects.toBeInstanceOf(LifespanShutdownFailed);
  });

  const unsupported: Array<[string, ASGIApplication]> = [
    ['raises on the lifespan scope', async (scope) => {
      throw new Error(`unsupported scope ${scope.type}`);
    }],
    ['raises on lifespan.startup', async (_s, receive) => {
      await receive();
      throw new Error('no lifespan here');
    }],
    ['returns without answering', async () => undefined],
    ['is a protocolTypeRouter without a lifespan entry', protocolTypeRouter({ http: async () => undefined })],
  ];
  for (const [name, app] of unsupported) {
    it(`treats an application that ${name} as not supporting lifespan, and carries on`, async () => {
      const capture = captureEvents();
      const lifespan = new Lifespan(app, { clock: new Clock() });
      try {
        await lifespan.startup();
      } finally {
        capture.stop();
      }
      expect(lifespan.supported).toBe(false);
      const scope = { type: 'http', path: '/' };
      expect(lifespan.scope(scope)).toBe(scope); // no state key: lifespan is off
      await lifespan.shutdown();
      expect(flushLoggedErrors()).toEqual([]);
      expect(capture.events.some((e) => e.log_level === 'info' && /lifespan unsupported/.test(String(e.log_format)))).toBe(true);
    });
  }

  it('refuses events out of turn', async () => {
    const errors: unknown[] = [];
    const lifespan = new Lifespan(async (_s, receive, send) => {
      await receive();
      for (const type of ['lifespan.shutdown.complete', 'lifespan.unknown']) {
        await send({ type }).then(undefined, (e: unknown) => errors.push(e));
      }
      await send({ type: 'lifespan.startup.complete' });
      await send({ type: 'lifespan.startup.complete' }).then(undefined, (e: unknown) => errors.push(e));
      await receive();
      await send({ type: 'lifespan.shutdown.complete' });
    }, { clock: new Clock() });
    await lifespan.startup();
    await lifespan.shutdown();
    expect(errors).toHaveLength(3);
    for (const e of errors) expect(e).toBeInstanceOf(ASGIProtocolError);
    expect((errors[0] as Error).message).toMatch(/out of turn/);
    expect((errors[1] as Error).message).toMatch(/unknown event type/);
    expect((errors[2] as Error).message).toMatch(/startup is already over/);
  });

  it('logs an application that crashes after startup; shutdown then returns at once', async () => {
    const lifespan = new Lifespan(async (_s, receive, send) => {
      await receive();
      await send({ type: 'lifespan.startup.complete' });
      throw new Error('crashed while serving');
    }, { clock: new Clock() });
    await lifespan.startup();
    await new Promise((r) => setImmediate(r));
    expect(flushLoggedErrors()).toHaveLength(1);
    await lifespan.shutdown();
  });

  it('bounds startup and shutdown with timeouts on the clock', async () => {
    const clock = new Clock();
    const hanging = new Lifespan(() => new Deferred<void>(), { clock, startupTimeout: 5 });
    const d = hanging.startup();
    clock.advance(5);
    await expect(d).rejects.toBeInstanceOf(TimeoutError);

    const slow = new Lifespan(async (_s, receive, send) => {
      await receive();
      await send({ type: 'lifespan.startup.complete' });
      await receive();
      await new Deferred<void>();
    }, { clock, shutdownTimeout: 3 });
    await slow.startup();
    const s = slow.shutdown();
    clock.advance(3);
    await expect(s).rejects.toBeInstanceOf(TimeoutError);
  });

  it('refuses a second startup', async () => {
    const lifespan = new Lifespan(lifespanApp([]), { clock: new Clock() });
    await lifespan.startup();
    expect(() => lifespan.startup()).toThrow(/already/);
    await lifespan.shutdown();
    await lifespan.shutdown(); // a second shutdown is a no-op
  });
});

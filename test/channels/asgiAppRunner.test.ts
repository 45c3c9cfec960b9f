import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { CancelledError } from '../../src/defer/errors.js';
import type { Failure } from '../../src/defer/failure.js';
import { AppRunner, senderOf, sentAtOnce } from '../../src/channels/asgi/appRunner.js';
import { CloseTimeouts } from '../../src/channels/asgi/closeTimeouts.js';
import { QueueConnection } from '../../src/channels/asgi/connection.js';
import { ApplicationCloseTimeoutError, ASGIConnectionClosed } from '../../src/channels/asgi/errors.js';
import { HttpCycle, type HttpAction } from '../../src/channels/asgi/httpCycle.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';
import { captureEvents } from '../../src/logger/index.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';

const scope: Scope = { type: 'http', path: '/x' };
/** Let pending promise callbacks (async applications) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Recorder extends QueueConnection {
  finished: (Failure | null)[] = [];
  sent: ASGIEvent[];
  constructor() {
    const sent: ASGIEvent[] = [];
    super((e) => sent.push(e));
    this.sent = sent;
  }
  override applicationFinished(failure: Failure | null): void {
    this.finished.push(failure);
  }
}

function runner(app: ASGIApplication, options: { clock?: Clock; applicationCloseTimeout?: number; logErrors?: boolean } = {}) {
  const connection = new Recorder();
  const clock = options.clock ?? new Clock();
  const r = new AppRunner(app, scope, connection, { clock, ...options });
  return { r, connection, clock };
}

describe('AppRunner: running an instance', () => {
  it('calls the application with the scope and the connection receive/send', async () => {
    const seen: unknown[] = [];
    const { r, connection } = runner(async (s, receive, send) => {
      seen.push(s);
      const ev = await receive();
      await send({ type: 'echo', got: ev.type });
    });
    expect(r.started).toBe(false);
    r.start();
    r.start(); // once
    connection.put({ type: 'ping' });
    await r.whenFinished();
    expect(seen).toEqual([scope]);
    expect(connection.sent).toEqual([{ type: 'echo', got: 'ping' }]);
    expect(r.outcome).toEqual({ kind: 'returned' });
    expect(connection.finished).toEqual([null]);
  });

  it('accepts an application that returns nothing (synchronous)', () => {
    const { r, connection } = runner((() => undefined) as unknown as ASGIApplication);
    r.start();
    expect(r.outcome).toEqual({ kind: 'returned' });
    expect(connection.finished).toEqual([null]);
  });

  const raising: Array<[string, ASGIApplication]> = [
    ['throws synchronously', () => {
      throw new TypeError('sync boom');
    }],
    ['rejects', async () => {
      throw new TypeError('async boom');
    }],
    ['returns a failed Deferred', () => {
      const d = new Deferred<void>();
      d.errback(new TypeError('deferred boom'));
      return d;
    }],
  ];
  for (const [name, app] of raising) {
    it(`isolates an application that ${name}: logged once, handed to the connection`, async () => {
      const capture = captureEvents();
      try {
        const { r, connection } = runner(app);
        r.start();
        await r.whenFinished().then(
          () => expect.unreachable(),
          (e: unknown) => expect(e).toBeInstanceOf(TypeError),
        );
        await settle();
        expect(r.outcome?.kind).toBe('raised');
        expect(connection.finished).toHaveLength(1);
        expect(connection.finished[0]!.value).toBeInstanceOf(TypeError);
      } finally {
        capture.stop();
      }
      expect(flushLoggedErrors(TypeError)).toHaveLength(1);
      expect(capture.events.filter((e) => String(e.log_format).startsWith('Exception inside application'))).toHaveLength(1);
    });
  }

  it('does not log when logErrors is false', async () => {
    const { r } = runner(async () => {
      throw new RangeError('quiet');
    }, { logErrors: false });
    r.start();
    await settle();
    expect(r.outcome?.kind).toBe('raised');
    expect(flushLoggedErrors()).toEqual([]);
  });

  it('treats an escaping ASGIConnectionClosed as a normal return, unlogged', async () => {
    const { r, connection } = runner(async () => {
      throw new ASGIConnectionClosed();
    });
    r.start();
    await settle();
    expect(r.outcome).toEqual({ kind: 'returned' });
    expect(connection.finished).toEqual([null]);
    expect(flushLoggedErrors()).toEqual([]);
  });

  it('keeps instances apart: one crashing does not affect another', async () => {
    const served: string[] = [];
    const good: ASGIApplication = async (_s, receive, send) => {
      for (;;) {
        const ev = await receive();
        if (ev.type === 'stop') return;
        served.push(ev.type);
        await send({ type: 'ok' });
      }
    };
    const bad: ASGIApplication = async (_s, receive) => {
      await receive();
      throw new Error('crash');
    };
    const a = runner(good);
    const b = runner(bad);
    a.r.start();
    b.r.start();
    a.connection.put({ type: 'one' });
    b.connection.put({ type: 'boom' });
    await settle();
    a.connection.put({ type: 'two' });
    a.connection.put({ type: 'stop' });
    await a.r.whenFinished();
    expect(served).toEqual(['one', 'two']);
    expect(b.r.outcome?.kind).toBe('raised');
    expect(flushLoggedErrors()).toHaveLength(1);
  });
});

describe('AppRunner: the application-close timeout', () => {
  function lingering(): { app: ASGIApplication; caught: unknown[] } {
    const caught: unknown[] = [];
    const app: ASGIApplication = async (_s, receive) => {
      await receive(); // the disconnect
      try {
        await receive(); // …and then it keeps waiting
      } catch (e) {
        caught.push(e);
        throw e;
      }
    };
    return { app, caught };
  }

  it('cancels an instance still running 10 s after its connection closed, and logs it once', async () => {
    const { app, caught } = lingering();
    const { r, connection, clock } = runner(app);
    r.start();
    connection.put({ type: 'disconnect' });
    connection.close();
    await settle();
    clock.advance(9.9);
    expect(r.finished).toBe(false);
    clock.advance(0.1);
    expect(r.outcome?.kind).toBe('cancelled');
    await settle();
    expect(caught).toHaveLength(1);
    expect(caught[0]).toBeInstanceOf(CancelledError);
    const logged = flushLoggedErrors(ApplicationCloseTimeoutError);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.value.message).toMatch(/took too long to shut down and was killed/);
    clock.advance(100);
    expect(flushLoggedErrors()).toEqual([]);
    expect(clock.getDelayedCalls()).toEqual([]);
    // Its receive and send are refused from now on.
    expect(connection.finished).toHaveLength(1);
    expect(connection.finished[0]!.value).toBeInstanceOf(ApplicationCloseTimeoutError);
  });

  it('takes its timeout from the options', async () => {
    const { app } = lingering();
    const { r, connection, clock } = runner(app, { applicationCloseTimeout: 2 });
    r.start();
    connection.put({ type: 'disconnect' });
    connection.close();
    clock.advance(2);
    expect(r.outcome?.kind).toBe('cancelled');
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });

  it('starts no timer when the application ends in time, or while the connection is open', async () => {
    const { r, connection, clock } = runner(async (_s, receive) => {
      await receive();
    });
    r.start();
    expect(clock.getDelayedCalls()).toEqual([]);
    connection.close();
    expect(clock.getDelayedCalls()).toHaveLength(1);
    connection.put({ type: 'disconnect' });
    await r.whenFinished();
    expect(clock.getDelayedCalls()).toEqual([]);
    clock.advance(20);
    expect(r.outcome).toEqual({ kind: 'returned' });
  });

  it('cancels a Deferred the application returned', () => {
    const cancelled: unknown[] = [];
    const d = new Deferred<void>(() => cancelled.push('cancelled'));
    const { r, connection, clock } = runner(() => d);
    r.start();
    connection.close();
    clock.advance(10);
    expect(cancelled).toEqual(['cancelled']);
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });

  it('ignores the late outcome of a killed instance', async () => {
    const release = new Deferred<void>();
    const { r, connection, clock } = runner(async () => {
      try {
        await release;
      } finally {
        throw new Error('late crash');
      }
    });
    r.start();
    connection.close();
    clock.advance(10);
    release.callback(undefined);
    await settle();
    expect(r.outcome?.kind).toBe('cancelled');
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
    expect(flushLoggedErrors()).toEqual([]);
  });

  it('never kills with applicationCloseTimeout Infinity', () => {
    const { r, connection, clock } = runner(() => new Deferred<void>(), { applicationCloseTimeout: Infinity });
    r.start();
    connection.close();
    expect(clock.getDelayedCalls()).toEqual([]);
    expect(r.finished).toBe(false);
    r.cancel();
  });
});

describe('AppRunner: cancel()', () => {
  it('fails pending and later receive/send with CancelledError', async () => {
    const errors: unknown[] = [];
    let send!: (e: ASGIEvent) => PromiseLike<void>;
    let receive!: () => PromiseLike<ASGIEvent>;
    const { r } = runner(async (_s, rcv, snd) => {
      receive = rcv;
      send = snd;
      try {
        await rcv();
      } catch (e) {
        errors.push(e);
      }
    });
    r.start();
    const watcher = r.whenFinished();
    r.cancel();
    failureResultOf(watcher, CancelledError);
    await settle();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CancelledError);
    await expect(receive()).rejects.toBeInstanceOf(CancelledError);
    await expect(send({ type: 'x' })).rejects.toBeInstanceOf(CancelledError);
    r.cancel(); // idempotent
    expect(r.outcome?.kind).toBe('cancelled');
  });

  it('does nothing to an instance that has ended', () => {
    const { r } = runner((() => undefined) as unknown as ASGIApplication);
    r.start();
    r.cancel();
    expect(r.outcome).toEqual({ kind: 'returned' });
    successResultOf(r.whenFinished());
  });
});

describe('AppRunner over HttpCycle: the server rules', () => {
  function http(app: ASGIApplication) {
    const actions: HttpAction[] = [];
    const cycle = new HttpCycle((a) => {
      actions.push(a);
    });
    const r = new AppRunner(app, scope, cycle, { clock: new Clock() });
    cycle.pushBody(new Uint8Array(0), false);
    r.start();
    return { r, actions };
  }

  it('app raises before the start → 500', async () => {
    const { r, actions } = http(async () => {
      throw new Error('before');
    });
    await r.whenFinished().addErrback(() => undefined);
    expect(actions).toMatchObject([{ kind: 'error-response', status: 500 }]);
    expect(flushLoggedErrors()).toHaveLength(1);
  });

  it('app raises after the start → abort', async () => {
    const { r, actions } = http(async (_s, _r, send) => {
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: new Uint8Array([1]), more_body: true });
      throw new Error('after');
    });
    await r.whenFinished().addErrback(() => undefined);
    expect(actions.map((a) => a.kind)).toEqual(['head', 'body', 'abort']);
    expect(flushLoggedErrors()).toHaveLength(1);
  });

  it('app returns without responding → 500 at once', async () => {
    const { r, actions } = http(async () => undefined);
    await r.whenFinished();
    expect(actions).toMatchObject([{ kind: 'error-response', status: 500, error: null }]);
  });

  it('a second start fails send, aborts, and the app dying of it changes nothing', async () => {
    const { r, actions } = http(async (_s, _r, send) => {
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.start', status: 500 });
    });
    await r.whenFinished().addErrback(() => undefined);
    expect(actions.map((a) => a.kind)).toEqual(['abort']);
    expect(flushLoggedErrors()).toHaveLength(1);
  });

  it('a completed response closes the connection: a lingering app is killed after the timeout', async () => {
    const clock = new Clock();
    const cycle = new HttpCycle(() => undefined);
    const r = new AppRunner(
      async (_s, receive, send) => {
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body' });
        await new Deferred<void>(); // background work that never ends
        await receive();
      },
      scope,
      cycle,
      { clock },
    );
    r.start();
    await settle();
    expect(cycle.closed).toBe(true);
    clock.advance(10);
    expect(r.outcome?.kind).toBe('cancelled');
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });
});

describe('AppRunner: options', () => {
  it('refuses a negative close timeout', () => {
    expect(() => new AppRunner(async () => undefined, scope, new Recorder(), { applicationCloseTimeout: -1 })).toThrow(RangeError);
  });

  it('leaves nothing pending when the application waits forever and is cancelled', () => {
    const { r, clock } = runner(() => new Deferred<void>());
    r.start();
    r.cancel();
    expect(clock.getDelayedCalls()).toEqual([]);
    expect(r.outcome?.kind).toBe('cancelled');
  });
});

describe('AppRunner: fast paths', () => {
  it("send gives a resolved Promise for an event carried out at once, the connection's Deferred otherwise", async () => {
    const gate = new Deferred<void>();
    const cycle = new HttpCycle((a) => (a.kind === 'body' ? gate : undefined));
    const seen: string[] = [];
    const errors: unknown[] = [];
    let later!: PromiseLike<void>;
    const r = new AppRunner(
      async (_s, _receive, send) => {
        const started = send({ type: 'http.response.start', status: 200 });
        expect(started).toBeInstanceOf(Promise);
        expect(sentAtOnce(started)).toBe(true);
        // Every such send gives the same settled Promise: awaiting it resolves with nothing.
        expect(await started).toBeUndefined();
        seen.push('started');
        later = send({ type: 'http.response.body', body: new Uint8Array([1]), more_body: true });
        expect(later).toBeInstanceOf(Deferred); // flow control: waits for the gate
        expect(sentAtOnce(later)).toBe(false);
        await later;
        seen.push('drained');
        await send({ type: 'http.response.start', status: 200 }).then(undefined, (e: unknown) => errors.push(e));
      },
      scope,
      cycle,
      { clock: new Clock() },
    );
    r.start();
    await settle();
    expect(seen).toEqual(['started']);
    gate.callback(undefined);
    await r.whenFinished().addErrback(() => undefined);
    expect(seen).toEqual(['started', 'drained']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
    expect((errors[0] as Error).message).toMatch(/sent twice/);
    flushLoggedErrors();
  });

  it('an application rejecting without a reason is a raised instance, as with a Deferred', async () => {
    const { r, connection } = runner((() => Promise.reject(undefined)) as ASGIApplication);
    r.start();
    await r.whenFinished().addErrback(() => undefined);
    expect(r.outcome?.kind).toBe('raised');
    expect(connection.finished[0]!.value).toBeInstanceOf(Error);
    expect(flushLoggedErrors()).toHaveLength(1);
  });

  it('with a shared CloseTimeouts: killed timeout seconds after its connection closed, as with its own timer', async () => {
    const clock = new Clock();
    const closeTimeouts = new CloseTimeouts(clock, 3);
    const lingering = () => {
      const connection = new Recorder();
      const r = new AppRunner(() => new Deferred<void>(), scope, connection, { closeTimeouts, applicationCloseTimeout: 99 });
      r.start();
      return { r, connection };
    };
    const a = lingering();
    const quick = new Recorder();
    const q = new AppRunner(async (_s, receive) => void (await receive()), scope, quick, { closeTimeouts });
    q.start();
    a.connection.close();
    quick.close();
    clock.advance(1);
    const b = lingering();
    b.connection.close();
    quick.put({ type: 'done' });
    await q.whenFinished();
    expect(closeTimeouts.size).toBe(2); // the one that ended left the list
    clock.advance(1.9);
    expect(a.r.finished).toBe(false);
    clock.advance(0.1); // t = 3
    expect(a.r.outcome?.kind).toBe('cancelled');
    expect(b.r.finished).toBe(false);
    clock.advance(0.9);
    expect(b.r.finished).toBe(false);
    clock.advance(0.1); // t = 4
    expect(b.r.outcome?.kind).toBe('cancelled');
    expect(q.outcome).toEqual({ kind: 'returned' });
    const logged = flushLoggedErrors(ApplicationCloseTimeoutError);
    expect(logged).toHaveLength(2);
    expect(logged[0]!.value.message).toMatch(/3/);
  });
});

describe('senderOf: an application\'s send as an object', () => {
  it('is the runner itself for the send it handed out: sendEvent does what send does, cancellation included', async () => {
    let send: ((e: ASGIEvent) => PromiseLike<void>) | null = null;
    const { r, connection } = runner((_scope, _receive, s) => {
      send = s;
      return new Promise(() => {}); // runs until cancelled
    });
    r.start();
    const sender = senderOf(send!);
    expect(sender).toBe(r);
    await sender.sendEvent({ type: 'http.response.start', status: 200 });
    expect(connection.sent.map((e) => e.type)).toEqual(['http.response.start']);
    r.cancel();
    const after = sender.sendEvent({ type: 'http.response.body', body: new Uint8Array() });
    await expect(after).rejects.toBeInstanceOf(CancelledError);
    expect(connection.sent).toHaveLength(1);
  });

  it('wraps any other function, calling it with the event alone', async () => {
    const calls: Array<{ self: unknown; event: ASGIEvent }> = [];
    const send = function (this: unknown, event: ASGIEvent): Promise<void> {
      calls.push({ self: this, event });
      return Promise.resolve();
    };
    const sender = senderOf(send);
    expect(sender).not.toBe(send);
    await sender.sendEvent({ type: 'x' });
    expect(calls).toEqual([{ self: undefined, event: { type: 'x' } }]);
  });
});

/**
 * System event triggers (Twisted's three-phase events) and the Node
 * reactor's lifecycle: the startup and shutdown order Twisted shows,
 * Deferred- and Promise-returning 'before' triggers, errors logged without
 * stopping the others, run/stop misuse.
 */
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { ReactorAlreadyRunning, ReactorNotRestartable, ReactorNotRunning } from '../../src/reactor/errors.js';
import { SystemEventTriggers, type TriggerId } from '../../src/reactor/lifecycle.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import type { TriggerPhase } from '../../src/reactor/interfaces.js';
import { assertNoResult, successResultOf } from '../../src/testing/results.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

async function within<T>(p: PromiseLike<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('SystemEventTriggers', () => {
  it('runs before, during, after — each phase in the order added', () => {
    const events = new SystemEventTriggers();
    const seen: string[] = [];
    const add = (phase: TriggerPhase, name: string): TriggerId => events.add(phase, 'e', () => seen.push(name), []);
    add('after', 'after 1');
    add('during', 'during 1');
    add('before', 'before 1');
    add('after', 'after 2');
    add('before', 'before 2');
    add('during', 'during 2');
    successResultOf(events.fire('e'));
    expect(seen).toEqual(['before 1', 'before 2', 'during 1', 'during 2', 'after 1', 'after 2']);
  });

  it('passes arguments and fires an event nobody listens to at once', () => {
    const events = new SystemEventTriggers();
    let got: unknown[] = [];
    events.add('during', 'e', (a: number, b: string) => (got = [a, b]), [1, 'x']);
    successResultOf(events.fire('e'));
    expect(got).toEqual([1, 'x']);
    expect(successResultOf(events.fire('nothing here'))).toBeUndefined();
  });

  const waits: Array<{ name: string; make: () => { result: PromiseLike<void>; fire: () => void } }> = [
    {
      name: 'a Deferred',
      make: () => {
        const d = new Deferred<void>();
        return { result: d, fire: () => d.callback(undefined) };
      },
    },
    {
      name: 'a failing Deferred (logged)',
      make: () => {
        const d = new Deferred<void>();
        return { result: d, fire: () => d.errback(new URIError('drain failed')) };
      },
    },
    {
      name: 'a Promise',
      make: () => {
        let resolve!: () => void;
        const p = new Promise<void>((r) => (resolve = r));
        return { result: p, fire: () => resolve() };
      },
    },
  ];
  for (const w of waits) {
    it(`waits for ${w.name} returned by a 'before' trigger`, async () => {
      const events = new SystemEventTriggers();
      const seen: string[] = [];
      const { result, fire } = w.make();
      events.add('before', 'e', () => result, []);
      events.add('before', 'e', () => seen.push('second before'), []);
      events.add('during', 'e', () => seen.push('during'), []);
      events.add('after', 'e', () => seen.push('after'), []);
      const done = events.fire('e');
      expect(seen).toEqual(['second before']);
      assertNoResult(done);
      fire();
      await within(done, 'the event');
      expect(seen).toEqual(['second before', 'during', 'after']);
      flushLoggedErrors(URIError);
    });
  }

  it('logs a trigger that throws and runs the others', () => {
    const events = new SystemEventTriggers();
    const seen: string[] = [];
    for (const phase of ['before', 'during', 'after'] as const) {
      events.add(phase, 'e', () => {
        throw new EvalError(phase);
      }, []);
      events.add(phase, 'e', () => seen.push(phase), []);
    }
    successResultOf(events.fire('e'));
    expect(seen).toEqual(['before', 'during', 'after']);
    expect(flushLoggedErrors(EvalError).map((f) => f.getErrorMessage())).toEqual(['before', 'during', 'after']);
  });

  it('removes triggers that have not run, and refuses other ids', () => {
    const events = new SystemEventTriggers();
    const seen: string[] = [];
    const id = events.add('during', 'e', () => seen.push('removed'), []);
    events.add('during', 'e', () => seen.push('kept'), []);
    events.remove(id);
    expect(() => events.remove(id)).toThrow(Error);
    expect(() => events.remove('not an id')).toThrow(Error);
    successResultOf(events.fire('e'));
    expect(seen).toEqual(['kept']);
  });

  it('consumes triggers: firing again runs only those added since', () => {
    const events = new SystemEventTriggers();
    const seen: string[] = [];
    events.add('during', 'e', () => seen.push('first'), []);
    successResultOf(events.fire('e'));
    events.add('during', 'e', () => seen.push('second'), []);
    successResultOf(events.fire('e'));
    expect(seen).toEqual(['first', 'second']);
  });

  it("runs a 'before' trigger added by a 'before' trigger in the same firing", () => {
    const events = new SystemEventTriggers();
    const seen: string[] = [];
    events.add('before', 'e', () => events.add('before', 'e', () => seen.push('added'), []), []);
    events.add('during', 'e', () => seen.push('during'), []);
    successResultOf(events.fire('e'));
    expect(seen).toEqual(['added', 'during']);
  });

  it('rejects an unknown phase and a non-function', () => {
    const events = new SystemEventTriggers();
    expect(() => events.add('whenever' as TriggerPhase, 'e', () => {}, [])).toThrow(RangeError);
    expect(() => events.add('before', 'e', 42 as unknown as () => void, [])).toThrow(TypeError);
  });
});

describe('NodeReactor lifecycle', () => {
  it("follows Twisted's startup and shutdown order", async () => {
    const reactor = new NodeReactor();
    const seen: string[] = [];
    const note = (name: string) => () => seen.push(`${name}(${reactor.running})`);
    reactor.addSystemEventTrigger('before', 'startup', note('before-startup'));
    reactor.addSystemEventTrigger('during', 'startup', note('during-startup'));
    reactor.addSystemEventTrigger('after', 'startup', note('after-startup'));
    reactor.callWhenRunning(note('callWhenRunning'));
    reactor.addSystemEventTrigger('before', 'shutdown', () => {
      note('before-shutdown')();
      const d = new Deferred<void>();
      reactor.callLater(0.05, () => {
        seen.push('deferred fired');
        d.callback(undefined);
      });
      return d;
    });
    reactor.addSystemEventTrigger('during', 'shutdown', note('during-shutdown'));
    reactor.addSystemEventTrigger('after', 'shutdown', note('after-shutdown'));

    const stopped = reactor.run();
    expect(seen).toEqual([
      'before-startup(false)',
      'during-startup(true)',
      'after-startup(true)',
      'callWhenRunning(true)',
    ]);
    let immediate = false;
    expect(reactor.callWhenRunning(() => (immediate = true))).toBeUndefined();
    expect(immediate).toBe(true);

    reactor.stop();
    assertNoResult(stopped);
    await within(stopped, 'the shutdown');
    expect(seen.slice(4)).toEqual([
      'before-shutdown(true)',
      'deferred fired',
      'during-shutdown(false)',
      'after-shutdown(false)',
    ]);
  });

  it('removes a callWhenRunning hook by its id', async () => {
    const reactor = new NodeReactor();
    let ran = false;
    const id = reactor.callWhenRunning(() => (ran = true));
    reactor.removeSystemEventTrigger(id);
    const stopped = reactor.run();
    reactor.stop();
    await within(stopped, 'the shutdown');
    expect(ran).toBe(false);
  });

  it('fires events of its own with fireSystemEvent', () => {
    const reactor = new NodeReactor();
    const seen: string[] = [];
    reactor.addSystemEventTrigger('before', 'persist', () => seen.push('saving'));
    reactor.addSystemEventTrigger('after', 'persist', (what: string) => seen.push(what), 'saved');
    successResultOf(reactor.fireSystemEvent('persist'));
    expect(seen).toEqual(['saving', 'saved']);
  });

  it('runs once: ReactorAlreadyRunning, ReactorNotRunning, ReactorNotRestartable', async () => {
    const reactor = new NodeReactor();
    expect(() => reactor.stop()).toThrow(ReactorNotRunning);
    const stopped = reactor.run();
    expect(() => reactor.run()).toThrow(ReactorAlreadyRunning);
    reactor.stop();
    expect(() => reactor.stop()).toThrow(ReactorNotRunning);
    await within(stopped, 'the shutdown');
    expect(reactor.running).toBe(false);
    expect(() => reactor.run()).toThrow(ReactorNotRestartable);
    expect(() => reactor.stop()).toThrow(ReactorNotRunning);
  });

  it('logs trigger errors during shutdown and still stops', async () => {
    const reactor = new NodeReactor();
    const stopped = reactor.run();
    reactor.addSystemEventTrigger('before', 'shutdown', () => {
      throw new EvalError('before');
    });
    reactor.addSystemEventTrigger('during', 'shutdown', () => {
      throw new EvalError('during');
    });
    reactor.stop();
    await within(stopped, 'the shutdown');
    expect(flushLoggedErrors(EvalError)).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import {
  formatEvent,
  LogPublisher,
  OBSERVER_DISABLED,
  type LogEvent,
  type LogObserver,
} from '../../src/logger/index.js';
import { makeEvent } from './helpers.js';

function recorder(): { events: LogEvent[]; observer: LogObserver } {
  const events: LogEvent[] = [];
  return { events, observer: (event) => void events.push(event) };
}

function thrower(error: unknown = new Error('observer broke')): { calls: number; observer: LogObserver } {
  const state = {
    calls: 0,
    observer: (): void => {
      state.calls++;
      throw error;
    },
  };
  return state;
}

describe('LogPublisher', () => {
  it('fans each event out to every observer, in order', () => {
    const publisher = new LogPublisher();
    const order: string[] = [];
    publisher.addObserver(() => order.push('a'));
    publisher.addObserver(() => order.push('b'));
    publisher.addObserver(() => order.push('c'));
    publisher.publish(makeEvent());
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('adds an observer once and removes it (removing an absent one is a no-op)', () => {
    const publisher = new LogPublisher();
    const { events, observer } = recorder();
    publisher.addObserver(observer);
    publisher.addObserver(observer);
    publisher.publish(makeEvent());
    expect(events).toHaveLength(1);
    publisher.removeObserver(observer);
    publisher.removeObserver(observer);
    publisher.publish(makeEvent());
    expect(events).toHaveLength(1);
    expect(publisher.observers).toEqual([]);
  });

  it('is an observer itself, so publishers nest', () => {
    const outer = new LogPublisher();
    const inner = new LogPublisher();
    const { events, observer } = recorder();
    inner.addObserver(observer);
    outer.addObserver(inner.observer);
    const event = makeEvent();
    outer.observer(event);
    expect(events).toEqual([event]);
  });

  it('applies changes made during delivery from the next event on', () => {
    const publisher = new LogPublisher();
    const late = recorder();
    const removed = recorder();
    publisher.addObserver(() => {
      publisher.addObserver(late.observer);
      publisher.removeObserver(removed.observer);
    });
    publisher.addObserver(removed.observer);
    publisher.publish(makeEvent({ n: 1 }));
    expect(removed.events).toHaveLength(1);
    expect(late.events).toHaveLength(0);
    publisher.publish(makeEvent({ n: 2 }));
    expect(removed.events).toHaveLength(1);
    expect(late.events.map((e) => e.n)).toEqual([2]);
  });

  it('contains a throwing observer: the others get the event, then an error report', () => {
    const publisher = new LogPublisher();
    const before = recorder();
    const broken = thrower(new Error('observer broke'));
    const after = recorder();
    publisher.addObserver(before.observer);
    publisher.addObserver(broken.observer);
    publisher.addObserver(after.observer);

    const event = makeEvent({ log_format: 'original' });
    expect(() => publisher.publish(event)).not.toThrow();

    for (const { events } of [before, after]) {
      expect(events).toHaveLength(2);
      expect(events[0]).toBe(event);
      const report = events[1]!;
      expect(report).toMatchObject({
        log_namespace: 'spindle.logger',
        log_level: 'error',
        log_format: OBSERVER_DISABLED,
        observer: broken.observer,
      });
      expect(report.log_failure!.getTraceback()).toMatch(/^Error: observer broke\n/);
      expect(formatEvent(report)).toBe('Temporarily disabling observer [Function: observer] due to exception');
    }
    expect(broken.calls).toBe(1); // the report is not sent to the culprit

    // Like Twisted, the observer stays subscribed.
    publisher.publish(makeEvent());
    expect(broken.calls).toBe(2);
    expect(publisher.observers).toContain(broken.observer);
  });

  it('contains observers that throw non-Error values', () => {
    const publisher = new LogPublisher();
    const healthy = recorder();
    publisher.addObserver(thrower('a string').observer);
    publisher.addObserver(healthy.observer);
    expect(() => publisher.publish(makeEvent())).not.toThrow();
    expect(healthy.events[1]!.log_failure!.value).toBe('a string');
  });

  it('does not recurse when every observer throws, even on the reports', () => {
    const publisher = new LogPublisher();
    const throwers = Array.from({ length: 6 }, () => thrower());
    for (const t of throwers) publisher.addObserver(t.observer);
    expect(() => publisher.publish(makeEvent())).not.toThrow();
    for (const t of throwers) expect(t.calls).toBe(1);
  });

  it('excludes, from each report, every observer that threw on the same event', () => {
    const publisher = new LogPublisher();
    const a = thrower();
    const b = thrower();
    const healthy = recorder();
    publisher.addObserver(a.observer);
    publisher.addObserver(b.observer);
    publisher.addObserver(healthy.observer);
    publisher.publish(makeEvent());
    expect(a.calls).toBe(1);
    expect(b.calls).toBe(1);
    expect(healthy.events.map((e) => e.observer)).toEqual([undefined, a.observer, b.observer]);
  });

  it('reports an observer that only throws on reports to the remaining ones', () => {
    const publisher = new LogPublisher();
    const broken = thrower();
    const picky: LogObserver = (event) => {
      if (event.log_namespace === 'spindle.logger') throw new Error('I hate reports');
    };
    const healthy = recorder();
    publisher.addObserver(broken.observer);
    publisher.addObserver(picky);
    publisher.addObserver(healthy.observer);
    publisher.publish(makeEvent());
    expect(healthy.events.map((e) => e.observer)).toEqual([undefined, broken.observer, picky]);
  });

  it('stops an observer that logs to its own publisher from recursing forever', () => {
    const publisher = new LogPublisher();
    let calls = 0;
    publisher.addObserver((event) => {
      calls++;
      publisher.publish(makeEvent({ log_format: 'echo', parent: event }));
    });
    expect(() => publisher.publish(makeEvent())).not.toThrow();
    expect(calls).toBe(32);
    // The publisher still works afterwards.
    calls = 0;
    publisher.publish(makeEvent());
    expect(calls).toBe(32);
  });
});

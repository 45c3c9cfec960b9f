import { describe, expect, it } from 'vitest';
import { setDefaultClockProvider } from '../../src/defer/clock.js';
import { Failure } from '../../src/defer/failure.js';
import { captureEvents } from '../../src/logger/index.js';
import { ReconnectingClientFactory, standardNormal } from '../../src/protocol/factory.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionRefusedError, NotConnectingError } from '../../src/reactor/errors.js';
import type { IConnector } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/clock.js';

/** A connector that records what the factory does with it. */
class FakeConnector implements IConnector {
  state: 'disconnected' | 'connecting' | 'connected' = 'disconnected';
  connects = 0;
  stops = 0;
  connect(): void {
    this.connects += 1;
    this.state = 'connecting';
  }
  disconnect(): void {
    this.state = 'disconnected';
  }
  stopConnecting(): void {
    this.stops += 1;
    this.state = 'disconnected';
  }
  getDestination(): IPv4Address {
    return new IPv4Address('TCP', '127.0.0.1', 6379);
  }
}

const refused = () => new Failure(new ConnectionRefusedError('refused'));

function setup(options: ConstructorParameters<typeof ReconnectingClientFactory>[0] = {}) {
  const clock = new Clock();
  const f = new ReconnectingClientFactory({ clock, jitter: 0, ...options });
  f.noisy = false;
  const connector = new FakeConnector();
  return { clock, f, connector };
}

/** Seconds until the pending retry, or null. */
function pendingDelay(clock: Clock): number | null {
  const calls = clock.getDelayedCalls();
  return calls.length === 0 ? null : calls[0]!.getTime() - clock.seconds();
}

/** A seeded uniform generator (mulberry32), for deterministic jitter. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ReconnectingClientFactory', () => {
  it("has Twisted's parameters", () => {
    const f = new ReconnectingClientFactory();
    expect([f.initialDelay, f.factor, f.jitter, f.maxDelay, f.maxRetries]).toEqual([
      1.0,
      Math.E,
      0.119626565582,
      3600,
      null,
    ]);
    expect([f.delay, f.retries, f.continueTrying, f.clock, f.capAfterJitter]).toEqual([1.0, 0, true, null, false]);
  });

  it('[exp] with jitter 0 the delays are 2.718, 7.389, 20.09, 54.6, 148.4: the first retry already multiplies', () => {
    const { clock, f, connector } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      f.clientConnectionFailed(connector, refused());
      delays.push(pendingDelay(clock)!);
      clock.advance(delays[i]!);
      expect(connector.connects).toBe(i + 1);
      expect(clock.getDelayedCalls()).toEqual([]);
    }
    const expected = [2.718, 7.389, 20.09, 54.6, 148.4];
    delays.forEach((d, i) => expect(d).toBeCloseTo(expected[i]!, 1));
    expect(delays[0]).toBeCloseTo(Math.E, 10);
    expect(f.retries).toBe(5);
  });

  it('clientConnectionLost retries as well', () => {
    const { clock, f, connector } = setup();
    f.clientConnectionLost(connector, new Failure(new ConnectionDone()));
    expect(pendingDelay(clock)).toBeCloseTo(Math.E, 10);
    expect(f.connector).toBe(connector);
  });

  it('the delay is capped at maxDelay (before jitter)', () => {
    const { clock, f, connector } = setup({ maxDelay: 10 });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      f.clientConnectionFailed(connector, refused());
      delays.push(pendingDelay(clock)!);
      clock.advance(delays[i]!);
    }
    expect(delays.map((d) => Number(d.toFixed(3)))).toEqual([2.718, 7.389, 10, 10]);
  });

  it('maxRetries: gives up after that many retries', () => {
    const { clock, f, connector } = setup({ maxRetries: 2 });
    const log = captureEvents();
    f.noisy = true;
    try {
      for (let i = 0; i < 3; i++) {
        f.clientConnectionFailed(connector, refused());
        clock.advance(1000);
      }
    } finally {
      log.stop();
    }
    expect(connector.connects).toBe(2);
    expect(f.retries).toBe(3);
    expect(clock.getDelayedCalls()).toEqual([]);
    const formats = log.events.filter((e) => e.log_namespace === 'spindle.protocol').map((e) => e.log_format);
    expect(formats).toEqual([
      '{connector} will retry in {delay} seconds',
      '{connector} will retry in {delay} seconds',
      'Abandoning {connector} after {retries} retries.',
    ]);
  });

  it('stopTrying cancels the pending retry, stops a connecting connector, and later failures do nothing', () => {
    const { clock, f, connector } = setup();
    f.clientConnectionFailed(connector, refused());
    expect(clock.getDelayedCalls()).toHaveLength(1);
    connector.state = 'connecting';
    f.stopTrying();
    expect(clock.getDelayedCalls()).toEqual([]);
    expect(connector.stops).toBe(1);
    expect(f.continueTrying).toBe(false);
    clock.advance(10_000);
    expect(connector.connects).toBe(0);
    f.clientConnectionFailed(connector, refused());
    f.clientConnectionLost(connector, refused());
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('stopTrying leaves a connector that is not connecting alone', () => {
    const { f, connector } = setup();
    f.clientConnectionFailed(connector, refused());
    connector.state = 'connected';
    f.stopTrying();
    expect(connector.stops).toBe(0);
    f.stopTrying(); // twice is fine
  });

  it('stopTrying tolerates a connector that stopped connecting meanwhile (NotConnectingError)', () => {
    const { f, connector } = setup();
    f.clientConnectionFailed(connector, refused());
    connector.state = 'connecting';
    connector.stopConnecting = () => {
      throw new NotConnectingError();
    };
    expect(() => f.stopTrying()).not.toThrow();
    connector.stopConnecting = () => {
      throw new RangeError('something else');
    };
    connector.state = 'connecting';
    expect(() => f.stopTrying()).toThrow(RangeError);
  });

  it('retry after stopTrying abandons, logging why', () => {
    const { clock, f, connector } = setup();
    f.stopTrying();
    f.noisy = true;
    const log = captureEvents();
    try {
      f.retry(connector);
    } finally {
      log.stop();
    }
    expect(clock.getDelayedCalls()).toEqual([]);
    expect(log.events.map((e) => e.log_format)).toContain('Abandoning {connector} on explicit request');
  });

  it('resetDelay starts the backoff again (and undoes stopTrying)', () => {
    const { clock, f, connector } = setup();
    for (let i = 0; i < 3; i++) {
      f.clientConnectionFailed(connector, refused());
      clock.advance(pendingDelay(clock)!);
    }
    expect(f.delay).toBeCloseTo(Math.E ** 3, 6);
    f.resetDelay();
    expect([f.delay, f.retries]).toEqual([1.0, 0]);
    f.clientConnectionFailed(connector, refused());
    expect(pendingDelay(clock)).toBeCloseTo(Math.E, 10);

    f.stopTrying();
    f.resetDelay();
    expect(f.continueTrying).toBe(true);
    f.clientConnectionFailed(connector, refused());
    expect(pendingDelay(clock)).toBeCloseTo(Math.E, 10);
  });

  it('resetDelay in buildProtocol keeps the delay short across reconnections', () => {
    class Client extends ReconnectingClientFactory<Protocol> {
      override protocol = Protocol;
      override noisy = false;
      override buildProtocol(addr: IPv4Address): Protocol | null {
        this.resetDelay();
        return super.buildProtocol(addr);
      }
    }
    const clock = new Clock();
    const f = new Client({ clock, jitter: 0 });
    const connector = new FakeConnector();
    for (let i = 0; i < 3; i++) {
      f.buildProtocol(connector.getDestination());
      f.clientConnectionLost(connector, new Failure(new ConnectionDone()));
      expect(pendingDelay(clock)).toBeCloseTo(Math.E, 10);
      clock.advance(Math.E);
    }
  });

  it('a subclass changing initialDelay as a field is honoured from the first retry', () => {
    class Quick extends ReconnectingClientFactory {
      override initialDelay = 0.1;
      override factor = 2;
      override jitter = 0;
      override noisy = false;
    }
    const clock = new Clock();
    const f = new Quick({ clock });
    f.clientConnectionFailed(new FakeConnector(), refused());
    expect(pendingDelay(clock)).toBeCloseTo(0.2, 10);
  });

  it('retry() without any connector throws', () => {
    const { f } = setup();
    expect(() => f.retry()).toThrow(/no connector/);
  });

  it('jitter draws a normal variate (mean delay, deviation delay * jitter) from the injected source', () => {
    // u1 = 1 - e^-0.5 and u2 = 0 give a standard normal of exactly +1.
    const draws = [1 - Math.exp(-0.5), 0];
    const { clock, f, connector } = setup({ jitter: 0.1, random: () => draws.shift()! });
    f.clientConnectionFailed(connector, refused());
    expect(pendingDelay(clock)).toBeCloseTo(Math.E * 1.1, 10);
    expect(f.delay).toBeCloseTo(Math.E * 1.1, 10);
  });

  it('jitter applies after the cap, so the delay may exceed maxDelay; capAfterJitter clamps it', () => {
    const plusOne = () => {
      const draws = [1 - Math.exp(-0.5), 0];
      return () => draws.shift()!;
    };
    const a = setup({ maxDelay: 2, jitter: 0.1, random: plusOne() });
    a.f.clientConnectionFailed(a.connector, refused());
    expect(pendingDelay(a.clock)).toBeCloseTo(2.2, 10);

    const b = setup({ maxDelay: 2, jitter: 0.1, random: plusOne(), capAfterJitter: true });
    b.f.clientConnectionFailed(b.connector, refused());
    expect(pendingDelay(b.clock)).toBeCloseTo(2, 10);
  });

  it('a negative draw is clamped to a delay of 0', () => {
    // u1 close to 1 and u2 = 0.5 give a standard normal of about -9.
    const draws = [1 - 1e-15, 0.5];
    const { clock, f, connector } = setup({ jitter: 0.5, random: () => draws.shift()! });
    f.clientConnectionFailed(connector, refused());
    expect(pendingDelay(clock)).toBe(0);
  });

  it('standardNormal (Box–Muller) has mean 0 and deviation 1', () => {
    const random = seeded(12345);
    const n = 20000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const z = standardNormal(random);
      sum += z;
      sq += z * z;
    }
    const mean = sum / n;
    const sd = Math.sqrt(sq / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });

  it('noisy logs each retry delay', () => {
    const { clock, f, connector } = setup();
    f.noisy = true;
    const log = captureEvents();
    try {
      f.clientConnectionFailed(connector, refused());
    } finally {
      log.stop();
    }
    const e = log.events.find((ev) => ev.log_format === '{connector} will retry in {delay} seconds')!;
    expect(e['delay']).toBe(2.718);
    expect(e['connector']).toBe('connector to 127.0.0.1:6379');
    expect(e.log_level).toBe('info');
    clock.advance(3);
  });

  it('forProtocol passes the options', () => {
    const clock = new Clock();
    const f = ReconnectingClientFactory.forProtocol(Protocol, { clock, maxRetries: 1 });
    expect([f.clock, f.maxRetries, f.protocol]).toEqual([clock, 1, Protocol]);
  });

  it('without a clock, schedules on the default clock (the global reactor)', () => {
    const clock = new Clock();
    setDefaultClockProvider(() => clock);
    const f = new ReconnectingClientFactory({ jitter: 0 });
    f.noisy = false;
    const connector = new FakeConnector();
    f.clientConnectionFailed(connector, refused());
    expect(pendingDelay(clock)).toBeCloseTo(Math.E, 10);
    clock.advance(3);
    expect(connector.connects).toBe(1);
    expect(f.pendingRetry).toBeNull();
  });
});

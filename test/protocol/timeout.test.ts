import { describe, expect, it } from 'vitest';
import { setDefaultClockProvider } from '../../src/defer/clock.js';
import { Failure } from '../../src/defer/failure.js';
import { Factory } from '../../src/protocol/factory.js';
import { LineReceiver } from '../../src/protocol/lineReceiver.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { TimeoutFactory, TimeoutPolicy, TimeoutProtocol, withTimeout } from '../../src/protocol/timeout.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone } from '../../src/reactor/errors.js';
import { Clock } from '../../src/testing/clock.js';
import { StringTransport, StringTransportWithDisconnection } from '../../src/testing/stringTransport.js';

describe('TimeoutPolicy', () => {
  it('[exp] a reset at t=4 postpones a 5 s timeout to t=9', () => {
    const clock = new Clock();
    const fired: number[] = [];
    const policy = new TimeoutPolicy(clock, () => fired.push(clock.seconds()));
    policy.setTimeout(5);
    clock.advance(4);
    policy.resetTimeout();
    clock.advance(4.9);
    expect(fired).toEqual([]);
    clock.advance(0.1);
    expect(fired).toEqual([9]);
  });

  it('setTimeout returns the previous period; null cancels', () => {
    const clock = new Clock();
    const policy = new TimeoutPolicy(clock, () => {});
    expect(policy.setTimeout(5)).toBeNull();
    expect(policy.setTimeout(10)).toBe(5);
    expect(clock.getDelayedCalls()).toHaveLength(1);
    expect(clock.getDelayedCalls()[0]!.getTime()).toBe(10);
    expect(policy.setTimeout(null)).toBe(10);
    expect(clock.getDelayedCalls()).toEqual([]);
    expect(policy.pending).toBeNull();
  });

  // Each row: steps, then the times at which the timeout fired.
  // Advance whole seconds one at a time, so callbacks see the time they were due.
  const tick = (c: Clock, n: number) => c.pump(Array<number>(n).fill(1));
  const table: [string, (p: TimeoutPolicy, c: Clock) => void, number[]][] = [
    ['fires once after the period', (p, c) => (p.setTimeout(3), tick(c, 10)), [3]],
    ['resetTimeout with nothing pending does nothing', (p, c) => (p.resetTimeout(), tick(c, 10)), []],
    [
      'resetTimeout after firing does not re-arm',
      (p, c) => {
        p.setTimeout(1);
        c.advance(1);
        p.resetTimeout();
        tick(c, 10);
      },
      [1],
    ],
    [
      'setTimeout after firing starts a new timer',
      (p, c) => {
        p.setTimeout(1);
        c.advance(1);
        p.setTimeout(2);
        tick(c, 10);
      },
      [1, 3],
    ],
    [
      'setTimeout while pending restarts the countdown from now',
      (p, c) => {
        p.setTimeout(5);
        c.advance(3);
        p.setTimeout(5);
        tick(c, 10);
      },
      [8],
    ],
    [
      'cancel stops it and forgets the period',
      (p, c) => {
        p.setTimeout(5);
        c.advance(1);
        p.cancel();
        expect(p.timeOut).toBeNull();
        tick(c, 10);
      },
      [],
    ],
    [
      'a timer cancelled elsewhere is replaced, not an error',
      (p, c) => {
        p.setTimeout(5);
        c.getDelayedCalls()[0]!.cancel();
        p.resetTimeout();
        p.setTimeout(2);
        tick(c, 10);
      },
      [2],
    ],
  ];
  for (const [name, steps, expected] of table) {
    it(name, () => {
      const clock = new Clock();
      const fired: number[] = [];
      const policy = new TimeoutPolicy(clock, () => fired.push(clock.seconds()));
      steps(policy, clock);
      expect(fired).toEqual(expected);
    });
  }

  it('uses the default clock when given none', () => {
    const clock = new Clock();
    setDefaultClockProvider(() => clock);
    let fired = false;
    const policy = new TimeoutPolicy(null, () => (fired = true));
    policy.setTimeout(1);
    clock.advance(1);
    expect(fired).toBe(true);
  });
});

/** Twisted's TimeoutTester: timeOut 3, records timeouts instead of disconnecting. */
class TimeoutTester extends withTimeout(Protocol) {
  override timeOut: number | null = 3;
  timedOut = false;

  constructor(clock: Clock) {
    super();
    this.clock = clock;
  }

  override connectionMade(): void {
    this.setTimeout(this.timeOut);
  }

  override dataReceived(data: Uint8Array): void {
    this.resetTimeout();
    super.dataReceived(data);
  }

  override connectionLost(reason: Failure): void {
    this.setTimeout(null);
  }

  override timeoutConnection(): void {
    this.timedOut = true;
  }
}

describe('withTimeout (Twisted TimeoutMixinTests)', () => {
  it('test_overriddenCallLater: an overridden callLater is used', () => {
    const clock = new Clock();
    const calls: number[] = [];
    class Overridden extends TimeoutTester {
      override callLater(seconds: number, fn: () => void) {
        calls.push(seconds);
        return clock.callLater(seconds, fn);
      }
    }
    const p = new Overridden(new Clock());
    p.setTimeout(10);
    expect(calls).toEqual([10]);
    expect(clock.getDelayedCalls()).toHaveLength(1);
  });

  it('test_timeout: times out at timeOut', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.makeConnection(new StringTransport());
    clock.pump([0, 0.5, 1.0, 1.0]);
    expect(p.timedOut).toBe(false);
    clock.pump([0, 1.0]);
    expect(p.timedOut).toBe(true);
  });

  it('test_noTimeout: received data postpones the timeout', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.makeConnection(new StringTransport());
    clock.pump([0, 0.5, 1.0, 1.0]);
    expect(p.timedOut).toBe(false);
    p.dataReceived(Buffer.from('hello there'));
    clock.pump([0, 1.0, 1.0, 0.5]);
    expect(p.timedOut).toBe(false);
    clock.pump([0, 1.0]);
    expect(p.timedOut).toBe(true);
  });

  it('test_resetTimeout: setting a new value replaces the previous timeout', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.timeOut = null;
    p.makeConnection(new StringTransport());
    p.setTimeout(1);
    expect(p.timeOut).toBe(1);
    clock.pump([0, 0.9]);
    expect(p.timedOut).toBe(false);
    clock.pump([0, 0.2]);
    expect(p.timedOut).toBe(true);
  });

  it('test_cancelTimeout: setTimeout(null) cancels', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.timeOut = 5;
    p.makeConnection(new StringTransport());
    p.setTimeout(null);
    expect(p.timeOut).toBeNull();
    clock.pump([0, 5, 5, 5]);
    expect(p.timedOut).toBe(false);
  });

  it('test_setTimeoutReturn: setTimeout returns the previous timeout', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.timeOut = 5;
    expect(p.setTimeout(10)).toBe(5);
    expect(p.setTimeout(null)).toBe(10);
    expect(p.setTimeout(1)).toBeNull();
    expect(p.timeOut).toBe(1);
    p.setTimeout(null);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('test_setTimeoutCancleAlreadyCancelled: cancelled elsewhere, then setTimeout(null)', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.setTimeout(3);
    clock.getDelayedCalls()[0]!.cancel();
    expect(p.timeOut).not.toBeNull();
    p.setTimeout(null);
    expect(p.timeOut).toBeNull();
  });

  it('[exp] a reset at t=4 postpones a 5 s timeout to t=9', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.timeOut = 5;
    p.makeConnection(new StringTransport());
    clock.advance(4);
    p.dataReceived(Buffer.from('x'));
    clock.advance(4.99);
    expect(p.timedOut).toBe(false);
    clock.advance(0.01);
    expect(p.timedOut).toBe(true);
    expect(clock.seconds()).toBe(9);
  });

  it('resetTimeout uses the current timeOut, even one assigned directly', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.makeConnection(new StringTransport()); // 3 s, due at 3
    p.timeOut = 10;
    p.resetTimeout(); // due at 10
    clock.advance(9.9);
    expect(p.timedOut).toBe(false);
    clock.advance(0.1);
    expect(p.timedOut).toBe(true);
  });

  it('cancelTimeout cancels and clears timeOut', () => {
    const clock = new Clock();
    const p = new TimeoutTester(clock);
    p.makeConnection(new StringTransport());
    p.cancelTimeout();
    expect(p.timeOut).toBeNull();
    clock.advance(100);
    expect(p.timedOut).toBe(false);
    p.cancelTimeout(); // again: fine
  });

  it('the default timeoutConnection closes the transport', () => {
    class Idle extends withTimeout(Protocol) {
      override connectionMade(): void {
        this.setTimeout(2);
      }
    }
    const clock = new Clock();
    const p = new Idle();
    p.clock = clock;
    const t = new StringTransport();
    p.makeConnection(t);
    clock.advance(2);
    expect(t.disconnecting).toBe(true);
  });

  it('composes with LineReceiver: lines reset the timer', () => {
    class IdleLines extends withTimeout(LineReceiver) {
      override timeOut: number | null = 5;
      lines: string[] = [];
      override connectionMade(): void {
        this.setTimeout(this.timeOut);
      }
      override lineReceived(line: Buffer): void {
        this.resetTimeout();
        this.lines.push(line.toString());
      }
    }
    const clock = new Clock();
    const p = new IdleLines();
    p.clock = clock;
    const t = new StringTransport();
    p.makeConnection(t);
    clock.advance(4);
    p.dataReceived(Buffer.from('hi\r\n'));
    clock.advance(4);
    expect(t.disconnecting).toBe(false);
    clock.advance(1);
    expect(t.disconnecting).toBe(true);
    expect(p.lines).toEqual(['hi']);
  });
});

/** Twisted's SimpleProtocol, for the TimeoutFactory tests. */
class SimpleProtocol extends Protocol {
  disconnected = false;
  buffer = '';
  override dataReceived(data: Uint8Array): void {
    this.buffer += Buffer.from(data).toString();
  }
  override connectionLost(reason: Failure): void {
    super.connectionLost(reason);
    this.disconnected = true;
  }
}

function timeoutSetup(period: number | undefined) {
  const clock = new Clock();
  const wrapped = Factory.forProtocol(SimpleProtocol);
  const factory = new TimeoutFactory(wrapped, { clock, ...(period === undefined ? {} : { timeoutPeriod: period }) });
  const proto = factory.buildProtocol(new IPv4Address('TCP', '127.0.0.1', 12345))!;
  const transport = new StringTransportWithDisconnection();
  transport.protocol = proto;
  proto.makeConnection(transport);
  const inner = proto.wrappedProtocol as SimpleProtocol;
  return { clock, factory, proto, transport, inner };
}

describe('TimeoutFactory (Twisted TimeoutFactoryTests / TimeoutProtocolTests)', () => {
  it('defaults to 30 minutes', () => {
    const { clock, inner, proto } = timeoutSetup(undefined);
    expect(proto).toBeInstanceOf(TimeoutProtocol);
    expect(proto.timeoutPeriod).toBe(1800);
    clock.advance(1799);
    expect(inner.disconnected).toBe(false);
    clock.advance(1);
    expect(inner.disconnected).toBe(true);
  });

  it('test_timeout: an idle connection is closed after the period', () => {
    const { clock, inner } = timeoutSetup(3);
    clock.pump([0.0, 0.5, 1.0, 1.0, 0.4]);
    expect(inner.disconnected).toBe(false);
    clock.pump([0.0, 0.2]);
    expect(inner.disconnected).toBe(true);
  });

  it('test_sendAvoidsTimeout: write and writeSequence reset the countdown', () => {
    const { clock, inner, proto } = timeoutSetup(3);
    clock.pump([0.0, 0.5, 1.0]);
    expect(inner.disconnected).toBe(false);
    proto.write(Buffer.from('bytes bytes bytes'));
    clock.pump([0.0, 1.0, 1.0]);
    expect(inner.disconnected).toBe(false);
    proto.writeSequence([Buffer.from('bytes'), Buffer.from('bytes')]);
    clock.pump([0.0, 1.0, 1.0]);
    expect(inner.disconnected).toBe(false);
    clock.pump([0.0, 2.0]);
    expect(inner.disconnected).toBe(true);
  });

  it('test_receiveAvoidsTimeout: received data resets the countdown', () => {
    const { clock, inner, proto } = timeoutSetup(3);
    clock.pump([0.0, 1.0, 0.5]);
    expect(inner.disconnected).toBe(false);
    proto.dataReceived(Buffer.from('bytes bytes bytes'));
    clock.pump([0.0, 1.0, 1.0]);
    expect(inner.disconnected).toBe(false);
    clock.pump([0.0, 1.0, 1.0]);
    expect(inner.disconnected).toBe(true);
    expect(inner.buffer).toBe('bytes bytes bytes');
  });

  it('test_cancelTimeout / NoTimeout / AlreadyCalled / AlreadyCancelled', () => {
    const a = timeoutSetup(undefined);
    a.proto.setTimeout(null);
    expect(a.proto.timeoutCall).toBeNull();
    a.proto.cancelTimeout(); // no timeout: nothing happens

    a.proto.setTimeout(3);
    expect(a.proto.timeoutCall).not.toBeNull();
    a.clock.advance(1);
    a.proto.cancelTimeout();
    expect(a.proto.timeoutCall).toBeNull();
    a.clock.advance(3);
    expect(a.inner.disconnected).toBe(false);

    const b = timeoutSetup(undefined);
    b.proto.setTimeout(3);
    b.clock.advance(3);
    expect(b.inner.disconnected).toBe(true);
    b.proto.cancelTimeout(); // already ran: no error

    const c = timeoutSetup(undefined);
    c.proto.setTimeout(3);
    c.proto.timeoutCall!.cancel();
    c.proto.cancelTimeout(); // cancelled elsewhere: no error
    expect(c.inner.disconnected).toBe(false);
  });

  it('connectionLost cancels the timer', () => {
    const { clock, transport } = timeoutSetup(3);
    transport.loseConnection();
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('a timed-out connection reaches the wrapped protocol as ConnectionDone', () => {
    const { clock, inner } = timeoutSetup(1);
    const reasons: string[] = [];
    const original = inner.connectionLost.bind(inner);
    inner.connectionLost = (reason: Failure) => {
      reasons.push(reason.type.name);
      original(reason);
    };
    clock.advance(1);
    expect(reasons).toEqual([ConnectionDone.name]);
  });
});

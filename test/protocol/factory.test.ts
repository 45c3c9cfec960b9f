import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { captureEvents } from '../../src/logger/index.js';
import { ClientFactory, Factory, instantiateProtocol } from '../../src/protocol/factory.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionRefusedError } from '../../src/reactor/errors.js';
import type { IClientFactory, IConnector, IProtocol, IProtocolFactory } from '../../src/reactor/interfaces.js';

const addr = new IPv4Address('TCP', '127.0.0.1', 4321);

class Echo extends Protocol {}

describe('Factory.buildProtocol', () => {
  it('builds the protocol class and sets its factory', () => {
    const f = new Factory<Echo>();
    f.protocol = Echo;
    const p = f.buildProtocol(addr);
    expect(p).toBeInstanceOf(Echo);
    expect(p!.factory).toBe(f);
  });

  it('calls a function returning a protocol (a plain object gets `factory` too)', () => {
    const f = new Factory();
    const plain: IProtocol = {};
    f.protocol = () => plain;
    const p = f.buildProtocol(addr);
    expect(p).toBe(plain);
    expect((p as { factory?: unknown }).factory).toBe(f);
  });

  it('returning null refuses the connection', () => {
    const f = new Factory();
    f.protocol = () => null;
    expect(f.buildProtocol(addr)).toBeNull();

    class Picky extends Factory<Echo> {
      override protocol = Echo;
      override buildProtocol(a: IPv4Address): Echo | null {
        return a.host === '10.0.0.66' ? null : super.buildProtocol(a);
      }
    }
    const picky = new Picky();
    expect(picky.buildProtocol(new IPv4Address('TCP', '10.0.0.66', 1))).toBeNull();
    expect(picky.buildProtocol(addr)).toBeInstanceOf(Echo);
  });

  it('throws a TypeError when no protocol is set', () => {
    class Unset extends Factory {}
    expect(() => new Unset().buildProtocol(addr)).toThrow(/Unset\.protocol is not set/);
  });

  it('a subclass may set the protocol as a field and keep state for its protocols', () => {
    class Counter extends Protocol {
      declare factory: CountingFactory;
      override connectionMade(): void {
        this.factory.count += 1;
      }
    }
    class CountingFactory extends Factory<Counter> {
      override protocol = Counter;
      count = 0;
    }
    const f = new CountingFactory();
    for (let i = 0; i < 3; i++) f.buildProtocol(addr)!.makeConnection({} as never);
    expect(f.count).toBe(3);
  });
});

describe('instantiateProtocol', () => {
  it('constructs classes and calls functions', () => {
    let built = 0;
    class WithCtor extends Protocol {
      constructor() {
        super();
        built++;
      }
    }
    expect(instantiateProtocol(WithCtor)).toBeInstanceOf(WithCtor);
    expect(built).toBe(1);
    expect(instantiateProtocol(() => new WithCtor())).toBeInstanceOf(WithCtor);
    function classic(): IProtocol {
      return { connectionMade() {} };
    }
    expect(instantiateProtocol(classic)).toHaveProperty('connectionMade');
    expect(() => instantiateProtocol(42 as never)).toThrow(TypeError);
  });
});

describe('Factory.forProtocol', () => {
  it('makes a factory of the class it is called on, with the protocol set', () => {
    const f = Factory.forProtocol(Echo);
    expect(f).toBeInstanceOf(Factory);
    expect(f.protocol).toBe(Echo);
    expect(f.buildProtocol(addr)).toBeInstanceOf(Echo);
  });

  it('passes the extra arguments to the constructor', () => {
    class Named extends ClientFactory {
      constructor(
        readonly name: string,
        readonly n: number,
      ) {
        super();
      }
    }
    const f = Named.forProtocol(Echo, 'x', 3);
    expect(f).toBeInstanceOf(Named);
    expect([f.name, f.n, f.protocol]).toEqual(['x', 3, Echo]);
  });
});

describe('Factory.doStart / doStop', () => {
  class Tracking extends Factory {
    override noisy = false;
    events: string[] = [];
    override startFactory(): void {
      this.events.push('start');
    }
    override stopFactory(): void {
      this.events.push('stop');
    }
  }

  // [calls, expected events, expected numPorts]
  const table: [string[], string[], number][] = [
    [['doStart'], ['start'], 1],
    [['doStart', 'doStart'], ['start'], 2],
    [['doStart', 'doStart', 'doStop'], ['start'], 1],
    [['doStart', 'doStart', 'doStop', 'doStop'], ['start', 'stop'], 0],
    [['doStart', 'doStop', 'doStart', 'doStop'], ['start', 'stop', 'start', 'stop'], 0],
    [['doStop'], [], 0],
    [['doStart', 'doStop', 'doStop', 'doStart'], ['start', 'stop', 'start'], 1],
  ];
  for (const [calls, events, numPorts] of table) {
    it(`${calls.join(', ')} → ${events.join(', ') || 'nothing'}`, () => {
      const f = new Tracking();
      for (const c of calls) (c === 'doStart' ? f.doStart() : f.doStop());
      expect(f.events).toEqual(events);
      expect(f.numPorts).toBe(numPorts);
    });
  }

  it('noisy (the default) logs start and stop on spindle.protocol; quiet logs nothing', () => {
    class Loud extends Factory {}
    const capture = captureEvents();
    try {
      const loud = new Loud();
      expect(loud.noisy).toBe(true);
      loud.doStart();
      loud.doStart();
      loud.doStop();
      loud.doStop();
      const quiet = new Loud();
      quiet.noisy = false;
      quiet.doStart();
      quiet.doStop();
    } finally {
      capture.stop();
    }
    const mine = capture.events.filter((e) => e.log_namespace === 'spindle.protocol');
    expect(mine.map((e) => [e.log_level, e.log_format, e['factory']])).toEqual([
      ['info', 'Starting factory {factory}', 'Loud'],
      ['info', 'Stopping factory {factory}', 'Loud'],
    ]);
  });
});

describe('ClientFactory', () => {
  it('has no-op connection callbacks and satisfies IClientFactory', () => {
    const f: IClientFactory = ClientFactory.forProtocol(Echo);
    const connector = {} as IConnector;
    f.startedConnecting!(connector);
    f.clientConnectionFailed!(connector, new Failure(new ConnectionRefusedError()));
    f.clientConnectionLost!(connector, new Failure(new ConnectionRefusedError()));
    const asFactory: IProtocolFactory = f;
    expect(asFactory.buildProtocol(addr)).toBeInstanceOf(Echo);
  });

  it('retries with the same connector by calling connect() from clientConnectionFailed', () => {
    let connects = 0;
    const connector = { connect: () => void connects++ } as unknown as IConnector;
    class Retry extends ClientFactory {
      tries = 0;
      override clientConnectionFailed(c: IConnector, reason: Failure): void {
        if (++this.tries < 3) c.connect();
      }
    }
    const f = new Retry();
    for (let i = 0; i < 5; i++) f.clientConnectionFailed(connector, new Failure(new ConnectionRefusedError()));
    expect(connects).toBe(2);
  });
});

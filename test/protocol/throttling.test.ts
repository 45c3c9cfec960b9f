import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { Factory } from '../../src/protocol/factory.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { ThrottlingFactory, ThrottlingProtocol } from '../../src/protocol/throttling.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone } from '../../src/reactor/errors.js';
import type { IPullProducer } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/clock.js';
import { StringTransportWithDisconnection } from '../../src/testing/stringTransport.js';

const addr = new IPv4Address('TCP', '127.0.0.1', 0);

/** Twisted's EchoProtocol: echoes, and is a push producer that records pauses. */
class EchoProtocol extends Protocol {
  paused = false;
  pauseProducing(): void {
    this.paused = true;
  }
  resumeProducing(): void {
    this.paused = false;
  }
  stopProducing(): void {}
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

/** Echo that registers itself as its transport's streaming producer. */
class ProducingEcho extends EchoProtocol {
  override connectionMade(): void {
    this.transport.registerProducer(this, true);
  }
}

function setup(options: ConstructorParameters<typeof ThrottlingFactory>[1] = {}, P: new () => Protocol = EchoProtocol) {
  const clock = new Clock();
  const factory = new ThrottlingFactory(Factory.forProtocol(P), { clock, ...options });
  factory.noisy = false;
  const connect = () => {
    const p = factory.buildProtocol(addr);
    if (p === null) return null;
    const t = new StringTransportWithDisconnection();
    t.protocol = p;
    p.makeConnection(t);
    return { p, t };
  };
  return { clock, factory, connect };
}

describe('ThrottlingFactory (Twisted ThrottlingTests)', () => {
  it('test_writeSequence: counted on the factory', () => {
    const { factory, connect } = setup();
    const { p, t } = connect()!;
    p.writeSequence([Buffer.from('bytes'), Buffer.from('bytes'), Buffer.from('bytes'), Buffer.from('bytes')]);
    expect(t.value().toString()).toBe('bytesbytesbytesbytes');
    expect(factory.writtenThisSecond).toBe(20);
  });

  it('test_writeLimit: the producer is paused about a second, then resumed', () => {
    const { clock, factory, connect } = setup({ writeLimit: 10 }, ProducingEcho);
    const { p, t } = connect()!;
    const producer = p.wrappedProtocol as ProducingEcho;
    expect(p.producer).toBe(producer);

    p.dataReceived(Buffer.from('0123456789'));
    p.dataReceived(Buffer.from('abcdefghij'));
    expect(t.value().toString()).toBe('0123456789abcdefghij');
    expect(factory.writtenThisSecond).toBe(20);
    expect(producer.paused).toBe(false);

    clock.advance(1.05);
    expect(factory.writtenThisSecond).toBe(0);
    expect(producer.paused).toBe(true);

    clock.advance(1.05);
    expect(factory.writtenThisSecond).toBe(0);
    expect(producer.paused).toBe(false);
  });

  it('test_readLimit: reading is paused about a second, then resumed, twice', () => {
    const { clock, factory, connect } = setup({ readLimit: 10 });
    const { p, t } = connect()!;

    for (let round = 0; round < 2; round++) {
      t.clear();
      p.dataReceived(Buffer.from('0123456789'));
      p.dataReceived(Buffer.from('abcdefghij'));
      expect(t.value().toString()).toBe('0123456789abcdefghij');
      expect(factory.readThisSecond).toBe(20);

      clock.advance(1.05);
      expect(factory.readThisSecond).toBe(0);
      expect(t.producerState).toBe('paused');

      clock.advance(1.05);
      expect(factory.readThisSecond).toBe(0);
      expect(t.producerState).toBe('producing');
    }
  });

  it('limits are summed over all connections', () => {
    const { clock, connect } = setup({ readLimit: 10 });
    const a = connect()!;
    const b = connect()!;
    a.p.dataReceived(Buffer.from('123456'));
    b.p.dataReceived(Buffer.from('123456'));
    clock.advance(1);
    expect([a.t.producerState, b.t.producerState]).toEqual(['paused', 'paused']);
    clock.advance(0.2); // 12/10 - 1 = 0.2 s
    expect([a.t.producerState, b.t.producerState]).toEqual(['producing', 'producing']);
  });

  it('under the limit nothing is throttled', () => {
    const { clock, connect } = setup({ readLimit: 10, writeLimit: 10 }, ProducingEcho);
    const { p, t } = connect()!;
    p.dataReceived(Buffer.from('0123456789'));
    clock.advance(1);
    expect(t.producerState).toBe('producing');
    expect((p.wrappedProtocol as ProducingEcho).paused).toBe(false);
  });

  it('maxConnectionCount: refuses connections beyond it; a lost one frees a slot (test_limit)', () => {
    const { factory, connect } = setup({ maxConnectionCount: 2 });
    const c1 = connect()!;
    const c2 = connect()!;
    expect(connect()).toBeNull();
    expect(factory.protocols.size).toBe(2);
    c1.t.loseConnection();
    expect(factory.connectionCount).toBe(1);
    const c4 = connect();
    expect(c4).not.toBeNull();
    expect(c2.p.connected).toBe(true);
  });

  it('the once-a-second checks stop with the last connection and restart with the next', () => {
    const { clock, connect } = setup({ readLimit: 10, writeLimit: 10 });
    const a = connect()!;
    const b = connect()!;
    expect(clock.getDelayedCalls()).toHaveLength(2);
    a.t.loseConnection();
    expect(clock.getDelayedCalls()).toHaveLength(2);
    b.p.dataReceived(Buffer.from('x'.repeat(30)));
    clock.advance(1); // throttles: unthrottle calls are pending too
    expect(clock.getDelayedCalls()).toHaveLength(4);
    b.t.loseConnection();
    expect(clock.getDelayedCalls()).toEqual([]);
    connect();
    expect(clock.getDelayedCalls()).toHaveLength(2);
  });

  it('a refusal by the wrapped factory neither counts nor starts the checks', () => {
    const clock = new Clock();
    const f = new ThrottlingFactory({ buildProtocol: () => null }, { clock, readLimit: 5 });
    expect(f.buildProtocol(addr)).toBeNull();
    expect(f.connectionCount).toBe(0);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('throttling and the protocol’s own pause are merged: reading resumes when neither wants it paused', () => {
    const { clock, connect } = setup({ readLimit: 10 });
    const { p, t } = connect()!;
    const inner = p.wrappedProtocol as EchoProtocol;
    p.dataReceived(Buffer.from('x'.repeat(20)));
    inner.transport.pauseProducing(); // the protocol pauses reading itself
    clock.advance(1); // throttled as well
    expect(t.producerState).toBe('paused');
    clock.advance(1); // throttle over, the protocol still wants it paused
    expect(t.producerState).toBe('paused');
    inner.transport.resumeProducing();
    expect(t.producerState).toBe('producing');
  });

  it('the transport’s own flow control and the write throttle are merged', () => {
    const { clock, connect } = setup({ writeLimit: 10 }, ProducingEcho);
    const { p, t } = connect()!;
    const producer = p.wrappedProtocol as ProducingEcho;
    const proxy = t.producer!;
    p.dataReceived(Buffer.from('x'.repeat(20)));
    proxy.resumeProducing(); // unbalanced resume from the transport: no effect
    expect(producer.paused).toBe(false);
    (proxy as ProducingEcho).pauseProducing(); // the transport's buffer is full
    expect(producer.paused).toBe(true);
    clock.advance(1); // throttled too
    clock.advance(1); // throttle over, but the transport still has it paused
    expect(producer.paused).toBe(true);
    proxy.resumeProducing(); // drained
    expect(producer.paused).toBe(false);
  });

  it('a pull producer’s chunk requests are held while writes are throttled', () => {
    let chunks = 0;
    class Pull extends Protocol {
      override connectionMade(): void {
        const producer: IPullProducer = {
          resumeProducing: () => void chunks++,
          stopProducing: () => {},
        };
        this.transport.registerProducer(producer, false);
      }
    }
    const { clock, connect } = setup({ writeLimit: 10 }, Pull);
    const { p, t } = connect()!;
    p.write(Buffer.from('x'.repeat(30)));
    t.producer!.resumeProducing();
    expect(chunks).toBe(1);
    clock.advance(1); // throttled for 30/10 - 1 = 2 s
    t.producer!.resumeProducing();
    expect(chunks).toBe(1);
    clock.advance(2);
    expect(chunks).toBe(2);
    p.unregisterProducer();
    expect(t.producer).toBeNull();
    expect((p as ThrottlingProtocol).producer).toBeNull();
  });

  it('a producer registered while writes are throttled starts paused', () => {
    const { clock, connect } = setup({ writeLimit: 10 });
    const { p } = connect()!;
    p.write(Buffer.from('x'.repeat(30)));
    clock.advance(1);
    const late = new EchoProtocol();
    p.registerProducer(late, true);
    expect(late.paused).toBe(true);
    clock.advance(2);
    expect(late.paused).toBe(false);
  });

  it('connectionLost reaches the wrapped protocol', () => {
    const { connect } = setup();
    const { p } = connect()!;
    const inner = p.wrappedProtocol as EchoProtocol;
    p.connectionLost(new Failure(new ConnectionDone()));
    expect(inner.connected).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { ClientFactory, Factory } from '../../src/protocol/factory.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { ProtocolWrapper, WrappingFactory } from '../../src/protocol/wrapper.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionRefusedError } from '../../src/reactor/errors.js';
import { isHalfCloseable } from '../../src/reactor/glue.js';
import type { IConnector, IProducer, IProtocol, IProtocolFactory, ITransport } from '../../src/reactor/interfaces.js';
import { StringTransport, StringTransportWithDisconnection } from '../../src/testing/stringTransport.js';

const addr = new IPv4Address('TCP', '127.0.0.1', 35);

class EchoProtocol extends Protocol {
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}
class Server extends Factory {
  override protocol = EchoProtocol;
  override noisy = false;
}

function wrapped(): [ProtocolWrapper, StringTransport, EchoProtocol, WrappingFactory] {
  const wf = new WrappingFactory(new Server());
  wf.noisy = false;
  const p = wf.buildProtocol(addr)!;
  const t = new StringTransport();
  p.makeConnection(t);
  return [p, t, p.wrappedProtocol as EchoProtocol, wf];
}

describe('ProtocolWrapper / WrappingFactory (Twisted WrapperTests)', () => {
  it("test_protocolFactoryAttribute: the wrapped protocol's factory is the wrapped factory", () => {
    const f = new Server();
    const wf = new WrappingFactory(f);
    const p = wf.buildProtocol(addr)!;
    expect((p.wrappedProtocol as EchoProtocol).factory).toBe(f);
    expect(p.factory).toBe(wf);
  });

  it('the wrapper is the wrapped protocol’s transport and relays both ways', () => {
    const [p, t, inner] = wrapped();
    expect(inner.transport).toBe(p);
    expect(p.transport).toBe(t);
    p.dataReceived(Buffer.from('ping'));
    expect(t.value().toString()).toBe('ping');
    inner.transport.writeSequence([Buffer.from('a'), Buffer.from('b')]);
    expect(t.value().toString()).toBe('pingab');
    inner.transport.loseConnection();
    expect(p.disconnecting).toBe(true);
    expect(t.disconnecting).toBe(true);
  });

  it('writeString goes through write, so a subclass overriding write sees those bytes too', () => {
    const seen: string[] = [];
    class Counting extends ProtocolWrapper {
      override write(data: Uint8Array): void {
        seen.push(Buffer.from(data).toString('latin1'));
        super.write(data);
      }
    }
    class CountingFactory extends WrappingFactory {
      override wrapProtocol(inner: IProtocol): ProtocolWrapper {
        return new Counting(this, inner);
      }
    }
    const wf = new CountingFactory(new Server());
    wf.noisy = false;
    const p = wf.buildProtocol(addr)!;
    const t = new StringTransport();
    p.makeConnection(t);
    const inner = p.wrappedProtocol!.transport!;
    inner.writeString!('caf\u00e9 ', 'latin1');
    inner.writeString!('\u00e9\u20ac', 'utf8');
    expect(seen).toEqual(['caf\u00e9 ', Buffer.from('\u00e9\u20ac', 'utf8').toString('latin1')]);
    expect(t.value()).toEqual(Buffer.concat([Buffer.from('caf\u00e9 ', 'latin1'), Buffer.from('\u00e9\u20ac', 'utf8')]));
    expect(() => inner.writeString!(Buffer.from('x') as unknown as string, 'latin1')).toThrow(TypeError);
    expect(() => inner.writeString!('x', 'hex' as 'utf8')).toThrow(TypeError);
  });

  it('abortConnection is relayed', () => {
    const [p, t] = wrapped();
    p.abortConnection();
    expect([p.disconnecting, t.disconnected]).toEqual([true, true]);
  });

  it('test_transportInterfaces: members of the real transport are reachable through the wrapper', () => {
    class TCPish extends StringTransport {
      noDelay = false;
      setTcpNoDelay(on: boolean): void {
        this.noDelay = on;
      }
    }
    const wf = new WrappingFactory(new Server());
    const p = wf.buildProtocol(addr)!;
    const t = new TCPish();
    p.makeConnection(t);
    const seen = p.wrappedProtocol!.transport as unknown as TCPish;
    seen.setTcpNoDelay(true);
    expect(t.noDelay).toBe(true);
    expect(seen.noDelay).toBe(true);
    t.write(Buffer.from('direct'));
    expect(seen.value().toString()).toBe('direct');
    seen.clear();
    expect(t.value().length).toBe(0);
    expect(seen.producerState).toBe('producing');
    // The wrapper's own members are not shadowed.
    expect(seen.disconnecting).toBe(false);
  });

  it('test_factoryLogPrefix and its fallback', () => {
    expect(new WrappingFactory(new Server()).logPrefix()).toBe('Server (WrappingFactory)');
    class NoFactory {
      buildProtocol(): IProtocol | null {
        return null;
      }
    }
    expect(new WrappingFactory(new NoFactory()).logPrefix()).toBe('NoFactory (WrappingFactory)');
  });

  it('test_protocolLogPrefix and its fallback', () => {
    expect(new WrappingFactory(new Server()).buildProtocol(addr)!.logPrefix()).toBe('EchoProtocol (ProtocolWrapper)');
    class NoProtocol {}
    const server = new Server();
    (server as Factory).protocol = NoProtocol as unknown as new () => IProtocol;
    expect(new WrappingFactory(server).buildProtocol(addr)!.logPrefix()).toBe('NoProtocol (ProtocolWrapper)');
  });

  it('test_getHost / test_getPeer', () => {
    const [p, t] = wrapped();
    expect(p.getHost()).toBe(t.getHost());
    expect(p.getPeer()).toBe(t.getPeer());
  });

  it('test_registerProducer / test_unregisterProducer', () => {
    const [p, t] = wrapped();
    const producer: IProducer = { resumeProducing() {}, stopProducing() {} };
    p.registerProducer(producer, true);
    expect([t.producer, t.streaming]).toEqual([producer, true]);
    p.unregisterProducer();
    expect([t.producer, t.streaming]).toEqual([null, null]);
  });

  it('pause/resume/stopProducing reach the real transport', () => {
    const [p, t] = wrapped();
    p.pauseProducing();
    expect(t.producerState).toBe('paused');
    p.resumeProducing();
    expect(t.producerState).toBe('producing');
    p.stopProducing();
    expect(t.producerState).toBe('stopped');
  });

  it('test_startedConnecting / test_clientConnectionLost / test_clientConnectionFailed', () => {
    const result: unknown[] = [];
    const wrappedClient = {
      buildProtocol: () => null,
      startedConnecting: (c: IConnector) => void result.push(['started', c]),
      clientConnectionFailed: (c: IConnector, r: Failure) => void result.push(['failed', c, r]),
      clientConnectionLost: (c: IConnector, r: Failure) => void result.push(['lost', c, r]),
    };
    const wf = new WrappingFactory(wrappedClient);
    const connector = {} as IConnector;
    const reason = new Failure(new ConnectionRefusedError());
    wf.startedConnecting(connector);
    wf.clientConnectionFailed(connector, reason);
    wf.clientConnectionLost(connector, reason);
    expect(result).toEqual([
      ['started', connector],
      ['failed', connector, reason],
      ['lost', connector, reason],
    ]);
    // A plain server factory without the client callbacks is fine too.
    const plain = new WrappingFactory(new Server());
    plain.startedConnecting(connector);
    plain.clientConnectionFailed(connector, reason);
    plain.clientConnectionLost(connector, reason);
  });

  it('test_breakReferenceCycle: wrappedProtocol is null after connectionLost, which reaches the inner protocol', () => {
    const reasons: string[] = [];
    class Inner extends Protocol {
      override connectionLost(reason: Failure): void {
        reasons.push(reason.type.name);
      }
    }
    const wf = new WrappingFactory(Factory.forProtocol(Inner));
    const p = wf.buildProtocol(addr)!;
    const t = new StringTransportWithDisconnection();
    t.protocol = p;
    p.makeConnection(t);
    expect(p.wrappedProtocol).not.toBeNull();
    t.loseConnection();
    expect(p.wrappedProtocol).toBeNull();
    expect(reasons).toEqual(['ConnectionDone']);
    p.dataReceived(Buffer.from('late')); // ignored, no crash
  });

  it('tracks connected wrappers in `protocols`', () => {
    const wf = new WrappingFactory(new Server());
    const a = wf.buildProtocol(addr)!;
    const b = wf.buildProtocol(addr)!;
    expect(wf.protocols.size).toBe(0); // registered on connection, not when built
    a.makeConnection(new StringTransport());
    b.makeConnection(new StringTransport());
    expect([...wf.protocols]).toEqual([a, b]);
    a.connectionLost(new Failure(new ConnectionDone()));
    expect([...wf.protocols]).toEqual([b]);
  });

  it('doStart/doStop are relayed to the wrapped factory', () => {
    const events: string[] = [];
    class Inner extends ClientFactory {
      override noisy = false;
      override startFactory(): void {
        events.push('inner start');
      }
      override stopFactory(): void {
        events.push('inner stop');
      }
    }
    class Outer extends WrappingFactory {
      override noisy = false;
      override startFactory(): void {
        events.push('outer start');
      }
      override stopFactory(): void {
        events.push('outer stop');
      }
    }
    const f = new Outer(new Inner());
    f.doStart();
    f.doStop();
    expect(events).toEqual(['inner start', 'outer start', 'inner stop', 'outer stop']);
    // A wrapped plain factory without doStart/doStop is fine.
    const plain = new WrappingFactory({ buildProtocol: () => null });
    plain.noisy = false;
    plain.doStart();
    plain.doStop();
  });

  it('a refusal (null) from the wrapped factory is passed on', () => {
    const wf = new WrappingFactory({ buildProtocol: () => null });
    expect(wf.buildProtocol(addr)).toBeNull();
  });

  it('wraps plain-object protocols', () => {
    const got: string[] = [];
    const inner: IProtocol = {
      connectionMade() {
        this.transport!.write(Buffer.from('hello'));
      },
      dataReceived(data) {
        got.push(Buffer.from(data).toString());
      },
    };
    const wf = new WrappingFactory({ buildProtocol: () => inner });
    const p = wf.buildProtocol(addr)!;
    const t = new StringTransport();
    p.makeConnection(t);
    p.dataReceived(Buffer.from('x'));
    expect(t.value().toString()).toBe('hello');
    expect(got).toEqual(['x']);
    expect(inner.transport).toBe(p);
  });

  it('half-close callbacks exist only when the wrapped protocol has them', () => {
    const calls: string[] = [];
    const halfCloseable: IProtocol = {
      readConnectionLost: () => void calls.push('read'),
      writeConnectionLost: () => void calls.push('write'),
    };
    const wf = new WrappingFactory({ buildProtocol: () => null });
    const a = new ProtocolWrapper(wf, halfCloseable);
    expect(isHalfCloseable(a)).toBe(true);
    a.readConnectionLost!();
    a.writeConnectionLost!();
    expect(calls).toEqual(['read', 'write']);
    const b = new ProtocolWrapper(wf, new EchoProtocol());
    expect(isHalfCloseable(b)).toBe(false);
    expect(b.writeConnectionLost).toBeUndefined();
  });

  it('a ProtocolWrapper subclass can change bytes on the way in and out', () => {
    class Upper extends ProtocolWrapper {
      override write(data: Uint8Array): void {
        super.write(Buffer.from(Buffer.from(data).toString().toUpperCase()));
      }
    }
    class UpperFactory extends WrappingFactory {
      override wrapProtocol(inner: IProtocol): ProtocolWrapper {
        return new Upper(this, inner);
      }
    }
    const f: IProtocolFactory = new UpperFactory(new Server());
    const p = f.buildProtocol(addr)!;
    const t = new StringTransport();
    (p as ProtocolWrapper).makeConnection(t as ITransport);
    p.dataReceived!(Buffer.from('shout'));
    expect(t.value().toString()).toBe('SHOUT');
  });
});

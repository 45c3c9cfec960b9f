import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { Factory } from '../../src/protocol/factory.js';
import { LimitConnectionsByPeer, LimitTotalConnectionsFactory } from '../../src/protocol/limits.js';
import { Protocol } from '../../src/protocol/protocol.js';
import type { ProtocolWrapper } from '../../src/protocol/wrapper.js';
import { IPv4Address, IPv6Address, UNIXAddress, type Address } from '../../src/reactor/address.js';
import { ConnectionDone } from '../../src/reactor/errors.js';
import type { IProtocol } from '../../src/reactor/interfaces.js';
import { StringTransport } from '../../src/testing/stringTransport.js';

const done = () => new Failure(new ConnectionDone());
const addr = new IPv4Address('TCP', '127.0.0.1', 1);

describe('LimitTotalConnectionsFactory (Twisted LimitTotalConnectionsFactoryTests)', () => {
  it('testConnectionCounting: counts up as protocols are built and down as they are lost', () => {
    const factory = new LimitTotalConnectionsFactory();
    factory.protocol = Protocol;
    expect(factory.connectionCount).toBe(0);
    const p1 = factory.buildProtocol(addr)!;
    expect(factory.connectionCount).toBe(1);
    const p2 = factory.buildProtocol(addr)!;
    expect(factory.connectionCount).toBe(2);
    p1.connectionLost!(done());
    expect(factory.connectionCount).toBe(1);
    p2.connectionLost!(done());
    expect(factory.connectionCount).toBe(0);
  });

  it('testConnectionLimiting: refuses over the limit, or builds the overflow protocol', () => {
    const factory = new LimitTotalConnectionsFactory();
    factory.protocol = Protocol;
    factory.connectionLimit = 1;
    const p = factory.buildProtocol(addr)!;
    expect(p).not.toBeNull();
    expect(factory.connectionCount).toBe(1);
    expect(factory.buildProtocol(addr)).toBeNull();
    expect(factory.connectionCount).toBe(1);

    let overflowed = false;
    class Overflow extends Protocol {
      override connectionMade(): void {
        overflowed = true;
        this.transport.write(Buffer.from('busy\r\n'));
        this.transport.loseConnection();
      }
    }
    factory.overflowProtocol = Overflow;
    const op = factory.buildProtocol(addr)!;
    const t = new StringTransport();
    op.makeConnection!(t);
    expect(overflowed).toBe(true);
    expect(t.value().toString()).toBe('busy\r\n');
    expect(t.disconnecting).toBe(true);
    expect(factory.connectionCount).toBe(2);
    expect(((op as ProtocolWrapper).wrappedProtocol as Overflow).factory).toBe(factory);

    p.connectionLost!(done());
    expect(factory.connectionCount).toBe(1);
    op.connectionLost!(done());
    expect(factory.connectionCount).toBe(0);
  });

  it('takes the limit and overflow protocol as options (forProtocol)', () => {
    const f = LimitTotalConnectionsFactory.forProtocol(Protocol, { connectionLimit: 2 });
    f.noisy = false;
    expect(f.connectionLimit).toBe(2);
    const built = [f.buildProtocol(addr), f.buildProtocol(addr), f.buildProtocol(addr)];
    expect(built.map((p) => p !== null)).toEqual([true, true, false]);
    // A freed slot can be used again.
    built[0]!.connectionLost!(done());
    expect(f.buildProtocol(addr)).not.toBeNull();
  });

  it('a refusal by the protocol function does not count', () => {
    const f = new LimitTotalConnectionsFactory({ connectionLimit: 1 });
    f.protocol = () => null;
    expect(f.buildProtocol(addr)).toBeNull();
    expect(f.connectionCount).toBe(0);
  });
});

describe('LimitConnectionsByPeer', () => {
  class Recorder extends Protocol {}
  const peer = (host: string, port = 1000): Address =>
    host.includes(':') ? new IPv6Address('TCP', host, port) : new IPv4Address('TCP', host, port);

  /** Build and connect a protocol for a peer; returns it, or null when refused. */
  function connect(f: LimitConnectionsByPeer, a: Address): IProtocol | null {
    const p = f.buildProtocol(a);
    if (p !== null) p.makeConnection(new StringTransport(undefined, a));
    return p;
  }

  it('allows maxConnectionsPerPeer (default 5) per host, keyed on the host not the port', () => {
    const f = new LimitConnectionsByPeer(Factory.forProtocol(Recorder));
    expect(f.maxConnectionsPerPeer).toBe(5);
    const results = [1, 2, 3, 4, 5, 6].map((port) => connect(f, peer('10.0.0.1', port)) !== null);
    expect(results).toEqual([true, true, true, true, true, false]);
    expect(f.peerConnections.get('10.0.0.1')).toBe(5);
  });

  // Each row: the peers connecting in order, then which were accepted (limit 2).
  const table: [string, string[], boolean[]][] = [
    ['two hosts are counted apart', ['a.1', 'a.1', 'b.1', 'a.1', 'b.1', 'b.1'], [true, true, true, false, true, false]],
    ['IPv6 hosts', ['::1', '::1', '::1', '::2'], [true, true, false, true]],
  ];
  for (const [name, hosts, accepted] of table) {
    it(name, () => {
      const f = new LimitConnectionsByPeer(Factory.forProtocol(Recorder), 2);
      const got = hosts.map((h) => connect(f, peer(h.replace('a.1', '10.0.0.1').replace('b.1', '10.0.0.2'))) !== null);
      expect(got).toEqual(accepted);
    });
  }

  it('a lost connection frees its slot; a host with none left is forgotten', () => {
    const f = new LimitConnectionsByPeer(Factory.forProtocol(Recorder), 1);
    const p = connect(f, peer('10.0.0.9'))!;
    expect(connect(f, peer('10.0.0.9'))).toBeNull();
    p.connectionLost!(done());
    expect(f.peerConnections.has('10.0.0.9')).toBe(false);
    expect(f.protocols.size).toBe(0);
    expect(connect(f, peer('10.0.0.9'))).not.toBeNull();
  });

  it('a refusal by the wrapped factory does not count', () => {
    const f = new LimitConnectionsByPeer({ buildProtocol: () => null }, 1);
    expect(f.buildProtocol(peer('10.0.0.3'))).toBeNull();
    expect(f.peerConnections.size).toBe(0);
  });

  it('UNIX peers are keyed on their path', () => {
    const f = new LimitConnectionsByPeer(Factory.forProtocol(Recorder), 1);
    expect(connect(f, new UNIXAddress(null))).not.toBeNull();
    expect(connect(f, new UNIXAddress(null))).toBeNull();
    expect(connect(f, new UNIXAddress('/tmp/x.sock'))).not.toBeNull();
  });
});

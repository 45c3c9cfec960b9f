import { describe, expect, it } from 'vitest';
import { IPv4Address, IPv6Address, UNIXAddress } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost, ConnectionRefusedError, TCPTimedOutError } from '../../src/reactor/errors.js';
import type { IPullProducer, IPushProducer, IProtocol } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/clock.js';
import {
  ConnectionCompleter,
  FakeTransport,
  connectableEndpoint,
  connectedPair,
} from '../../src/testing/iosim.js';
import { MemoryReactor, MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { successResultOf } from '../../src/testing/results.js';
import { echo, factoryOf, lineClient, recorder } from './protocols.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('connectedPair', () => {
  it('an echo server and a line client get ["ping"] after the greeting', () => {
    const { client, server } = connectedPair(echo(), lineClient('ping'));
    expect(client.lines).toEqual(['ping']);
    expect(server.text()).toBe('ping\r\n');
  });

  it('a send is not delivered until the pump is flushed', () => {
    const { client, pump } = connectedPair(echo(), lineClient('ping'));
    client.sendLine('two');
    expect(client.lines).toEqual(['ping']);
    expect(pump.flush()).toBe(true);
    expect(client.lines).toEqual(['ping', 'two']);
    expect(pump.flush()).toBe(false);
  });

  it('without greet nothing moves until pumped, one hop per pump', () => {
    const { client, server, pump } = connectedPair(echo(), lineClient('ping'), { greet: false });
    expect(server.received).toEqual([]);
    expect(pump.pump()).toBe(true); // client -> server (the echo is written)
    expect(server.text()).toBe('ping\r\n');
    expect(client.lines).toEqual([]);
    expect(pump.pump()).toBe(true); // server -> client
    expect(client.lines).toEqual(['ping']);
    expect(pump.pump()).toBe(false);
  });

  it.each([1, 2, 3, 5, 7, 100])('delivers a stream written %i byte(s) at a time, in order', (size) => {
    const { client, server, pump } = connectedPair(echo(), lineClient(null));
    const message = bytes('ping\r\ntwo\r\nthree\r\n');
    for (let i = 0; i < message.length; i += size) {
      client.transport!.write(message.subarray(i, i + size));
      pump.flush();
    }
    expect(client.lines).toEqual(['ping', 'two', 'three']);
    expect(server.text()).toBe(message.toString('latin1'));
  });

  it('gives each end the addresses asked for', () => {
    const serverAddress = new IPv6Address('TCP', '::1', 443);
    const clientAddress = new IPv4Address('TCP', '10.0.0.2', 5555);
    const { client, server } = connectedPair(recorder(), recorder(), { serverAddress, clientAddress });
    expect(server.transport!.getHost()).toBe(serverAddress);
    expect(server.transport!.getPeer()).toBe(clientAddress);
    expect(client.transport!.getHost()).toBe(clientAddress);
    expect(client.transport!.getPeer()).toBe(serverAddress);
    const defaults = connectedPair(recorder(), recorder());
    expect(defaults.server.transport!.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', 8080));
    expect(defaults.client.transport!.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', 54321));
  });

  it('advances the clock by 0 on every pump', () => {
    const clock = new Clock();
    const seen: string[] = [];
    const { pump } = connectedPair(recorder(), recorder(), { clock, greet: false });
    clock.callLater(0, () => seen.push('now'));
    clock.callLater(1, () => seen.push('later'));
    pump.pump();
    expect(seen).toEqual(['now']);
  });

  it('makes the server connection first', () => {
    const order: string[] = [];
    const s = recorder({ onMade: () => order.push('server') });
    const c = recorder({ onMade: () => order.push('client') });
    connectedPair(s, c);
    expect(order).toEqual(['server', 'client']);
  });
});

describe('closing', () => {
  it.each(['server', 'client'] as const)(
    'loseConnection by the %s + flush: both ends lose the connection with ConnectionDone',
    (who) => {
      const { client, server, pump } = connectedPair(recorder(), recorder());
      const closing = who === 'server' ? server : client;
      const other = who === 'server' ? client : server;
      closing.transport!.write(bytes('bye'));
      closing.transport!.loseConnection();
      closing.transport!.write(bytes('dropped'));
      pump.flush();
      expect(other.text()).toBe('bye');
      expect(client.lost!.check(ConnectionDone)).toBe(ConnectionDone);
      expect(server.lost!.check(ConnectionDone)).toBe(ConnectionDone);
      for (const t of [client.transport, server.transport] as FakeTransport[]) {
        expect(t.disconnecting).toBe(true);
        expect(t.disconnected).toBe(true);
      }
      expect(server.events.filter((e) => e.startsWith('lost'))).toHaveLength(1);
      expect(pump.flush()).toBe(false);
    },
  );

  it('abortConnection discards buffered bytes; both ends get ConnectionLost', () => {
    const { client, server, pump } = connectedPair(recorder(), recorder());
    client.transport!.write(bytes('never'));
    client.transport!.abortConnection();
    pump.flush();
    expect(server.received).toEqual([]);
    expect(client.lost!.check(ConnectionLost)).toBe(ConnectionLost);
    expect(server.lost!.check(ConnectionLost)).toBe(ConnectionLost);
  });

  it('a half-closeable peer gets readConnectionLost, and closes when it wants', () => {
    const { client, server, pump } = connectedPair(recorder(), recorder({ half: true }));
    server.transport!.loseConnection();
    pump.flush();
    expect(client.events).toEqual(['made', 'readLost']);
    expect(server.lost!.check(ConnectionDone)).toBe(ConnectionDone);
    client.transport!.loseConnection();
    pump.flush();
    expect(client.events).toEqual(['made', 'readLost', 'lost:ConnectionDone']);
  });

  it('loseWriteConnection: writeConnectionLost here, readConnectionLost there, data still flows back', () => {
    const { client, server, pump } = connectedPair(recorder({ half: true }), recorder({ half: true }));
    const ct = client.transport as FakeTransport;
    client.transport!.write(bytes('request'));
    ct.loseWriteConnection();
    ct.write(bytes('dropped'));
    pump.flush();
    expect(server.text()).toBe('request');
    expect(client.events).toEqual(['made', 'writeLost']);
    expect(server.events).toEqual(['made', 'data', 'readLost']);
    server.transport!.write(bytes('response'));
    server.transport!.loseConnection();
    pump.flush();
    expect(client.text()).toBe('response');
    expect(client.lost!.check(ConnectionDone)).toBe(ConnectionDone);
    expect(server.lost!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('loseWriteConnection towards a peer that is not half-closeable closes the connection', () => {
    const { client, server, pump } = connectedPair(recorder(), recorder({ half: true }));
    (client.transport as FakeTransport).loseWriteConnection();
    pump.flush();
    expect(server.lost!.check(ConnectionDone)).toBe(ConnectionDone);
    expect(client.events).toEqual(['made', 'writeLost', 'lost:ConnectionDone']);
  });
});

describe('flush', () => {
  it('gives up with "Too long" when two protocols echo forever', () => {
    const { client, pump } = connectedPair(echo(), echo(), { greet: false });
    client.transport!.write(bytes('x'));
    expect(() => pump.flush()).toThrow(/^Too long/);
  });

  it('takes a smaller round limit', () => {
    const { client, pump } = connectedPair(echo(), echo(), { greet: false });
    client.transport!.write(bytes('x'));
    expect(() => pump.flush(10)).toThrow(/after 10 pumps/);
  });
});

describe('producers across the pump', () => {
  function pushProducer(t: FakeTransport, chunk: Buffer, times: number) {
    const state = { paused: false, sent: 0, events: [] as string[], stopped: false };
    const p: IPushProducer = {
      pauseProducing: () => {
        state.paused = true;
        state.events.push('pause');
      },
      resumeProducing: () => {
        state.paused = false;
        state.events.push('resume');
        while (!state.paused && state.sent < times) {
          state.sent++;
          t.write(chunk);
        }
        if (state.sent === times) t.unregisterProducer();
      },
      stopProducing: () => {
        state.stopped = true;
      },
    };
    return { p, state };
  }

  it('pauses a streaming producer when the buffer is full and resumes it once pumped', () => {
    const sink = recorder();
    const { server, pump } = connectedPair(recorder(), sink, { greet: false });
    const t = server.transport as FakeTransport;
    const chunk = Buffer.alloc(40_000, 0x61);
    const { p, state } = pushProducer(t, chunk, 4);
    t.registerProducer(p, true);
    p.resumeProducing();
    expect(state.sent).toBe(2); // 80 KB > 64 KB: paused
    expect(state.events).toEqual(['resume', 'pause']);
    pump.pump();
    expect(state.events).toEqual(['resume', 'pause', 'resume', 'pause']);
    pump.flush();
    expect(state.sent).toBe(4);
    expect(Buffer.concat(sink.received).length).toBe(160_000);
    expect(t.producer).toBeNull();
  });

  it('resumes a pull producer at registration and once per pump', () => {
    const sink = recorder();
    const { server, pump } = connectedPair(recorder(), sink, { greet: false });
    const t = server.transport as FakeTransport;
    const chunks = ['a', 'b', 'c'];
    const p: IPullProducer = {
      resumeProducing: () => {
        const next = chunks.shift();
        if (next === undefined) t.unregisterProducer();
        else t.write(bytes(next));
      },
      stopProducing: () => undefined,
    };
    t.registerProducer(p, false);
    expect(t.bufferSize).toBe(1);
    pump.flush();
    expect(sink.text()).toBe('abc');
    expect(t.producer).toBeNull();
  });

  it('loseConnection waits until the producer is unregistered', () => {
    const { client, server, pump } = connectedPair(recorder(), recorder());
    const t = server.transport as FakeTransport;
    const { p } = pushProducer(t, bytes('x'), 0);
    t.registerProducer(p, true);
    t.loseConnection();
    pump.flush();
    expect(client.lost).toBeNull();
    t.unregisterProducer();
    pump.flush();
    expect(client.lost!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('stops the producer when the connection is lost, and refuses a second one', () => {
    const { client, pump } = connectedPair(recorder(), recorder());
    const t = client.transport as FakeTransport;
    const { p, state } = pushProducer(t, bytes('x'), 0);
    t.registerProducer(p, true);
    expect(() => t.registerProducer(p, true)).toThrow(/already registered/);
    t.abortConnection();
    pump.flush();
    expect(state.stopped).toBe(true);
    expect(t.producer).toBeNull();
  });

  it('holds incoming bytes while the receiver pauses reading', () => {
    const { client, server, pump } = connectedPair(recorder(), recorder());
    server.transport!.pauseProducing();
    client.transport!.write(bytes('held'));
    expect(pump.flush()).toBe(false);
    expect(server.received).toEqual([]);
    server.transport!.resumeProducing();
    pump.flush();
    expect(server.text()).toBe('held');
  });
});

describe('FakeTransport', () => {
  it('refuses anything but bytes, copies what it is given and records TCP options', () => {
    const t = new FakeTransport(recorder(), false);
    expect(() => t.write('text' as unknown as Uint8Array)).toThrow(TypeError);
    const data = bytes('abc');
    t.write(data);
    data[0] = 0x7a;
    t.writeSequence([bytes('d'), bytes('e')]);
    expect(t.getOutBuffer()!.toString()).toBe('abcde');
    expect(t.getOutBuffer()).toBeNull();
    t.setTcpNoDelay(true);
    t.startTLS({ servername: 'x' });
    expect(t.tcpNoDelay).toBe(true);
    expect(t.isSecure).toBe(true);
    expect(t.tlsOptions).toEqual({ servername: 'x' });
    expect(String(t)).toMatch(/^FakeTransport<C,\d+>$/);
  });
});

describe('ConnectionCompleter', () => {
  function setup() {
    const reactor = new MemoryReactorClock();
    const serverFactory = factoryOf(() => echo());
    const clientFactory = factoryOf(() => lineClient('hello'));
    const port = reactor.listenTCP(4321, serverFactory, { interface: '127.0.0.1' });
    const connector = reactor.connectTCP('127.0.0.1', 4321, clientFactory);
    return { reactor, serverFactory, clientFactory, port, connector, completer: new ConnectionCompleter(reactor) };
  }

  it('succeedOnce joins the pending attempt to the port and flushes the greeting', () => {
    const { serverFactory, clientFactory, connector, completer } = setup();
    const pump = completer.succeedOnce();
    const client = clientFactory.built[0]!;
    const server = serverFactory.built[0]!;
    expect(pump.client).toBe(client);
    expect(pump.server).toBe(server);
    expect(client.lines).toEqual(['hello']);
    expect(connector.state).toBe('connected');
    expect(clientFactory.addresses).toEqual([new IPv4Address('TCP', '127.0.0.1', 4321)]);
    const clientAddress = serverFactory.addresses[0] as IPv4Address;
    expect(server.transport!.getPeer()).toBe(clientAddress);
    expect(client.transport!.getHost()).toBe(clientAddress);
    expect(server.transport!.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', 4321));
    client.sendLine('again');
    pump.flush();
    expect(client.lines).toEqual(['hello', 'again']);
  });

  it('reports the end of the connection to the client factory', () => {
    const { reactor, clientFactory, connector, completer } = setup();
    const pump = completer.succeedOnce();
    expect(reactor.openResources()).toContain('TCP connection to 127.0.0.1:4321 still open');
    connector.disconnect();
    pump.flush();
    expect(clientFactory.events.slice(-2)).toEqual(['lost:ConnectionDone', 'doStop']);
    expect(connector.state).toBe('disconnected');
  });

  it('failOnce fails the oldest pending attempt (ConnectionRefusedError by default)', () => {
    const { reactor, clientFactory, completer } = setup();
    const second = factoryOf(() => recorder());
    reactor.connectTCP('127.0.0.1', 4321, second);
    completer.failOnce();
    expect(clientFactory.failures[0]!.check(ConnectionRefusedError)).toBe(ConnectionRefusedError);
    completer.failOnce(new TCPTimedOutError('slow'));
    expect(second.failures[0]!.value.message).toBe('slow');
    expect(() => completer.failOnce()).toThrow(/no pending/);
  });

  it('skips attempts that cannot reach a port, and stopped ports', () => {
    const reactor = new MemoryReactor();
    const completer = new ConnectionCompleter(reactor);
    const nowhere = factoryOf(() => recorder());
    const somewhere = factoryOf(() => recorder());
    reactor.connectTCP('h', 1, nowhere);
    reactor.connectTCP('h', 2, somewhere);
    const stopped = reactor.listenTCP(2, factoryOf(() => recorder()));
    stopped.stopListening();
    expect(() => completer.succeedOnce()).toThrow(/no pending connection attempt can reach/);
    reactor.listenTCP(2, factoryOf(() => recorder()));
    completer.succeedOnce();
    expect(nowhere.built).toEqual([]);
    expect(somewhere.built).toHaveLength(1);
  });

  it('gives a factory that builds null a connection that closes at once', () => {
    const reactor = new MemoryReactor();
    reactor.listenTCP(80, factoryOf(() => null));
    const clientFactory = factoryOf(() => recorder());
    reactor.connectTCP('h', 80, clientFactory);
    new ConnectionCompleter(reactor).succeedOnce();
    expect(clientFactory.built[0]!.events).toEqual(['made', 'lost:ConnectionDone']);
    expect(clientFactory.events).toContain('lost:ConnectionDone');
  });

  it('matches UNIX attempts by path and TLS attempts to TLS ports', () => {
    const reactor = new MemoryReactor();
    const completer = new ConnectionCompleter(reactor);
    const unixServer = factoryOf(() => recorder());
    const unixClient = factoryOf(() => recorder());
    reactor.listenUNIX('/run/a.sock', unixServer);
    reactor.connectUNIX('/run/a.sock', unixClient);
    completer.succeedOnce();
    expect(unixClient.built[0]!.transport!.getPeer()).toEqual(new UNIXAddress('/run/a.sock'));
    expect(unixServer.built[0]!.transport!.getPeer()).toEqual(new UNIXAddress(null));

    const tlsServer = factoryOf(() => recorder());
    const tlsClient = factoryOf(() => recorder());
    reactor.listenTCP(443, factoryOf(() => recorder()));
    reactor.listenSSL(443, tlsServer, { cert: 'C' });
    reactor.connectSSL('h', 443, tlsClient, { servername: 'h' });
    completer.succeedOnce();
    expect(tlsServer.built).toHaveLength(1);
    const t = tlsClient.built[0]!.transport as FakeTransport;
    expect(t.isSecure).toBe(true);
    expect(t.tlsOptions).toEqual({ servername: 'h' });
  });

  it('connectableEndpoint gives an endpoint whose connections the completer settles', () => {
    const { endpoint, completer, reactor } = connectableEndpoint();
    const proto: IProtocol = recorder();
    const d = endpoint.connect({ buildProtocol: () => proto });
    expect(reactor.tcpClients[0]).toMatchObject({ host: '0.0.0.0', port: 4321 });
    completer.succeedOnce();
    expect(successResultOf(d)).toBe(proto);
  });
});

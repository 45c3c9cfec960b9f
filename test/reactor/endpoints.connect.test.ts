import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { IPv4Address, UNIXAddress } from '../../src/reactor/address.js';
import {
  SSL4ClientEndpoint,
  TCP4ClientEndpoint,
  TCP4ServerEndpoint,
  UNIXClientEndpoint,
  UNIXServerEndpoint,
  connectProtocol,
} from '../../src/reactor/endpoints/tcp.js';
import {
  CannotListenError,
  ConnectingCancelledError,
  ConnectionDone,
  ConnectionRefusedError,
  NoProtocol,
  TCPTimedOutError,
  UserError,
} from '../../src/reactor/errors.js';
import type { IListeningPort, IProtocol } from '../../src/reactor/interfaces.js';
import { ConnectionCompleter, FakeTransport, connectableEndpoint } from '../../src/testing/iosim.js';
import { MemoryListeningPort, MemoryReactorClock, RaisingMemoryReactor } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { echo, factoryOf, lineClient, recorder } from '../testing/protocols.js';

describe('server endpoints listen', () => {
  it('fires with the listening port, the call recorded', () => {
    const reactor = new MemoryReactorClock();
    const factory = factoryOf(() => echo());
    const port = successResultOf(new TCP4ServerEndpoint(reactor, 8080, { interface: '127.0.0.1', backlog: 7 }).listen(factory));
    expect(port.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', 8080));
    expect(reactor.tcpServers).toEqual([{ port: 8080, factory, backlog: 7, interface: '127.0.0.1' }]);
  });

  it('fails with what the reactor throws', () => {
    const error = new CannotListenError('127.0.0.1', 80);
    const d = new UNIXServerEndpoint(new RaisingMemoryReactor(error), '/x').listen(factoryOf(() => null));
    expect(failureResultOf(d, CannotListenError).value).toBe(error);
  });

  it("fails when the port's ready fails, and callbacks on it leave ready alone", () => {
    class LateReactor extends MemoryReactorClock {
      readonly readies: Deferred<IListeningPort>[] = [];
      override listenTCP(...args: Parameters<MemoryReactorClock['listenTCP']>): MemoryListeningPort {
        const port = super.listenTCP(...args);
        const ready = new Deferred<IListeningPort>();
        this.readies.push(ready);
        Object.defineProperty(port, 'ready', { value: ready });
        return port;
      }
    }
    const reactor = new LateReactor();
    const endpoint = new TCP4ServerEndpoint(reactor, 80);
    const good = endpoint.listen(factoryOf(() => null));
    const bad = endpoint.listen(factoryOf(() => null));
    assertNoResult(good);
    good.addCallback(() => 'changed');
    reactor.readies[0]!.callback(reactor.listeningPorts[0]!);
    expect(successResultOf(good)).toBe('changed');
    expect(successResultOf(reactor.readies[0]!)).toBe(reactor.listeningPorts[0]);
    reactor.readies[1]!.errback(new CannotListenError('', 80));
    failureResultOf(bad, CannotListenError);
  });
});

describe('client endpoints connect', () => {
  function setup() {
    const reactor = new MemoryReactorClock();
    const serverFactory = factoryOf(() => echo());
    void new TCP4ServerEndpoint(reactor, 4321).listen(serverFactory);
    const endpoint = new TCP4ClientEndpoint(reactor, '127.0.0.1', 4321, { timeout: 3 });
    return { reactor, serverFactory, endpoint, completer: new ConnectionCompleter(reactor) };
  }

  it("fires with the protocol once its connectionMade ran, and it talks through the wrapper", () => {
    const { reactor, serverFactory, endpoint, completer } = setup();
    const factory = factoryOf(() => lineClient('hi'));
    const d = endpoint.connect(factory);
    expect(reactor.tcpClients).toEqual([
      { host: '127.0.0.1', port: 4321, factory: expect.anything(), timeout: 3, bindAddress: null },
    ]);
    assertNoResult(d);
    const pump = completer.succeedOnce();
    const client = successResultOf(d);
    expect(client).toBe(factory.built[0]);
    expect(client.made).toBe(1);
    expect(client.lines).toEqual(['hi']);
    expect(client.transport).toBe(pump.clientIO);
    expect(factory.addresses).toEqual([new IPv4Address('TCP', '127.0.0.1', 4321)]);
    client.transport!.loseConnection();
    pump.flush();
    expect(client.lost!.check(ConnectionDone)).toBe(ConnectionDone);
    expect(serverFactory.built[0]!.lost!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('passes doStart/doStop through to the factory', () => {
    const { endpoint, completer } = setup();
    const factory = factoryOf(() => recorder());
    const d = endpoint.connect(factory);
    completer.failOnce();
    failureResultOf(d, ConnectionRefusedError);
    expect(factory.events.filter((e) => e === 'doStart' || e === 'doStop')).toEqual(['doStart', 'doStop']);
  });

  it.each([
    ['ConnectionRefusedError', new ConnectionRefusedError('refused'), ConnectionRefusedError],
    ['TCPTimedOutError', new TCPTimedOutError('slow'), TCPTimedOutError],
  ])('fails with the reason of clientConnectionFailed (%s)', (_name, reason, type) => {
    const { endpoint, completer } = setup();
    const d = endpoint.connect(factoryOf(() => recorder()));
    completer.failOnce(reason);
    expect(failureResultOf(d, type).value).toBe(reason);
  });

  it('cancelling fails with ConnectingCancelledError(address) and stops connecting', () => {
    const { reactor, endpoint, completer } = setup();
    const factory = factoryOf(() => recorder());
    const d = endpoint.connect(factory);
    d.cancel();
    const f = failureResultOf(d, ConnectingCancelledError);
    expect(f.value.address).toEqual(new IPv4Address('TCP', '127.0.0.1', 4321));
    const connector = reactor.connectors[0]!;
    expect(connector.stoppedConnecting).toBe(true);
    expect(connector.state).toBe('disconnected');
    expect(factory.built).toEqual([]);
    expect(() => completer.succeedOnce()).toThrow(/no pending/);
  });

  it('cancelling once connected does nothing', () => {
    const { endpoint, completer } = setup();
    const d = endpoint.connect(factoryOf(() => recorder()));
    completer.succeedOnce();
    d.cancel();
    expect(successResultOf(d).lost).toBeNull();
  });

  it('fails with NoProtocol when the factory builds null, and the connection is closed', () => {
    const { reactor, endpoint, completer } = setup();
    const factory = factoryOf(() => null);
    const d = endpoint.connect(factory);
    completer.succeedOnce();
    failureResultOf(d, NoProtocol);
    expect(reactor.connectors[0]!.state).toBe('disconnected');
  });

  it('fails with what buildProtocol throws', () => {
    const { endpoint, completer } = setup();
    const d = endpoint.connect({
      buildProtocol: (): IProtocol => {
        throw new RangeError('no room');
      },
    });
    completer.succeedOnce();
    expect(failureResultOf(d, RangeError).value.message).toBe('no room');
  });

  it("fails with what the protocol's connectionMade throws, and aborts the connection", () => {
    const { endpoint, completer } = setup();
    const proto = recorder({
      onMade: () => {
        throw new SyntaxError('bad greeting');
      },
    });
    const d = endpoint.connect({ buildProtocol: () => proto });
    completer.succeedOnce();
    failureResultOf(d, SyntaxError);
    expect(proto.events).toEqual(['made', 'lost:ConnectionLost']);
  });

  it('fails with what the reactor throws', () => {
    const d = new TCP4ClientEndpoint(new RaisingMemoryReactor(), 'h', 1).connect(factoryOf(() => recorder()));
    failureResultOf(d, ConnectionRefusedError);
  });

  it('a connection completed after cancellation is closed, the protocol never connected', () => {
    const { reactor, endpoint } = setup();
    const factory = factoryOf(() => recorder());
    const d = endpoint.connect(factory);
    // A reactor whose connector ignores stopConnecting: the connection still completes.
    const connector = reactor.connectors[0]!;
    connector.stopConnecting = () => undefined;
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
    const pump = new ConnectionCompleter(reactor).succeedOnce();
    expect(factory.built).toEqual([]);
    expect(pump.serverIO.disconnected).toBe(true);
  });

  it('keeps a half-closeable protocol half-closeable', () => {
    const { endpoint, completer, serverFactory } = setup();
    const d = endpoint.connect(factoryOf(() => recorder({ half: true })));
    const pump = completer.succeedOnce();
    const client = successResultOf(d);
    serverFactory.built[0]!.transport!.loseConnection();
    pump.flush();
    expect(client.events).toEqual(['made', 'readLost']);
  });

  it('connectProtocol connects a protocol instance without a factory', () => {
    const { endpoint, completer } = setup();
    const proto = recorder();
    const d = connectProtocol(endpoint, proto);
    completer.succeedOnce();
    expect(successResultOf(d)).toBe(proto);
    expect(proto.transport).toBeInstanceOf(FakeTransport);
  });

  it('UNIX and TLS endpoints connect through the completer too', () => {
    const reactor = new MemoryReactorClock();
    const completer = new ConnectionCompleter(reactor);
    void new UNIXServerEndpoint(reactor, '/run/s.sock').listen(factoryOf(() => echo()));
    const unix = new UNIXClientEndpoint(reactor, '/run/s.sock', { timeout: 2 }).connect(factoryOf(() => recorder()));
    expect(reactor.unixClients[0]).toMatchObject({ path: '/run/s.sock', timeout: 2 });
    completer.succeedOnce();
    expect(successResultOf(unix).transport!.getPeer()).toEqual(new UNIXAddress('/run/s.sock'));

    reactor.listenSSL(443, factoryOf(() => echo()), { cert: 'C' });
    const tls = new SSL4ClientEndpoint(reactor, '127.0.0.1', 443, () => ({ servername: 'x' })).connect(
      factoryOf(() => recorder()),
    );
    expect(reactor.sslClients[0]!.tls).toEqual({ servername: 'x' });
    completer.succeedOnce();
    expect((successResultOf(tls).transport as FakeTransport).isSecure).toBe(true);
  });

  it('fails connect when the TLS options function throws', () => {
    const reactor = new MemoryReactorClock();
    const d = new SSL4ClientEndpoint(reactor, 'h', 443, () => {
      throw new UserError('no certificate');
    }).connect(factoryOf(() => recorder()));
    failureResultOf(d, UserError);
    expect(reactor.sslClients).toEqual([]);
  });

  it('connectableEndpoint settles connections on demand', () => {
    const { endpoint, completer } = connectableEndpoint();
    const first = endpoint.connect(factoryOf(() => recorder()));
    const second = endpoint.connect(factoryOf(() => recorder()));
    completer.failOnce();
    completer.succeedOnce();
    failureResultOf(first, ConnectionRefusedError);
    successResultOf(second);
  });
});

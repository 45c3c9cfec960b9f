import { describe, expect, it } from 'vitest';
import { Deferred, fail } from '../../src/defer/deferred.js';
import { IPv4Address, IPv6Address, UNIXAddress } from '../../src/reactor/address.js';
import {
  CannotListenError,
  ConnectionRefusedError,
  NotConnectingError,
  ReactorAlreadyRunning,
  ReactorNotRestartable,
  ReactorNotRunning,
  UserError,
} from '../../src/reactor/errors.js';
import type { IDatagramProtocol, IProcessProtocol } from '../../src/reactor/interfaces.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import {
  MemoryReactor,
  MemoryReactorClock,
  RaisingMemoryReactor,
} from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { factoryOf, recorder } from './protocols.js';

describe('MemoryReactor records calls', () => {
  it('records listenTCP(8080, f, {interface}) exactly as Twisted does', () => {
    const reactor = new MemoryReactor();
    const f = factoryOf(() => recorder());
    reactor.listenTCP(8080, f, { interface: '127.0.0.1' });
    expect(reactor.tcpServers).toEqual([{ port: 8080, factory: f, backlog: 50, interface: '127.0.0.1' }]);
  });

  const f = factoryOf(() => recorder());
  const tls = { key: 'K', cert: 'C' };
  const cases: Array<{
    name: string;
    call: (r: MemoryReactor) => unknown;
    list: (r: MemoryReactor) => unknown[];
    record: Record<string, unknown>;
  }> = [
    {
      name: 'listenTCP defaults',
      call: (r) => r.listenTCP(80, f),
      list: (r) => r.tcpServers,
      record: { port: 80, factory: f, backlog: 50, interface: '' },
    },
    {
      name: 'listenTCP options',
      call: (r) => r.listenTCP(0, f, { backlog: 5, interface: '::1' }),
      list: (r) => r.tcpServers,
      record: { port: 0, factory: f, backlog: 5, interface: '::1' },
    },
    {
      name: 'connectTCP defaults',
      call: (r) => r.connectTCP('example.com', 80, f),
      list: (r) => r.tcpClients,
      record: { host: 'example.com', port: 80, factory: f, timeout: 30, bindAddress: null },
    },
    {
      name: 'connectTCP options',
      call: (r) => r.connectTCP('10.0.0.1', 81, f, { timeout: 5, bindAddress: { host: '10.0.0.2', port: 0 } }),
      list: (r) => r.tcpClients,
      record: { host: '10.0.0.1', port: 81, factory: f, timeout: 5, bindAddress: { host: '10.0.0.2', port: 0 } },
    },
    {
      name: 'listenSSL',
      call: (r) => r.listenSSL(443, f, tls, { interface: '127.0.0.1' }),
      list: (r) => r.sslServers,
      record: { port: 443, factory: f, tls, backlog: 50, interface: '127.0.0.1' },
    },
    {
      name: 'connectSSL',
      call: (r) => r.connectSSL('example.com', 443, f, tls),
      list: (r) => r.sslClients,
      record: { host: 'example.com', port: 443, factory: f, tls, timeout: 30, bindAddress: null },
    },
    {
      name: 'listenUNIX',
      call: (r) => r.listenUNIX('/tmp/s.sock', f, { mode: 0o600 }),
      list: (r) => r.unixServers,
      record: { path: '/tmp/s.sock', factory: f, backlog: 50, mode: 0o600 },
    },
    {
      name: 'connectUNIX',
      call: (r) => r.connectUNIX('/tmp/s.sock', f, { timeout: 9 }),
      list: (r) => r.unixClients,
      record: { path: '/tmp/s.sock', factory: f, timeout: 9 },
    },
  ];
  it.each(cases)('$name', ({ call, list, record }) => {
    const reactor = new MemoryReactor();
    call(reactor);
    expect(list(reactor)).toEqual([record]);
  });

  it('hands out a port whose ready has fired, with the address asked for', () => {
    const reactor = new MemoryReactor();
    const port = reactor.listenTCP(8080, factoryOf(() => null), { interface: '127.0.0.1' });
    expect(successResultOf(port.ready)).toBe(port);
    expect(port.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', 8080));
    expect(reactor.listenTCP(1, factoryOf(() => null)).getHost()).toEqual(new IPv4Address('TCP', '0.0.0.0', 1));
    expect(reactor.listenTCP(2, factoryOf(() => null), { interface: '::' }).getHost()).toEqual(
      new IPv6Address('TCP', '::', 2),
    );
    expect(reactor.listenUNIX('/x', factoryOf(() => null)).getHost()).toEqual(new UNIXAddress('/x'));
  });

  it('allocates a distinct port number for port 0', () => {
    const reactor = new MemoryReactor();
    const a = reactor.listenTCP(0, factoryOf(() => null)).getHost() as IPv4Address;
    const b = reactor.listenTCP(0, factoryOf(() => null)).getHost() as IPv4Address;
    expect(a.port).toBeGreaterThan(0);
    expect(b.port).not.toBe(a.port);
    expect(reactor.tcpServers.map((s) => s.port)).toEqual([0, 0]);
  });

  it('starts the factory when listening and stops it when the port stops', () => {
    const reactor = new MemoryReactor();
    const f = factoryOf(() => null);
    const port = reactor.listenTCP(80, f);
    expect(f.events).toEqual(['doStart']);
    expect(port.stopped).toBe(false);
    expect(successResultOf(port.stopListening())).toBeUndefined();
    successResultOf(port.stopListening());
    expect(port.stopped).toBe(true);
    expect(f.events).toEqual(['doStart', 'doStop']);
  });

  it('connectTCP calls startedConnecting with the connector it returns', () => {
    const reactor = new MemoryReactor();
    const f = factoryOf(() => null);
    const connector = reactor.connectTCP('::1', 80, f);
    expect(f.connectors).toEqual([connector]);
    expect(f.events).toEqual(['doStart', 'startedConnecting']);
    expect(reactor.connectors).toEqual([connector]);
    expect(connector.state).toBe('connecting');
    expect(connector.getDestination()).toEqual(new IPv6Address('TCP', '::1', 80));
  });

  it('stopConnecting fails the attempt with UserError, then refuses', () => {
    const reactor = new MemoryReactor();
    const f = factoryOf(() => null);
    const connector = reactor.connectTCP('h', 1, f);
    connector.stopConnecting();
    expect(connector.stoppedConnecting).toBe(true);
    expect(connector.state).toBe('disconnected');
    expect(f.failures[0]!.check(UserError)).toBe(UserError);
    expect(f.events).toEqual(['doStart', 'startedConnecting', 'failed:UserError', 'doStop']);
    expect(() => connector.stopConnecting()).toThrow(NotConnectingError);
  });

  it('lets a factory reconnect from clientConnectionFailed without stopping it', () => {
    const reactor = new MemoryReactor();
    const f = factoryOf(() => null);
    f.clientConnectionFailed = (c) => {
      f.events.push('failed');
      if (f.events.filter((e) => e === 'failed').length < 2) c.connect();
    };
    const connector = reactor.connectTCP('h', 1, f);
    connector.connectionFailed(new ConnectionRefusedError());
    expect(connector.state).toBe('connecting');
    connector.connectionFailed(new ConnectionRefusedError());
    expect(f.events).toEqual(['doStart', 'startedConnecting', 'failed', 'startedConnecting', 'failed', 'doStop']);
  });

  it('records listenUDP and starts the protocol on a fake port', () => {
    const reactor = new MemoryReactor();
    const events: string[] = [];
    const proto: IDatagramProtocol = {
      startProtocol: () => events.push('start'),
      stopProtocol: () => events.push('stop'),
    };
    const udp = reactor.listenUDP(5353, proto, { interface: '127.0.0.1' });
    expect(reactor.udpPorts).toEqual([{ port: 5353, protocol: proto, interface: '127.0.0.1', maxPacketSize: 8192 }]);
    expect(proto.transport).toBe(udp);
    udp.write(Buffer.from('hi'), { host: '127.0.0.1', port: 53 });
    expect(udp.written).toEqual([{ packet: Buffer.from('hi'), addr: { host: '127.0.0.1', port: 53 } }]);
    expect(() => udp.write(Buffer.from('x'))).toThrow(/address/);
    successResultOf(udp.stopListening());
    expect(events).toEqual(['start', 'stop']);
  });

  it('records spawnProcess and connects the protocol to a fake process transport', () => {
    const reactor = new MemoryReactor();
    const events: string[] = [];
    const proto: IProcessProtocol = { connectionMade: () => events.push('made') };
    const t = reactor.spawnProcess(proto, '/bin/cat', ['cat'], { env: null });
    expect(reactor.spawnedProcesses).toEqual([
      { protocol: proto, executable: '/bin/cat', args: ['cat'], options: { env: null }, transport: t },
    ]);
    expect(proto.transport).toBe(t);
    expect(events).toEqual(['made']);
    t.write(Buffer.from('in'));
    t.signalProcess('TERM');
    t.closeStdin();
    expect(t.writes).toEqual([{ fd: 0, data: Buffer.from('in') }]);
    expect(t.signals).toEqual(['TERM']);
    expect(t.closedFDs).toEqual([0]);
  });

  it('records deferToThread; the test fires the Deferred by hand', () => {
    const reactor = new MemoryReactor();
    const d = reactor.deferToThread<number>('./work.js', 'sum', 1, 2);
    expect(reactor.threadCalls).toHaveLength(1);
    expect(reactor.threadCalls[0]).toMatchObject({ moduleUrl: './work.js', exportName: 'sum', args: [1, 2] });
    assertNoResult(d);
    reactor.threadCalls[0]!.deferred.callback(3);
    expect(successResultOf(d)).toBe(3);
  });
});

describe('MemoryReactor lifecycle', () => {
  it('records callWhenRunning hooks and system event triggers', () => {
    const reactor = new MemoryReactor();
    const hook = (_n?: number): void => undefined;
    reactor.callWhenRunning(hook, 1);
    const id = reactor.addSystemEventTrigger('before', 'shutdown', hook);
    expect(reactor.whenRunningHooks).toEqual([{ fn: hook, args: [1] }]);
    expect(reactor.triggers.before.shutdown).toEqual([{ id, fn: hook, args: [] }]);
    reactor.removeSystemEventTrigger(id);
    expect(reactor.triggers.before.shutdown).toEqual([]);
    expect(() => reactor.removeSystemEventTrigger(id)).toThrow(TypeError);
    expect(() => reactor.addSystemEventTrigger('later' as 'after', 'shutdown', hook)).toThrow(/invalid phase/);
  });

  it('run() starts, runs the hooks, then simulates stop, in order', () => {
    const reactor = new MemoryReactor();
    const seen: string[] = [];
    const note = (what: string) => () => seen.push(`${what}:${reactor.running}`);
    for (const phase of ['before', 'during', 'after'] as const) {
      reactor.addSystemEventTrigger(phase, 'startup', note(`${phase}-startup`));
      reactor.addSystemEventTrigger(phase, 'shutdown', note(`${phase}-shutdown`));
    }
    reactor.callWhenRunning(note('hook'));
    const d = reactor.run();
    expect(seen).toEqual([
      'before-startup:false',
      'during-startup:true',
      'after-startup:true',
      'hook:true',
      'before-shutdown:true',
      'during-shutdown:false',
      'after-shutdown:false',
    ]);
    expect(successResultOf(d)).toBeUndefined();
    expect(reactor.hasRun).toBe(true);
    expect(reactor.hasStopped).toBe(true);
  });

  it('waits for a Deferred returned by a before-shutdown trigger', () => {
    const reactor = new MemoryReactor();
    const drained = new Deferred<void>();
    const seen: string[] = [];
    reactor.addSystemEventTrigger('before', 'shutdown', () => drained);
    reactor.addSystemEventTrigger('during', 'shutdown', () => seen.push('during'));
    const d = reactor.run();
    expect(seen).toEqual([]);
    expect(reactor.running).toBe(true);
    assertNoResult(d);
    drained.callback(undefined);
    expect(seen).toEqual(['during']);
    expect(reactor.running).toBe(false);
    successResultOf(d);
  });

  it('logs a failing trigger (thrown, or a failed Deferred) and goes on with the others', () => {
    const reactor = new MemoryReactor();
    const seen: string[] = [];
    const late = new Deferred<void>();
    reactor.addSystemEventTrigger('before', 'shutdown', () => {
      throw new RangeError('boom');
    });
    reactor.addSystemEventTrigger('before', 'shutdown', () => late);
    reactor.addSystemEventTrigger('before', 'shutdown', () => fail(new TypeError('x')));
    reactor.addSystemEventTrigger('after', 'shutdown', () => seen.push('after'));
    const d = reactor.run();
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
    expect(flushLoggedErrors(TypeError)).toHaveLength(1);
    expect(seen).toEqual([]);
    late.errback(new SyntaxError('late'));
    expect(flushLoggedErrors(SyntaxError)).toHaveLength(1);
    expect(seen).toEqual(['after']);
    successResultOf(d);
  });

  it('calls callWhenRunning hooks at once while running', () => {
    const reactor = new MemoryReactor();
    const seen: string[] = [];
    reactor.callWhenRunning(() => {
      reactor.callWhenRunning(() => seen.push('inner'));
      seen.push('outer');
    });
    reactor.run();
    expect(seen).toEqual(['inner', 'outer']);
  });

  it('refuses to stop when not running, to run twice, or to restart', () => {
    const reactor = new MemoryReactor();
    expect(() => reactor.stop()).toThrow(ReactorNotRunning);
    let inner: unknown = null;
    reactor.callWhenRunning(() => {
      try {
        reactor.run();
      } catch (e) {
        inner = e;
      }
    });
    reactor.run();
    expect(inner).toBeInstanceOf(ReactorAlreadyRunning);
    expect(() => reactor.run()).toThrow(ReactorNotRestartable);
    expect(() => reactor.stop()).toThrow(ReactorNotRunning);
  });

  it('a hook may stop the reactor itself', () => {
    const reactor = new MemoryReactor();
    reactor.callWhenRunning(() => reactor.stop());
    successResultOf(reactor.run());
    expect(reactor.running).toBe(false);
  });

  it('fires custom system events', () => {
    const reactor = new MemoryReactor();
    const seen: string[] = [];
    reactor.addSystemEventTrigger('during', 'persist', (x: number) => seen.push(`persist ${x}`), 7);
    successResultOf(reactor.fireSystemEvent('persist'));
    expect(seen).toEqual(['persist 7']);
  });

  it('closes ports and pending connectors during shutdown', () => {
    const reactor = new MemoryReactor();
    const port = reactor.listenTCP(80, factoryOf(() => null));
    const f = factoryOf(() => null);
    const connector = reactor.connectTCP('h', 80, f);
    const udp = reactor.listenUDP(53, {});
    expect(reactor.openResources()).toHaveLength(3);
    reactor.run();
    expect(port.stopped).toBe(true);
    expect(udp.stopped).toBe(true);
    expect(connector.state).toBe('disconnected');
    expect(f.failures[0]!.check(UserError)).toBe(UserError);
    expect(reactor.openResources()).toEqual([]);
  });
});

describe('MemoryReactor time', () => {
  it.each([
    ['seconds', (r: MemoryReactor) => r.seconds()],
    ['callLater', (r: MemoryReactor) => r.callLater(1, () => undefined)],
  ])('plain MemoryReactor.%s throws a TypeError naming MemoryReactorClock', (_name, call) => {
    expect(() => call(new MemoryReactor())).toThrow(TypeError);
    expect(() => call(new MemoryReactor())).toThrow(/MemoryReactorClock/);
  });

  it('plain MemoryReactor has no delayed calls', () => {
    expect(new MemoryReactor().getDelayedCalls()).toEqual([]);
  });

  it('MemoryReactorClock schedules on a hand-advanced clock', () => {
    const reactor = new MemoryReactorClock();
    const seen: string[] = [];
    const call = reactor.callLater(2, (x: string) => seen.push(x), 'two');
    reactor.callLater(1, (x: string) => seen.push(x), 'one');
    expect(reactor.getDelayedCalls()).toHaveLength(2);
    reactor.advance(1);
    expect(seen).toEqual(['one']);
    expect(reactor.seconds()).toBe(1);
    expect(reactor.rightNow).toBe(1);
    reactor.pump([0.5, 0.5]);
    expect(seen).toEqual(['one', 'two']);
    expect(call.active()).toBe(false);
    expect(reactor.getDelayedCalls()).toEqual([]);
    // It is still a MemoryReactor.
    reactor.listenTCP(80, factoryOf(() => null));
    expect(reactor.tcpServers).toHaveLength(1);
  });
});

describe('RaisingMemoryReactor', () => {
  it('throws its errors from listen* and connect*', () => {
    const listenError = new CannotListenError('127.0.0.1', 80);
    const connectError = new ConnectionRefusedError('no');
    const reactor = new RaisingMemoryReactor(listenError, connectError);
    const f = factoryOf(() => null);
    for (const listen of [
      () => reactor.listenTCP(80, f),
      () => reactor.listenSSL(443, f, {}),
      () => reactor.listenUNIX('/x', f),
      () => reactor.listenUDP(53, {}),
    ]) {
      expect(listen).toThrow(listenError);
    }
    for (const connect of [
      () => reactor.connectTCP('h', 80, f),
      () => reactor.connectSSL('h', 443, f, {}),
      () => reactor.connectUNIX('/x', f),
    ]) {
      expect(connect).toThrow(connectError);
    }
    expect(reactor.tcpServers).toEqual([]);
    expect(reactor.tcpClients).toEqual([]);
  });

  it('defaults to CannotListenError and ConnectionRefusedError, and keeps a clock', () => {
    const reactor = new RaisingMemoryReactor();
    expect(() => reactor.listenTCP(80, factoryOf(() => null))).toThrow(CannotListenError);
    expect(() => reactor.connectTCP('h', 80, factoryOf(() => null))).toThrow(ConnectionRefusedError);
    let ran = false;
    reactor.callLater(1, () => (ran = true));
    reactor.advance(1);
    expect(ran).toBe(true);
  });

  it('failureResultOf works on an endpoint over it', async () => {
    const { TCP4ServerEndpoint } = await import('../../src/reactor/endpoints/tcp.js');
    const d = new TCP4ServerEndpoint(new RaisingMemoryReactor(), 80).listen(factoryOf(() => null));
    expect(failureResultOf(d, CannotListenError).value.port).toBe(0);
  });
});

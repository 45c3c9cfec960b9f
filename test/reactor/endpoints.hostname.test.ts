import { describe, expect, it } from 'vitest';
import { Deferred, fail, succeed } from '../../src/defer/deferred.js';
import {
  HostnameAddress,
  HostnameEndpoint,
  interleaveFamilies,
  systemResolver,
  type HostResolver,
  type ResolvedAddress,
} from '../../src/reactor/endpoints/hostname.js';
import {
  ConnectingCancelledError,
  ConnectionRefusedError,
  DNSLookupError,
  TCPTimedOutError,
} from '../../src/reactor/errors.js';
import { assertClean } from '../../src/testing/clean.js';
import { ConnectionCompleter } from '../../src/testing/iosim.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { factoryOf, recorder } from '../testing/protocols.js';

const v4 = (host: string): ResolvedAddress => ({ host, family: 4 });
const v6 = (host: string): ResolvedAddress => ({ host, family: 6 });

/** A resolver whose answer the test gives (or a fixed one). */
function fakeResolver(answer?: ResolvedAddress[]) {
  const calls: Array<{ host: string; port: number; d: Deferred<ResolvedAddress[]> }> = [];
  const resolver: HostResolver = {
    resolve(host, port) {
      const d = answer !== undefined ? succeed(answer) : new Deferred<ResolvedAddress[]>();
      calls.push({ host, port, d });
      return d;
    },
  };
  return { resolver, calls };
}

function setup(addresses: ResolvedAddress[], options: { attemptDelay?: number } = {}) {
  const reactor = new MemoryReactorClock();
  const { resolver, calls } = fakeResolver(addresses);
  const endpoint = new HostnameEndpoint(reactor, 'example.com', 443, { resolver, ...options });
  const factory = factoryOf(() => recorder());
  return { reactor, endpoint, factory, calls };
}

const hosts = (reactor: MemoryReactorClock): string[] => reactor.tcpClients.map((c) => c.host);

describe('interleaveFamilies', () => {
  it.each([
    [[v4('a'), v4('b')], ['a', 'b']],
    [[v6('a'), v6('b')], ['a', 'b']],
    [[v4('4a'), v4('4b'), v6('6a'), v6('6b')], ['6a', '4a', '6b', '4b']],
    [[v4('4a'), v6('6a'), v6('6b'), v6('6c')], ['6a', '4a', '6b', '6c']],
    [[], []],
  ])('%j', (input, expected) => {
    expect(interleaveFamilies(input).map((a) => a.host)).toEqual(expected);
  });
});

describe('HostnameEndpoint', () => {
  it('resolves the name with the port, then starts the first attempt at once', () => {
    const { reactor, endpoint, factory, calls } = setup([v4('10.0.0.1')]);
    const d = endpoint.connect(factory);
    expect(calls.map((c) => [c.host, c.port])).toEqual([['example.com', 443]]);
    expect(reactor.tcpClients).toEqual([
      { host: '10.0.0.1', port: 443, factory: expect.anything(), timeout: 30, bindAddress: null },
    ]);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it('with the default attemptDelay, starts attempts at 0, 0.3, 0.6 s', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b'), v4('c')]);
    const d = endpoint.connect(factory);
    const starts: number[] = [reactor.seconds()];
    while (reactor.getDelayedCalls().length > 0) {
      const next = reactor.getDelayedCalls()[0]!.getTime();
      reactor.advance(next - reactor.seconds());
      starts.push(next);
    }
    expect(hosts(reactor)).toEqual(['a', 'b', 'c']);
    expect(starts).toHaveLength(3);
    starts.forEach((t, i) => expect(t).toBeCloseTo(i * 0.3, 9));
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it.each([0.25, 1])('with attemptDelay %s, starts one attempt per delay, never early', (delay) => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b'), v4('c')], { attemptDelay: delay });
    const d = endpoint.connect(factory);
    expect(reactor.tcpClients).toHaveLength(1);
    for (const count of [2, 3]) {
      reactor.advance(delay / 2);
      expect(reactor.tcpClients).toHaveLength(count - 1);
      reactor.advance(delay / 2);
      expect(reactor.tcpClients).toHaveLength(count);
    }
    expect(hosts(reactor)).toEqual(['a', 'b', 'c']);
    expect(reactor.getDelayedCalls()).toEqual([]);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it('with attemptDelay 0, starts the rest on the next turn of the clock', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b'), v4('c')], { attemptDelay: 0 });
    const d = endpoint.connect(factory);
    expect(hosts(reactor)).toEqual(['a']);
    reactor.advance(0);
    expect(hosts(reactor)).toEqual(['a', 'b', 'c']);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it('tries IPv6 and IPv4 alternately, IPv6 first', () => {
    const { reactor, endpoint, factory } = setup([v4('1.1.1.1'), v4('2.2.2.2'), v6('::1'), v6('::2')]);
    const d = endpoint.connect(factory);
    reactor.pump([0.3, 0.3, 0.3]);
    expect(hosts(reactor)).toEqual(['::1', '1.1.1.1', '::2', '2.2.2.2']);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it('the first success wins: the other attempts are cancelled and no more start', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b'), v4('c')]);
    reactor.listenTCP(443, factoryOf(() => recorder()));
    const d = endpoint.connect(factory);
    reactor.advance(0.3);
    // The first attempt failed quickly, the second connects.
    reactor.connectors[0]!.connectionFailed(new ConnectionRefusedError());
    assertNoResult(d);
    new ConnectionCompleter(reactor).succeedOnce();
    const proto = successResultOf(d);
    expect(proto).toBe(factory.built[0]);
    expect(factory.addresses.map(String)).toEqual(['b:443']);
    expect(reactor.connectors.map((c) => c.state)).toEqual(['disconnected', 'connected']);
    expect(reactor.getDelayedCalls()).toEqual([]);
    reactor.advance(10);
    expect(hosts(reactor)).toEqual(['a', 'b']);
  });

  it('a winner cancels attempts still pending', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b'), v4('c')]);
    reactor.listenTCP(443, factoryOf(() => recorder()));
    const d = endpoint.connect(factory);
    reactor.pump([0.3, 0.3]);
    expect(hosts(reactor)).toEqual(['a', 'b', 'c']);
    new ConnectionCompleter(reactor).succeedOnce(); // the oldest: 'a'
    successResultOf(d);
    expect(reactor.connectors.map((c) => [c.state, c.stoppedConnecting])).toEqual([
      ['connected', false],
      ['disconnected', true],
      ['disconnected', true],
    ]);
  });

  it('when every attempt fails, fails with the last failure to arrive', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b')]);
    const d = endpoint.connect(factory);
    reactor.advance(0.3);
    reactor.connectors[1]!.connectionFailed(new ConnectionRefusedError('b refused'));
    assertNoResult(d);
    reactor.connectors[0]!.connectionFailed(new TCPTimedOutError('a timed out'));
    expect(failureResultOf(d, TCPTimedOutError).value.message).toBe('a timed out');
  });

  it('waits for the remaining addresses before failing', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b')]);
    const d = endpoint.connect(factory);
    reactor.connectors[0]!.connectionFailed(new ConnectionRefusedError('a'));
    assertNoResult(d);
    reactor.advance(0.3);
    reactor.connectors[1]!.connectionFailed(new ConnectionRefusedError('b'));
    expect(failureResultOf(d, ConnectionRefusedError).value.message).toBe('b');
    assertClean({ getDelayedCalls: () => reactor.getDelayedCalls() });
  });

  it('fails with DNSLookupError when the name has no addresses', () => {
    const { reactor, endpoint, factory } = setup([]);
    const f = failureResultOf(endpoint.connect(factory), DNSLookupError);
    expect(f.value.message).toMatch(/no results for hostname lookup: example.com/);
    expect(reactor.tcpClients).toEqual([]);
  });

  it.each([
    ['a DNSLookupError as it is', new DNSLookupError('NXDOMAIN'), /^NXDOMAIN$/],
    ['any other error as a DNSLookupError', new RangeError('resolver broke'), /Couldn't find the hostname 'example.com': resolver broke/],
  ])('passes a failed lookup on: %s', (_name, error, message) => {
    const reactor = new MemoryReactorClock();
    const endpoint = new HostnameEndpoint(reactor, 'example.com', 443, { resolver: { resolve: () => fail(error) } });
    const f = failureResultOf(endpoint.connect(factoryOf(() => recorder())), DNSLookupError);
    expect(f.value.message).toMatch(message);
  });

  it('a resolver that throws fails the connection too', () => {
    const reactor = new MemoryReactorClock();
    const endpoint = new HostnameEndpoint(reactor, 'h', 1, {
      resolver: {
        resolve: () => {
          throw new TypeError('oops');
        },
      },
    });
    expect(failureResultOf(endpoint.connect(factoryOf(() => recorder())), DNSLookupError).value.cause).toBeInstanceOf(TypeError);
  });

  it('cancelling during the lookup cancels it', () => {
    const reactor = new MemoryReactorClock();
    const { resolver, calls } = fakeResolver();
    const d = new HostnameEndpoint(reactor, 'example.com', 443, { resolver }).connect(factoryOf(() => recorder()));
    assertNoResult(d);
    d.cancel();
    const f = failureResultOf(d, ConnectingCancelledError);
    expect(f.value.address).toEqual(new HostnameAddress('example.com', 443));
    expect(calls[0]!.d.called).toBe(true);
    expect(reactor.tcpClients).toEqual([]);
  });

  it('a lookup answering late still starts the attempts', () => {
    const reactor = new MemoryReactorClock();
    const { resolver, calls } = fakeResolver();
    const d = new HostnameEndpoint(reactor, 'example.com', 443, { resolver }).connect(factoryOf(() => recorder()));
    reactor.advance(5);
    calls[0]!.d.callback([v4('a')]);
    expect(hosts(reactor)).toEqual(['a']);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it('cancelling during the attempts stops every one and the schedule', () => {
    const { reactor, endpoint, factory } = setup([v4('a'), v4('b'), v4('c')]);
    const d = endpoint.connect(factory);
    reactor.advance(0.3);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
    expect(reactor.connectors.map((c) => c.stoppedConnecting)).toEqual([true, true]);
    expect(reactor.getDelayedCalls()).toEqual([]);
    expect(reactor.openResources()).toEqual([]);
  });

  it('passes timeout and bindAddress to every attempt', () => {
    const reactor = new MemoryReactorClock();
    const { resolver } = fakeResolver([v4('a')]);
    const endpoint = new HostnameEndpoint(reactor, 'h', 80, { resolver, timeout: 4, bindAddress: { host: '10.0.0.9', port: 0 } });
    const d = endpoint.connect(factoryOf(() => recorder()));
    expect(reactor.tcpClients[0]).toMatchObject({ timeout: 4, bindAddress: { host: '10.0.0.9', port: 0 } });
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it.each([
    ['a name: verified against the name', 'example.com', {}, { rejectUnauthorized: true, servername: 'example.com' }],
    ['an address literal: no SNI', '127.0.0.1', {}, { rejectUnauthorized: true }],
    ['an explicit servername wins', 'example.com', { servername: 'other' }, { rejectUnauthorized: true, servername: 'other' }],
  ])('with tls, connects with connectSSL to %s', (_name, host, tls, expected) => {
    const reactor = new MemoryReactorClock();
    const { resolver } = fakeResolver([v4('10.0.0.1')]);
    const d = new HostnameEndpoint(reactor, host, 443, { resolver, tls }).connect(factoryOf(() => recorder()));
    expect(reactor.tcpClients).toEqual([]);
    expect(reactor.sslClients).toHaveLength(1);
    expect(reactor.sslClients[0]!.host).toBe('10.0.0.1');
    expect(reactor.sslClients[0]!.tls).toEqual(expected);
    d.cancel();
    failureResultOf(d, ConnectingCancelledError);
  });

  it('refuses a negative attemptDelay and describes itself', () => {
    const reactor = new MemoryReactorClock();
    expect(() => new HostnameEndpoint(reactor, 'h', 1, { attemptDelay: -1 })).toThrow(RangeError);
    expect(String(new HostnameEndpoint(reactor, '::1', 80))).toBe('<HostnameEndpoint [::1]:80>');
  });

  it('systemResolver answers an address literal at once, without a lookup', () => {
    expect(successResultOf(systemResolver.resolve('127.0.0.1', 80))).toEqual([v4('127.0.0.1')]);
    expect(successResultOf(systemResolver.resolve('::1', 80))).toEqual([v6('::1')]);
  });
});

/**
 * listenUDP on real sockets, on 127.0.0.1 only, port 0; every wait is
 * bounded and every port is closed after each test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { Deferred } from '../../src/defer/deferred.js';
import { IPv4Address, IPv6Address, type Address } from '../../src/reactor/address.js';
import { CannotListenError, InvalidAddressError, MessageLengthError } from '../../src/reactor/errors.js';
import type { IDatagramProtocol, IUDPTransport } from '../../src/reactor/interfaces.js';
import type { ReactorResource, ResourceTracker } from '../../src/reactor/resources.js';
import { listenUDP } from '../../src/reactor/udp.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

class TrackingClock extends Clock implements ResourceTracker {
  readonly resources = new Set<ReactorResource>();
  track(resource: ReactorResource): () => void {
    this.resources.add(resource);
    return () => this.resources.delete(resource);
  }
}

/** `d` within `ms`, or a rejection saying what did not happen. */
function within<T>(d: PromiseLike<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    d.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A protocol that records what happens to it and can wait for the n-th datagram. */
class Recorder implements IDatagramProtocol {
  transport: IUDPTransport | null = null;
  readonly log: string[] = [];
  readonly datagrams: Array<{ data: string; addr: Address }> = [];
  private waiters: Array<{ n: number; d: Deferred<void> }> = [];

  startProtocol(): void {
    this.log.push(`start ${this.transport === null ? 'no transport' : this.transport.getHost().toString()}`);
  }
  stopProtocol(): void {
    this.log.push(`stop ${this.transport === null ? 'no transport' : 'transport'}`);
  }
  datagramReceived(data: Uint8Array, addr: Address): void {
    this.datagrams.push({ data: text(data), addr });
    this.waiters = this.waiters.filter((w) => {
      if (this.datagrams.length < w.n) return true;
      w.d.callback(undefined);
      return false;
    });
  }
  connectionRefused(): void {
    this.log.push('refused');
  }
  received(n: number): Promise<void> {
    const d = new Deferred<void>();
    if (this.datagrams.length >= n) d.callback(undefined);
    else this.waiters.push({ n, d });
    return within(d, 2000, `${n} datagram(s)`);
  }
}

/** Echoes every datagram back to its sender. */
class Echo implements IDatagramProtocol {
  transport: IUDPTransport | null = null;
  datagramReceived(data: Uint8Array, addr: Address): void {
    const { host, port } = addr as IPv4Address;
    this.transport!.write(data, { host, port });
  }
}

let reactor = new TrackingClock();
const rawSockets: dgram.Socket[] = [];

beforeEach(() => {
  reactor = new TrackingClock();
});

afterEach(async () => {
  await within(
    Promise.all([...reactor.resources].map((r) => Promise.resolve(r.shutdown()))),
    2000,
    'ports to close',
  );
  for (const s of rawSockets.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
});

function raw(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  rawSockets.push(s);
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

async function listen(protocol: IDatagramProtocol, options: Parameters<typeof listenUDP>[3] = {}): Promise<IUDPTransport> {
  const port = listenUDP(reactor, 0, protocol, { interface: '127.0.0.1', ...options });
  return within(port.ready, 2000, 'the port to be bound');
}

function hostOf(t: IUDPTransport): { host: string; port: number } {
  const a = t.getHost() as IPv4Address;
  return { host: a.host, port: a.port };
}

describe('listenUDP', () => {
  it('binds, then sets transport and calls startProtocol; ready fires with the port', async () => {
    const p = new Recorder();
    const port = listenUDP(reactor, 0, p, { interface: '127.0.0.1' });
    expect(() => port.getHost()).toThrow(/not bound yet/);
    expect(p.transport).toBeNull();
    expect(reactor.resources.size).toBe(1);
    expect(await within(port.ready, 2000, 'ready')).toBe(port);
    const host = port.getHost();
    expect(host).toBeInstanceOf(IPv4Address);
    expect(host).toMatchObject({ type: 'UDP', host: '127.0.0.1' });
    expect((host as IPv4Address).port).toBeGreaterThan(0);
    expect(p.transport).toBe(port);
    expect(p.log).toEqual([`start 127.0.0.1:${(host as IPv4Address).port}`]);
  });

  it('echoes datagrams between two unconnected ports, with the sender as an IPv4Address', async () => {
    const server = await listen(new Echo());
    const client = new Recorder();
    const clientPort = await listen(client);
    for (const message of ['one', 'two', 'three']) clientPort.write(bytes(message), hostOf(server));
    await client.received(3);
    expect(client.datagrams.map((d) => d.data).sort()).toEqual(['one', 'three', 'two']);
    for (const { addr } of client.datagrams) {
      expect(addr).toBeInstanceOf(IPv4Address);
      expect(addr).toMatchObject({ type: 'UDP', ...hostOf(server) });
    }
  });

  it('delivers each datagram whole, however it was written', async () => {
    const server = new Recorder();
    const serverPort = await listen(server);
    const sender = await raw();
    const payload = Buffer.from('a datagram is never split or merged');
    sender.send(payload, hostOf(serverPort).port, '127.0.0.1');
    sender.send(payload.subarray(0, 1), hostOf(serverPort).port, '127.0.0.1');
    await server.received(2);
    expect(server.datagrams.map((d) => d.data).sort()).toEqual(['a', payload.toString()]);
  });

  it('connected UDP: write without an address, echo comes back, datagrams from others are ignored', async () => {
    const server = await listen(new Echo());
    const client = new Recorder();
    const clientPort = await listen(client);
    clientPort.connect(hostOf(server).host, hostOf(server).port);
    clientPort.write(bytes('via connect'));
    await client.received(1);
    expect(client.datagrams[0]!.data).toBe('via connect');

    const stranger = await raw();
    stranger.send(Buffer.from('from a stranger'), hostOf(clientPort).port, '127.0.0.1');
    clientPort.write(bytes('second'), hostOf(server)); // the peer's own address is allowed
    await client.received(2);
    await sleep(50);
    expect(client.datagrams.map((d) => d.data)).toEqual(['via connect', 'second']);
  });

  it('connected UDP: an ICMP refusal from a closed port calls connectionRefused', async () => {
    const closed = await raw();
    const deadPort = closed.address().port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = new Recorder();
    const clientPort = await listen(client);
    clientPort.connect('127.0.0.1', deadPort);
    for (let i = 0; i < 20 && !client.log.includes('refused'); i++) {
      clientPort.write(bytes('anyone?'));
      await sleep(20);
    }
    expect(client.log).toContain('refused');
  });

  it('refuses a second connect and addresses that are not IP literals of its family', async () => {
    const port = await listen(new Recorder());
    expect(() => port.connect('localhost', 9)).toThrow(InvalidAddressError);
    expect(() => port.connect('::1', 9)).toThrow(InvalidAddressError);
    port.connect('127.0.0.1', 9);
    expect(() => port.connect('127.0.0.1', 10)).toThrow(/already connected/);
    expect(() => port.write(bytes('x'), { host: '127.0.0.1', port: 10 })).toThrow(InvalidAddressError);
  });

  it.each([
    ['non-bytes', 'a string' as unknown as Uint8Array, { host: '127.0.0.1', port: 9 }, TypeError],
    ['no address on an unconnected port', bytes('x'), undefined, TypeError],
    ['a host name', bytes('x'), { host: 'localhost', port: 9 }, InvalidAddressError],
    ['an IPv6 address on an IPv4 port', bytes('x'), { host: '::1', port: 9 }, InvalidAddressError],
    ['port 0', bytes('x'), { host: '127.0.0.1', port: 0 }, RangeError],
    ['a port above 65535', bytes('x'), { host: '127.0.0.1', port: 70000 }, RangeError],
  ])('write throws for %s', async (_what, packet, addr, type) => {
    const port = await listen(new Recorder());
    expect(() => port.write(packet, addr)).toThrow(type);
  });

  it('refuses to write packets over maxPacketSize (default 8192) with MessageLengthError', async () => {
    const server = new Recorder();
    const serverPort = await listen(server, { maxPacketSize: 65000 });
    const port = await listen(new Recorder());
    expect(() => port.write(new Uint8Array(8193), hostOf(serverPort))).toThrow(MessageLengthError);
    port.write(new Uint8Array(8192).fill(65), hostOf(serverPort));
    await server.received(1);
    expect(server.datagrams[0]!.data).toHaveLength(8192);

    const small = await listen(new Recorder(), { maxPacketSize: 16 });
    expect(() => small.write(new Uint8Array(17), hostOf(serverPort))).toThrow(MessageLengthError);
    small.write(new Uint8Array(16), hostOf(serverPort));
    await server.received(2);
  });

  it('drops incoming datagrams over maxPacketSize and delivers the rest', async () => {
    const server = new Recorder();
    const serverPort = await listen(server, { maxPacketSize: 16 });
    const sender = await raw();
    sender.send(Buffer.alloc(17, 'x'), hostOf(serverPort).port, '127.0.0.1');
    await sleep(20);
    sender.send(Buffer.alloc(16, 'y'), hostOf(serverPort).port, '127.0.0.1');
    await server.received(1);
    await sleep(30);
    expect(server.datagrams.map((d) => d.data)).toEqual(['y'.repeat(16)]);
  });

  it('fails ready with CannotListenError when the port is in use, without starting the protocol', async () => {
    const taken = await raw();
    const p = new Recorder();
    const port = listenUDP(reactor, taken.address().port, p, { interface: '127.0.0.1' });
    const error = await within(port.ready, 2000, 'ready').then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CannotListenError);
    expect(error).toMatchObject({ interface_: '127.0.0.1', port: taken.address().port });
    expect(((error as Error).cause as { code?: string }).code).toBe('EADDRINUSE');
    expect(p.log).toEqual([]);
    await within(port.stopListening(), 1000, 'stopListening');
    expect(reactor.resources.size).toBe(0);
  });

  it('stopListening closes the port, then calls stopProtocol; twice is fine; later writes are dropped', async () => {
    const p = new Recorder();
    const port = await listen(p);
    const first = port.stopListening();
    const second = port.stopListening();
    await within(first, 2000, 'stopListening');
    await within(second, 2000, 'second stopListening');
    expect(p.log.slice(1)).toEqual(['stop no transport']);
    expect(p.transport).toBeNull();
    expect(reactor.resources.size).toBe(0);
    port.write(bytes('dropped'), { host: '127.0.0.1', port: 9 });
    await within(port.stopListening(), 100, 'a third stopListening');
    expect(() => port.setTTL(3)).toThrow(/closed/);
  });

  it('stopListening before the port is bound fails ready with CannotListenError and never starts the protocol', async () => {
    const p = new Recorder();
    const port = listenUDP(reactor, 0, p, { interface: '127.0.0.1' });
    const ready = port.ready.then(
      () => 'bound',
      (e: unknown) => e,
    );
    await within(port.stopListening(), 2000, 'stopListening');
    expect(await ready).toBeInstanceOf(CannotListenError);
    expect(p.log).toEqual([]);
    expect(reactor.resources.size).toBe(0);
  });

  it('closes through the reactor: each open port is a tracked resource', async () => {
    const a = new Recorder();
    const b = new Recorder();
    await listen(a);
    await listen(b);
    expect(reactor.resources.size).toBe(2);
    await within(Promise.all([...reactor.resources].map((r) => Promise.resolve(r.shutdown()))), 2000, 'shutdown');
    expect(reactor.resources.size).toBe(0);
    expect([a.log[1], b.log[1]]).toEqual(['stop no transport', 'stop no transport']);
  });

  it('logs an exception thrown by datagramReceived and keeps delivering', async () => {
    const seen: string[] = [];
    const port = await listen({
      datagramReceived(data) {
        seen.push(text(data));
        if (seen.length === 1) throw new RangeError('bad datagram');
      },
    });
    const sender = await raw();
    sender.send(Buffer.from('first'), hostOf(port).port, '127.0.0.1');
    await sleep(20);
    sender.send(Buffer.from('second'), hostOf(port).port, '127.0.0.1');
    for (let i = 0; i < 100 && seen.length < 2; i++) await sleep(10);
    expect(seen).toEqual(['first', 'second']);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('applies socket options asked for before binding once bound, and at once afterwards', async () => {
    const port = listenUDP(reactor, 0, new Recorder(), { interface: '127.0.0.1' });
    port.setBroadcastAllowed(true);
    port.setTTL(2);
    port.setLoopbackMode(true);
    await within(port.ready, 2000, 'ready');
    port.setBroadcastAllowed(false);
    port.setTTL(1);
    port.setLoopbackMode(false);
    expect(() => port.setTTL(1000)).toThrow();
  });

  it('joins a multicast group and receives what is sent to it (loopback)', async (ctx) => {
    const group = '239.255.77.77';
    const member = new Recorder();
    // Bound to the group address itself: it receives the group's datagrams and nothing else.
    const memberPort = listenUDP(reactor, 0, member, { interface: group, reuseAddress: true });
    await within(memberPort.ready, 2000, 'ready');
    try {
      memberPort.joinGroup(group, '127.0.0.1');
    } catch (e) {
      ctx.skip(`multicast on the loopback interface is not available here: ${(e as Error).message}`);
    }
    memberPort.setLoopbackMode(true);
    const sender = await raw();
    sender.setMulticastInterface('127.0.0.1');
    sender.send(Buffer.from('to the group'), hostOf(memberPort).port, group);
    await member.received(1);
    expect(member.datagrams[0]!.data).toBe('to the group');
    memberPort.leaveGroup(group, '127.0.0.1');
  });

  it('makes an IPv6 port when the interface contains ":" and reports IPv6Address senders', async (ctx) => {
    const server = listenUDP(reactor, 0, new Echo(), { interface: '::1' });
    const bound = await within(server.ready, 2000, 'ready').then(
      () => true,
      (e: unknown) => e,
    );
    if (bound !== true) ctx.skip(`no IPv6 loopback here: ${String(bound)}`);
    const client = new Recorder();
    const clientPort = listenUDP(reactor, 0, client, { interface: '::1' });
    await within(clientPort.ready, 2000, 'ready');
    expect(server.getHost()).toBeInstanceOf(IPv6Address);
    expect(() => clientPort.write(bytes('x'), { host: '127.0.0.1', port: 9 })).toThrow(InvalidAddressError);
    clientPort.write(bytes('six'), { host: '::1', port: (server.getHost() as IPv6Address).port });
    await client.received(1);
    expect(client.datagrams[0]!.addr).toBeInstanceOf(IPv6Address);
    expect(client.datagrams[0]!.addr).toMatchObject({ host: '::1' });
  });
});

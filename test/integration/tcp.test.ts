/**
 * The Node reactor's TCP on real sockets, 127.0.0.1 only: echo, addresses,
 * ports and factories, the ClientFactory callbacks (refused, timed out, DNS,
 * stopConnecting, NoProtocol, retries), half-close, abort, producers and
 * flow control, a 64 MiB echo checked by SHA-256.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { IPv4Address, IPv6Address, type Address } from '../../src/reactor/address.js';
import {
  CannotListenError,
  ConnectError,
  ConnectionDone,
  ConnectionLost,
  ConnectionRefusedError,
  DNSLookupError,
  NoProtocol,
  NotConnectingError,
  TCPTimedOutError,
  UserError,
} from '../../src/reactor/errors.js';
import type {
  IClientFactory,
  IConnector,
  IListeningPort,
  IProtocol,
  IProtocolFactory,
  IPushProducer,
  ITCPTransport,
  ITransport,
} from '../../src/reactor/interfaces.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { within, until } from './helpers.js';

// ------------------------------------------------------------------ helpers

function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; fired: () => boolean } {
  let resolve!: (v: T) => void;
  let fired = false;
  const promise = new Promise<T>((r) => {
    resolve = (v) => {
      fired = true;
      r(v);
    };
  });
  return { promise, resolve: (v) => resolve(v), fired: () => fired };
}

/** A protocol that records everything that happens to it. */
class Peer implements IProtocol {
  transport: ITransport | null = null;
  chunks: Buffer[] = [];
  bytes = 0;
  events: string[] = [];
  reason: Failure | null = null;
  readonly made = signal();
  readonly lost = signal<Failure>();

  get tcp(): ITCPTransport {
    return this.transport as ITCPTransport;
  }
  connectionMade(): void {
    this.events.push('made');
    this.made.resolve();
  }
  dataReceived(data: Uint8Array): void {
    this.events.push('data');
    this.chunks.push(Buffer.from(data));
    this.bytes += data.byteLength;
  }
  connectionLost(reason: Failure): void {
    this.events.push('lost');
    this.reason = reason;
    this.lost.resolve(reason);
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

class Echo extends Peer {
  override dataReceived(data: Uint8Array): void {
    super.dataReceived(data);
    this.transport!.write(data);
  }
}

class ServerFactory<P extends IProtocol> implements IProtocolFactory {
  built: P[] = [];
  addrs: Address[] = [];
  starts = 0;
  stops = 0;
  readonly first = signal<P>();
  constructor(private readonly make: () => P | null) {}
  buildProtocol(addr: Address): P | null {
    this.addrs.push(addr);
    const p = this.make();
    if (p !== null) {
      this.built.push(p);
      this.first.resolve(p);
    }
    return p;
  }
  doStart(): void {
    this.starts++;
  }
  doStop(): void {
    this.stops++;
  }
}

class Client<P extends IProtocol> implements IClientFactory {
  events: string[] = [];
  starts = 0;
  stops = 0;
  failures: Failure[] = [];
  protocol: P | null = null;
  addr: Address | null = null;
  readonly failed = signal<Failure>();
  readonly lost = signal<Failure>();
  onFailed: ((connector: IConnector, reason: Failure) => void) | null = null;
  constructor(private readonly make: () => P | null) {}
  buildProtocol(addr: Address): P | null {
    this.events.push('build');
    this.addr = addr;
    return (this.protocol = this.make());
  }
  startedConnecting(): void {
    this.events.push('started');
  }
  clientConnectionFailed(connector: IConnector, reason: Failure): void {
    this.events.push('failed');
    this.failures.push(reason);
    this.onFailed?.(connector, reason);
    this.failed.resolve(reason);
  }
  clientConnectionLost(_connector: IConnector, reason: Failure): void {
    this.events.push('lost');
    this.lost.resolve(reason);
  }
  doStart(): void {
    this.starts++;
  }
  doStop(): void {
    this.stops++;
  }
}

function portOf(port: IListeningPort): number {
  return (port.getHost() as IPv4Address).port;
}

let reactor: NodeReactor;
let stopped: PromiseLike<void>;

beforeEach(() => {
  reactor = new NodeReactor();
  stopped = reactor.run();
});

afterEach(async () => {
  if (reactor.running) reactor.stop();
  await within(stopped, 'the reactor to stop');
});

async function listen<P extends IProtocol>(make: () => P | null, iface = '127.0.0.1') {
  const factory = new ServerFactory(make);
  const port = reactor.listenTCP(0, factory, { interface: iface });
  await within(port.ready, 'the port to listen');
  return { factory, port, number: portOf(port) };
}

async function connect<P extends IProtocol>(number: number, make: () => P, host = '127.0.0.1') {
  const client = new Client(make);
  const connector = reactor.connectTCP(host, number, client, { timeout: 5 });
  await until(() => client.protocol !== null || client.failures.length > 0, 'the connection');
  const protocol = client.protocol as P | null;
  if (protocol === null) throw client.failures[0]!.value;
  await within((protocol as unknown as Peer).made.promise, 'connectionMade');
  return { client, connector, protocol };
}

/** A local port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ------------------------------------------------------------------ echo and addresses

describe('TCP echo', () => {
  it('echoes, reports typed addresses, and closes cleanly on both sides', async () => {
    const { factory, number } = await listen(() => new Echo());
    const { client, connector, protocol } = await connect(number, () => new Peer());

    protocol.transport!.write(Buffer.from('hello, '));
    protocol.transport!.writeSequence([Buffer.from('wor'), new Uint8Array([108, 100])]);
    await until(() => protocol.text() === 'hello, world', 'the echo');

    const server = factory.built[0]!;
    expect(connector.state).toBe('connected');
    expect(client.events).toEqual(['started', 'build']);
    expect(protocol.transport!.getPeer()).toEqual(new IPv4Address('TCP', '127.0.0.1', number));
    expect(protocol.transport!.getHost()).toBeInstanceOf(IPv4Address);
    expect(server.transport!.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', number));
    expect(server.transport!.getPeer()).toEqual(protocol.transport!.getHost());
    expect(factory.addrs[0]).toEqual(server.transport!.getPeer());
    expect(client.addr).toEqual(protocol.transport!.getPeer());
    expect(protocol.tcp.isSecure).toBe(false);

    protocol.transport!.loseConnection();
    protocol.transport!.loseConnection(); // idempotent
    const [clientReason, serverReason, lostReason] = await within(
      Promise.all([protocol.lost.promise, server.lost.promise, client.lost.promise]),
      'both sides to close',
    );
    expect(clientReason.check(ConnectionDone)).toBe(ConnectionDone);
    expect(serverReason.check(ConnectionDone)).toBe(ConnectionDone);
    expect(lostReason.value).toBe(clientReason.value);
    expect(protocol.events.filter((e) => e === 'lost')).toHaveLength(1);
    expect(connector.state).toBe('disconnected');
    expect(client.events).toEqual(['started', 'build', 'lost']);
    expect([client.starts, client.stops]).toEqual([1, 1]);
  });

  it('works on a reactor that is never run', async () => {
    const idle = new NodeReactor();
    const factory = new ServerFactory(() => new Echo());
    const port = idle.listenTCP(0, factory, { interface: '127.0.0.1' });
    await within(port.ready, 'the port');
    const client = new Client(() => new Peer());
    idle.connectTCP('127.0.0.1', portOf(port), client);
    await until(() => client.protocol !== null, 'the connection');
    client.protocol!.transport!.write(Buffer.from('ping'));
    await until(() => client.protocol!.text() === 'ping', 'the echo');
    const fired = signal<number>();
    idle.callLater(0.01, () => fired.resolve(42));
    expect(await within(fired.promise, 'a timed call')).toBe(42);
    client.protocol!.transport!.loseConnection();
    await within(client.lost.promise, 'the close');
    await within(port.stopListening(), 'stopListening');
    expect(idle.running).toBe(false);
  });

  it('listens on IPv6 with interface "::1" and reports IPv6 addresses', async () => {
    const { factory, number, port } = await listen(() => new Echo(), '::1');
    expect(port.getHost()).toEqual(new IPv6Address('TCP', '::1', number));
    const { protocol } = await connect(number, () => new Peer(), '::1');
    expect(protocol.transport!.getPeer()).toEqual(new IPv6Address('TCP', '::1', number));
    await until(() => factory.built.length === 1, 'the server side');
    expect(factory.built[0]!.transport!.getPeer()).toBeInstanceOf(IPv6Address);
  });

  it('binds every IPv4 interface for interface ""', async () => {
    const factory = new ServerFactory(() => new Echo());
    const port = reactor.listenTCP(0, factory);
    await within(port.ready, 'the port');
    expect(port.getHost()).toEqual(new IPv4Address('TCP', '0.0.0.0', portOf(port)));
  });

  it('delivers data fed one byte at a time, in order', async () => {
    const { number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new Peer());
    protocol.tcp.setTcpNoDelay(true);
    protocol.tcp.setTcpKeepAlive(true, 1);
    const message = 'one byte at a time';
    for (const byte of Buffer.from(message)) protocol.transport!.write(Buffer.of(byte));
    await until(() => protocol.text() === message, 'the echo');
  });
});

// ------------------------------------------------------------------ ports and factories

describe('TCP listening ports', () => {
  it('counts doStart/doStop, fires stopListening once closed, and refuses connections afterwards', async () => {
    const { factory, port, number } = await listen(() => new Echo());
    expect([factory.starts, factory.stops]).toEqual([1, 0]);
    expect(() => port.getHost()).not.toThrow();
    const d1 = port.stopListening();
    const d2 = port.stopListening();
    await within(d1, 'stopListening');
    await within(d2, 'the second stopListening');
    expect([factory.starts, factory.stops]).toEqual([1, 1]);
    const client = new Client(() => new Peer());
    reactor.connectTCP('127.0.0.1', number, client);
    const reason = await within(client.failed.promise, 'the refusal');
    expect(reason.check(ConnectionRefusedError)).toBe(ConnectionRefusedError);
  });

  it('keeps accepted connections open when it stops listening', async () => {
    const { factory, port, number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new Peer());
    await within(port.stopListening(), 'stopListening');
    protocol.transport!.write(Buffer.from('still here'));
    await until(() => protocol.text() === 'still here', 'the echo');
    expect(factory.built[0]!.reason).toBeNull();
  });

  it('fails ready with CannotListenError (and its cause) when the port is taken', async () => {
    const { number } = await listen(() => new Echo());
    const factory = new ServerFactory(() => new Echo());
    const port = reactor.listenTCP(number, factory, { interface: '127.0.0.1' });
    const error = await within(
      port.ready.then(
        () => null,
        (e: unknown) => e,
      ),
      'the failure',
    );
    expect(error).toBeInstanceOf(CannotListenError);
    expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(() => port.getHost()).toThrow();
    expect(factory.starts).toBe(0);
    await within(port.stopListening(), 'stopListening of a failed port');
  });

  it('rejects an invalid port at once', () => {
    const factory = new ServerFactory(() => new Echo());
    for (const bad of [-1, 65536, 1.5, Number.NaN]) {
      expect(() => reactor.listenTCP(bad, factory)).toThrow(RangeError);
      expect(() => reactor.connectTCP('127.0.0.1', bad, new Client(() => new Peer()))).toThrow(RangeError);
    }
  });

  it('closes the connection at once when buildProtocol returns null', async () => {
    const { factory, number } = await listen(() => null);
    const { protocol } = await connect(number, () => new Peer());
    const reason = await within(protocol.lost.promise, 'the close');
    expect(reason.check(ConnectionDone, ConnectionLost)).not.toBeNull();
    expect(protocol.bytes).toBe(0);
    expect(factory.addrs).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ connectors

/** A listener whose accept queue is full (its process is blocked): connecting to it hangs. */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
         process.exit(0);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await within(
    new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())))),
    'the black hole to listen',
  );
  // Fill the accept queue (backlog + 1 connections complete, later SYNs are dropped).
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('TCP connectors and ClientFactory callbacks', () => {
  const cases: Array<{
    name: string;
    error: typeof ConnectError;
    start: (client: Client<Peer>) => Promise<{ connector: IConnector; cleanup?: () => void }>;
  }> = [
    {
      name: 'a refused connection',
      error: ConnectionRefusedError,
      start: async (client) => ({ connector: reactor.connectTCP('127.0.0.1', await closedPort(), client) }),
    },
    {
      name: 'a name that does not resolve',
      error: DNSLookupError,
      start: async (client) => ({ connector: reactor.connectTCP('nonexistent.invalid', 80, client, { timeout: 15 }) }),
    },
    {
      name: 'a connection that takes longer than its timeout',
      error: TCPTimedOutError,
      start: async (client) => {
        const hole = await blackHole();
        return { connector: reactor.connectTCP('127.0.0.1', hole.port, client, { timeout: 0.3 }), cleanup: hole.close };
      },
    },
    {
      name: 'stopConnecting()',
      error: UserError,
      start: async (client) => {
        const hole = await blackHole();
        const connector = reactor.connectTCP('127.0.0.1', hole.port, client);
        expect(connector.state).toBe('connecting');
        connector.stopConnecting();
        return { connector, cleanup: hole.close };
      },
    },
  ];

  for (const c of cases) {
    it(`gives clientConnectionFailed(${c.error.name}) for ${c.name}`, async () => {
      const client = new Client(() => new Peer());
      const { connector, cleanup } = await c.start(client);
      try {
        const reason = await within(client.failed.promise, 'clientConnectionFailed', 10_000);
        expect(reason.value).toBeInstanceOf(c.error);
        expect(client.events).toEqual(['started', 'failed']);
        expect(connector.state).toBe('disconnected');
        expect([client.starts, client.stops]).toEqual([1, 1]);
        expect(() => connector.stopConnecting()).toThrow(NotConnectingError);
      } finally {
        cleanup?.();
      }
    });
  }

  it('fails with NoProtocol when the client factory builds no protocol', async () => {
    const { factory, number } = await listen(() => new Echo());
    const client = new Client<Peer>(() => null);
    reactor.connectTCP('127.0.0.1', number, client);
    const reason = await within(client.failed.promise, 'clientConnectionFailed');
    expect(reason.value).toBeInstanceOf(NoProtocol);
    expect(client.events).toEqual(['started', 'build', 'failed']);
    await until(() => factory.built.length === 1 && factory.built[0]!.reason !== null, 'the server side to close');
  });

  it('retries with the same connector when connect() is called from clientConnectionFailed', async () => {
    const client = new Client(() => new Peer());
    let retries = 0;
    client.onFailed = (connector) => {
      if (retries++ < 2) connector.connect();
    };
    const connector = reactor.connectTCP('127.0.0.1', await closedPort(), client);
    await until(() => client.failures.length === 3, 'three failures');
    expect(client.events).toEqual(['started', 'failed', 'started', 'failed', 'started', 'failed']);
    // One doStart for the whole run of attempts, one doStop when it gives up.
    expect([client.starts, client.stops]).toEqual([1, 1]);
    expect(connector.state).toBe('disconnected');
    expect(() => connector.connect()).not.toThrow();
    expect(() => connector.connect()).toThrow(Error);
    connector.disconnect();
    await until(() => client.failures.length === 4, 'the fourth failure');
    expect(client.failures[3]!.value).toBeInstanceOf(UserError);
  });

  it('reconnects from clientConnectionLost', async () => {
    const { factory, number } = await listen(() => new Echo());
    const client = new Client(() => new Peer());
    let reconnected = false;
    client.clientConnectionLost = (connector: IConnector) => {
      client.events.push('lost');
      if (!reconnected) {
        reconnected = true;
        connector.connect();
      }
    };
    const connector = reactor.connectTCP('127.0.0.1', number, client);
    await until(() => factory.built.length === 1, 'the first connection');
    factory.built[0]!.transport!.loseConnection();
    await until(() => factory.built.length === 2 && connector.state === 'connected', 'the reconnection');
    expect(client.events).toEqual(['started', 'build', 'lost', 'started', 'build']);
    expect(client.starts).toBe(1);
    connector.disconnect();
    await until(() => connector.state === 'disconnected', 'the disconnection');
    expect(client.stops).toBe(1);
  });

  it('binds the local end to bindAddress', async () => {
    const { factory, number } = await listen(() => new Echo());
    const client = new Client(() => new Peer());
    reactor.connectTCP('127.0.0.1', number, client, { bindAddress: { host: '127.0.0.1' } });
    await until(() => factory.built.length === 1, 'the connection');
    expect((factory.built[0]!.transport!.getPeer() as IPv4Address).host).toBe('127.0.0.1');
  });
});

// ------------------------------------------------------------------ the transport

class HalfCloser extends Peer {
  readonly readLost = signal();
  readonly writeLost = signal();
  readConnectionLost(): void {
    this.events.push('readLost');
    this.readLost.resolve();
  }
  writeConnectionLost(): void {
    this.events.push('writeLost');
    this.writeLost.resolve();
  }
}

describe('the TCP transport', () => {
  it('half-closes: readConnectionLost on the peer, writeConnectionLost here, and writing on', async () => {
    const { factory, number } = await listen(() => new HalfCloser());
    const { protocol } = await connect(number, () => new HalfCloser());
    protocol.transport!.write(Buffer.from('request'));
    protocol.tcp.loseWriteConnection();
    protocol.transport!.write(Buffer.from('dropped after the FIN'));
    await within(protocol.writeLost.promise, 'writeConnectionLost');
    const server = await within(factory.first.promise, 'the server protocol');
    await within(server.readLost.promise, 'readConnectionLost');
    expect(server.text()).toBe('request');
    server.transport!.write(Buffer.from('response'));
    server.transport!.loseConnection();
    const reason = await within(protocol.lost.promise, 'the close');
    expect(protocol.text()).toBe('response');
    expect(reason.check(ConnectionDone)).toBe(ConnectionDone);
    // Both directions are closed: the client hears the FIN, then the connection ends.
    expect(protocol.events).toEqual(['made', 'writeLost', 'data', 'readLost', 'lost']);
    expect(server.events).toEqual(['made', 'data', 'readLost', 'lost']);
  });

  it('closes a protocol without half-close support on EOF, after flushing what it wrote', async () => {
    const { factory, number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new HalfCloser());
    protocol.transport!.write(Buffer.from('x'.repeat(100_000)));
    protocol.tcp.loseWriteConnection();
    const server = await within(factory.first.promise, 'the server protocol');
    const reason = await within(server.lost.promise, 'the server to close');
    expect(reason.check(ConnectionDone)).toBe(ConnectionDone);
    await within(protocol.lost.promise, 'the client to close');
    expect(protocol.bytes).toBe(100_000);
  });

  it('aborts: ConnectionLost on both sides', async () => {
    const { factory, number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new Peer());
    protocol.transport!.abortConnection();
    protocol.transport!.write(Buffer.from('dropped'));
    const reason = await within(protocol.lost.promise, 'the abort');
    expect(reason.value).toBeInstanceOf(ConnectionLost);
    const server = await within(factory.first.promise, 'the server protocol');
    const serverReason = await within(server.lost.promise, 'the peer to see the reset');
    expect(serverReason.value).toBeInstanceOf(ConnectionLost);
    expect(((serverReason.value.cause ?? {}) as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('rejects non-bytes and drops writes after the connection is gone', async () => {
    const { number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new Peer());
    const t = protocol.transport!;
    for (const bad of ['text', 42, null, [1, 2]]) {
      expect(() => t.write(bad as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => t.writeSequence([bad as unknown as Uint8Array])).toThrow(TypeError);
    }
    t.loseConnection();
    await within(protocol.lost.promise, 'the close');
    expect(() => t.write(Buffer.from('late'))).not.toThrow();
    expect(t.disconnecting).toBe(true);
  });

  it('drops the connection (ConnectionLost, logged) when dataReceived throws', async () => {
    class Broken extends Peer {
      override dataReceived(): void {
        throw new RangeError('bad input');
      }
    }
    const { factory, number } = await listen(() => new Broken());
    const { protocol } = await connect(number, () => new Peer());
    protocol.transport!.write(Buffer.from('boom'));
    const server = await within(factory.first.promise, 'the server protocol');
    const reason = await within(server.lost.promise, 'the server to drop it');
    expect(reason.value).toBeInstanceOf(ConnectionLost);
    expect(reason.value.cause).toBeInstanceOf(RangeError);
    await within(protocol.lost.promise, 'the client to see it');
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ producers and flow control

/** A streaming producer writing 64 KiB chunks synchronously until paused or done. */
class Streamer implements IPushProducer {
  paused = false;
  stopped = false;
  pauses = 0;
  resumes = 0;
  sent = 0;
  private readonly chunk = Buffer.alloc(64 * 1024, 0x61);
  constructor(
    private readonly transport: ITransport,
    private readonly limit: number,
  ) {}
  start(): void {
    this.transport.registerProducer(this, true);
    this.pump();
  }
  pauseProducing(): void {
    this.paused = true;
    this.pauses++;
  }
  resumeProducing(): void {
    this.paused = false;
    this.resumes++;
    this.pump();
  }
  stopProducing(): void {
    this.stopped = true;
  }
  private pump(): void {
    while (!this.paused && !this.stopped && this.sent < this.limit) {
      this.sent += this.chunk.length;
      this.transport.write(this.chunk);
    }
    if (this.sent >= this.limit && !this.stopped) {
      this.stopped = true;
      this.transport.unregisterProducer();
      this.transport.loseConnection();
    }
  }
}

describe('producers and flow control', () => {
  it('pauses a streaming producer while the peer does not read, and resumes it when it does', async () => {
    const limit = 16 * 1024 * 1024;
    let streamer: Streamer | null = null;
    class Source extends Peer {
      override connectionMade(): void {
        super.connectionMade();
        streamer = new Streamer(this.transport!, limit);
        streamer.start();
      }
    }
    const { number } = await listen(() => new Source());
    const client = new Client(() => {
      const p = new Peer();
      p.connectionMade = function (this: Peer) {
        // Do not read: the server's buffers fill up.
        this.transport!.pauseProducing();
        Peer.prototype.connectionMade.call(this);
      };
      return p;
    });
    reactor.connectTCP('127.0.0.1', number, client);
    await until(() => streamer !== null && streamer.paused, 'the producer to be paused');
    // Paused for good once the kernel buffers are full too: stable for 300 ms.
    let stableSince = Date.now();
    let last = -1;
    await until(
      () => {
        if (streamer!.sent !== last || !streamer!.paused) {
          last = streamer!.sent;
          stableSince = Date.now();
        }
        return Date.now() - stableSince > 300;
      },
      'the producer to stay paused',
      10_000,
    );
    const s = streamer!;
    expect(s.paused).toBe(true);
    expect(s.sent).toBeLessThan(limit);
    expect(client.protocol!.bytes).toBe(0);
    const resumesBefore = s.resumes;
    client.protocol!.transport!.resumeProducing();
    await within(client.protocol!.lost.promise, 'the whole stream', 10_000);
    expect(s.resumes).toBeGreaterThan(resumesBefore);
    expect(client.protocol!.bytes).toBe(limit);
    expect(client.protocol!.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('asks a pull producer for one chunk at a time until it unregisters', async () => {
    const chunks = 200;
    class Puller extends Peer {
      calls = 0;
      override connectionMade(): void {
        super.connectionMade();
        const t = this.transport!;
        t.registerProducer(
          {
            resumeProducing: () => {
              this.calls++;
              t.write(Buffer.alloc(1000, this.calls % 256));
              if (this.calls === chunks) {
                t.unregisterProducer();
                t.loseConnection();
              }
            },
            stopProducing: () => {},
          },
          false,
        );
      }
    }
    const { factory, number } = await listen(() => new Puller());
    const { protocol } = await connect(number, () => new Peer());
    await within(protocol.lost.promise, 'the end of the stream');
    expect(factory.built[0]!.calls).toBe(chunks);
    expect(protocol.bytes).toBe(chunks * 1000);
  });

  it('waits for the producer to be unregistered before loseConnection closes', async () => {
    const { factory, number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new Peer());
    const server = await within(factory.first.promise, 'the server protocol');
    const producer = { pauseProducing() {}, resumeProducing() {}, stopProducing() {} };
    server.transport!.registerProducer(producer, true);
    expect(() => server.transport!.registerProducer(producer, true)).toThrow(Error);
    server.transport!.loseConnection();
    server.transport!.write(Buffer.from('written while closing'));
    await new Promise((r) => setTimeout(r, 100));
    expect(server.reason).toBeNull();
    expect(protocol.reason).toBeNull();
    server.transport!.unregisterProducer();
    await within(protocol.lost.promise, 'the close');
    expect(protocol.text()).toBe('written while closing');
  });

  it('stops a producer registered on a closed transport, and one left registered when the connection is lost', async () => {
    const { factory, number } = await listen(() => new Echo());
    const { protocol } = await connect(number, () => new Peer());
    const server = await within(factory.first.promise, 'the server protocol');
    const stops: string[] = [];
    server.transport!.registerProducer(
      { pauseProducing() {}, resumeProducing() {}, stopProducing: () => stops.push('registered') },
      true,
    );
    protocol.transport!.abortConnection();
    await within(server.lost.promise, 'the server side to close');
    expect(stops).toEqual(['registered']);
    server.transport!.registerProducer(
      { pauseProducing() {}, resumeProducing() {}, stopProducing: () => stops.push('late') },
      true,
    );
    expect(stops).toEqual(['registered', 'late']);
  });

  it('echoes 64 MiB byte-exact (SHA-256)', async () => {
    const total = 64 * 1024 * 1024;
    const { number } = await listen(() => new Echo());
    const received = createHash('sha256');
    const sent = createHash('sha256');
    let got = 0;
    const done = signal();
    class Sink extends Peer {
      override dataReceived(data: Uint8Array): void {
        received.update(data);
        got += data.byteLength;
        if (got === total) done.resolve();
      }
    }
    const { protocol } = await connect(number, () => new Sink());
    // Generate as a streaming producer, so the client's own buffers stay bounded.
    let offset = 0;
    let paused = false;
    const t = protocol.transport!;
    const pump = (): void => {
      while (!paused && offset < total) {
        const chunk = Buffer.alloc(256 * 1024);
        for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((offset + i) * 2654435761 >>> 0, i);
        offset += chunk.length;
        sent.update(chunk);
        t.write(chunk);
      }
      if (offset >= total) t.unregisterProducer();
    };
    t.registerProducer(
      {
        pauseProducing: () => {
          paused = true;
        },
        resumeProducing: () => {
          paused = false;
          pump();
        },
        stopProducing: () => {},
      },
      true,
    );
    pump();
    await within(done.promise, 'all 64 MiB back', 15_000);
    expect(got).toBe(total);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
  }, 30_000);
});

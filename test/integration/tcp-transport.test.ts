/**
 * The stream transport on real sockets (127.0.0.1 only), for what it gained in the performance
 * work: `writeString` (the socket encodes the string itself), the lingering close (after our
 * FIN, read and drop until the peer's FIN, within LINGER_TIMEOUT), and the slimmer per-connection
 * state (shared socket listeners, one tracked group of connections per reactor, a port's shared
 * local address) — each checked against what a protocol can observe.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import { IPv4Address, IPv6Address, type Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import type {
  IClientFactory,
  IListeningPort,
  IProtocol,
  ITCPTransport,
  ITransport,
} from '../../src/reactor/interfaces.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { LINGER_TIMEOUT } from '../../src/reactor/tcp.js';
import { until, within } from './helpers.js';

// ------------------------------------------------------------------ helpers

function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A protocol that records what happens to it; `onMade` runs in connectionMade. */
class Peer implements IProtocol {
  transport: ITransport | null = null;
  chunks: Buffer[] = [];
  reason: Failure | null = null;
  lostAt = 0;
  readonly made = signal();
  readonly lost = signal<Failure>();
  constructor(private readonly onMade: (p: Peer) => void = () => {}) {}
  get tcp(): ITCPTransport {
    return this.transport as ITCPTransport;
  }
  connectionMade(): void {
    this.made.resolve();
    this.onMade(this);
  }
  dataReceived(data: Uint8Array): void {
    this.chunks.push(Buffer.from(data));
  }
  connectionLost(reason: Failure): void {
    this.reason = reason;
    this.lostAt = Date.now();
    this.lost.resolve(reason);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

let reactor: NodeReactor;
let stopped: PromiseLike<void>;
const sockets: net.Socket[] = [];

beforeEach(() => {
  reactor = new NodeReactor();
  stopped = reactor.run();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (reactor.running) reactor.stop();
  await within(stopped, 'the reactor to stop');
});

async function listen(make: () => Peer, iface = '127.0.0.1') {
  const built: Peer[] = [];
  const port = reactor.listenTCP(
    0,
    {
      buildProtocol: () => {
        const p = make();
        built.push(p);
        return p;
      },
    },
    { interface: iface },
  );
  await within(port.ready, 'the port to listen');
  return { port, built, number: (port.getHost() as IPv4Address).port };
}

/** A raw Node client that collects what it reads. */
function rawClient(port: number, options: { allowHalfOpen?: boolean; host?: string } = {}) {
  const socket = net.connect({ port, host: options.host ?? '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
  sockets.push(socket);
  const chunks: Buffer[] = [];
  const state = { ended: false, error: null as NodeJS.ErrnoException | null };
  const closed = signal();
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => (state.ended = true));
  socket.on('error', (e: NodeJS.ErrnoException) => (state.error = e));
  socket.on('close', () => closed.resolve());
  return { socket, state, closed: closed.promise, bytes: () => Buffer.concat(chunks) };
}

async function connectPeer(number: number, make: () => Peer, host = '127.0.0.1'): Promise<Peer> {
  let protocol: Peer | null = null;
  const failed = signal<Failure>();
  const factory: IClientFactory = {
    buildProtocol: () => (protocol = make()),
    clientConnectionFailed: (_c, reason) => failed.resolve(reason),
  };
  reactor.connectTCP(host, number, factory, { timeout: 5 });
  await within(
    Promise.race([
      until(() => protocol !== null, 'the connection'),
      failed.promise.then((f) => Promise.reject(f.value)),
    ]),
    'the connection',
  );
  await within(protocol!.made.promise, 'connectionMade');
  return protocol!;
}

/** Every ordering of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

// ------------------------------------------------------------------ writeString

const LATIN1 = 'caf\u00e9 \u00ff\u0080\u00a0 na\u00efve \u0100'; // >= 0x80, and one latin1 cannot hold
const UTF8 = 'h\u00e9llo \u20ac \u4e2d\u6587 \u{1f600} \ud800!'; // 2-, 3-, 4-byte sequences, a lone surrogate

type Step = { name: string; run: (t: ITransport) => void; bytes: Buffer };

const steps: Step[] = [
  { name: 'write', run: (t) => t.write(Buffer.from([0x00, 0xff, 0x80])), bytes: Buffer.from([0x00, 0xff, 0x80]) },
  { name: 'latin1', run: (t) => t.writeString!(LATIN1, 'latin1'), bytes: Buffer.from(LATIN1, 'latin1') },
  { name: 'utf8', run: (t) => t.writeString!(UTF8, 'utf8'), bytes: Buffer.from(UTF8, 'utf8') },
  {
    name: 'writeSequence',
    run: (t) => t.writeSequence([Buffer.from('seq:'), Buffer.from('\u00e9', 'utf8')]),
    bytes: Buffer.from('seq:\u00e9', 'utf8'),
  },
];

describe('writeString on a socket', () => {
  it('sends the bytes of Buffer.from(data, encoding), in order with write and writeSequence, in every order', async () => {
    const orders = permutations(steps);
    const { number } = await listen(
      () =>
        new Peer((p) => {
          const t = p.transport!;
          for (const order of orders) for (const step of order) step.run(t);
          t.loseConnection();
        }),
    );
    const client = rawClient(number);
    await within(client.closed, 'the server to send everything and close');
    const expected = Buffer.concat(orders.flatMap((order) => order.map((s) => s.bytes)));
    expect(client.bytes().equals(expected)).toBe(true);
    expect(client.state.error).toBeNull();
  });

  it('pauses a streaming producer when strings fill the buffer, resumes it, and delivers every byte', async () => {
    // Strings until the kernel's buffers and ours are full (the peer does not read yet):
    // 'é' is two bytes in UTF-8, one in latin1.
    const total = 32 * 1024 * 1024;
    const pieces = ['\u00e9'.repeat(64 * 1024), '\u00e9\u00ff\u0100'.repeat(40 * 1024)];
    const sentHash = createHash('sha256');
    let sent = 0;
    let pauses = 0;
    let resumes = 0;
    let paused = false;
    const { built, number } = await listen(
      () =>
        new Peer((p) => {
          const t = p.transport!;
          let i = 0;
          const pump = (): void => {
            while (!paused && sent < total) {
              const encoding = i % 2 === 0 ? 'utf8' : 'latin1';
              const piece = pieces[i++ % 2]!;
              const bytes = Buffer.from(piece, encoding);
              sentHash.update(bytes);
              sent += bytes.length;
              t.writeString!(piece, encoding);
            }
            if (sent >= total) {
              t.unregisterProducer();
              t.loseConnection();
            }
          };
          t.registerProducer(
            {
              pauseProducing: () => {
                paused = true;
                pauses++;
              },
              resumeProducing: () => {
                paused = false;
                resumes++;
                pump();
              },
              stopProducing: () => {},
            },
            true,
          );
          pump();
        }),
    );
    const client = rawClient(number);
    client.socket.pause();
    await until(() => built.length === 1 && pauses > 0, 'the producer to be paused');
    expect(sent).toBeLessThan(total);
    client.socket.resume();
    await within(client.closed, 'the whole stream', 15_000);
    expect(resumes).toBeGreaterThan(0);
    expect(client.bytes().length).toBe(sent);
    expect(createHash('sha256').update(client.bytes()).digest('hex')).toBe(sentHash.digest('hex'));
  }, 30_000);

  it('asks a pull producer that writes strings for its next chunk', async () => {
    const chunks = 50;
    let calls = 0;
    const { number } = await listen(
      () =>
        new Peer((p) => {
          const t = p.transport!;
          t.registerProducer(
            {
              resumeProducing: () => {
                calls++;
                t.writeString!(`${calls % 10}\u00e9`.repeat(500), calls % 2 === 0 ? 'utf8' : 'latin1');
                if (calls === chunks) {
                  t.unregisterProducer();
                  t.loseConnection();
                }
              },
              stopProducing: () => {},
            },
            false,
          );
        }),
    );
    const client = rawClient(number);
    await within(client.closed, 'the end of the stream');
    expect(calls).toBe(chunks);
    let expected = 0;
    for (let i = 1; i <= chunks; i++) expected += 500 * (i % 2 === 0 ? 3 : 2);
    expect(client.bytes().length).toBe(expected);
  });

  it('refuses a non-string or another encoding (TypeError), ignores an empty string, drops writes once closed for writing', async () => {
    const { built, number } = await listen(() => new Peer());
    const client = rawClient(number, { allowHalfOpen: true });
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    await within(server.made.promise, 'connectionMade');
    const t = server.transport!;
    for (const bad of [Buffer.from('x'), 42, null, undefined]) {
      expect(() => t.writeString!(bad as unknown as string, 'utf8')).toThrow(TypeError);
    }
    for (const bad of ['hex', 'ascii', 'utf-8', 'binary', undefined]) {
      expect(() => t.writeString!('x', bad as unknown as 'utf8')).toThrow(TypeError);
    }
    t.writeString!('', 'utf8');
    t.writeString!('before the FIN', 'latin1');
    server.tcp.loseWriteConnection();
    t.writeString!('after the FIN', 'utf8');
    // Still validated once closed for writing.
    expect(() => t.writeString!(7 as unknown as string, 'utf8')).toThrow(TypeError);
    await until(() => client.state.ended, "the server's FIN");
    expect(client.bytes().toString('latin1')).toBe('before the FIN');
    client.socket.end();
    await within(server.lost.promise, 'the close');
    t.writeString!('after the close', 'utf8');
    expect(server.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });
});

// ------------------------------------------------------------------ lingering close

/** A server protocol that answers `size` bytes and closes at once, counting what it reads afterwards. */
function responder(size: number) {
  return () =>
    new Peer((p) => {
      p.transport!.write(Buffer.alloc(size, 0x61));
      p.transport!.loseConnection();
    });
}

describe('the lingering close', () => {
  it('delivers the whole response to a peer that keeps sending after our FIN and reads only later', async () => {
    // Closing at once would make our kernel answer the peer's next bytes with an RST, which
    // destroys the response the peer has not read yet (before the lingering close, the client
    // got ECONNRESET and 0 of these bytes).
    const size = 256 * 1024;
    const { built, number } = await listen(responder(size));
    const client = rawClient(number);
    client.socket.pause();
    for (let i = 0; i < 30; i++) {
      if (client.socket.destroyed) break;
      client.socket.write(Buffer.alloc(1000, 0x62)); // a pipelined request, an unread body...
      await sleep(10);
    }
    client.socket.resume();
    await within(client.closed, 'the response and the close');
    expect(client.state.error).toBeNull();
    expect(client.bytes().length).toBe(size);
    const server = built[0]!;
    const reason = await within(server.lost.promise, 'connectionLost on the server');
    expect(reason.check(ConnectionDone)).toBe(ConnectionDone);
    // Nothing read after loseConnection reaches the protocol.
    expect(server.chunks).toHaveLength(0);
  });

  it("ends as soon as the peer's FIN arrives", async () => {
    const { built, number } = await listen(responder(10));
    const client = await connectPeer(number, () => new Peer());
    await within(client.lost.promise, 'the client to close');
    const server = built[0]!;
    await within(server.lost.promise, 'the server to close', 1000);
    expect(server.reason!.check(ConnectionDone)).toBe(ConnectionDone);
    expect(client.bytes().length).toBe(10);
  });

  it('cuts a peer that keeps sending and never closes after LINGER_TIMEOUT, with ConnectionDone', async () => {
    const { built, number } = await listen(responder(1000));
    const client = rawClient(number, { allowHalfOpen: true });
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    await until(() => client.state.ended, "the server's FIN");
    const finAt = Date.now();
    const sender = setInterval(() => {
      if (!client.socket.destroyed && client.socket.writable) client.socket.write('more');
    }, 20);
    try {
      const reason = await within(server.lost.promise, 'the bound to expire', LINGER_TIMEOUT * 1000 + 3000);
      const waited = Date.now() - finAt;
      expect(reason.check(ConnectionDone)).toBe(ConnectionDone);
      expect(waited).toBeGreaterThanOrEqual(LINGER_TIMEOUT * 1000 - 100);
      expect(waited).toBeLessThan(LINGER_TIMEOUT * 1000 + 2000);
    } finally {
      clearInterval(sender);
    }
    expect(client.bytes().length).toBe(1000);
    expect(server.chunks).toHaveLength(0);
  });

  it('reads on while lingering even when the protocol paused reading', async () => {
    const { built, number } = await listen(
      () =>
        new Peer((p) => {
          p.transport!.pauseProducing();
          p.transport!.write(Buffer.from('bye'));
          p.transport!.loseConnection();
          p.transport!.pauseProducing();
        }),
    );
    const client = rawClient(number, { allowHalfOpen: true });
    client.socket.write(Buffer.alloc(200_000, 0x62));
    await until(() => client.state.ended, "the server's FIN");
    client.socket.end();
    await within(built[0]!.lost.promise, 'the close, well before the bound', 1500);
    expect(client.bytes().toString()).toBe('bye');
    expect(client.state.error).toBeNull();
  });

  it('closes a lingering connection at once when the reactor stops (ConnectionDone: its close was complete)', async () => {
    const { built, number } = await listen(responder(100));
    const client = rawClient(number, { allowHalfOpen: true });
    await until(() => client.state.ended, "the server's FIN");
    const server = built[0]!;
    expect(server.reason).toBeNull();
    const stopAt = Date.now();
    reactor.stop();
    await within(stopped, 'the reactor to stop', 1000);
    expect(Date.now() - stopAt).toBeLessThan(1000);
    expect(server.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('aborts a lingering connection at once (ConnectionLost)', async () => {
    const { built, number } = await listen(responder(100));
    const client = rawClient(number, { allowHalfOpen: true });
    await until(() => client.state.ended, "the server's FIN");
    const server = built[0]!;
    server.transport!.abortConnection();
    const reason = await within(server.lost.promise, 'the abort', 1000);
    expect(reason.value).toBeInstanceOf(ConnectionLost);
  });

  it('lingers after a half-close too, and the peer still gets everything', async () => {
    const { built, number } = await listen(
      () =>
        new Peer((p) => {
          p.transport!.write(Buffer.alloc(50_000, 0x63));
          p.tcp.loseWriteConnection();
        }),
    );
    const client = rawClient(number, { allowHalfOpen: true });
    await until(() => client.state.ended, "the server's FIN");
    const server = built[0]!;
    server.transport!.loseConnection();
    // The peer writes after our close: no RST, it reads everything, then closes.
    client.socket.write('late');
    await sleep(50);
    expect(server.reason).toBeNull();
    client.socket.end();
    await within(server.lost.promise, 'the close', 1500);
    expect(client.bytes().length).toBe(50_000);
    expect(client.state.error).toBeNull();
  });
});

// ------------------------------------------------------------------ per-connection state

describe('per-connection state', () => {
  async function addressesAfterClose(iface: string, host: string) {
    const { built, number } = await listen(() => new Peer(), iface);
    const client = await connectPeer(number, () => new Peer(), host);
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    client.transport!.loseConnection();
    await within(Promise.all([client.lost.promise, server.lost.promise]), 'both sides to close');
    return { server: server.transport!, client: client.transport!, number };
  }

  it('reports the addresses after the connection is lost, on a port bound to one address', async () => {
    const { server, client, number } = await addressesAfterClose('127.0.0.1', '127.0.0.1');
    expect(server.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', number));
    expect(server.getPeer()).toEqual(client.getHost());
    expect(client.getPeer()).toEqual(new IPv4Address('TCP', '127.0.0.1', number));
  });

  it('reports the real local address (not the wildcard) on a port bound to every interface', async () => {
    const v4 = await addressesAfterClose('', '127.0.0.1');
    expect(v4.server.getHost()).toEqual(new IPv4Address('TCP', '127.0.0.1', v4.number));
    expect(v4.server.getPeer()).toEqual(v4.client.getHost());
    const v6 = await addressesAfterClose('::', '::1');
    expect(v6.server.getHost()).toEqual(new IPv6Address('TCP', '::1', v6.number));
    expect(v6.server.getPeer()).toEqual(v6.client.getHost());
  });

  it("shares the port's address object between its connections (it is immutable)", async () => {
    const { port, built, number } = await listen(() => new Peer());
    await connectPeer(number, () => new Peer());
    await connectPeer(number, () => new Peer());
    await until(() => built.length === 2, 'both server protocols');
    const hosts: Address[] = built.map((p) => p.transport!.getHost());
    expect(hosts[0]).toBe(hosts[1]);
    expect(hosts[0]).toBe((port as IListeningPort).getHost());
  });

  it('closes every connection, both sides, when the reactor stops, and no more', async () => {
    const { built, number } = await listen(() => new Peer());
    const clients: Peer[] = [];
    for (let i = 0; i < 20; i++) clients.push(await connectPeer(number, () => new Peer()));
    await until(() => built.length === 20, 'the server protocols');
    // One closes by itself first: it leaves the reactor's connections.
    clients[0]!.transport!.abortConnection();
    await within(Promise.all([clients[0]!.lost.promise, built[0]!.lost.promise]), 'the first pair to close');
    reactor.stop();
    await within(stopped, 'the reactor to stop');
    for (const p of [...clients.slice(1), ...built.slice(1)]) {
      expect(p.reason!.value).toBeInstanceOf(ConnectionLost);
      expect(p.reason!.value.message).toMatch(/reactor stopped/);
    }
    // A second reactor starts with no connections of the first.
    const other = new NodeReactor();
    const otherStopped = other.run();
    other.stop();
    await within(otherStopped, 'the second reactor to stop');
  });

  it('flows a producer registered after a connection has been idle (the drain listener is added then)', async () => {
    const total = 32 * 1024 * 1024;
    const { built, number } = await listen(() => new Peer());
    const client = rawClient(number);
    client.socket.pause();
    await until(() => built.length === 1, 'the server protocol');
    await sleep(20);
    const t = built[0]!.transport!;
    let sent = 0;
    let paused = false;
    let pauses = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x64);
    const pump = (): void => {
      while (!paused && sent < total) {
        sent += chunk.length;
        t.write(chunk);
      }
      if (sent >= total) {
        t.unregisterProducer();
        t.loseConnection();
      }
    };
    t.registerProducer(
      {
        pauseProducing: () => {
          paused = true;
          pauses++;
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
    await until(() => pauses > 0, 'the producer to be paused');
    expect(sent).toBeLessThan(total);
    client.socket.resume();
    await within(client.closed, 'the whole stream', 15_000);
    expect(client.bytes().length).toBe(total);
  }, 30_000);
});

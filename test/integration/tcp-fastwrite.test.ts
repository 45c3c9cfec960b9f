/**
 * Direct writes of stream transports (src/reactor/fastWrite.ts): on plain TCP and UNIX sockets a
 * write goes straight to the socket's handle when the socket has nothing queued, and through
 * `socket.write` otherwise. Every test runs on both paths — direct writes, and the stream path
 * they fall back to (switched with `setFastWrites`) — and checks what a protocol and its peer can
 * observe: bytes in write order whichever way each write went (also behind a write the kernel
 * could not take whole, and before the FIN of `loseConnection`), producers paused and resumed,
 * and a failed write failing the connection.
 */
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import type { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import { setFastWrites } from '../../src/reactor/fastWrite.js';
import type { IListeningPort, IProtocol, IPullProducer, IPushProducer, ITransport } from '../../src/reactor/interfaces.js';
import { pattern, reactorPerTest, until, within } from './helpers.js';

/** A server protocol whose `connectionMade` does `onMade`. */
class Writer implements IProtocol {
  transport: ITransport | null = null;
  reason: Failure | null = null;
  constructor(private readonly onMade: (t: ITransport) => void = () => {}) {}
  connectionMade(): void {
    this.onMade(this.transport!);
  }
  connectionLost(reason: Failure): void {
    this.reason = reason;
  }
}

/** The Node socket under a transport (a private field). */
function socketOf(t: ITransport): net.Socket {
  return (t as unknown as { socket: net.Socket }).socket;
}

/** A raw client that collects what it reads (paused until `resume()`), and whether EOF came. */
function collector(socket: net.Socket): { chunks: Buffer[]; ended: boolean; bytes(): Buffer; length(): number } {
  const c = {
    chunks: [] as Buffer[],
    ended: false,
    bytes: () => Buffer.concat(c.chunks),
    length: () => c.chunks.reduce((n, b) => n + b.length, 0),
  };
  socket.on('data', (d: Buffer) => c.chunks.push(d));
  socket.on('end', () => (c.ended = true));
  return c;
}

describe.each([
  { path: 'direct writes', direct: true },
  { path: 'the stream path (the fallback)', direct: false },
])('$path', ({ direct }) => {
  const env = reactorPerTest(setFastWrites, direct, 'spindle-fastwrite-');

  /** Listen (TCP or UNIX) with `make`, connect a paused raw client; resolves once the server protocol has its transport. */
  async function pair(make: () => Writer, where: 'tcp' | 'unix' = 'tcp') {
    const built: Writer[] = [];
    const factory = { buildProtocol: () => built[built.push(make()) - 1]! };
    const port: IListeningPort =
      where === 'tcp' ? env.reactor.listenTCP(0, factory, { interface: '127.0.0.1' }) : env.reactor.listenUNIX(join(env.tmp, 's.sock'), factory);
    await within(port.ready, 'the port');
    const raw = where === 'tcp' ? net.connect({ port: (port.getHost() as IPv4Address).port, host: '127.0.0.1' }) : net.connect({ path: join(env.tmp, 's.sock') });
    raw.on('error', () => {});
    raw.pause();
    env.rawSockets.push(raw);
    await until(() => built.length === 1 && built[0]!.transport !== null, 'the server protocol');
    return { server: built[0]!, raw, port };
  }

  it(`writes ${direct ? 'without' : 'through'} socket.write when nothing is queued`, async () => {
    let calls = 0;
    const { server, raw } = await pair(() => new Writer());
    const socket = socketOf(server.transport!);
    const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
    socket.write = ((...a: unknown[]) => {
      calls++;
      return write(...a);
    }) as typeof socket.write;
    const got = collector(raw);
    raw.resume();
    server.transport!.write(Buffer.from('bytes,'));
    server.transport!.writeString!('latin1 ÿ,', 'latin1');
    server.transport!.writeString!('utf8 €,', 'utf8');
    server.transport!.writeSequence([Buffer.from('seq'), Buffer.from('uence')]);
    await until(() => got.length() === Buffer.byteLength('bytes,latin1 ÿ,utf8 €,sequence') - 1, 'the bytes');
    expect(got.bytes()).toEqual(Buffer.concat([Buffer.from('bytes,'), Buffer.from('latin1 ÿ,', 'latin1'), Buffer.from('utf8 €,sequence')]));
    expect(calls).toBe(direct ? 0 : 5); // writeSequence: one write per buffer, corked
  });

  for (const where of ['tcp', 'unix'] as const) {
    it(`keeps write order behind a write the kernel cannot take whole, then sends FIN after everything (${where})`, async () => {
      const big = pattern(16 * 1024 * 1024, 1);
      const expected: Buffer[] = [];
      const { server, raw } = await pair(
        () =>
          new Writer((t) => {
            // The peer is not reading: this write cannot complete at once (more than loopback buffers hold).
            t.write(big);
            expected.push(big);
            for (let i = 0; i < 50; i++) {
              const b = pattern(1 + ((i * 977) % 5000), i + 2);
              if (i % 3 === 0) t.write(b);
              else if (i % 3 === 1) t.writeString!(b.toString('latin1'), 'latin1');
              else t.writeSequence([b.subarray(0, 7), b.subarray(7)]);
              expected.push(b);
            }
            t.loseConnection();
          }),
        where,
      );
      const got = collector(raw);
      await new Promise((r) => setTimeout(r, 50));
      raw.resume();
      const total = expected.reduce((n, b) => n + b.length, 0);
      await until(() => got.ended, 'EOF after everything', 15_000);
      expect(got.length()).toBe(total);
      expect(got.bytes().equals(Buffer.concat(expected))).toBe(true);
      await until(() => server.reason !== null, 'the server side to close');
      expect(server.reason!.check(ConnectionDone)).not.toBeNull();
    }, 30_000);
  }

  it('pauses a streaming producer while a big write waits for the peer, and resumes it once written', async () => {
    const events: string[] = [];
    const producer: IPushProducer = {
      pauseProducing: () => events.push('pause'),
      resumeProducing: () => events.push('resume'),
      stopProducing: () => events.push('stop'),
    };
    const big = pattern(16 * 1024 * 1024, 7);
    const { server, raw } = await pair(
      () =>
        new Writer((t) => {
          t.registerProducer(producer, true);
          t.write(big);
        }),
    );
    expect(events).toEqual(['pause']);
    const got = collector(raw);
    raw.resume();
    await until(() => events.includes('resume'), 'resumeProducing', 10_000);
    expect(events).toEqual(['pause', 'resume']);
    await until(() => got.length() === big.length, 'the bytes', 10_000);
    expect(got.bytes().equals(big)).toBe(true);
    server.transport!.unregisterProducer();
  }, 20_000);

  it('asks a pull producer again once a big write is written', async () => {
    const chunks = [pattern(16 * 1024 * 1024, 3), pattern(1000, 4), pattern(3000, 5)];
    let asked = 0;
    let transport: ITransport | null = null;
    const producer: IPullProducer = {
      resumeProducing: () => {
        const c = chunks[asked++];
        if (c !== undefined) transport!.write(c);
        else transport!.unregisterProducer();
      },
      stopProducing: () => {},
    };
    const { raw } = await pair(
      () =>
        new Writer((t) => {
          transport = t;
          t.registerProducer(producer, false);
        }),
    );
    await new Promise((r) => setTimeout(r, 50));
    // The first chunk is waiting for the peer: the producer was not asked again meanwhile.
    expect(asked).toBe(1);
    const got = collector(raw);
    raw.resume();
    await until(() => asked === 4, 'every chunk and the end', 10_000);
    await until(() => got.length() === 16 * 1024 * 1024 + 4000, 'the bytes', 10_000);
    expect(got.bytes().equals(Buffer.concat(chunks))).toBe(true);
  }, 20_000);

  it('fails the connection with ConnectionLost when writes hit a connection the peer reset', async () => {
    const { server, raw } = await pair(() => new Writer());
    raw.resetAndDestroy();
    const chunk = Buffer.alloc(1000, 1);
    await until(
      () => {
        if (server.reason === null) {
          server.transport!.write(chunk);
          server.transport!.writeString!('more', 'latin1');
        }
        return server.reason !== null;
      },
      'connectionLost',
      5_000,
    );
    expect(server.reason!.check(ConnectionLost)).not.toBeNull();
  });
});

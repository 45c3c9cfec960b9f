/**
 * The fast read path of stream transports (src/reactor/fastRead.ts): plain TCP and UNIX sockets
 * read through Node's `onread` into one buffer shared by every socket, and the protocol gets an
 * owned copy of each read. Every test runs on both paths — the fast one, and the stream path it
 * falls back to (switched with `setFastReads`) — and checks what a protocol can observe: bytes
 * it kept stay intact after later reads on any socket, split and coalesced input, pausing (also
 * from `connectionMade`, before anything was read), half-close, a reset, an exception, STARTTLS.
 * (tcp-stream-path.test.ts runs the other socket suites on the stream path.)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import type { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import type {
  IClientFactory,
  IListeningPort,
  IProtocol,
  ITLSTransport,
  ITransport,
} from '../../src/reactor/interfaces.js';
import { READ_BUFFER_SIZE, kReadBorrowed, setFastReads } from '../../src/reactor/fastRead.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { hasOpenSSL, pattern, reactorPerTest, until, within } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * A protocol that keeps every chunk it was given, as given (no copy), with a digest taken on
 * arrival: `intact()` fails if any later read overwrote a chunk it kept.
 */
class Keeper implements IProtocol {
  transport: ITransport | null = null;
  chunks: Uint8Array[] = [];
  digests: string[] = [];
  received = 0;
  reason: Failure | null = null;
  readLost = false;
  /** What connectionMade does (after recording). */
  onMade: (p: Keeper) => void = () => {};
  /** What dataReceived does after keeping the chunk. */
  onData: (p: Keeper, data: Uint8Array) => void = () => {};
  connectionMade(): void {
    this.onMade(this);
  }
  dataReceived(data: Uint8Array): void {
    this.chunks.push(data);
    this.digests.push(digest(data));
    this.received += data.byteLength;
    this.onData(this, data);
  }
  connectionLost(reason: Failure): void {
    this.reason = reason;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  /** Every chunk still holds what it held when it arrived. */
  intact(): boolean {
    return this.chunks.every((c, i) => digest(c) === this.digests[i]);
  }
}

/** A Keeper that also echoes every chunk back (writing the very buffer it was given). */
function echoKeeper(): Keeper {
  const p = new Keeper();
  p.onData = (self, data) => self.transport!.write(data);
  return p;
}

/** A Keeper that handles half-close: `readConnectionLost` is recorded. */
class HalfCloseKeeper extends Keeper {
  readConnectionLost(): void {
    this.readLost = true;
    this.transport!.write(Buffer.from(`got ${this.received}`));
    this.transport!.loseConnection();
  }
}

function serverFactory<P extends IProtocol>(make: () => P) {
  const built: P[] = [];
  return {
    built,
    buildProtocol: () => {
      const p = make();
      built.push(p);
      return p;
    },
  };
}

/** The Node socket under a transport (a private field), to see which read path it is on. */
function socketOf(t: ITransport): net.Socket {
  return (t as unknown as { socket: net.Socket }).socket;
}

/** Whether `socket` reads through `onread` (Node keeps the buffer under its `kBuffer` symbol). */
function readsIntoBuffer(socket: net.Socket): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kBuffer');
  return key !== undefined && Buffer.isBuffer((socket as unknown as Record<symbol, unknown>)[key]);
}

const opensslPresent = hasOpenSSL();
const certDir = opensslPresent ? mkdtempSync(join(tmpdir(), 'spindle-fastread-')) : '';
let key = '';
let cert = '';
if (opensslPresent) {
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  key = readFileSync(join(certDir, 'key.pem'), 'utf8');
  cert = readFileSync(join(certDir, 'cert.pem'), 'utf8');
}


afterAll(() => {
  if (certDir !== '') rmSync(certDir, { recursive: true, force: true });
});

describe.each([
  { path: 'the fast read path (onread)', fast: true },
  { path: 'the stream path (the fallback)', fast: false },
])('$path', ({ fast }) => {
  const env = reactorPerTest(setFastReads, fast, 'spindle-fastread-');

  async function listen<P extends IProtocol>(make: () => P, where: 'tcp' | 'unix' = 'tcp') {
    const factory = serverFactory(make);
    const port: IListeningPort =
      where === 'tcp'
        ? env.reactor.listenTCP(0, factory, { interface: '127.0.0.1' })
        : env.reactor.listenUNIX(join(env.tmp, 's.sock'), factory);
    await within(port.ready, 'the port');
    return { built: factory.built, port };
  }

  /** Connect a Keeper through the reactor (a client transport) to `port`. */
  async function connect(port: IListeningPort, p: Keeper, where: 'tcp' | 'unix' = 'tcp'): Promise<Keeper> {
    let failure: Failure | null = null;
    const factory: IClientFactory = {
      buildProtocol: () => p,
      clientConnectionFailed: (_c, reason) => (failure = reason),
    };
    if (where === 'tcp') env.reactor.connectTCP('127.0.0.1', (port.getHost() as IPv4Address).port, factory, { timeout: 5 });
    else env.reactor.connectUNIX(join(env.tmp, 's.sock'), factory, { timeout: 5 });
    await until(() => p.transport !== null || failure !== null, 'the connection');
    if (failure !== null) throw (failure as Failure).value;
    return p;
  }

  function rawClient(port: IListeningPort): net.Socket {
    const s = net.connect({ port: (port.getHost() as IPv4Address).port, host: '127.0.0.1' });
    s.setNoDelay(true);
    s.on('error', () => {});
    env.rawSockets.push(s);
    return s;
  }

  it(`reads ${fast ? 'through onread' : 'through streams'} on both sides, TCP and UNIX`, async () => {
    for (const where of ['tcp', 'unix'] as const) {
      const { built, port } = await listen(() => new Keeper(), where);
      const client = await connect(port, new Keeper(), where);
      await until(() => built.length === 1 && built[0]!.transport !== null, 'the server protocol');
      expect(readsIntoBuffer(socketOf(built[0]!.transport!))).toBe(fast);
      expect(readsIntoBuffer(socketOf(client.transport!))).toBe(fast);
      client.transport!.loseConnection();
      await until(() => client.reason !== null && built[0]!.reason !== null, 'both sides to close');
      await port.stopListening();
    }
  });

  for (const where of ['tcp', 'unix'] as const) {
    it(`keeps every chunk intact after later reads on any socket: 8 connections echoing 1 MiB at once (${where})`, async () => {
      const { built, port } = await listen(echoKeeper, where);
      const size = 1024 * 1024;
      const clients = await Promise.all(
        Array.from({ length: 8 }, (_, i) => {
          const p = new Keeper();
          const data = pattern(size, i + 1);
          // Writes of varied sizes (1 B to 20 KiB), so reads split and coalesce them every way.
          p.onMade = (self) => {
            let at = 0;
            let n = 1;
            while (at < size) {
              const len = Math.min(size - at, n);
              self.transport!.write(data.subarray(at, at + len));
              at += len;
              n = (n * 7 + 13) % 20_000 || 1;
            }
          };
          return connect(port, p, where).then(() => ({ p, data }));
        }),
      );
      await until(() => clients.every(({ p }) => p.received === size), 'every echo', 15_000);
      for (const { p, data } of clients) {
        expect(p.intact()).toBe(true);
        expect(p.bytes().equals(data)).toBe(true);
      }
      expect(built).toHaveLength(8);
      for (const s of built) {
        expect(s.intact()).toBe(true);
        expect(s.received).toBe(size);
      }
      // Each server's bytes are its own client's, whatever the order of the connections.
      const sent = new Set(clients.map(({ data }) => digest(data)));
      for (const s of built) expect(sent.has(digest(s.bytes()))).toBe(true);
    }, 30_000);
  }

  it('delivers split input (1-byte writes, each read apart) and coalesced input (reads of the whole buffer)', async () => {
    const { built, port } = await listen(() => new Keeper());
    // Split: one byte at a time, each sent after the previous one arrived.
    const split = rawClient(port);
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    const small = pattern(40, 99);
    for (let i = 0; i < small.length; i++) {
      split.write(small.subarray(i, i + 1));
      await until(() => server.received === i + 1, `byte ${i}`);
    }
    expect(server.chunks).toHaveLength(small.length);
    expect(server.bytes().equals(small)).toBe(true);
    // Coalesced: 3 MiB sent while the server does not read, then read at once.
    server.transport!.pauseProducing();
    const big = pattern(3 * 1024 * 1024, 7);
    split.write(big);
    await sleep(100);
    expect(server.received).toBe(small.length);
    server.transport!.resumeProducing();
    await until(() => server.received === small.length + big.length, 'the 3 MiB');
    expect(server.intact()).toBe(true);
    expect(server.bytes().equals(Buffer.concat([small, big]))).toBe(true);
    const largest = Math.max(...server.chunks.map((c) => c.byteLength));
    if (fast) expect(largest).toBeLessThanOrEqual(READ_BUFFER_SIZE);
    // Whole reads, not one per write.
    expect(largest).toBeGreaterThan(16 * 1024);
  });

  it('reads nothing while paused from connectionMade (server and client), then everything on resume', async () => {
    const { built, port } = await listen(() => {
      const p = echoKeeper();
      p.onMade = (self) => self.transport!.pauseProducing();
      return p;
    });
    const client = new Keeper();
    client.onMade = (self) => {
      // The server is paused: it echoes nothing yet, and this client pauses too.
      self.transport!.pauseProducing();
      self.transport!.write(Buffer.from('hello'));
    };
    await connect(port, client);
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    await sleep(150);
    expect(server.received).toBe(0);
    server.transport!.resumeProducing();
    await until(() => server.received === 5, 'the server to read');
    // The echo is on its way, but the client is paused.
    await sleep(150);
    expect(client.received).toBe(0);
    client.transport!.resumeProducing();
    await until(() => client.received === 5, 'the echo');
    expect(client.bytes().toString()).toBe('hello');
    expect(client.intact() && server.intact()).toBe(true);
  });

  it('holds what arrives while paused from connectionMade; pausing again in dataReceived holds the rest', async () => {
    const { built, port } = await listen(() => {
      const p = new Keeper();
      p.onMade = (self) => self.transport!.write(Buffer.from('first'));
      return p;
    });
    const client = new Keeper();
    client.onMade = (self) => self.transport!.pauseProducing();
    client.onData = (self) => self.transport!.pauseProducing();
    await connect(port, client);
    await until(() => built.length === 1, 'the server protocol');
    await sleep(150);
    built[0]!.transport!.write(Buffer.from('second'));
    await sleep(100);
    expect(client.received).toBe(0);
    client.transport!.resumeProducing();
    await until(() => client.received === 5, 'the first chunk');
    await sleep(100);
    expect(client.chunks.map((c) => Buffer.from(c).toString())).toEqual(['first']);
    client.transport!.resumeProducing();
    await until(() => client.received === 11, 'the second chunk');
    expect(client.chunks.map((c) => Buffer.from(c).toString())).toEqual(['first', 'second']);
    // Closing while paused: the connection still ends cleanly.
    client.transport!.loseConnection();
    await until(() => client.reason !== null && built[0]!.reason !== null, 'both sides to close');
    expect(client.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('stops delivering when dataReceived pauses, and delivers one more chunk per resume, in order', async () => {
    const { built, port } = await listen(() => {
      const p = new Keeper();
      p.onData = (self) => self.transport!.pauseProducing();
      return p;
    });
    const raw = rawClient(port);
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    const data = pattern(256 * 1024, 3);
    let sent = 0;
    // Several writes with pauses in between, so there are several reads to hold back.
    for (let i = 0; i < 8; i++) {
      raw.write(data.subarray(sent, sent + 32 * 1024));
      sent += 32 * 1024;
      await sleep(10);
    }
    await until(() => server.chunks.length === 1, 'the first chunk');
    await sleep(100);
    expect(server.chunks).toHaveLength(1);
    // Each resume delivers one more chunk (the protocol pauses again in each dataReceived).
    while (server.received < data.length) {
      const before = server.chunks.length;
      server.transport!.resumeProducing();
      await until(() => server.chunks.length === before + 1, 'one more chunk');
      await sleep(5);
      expect(server.chunks).toHaveLength(before + 1);
    }
    expect(server.intact()).toBe(true);
    expect(server.bytes().equals(data)).toBe(true);
  });

  it("gives a half-closeable protocol readConnectionLost on the peer's FIN, and it can still write", async () => {
    const { built, port } = await listen(() => new HalfCloseKeeper());
    const raw = net.connect({ port: (port.getHost() as IPv4Address).port, host: '127.0.0.1', allowHalfOpen: true });
    env.rawSockets.push(raw);
    const reply: Buffer[] = [];
    raw.on('data', (d: Buffer) => reply.push(d));
    const closed = new Promise<void>((r) => raw.on('close', () => r()));
    raw.end(pattern(100_000, 5));
    await within(closed, 'the server to answer and close');
    expect(Buffer.concat(reply).toString()).toBe('got 100000');
    const server = built[0]!;
    expect(server.readLost).toBe(true);
    expect(server.bytes().equals(pattern(100_000, 5))).toBe(true);
    expect(server.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('gives ConnectionLost when the peer resets, and ConnectionDone to a protocol without half-close on FIN', async () => {
    const { built, port } = await listen(() => new Keeper());
    const a = rawClient(port);
    a.write('x');
    await until(() => built.length === 1 && built[0]!.received === 1, 'the first server protocol');
    a.resetAndDestroy();
    await until(() => built[0]!.reason !== null, 'connectionLost');
    expect(built[0]!.reason!.value).toBeInstanceOf(ConnectionLost);
    const b = rawClient(port);
    b.end('bye');
    await until(() => built.length === 2 && built[1]!.reason !== null, 'the second connectionLost');
    expect(built[1]!.bytes().toString()).toBe('bye');
    expect(built[1]!.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  it('drops the connection when dataReceived throws, and delivers nothing after loseConnection', async () => {
    const { built, port } = await listen(() => {
      const p = new Keeper();
      p.onData = (self, data) => {
        if (Buffer.from(data).includes('boom')) throw new Error('boom');
        if (Buffer.from(data).includes('close')) self.transport!.loseConnection();
      };
      return p;
    });
    const a = rawClient(port);
    a.write('boom');
    await until(() => built.length === 1 && built[0]!.reason !== null, 'the connection to drop');
    expect(built[0]!.reason!.value).toBeInstanceOf(ConnectionLost);
    expect(flushLoggedErrors(Error).length).toBeGreaterThan(0);
    const b = rawClient(port);
    b.write('close');
    await until(() => built.length === 2 && built[1]!.received === 5, 'the second server protocol');
    b.write('more');
    await until(() => built[1]!.reason !== null, 'the close');
    expect(built[1]!.bytes().toString()).toBe('close');
  });

  it.skipIf(!opensslPresent)('switches both sides to TLS with startTLS, then carries 1 MiB each way intact', async () => {
    const size = 1024 * 1024;
    const { built, port } = await listen(() => {
      const p = new Keeper();
      p.onData = (self, data) => {
        const t = self.transport as ITLSTransport;
        if (!t.isSecure && Buffer.from(data).toString() === 'STARTTLS\n') {
          self.chunks = [];
          self.digests = [];
          self.received = 0;
          t.write(Buffer.from('OK\n'));
          t.startTLS({ key, cert });
        } else if (t.isSecure) {
          t.write(data);
        }
      };
      return p;
    });
    const client = new Keeper();
    const data = pattern(size, 11);
    client.onMade = (self) => self.transport!.write(Buffer.from('STARTTLS\n'));
    client.onData = (self, d) => {
      const t = self.transport as ITLSTransport;
      if (!t.isSecure && Buffer.from(d).toString() === 'OK\n') {
        self.chunks = [];
        self.digests = [];
        self.received = 0;
        t.startTLS({ ca: cert, servername: 'localhost' });
        for (let at = 0; at < size; at += 10_000) t.write(data.subarray(at, Math.min(size, at + 10_000)));
      }
    };
    await connect(port, client);
    await until(() => client.received === size, 'the encrypted echo', 15_000);
    const server = built[0]!;
    expect((server.transport as ITLSTransport).isSecure).toBe(true);
    expect((client.transport as ITLSTransport).isSecure).toBe(true);
    expect(client.bytes().equals(data)).toBe(true);
    expect(server.bytes().equals(data)).toBe(true);
    expect(client.intact() && server.intact()).toBe(true);
    client.transport!.loseConnection();
    await until(() => client.reason !== null && server.reason !== null, 'both sides to close');
    expect(client.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  }, 30_000);

  it(`gives a protocol with kReadBorrowed ${fast ? 'each read in the shared buffer, for the call only' : 'owned chunks through dataReceived'}`, async () => {
    class Borrower extends Keeper {
      lent: Array<[Buffer, string]> = [];
      [kReadBorrowed](buffer: Buffer, n: number): void {
        this.lent.push([buffer, buffer.toString('latin1', 0, n)]);
        this.received += n;
        this.chunks.push(Buffer.from(buffer.subarray(0, n)));
        this.digests.push(digest(this.chunks.at(-1)!));
      }
    }
    const { built, port } = await listen(() => new Borrower());
    const s = rawClient(port);
    await until(() => built.length === 1, 'the server protocol');
    const server = built[0]!;
    s.write('one');
    await until(() => server.received === 3, 'the first read');
    s.write('two');
    await until(() => server.received === 6, 'the second read');
    server.transport!.pauseProducing();
    s.write('held');
    await sleep(100);
    server.transport!.resumeProducing();
    await until(() => server.received === 10, 'the held read');
    expect(server.bytes().toString()).toBe('onetwoheld');
    if (fast) {
      // The same shared buffer every time (what a borrowing protocol must not keep), no Buffer of
      // its own. (A read held while paused, if Node read one, comes as an owned copy to dataReceived.)
      expect(server.lent.map(([, text]) => text).slice(0, 2)).toEqual(['one', 'two']);
      for (const [b] of server.lent) expect(b).toBe(server.lent[0]![0]);
      expect(server.lent[0]![0].length).toBe(READ_BUFFER_SIZE);
    } else {
      expect(server.lent).toEqual([]);
    }
  });

  it('closes every connection when the reactor stops', async () => {
    const { built, port } = await listen(() => new Keeper());
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(port, new Keeper())));
    await until(() => built.length === 5, 'the server protocols');
    env.reactor.stop();
    await within(env.stopped, 'the reactor to stop');
    for (const p of [...clients, ...built]) expect(p.reason!.value).toBeInstanceOf(ConnectionLost);
  });
});

/**
 * The Node reactor's TLS on 127.0.0.1, with a self-signed certificate made
 * by the `openssl` CLI at test time: echo, ALPN, peer certificates,
 * verification (on by default), servername, and STARTTLS mid-stream.
 *
 * Without `openssl` the suite is skipped with the reason printed, except
 * under CI (`CI=true`), where it fails.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import { ConnectError, ConnectionDone, TCPTimedOutError } from '../../src/reactor/errors.js';
import type {
  IClientFactory,
  IListeningPort,
  IProtocol,
  ITLSTransport,
  ITransport,
  TLSOptions,
} from '../../src/reactor/interfaces.js';
import type { IPv4Address, Address } from '../../src/reactor/address.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { within, until, hasOpenSSL } from './helpers.js';

// ------------------------------------------------------------------ the certificate

const opensslPresent = hasOpenSSL();
if (!opensslPresent && process.env.CI === 'true') {
  throw new Error('the TLS tests need the openssl CLI, which is missing under CI');
}
if (!opensslPresent) console.warn('SKIPPED test/integration/tls.test.ts: the openssl CLI is not installed');

const certDir = opensslPresent ? mkdtempSync(join(tmpdir(), 'spindle-tls-')) : '';
let key = '';
let cert = '';
if (opensslPresent) {
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
      '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days', '1',
      '-keyout', join(certDir, 'key.pem'),
      '-out', join(certDir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  key = readFileSync(join(certDir, 'key.pem'), 'utf8');
  cert = readFileSync(join(certDir, 'cert.pem'), 'utf8');
}

afterAll(() => {
  if (certDir !== '') rmSync(certDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

class Peer implements IProtocol {
  transport: ITransport | null = null;
  received = Buffer.alloc(0);
  reason: Failure | null = null;
  /** What the transport said at connectionMade: the handshake is done by then. */
  alpnAtConnect: string | null | undefined = undefined;
  get tls(): ITLSTransport {
    return this.transport as ITLSTransport;
  }
  connectionMade(): void {
    this.alpnAtConnect = this.tls.alpnProtocol;
  }
  dataReceived(data: Uint8Array): void {
    this.received = Buffer.concat([this.received, data]);
  }
  connectionLost(reason: Failure): void {
    this.reason = reason;
  }
  text(): string {
    return this.received.toString();
  }
}

class Echo extends Peer {
  override dataReceived(data: Uint8Array): void {
    super.dataReceived(data);
    this.transport!.write(data);
  }
}

function serverFactory(make: () => IProtocol) {
  const built: IProtocol[] = [];
  return {
    built,
    buildProtocol: (_addr: Address) => {
      const p = make();
      built.push(p);
      return p;
    },
  };
}

function clientOf<P extends IProtocol>(protocol: P) {
  const client = {
    protocol,
    connected: false,
    failure: null as Failure | null,
    buildProtocol: () => {
      client.connected = true;
      return protocol;
    },
    clientConnectionFailed: (_c: unknown, reason: Failure) => {
      client.failure = reason;
    },
  } satisfies IClientFactory & Record<string, unknown>;
  return client;
}

function portNumber(port: IListeningPort): number {
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

async function listenSSL(options: Partial<TLSOptions> = {}, make: () => IProtocol = () => new Echo()) {
  const factory = serverFactory(make);
  const port = reactor.listenSSL(0, factory, { key, cert, ...options }, { interface: '127.0.0.1' });
  await within(port.ready, 'the TLS port');
  return { factory, port, number: portNumber(port) };
}

// ------------------------------------------------------------------ tests

describe.skipIf(!opensslPresent)('TLS', () => {
  it('echoes after the handshake, with ALPN and the peer certificate', async () => {
    const { factory, number } = await listenSSL({ alpnProtocols: ['h2', 'spindle/1'] });
    const client = clientOf(new Peer());
    reactor.connectSSL('localhost', number, client, { ca: cert, alpnProtocols: ['spindle/1'] });
    await until(() => client.connected || client.failure !== null, 'the handshake');
    expect(client.failure).toBeNull();
    const p = client.protocol;
    expect(p.alpnAtConnect).toBe('spindle/1');
    expect(p.tls.isSecure).toBe(true);
    const peerCert = p.tls.getPeerCertificate() as { subject: { CN: string } } | null;
    expect(peerCert?.subject.CN).toBe('localhost');

    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    p.transport!.write(payload);
    await until(() => p.received.length === payload.length, 'the echo', 10_000);
    expect(createHash('sha256').update(p.received).digest('hex')).toBe(
      createHash('sha256').update(payload).digest('hex'),
    );

    const server = factory.built[0] as Echo;
    expect(server.alpnAtConnect).toBe('spindle/1');
    expect(server.tls.getPeerCertificate()).toBeNull();
    p.transport!.loseConnection();
    await until(() => p.reason !== null && server.reason !== null, 'both sides to close');
    expect(p.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });

  const verification: Array<{ name: string; host: string; options: TLSOptions; ok: boolean }> = [
    { name: 'an unknown CA', host: 'localhost', options: {}, ok: false },
    { name: 'the CA, by name (servername defaults to the host)', host: 'localhost', options: { ca: cert }, ok: true },
    { name: 'the CA, by IP address', host: '127.0.0.1', options: { ca: cert }, ok: true },
    { name: 'the CA, a servername not in the certificate', host: '127.0.0.1', options: { ca: cert, servername: 'example.com' }, ok: false },
    { name: 'verification off', host: 'localhost', options: { rejectUnauthorized: false }, ok: true },
  ];

  for (const v of verification) {
    it(`${v.ok ? 'accepts' : 'rejects'} the server with ${v.name}`, async () => {
      const { number } = await listenSSL();
      const client = clientOf(new Peer());
      reactor.connectSSL(v.host, number, client, v.options);
      await until(() => client.connected || client.failure !== null, 'the handshake');
      if (v.ok) {
        expect(client.failure).toBeNull();
        client.protocol.transport!.loseConnection();
      } else {
        expect(client.connected).toBe(false);
        expect(client.failure!.value).toBeInstanceOf(ConnectError);
        expect(client.failure!.value.cause).toBeInstanceOf(Error);
      }
    });
  }

  it('counts the handshake in the connect timeout', async () => {
    // A plain TCP server that never answers the ClientHello.
    const factory = serverFactory(() => new Peer());
    const port = reactor.listenTCP(0, factory, { interface: '127.0.0.1' });
    await within(port.ready, 'the port');
    const client = clientOf(new Peer());
    reactor.connectSSL('127.0.0.1', portNumber(port), client, { ca: cert }, { timeout: 0.2 });
    await until(() => client.failure !== null, 'the timeout');
    expect(client.failure!.value).toBeInstanceOf(TCPTimedOutError);
  });

  it('upgrades a plain TCP connection with startTLS mid-stream', async () => {
    // Server: answers "STARTTLS\n" with "OK\n" in clear, starts TLS, then echoes.
    class StartTLSServer extends Peer {
      secureNow = false;
      override dataReceived(data: Uint8Array): void {
        super.dataReceived(data);
        if (!this.secureNow && this.text() === 'STARTTLS\n') {
          this.secureNow = true;
          this.received = Buffer.alloc(0);
          this.transport!.write(Buffer.from('OK\n'));
          this.tls.startTLS({ key, cert });
          this.transport!.write(Buffer.from('hello over TLS\n'));
        } else if (this.secureNow) {
          this.transport!.write(data);
        }
      }
    }
    class StartTLSClient extends Peer {
      upgraded = false;
      override connectionMade(): void {
        super.connectionMade();
        this.transport!.write(Buffer.from('STARTTLS\n'));
      }
      override dataReceived(data: Uint8Array): void {
        super.dataReceived(data);
        if (!this.upgraded && this.text().startsWith('OK\n')) {
          this.upgraded = true;
          const rest = this.received.subarray(3);
          expect(rest.length).toBe(0); // nothing encrypted was taken for clear text
          this.received = Buffer.alloc(0);
          this.tls.startTLS({ ca: cert, servername: 'localhost' });
          this.transport!.write(Buffer.from('secret'));
        }
      }
    }
    const factory = serverFactory(() => new StartTLSServer());
    const port = reactor.listenTCP(0, factory, { interface: '127.0.0.1' });
    await within(port.ready, 'the port');
    const client = clientOf(new StartTLSClient());
    reactor.connectTCP('127.0.0.1', portNumber(port), client);
    const p = client.protocol;
    await until(() => p.text() === 'hello over TLS\nsecret', 'the encrypted echo');
    expect(p.tls.isSecure).toBe(true);
    expect((p.tls.getPeerCertificate() as { subject: { CN: string } }).subject.CN).toBe('localhost');
    const server = factory.built[0] as StartTLSServer;
    expect(server.tls.isSecure).toBe(true);
    expect(server.text()).toBe('secret');
    expect(() => p.tls.startTLS({})).toThrow(Error);
    p.transport!.loseConnection();
    await until(() => p.reason !== null && server.reason !== null, 'both sides to close');
    expect(p.reason!.check(ConnectionDone)).toBe(ConnectionDone);
  });
});

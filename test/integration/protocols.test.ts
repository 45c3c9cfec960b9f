/**
 * The protocol layer over real sockets (127.0.0.1, port 0): line and
 * length-prefixed framing across whatever fragmentation TCP produces,
 * ReconnectingClientFactory against a port that starts refusing and then
 * listens, and TimeoutFactory closing an idle connection. Every wait is
 * bounded; each test's reactor is stopped (closing everything) afterwards.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import { ClientFactory, Factory, ReconnectingClientFactory } from '../../src/protocol/factory.js';
import { Int32StringReceiver } from '../../src/protocol/intString.js';
import { LineReceiver } from '../../src/protocol/lineReceiver.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { TimeoutFactory } from '../../src/protocol/timeout.js';
import type { IPv4Address } from '../../src/reactor/address.js';
import type { IConnector, IListeningPort } from '../../src/reactor/interfaces.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { within, until } from './helpers.js';

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

async function listen(factory: Factory, port = 0): Promise<{ port: IListeningPort; number: number }> {
  const p = reactor.listenTCP(port, factory, { interface: '127.0.0.1' });
  await within(p.ready, 'the port to listen');
  return { port: p, number: (p.getHost() as IPv4Address).port };
}

/** A port number nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

class Shout extends LineReceiver {
  override lineReceived(line: Buffer): void {
    if (line.toString() === 'bye') this.transport.loseConnection();
    else this.sendLine(line.toString().toUpperCase());
  }
}

class Collector extends LineReceiver {
  lines: string[] = [];
  lost: Failure | null = null;
  override lineReceived(line: Buffer): void {
    this.lines.push(line.toString());
  }
  override connectionLost(reason: Failure): void {
    super.connectionLost(reason);
    this.lost = reason;
  }
}

/** A client factory that builds one given protocol. */
class OneShot<P extends Protocol> extends ClientFactory<P> {
  override noisy = false;
  failed: Failure | null = null;
  constructor(readonly p: P) {
    super();
  }
  override buildProtocol(): P {
    return this.p;
  }
  override clientConnectionFailed(connector: IConnector, reason: Failure): void {
    this.failed = reason;
  }
}

describe('framing over TCP', () => {
  it('LineReceiver: lines written in odd pieces arrive whole, and "bye" closes', async () => {
    const server = Factory.forProtocol(Shout);
    server.noisy = false;
    const { number } = await listen(server);
    const client = new Collector();
    reactor.connectTCP('127.0.0.1', number, new OneShot(client));
    await until(() => client.connected, 'the client to connect');
    const text = 'one\r\ntw' + 'o\r\n' + 'x'.repeat(16_384) + '\r\nbye\r\n';
    for (let i = 0; i < text.length; i += 7777) client.transport.write(Buffer.from(text.slice(i, i + 7777)));
    await until(() => client.lost !== null, 'the server to close');
    expect(client.lines).toEqual(['ONE', 'TWO', 'X'.repeat(16_384)]);
  });

  it('Int32StringReceiver: a 1 MiB string and small ones round-trip', async () => {
    class Echo32 extends Int32StringReceiver {
      override MAX_LENGTH = 2 * 1024 * 1024;
      override stringReceived(s: Buffer): void {
        this.sendString(s);
      }
    }
    class Collect32 extends Int32StringReceiver {
      override MAX_LENGTH = 2 * 1024 * 1024;
      got: Buffer[] = [];
      override stringReceived(s: Buffer): void {
        this.got.push(s);
      }
    }
    const server = Factory.forProtocol(Echo32);
    server.noisy = false;
    const { number } = await listen(server);
    const client = new Collect32();
    reactor.connectTCP('127.0.0.1', number, new OneShot(client));
    await until(() => client.connected, 'the client to connect');
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    client.sendString('a');
    client.sendString(big);
    client.sendString('');
    await until(() => client.got.length === 3, 'three strings back');
    expect(client.got[0]!.toString()).toBe('a');
    expect(client.got[1]!.equals(big)).toBe(true);
    expect(client.got[2]!.length).toBe(0);
    client.transport.loseConnection();
  });
});

describe('ReconnectingClientFactory over TCP', () => {
  it('retries a refusing port with growing delays, connects once it listens, and stopTrying ends it', async () => {
    const number = await freePort();
    const events: string[] = [];
    const connected: Collector[] = [];
    class Client extends ReconnectingClientFactory<Collector> {
      override noisy = false;
      override buildProtocol(): Collector {
        this.resetDelay();
        const p = new Collector();
        connected.push(p);
        return p;
      }
      override clientConnectionFailed(connector: IConnector, reason: Failure): void {
        events.push(`failed:${reason.type.name}`);
        super.clientConnectionFailed(connector, reason);
      }
    }
    const f = new Client({ clock: reactor, initialDelay: 0.01, factor: 2, jitter: 0, maxDelay: 0.2 });
    reactor.connectTCP('127.0.0.1', number, f);
    await until(() => f.retries >= 3, 'three refused attempts');
    expect(events.slice(0, 3)).toEqual(['failed:ConnectionRefusedError', 'failed:ConnectionRefusedError', 'failed:ConnectionRefusedError']);

    const server = Factory.forProtocol(Shout);
    server.noisy = false;
    await listen(server, number);
    await until(() => connected.length === 1 && connected[0]!.connected, 'the client to connect');
    expect(f.retries).toBe(0);

    const [p] = connected;
    p!.sendLine('hello');
    await until(() => p!.lines.length === 1, 'the answer');
    expect(p!.lines).toEqual(['HELLO']);

    f.stopTrying();
    p!.transport.loseConnection();
    await until(() => p!.lost !== null, 'the connection to close');
    await new Promise((r) => setTimeout(r, 100));
    expect(connected).toHaveLength(1); // no reconnection after stopTrying
    expect(f.pendingRetry).toBeNull();
  });
});

describe('TimeoutFactory over TCP', () => {
  it('closes a connection idle for the period', async () => {
    const server = new TimeoutFactory(Factory.forProtocol(Shout), { timeoutPeriod: 0.2, clock: reactor });
    server.noisy = false;
    const { number } = await listen(server);
    const client = new Collector();
    const started = reactor.seconds();
    reactor.connectTCP('127.0.0.1', number, new OneShot(client));
    await until(() => client.connected, 'the client to connect');
    client.sendLine('ping');
    await until(() => client.lost !== null, 'the idle connection to be closed');
    expect(client.lines).toEqual(['PING']);
    expect(reactor.seconds() - started).toBeGreaterThanOrEqual(0.2);
  });
});

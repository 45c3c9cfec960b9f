/**
 * The Node reactor's UNIX sockets, in a temporary directory: echo and
 * addresses, stale socket files, live ones, `mode`, clean-up on stop,
 * connecting to nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import { UNIXAddress, type Address } from '../../src/reactor/address.js';
import { CannotListenError, ConnectError, ConnectionDone } from '../../src/reactor/errors.js';
import type { IClientFactory, IListeningPort, IProtocol, ITransport } from '../../src/reactor/interfaces.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { within } from './helpers.js';

class Peer implements IProtocol {
  transport: ITransport | null = null;
  received = '';
  reason: Failure | null = null;
  private readonly waiters: Array<() => void> = [];
  connectionMade(): void {
    this.wake();
  }
  dataReceived(data: Uint8Array): void {
    this.received += Buffer.from(data).toString();
    this.wake();
  }
  connectionLost(reason: Failure): void {
    this.reason = reason;
    this.wake();
  }
  /** Wait (bounded) until `predicate` holds. */
  async until(predicate: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

class Echo extends Peer {
  override dataReceived(data: Uint8Array): void {
    super.dataReceived(data);
    this.transport!.write(data);
  }
}

function factoryOf(make: () => IProtocol) {
  const built: IProtocol[] = [];
  return {
    built,
    starts: 0,
    stops: 0,
    buildProtocol(_addr: Address) {
      const p = make();
      built.push(p);
      return p;
    },
    doStart() {
      this.starts++;
    },
    doStop() {
      this.stops++;
    },
  };
}

function clientOf<P extends IProtocol>(protocol: P) {
  const client = {
    protocol,
    failure: null as Failure | null,
    lost: null as Failure | null,
    buildProtocol: () => protocol,
    clientConnectionFailed(_c: unknown, reason: Failure) {
      client.failure = reason;
    },
    clientConnectionLost(_c: unknown, reason: Failure) {
      client.lost = reason;
    },
  } satisfies IClientFactory & Record<string, unknown>;
  return client;
}

async function failureOf(port: IListeningPort): Promise<unknown> {
  return within(
    port.ready.then(
      () => null,
      (e: unknown) => e,
    ),
    'ready to fail',
  );
}

let dir: string;
let reactor: NodeReactor;
let stopped: PromiseLike<void>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spindle-unix-'));
  reactor = new NodeReactor();
  stopped = reactor.run();
});

afterEach(async () => {
  if (reactor.running) reactor.stop();
  await within(stopped, 'the reactor to stop');
  rmSync(dir, { recursive: true, force: true });
});

describe('UNIX sockets', () => {
  it('echoes, with UNIXAddress addresses on both sides', async () => {
    const path = join(dir, 'echo.sock');
    const factory = factoryOf(() => new Echo());
    const port = reactor.listenUNIX(path, factory);
    await within(port.ready, 'the port');
    expect(port.getHost()).toEqual(new UNIXAddress(path));
    expect(factory.starts).toBe(1);

    const client = clientOf(new Peer());
    const connector = reactor.connectUNIX(path, client);
    expect(connector.getDestination()).toEqual(new UNIXAddress(path));
    const p = client.protocol;
    await p.until(() => p.transport !== null, 'the connection');
    p.transport!.write(Buffer.from('over a unix socket'));
    await p.until(() => p.received === 'over a unix socket', 'the echo');
    expect(p.transport!.getPeer()).toEqual(new UNIXAddress(path));
    expect(p.transport!.getHost()).toEqual(new UNIXAddress(null));
    const server = factory.built[0] as Echo;
    expect(server.transport!.getHost()).toEqual(new UNIXAddress(path));
    expect(server.transport!.getPeer()).toEqual(new UNIXAddress(null));

    p.transport!.loseConnection();
    await p.until(() => p.reason !== null && server.reason !== null, 'both sides to close');
    expect(p.reason!.check(ConnectionDone)).toBe(ConnectionDone);
    expect(client.lost).toBe(p.reason);
    await within(port.stopListening(), 'stopListening');
    expect(factory.stops).toBe(1);
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale socket file left by a dead process', async () => {
    const path = join(dir, 'stale.sock');
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await within(new Promise((r) => child.once('exit', r)), 'the child to die');
    expect(statSync(path).isSocket()).toBe(true);
    const port = reactor.listenUNIX(path, factoryOf(() => new Echo()));
    await within(port.ready, 'the port');
    const client = clientOf(new Peer());
    reactor.connectUNIX(path, client);
    await client.protocol.until(() => client.protocol.transport !== null, 'the connection');
  });

  it('refuses a path where something listens, or that is not a socket', async () => {
    const live = join(dir, 'live.sock');
    const first = reactor.listenUNIX(live, factoryOf(() => new Echo()));
    await within(first.ready, 'the first port');
    const second = reactor.listenUNIX(live, factoryOf(() => new Echo()));
    const error = await failureOf(second);
    expect(error).toBeInstanceOf(CannotListenError);
    expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');

    const file = join(dir, 'regular-file');
    writeFileSync(file, 'keep me');
    expect(await failureOf(reactor.listenUNIX(file, factoryOf(() => new Echo())))).toBeInstanceOf(CannotListenError);
    expect(statSync(file).isFile()).toBe(true);
  });

  it('applies mode to the socket file', async () => {
    for (const mode of [0o600, 0o660]) {
      const path = join(dir, `mode-${mode.toString(8)}.sock`);
      const port = reactor.listenUNIX(path, factoryOf(() => new Echo()), { mode });
      await within(port.ready, 'the port');
      expect(statSync(path).mode & 0o777).toBe(mode);
      await within(port.stopListening(), 'stopListening');
    }
  });

  it('fails to connect to a path nobody listens on', async () => {
    const client = clientOf(new Peer());
    reactor.connectUNIX(join(dir, 'nobody.sock'), client);
    await client.protocol.until(() => client.failure !== null, 'clientConnectionFailed');
    expect(client.failure!.value).toBeInstanceOf(ConnectError);
    expect((client.failure!.value.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('removes the socket file when the reactor stops', async () => {
    const path = join(dir, 'stop.sock');
    const port = reactor.listenUNIX(path, factoryOf(() => new Echo()));
    await within(port.ready, 'the port');
    reactor.stop();
    await within(stopped, 'the reactor to stop');
    expect(existsSync(path)).toBe(false);
  });
});

/**
 * Stopping a Node reactor with real sockets open: 'before shutdown' triggers
 * drain first, then every port is closed, every connection gets
 * ConnectionLost, connection attempts fail, and `run()`'s Deferred fires;
 * no handle is left behind. SIGINT/SIGTERM stop it the same way.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import type { Failure } from '../../src/defer/failure.js';
import type { IPv4Address } from '../../src/reactor/address.js';
import { ConnectError, ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import type { IClientFactory, IProtocol, ITransport } from '../../src/reactor/interfaces.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { within, until } from './helpers.js';

class Peer implements IProtocol {
  transport: ITransport | null = null;
  reason: Failure | null = null;
  constructor(private readonly log: string[] = [], private readonly name = 'peer') {}
  connectionLost(reason: Failure): void {
    this.reason = reason;
    this.log.push(`${this.name} lost`);
  }
}

/** Handles of the kinds sockets and timers leave: what must be back to its count after stop. */
function openHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (/TCP|Pipe|Timeout|Immediate/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** A listener whose accept queue is full (its process is blocked): connecting to it hangs. */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const child = spawn(
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
    new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())))),
    'the black hole to listen',
  );
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

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('stopping a reactor with connections open', () => {
  it('drains in "before", then closes ports and gives every connection ConnectionLost', async () => {
    const before = openHandles();
    const reactor = new NodeReactor();
    const log: string[] = [];
    const stopped = reactor.run();
    stopped.addCallback(() => log.push('run() fired'));

    const factory = {
      servers: [] as Peer[],
      stops: 0,
      buildProtocol() {
        const p = new Peer(log, 'server');
        this.servers.push(p);
        return p;
      },
      doStop() {
        this.stops++;
        log.push('factory stopped');
      },
    };
    const port = reactor.listenTCP(0, factory, { interface: '127.0.0.1' });
    await within(port.ready, 'the port');
    const number = (port.getHost() as IPv4Address).port;
    const clientLost: Failure[] = [];
    const client: IClientFactory = {
      buildProtocol: () => new Peer(log, 'client'),
      clientConnectionLost: (_c, reason) => {
        clientLost.push(reason);
      },
    };
    reactor.connectTCP('127.0.0.1', number, client);
    reactor.connectTCP('127.0.0.1', number, client);
    await until(() => factory.servers.length === 2, 'two connections');

    // A drain that takes a while: shutdown waits for it.
    reactor.addSystemEventTrigger('before', 'shutdown', () => {
      log.push('before: draining');
      const d = new Deferred<void>();
      reactor.callLater(0.1, () => {
        log.push('before: drained');
        d.callback(undefined);
      });
      return d;
    });
    reactor.addSystemEventTrigger('during', 'shutdown', () => log.push(`during (running=${reactor.running})`));
    reactor.addSystemEventTrigger('after', 'shutdown', () => log.push('after'));
    // Not called yet: the reactor stops at the end of this turn.
    reactor.stop();
    expect(log).toEqual([]);
    await within(stopped, 'the reactor to stop');

    expect(log.slice(0, 2)).toEqual(['before: draining', 'before: drained']);
    expect(log.filter((e) => e.endsWith(' lost')).sort()).toEqual(['client lost', 'client lost', 'server lost', 'server lost']);
    expect(log.indexOf('factory stopped')).toBeGreaterThan(1);
    expect(log.indexOf('during (running=false)')).toBeGreaterThan(log.lastIndexOf('server lost'));
    expect(log.slice(-2)).toEqual(['after', 'run() fired']);
    for (const p of factory.servers) expect(p.reason!.value).toBeInstanceOf(ConnectionLost);
    expect(clientLost).toHaveLength(2);
    expect(factory.stops).toBe(1);
    expect(await refused(number)).toBe(true);

    // Closed handles disappear in the loop's close phase.
    await new Promise((r) => setTimeout(r, 20));
    const after = openHandles();
    for (const [kind, n] of Object.entries(after)) expect(n, `${kind} handles left open`).toBeLessThanOrEqual(before[kind] ?? 0);
  });

  it('fails connection attempts still in progress', async () => {
    const reactor = new NodeReactor();
    const stopped = reactor.run();
    const failures: Failure[] = [];
    const hole = await blackHole();
    reactor.connectTCP('127.0.0.1', hole.port, {
      buildProtocol: () => new Peer(),
      clientConnectionFailed: (_c, reason) => {
        failures.push(reason);
      },
    });
    await new Promise((r) => setTimeout(r, 50));
    reactor.stop();
    await within(stopped, 'the reactor to stop');
    hole.close();
    expect(failures).toHaveLength(1);
    expect(failures[0]!.value).toBeInstanceOf(ConnectError);
    expect(failures[0]!.getErrorMessage()).toMatch(/reactor stopped/);
  });

  it('lets a connection closed by the peer during the drain report ConnectionDone', async () => {
    const reactor = new NodeReactor();
    const stopped = reactor.run();
    const servers: Peer[] = [];
    const port = reactor.listenTCP(
      0,
      {
        buildProtocol: () => {
          const p = new Peer();
          servers.push(p);
          return p;
        },
      },
      { interface: '127.0.0.1' },
    );
    await within(port.ready, 'the port');
    const raw = net.connect((port.getHost() as IPv4Address).port, '127.0.0.1');
    await until(() => servers.length === 1, 'the connection');
    reactor.addSystemEventTrigger('before', 'shutdown', () => {
      raw.end();
      return new Promise<void>((r) => raw.once('close', () => r()));
    });
    reactor.stop();
    await within(stopped, 'the reactor to stop');
    expect(servers[0]!.reason!.value).toBeInstanceOf(ConnectionDone);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops gracefully on ${signal}, and removes its handlers`, async () => {
      const listenersBefore = process.listeners(signal);
      const reactor = new NodeReactor();
      const stopped = reactor.run();
      const added = process.listeners(signal).filter((l) => !listenersBefore.includes(l));
      expect(added).toHaveLength(1);
      const log: string[] = [];
      reactor.addSystemEventTrigger('after', 'shutdown', () => log.push('after shutdown'));
      // Only the reactor's own handler: a real signal would reach the test runner's too.
      (added[0] as (s: NodeJS.Signals) => void)(signal);
      await within(stopped, 'the reactor to stop');
      expect(log).toEqual(['after shutdown']);
      expect(process.listeners(signal)).toEqual(listenersBefore);
    });
  }
});

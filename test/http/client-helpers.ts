/**
 * Test doubles for the HTTP client tests: a scripted server protocol (it
 * records what arrives; the test writes the response bytes), a harness
 * that wires an Agent and a pool to a MemoryReactorClock and completes its
 * connections in memory, and small helpers.
 */
import { Buffer } from 'node:buffer';
import type { Failure } from '../../src/defer/failure.js';
import { Agent, type AgentOptions } from '../../src/http/client/agent.js';
import { HTTPConnectionPool, type HTTPConnectionPoolOptions } from '../../src/http/client/pool.js';
import { ResponseDone } from '../../src/http/client/errors.js';
import type { IBodyProtocol } from '../../src/http/client/response.js';
import type { IProtocol, IPushProducer, ITransport } from '../../src/reactor/interfaces.js';
import { ConnectionCompleter, type IOPump } from '../../src/testing/iosim.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';

/** Bytes of a latin1 string (CR/LF spelled out in the tests). */
export function wire(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A server end that records what it receives; the test answers with `send`. */
export class ScriptedServer implements IProtocol {
  transport: ITransport | null = null;
  received: Buffer[] = [];
  lost: Failure | null = null;

  dataReceived(data: Uint8Array): void {
    this.received.push(Buffer.from(data));
  }

  connectionLost(reason: Failure): void {
    this.lost = reason;
  }

  /** Everything received, as latin1. */
  text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }

  clear(): void {
    this.received = [];
  }

  /** The request heads received so far (request lines). */
  requestLines(): string[] {
    return [...this.text().matchAll(/(?:^|\r\n\r\n|\n)([A-Z]+ \S+ HTTP\/1\.1)\r\n/g)].map((m) => m[1]!);
  }

  send(data: string | Uint8Array): void {
    this.transport!.write(typeof data === 'string' ? wire(data) : data);
  }
}

/** A response with a Content-Length body. */
export function ok(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;
}

/** An Agent and a pool on a MemoryReactorClock whose connections the test completes. */
export interface Harness {
  reactor: MemoryReactorClock;
  pool: HTTPConnectionPool;
  agent: Agent;
  /** Server protocols, in connection order. */
  servers: ScriptedServer[];
  /** Complete the oldest pending connection attempt; its server end and pump. */
  connect(): { server: ScriptedServer; pump: IOPump };
  /** Pump every connection made so far until idle. */
  flush(): void;
  /** Fail the oldest pending connection attempt. */
  refuse(reason?: Error): void;
  /** Connection attempts not completed yet. */
  pending(): number;
}

/** Build a {@link Harness}; servers listen on ports 80 (TCP) and 443 (TLS), and 8080 (TCP). */
export function harness(poolOptions: HTTPConnectionPoolOptions = {}, agentOptions: AgentOptions = {}): Harness {
  const reactor = new MemoryReactorClock();
  const servers: ScriptedServer[] = [];
  const factory = {
    buildProtocol: () => {
      const s = new ScriptedServer();
      servers.push(s);
      return s;
    },
  };
  reactor.listenTCP(80, factory);
  reactor.listenTCP(8080, factory);
  reactor.listenSSL(443, factory, {});
  const completer = new ConnectionCompleter(reactor);
  const pool = new HTTPConnectionPool(reactor, poolOptions);
  const agent = new Agent(reactor, { pool, ...agentOptions });
  const pumps: IOPump[] = [];
  return {
    reactor,
    pool,
    agent,
    servers,
    connect() {
      const pump = completer.succeedOnce();
      pumps.push(pump);
      return { server: pump.server as ScriptedServer, pump };
    },
    flush() {
      for (let i = 0; i < 10; i++) {
        let moved = false;
        for (const p of pumps) moved = p.flush() || moved;
        if (!moved) return;
      }
    },
    refuse(reason?: Error) {
      completer.failOnce(reason);
    },
    pending() {
      return reactor.connectors.filter((c) => c.state === 'connecting').length;
    },
  };
}

/** A body protocol that records everything, for deliverBody tests. */
export class BodyRecorder implements IBodyProtocol {
  producer: IPushProducer | null = null;
  chunks: Buffer[] = [];
  reason: Failure | null = null;
  events: string[] = [];

  makeConnection(producer: IPushProducer): void {
    this.producer = producer;
    this.events.push('made');
  }

  dataReceived(data: Uint8Array): void {
    this.chunks.push(Buffer.from(data));
    this.events.push('data');
  }

  connectionLost(reason: Failure): void {
    this.reason = reason;
    this.events.push(reason.check(ResponseDone) !== null ? 'done' : `failed:${reason.value.name}`);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

/** Every way to cut `data` into pieces for one-byte-at-a-time and split feeding: whole, bytes, and each 2-way split. */
export function splits(data: Buffer): Buffer[][] {
  const out: Buffer[][] = [[data]];
  if (data.length > 1) out.push([...data].map((b) => Buffer.from([b])));
  for (let i = 1; i < data.length; i++) out.push([data.subarray(0, i), data.subarray(i)]);
  return out;
}

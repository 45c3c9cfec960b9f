/**
 * A scripted Redis for tests without I/O: a server protocol (for a MemoryReactor's
 * `listenTCP`) that parses the commands it receives (RESP arrays of bulk strings, which
 * RespParser reads as replies), records them, and answers each with what a handler returns —
 * canned defaults for the commands the client and the layers send, overridable per test.
 */
import { Failure } from '../../src/defer/failure.js';
import type { IProtocol, IProtocolFactory, ITransport } from '../../src/reactor/interfaces.js';
import { RespParser } from '../../src/redis/resp.js';

/** RESP reply builders. */
export const reply = {
  ok: '+OK\r\n',
  pong: '+PONG\r\n',
  queued: '+QUEUED\r\n',
  nil: '$-1\r\n',
  nilArray: '*-1\r\n',
  int: (n: number): string => `:${n}\r\n`,
  bulk: (b: string | Buffer): string => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
    return `$${buf.length}\r\n${buf.toString('latin1')}\r\n`;
  },
  array: (items: string[]): string => `*${items.length}\r\n${items.join('')}`,
  error: (message: string): string => `-${message}\r\n`,
};

/** One command as received: its arguments as latin1 strings (binary-safe), and which connection. */
export interface Received {
  conn: number;
  args: string[];
}

/** What to answer: RESP text (latin1), or null to keep the command waiting (a blocking pop). */
export type Answer = string | null;
export type Handler = (args: string[], conn: FakeRedisConnection) => Answer | undefined;

/** The server end of one connection. */
export class FakeRedisConnection implements IProtocol {
  transport: ITransport | null = null;
  readonly parser = new RespParser();
  inMulti = false;
  multiCount = 0;
  lost: Failure | null = null;
  /** Commands held (null answers), oldest first: answer them with `release`. */
  readonly held: string[][] = [];

  constructor(
    readonly server: FakeRedis,
    readonly id: number,
  ) {}

  makeConnection(transport: ITransport): void {
    this.transport = transport;
  }

  dataReceived(data: Uint8Array): void {
    this.parser.receiveData(data);
    for (let e = this.parser.nextEvent(); e !== null; e = this.parser.nextEvent()) {
      const args = (e.value as Buffer[]).map((b) => b.toString('latin1'));
      this.server.log.push({ conn: this.id, args });
      const answer = this.server.answer(args, this);
      if (answer === null) this.held.push(args);
      else this.send(answer);
    }
  }

  connectionLost(reason: Failure): void {
    this.lost = reason;
  }

  /** Write raw RESP to the client. */
  send(text: string): void {
    if (text !== '') this.transport!.write(Buffer.from(text, 'latin1'));
  }

  /** Answer the oldest held command. */
  release(text: string): void {
    this.held.shift();
    this.send(text);
  }
}

/**
 * The fake server: `factory` for `listenTCP`, `log` of every command, `on(name, handler)` to
 * script answers (a handler returning undefined falls through to the defaults).
 */
export class FakeRedis {
  readonly log: Received[] = [];
  readonly connections: FakeRedisConnection[] = [];
  private readonly handlers = new Map<string, Handler[]>();
  /** Answer EVALSHA with NOSCRIPT (the first time for each SHA, as a fresh server). */
  knownScripts = new Set<string>();

  readonly factory: IProtocolFactory = {
    buildProtocol: () => {
      const c = new FakeRedisConnection(this, this.connections.length);
      this.connections.push(c);
      return c;
    },
  };

  /** Script `command` (upper case): handlers run newest first. */
  on(command: string, handler: Handler): this {
    const list = this.handlers.get(command) ?? [];
    list.unshift(handler);
    this.handlers.set(command, list);
    return this;
  }

  /** Commands received, rendered `NAME arg arg…` (binary arguments as `<n bytes>`), optionally from one connection. */
  lines(conn?: number): string[] {
    return this.log.filter((r) => conn === undefined || r.conn === conn).map((r) => r.args.map(printable).join(' '));
  }

  answer(args: string[], conn: FakeRedisConnection): Answer {
    const name = args[0]!.toUpperCase();
    if (conn.inMulti && name !== 'EXEC') {
      conn.multiCount++;
      return reply.queued;
    }
    for (const h of this.handlers.get(name) ?? []) {
      const a = h(args, conn);
      if (a !== undefined) return a;
    }
    switch (name) {
      case 'AUTH':
      case 'SELECT':
      case 'SET':
        return reply.ok;
      case 'PING':
        return reply.pong;
      case 'QUIT':
        conn.send(reply.ok);
        conn.transport!.loseConnection();
        return '';
      case 'MULTI':
        conn.inMulti = true;
        conn.multiCount = 0;
        return reply.ok;
      case 'EXEC': {
        conn.inMulti = false;
        return reply.array(Array.from({ length: conn.multiCount }, () => reply.int(0)));
      }
      case 'ZREMRANGEBYSCORE':
      case 'ZCOUNT':
        return reply.int(0);
      case 'ZADD':
      case 'EXPIRE':
      case 'ZREM':
      case 'DEL':
      case 'PUBLISH':
        return reply.int(1);
      case 'ZRANGE':
      case 'ZPOPMIN':
        return reply.array([]);
      case 'SCAN':
        return reply.array([reply.bulk('0'), reply.array([])]);
      case 'EVALSHA':
        if (!this.knownScripts.has(args[1]!)) return reply.error('NOSCRIPT No matching script. Please use EVAL.');
        return reply.int(0);
      case 'EVAL':
        return reply.int(0);
      case 'BZPOPMIN':
      case 'BLPOP':
        return null;
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
      case 'PSUBSCRIBE':
      case 'PUNSUBSCRIBE':
        return reply.array([reply.bulk(name.toLowerCase()), reply.bulk(args[1]!), reply.int(1)]);
      default:
        return reply.error(`ERR unknown command '${args[0]}'`);
    }
  }
}

function printable(arg: string): string {
  // Text stays text; binary (msgpack members) is shown by size only.
  return /^[\x20-\x7e]*$/.test(arg) ? arg : `<${arg.length} bytes>`;
}

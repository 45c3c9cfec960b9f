/**
 * Blocking commands (`BZPOPMIN`, `BLPOP`, `XREAD BLOCK`…) hold their connection until they
 * return: on a pipelined connection, every command behind them would wait too. A
 * {@link RedisBlockingPool} runs each one on a connection of its own, reused afterwards.
 *
 * @module
 */
import { Deferred, fail, succeed } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import { RedisNotConnected, type CommandOptions } from './client.js';
import { RedisConnection, describeRedisAddress, parseRedisUrl, type RedisAddress, type RedisConnectionOptions, type RedisReactor } from './connect.js';
import type { RespArg, RespValue } from './resp.js';

/** Options of a {@link RedisBlockingPool}: those of its connections, and its size. */
export interface RedisBlockingPoolOptions extends RedisConnectionOptions {
  /** Most connections open at once (busy or idle); more commands wait for one. Default 64. */
  maxConnections?: number;
  /** Idle connections kept for the next commands; the others are closed. Default 4. */
  maxIdle?: number;
  /**
   * Seconds to wait for a reply beyond the command's own block time (given with each call),
   * before the command fails with `RedisTimeoutError` and its connection is aborted. Default 10.
   */
  replyMargin?: number;
}

interface Waiter {
  readonly deferred: Deferred<RedisConnection>;
}

/** A `BZPOPMIN` reply: the key, the member and its score; or null when it timed out. */
export type PoppedMember = { key: string; member: Buffer; score: number } | null;

/**
 * Runs blocking commands, each on a dedicated reconnecting connection (a
 * {@link RedisConnection}) taken from the pool — opened on demand up to `maxConnections`,
 * returned when the command is answered, `maxIdle` of them kept open.
 *
 * - `execute(args, blockSeconds)`: the reply, or the usual `RedisConnection` failures; the reply
 *   timeout is `blockSeconds + replyMargin` (0 = blocks forever: no timeout).
 * - Cancelling a command that is blocked closes its connection (the only way to unblock it):
 *   whatever the server was about to hand back is lost with it.
 * - `close()` closes every connection; blocked commands fail with `RedisConnectionLost` and
 *   commands waiting for a connection with `RedisNotConnected` (`'closed'`).
 *
 * @example
 * ```ts
 * const pool = new RedisBlockingPool(reactor, 'redis://127.0.0.1:6379');
 * const popped = await pool.bzpopmin(['jobs'], 5); // null after 5 s without a job
 * ```
 */
export class RedisBlockingPool {
  /** Where the connections go. */
  readonly address: RedisAddress;
  private readonly idle: RedisConnection[] = [];
  private readonly busy = new Set<RedisConnection>();
  private readonly waiting: Waiter[] = [];
  private readonly maxConnections: number;
  private readonly maxIdle: number;
  private readonly replyMargin: number;
  private closedFlag = false;

  /** @throws TypeError for a bad URL; RangeError for bad sizes. */
  constructor(
    private readonly reactor: RedisReactor,
    url: string | RedisAddress,
    private readonly options: RedisBlockingPoolOptions = {},
  ) {
    this.address = typeof url === 'string' ? parseRedisUrl(url) : url;
    this.maxConnections = options.maxConnections ?? 64;
    this.maxIdle = options.maxIdle ?? 4;
    this.replyMargin = options.replyMargin ?? 10;
    if (!Number.isInteger(this.maxConnections) || this.maxConnections < 1) throw new RangeError(`maxConnections must be a positive integer, not ${String(this.maxConnections)}`);
    if (!Number.isInteger(this.maxIdle) || this.maxIdle < 0) throw new RangeError(`maxIdle must be a non-negative integer, not ${String(this.maxIdle)}`);
    if (!(this.replyMargin > 0)) throw new RangeError(`replyMargin must be a positive number of seconds, not ${String(this.replyMargin)}`);
  }

  /** Connections open (busy and idle). */
  get size(): number {
    return this.busy.size + this.idle.length;
  }

  /** Connections running a command. */
  get busyCount(): number {
    return this.busy.size;
  }

  /** Commands waiting for a connection. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * Run one blocking command on a connection of its own. `blockSeconds` is the time the
   * command itself may block (the timeout argument you gave it; 0 for "forever").
   * @throws TypeError / RangeError for an argument RESP cannot carry.
   */
  execute(args: ReadonlyArray<RespArg>, blockSeconds: number): Deferred<RespValue> {
    if (!(blockSeconds >= 0)) throw new RangeError(`blockSeconds must be >= 0, not ${String(blockSeconds)}`);
    const timeout = blockSeconds === 0 ? null : blockSeconds + this.replyMargin;
    const copy = [...args];
    let running: Deferred<RespValue> | null = null;
    let conn: RedisConnection | null = null;
    let acquiring: Deferred<RedisConnection> | null = null;
    const outer = new Deferred<RespValue>(() => {
      if (acquiring !== null) acquiring.cancel();
      if (running !== null && conn !== null) {
        // Blocked on the server: only closing the connection unblocks it.
        this.discard(conn);
        running.cancel();
      }
    });
    acquiring = this.acquire();
    acquiring.addCallbacks(
      (c: RedisConnection) => {
        acquiring = null;
        conn = c;
        const options: CommandOptions = { timeout };
        running = c.execute(copy, options);
        running.addBoth((r: RespValue | Failure) => {
          running = null;
          this.release(c);
          if (!outer.called) outer.callback(r);
          return undefined;
        });
        return undefined;
      },
      (f: Failure) => {
        acquiring = null;
        if (!outer.called) outer.errback(f);
        return undefined;
      },
    );
    return outer;
  }

  /** `BZPOPMIN key… timeout`: the lowest-scored member of the first non-empty key, or null after `timeout` seconds. */
  bzpopmin(keys: ReadonlyArray<RespArg>, timeout: number): Deferred<PoppedMember> {
    return this.execute(['BZPOPMIN', ...keys, timeout], timeout).addCallback((reply) => {
      if (reply === null) return null;
      const [key, member, score] = reply as [Buffer, Buffer, Buffer];
      return { key: key.toString('utf8'), member, score: Number(score.toString('latin1')) };
    });
  }

  /** Close every connection (see the class documentation). Fires once they are all closed. */
  close(): Deferred<void> {
    this.closedFlag = true;
    const error = new RedisNotConnected('closed', `the blocking pool for Redis at ${describeRedisAddress(this.address)} is closed`);
    for (const w of this.waiting.splice(0)) w.deferred.errback(error);
    const all = [...this.idle.splice(0), ...this.busy];
    this.busy.clear();
    let left = all.length;
    const done = new Deferred<void>();
    if (left === 0) done.callback(undefined);
    for (const c of all) {
      c.close().addBoth(() => {
        if (--left === 0) done.callback(undefined);
        return undefined;
      });
    }
    return done;
  }

  toString(): string {
    return `RedisBlockingPool(${describeRedisAddress(this.address)})`;
  }

  private acquire(): Deferred<RedisConnection> {
    if (this.closedFlag) return fail(new RedisNotConnected('closed', `the blocking pool for Redis at ${describeRedisAddress(this.address)} is closed`));
    const idle = this.idle.pop();
    if (idle !== undefined) {
      this.busy.add(idle);
      return succeed(idle);
    }
    if (this.size < this.maxConnections) {
      const c = new RedisConnection(this.reactor, this.address, this.options);
      this.busy.add(c);
      return succeed(c);
    }
    const w: Waiter = {
      deferred: new Deferred<RedisConnection>(() => {
        const i = this.waiting.indexOf(w);
        if (i !== -1) this.waiting.splice(i, 1);
      }),
    };
    this.waiting.push(w);
    return w.deferred;
  }

  private release(c: RedisConnection): void {
    if (!this.busy.delete(c)) return; // discarded or closed meanwhile
    if (this.closedFlag || c.state === 'closed') return;
    const next = this.waiting.shift();
    if (next !== undefined) {
      this.busy.add(c);
      next.deferred.callback(c);
    } else if (this.idle.length < this.maxIdle) this.idle.push(c);
    else void c.close();
  }

  private discard(c: RedisConnection): void {
    this.busy.delete(c);
    void c.close();
    // A slot opened: a waiting command gets a new connection.
    const next = this.waiting.shift();
    if (next !== undefined && !this.closedFlag) {
      const fresh = new RedisConnection(this.reactor, this.address, this.options);
      this.busy.add(fresh);
      next.deferred.callback(fresh);
    }
  }
}

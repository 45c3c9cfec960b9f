/**
 * The connection pool of the HTTP client (Twisted's `HTTPConnectionPool`):
 * persistent connections kept per host, reused, expired, and a request
 * retried once when a reused connection turns out to be stale.
 *
 * @module
 */
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { CancelledError } from '../../defer/errors.js';
import type { Failure } from '../../defer/failure.js';
import { gatherResults } from '../../defer/list.js';
import { Logger } from '../../logger/index.js';
import { RequestNotSent, ResponseNeverReceived, WrapperError } from './errors.js';
import { isReplayableBody, type ClientRequest, type HTTP11ClientProtocol, type IHTTPConnection } from './protocol.js';
import type { Response } from './response.js';

const log = new Logger('spindle.http.client');

/** Options of {@link HTTPConnectionPool}. */
export interface HTTPConnectionPoolOptions {
  /**
   * Keep connections open after a response, for reuse (default true). A
   * non-persistent pool sends `Connection: close` with every request (the
   * Agent adds it) and never caches.
   */
  persistent?: boolean;
  /**
   * Idle connections cached per host (scheme + host + port), default 2.
   * When one more becomes idle, the oldest idle one is closed. This bounds
   * *idle* connections only, as in Twisted: any number may be busy at once,
   * unless {@link maxConnectionsPerHost} says otherwise.
   */
  maxPersistentPerHost?: number;
  /** Seconds an idle connection is kept before it is closed (default 240). */
  cachedConnectionTimeout?: number;
  /**
   * Retry an idempotent request once on a new connection when a cached
   * connection fails before any byte of the response arrived (default true).
   */
  retryAutomatically?: boolean;
  /**
   * Connections open or opening per host, busy or idle (default Infinity:
   * no cap). At the cap, further requests wait in a FIFO queue for a
   * connection to become idle or to close; cancelling a waiting request
   * removes it from the queue. A retry after a stale connection does not
   * wait (the stale connection is gone).
   */
  maxConnectionsPerHost?: number;
}

/** Methods whose requests may be sent twice (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * Whether `request`, which failed with `failure` on a connection reused
 * from the pool, may be retried on a new connection: an idempotent method,
 * a body that can be sent again (none, bytes or a string), and a failure
 * showing that the server never started answering (`RequestNotSent`,
 * `ResponseNeverReceived`) — never after a cancel or a timeout, never for
 * POST or PATCH.
 */
export function shouldRetry(request: ClientRequest, failure: Failure): boolean {
  if (!IDEMPOTENT.has(request.method)) return false;
  if (!isReplayableBody(request.body)) return false;
  if (failure.check(RequestNotSent, ResponseNeverReceived) === null) return false;
  const e = failure.value;
  if (e instanceof WrapperError && e.reasons.some((r) => r.check(CancelledError) !== null)) return false;
  return true;
}

/** A cached connection and the timer that expires it. */
interface IdleEntry {
  readonly connection: HTTP11ClientProtocol;
  readonly timer: IDelayedCall;
}

/**
 * Persistent HTTP connections, shared by the Agents given this pool.
 *
 * - Keyed by scheme + host + port (`'http://example.com:80'`).
 * - `getConnection` reuses the most recently idle connection of the key
 *   (LIFO: the one least likely to have been closed by the server), or
 *   opens one with the `connect` function given.
 * - A connection whose response completed and may be reused is cached;
 *   beyond `maxPersistentPerHost` idle ones, the oldest is closed; each is
 *   closed after `cachedConnectionTimeout` seconds idle (a DelayedCall on
 *   the reactor's clock, cancelled when it is reused). A cached connection
 *   the server closes leaves the cache at once.
 * - Not cached: responses with `Connection: close`, HTTP/1.0 without
 *   keep-alive, close-delimited bodies, bodies not received completely
 *   (aborted, failed), requests whose body was not sent completely.
 * - Stale connections: see {@link shouldRetry}.
 *
 * @example
 * ```ts
 * const pool = new HTTPConnectionPool(reactor, { maxPersistentPerHost: 4, cachedConnectionTimeout: 60 });
 * const agent = new Agent(reactor, { pool });
 * // ...
 * await pool.closeCachedConnections();
 * ```
 */
export class HTTPConnectionPool {
  readonly persistent: boolean;
  readonly maxPersistentPerHost: number;
  readonly cachedConnectionTimeout: number;
  readonly retryAutomatically: boolean;
  readonly maxConnectionsPerHost: number;

  private readonly idle = new Map<string, IdleEntry[]>();
  private readonly open = new Map<string, number>();
  private readonly waiting = new Map<string, Deferred<void>[]>();

  /**
   * @param reactor - the clock for the idle timeouts.
   * @throws RangeError for a negative limit or timeout.
   */
  constructor(
    readonly reactor: IReactorTime,
    options: HTTPConnectionPoolOptions = {},
  ) {
    this.persistent = options.persistent ?? true;
    this.maxPersistentPerHost = options.maxPersistentPerHost ?? 2;
    this.cachedConnectionTimeout = options.cachedConnectionTimeout ?? 240;
    this.retryAutomatically = options.retryAutomatically ?? true;
    this.maxConnectionsPerHost = options.maxConnectionsPerHost ?? Infinity;
    if (!(this.maxPersistentPerHost >= 0)) throw new RangeError('maxPersistentPerHost must be >= 0');
    if (!(this.cachedConnectionTimeout >= 0)) throw new RangeError('cachedConnectionTimeout must be >= 0');
    if (!(this.maxConnectionsPerHost >= 1)) throw new RangeError('maxConnectionsPerHost must be >= 1');
  }

  /**
   * A connection for `key`: a cached one (wrapped so that a stale one is
   * retried, when `retryAutomatically`), a new one made by `connect`, or —
   * at `maxConnectionsPerHost` — the next one free, in request order.
   * Cancelling it stops waiting, or connecting.
   */
  getConnection(key: string, connect: () => Deferred<HTTP11ClientProtocol>): Deferred<IHTTPConnection> {
    return this.acquire(key, connect, false);
  }

  /**
   * Close every idle connection (busy ones are left alone, and are cached
   * again when they become idle). Fires once they are all closed.
   */
  closeCachedConnections(): Deferred<void> {
    const closing: Deferred<void>[] = [];
    for (const list of this.idle.values()) {
      for (const entry of list) {
        if (entry.timer.active()) entry.timer.cancel();
        closing.push(entry.connection.close());
      }
    }
    this.idle.clear();
    return gatherResults(closing).addCallback((): void => undefined);
  }

  /** Idle connections cached for `key` (all keys when omitted). */
  idleCount(key?: string): number {
    if (key !== undefined) return this.idle.get(key)?.length ?? 0;
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** Connections open or opening for `key`, busy or idle. */
  openCount(key: string): number {
    return this.open.get(key) ?? 0;
  }

  /** Requests waiting for a connection to `key` (see `maxConnectionsPerHost`). */
  waitingCount(key: string): number {
    return this.waiting.get(key)?.length ?? 0;
  }

  // ------------------------------------------------------------ internals

  private acquire(key: string, connect: () => Deferred<HTTP11ClientProtocol>, front: boolean): Deferred<IHTTPConnection> {
    const cached = this.takeIdle(key);
    if (cached !== null) return succeed<IHTTPConnection>(this.wrap(key, cached, connect));
    if (this.openCount(key) < this.maxConnectionsPerHost) return this.newConnection(key, connect);
    let queue = this.waiting.get(key);
    if (queue === undefined) this.waiting.set(key, (queue = []));
    const slot: Deferred<void> = new Deferred<void>(() => {
      const i = queue.indexOf(slot);
      if (i !== -1) queue.splice(i, 1);
    });
    if (front) queue.unshift(slot);
    else queue.push(slot);
    // Woken when a connection becomes idle or one closes; try again then (first in line).
    return slot.addCallback(() => this.acquire(key, connect, true));
  }

  private takeIdle(key: string): HTTP11ClientProtocol | null {
    const list = this.idle.get(key);
    if (list === undefined) return null;
    while (list.length > 0) {
      const entry = list.pop()!;
      if (entry.timer.active()) entry.timer.cancel();
      if (entry.connection.isQuiescent) return entry.connection;
    }
    return null;
  }

  private wrap(key: string, connection: HTTP11ClientProtocol, connect: () => Deferred<HTTP11ClientProtocol>): IHTTPConnection {
    if (!this.retryAutomatically) return connection;
    return new RetryingConnection(connection, () => this.newConnection(key, connect));
  }

  private newConnection(key: string, connect: () => Deferred<HTTP11ClientProtocol>): Deferred<IHTTPConnection> {
    this.open.set(key, this.openCount(key) + 1);
    let attempt: Deferred<HTTP11ClientProtocol>;
    try {
      attempt = connect();
    } catch (e) {
      this.connectionGone(key, null);
      return fail(e);
    }
    return attempt.addCallbacks<IHTTPConnection, never>(
      (protocol) => {
        protocol.quiescentCallback = (p) => this.putConnection(key, p);
        protocol.whenClosed().addCallback(() => this.connectionGone(key, protocol));
        return protocol;
      },
      (failure) => {
        this.connectionGone(key, null);
        return failure;
      },
    );
  }

  /** A connection of `key` closed (or failed to open): free its slot and serve a waiting request. */
  private connectionGone(key: string, protocol: HTTP11ClientProtocol | null): void {
    const n = this.openCount(key) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
    if (protocol !== null) this.removeIdle(key, protocol);
    this.wakeOne(key);
  }

  /** A response completed and `connection` may carry another request. */
  private putConnection(key: string, connection: HTTP11ClientProtocol): void {
    if (!this.persistent || !connection.isQuiescent) {
      void connection.close();
      return;
    }
    let list = this.idle.get(key);
    if (list === undefined) this.idle.set(key, (list = []));
    const timer = this.reactor.callLater(this.cachedConnectionTimeout, () => {
      this.removeIdle(key, connection);
      void connection.close();
    });
    list.push({ connection, timer });
    // A request waiting for this host takes it at once (from the top of the stack).
    this.wakeOne(key);
    while (list.length > this.maxPersistentPerHost) {
      const oldest = list.shift()!;
      if (oldest.timer.active()) oldest.timer.cancel();
      void oldest.connection.close();
    }
    if (list.length === 0 && this.idle.get(key) === list) this.idle.delete(key);
  }

  private removeIdle(key: string, connection: HTTP11ClientProtocol): void {
    const list = this.idle.get(key);
    if (list === undefined) return;
    const i = list.findIndex((e) => e.connection === connection);
    if (i === -1) return;
    const [entry] = list.splice(i, 1);
    if (entry!.timer.active()) entry!.timer.cancel();
    if (list.length === 0) this.idle.delete(key);
  }

  private wakeOne(key: string): void {
    const queue = this.waiting.get(key);
    if (queue === undefined) return;
    const slot = queue.shift();
    if (queue.length === 0) this.waiting.delete(key);
    slot?.callback(undefined);
  }
}

/**
 * A cached connection that retries a request once on a new connection
 * when it turns out stale (Twisted's `_RetryingHTTP11ClientProtocol`).
 */
class RetryingConnection implements IHTTPConnection {
  constructor(
    readonly connection: HTTP11ClientProtocol,
    private readonly newConnection: () => Deferred<IHTTPConnection>,
  ) {}

  request(request: ClientRequest): Deferred<Response> {
    return this.connection.request(request).addErrback((failure: Failure) => {
      if (!shouldRetry(request, failure)) return failure;
      log.debug('Retrying {method} {url} on a new connection: the cached one was closed ({reason})', {
        method: request.method,
        url: request.url,
        reason: failure.value.name,
      });
      return this.newConnection().addCallback((connection) => connection.request(request));
    });
  }
}

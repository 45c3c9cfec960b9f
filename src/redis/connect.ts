/**
 * Connecting to Redis: URLs (`redis://`, `rediss://`, `unix://`), and {@link RedisConnection},
 * a connection that survives the loss of its socket — it reconnects with backoff
 * (`ReconnectingClientFactory`), re-authenticates and re-selects its database, and queues
 * the commands given while it is away (bounded).
 *
 * @module
 */
import type { IDelayedCall, IReactorTime } from '../defer/clock.js';
import { Deferred, fail, succeed } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import { ReconnectingClientFactory, type ReconnectingOptions } from '../protocol/factory.js';
import type { Address } from '../reactor/address.js';
import type { IConnector, IReactorSSL, IReactorTCP, IReactorUNIX, TLSOptions } from '../reactor/interfaces.js';
import type { ResourceTracker } from '../reactor/resources.js';
import {
  RedisClient,
  RedisNotConnected,
  RedisTimeoutError,
  commandName,
  evalWithFallback,
  type CommandOptions,
  type RedisClientOptions,
  type RedisScript,
} from './client.js';
import type { RespArg, RespParserOptions, RespValue } from './resp.js';

const log = new Logger('spindle.redis');

// ------------------------------------------------------------------ addresses

/** Where a Redis server is and how to log in: what {@link parseRedisUrl} makes of a URL. */
export interface RedisAddress {
  /** `'tcp'` (`redis://`), `'tls'` (`rediss://`) or `'unix'` (`unix://`). */
  readonly transport: 'tcp' | 'tls' | 'unix';
  /** Host name or IP (brackets of an IPv6 literal removed); `''` for UNIX sockets. */
  readonly host: string;
  /** TCP port (default 6379); 0 for UNIX sockets. */
  readonly port: number;
  /** The socket path of a `unix://` URL, else `''`. */
  readonly path: string;
  /** ACL user name (`AUTH user pass`), or null for the default user. */
  readonly username: string | null;
  /** Password (`AUTH`), or null for none. */
  readonly password: string | null;
  /** Database number (`SELECT`), 0 by default. */
  readonly db: number;
}

const DEFAULT_PORT = 6379;

function decodePart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new TypeError(`a Redis URL has a badly percent-encoded part: ${JSON.stringify(s)}`);
  }
}

function parseDb(text: string | null, url: string): number {
  if (text === null || text === '') return 0;
  if (!/^\d{1,9}$/.test(text)) throw new TypeError(`a Redis URL's database must be a number, not ${JSON.stringify(text)} (in ${redact(url)})`);
  return Number(text);
}

function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, userinfo: string) => `//${userinfo.includes(':') ? `${userinfo.split(':')[0]}:***` : userinfo}@`);
}

/**
 * Parse a Redis URL, the forms redis-py and channels_redis accept:
 *
 * - `redis://[[user]:password@]host[:port][/db]` — TCP (port 6379 by default);
 * - `rediss://…` — the same over TLS;
 * - `unix://[[user]:password@]/path/to/redis.sock[?db=N]` — a UNIX socket.
 *
 * User and password are percent-decoded; `?db=N` and `?password=…` work in every form (the
 * path's `/db` wins over `?db`). IPv6 literals go in brackets: `redis://[::1]:6380`.
 *
 * @throws TypeError for another scheme, a missing host or path, a bad port or database.
 *
 * @example
 * ```ts
 * parseRedisUrl('redis://:s3cret@cache.internal:6380/2');
 * // { transport: 'tcp', host: 'cache.internal', port: 6380, path: '', username: null, password: 's3cret', db: 2 }
 * ```
 */
export function parseRedisUrl(url: string): RedisAddress {
  if (typeof url !== 'string') throw new TypeError(`a Redis URL is a string, not ${typeof url}`);
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(url.trim());
  if (m === null) throw new TypeError(`not a Redis URL (redis://, rediss:// or unix://): ${JSON.stringify(redact(url))}`);
  const scheme = m[1]!.toLowerCase();
  let rest = m[2]!;
  let query = '';
  const q = rest.indexOf('?');
  if (q !== -1) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const params = new URLSearchParams(query);
  let username: string | null = null;
  let password: string | null = params.get('password');
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const user = decodePart(colon === -1 ? userinfo : userinfo.slice(0, colon));
    if (colon !== -1) password = decodePart(userinfo.slice(colon + 1));
    // redis-py: `redis://secret@host` is a password with no user, as is `:secret`.
    else if (user !== '') password = user;
    if (colon !== -1 && user !== '') username = user;
  }
  if (scheme === 'unix') {
    const path = decodePart(rest);
    if (!path.startsWith('/')) throw new TypeError(`a unix:// Redis URL needs an absolute socket path: ${JSON.stringify(redact(url))}`);
    return { transport: 'unix', host: '', port: 0, path, username, password, db: parseDb(params.get('db'), url) };
  }
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new TypeError(`unsupported Redis URL scheme ${JSON.stringify(scheme)}: use redis://, rediss:// or unix://`);
  }
  const slash = rest.indexOf('/');
  const hostPort = slash === -1 ? rest : rest.slice(0, slash);
  const dbPath = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/$/, '');
  let host: string;
  let portText = '';
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close === -1) throw new TypeError(`a Redis URL has an unclosed IPv6 literal: ${JSON.stringify(redact(url))}`);
    host = hostPort.slice(1, close);
    const after = hostPort.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new TypeError(`a Redis URL has junk after its IPv6 literal: ${JSON.stringify(redact(url))}`);
    portText = after.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(':');
    host = colon === -1 ? hostPort : hostPort.slice(0, colon);
    portText = colon === -1 ? '' : hostPort.slice(colon + 1);
  }
  host = decodePart(host);
  if (host === '') throw new TypeError(`a Redis URL needs a host: ${JSON.stringify(redact(url))}`);
  let port = DEFAULT_PORT;
  if (portText !== '') {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new TypeError(`a Redis URL has a bad port ${JSON.stringify(portText)}`);
    }
    port = Number(portText);
  }
  const db = parseDb(dbPath !== '' ? dbPath : params.get('db'), url);
  return { transport: scheme === 'rediss' ? 'tls' : 'tcp', host, port, path: '', username, password, db };
}

/** The address as a URL without its password, for messages and logs. */
export function describeRedisAddress(a: RedisAddress): string {
  const user = a.username !== null || a.password !== null ? `${a.username ?? ''}${a.password !== null ? ':***' : ''}@` : '';
  if (a.transport === 'unix') return `unix://${user}${a.path}${a.db !== 0 ? `?db=${a.db}` : ''}`;
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.transport === 'tls' ? 'rediss' : 'redis'}://${user}${host}:${a.port}${a.db !== 0 ? `/${a.db}` : ''}`;
}

/** The commands that log in and pick the database on a fresh connection. */
export function handshakeFor(a: RedisAddress): RespArg[][] {
  const commands: RespArg[][] = [];
  if (a.password !== null) commands.push(a.username !== null ? ['AUTH', a.username, a.password] : ['AUTH', a.password]);
  if (a.db !== 0) commands.push(['SELECT', a.db]);
  return commands;
}

// ------------------------------------------------------------------ options

/** What a Redis connection needs of a reactor: time, and TCP, TLS and UNIX connections. */
export type RedisReactor = IReactorTime & IReactorTCP & IReactorSSL & IReactorUNIX;

/** Options of {@link connectRedis} (and of the pub/sub and blocking connections). */
export interface RedisConnectionOptions {
  /**
   * Seconds to wait for each reply (counted from the call, time queued included); `null`
   * (the default) waits forever. See {@link RedisTimeoutError}.
   */
  commandTimeout?: number | null;
  /** Seconds a connection attempt may take. Default 10. */
  connectTimeout?: number;
  /**
   * Commands that may wait for a connection; more fail at once with {@link RedisNotConnected}
   * (`'queue-full'`). Default 10,000.
   */
  maxQueued?: number;
  /**
   * Backoff between attempts (`ReconnectingClientFactory`'s parameters and its injectable
   * `clock`/`random`). Defaults here: `initialDelay` 0.1 s, `factor` 2, `maxDelay` 10 s, Twisted's
   * jitter, retrying forever, on the reactor's clock.
   */
  reconnect?: ReconnectingOptions;
  /** TLS settings for `rediss://` (CA, client certificate…); `servername` defaults to the host. */
  tls?: TLSOptions;
  /** Overrides the URL's user name. */
  username?: string | null;
  /** Overrides the URL's password. */
  password?: string | null;
  /** Overrides the URL's database. */
  db?: number;
  /** Limits of the reply parser. */
  parser?: RespParserOptions;
}

/** Where a reconnecting connection stands. */
export type RedisConnectionState =
  /** A connection attempt (or its AUTH/SELECT) is in progress. */
  | 'connecting'
  /** Connected and ready: commands are written at once. */
  | 'connected'
  /** Disconnected; the next attempt is scheduled. */
  | 'waiting'
  /** Disconnected, and the backoff gave up (`maxRetries`): commands fail at once. */
  | 'stopped'
  /** `close()` or `quit()` was called. */
  | 'closed';

const RECONNECT_DEFAULTS: ReconnectingOptions = { initialDelay: 0.1, factor: 2, maxDelay: 10 };

/** What the factory reports to its connection. */
interface FactoryOwner<P> {
  build(): P;
  started(): void;
  ended(reason: unknown): void;
}

class RedisClientFactory<P extends RedisClient> extends ReconnectingClientFactory<P> {
  constructor(
    private readonly owner: FactoryOwner<P>,
    options: ReconnectingOptions,
  ) {
    super(options);
    this.noisy = false;
  }

  override buildProtocol(_addr: Address): P {
    return this.owner.build();
  }

  override startedConnecting(_connector: IConnector): void {
    this.owner.started();
  }

  override clientConnectionFailed(connector: IConnector, reason: Failure): void {
    super.clientConnectionFailed(connector, reason);
    this.owner.ended(reason.value);
  }

  override clientConnectionLost(connector: IConnector, reason: Failure): void {
    super.clientConnectionLost(connector, reason);
    this.owner.ended(reason.value);
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function describe(e: unknown): string {
  const error = asError(e);
  return error.message !== '' ? error.message : error.name;
}

/**
 * The reconnecting machinery shared by {@link RedisConnection}, `RedisPubSub` and the blocking
 * pool's connections: one client protocol at a time, rebuilt after every loss with backoff.
 * Subclasses react to the three events: a client is ready, a connection attempt failed
 * (never became ready), a ready client was lost.
 */
export abstract class ReconnectingRedis<P extends RedisClient> {
  /** Where this connects. */
  readonly address: RedisAddress;
  /** The client while connected and ready, else null. */
  protected client: P | null = null;
  protected readonly reactor: RedisReactor;
  protected readonly options: RedisConnectionOptions;
  private stateValue: RedisConnectionState = 'connecting';
  private readonly factory: RedisClientFactory<P>;
  private connector: IConnector | null = null;
  private lastErrorValue: Error | null = null;
  private failuresInARow = 0;
  private everConnected = false;
  private connectWaiters: Deferred<void>[] = [];
  private closeWaiters: Deferred<void>[] = [];
  private untrack: (() => void) | null = null;
  /** The client being connected (not ready yet), with whether its failure was reported. */
  private attempt: { client: P; reported: boolean } | null = null;

  constructor(reactor: RedisReactor, url: string | RedisAddress, options: RedisConnectionOptions = {}) {
    const parsed = typeof url === 'string' ? parseRedisUrl(url) : url;
    this.address = {
      ...parsed,
      username: options.username !== undefined ? options.username : parsed.username,
      password: options.password !== undefined ? options.password : parsed.password,
      db: options.db ?? parsed.db,
    };
    this.reactor = reactor;
    this.options = options;
    this.factory = new RedisClientFactory(
      { build: () => this.buildClient(), started: () => this.attemptStarted(), ended: (reason) => this.attemptEnded(reason) },
      { ...RECONNECT_DEFAULTS, clock: reactor, ...options.reconnect },
    );
    const tracker = reactor as Partial<ResourceTracker>;
    if (typeof tracker.track === 'function') this.untrack = tracker.track({ shutdown: () => this.close() });
  }

  /** Where the connection stands (see {@link RedisConnectionState}). */
  get state(): RedisConnectionState {
    return this.stateValue;
  }

  /** Whether commands are written at once (connected and past AUTH/SELECT). */
  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  /** The last connection error (attempt failed or connection lost), or null. */
  get lastError(): Error | null {
    return this.lastErrorValue;
  }

  /** The address as a URL without its password. */
  toString(): string {
    return describeRedisAddress(this.address);
  }

  /**
   * Fires once connected and ready (at once if it is); fails with {@link RedisNotConnected}
   * (`'closed'`) if the connection is closed first. Failed attempts do not fail it: it waits
   * for the one that succeeds.
   */
  whenConnected(): Deferred<void> {
    if (this.stateValue === 'connected') return succeed<void>(undefined);
    if (this.stateValue === 'closed') return fail(this.closedError());
    const d = new Deferred<void>(() => {
      const i = this.connectWaiters.indexOf(d);
      if (i !== -1) this.connectWaiters.splice(i, 1);
    });
    this.connectWaiters.push(d);
    return d;
  }

  /**
   * Close now and stop reconnecting: commands in flight fail with `RedisConnectionLost`,
   * queued ones and later ones with {@link RedisNotConnected} (`'closed'`). Fires once the
   * socket is closed. Closing twice is harmless.
   */
  close(): Deferred<void> {
    if (this.stateValue !== 'closed') {
      this.enterClosed();
      const client = this.client ?? this.attempt?.client ?? null;
      this.connector?.disconnect();
      if (client?.transport != null && !client.transport.disconnecting) client.transport.loseConnection();
    }
    return this.whenSocketClosed();
  }

  /** Build the protocol of a new connection (for the factory). */
  private buildClient(): P {
    const client = this.makeClient({
      clock: this.reactor,
      // The default timeout covers the handshake (AUTH/SELECT); commands pass their own.
      commandTimeout: this.options.connectTimeout ?? 10,
      handshake: handshakeFor(this.address),
      ...(this.options.parser !== undefined ? { parser: this.options.parser } : {}),
    });
    const attempt = { client, reported: false };
    this.attempt = attempt;
    client.onReady = () => this.clientBecameReady(attempt);
    client.onHandshakeFailed = (error) => this.attemptFailed(attempt, error);
    client.onConnectionLost = (reason) => this.clientConnectionLost(attempt, reason);
    return client;
  }

  /** The factory started an attempt. */
  private attemptStarted(): void {
    if (this.stateValue !== 'closed') this.setState('connecting');
  }

  /** The connector reports the end of an attempt or of a connection (after scheduling a retry). */
  private attemptEnded(reason: unknown): void {
    const attempt = this.attempt;
    if (attempt !== null && !attempt.reported && this.client !== attempt.client) {
      // Refused, timed out, or lost during the handshake.
      this.attemptFailed(attempt, asError(reason));
    } else if (this.attempt === null) {
      this.attemptFailed(null, asError(reason));
    }
    this.attempt = null;
    if (this.stateValue === 'closed') {
      this.settleClose();
      return;
    }
    this.setState(this.factory.pendingRetry !== null ? 'waiting' : 'stopped');
    if (this.stateValue === 'stopped') this.gaveUp();
  }

  /** Seconds until the next attempt, or null when none is scheduled. */
  get nextAttemptIn(): number | null {
    const retry = this.factory.pendingRetry;
    return retry === null ? null : Math.max(0, retry.getTime() - this.reactor.seconds());
  }

  /** Start the first connection attempt. Subclasses call it at the end of their constructor. */
  protected start(): void {
    const a = this.address;
    const timeout = this.options.connectTimeout ?? 10;
    if (a.transport === 'unix') this.connector = this.reactor.connectUNIX(a.path, this.factory, { timeout });
    else if (a.transport === 'tls') {
      const servername = /^[\d.]+$|:/.test(a.host) ? undefined : a.host;
      const tls: TLSOptions = { ...(servername !== undefined ? { servername } : {}), ...this.options.tls };
      this.connector = this.reactor.connectSSL(a.host, a.port, this.factory, tls, { timeout });
    } else this.connector = this.reactor.connectTCP(a.host, a.port, this.factory, { timeout });
  }

  /** The protocol for one connection (a `RedisClient` or a subclass). */
  protected abstract makeClient(options: RedisClientOptions): P;
  /** A client is connected and ready (logged in, database selected). */
  protected abstract clientReady(client: P): void;
  /** A connection attempt ended without a ready client (`error` says why). */
  protected abstract connectFailed(error: Error): void;
  /** The ready client's connection ended (its commands in flight already failed). */
  protected abstract clientLost(reason: Failure): void;
  /** `close()` was called. */
  protected abstract closed(): void;

  /** The error of a command refused because the connection is closed. */
  protected closedError(): RedisNotConnected {
    return new RedisNotConnected('closed', `the connection to Redis at ${String(this)} is closed`);
  }

  /** The error of a command that waited for an attempt that failed. */
  protected unreachableError(error: Error): RedisNotConnected {
    const next = this.nextAttemptIn;
    const retry = next !== null ? `retrying in ${Math.round(next * 1000) / 1000} s` : this.state === 'stopped' ? 'gave up retrying' : 'retrying';
    return new RedisNotConnected('unreachable', `Redis at ${String(this)} is unreachable (${describe(error)}); ${retry}`, { cause: error });
  }

  private clientBecameReady(attempt: { client: P; reported: boolean }): void {
    if (this.stateValue === 'closed') {
      attempt.client.close();
      return;
    }
    this.factory.resetDelay();
    this.client = attempt.client;
    this.everConnected = true;
    if (this.failuresInARow > 0) log.info('Connected to Redis at {address}', { address: String(this) });
    this.failuresInARow = 0;
    this.setState('connected');
    this.clientReady(attempt.client);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const d of waiters) d.callback(undefined);
  }

  private attemptFailed(attempt: { client: P; reported: boolean } | null, error: Error): void {
    if (attempt !== null) {
      if (attempt.reported) return;
      attempt.reported = true;
    }
    this.lastErrorValue = error;
    if (this.stateValue === 'closed') return;
    this.failuresInARow++;
    if (this.failuresInARow === 1) {
      log.warn(`${this.everConnected ? 'Cannot reconnect to' : 'Cannot connect to'} Redis at {address}: {error}; retrying`, {
        address: String(this),
        error: describe(error),
      });
    } else log.debug('Redis at {address} still unreachable: {error}', { address: String(this), error: describe(error) });
    this.connectFailed(error);
  }

  private clientConnectionLost(attempt: { client: P; reported: boolean }, reason: Failure): void {
    if (this.client !== attempt.client) return; // never ready: the connector reports it as a failed attempt
    attempt.reported = true;
    this.client = null;
    this.lastErrorValue = asError(reason.value);
    if (this.stateValue === 'closed') return;
    this.failuresInARow = 1;
    log.warn('Lost the connection to Redis at {address}: {error}; reconnecting', { address: String(this), error: describe(reason.value) });
    this.setState('waiting');
    this.clientLost(reason);
  }

  private gaveUp(): void {
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    const error = new RedisNotConnected('unreachable', `gave up connecting to Redis at ${String(this)}`, { cause: this.lastErrorValue ?? undefined });
    for (const d of waiters) d.errback(error);
  }

  private enterClosed(): void {
    this.setState('closed');
    this.factory.stopTrying();
    this.untrack?.();
    this.untrack = null;
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const d of waiters) d.errback(this.closedError());
    this.closed();
  }

  private whenSocketClosed(): Deferred<void> {
    const open = this.client ?? this.attempt?.client ?? null;
    if (open === null || this.connector === null || this.connector.state === 'disconnected') return succeed<void>(undefined);
    const d = new Deferred<void>();
    this.closeWaiters.push(d);
    return d;
  }

  private settleClose(): void {
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const d of waiters) d.callback(undefined);
  }

  private setState(state: RedisConnectionState): void {
    this.stateValue = state;
  }
}

// ------------------------------------------------------------------ the command connection

interface Queued {
  readonly args: ReadonlyArray<RespArg>;
  readonly name: string;
  /** Absolute deadline on the reactor clock, or null. */
  readonly deadline: number | null;
  readonly outer: Deferred<RespValue>;
  timer: IDelayedCall | null;
  /** The client's Deferred once sent. */
  inner: Deferred<RespValue> | null;
}

/**
 * A Redis connection that reconnects by itself: `command(...)` whenever you like, and it is
 * written at once when connected, or queued until the next connection is ready.
 *
 * What happens to commands across a disconnection (a deliberate choice: queue, bounded):
 * - **in flight** when the socket dies: they fail with `RedisConnectionLost` (whether Redis ran
 *   them is unknown — retry only what is safe to repeat);
 * - **given while disconnected**: they wait for the next connection attempt, and are written
 *   once it is ready (after `AUTH`/`SELECT`), in order. If that attempt fails (Redis
 *   unreachable, refused, AUTH rejected), they fail with {@link RedisNotConnected}
 *   (`'unreachable'`, the connection error as `cause`, the delay before the next retry in the
 *   message): a command never waits through more than one failed attempt. At most `maxQueued`
 *   wait; more fail at once (`'queue-full'`). `commandTimeout` counts the time queued.
 * - after `close()`: they fail with {@link RedisNotConnected} (`'closed'`).
 *
 * Redis unreachable at start: the first commands fail with a clear `'unreachable'` error, and
 * attempts go on in the background (backoff 0.2 s, 0.4 s … 10 s, jittered) until one succeeds.
 * The reactor's shutdown closes the connection.
 *
 * @example
 * ```ts
 * const redis = connectRedis(reactor, 'redis://:secret@127.0.0.1:6379/1', { commandTimeout: 5 });
 * await redis.command('SET', 'greeting', 'hello');
 * const value = await redis.command('GET', 'greeting'); // <Buffer 68 65 6c 6c 6f>
 * await redis.quit();
 * ```
 */
export class RedisConnection extends ReconnectingRedis<RedisClient> {
  private queue: Queued[] = [];
  private readonly maxQueued: number;
  private readonly commandTimeout: number | null;

  /** Prefer {@link connectRedis}. Connects at once. */
  constructor(reactor: RedisReactor, url: string | RedisAddress, options: RedisConnectionOptions = {}) {
    super(reactor, url, options);
    this.maxQueued = options.maxQueued ?? 10_000;
    this.commandTimeout = options.commandTimeout ?? null;
    if (this.commandTimeout !== null && !(this.commandTimeout > 0)) throw new RangeError(`commandTimeout must be a positive number of seconds or null, not ${String(this.commandTimeout)}`);
    this.start();
  }

  /** Commands waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Send a command; fires with its reply ({@link RespValue}: bulk strings are `Buffer`s).
   * Fails with `RedisReplyError` (an error reply), `RedisTimeoutError`, `RedisConnectionLost`
   * (in flight when the connection died) or {@link RedisNotConnected} (never sent).
   * @throws TypeError / RangeError for an argument RESP cannot carry.
   */
  command(...args: RespArg[]): Deferred<RespValue> {
    return this.execute(args);
  }

  /**
   * {@link RedisConnection.command} with options (a timeout of its own).
   * @throws TypeError / RangeError for an argument RESP cannot carry.
   */
  execute(args: ReadonlyArray<RespArg>, options: CommandOptions = {}): Deferred<RespValue> {
    const timeout = options.timeout === undefined ? this.commandTimeout : options.timeout;
    if (this.client !== null && this.queue.length === 0) return this.client.execute(args, { timeout });
    return this.enqueue(args, timeout);
  }

  /**
   * Several commands in one write when connected (one Deferred each, in order); queued together
   * otherwise.
   * @throws TypeError / RangeError for an argument RESP cannot carry.
   */
  pipeline(commands: ReadonlyArray<ReadonlyArray<RespArg>>, options: CommandOptions = {}): Deferred<RespValue>[] {
    const timeout = options.timeout === undefined ? this.commandTimeout : options.timeout;
    if (this.client !== null && this.queue.length === 0) return this.client.pipeline(commands, { timeout });
    return commands.map((args) => this.enqueue(args, timeout));
  }

  /** Run a Lua script: `EVALSHA`, falling back to `EVAL` on `NOSCRIPT`. See `RedisClient.evalScript`. */
  evalScript(script: RedisScript | string, keys: ReadonlyArray<RespArg>, args: ReadonlyArray<RespArg> = [], options?: CommandOptions): Deferred<RespValue> {
    return evalWithFallback((a, o) => this.execute(a, o), script, keys, args, options);
  }

  /**
   * Close gracefully: commands already given are sent and answered (if connected), then `QUIT`
   * (waiting at most `connectTimeout` for its answer); no reconnection. Fires once the socket is
   * closed.
   */
  quit(): Deferred<void> {
    if (this.state === 'closed') return this.close();
    const client = this.client;
    if (client === null) return this.close();
    const done = new Deferred<void>();
    // Bounded: a server that never answers does not hold the close forever.
    client.execute(['QUIT'], { timeout: this.options.connectTimeout ?? 10 }).addBoth(() => {
      this.close().chainDeferred(done);
      return undefined;
    });
    return done;
  }

  protected makeClient(options: RedisClientOptions): RedisClient {
    return new RedisClient(options);
  }

  protected clientReady(client: RedisClient): void {
    // In order: everything queued, each with what is left of its timeout.
    const queue = this.queue;
    this.queue = [];
    const now = this.reactor.seconds();
    for (const q of queue) {
      if (q.timer !== null && q.timer.active()) q.timer.cancel();
      q.timer = null;
      const timeout = q.deadline === null ? null : Math.max(q.deadline - now, 0.001);
      const inner = client.execute(q.args, { timeout });
      q.inner = inner;
      inner.addCallbacks(
        (v) => {
          if (!q.outer.called) q.outer.callback(v);
          return undefined;
        },
        (f: Failure) => {
          if (!q.outer.called) q.outer.errback(f);
          return undefined;
        },
      );
    }
  }

  protected connectFailed(error: Error): void {
    this.failQueue(this.unreachableError(error));
  }

  protected clientLost(_reason: Failure): void {
    // In-flight commands were failed by the client; queued ones wait for the next attempt.
  }

  protected closed(): void {
    this.failQueue(this.closedError());
  }

  private enqueue(args: ReadonlyArray<RespArg>, timeout: number | null): Deferred<RespValue> {
    const name = commandName(args);
    if (this.state === 'closed') return fail(this.closedError());
    if (this.state === 'stopped') return fail(this.unreachableError(this.lastError ?? new Error('not connected')));
    if (this.queue.length >= this.maxQueued) {
      return fail(new RedisNotConnected('queue-full', `${this.maxQueued} commands are already waiting for the connection to Redis at ${String(this)}`));
    }
    const q: Queued = {
      args: [...args],
      name,
      deadline: timeout === null ? null : this.reactor.seconds() + timeout,
      outer: new Deferred<RespValue>(() => {
        if (q.timer !== null && q.timer.active()) q.timer.cancel();
        if (q.inner !== null) q.inner.cancel();
        else this.removeQueued(q);
      }),
      timer: null,
      inner: null,
    };
    if (timeout !== null) {
      q.timer = this.reactor.callLater(timeout, () => {
        q.timer = null;
        this.removeQueued(q);
        q.outer.errback(new RedisTimeoutError(timeout, name));
      });
    }
    this.queue.push(q);
    return q.outer;
  }

  private removeQueued(q: Queued): void {
    const i = this.queue.indexOf(q);
    if (i !== -1) this.queue.splice(i, 1);
  }

  private failQueue(error: Error): void {
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) {
      if (q.timer !== null && q.timer.active()) q.timer.cancel();
      q.timer = null;
      q.outer.errback(error);
    }
  }
}

/**
 * Connect to the Redis at `url` (see {@link parseRedisUrl}) and keep connected: a
 * {@link RedisConnection}, usable at once (commands queue until the first connection is
 * ready). Connecting starts immediately; a failure is reported to the commands waiting, and
 * retried in the background.
 *
 * @throws TypeError for a bad URL.
 *
 * @example
 * ```ts
 * const redis = connectRedis(reactor, 'unix:///run/redis/redis.sock?db=3');
 * const n = await redis.command('INCR', 'visits');
 * ```
 */
export function connectRedis(reactor: RedisReactor, url: string | RedisAddress, options: RedisConnectionOptions = {}): RedisConnection {
  return new RedisConnection(reactor, url, options);
}

/**
 * The Redis client protocol: one connection, many commands in flight (pipelining), replies
 * matched to commands in order. A thin protocol over the sans-IO {@link RespParser} and
 * {@link encodeCommand}: no sockets of its own, time from the clock it is given. The
 * reconnecting connection of `connect.ts` builds one of these per TCP connection.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { getDefaultClock, type IDelayedCall, type IReactorTime } from '../defer/clock.js';
import { Deferred, fail, succeed } from '../defer/deferred.js';
import { TimeoutError } from '../defer/errors.js';
import { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import { ConnectionLost } from '../reactor/errors.js';
import type { IProtocol, ITransport } from '../reactor/interfaces.js';
import { RespParser, encodeCommand, encodeCommands, type RespArg, type RespParserOptions, type RespValue } from './resp.js';
import { RedisReplyError, RespProtocolError } from './respErrors.js';

const log = new Logger('spindle.redis');

// ------------------------------------------------------------------ errors

/**
 * The connection went away while a command was in flight: it was written, but no reply came.
 * Whether Redis ran it is unknown (a write may have happened). `cause` is why the connection
 * ended (a `ConnectionLost`/`ConnectionDone`, a {@link RespProtocolError}, a timeout…).
 * A `ConnectionLost`, so `failure.check(ConnectionLost)` matches it too.
 */
export class RedisConnectionLost extends ConnectionLost {
  override name = 'RedisConnectionLost';
  constructor(
    /** The command whose reply never came (its name, e.g. `'ZADD'`). */
    readonly command: string,
    /** How many commands were in flight when the connection ended. */
    readonly inFlight: number,
    cause: unknown,
  ) {
    super(
      `the connection to Redis was lost before the reply to ${command} arrived ` +
        `(${inFlight} command${inFlight === 1 ? '' : 's'} in flight; whether they ran is unknown): ${describeError(cause)}`,
      { cause },
    );
  }
}

/** Why a {@link RedisNotConnected} command was never sent. */
export type RedisNotConnectedReason =
  /** The connection attempt it waited for failed (Redis unreachable, refused, AUTH failed…). */
  | 'unreachable'
  /** Too many commands were already waiting for a connection. */
  | 'queue-full'
  /** The client or connection was closed (by `close()`, or before it ever connected). */
  | 'closed';

/**
 * A command that was never written: there was no usable connection (see `reason`). Nothing
 * happened on the Redis side, so it is safe to retry. `cause` carries the connection error
 * when there is one.
 */
export class RedisNotConnected extends Error {
  override name = 'RedisNotConnected';
  constructor(
    /** Why nothing was sent. */
    readonly reason: RedisNotConnectedReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A command got no reply within its timeout. The client then aborts the connection (a reply
 * that late means the link or the server is stuck, and later replies could never be matched
 * again): the other commands in flight fail with {@link RedisConnectionLost}.
 */
export class RedisTimeoutError extends TimeoutError {
  override name = 'RedisTimeoutError';
  constructor(
    timeout: number,
    /** The command that timed out (its name). */
    readonly command: string,
  ) {
    super(timeout, `Redis command ${command}`);
  }
}

function describeError(e: unknown): string {
  if (e instanceof Failure) return describeError(e.value);
  if (e instanceof Error) return e.message !== '' ? `${e.name}: ${e.message}` : e.name;
  return String(e);
}

/** The command's name, for messages: its first argument, upper-cased. */
export function commandName(args: ReadonlyArray<RespArg>): string {
  const first = args[0];
  if (typeof first === 'string') return first.toUpperCase();
  if (first instanceof Uint8Array) return Buffer.from(first.buffer, first.byteOffset, Math.min(first.byteLength, 32)).toString('latin1').toUpperCase();
  return String(first);
}

// ------------------------------------------------------------------ scripts

/**
 * A Lua script with its SHA-1 (computed once, with node:crypto), for `EVALSHA`.
 *
 * @example
 * ```ts
 * const incrBy = new RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
 * await client.evalScript(incrBy, ['counter'], [5]);
 * ```
 */
export class RedisScript {
  /** The lowercase hex SHA-1 of the source: the name Redis caches the script under. */
  readonly sha1: string;
  constructor(
    /** The Lua source, exactly as sent with `EVAL`. */
    readonly source: string,
  ) {
    this.sha1 = createHash('sha1').update(source, 'utf8').digest('hex');
  }
}

// A small cache so that a script given as a string is hashed once.
const scriptCache = new Map<string, RedisScript>();

function asScript(script: RedisScript | string): RedisScript {
  if (script instanceof RedisScript) return script;
  let s = scriptCache.get(script);
  if (s === undefined) {
    if (scriptCache.size >= 256) scriptCache.clear();
    s = new RedisScript(script);
    scriptCache.set(script, s);
  }
  return s;
}

/** Options of one command. */
export interface CommandOptions {
  /**
   * Seconds to wait for the reply; `null` waits forever. Default: the client's
   * `commandTimeout`. Give blocking commands (BZPOPMIN …) their own block time plus a margin.
   */
  timeout?: number | null;
}

/**
 * Run `script` with `EVALSHA`, falling back to `EVAL` (which also loads it) when Redis answers
 * `NOSCRIPT` (a fresh or restarted server, or `SCRIPT FLUSH`). `execute` sends one command.
 * Errors of the script itself, and every other failure, pass through unchanged.
 */
export function evalWithFallback(
  execute: (args: RespArg[], options?: CommandOptions) => Deferred<RespValue>,
  script: RedisScript | string,
  keys: ReadonlyArray<RespArg>,
  args: ReadonlyArray<RespArg>,
  options?: CommandOptions,
): Deferred<RespValue> {
  const s = asScript(script);
  const tail: RespArg[] = [keys.length, ...keys, ...args];
  return execute(['EVALSHA', s.sha1, ...tail], options).addErrback((f: Failure) => {
    if (f.value instanceof RedisReplyError && f.value.code === 'NOSCRIPT') return execute(['EVAL', s.source, ...tail], options);
    return f;
  });
}

// ------------------------------------------------------------------ the protocol

/** Options of a {@link RedisClient}. */
export interface RedisClientOptions {
  /** Where command timeouts are scheduled. Default: the global reactor (looked up when first needed). */
  clock?: IReactorTime | null;
  /**
   * Default seconds to wait for each reply; `null` (the default) waits forever. A command that
   * times out fails with {@link RedisTimeoutError} and the connection is aborted.
   */
  commandTimeout?: number | null;
  /**
   * Commands sent first on every connection, before anything else: `AUTH`, `SELECT`… Each must
   * answer without an error, or the client reports a failed handshake and drops the connection.
   * Default none.
   */
  handshake?: ReadonlyArray<ReadonlyArray<RespArg>>;
  /** Limits of the reply parser (bulk size, nesting…); see {@link RespParserOptions}. */
  parser?: RespParserOptions;
}

/** A command written and waiting for its reply (what a subclass matching replies sees). */
export interface PendingCommand {
  /** The command's name, for messages. */
  readonly name: string;
  /** null once abandoned (cancelled or timed out): its reply is read and dropped. */
  deferred: Deferred<RespValue> | null;
  timer: IDelayedCall | null;
}

/**
 * A Redis connection as a protocol: commands are written at once, however many are in flight,
 * and each reply fires the Deferred of the oldest command still waiting (Redis answers in
 * order), synchronously, as soon as its last byte is parsed.
 *
 * - `command('SET', 'k', 'v')` → `Deferred<RespValue>`: the reply (`'OK'`, a `Buffer`, a number,
 *   an array, `null`…; see {@link RespValue}). An error reply fails it with
 *   {@link RedisReplyError} (`code` `'WRONGTYPE'`, `'NOSCRIPT'`…); the connection stays usable.
 * - Timeouts (`commandTimeout`, or per command with {@link RedisClient.execute}) use the clock:
 *   the command fails with {@link RedisTimeoutError} and the connection is aborted.
 * - Cancelling a command's Deferred abandons it: it fails with `CancelledError` and its reply,
 *   when it comes, is dropped (a written command cannot be taken back).
 * - When the connection ends, every command in flight fails with {@link RedisConnectionLost};
 *   later commands fail with {@link RedisNotConnected} (`'closed'`).
 * - Bytes that are not RESP (or break a parser limit) abort the connection: the commands in
 *   flight fail with {@link RedisConnectionLost} whose `cause` is the {@link RespProtocolError}.
 * - `handshake` commands (`AUTH`, `SELECT`) go first; {@link RedisClient.whenReady} fires once
 *   they all succeeded.
 *
 * Plain RESP2: replies are never decoded to strings (bulk strings are `Buffer`s).
 *
 * @example
 * ```ts
 * const client = await clientFromString(reactor, 'tcp:127.0.0.1:6379').connect(Factory.forProtocol(RedisClient));
 * const [a, b] = await Promise.all([client.command('INCR', 'n'), client.command('GET', 'n')]);
 * ```
 */
export class RedisClient implements IProtocol {
  /** The transport while connected (and after, for inspection); null before. */
  transport: ITransport | null = null;
  /** Called once the handshake commands all succeeded (at once when there are none). */
  onReady: ((client: RedisClient) => void) | null = null;
  /** Called when a handshake command fails, just before the client drops the connection. */
  onHandshakeFailed: ((error: Error) => void) | null = null;
  /** Called when the connection is gone (after the commands in flight were failed). */
  onConnectionLost: ((reason: Failure) => void) | null = null;

  protected readonly parser: RespParser;
  private readonly pending: PendingCommand[] = [];
  private pendingHead = 0;
  private readonly handshake: ReadonlyArray<ReadonlyArray<RespArg>>;
  private readonly commandTimeout: number | null;
  private clockInstance: IReactorTime | null;
  private handshakeLeft = 0;
  private isReady = false;
  private lost: Failure | null = null;
  private readyWaiters: Deferred<void>[] = [];

  constructor(options: RedisClientOptions = {}) {
    this.parser = new RespParser(options.parser);
    this.handshake = options.handshake ?? [];
    this.commandTimeout = checkTimeout(options.commandTimeout ?? null);
    this.clockInstance = options.clock ?? null;
  }

  /** True from `connectionMade` until the connection is lost or closing. */
  get connected(): boolean {
    return this.transport !== null && this.lost === null && !this.transport.disconnecting;
  }

  /** True once the handshake succeeded (and while connected). */
  get ready(): boolean {
    return this.isReady && this.connected;
  }

  /** Commands written and not answered yet (abandoned ones included: their replies are still due). */
  get inFlight(): number {
    return this.pending.length - this.pendingHead;
  }

  /**
   * Fires once the handshake succeeded (at once if it has); fails with the handshake's
   * {@link RedisReplyError}, or {@link RedisNotConnected} when the connection ends first.
   */
  whenReady(): Deferred<void> {
    if (this.isReady && this.lost === null) return succeed<void>(undefined);
    if (this.lost !== null) return fail(new RedisNotConnected('closed', 'the Redis connection is closed', { cause: this.lost.value }));
    const d = new Deferred<void>();
    this.readyWaiters.push(d);
    return d;
  }

  makeConnection(transport: ITransport): void {
    this.transport = transport;
    this.connectionMade();
  }

  /** Writes the handshake commands, or is ready at once without any. */
  connectionMade(): void {
    if (this.handshake.length === 0) {
      this.becomeReady();
      return;
    }
    this.handshakeLeft = this.handshake.length;
    let failed = false;
    for (const args of this.handshake) {
      this.execute([...args]).addCallbacks(
        () => {
          if (--this.handshakeLeft === 0 && !failed) this.becomeReady();
          return undefined;
        },
        (f: Failure) => {
          // A lost connection is reported by connectionLost, not as a failed handshake.
          if (failed || this.lost !== null) return undefined;
          failed = true;
          this.handshakeFailed(f.value instanceof Error ? f.value : new Error(String(f.value)));
          return undefined;
        },
      );
    }
  }

  /** Parses replies and fires the Deferreds of their commands, in order. */
  dataReceived(data: Uint8Array): void {
    if (this.lost !== null) return;
    this.parser.receiveData(data);
    for (;;) {
      let event;
      try {
        event = this.parser.nextEvent();
      } catch (e) {
        this.protocolFailure(e instanceof RespProtocolError ? e : new Error(String(e)));
        return;
      }
      if (event === null) return;
      if (event.type === 'push') this.pushReceived(event.value);
      else this.replyReceived(event.value);
      // A callback may have closed the connection: the rest of the input has no owner.
      if (this.lost !== null) return;
    }
  }

  /** Fails every command in flight with {@link RedisConnectionLost}; then `onConnectionLost`. */
  connectionLost(reason: Failure): void {
    if (this.lost !== null) return;
    this.lost = reason;
    const left = this.pending.slice(this.pendingHead);
    this.pending.length = 0;
    this.pendingHead = 0;
    for (const p of left) {
      if (p.timer !== null && p.timer.active()) p.timer.cancel();
      const d = p.deferred;
      p.deferred = null;
      d?.errback(new RedisConnectionLost(p.name, left.length, reason.value));
    }
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const d of waiters) d.errback(new RedisNotConnected('closed', `the connection to Redis ended before it was ready: ${describeError(reason)}`, { cause: reason.value }));
    this.onConnectionLost?.(reason);
  }

  /**
   * Send one command; fires with its reply. Fails with {@link RedisReplyError} (an error reply),
   * {@link RedisTimeoutError}, {@link RedisConnectionLost} (in flight when the connection
   * ended) or {@link RedisNotConnected} (`'closed'`: not connected, nothing was sent).
   *
   * @throws TypeError / RangeError for an argument RESP cannot carry (see `encodeCommand`).
   */
  command(...args: RespArg[]): Deferred<RespValue> {
    return this.execute(args);
  }

  /**
   * {@link RedisClient.command} with options: a timeout of its own (a blocking command's).
   * @throws TypeError / RangeError for an argument RESP cannot carry.
   */
  execute(args: ReadonlyArray<RespArg>, options: CommandOptions = {}): Deferred<RespValue> {
    const bytes = encodeCommand(args);
    const unusable = this.unusable();
    if (unusable !== null) return fail(unusable);
    const d = this.enqueue(commandName(args), options.timeout);
    this.transport!.write(bytes);
    return d;
  }

  /**
   * Several commands written with one `write` (one packet where possible); one Deferred per
   * command, in order, each failing on its own.
   * @throws TypeError / RangeError for an argument RESP cannot carry (nothing is sent then).
   */
  pipeline(commands: ReadonlyArray<ReadonlyArray<RespArg>>, options: CommandOptions = {}): Deferred<RespValue>[] {
    if (commands.length === 0) return [];
    const bytes = encodeCommands(commands);
    const unusable = this.unusable();
    if (unusable !== null) return commands.map(() => fail(unusable));
    const ds = commands.map((args) => this.enqueue(commandName(args), options.timeout));
    this.transport!.write(bytes);
    return ds;
  }

  /**
   * Run a Lua script: `EVALSHA` with its SHA-1, then `EVAL` if Redis does not know it yet
   * (`NOSCRIPT`). `keys` become `KEYS`, `args` `ARGV`. A script error fails with
   * {@link RedisReplyError}.
   */
  evalScript(script: RedisScript | string, keys: ReadonlyArray<RespArg>, args: ReadonlyArray<RespArg> = [], options?: CommandOptions): Deferred<RespValue> {
    return evalWithFallback((a, o) => this.execute(a, o), script, keys, args, options);
  }

  /** Close the connection once what was written is sent; replies still due are lost (their commands fail). */
  close(): void {
    this.transport?.loseConnection();
  }

  /**
   * One reply arrived. The default matches it to the oldest command in flight; a subscriber
   * (pub/sub) overrides this.
   */
  protected replyReceived(value: RespValue): void {
    const p = this.shiftPending();
    if (p === undefined) {
      this.protocolFailure(new Error('Redis sent a reply with no command waiting for it'));
      return;
    }
    this.settle(p, value);
  }

  /** A RESP3 push (out-of-band data). Ignored by default: this client speaks RESP2. */
  protected pushReceived(value: RespValue[]): void {
    log.debug('Ignored a RESP3 push from Redis ({kind})', { kind: String(value[0]) });
  }

  /** Fire `p` with `value` (an error reply fails it). */
  protected settle(p: PendingCommand, value: RespValue): void {
    if (p.timer !== null && p.timer.active()) p.timer.cancel();
    const d = p.deferred;
    p.deferred = null;
    if (d === null) return;
    if (value instanceof RedisReplyError) d.errback(value);
    else d.callback(value);
  }

  /** The oldest command in flight, taken off the queue. */
  protected shiftPending(): PendingCommand | undefined {
    if (this.pendingHead >= this.pending.length) return undefined;
    const p = this.pending[this.pendingHead]!;
    this.pending[this.pendingHead] = undefined as unknown as PendingCommand;
    this.pendingHead++;
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    } else if (this.pendingHead >= 1024 && this.pendingHead * 2 >= this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    return p;
  }

  /** The oldest command in flight, left on the queue. */
  protected peekPending(): PendingCommand | undefined {
    return this.pending[this.pendingHead];
  }

  /** Queue a command awaiting its reply (the caller writes it). */
  protected enqueue(name: string, timeout: number | null | undefined): Deferred<RespValue> {
    const p: PendingCommand = { name, deferred: null, timer: null };
    const d = new Deferred<RespValue>(() => {
      // Abandoned: the reply still comes, and is dropped.
      if (p.timer !== null && p.timer.active()) p.timer.cancel();
      p.deferred = null;
    });
    p.deferred = d;
    const seconds = timeout === undefined ? this.commandTimeout : checkTimeout(timeout);
    if (seconds !== null) p.timer = this.clock.callLater(seconds, () => this.timedOut(p, seconds));
    this.pending.push(p);
    return d;
  }

  /** Why no command can be sent now, or null when one can. */
  protected unusable(): Error | null {
    if (this.transport === null) return new RedisNotConnected('closed', 'the Redis client is not connected yet');
    if (this.lost !== null) return new RedisNotConnected('closed', `the Redis connection is closed: ${describeError(this.lost)}`, { cause: this.lost.value });
    if (this.transport.disconnecting) return new RedisNotConnected('closed', 'the Redis connection is closing');
    return null;
  }

  /** The stream cannot be trusted any more: drop the connection (commands in flight fail). */
  protected protocolFailure(error: Error): void {
    log.failure('Dropping the Redis connection: {error}', error, { error: error.message }, 'error');
    this.abortWith(error);
  }

  private get clock(): IReactorTime {
    return (this.clockInstance ??= getDefaultClock());
  }

  private timedOut(p: PendingCommand, seconds: number): void {
    const d = p.deferred;
    p.deferred = null;
    p.timer = null;
    if (d === null) return;
    const error = new RedisTimeoutError(seconds, p.name);
    d.errback(error);
    this.abortWith(error);
  }

  /**
   * Abort the transport; commands in flight fail with `cause` (the transport reports the loss
   * later, or never for a test double: fail them now).
   */
  private abortWith(cause: Error): void {
    const transport = this.transport;
    this.connectionLost(new Failure(cause));
    transport?.abortConnection();
  }

  private becomeReady(): void {
    this.isReady = true;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    this.onReady?.(this);
    for (const d of waiters) d.callback(undefined);
  }

  private handshakeFailed(error: Error): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    this.onHandshakeFailed?.(error);
    for (const d of waiters) d.errback(error);
    this.transport?.loseConnection();
  }
}

function checkTimeout(t: number | null): number | null {
  if (t === null) return null;
  if (typeof t !== 'number' || !(t > 0) || !Number.isFinite(t)) throw new RangeError(`a command timeout is a positive number of seconds or null, not ${String(t)}`);
  return t;
}

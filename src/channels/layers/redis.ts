/**
 * RedisChannelLayer: channels and groups in Redis, in channels_redis 4.x's format — the same
 * keys, the same msgpack members, the same commands and Lua — so Django Channels processes and
 * Spindle processes on one Redis share channels and groups.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { FirstError } from '../../defer/errors.js';
import { Failure } from '../../defer/failure.js';
import { gatherResults } from '../../defer/list.js';
import { Logger } from '../../logger/index.js';
import { reactor as globalReactor } from '../../reactor/default.js';
import type { ResourceTracker } from '../../reactor/resources.js';
import { RedisBlockingPool, type PoppedMember } from '../../redis/blocking.js';
import { RedisNotConnected } from '../../redis/client.js';
import {
  connectRedis,
  parseRedisUrl,
  type RedisAddress,
  type RedisConnection,
  type RedisConnectionOptions,
  type RedisReactor,
} from '../../redis/connect.js';
import { decode, encode } from '../../redis/msgpack/index.js';
import type { RespArg, RespValue } from '../../redis/resp.js';
import type { ChannelLayer, Message } from '../types.js';
import { ChannelFull, ChannelLayerClosed } from './errors.js';
import { fernetForSecrets, type MultiFernet } from './fernet.js';
import {
  CapacityTable,
  MAX_NAME_LENGTH,
  nonLocalName,
  requireValidChannelName,
  requireValidGroupName,
  requireValidMessage,
  type ChannelCapacities,
} from './names.js';
import { GROUP_SEND_SCRIPT, INFLIGHT_SUFFIX, RESTORE_SCRIPT } from './redisScripts.js';
import { consistentHash } from './sharding.js';

const log = new Logger('spindle.channels.redis');

/** The random bytes before each member: channels_redis's `random_prefix_length`. */
const RANDOM_PREFIX = 12;

/**
 * A Redis host, as channels_redis's `hosts` accepts it: a URL (`redis://…`, `rediss://…`,
 * `unix://…`), `{ address: url }`, or a `[host, port]` pair.
 */
export type RedisHost = string | { readonly address: string } | readonly [host: string, port: number];

/** Options of {@link RedisChannelLayer}. Names and defaults are channels_redis's. */
export interface RedisChannelLayerOptions {
  /** The Redis servers, in shard order. Default `['redis://localhost:6379']`. */
  hosts?: ReadonlyArray<RedisHost>;
  /** Prefix of every key. Default `'asgi'`. */
  prefix?: string;
  /** Messages a channel key holds before `send` fails with `ChannelFull`. Default 100. */
  capacity?: number;
  /** Capacities by channel name pattern (first match wins), overriding `capacity`. */
  channelCapacity?: ChannelCapacities;
  /** Seconds a message lives unreceived. Default 60. */
  expiry?: number;
  /** Seconds a group membership lasts after its last `groupAdd`. Default 86,400. */
  groupExpiry?: number;
  /**
   * Secrets for Fernet encryption of messages, as channels_redis's `symmetric_encryption_keys`:
   * the first encrypts, all decrypt (rotation). Default none (plain msgpack).
   */
  symmetricEncryptionKeys?: ReadonlyArray<string | Uint8Array>;
  /** The reactor connections are made with. Default: the global reactor. */
  reactor?: RedisReactor;
  /**
   * Where message and membership times (scores, expiry) come from. Default: `reactor`. Tests
   * pass a `Clock` to move them by hand while the connections stay real.
   */
  clock?: IReactorTime;
  /** Options of every connection (timeouts, TLS, reconnect backoff). */
  connection?: RedisConnectionOptions;
  /** Seconds each `BZPOPMIN` blocks before it is repeated (channels_redis's `brpop_timeout`). Default 5. */
  blockTimeout?: number;
  /** Most blocking connections per host (one per channel key being received). Default 64. */
  maxBlockingConnections?: number;
}

/** Counters of what the layer dropped or refused, since it was made. */
export interface RedisChannelLayerStats {
  /** `send` calls refused with `ChannelFull`. */
  sendsRefused: number;
  /** Channel keys `groupSend` skipped because they were full (as the group script counts them). */
  groupSendsSkipped: number;
  /** Messages dropped unreceived after `expiry` (trimmed before a send, or found expired on receive). */
  messagesExpired: number;
  /** Group memberships dropped after `groupExpiry`. */
  groupMembershipsExpired: number;
  /** Messages for process-local channels dropped because their buffer was full (oldest first). */
  bufferOverflows: number;
  /** Members that could not be decoded (not msgpack, wrong key…), dropped. */
  messagesUndecodable: number;
}

interface Buffered {
  readonly message: Message;
  readonly score: number;
}

function positive(what: string, n: unknown): number {
  if (typeof n !== 'number' || !(n > 0) || !Number.isFinite(n)) throw new RangeError(`${what} must be a positive number of seconds, not ${String(n)}`);
  return n;
}

function hostAddress(host: RedisHost): RedisAddress {
  if (typeof host === 'string') return parseRedisUrl(host);
  if (Array.isArray(host)) {
    const [h, p] = host as readonly [string, number];
    return parseRedisUrl(`redis://${h.includes(':') ? `[${h}]` : h}:${p}`);
  }
  if (typeof host === 'object' && host !== null && typeof (host as { address?: unknown }).address === 'string') {
    return parseRedisUrl((host as { address: string }).address);
  }
  throw new TypeError('a Redis host is a URL, { address: url } or a [host, port] pair');
}

/** The next double after `x` (for scores that must increase). */
function nextUp(x: number): number {
  if (x < 0) return -nextDown(-x);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

function nextDown(x: number): number {
  if (x <= 0) return -nextUp(-x);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) - 1n);
  return view.getFloat64(0);
}

/** gatherResults that fails with the first input's own error (not a FirstError). */
function all(ds: Deferred<RespValue>[]): Deferred<RespValue[]> {
  return gatherResults(ds, { consumeErrors: true }).addErrback<never>((f: Failure) => (f.value instanceof FirstError ? f.value.subFailure : f));
}

/** `prefix` as a SCAN MATCH pattern that matches it literally, followed by anything. */
function scanPattern(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
}

const CHANNEL_KEY = encode('__asgi_channel__');

/**
 * The msgpack of `{ ...message, __asgi_channel__: target }` from the msgpack of `message` (a
 * map): one more entry appended, the header recounted — the bytes Python's msgpack writes for
 * the dict channels_redis builds, without encoding the message again for every key.
 */
function withChannel(packed: Buffer, target: string | string[]): Buffer {
  const first = packed[0]!;
  let count: number;
  let headerLength: number;
  if (first >= 0x80 && first <= 0x8f) {
    count = first & 0x0f;
    headerLength = 1;
  } else if (first === 0xde) {
    count = packed.readUInt16BE(1);
    headerLength = 3;
  } else if (first === 0xdf) {
    count = packed.readUInt32BE(1);
    headerLength = 5;
  } else throw new TypeError('a channel layer message is a msgpack map');
  const n = count + 1;
  let header: Buffer;
  if (n < 16) header = Buffer.of(0x80 | n);
  else if (n < 0x10000) {
    header = Buffer.allocUnsafe(3);
    header[0] = 0xde;
    header.writeUInt16BE(n, 1);
  } else {
    header = Buffer.allocUnsafe(5);
    header[0] = 0xdf;
    header.writeUInt32BE(n, 1);
  }
  return Buffer.concat([header, packed.subarray(headerLength), CHANNEL_KEY, encode(target)]);
}

// Random member prefixes come from a pool refilled 4 KiB at a time (one call per 341 members).
let randomPool = Buffer.alloc(0);
let randomAt = 0;

/** 12 random bytes (a view into the pool: copy before the next call). */
function randomPrefix(): Buffer {
  if (randomAt + RANDOM_PREFIX > randomPool.length) {
    randomPool = randomBytes(4092);
    randomAt = 0;
  }
  const out = randomPool.subarray(randomAt, randomAt + RANDOM_PREFIX);
  randomAt += RANDOM_PREFIX;
  return out;
}

function isClosing(error: unknown): boolean {
  return error instanceof RedisNotConnected && error.reason === 'closed';
}

/**
 * A channel layer on Redis, wire-compatible with channels_redis 4.x's `RedisChannelLayer`.
 *
 * Storage (channels.md §3): a channel is the sorted set `prefix + name` — for a process-local
 * name (`specific.abc!xyz`) the non-local part only (`asgispecific.abc!`), shared by every
 * channel of that process; a group is the sorted set `prefix + ':group:' + group` of channel
 * names scored by join time. Members are 12 random bytes followed by the msgpack of the message
 * (Fernet-encrypted with `symmetricEncryptionKeys`), with `__asgi_channel__` naming the target
 * (a string for `send`, a list for `groupSend`); scores are send times in float seconds.
 *
 * - `send`: `ZREMRANGEBYSCORE` (expired), `ZCOUNT` (at capacity → {@link ChannelFull}), `ZADD`,
 *   `EXPIRE` — written two by two, the count checked before the add.
 * - `groupSend`: `ZREMRANGEBYSCORE`/`ZRANGE` on the group, then per host a `MULTI` trim and the
 *   group Lua script (full channels skipped and counted, never `ChannelFull`).
 * - `receive`: per channel key, one loop per host: the restore script, `BZPOPMIN key 5` on a
 *   blocking connection of its own, `ZADD key$inflight`, delivery, `ZPOPMIN key$inflight`.
 *   Messages of process-local channels are routed by `__asgi_channel__` to per-channel buffers,
 *   **bounded** by the channel's capacity (the oldest is dropped and counted in
 *   `stats.bufferOverflows`) and expiring after `expiry`. Messages older than `expiry` are
 *   dropped on receive too (channels_redis leaves that as a TODO).
 * - Sharding: `consistentHash` over the hosts exactly as channels_redis, by group name for
 *   groups and by non-local name for process-local channels — **including on `send`**, where
 *   channels_redis hashes the full name (its issue #221: with several hosts it misroutes about
 *   half of its direct sends). To still receive those misrouted messages from Python senders,
 *   a process-local key is polled on every host. Normal channels are sent round-robin over the
 *   hosts and polled on all of them, as channels_redis does.
 * - `flush` deletes `prefix*` keys with `SCAN` (never `KEYS`, which blocks Redis), on every host.
 * - Connection trouble: commands in flight fail with `RedisConnectionLost`; receive loops retry
 *   once Redis is back (the in-flight backup puts back what a lost pop took); see `connectRedis`.
 *
 * @example
 * ```ts
 * const layer = new RedisChannelLayer({ hosts: ['redis://127.0.0.1:6379'] });
 * const me = await layer.newChannel();            // specific.<hex>!<hex>
 * await layer.groupAdd('chat', me);
 * await layer.groupSend('chat', { type: 'chat.message', text: 'hi' });
 * await layer.receive(me);                         // { type: 'chat.message', text: 'hi' }
 * await layer.close();
 * ```
 */
export class RedisChannelLayer implements ChannelLayer {
  readonly extensions: string[] = ['groups', 'flush'];
  /** Key prefix. */
  readonly prefix: string;
  /** Default capacity of a channel key. */
  readonly capacity: number;
  /** Seconds a message lives unreceived. */
  readonly expiry: number;
  /** Seconds a membership lives after its last `groupAdd`. */
  readonly groupExpiry: number;
  /** The hosts, in shard order. */
  readonly hosts: readonly RedisAddress[];
  /** This layer's part of the process-local names it makes (`specific.<clientPrefix>!…`). */
  readonly clientPrefix: string = randomBytes(16).toString('hex');
  /** What was dropped or refused (never reset). */
  readonly stats: RedisChannelLayerStats = {
    sendsRefused: 0,
    groupSendsSkipped: 0,
    messagesExpired: 0,
    groupMembershipsExpired: 0,
    bufferOverflows: 0,
    messagesUndecodable: 0,
  };

  private readonly reactor: RedisReactor;
  private readonly clock: IReactorTime;
  private readonly capacities: CapacityTable;
  private readonly crypter: MultiFernet | null;
  private readonly connectionOptions: RedisConnectionOptions;
  private readonly blockTimeout: number;
  private readonly maxBlocking: number;
  private readonly connections: (RedisConnection | null)[];
  private readonly pools: (RedisBlockingPool | null)[];
  private readonly receivers = new Map<string, KeyReceiver>();
  private readonly buffers = new Map<string, Buffered[]>();
  private sweeper: IDelayedCall | null = null;
  private sendIndex = 0;
  private lastScore = -Infinity;
  private closed = false;
  /** Unregisters from the reactor's shutdown (which closes the layer). */
  private untrack: (() => void) | null = null;
  private readonly context: ReceiveContext;

  /** @throws RangeError / TypeError for bad options (capacity, expiry, hosts, keys). */
  constructor(options: RedisChannelLayerOptions = {}) {
    const hosts = options.hosts ?? ['redis://localhost:6379'];
    if (typeof hosts === 'string') throw new TypeError('hosts must be a list of Redis hosts, even if there is only one');
    if (hosts.length === 0) throw new TypeError('hosts must name at least one Redis host');
    this.hosts = hosts.map(hostAddress);
    this.prefix = options.prefix ?? 'asgi';
    if (typeof this.prefix !== 'string') throw new TypeError('prefix must be a string');
    this.capacity = options.capacity ?? 100;
    this.capacities = new CapacityTable(this.capacity, options.channelCapacity);
    this.expiry = positive('expiry', options.expiry ?? 60);
    this.groupExpiry = positive('groupExpiry', options.groupExpiry ?? 86_400);
    this.blockTimeout = positive('blockTimeout', options.blockTimeout ?? 5);
    this.maxBlocking = options.maxBlockingConnections ?? 64;
    this.crypter = options.symmetricEncryptionKeys !== undefined && options.symmetricEncryptionKeys.length > 0 ? fernetForSecrets(options.symmetricEncryptionKeys) : null;
    this.reactor = options.reactor ?? globalReactor;
    this.clock = options.clock ?? this.reactor;
    this.connectionOptions = options.connection ?? {};
    this.connections = this.hosts.map(() => null);
    this.pools = this.hosts.map(() => null);
    this.context = this.makeContext();
    const tracker = this.reactor as Partial<ResourceTracker>;
    if (typeof tracker.track === 'function') this.untrack = tracker.track({ shutdown: () => this.close() });
  }

  /** The capacity of channel `name` (from `channelCapacity`, else `capacity`). */
  capacityOf(name: string): number {
    return this.capacities.capacityOf(name);
  }

  /** The Redis key holding channel `name`'s messages (`prefix + non-local part`). */
  channelKey(name: string): string {
    return this.prefix + nonLocalName(name);
  }

  /** The Redis key of group `group` (`prefix + ':group:' + group`). */
  groupKey(group: string): string {
    return `${this.prefix}:group:${group}`;
  }

  /**
   * Queue `message` on `channel`. Fails with {@link ChannelFull} at capacity,
   * {@link ChannelLayerClosed} after `close()`, or the connection's error.
   * @throws TypeError for an invalid channel name, or a message that is not a plain object with
   *   a `type` string, or that msgpack cannot encode.
   */
  send(channel: string, message: Message): Deferred<void> {
    requireValidChannelName(channel);
    requireValidMessage(message);
    const local = channel.includes('!');
    const now = this.clock.seconds();
    const packed = local ? withChannel(this.pack(message), channel) : this.pack(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    const nonLocal = nonLocalName(channel);
    const key = this.prefix + nonLocal;
    const index = local ? this.hash(nonLocal) : this.nextSendIndex();
    const conn = this.connection(index);
    const expiry = this.expireSeconds();
    const [trimmed, count] = conn.pipeline([
      ['ZREMRANGEBYSCORE', key, 0, Math.trunc(now) - Math.trunc(this.expiry)],
      ['ZCOUNT', key, '-inf', '+inf'],
    ]);
    trimmed!.addCallbacks(
      (n) => void (this.stats.messagesExpired += Number(n)),
      () => undefined, // the count reports the same failure
    );
    return count!.addCallback((n) => {
      const capacity = this.capacities.capacityOf(channel);
      if (Number(n) >= capacity) {
        this.stats.sendsRefused++;
        throw new ChannelFull(channel, capacity);
      }
      const member = this.seal(packed, now);
      return all(conn.pipeline([['ZADD', key, this.score(now), member], ['EXPIRE', key, expiry]])).addCallback((): void => undefined);
    });
  }

  /**
   * The next message on `channel`, waiting for one if needed. Cancelling leaves the line without
   * losing a message. Fails with {@link ChannelLayerClosed} when the layer is (or gets) closed.
   * @throws TypeError for an invalid channel name.
   */
  receive(channel: string): Deferred<Message> {
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const buffered = this.takeBuffered(channel);
    if (buffered !== null) return succeed(buffered);
    const key = this.channelKey(channel);
    let receiver = this.receivers.get(key);
    if (receiver === undefined) {
      receiver = new KeyReceiver(this.context, key, channel.includes('!'));
      this.receivers.set(key, receiver);
    }
    return receiver.wait(channel);
  }

  /**
   * A new process-local channel name, `<prefix>.<clientPrefix>!<32 hex>` (channels_redis's shape).
   * @throws TypeError when `prefix` is not a valid group-style name or makes the name too long.
   */
  newChannel(prefix = 'specific'): Deferred<string> {
    requireValidGroupName(prefix, 'newChannel prefix');
    const name = `${prefix}.${this.clientPrefix}!${randomBytes(16).toString('hex')}`;
    if (name.length >= MAX_NAME_LENGTH) throw new TypeError(`newChannel prefix is too long: the name must be shorter than ${MAX_NAME_LENGTH} characters`);
    if (this.closed) return fail(new ChannelLayerClosed());
    return succeed(name);
  }

  /**
   * Add `channel` to `group` (or refresh it): `ZADD` with the join time, `EXPIRE groupExpiry`.
   * @throws TypeError for an invalid group or channel name.
   */
  groupAdd(group: string, channel: string): Deferred<void> {
    requireValidGroupName(group);
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const key = this.groupKey(group);
    const conn = this.connection(this.hash(group));
    return all(conn.pipeline([['ZADD', key, this.clock.seconds(), channel], ['EXPIRE', key, Math.max(1, Math.trunc(this.groupExpiry))]])).addCallback((): void => undefined);
  }

  /**
   * Remove `channel` from `group` (`ZREM`); nothing happens when it is not a member.
   * @throws TypeError for an invalid group or channel name.
   */
  groupDiscard(group: string, channel: string): Deferred<void> {
    requireValidGroupName(group);
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    return this.connection(this.hash(group)).command('ZREM', this.groupKey(group), channel).addCallback((): void => undefined);
  }

  /**
   * Send `message` to every member of `group`: one member per channel key (process-local
   * channels of one process share it, with every target in `__asgi_channel__`), added by the
   * group script where there is room. Never fails with `ChannelFull`; full keys are counted in
   * `stats.groupSendsSkipped`.
   * @throws TypeError for an invalid group name or message.
   */
  groupSend(group: string, message: Message): Deferred<void> {
    requireValidGroupName(group);
    requireValidMessage(message);
    // Packed now: a message msgpack cannot carry is a TypeError here, not later.
    const packed = this.pack(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    const now = this.clock.seconds();
    const groupKey = this.groupKey(group);
    const conn = this.connection(this.hash(group));
    const [trimmed, members] = conn.pipeline([
      ['ZREMRANGEBYSCORE', groupKey, 0, Math.trunc(now) - Math.trunc(this.groupExpiry)],
      ['ZRANGE', groupKey, 0, -1],
    ]);
    trimmed!.addCallbacks(
      (n) => void (this.stats.groupMembershipsExpired += Number(n)),
      () => undefined,
    );
    return members!.addCallback((reply): Deferred<void> | undefined => {
      const names = (reply as Buffer[]).map((b) => b.toString('utf8'));
      if (names.length === 0) return undefined;
      return this.deliverToGroup(group, names, packed, now);
    });
  }

  /**
   * Delete every key of this prefix (`SCAN MATCH prefix*` then `DEL`, on every host) — other
   * processes' too, as channels_redis's flush — and the messages buffered here. Receivers
   * waiting keep waiting.
   */
  flush(): Deferred<void> {
    if (this.closed) return fail(new ChannelLayerClosed());
    this.buffers.clear();
    this.stopSweeping();
    const pattern = scanPattern(this.prefix);
    return all(this.hosts.map((_, i) => this.scanDelete(this.connection(i), pattern, '0'))).addCallback((): void => undefined);
  }

  /**
   * Close: waiting receives fail with {@link ChannelLayerClosed}, as do later calls; receive
   * loops stop; connections close (the main ones after their commands in flight are answered).
   * Closing twice is harmless.
   */
  close(): Deferred<void> {
    if (this.closed) return succeed<void>(undefined);
    this.closed = true;
    this.untrack?.();
    this.untrack = null;
    this.stopSweeping();
    this.buffers.clear();
    const receivers = [...this.receivers.values()];
    this.receivers.clear();
    for (const r of receivers) r.close();
    const closing: Deferred<void>[] = [];
    for (const pool of this.pools) if (pool !== null) closing.push(pool.close());
    for (const conn of this.connections) if (conn !== null) closing.push(conn.quit());
    return gatherResults(closing, { consumeErrors: true }).addBoth((): void => undefined);
  }

  // ---------------------------------------------------------------- internals

  /** The main (pipelined) connection to host `index`, made on first use. */
  private connection(index: number): RedisConnection {
    let c = this.connections[index];
    if (c === null || c === undefined) {
      c = connectRedis(this.reactor, this.hosts[index]!, this.connectionOptions);
      this.connections[index] = c;
    }
    return c;
  }

  /** The blocking-command pool of host `index`, made on first use. */
  private pool(index: number): RedisBlockingPool {
    let p = this.pools[index];
    if (p === null || p === undefined) {
      p = new RedisBlockingPool(this.reactor, this.hosts[index]!, { ...this.connectionOptions, maxConnections: this.maxBlocking });
      this.pools[index] = p;
    }
    return p;
  }

  /** Whether a message scored `score` has expired. */
  private isExpired(score: number): boolean {
    return score + this.expiry <= this.clock.seconds();
  }

  /** A member's message (a fresh object each call); throws when it cannot be read. */
  private deserialize(member: Buffer): Message {
    let body: Buffer = member.subarray(RANDOM_PREFIX);
    if (this.crypter !== null) body = this.crypter.decrypt(body, { now: this.clock.seconds(), ttl: this.expiry + 10 });
    const value = decode(body);
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Map) {
      throw new TypeError('a channel layer message is a msgpack map');
    }
    return value as unknown as Message;
  }

  /** Keep a message for a process-local channel nobody waits on: bounded, oldest dropped. */
  private bufferLocal(channel: string, message: Message, score: number): void {
    let queue = this.buffers.get(channel);
    if (queue === undefined) this.buffers.set(channel, (queue = []));
    const capacity = this.capacities.capacityOf(channel);
    while (queue.length >= capacity) {
      queue.shift();
      this.stats.bufferOverflows++;
    }
    queue.push({ message, score });
    this.sweeper ??= this.reactor.callLater(this.expiry, () => this.sweep());
  }

  /** The host of a channel key's non-local name or a group name. */
  private hash(value: string): number {
    return consistentHash(value, this.hosts.length);
  }

  /** What the receive loops may use of the layer. */
  private makeContext(): ReceiveContext {
    return {
      prefix: this.prefix,
      shards: this.hosts.length,
      blockSeconds: this.blockTimeout,
      timer: this.reactor,
      closed: () => this.closed,
      connection: (i) => this.connection(i),
      pool: (i) => this.pool(i),
      isExpired: (score) => this.isExpired(score),
      deserialize: (member) => this.deserialize(member),
      undecodable: (key, error) => {
        this.stats.messagesUndecodable++;
        log.failure('Dropped a message on {key} that could not be decoded', error, { key }, 'error');
      },
      expiredOnReceive: () => void this.stats.messagesExpired++,
      bufferLocal: (channel, message, score) => this.bufferLocal(channel, message, score),
      receiverIdle: (key, receiver) => {
        if (this.receivers.get(key) === receiver) this.receivers.delete(key);
      },
    };
  }

  // ---------------------------------------------------------------- private

  private takeBuffered(channel: string): Message | null {
    const queue = this.buffers.get(channel);
    if (queue === undefined) return null;
    let found: Message | null = null;
    while (queue.length > 0) {
      const next = queue.shift()!;
      if (this.isExpired(next.score)) {
        this.stats.messagesExpired++;
        continue;
      }
      found = next.message;
      break;
    }
    if (queue.length === 0) this.buffers.delete(channel);
    return found;
  }

  private sweep(): void {
    this.sweeper = null;
    for (const [channel, queue] of [...this.buffers]) {
      while (queue.length > 0 && this.isExpired(queue[0]!.score)) {
        queue.shift();
        this.stats.messagesExpired++;
      }
      if (queue.length === 0) this.buffers.delete(channel);
    }
    if (this.buffers.size > 0) this.sweeper = this.reactor.callLater(this.expiry, () => this.sweep());
  }

  private stopSweeping(): void {
    if (this.sweeper !== null && this.sweeper.active()) this.sweeper.cancel();
    this.sweeper = null;
  }

  private deliverToGroup(group: string, names: string[], packed: Buffer, now: number): Deferred<void> {
    // One member per channel key; the channels of one process share theirs.
    const byKey = new Map<string, { names: string[]; capacity: number; shard: number }>();
    const byShard = new Map<number, string[]>();
    for (const name of names) {
      const nonLocal = nonLocalName(name);
      const key = this.prefix + nonLocal;
      const entry = byKey.get(key);
      if (entry !== undefined) {
        entry.names.push(name);
        continue;
      }
      const shard = this.hash(nonLocal);
      byKey.set(key, { names: [name], capacity: this.capacities.capacityOf(name), shard });
      const keys = byShard.get(shard);
      if (keys === undefined) byShard.set(shard, [key]);
      else keys.push(key);
    }
    const score = this.score(now);
    const trim = Math.trunc(now) - Math.trunc(this.expiry);
    const expiry = this.expireSeconds();
    const sends: Deferred<RespValue>[] = [];
    for (const [shard, keys] of byShard) {
      const conn = this.connection(shard);
      const members = keys.map((key) => this.seal(withChannel(packed, byKey.get(key)!.names), now));
      const capacities = keys.map((key) => byKey.get(key)!.capacity);
      const trims = conn.pipeline([['MULTI'], ...keys.map((key): RespArg[] => ['ZREMRANGEBYSCORE', key, 0, trim]), ['EXEC']]);
      // MULTI answers OK and each queued command QUEUED; EXEC answers with the counts trimmed.
      for (const d of trims.slice(0, -1)) d.addErrback(() => undefined);
      trims[trims.length - 1]!.addCallbacks(
        (counts) => {
          if (Array.isArray(counts)) for (const n of counts) if (typeof n === 'number') this.stats.messagesExpired += n;
          return undefined;
        },
        () => undefined, // the script's reply reports a connection failure
      );
      sends.push(
        conn.evalScript(GROUP_SEND_SCRIPT, keys, [...members, ...capacities, score, expiry]).addCallback((over) => {
          const n = Number(over);
          if (n > 0) {
            this.stats.groupSendsSkipped += n;
            log.info('{over} of {total} channels over capacity in group {group}', { over: n, total: names.length, group });
          }
          return over;
        }),
      );
    }
    return all(sends).addCallback((): void => undefined);
  }

  private scanDelete(conn: RedisConnection, pattern: string, cursor: string): Deferred<RespValue> {
    return conn.command('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000).addCallback((reply) => {
      const [next, keys] = reply as [Buffer, Buffer[]];
      const more = next.toString('latin1');
      const deleted: Deferred<RespValue> = keys.length > 0 ? conn.command('DEL', ...keys) : succeed<RespValue>(0);
      return deleted.addCallback(() => (more === '0' ? 0 : this.scanDelete(conn, pattern, more)));
    });
  }

  /** The msgpack of a message. @throws TypeError when msgpack cannot carry it. */
  private pack(message: object): Buffer {
    try {
      return encode(message, { undefinedAsNil: true });
    } catch (e) {
      throw new TypeError(`a message must be encodable with msgpack: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The member stored: 12 random bytes, then the (encrypted) msgpack. */
  private seal(packed: Buffer, now: number): Buffer {
    const body = this.crypter !== null ? this.crypter.encrypt(packed, now) : packed;
    return Buffer.concat([randomPrefix(), body]);
  }

  /** A send time for a score: `now`, nudged up when it would not exceed the last one, so one layer's messages keep their order. */
  private score(now: number): number {
    const s = now > this.lastScore ? now : nextUp(this.lastScore);
    this.lastScore = s;
    return s;
  }

  private expireSeconds(): number {
    // EXPIRE takes whole seconds; never 0 (which would delete the key at once).
    return Math.max(1, Math.ceil(this.expiry));
  }

  private nextSendIndex(): number {
    const i = this.sendIndex;
    this.sendIndex = (i + 1) % this.hosts.length;
    return i;
  }
}

/** What a {@link KeyReceiver} may use of its layer. */
interface ReceiveContext {
  readonly prefix: string;
  /** How many hosts. */
  readonly shards: number;
  /** Seconds of one BZPOPMIN. */
  readonly blockSeconds: number;
  /** The reactor (retry pauses). */
  readonly timer: IReactorTime;
  closed(): boolean;
  connection(index: number): RedisConnection;
  pool(index: number): RedisBlockingPool;
  isExpired(score: number): boolean;
  deserialize(member: Buffer): Message;
  undecodable(key: string, error: unknown): void;
  expiredOnReceive(): void;
  bufferLocal(channel: string, message: Message, score: number): void;
  receiverIdle(key: string, receiver: KeyReceiver): void;
}

/**
 * Receives one channel key for the layer: its waiting receivers (by channel name) and one
 * receive loop per host while anyone waits.
 */
class KeyReceiver {
  private readonly waiters = new Map<string, Deferred<Message>[]>();
  private waiting = 0;
  private readonly loops: ShardLoop[];
  private stopped = false;

  constructor(
    readonly layer: ReceiveContext,
    readonly key: string,
    readonly local: boolean,
  ) {
    this.loops = Array.from({ length: layer.shards }, (_, i) => new ShardLoop(this, i));
  }

  /** Whether anyone waits on this key. */
  get active(): boolean {
    return this.waiting > 0 && !this.stopped;
  }

  wait(channel: string): Deferred<Message> {
    const d = new Deferred<Message>(() => this.removeWaiter(channel, d));
    const line = this.waiters.get(channel);
    if (line === undefined) this.waiters.set(channel, [d]);
    else line.push(d);
    this.waiting++;
    for (const loop of this.loops) loop.ensureRunning();
    return d;
  }

  /**
   * A member popped from host `shard`: decode, drop if expired, and hand it to the waiters (or
   * buffer it, or put it back when nobody waits on a normal channel).
   */
  deliver(member: Buffer, score: number, shard: number): void {
    let message: Message;
    try {
      message = this.layer.deserialize(member);
    } catch (e) {
      this.layer.undecodable(this.key, e);
      return;
    }
    if (this.layer.isExpired(score)) {
      this.layer.expiredOnReceive();
      return;
    }
    const target = message.__asgi_channel__;
    delete message.__asgi_channel__;
    if (!this.local) {
      const channel = this.key.slice(this.layer.prefix.length);
      if (!this.handTo(channel, message)) {
        // Everyone stopped waiting meanwhile: back where it was, for the next receiver anywhere.
        this.layer.connection(shard).command('ZADD', this.key, score, member).addErrback((f: Failure) => {
          log.failure('Could not put back a message on {key}', f, { key: this.key }, 'warn');
          return undefined;
        });
      }
      return;
    }
    const targets = typeof target === 'string' ? [target] : Array.isArray(target) ? target.filter((t): t is string => typeof t === 'string') : [];
    if (targets.length === 0) {
      this.layer.undecodable(this.key, new TypeError('a message on a process-local channel key has no __asgi_channel__'));
      return;
    }
    let first = true;
    for (const channel of targets) {
      // Every target gets its own copy.
      let copy: Message = message;
      if (!first) {
        copy = this.layer.deserialize(member);
        delete copy.__asgi_channel__;
      }
      first = false;
      if (!this.handTo(channel, copy)) this.layer.bufferLocal(channel, copy, score);
    }
  }

  /** Stop for good: fail the waiters, stop the loops. */
  close(): void {
    this.stopped = true;
    const waiting = [...this.waiters.values()].flat();
    this.waiters.clear();
    this.waiting = 0;
    for (const loop of this.loops) loop.stop();
    for (const d of waiting) d.errback(new ChannelLayerClosed('the channel layer was closed while receiving'));
  }

  /** A loop stopped: forget this receiver once all are stopped and nobody waits. */
  loopStopped(): void {
    if (this.waiting === 0 && this.loops.every((l) => !l.running)) this.layer.receiverIdle(this.key, this);
  }

  private handTo(channel: string, message: Message): boolean {
    const line = this.waiters.get(channel);
    if (line === undefined) return false;
    const d = line.shift()!;
    if (line.length === 0) this.waiters.delete(channel);
    this.waiting--;
    d.callback(message);
    return true;
  }

  private removeWaiter(channel: string, d: Deferred<Message>): void {
    const line = this.waiters.get(channel);
    if (line === undefined) return;
    const i = line.indexOf(d);
    if (i === -1) return;
    line.splice(i, 1);
    if (line.length === 0) this.waiters.delete(channel);
    this.waiting--;
  }
}

/** The receive loop of one channel key on one host (channels_redis's `_brpop_with_clean`, repeated). */
class ShardLoop {
  running = false;
  private pause: IDelayedCall | null = null;

  constructor(
    private readonly receiver: KeyReceiver,
    private readonly shard: number,
  ) {}

  ensureRunning(): void {
    if (this.running) return;
    this.running = true;
    this.step();
  }

  /** Stop now (the layer closed): a pending retry is cancelled. */
  stop(): void {
    if (this.pause !== null && this.pause.active()) this.pause.cancel();
    this.pause = null;
    this.running = false;
  }

  private step(): void {
    const layer = this.receiver.layer;
    if (!this.receiver.active || layer.closed()) {
      this.stop();
      this.receiver.loopStopped();
      return;
    }
    const key = this.receiver.key;
    const backup = key + INFLIGHT_SUFFIX;
    const conn = layer.connection(this.shard);
    conn
      .evalScript(RESTORE_SCRIPT, [], [key, backup])
      .addCallback(() => (layer.closed() ? fail<PoppedMember>(new ChannelLayerClosed()) : layer.pool(this.shard).bzpopmin([key], layer.blockSeconds)))
      .addCallback((popped) => {
        if (popped === null) return undefined;
        // The backup, in case this process dies before the message is handed over.
        const saved = conn.command('ZADD', backup, popped.score, popped.member);
        this.receiver.deliver(popped.member, popped.score, this.shard);
        return saved.addCallback(() => conn.command('ZPOPMIN', backup));
      })
      .addCallbacks(
        () => {
          this.step();
          return undefined;
        },
        (f: Failure) => {
          if (layer.closed() || isClosing(f.value)) {
            // Closed for good (the layer, or its connection at the reactor's shutdown).
            this.stop();
            return undefined;
          }
          // Redis gone or refusing: try again shortly (commands wait for the reconnection).
          log.failure('Receiving on {key} failed; retrying', f, { key }, 'warn');
          this.pause = layer.timer.callLater(0.1, () => {
            this.pause = null;
            this.step();
          });
          return undefined;
        },
      );
  }
}

/**
 * RedisPubSubChannelLayer: a channel layer on Redis pub/sub, wire-compatible with
 * channels_redis's `RedisPubSubChannelLayer` (channels.md §3.8). Fire-and-forget: no storage,
 * no capacity at the sender, nothing kept for a channel nobody listens to.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { IReactorTime } from '../../defer/clock.js';
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { FirstError } from '../../defer/errors.js';
import type { Failure } from '../../defer/failure.js';
import { gatherResults } from '../../defer/list.js';
import { Logger } from '../../logger/index.js';
import { reactor as globalReactor } from '../../reactor/default.js';
import type { ResourceTracker } from '../../reactor/resources.js';
import { connectRedis, parseRedisUrl, type RedisAddress, type RedisConnection, type RedisConnectionOptions, type RedisReactor } from '../../redis/connect.js';
import { decode, encode } from '../../redis/msgpack/index.js';
import { connectRedisPubSub, type RedisPubSub } from '../../redis/pubsub.js';
import type { ChannelLayer, Message } from '../types.js';
import { ChannelLayerClosed } from './errors.js';
import { fernetForSecrets, type MultiFernet } from './fernet.js';
import { MAX_NAME_LENGTH, requireValidChannelName, requireValidGroupName, requireValidMessage } from './names.js';
import type { RedisHost } from './redis.js';
import { consistentHash } from './sharding.js';

const log = new Logger('spindle.channels.redis.pubsub');

/** Options of {@link RedisPubSubChannelLayer}. */
export interface RedisPubSubChannelLayerOptions {
  /** The Redis servers, in shard order. Default `['redis://localhost:6379']`. */
  hosts?: ReadonlyArray<RedisHost>;
  /** Prefix of group channels (`<prefix>__group__<group>`). Default `'asgi'`. */
  prefix?: string;
  /**
   * Messages a channel buffers in this process while nobody receives; past it the oldest is
   * dropped and counted (channels_redis's queues are unbounded). Default 100.
   */
  capacity?: number;
  /** Fernet secrets, as {@link RedisChannelLayerOptions.symmetricEncryptionKeys}. */
  symmetricEncryptionKeys?: ReadonlyArray<string | Uint8Array>;
  /** The reactor connections are made with. Default: the global reactor. */
  reactor?: RedisReactor;
  /** Time for Fernet timestamps. Default: `reactor`. */
  clock?: IReactorTime;
  /** Seconds a Fernet token is valid (its `ttl`). Default 70 (channels_redis: `expiry + 10`). */
  tokenTtl?: number;
  /** Options of every connection (timeouts, TLS, reconnect backoff). */
  connection?: RedisConnectionOptions;
}

/** Counters of what the layer dropped, since it was made. */
export interface RedisPubSubChannelLayerStats {
  /** Messages dropped because their channel's buffer was full (oldest first). */
  bufferOverflows: number;
  /** Payloads that could not be decoded, dropped. */
  messagesUndecodable: number;
}

interface LocalChannel {
  readonly name: string;
  readonly queue: Message[];
  readonly waiters: Deferred<Message>[];
}

function hostAddress(host: RedisHost): RedisAddress {
  if (typeof host === 'string') return parseRedisUrl(host);
  if (Array.isArray(host)) {
    const [h, p] = host as readonly [string, number];
    return parseRedisUrl(`redis://${h.includes(':') ? `[${h}]` : h}:${p}`);
  }
  return parseRedisUrl((host as { address: string }).address);
}

function firstError(f: Failure): Failure {
  return f.value instanceof FirstError ? f.value.subFailure : f;
}

/**
 * A channel layer on Redis pub/sub, speaking channels_redis's pub/sub layer's format: a channel
 * is the Redis pub/sub channel of the same name, a group is the pub/sub channel
 * `<prefix>__group__<group>`, and payloads are plain msgpack (Fernet tokens with
 * `symmetricEncryptionKeys`) with no random prefix and no `__asgi_channel__`. A Python
 * process's `send(name)` reaches a Spindle receiver of `name`, and `group_send` reaches
 * Spindle members, and the other way round.
 *
 * Semantics (pub/sub's, as in channels_redis):
 * - fire-and-forget: a message reaches the processes listening *now*; one published while a
 *   subscriber is disconnected, or to a channel nobody listens to, is lost;
 * - a channel is listened to once it is known here: made by `newChannel` (which fires after
 *   Redis confirmed the subscription), asked for by `receive`, or added to a group; several
 *   processes receiving one name **all** get each message;
 * - no capacity at the sender (`send` never fails with `ChannelFull`); each channel buffers up
 *   to `capacity` messages here (oldest dropped, counted in `stats.bufferOverflows`);
 * - group membership is this process's: `groupAdd` subscribes to the group's pub/sub channel,
 *   `groupDiscard` unsubscribes when no local member is left; no group expiry;
 * - cancelling the last waiting `receive` of a channel unsubscribes it and drops what it
 *   buffered (as channels_redis: a consumer's receive is cancelled when it ends).
 *
 * Differences from channels_redis, deliberate: `groupAdd` accepts a channel this process has not
 * seen yet (and listens to it) instead of raising; `groupDiscard` of a non-member is a no-op;
 * names from `newChannel` are `specific.<hex>!<hex>` (Python's are `asgispecific.<hex>`: any
 * name works across processes, they are just pub/sub channel names); buffers are bounded.
 * Sharding hashes the full channel (or group channel) name, as channels_redis does.
 *
 * @example
 * ```ts
 * const layer = new RedisPubSubChannelLayer({ hosts: ['redis://127.0.0.1:6379'] });
 * const me = await layer.newChannel();
 * await layer.groupAdd('chat', me);
 * await layer.groupSend('chat', { type: 'chat.message', text: 'hi' });
 * await layer.receive(me);
 * ```
 */
export class RedisPubSubChannelLayer implements ChannelLayer {
  readonly extensions: string[] = ['groups', 'flush'];
  /** Prefix of group channels. */
  readonly prefix: string;
  /** Buffer bound of each channel. */
  readonly capacity: number;
  /** The hosts, in shard order. */
  readonly hosts: readonly RedisAddress[];
  /** This layer's part of the names `newChannel` makes. */
  readonly clientPrefix: string = randomBytes(16).toString('hex');
  /** What was dropped (never reset). */
  readonly stats: RedisPubSubChannelLayerStats = { bufferOverflows: 0, messagesUndecodable: 0 };

  private readonly reactor: RedisReactor;
  private readonly clock: IReactorTime;
  private readonly crypter: MultiFernet | null;
  private readonly tokenTtl: number;
  private readonly connectionOptions: RedisConnectionOptions;
  private readonly publishers: (RedisConnection | null)[];
  private readonly subscribers: (RedisPubSub | null)[];
  private readonly channels = new Map<string, LocalChannel>();
  /** group pub/sub channel → local member channels. */
  private readonly groups = new Map<string, Set<string>>();
  private closed = false;
  /** Unregisters from the reactor's shutdown (which closes the layer). */
  private untrack: (() => void) | null = null;

  /** @throws TypeError / RangeError for bad options. */
  constructor(options: RedisPubSubChannelLayerOptions = {}) {
    const hosts = options.hosts ?? ['redis://localhost:6379'];
    if (typeof hosts === 'string' || hosts.length === 0) throw new TypeError('hosts must be a list with at least one Redis host');
    this.hosts = hosts.map(hostAddress);
    this.prefix = options.prefix ?? 'asgi';
    this.capacity = options.capacity ?? 100;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${String(this.capacity)}`);
    this.crypter = options.symmetricEncryptionKeys !== undefined && options.symmetricEncryptionKeys.length > 0 ? fernetForSecrets(options.symmetricEncryptionKeys) : null;
    this.tokenTtl = options.tokenTtl ?? 70;
    this.reactor = options.reactor ?? globalReactor;
    this.clock = options.clock ?? this.reactor;
    this.connectionOptions = options.connection ?? {};
    this.publishers = this.hosts.map(() => null);
    this.subscribers = this.hosts.map(() => null);
    const tracker = this.reactor as Partial<ResourceTracker>;
    if (typeof tracker.track === 'function') this.untrack = tracker.track({ shutdown: () => this.close() });
  }

  /** The pub/sub channel of group `group` (`<prefix>__group__<group>`). */
  groupChannel(group: string): string {
    return `${this.prefix}__group__${group}`;
  }

  /**
   * `PUBLISH channel payload`: fires once Redis took it (whoever listens gets it; nobody may).
   * Fails with {@link ChannelLayerClosed} after `close()`, or the connection's error.
   * @throws TypeError for an invalid name or a message msgpack cannot carry.
   */
  send(channel: string, message: Message): Deferred<void> {
    requireValidChannelName(channel);
    requireValidMessage(message);
    const payload = this.serialize(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    return this.publisher(this.hash(channel)).command('PUBLISH', channel, payload).addCallback((): void => undefined);
  }

  /**
   * The next message on `channel`: listens to it (at once) if it was not yet. Cancelling the
   * last waiting receive unsubscribes. Fails with {@link ChannelLayerClosed} on close.
   * @throws TypeError for an invalid channel name.
   */
  receive(channel: string): Deferred<Message> {
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const { local, subscribed } = this.listen(channel);
    // A failure to subscribe (closing) is reported to the waiters by close().
    subscribed.addErrback((): void => undefined);
    const next = local.queue.shift();
    if (next !== undefined) return succeed(next);
    const d = new Deferred<Message>(() => {
      const i = local.waiters.indexOf(d);
      if (i !== -1) local.waiters.splice(i, 1);
      if (local.waiters.length === 0) this.forget(local);
    });
    local.waiters.push(d);
    return d;
  }

  /**
   * A new channel name `<prefix>.<clientPrefix>!<32 hex>`, already listened to: fires once
   * Redis confirmed the subscription.
   * @throws TypeError for an invalid prefix or one that makes the name too long.
   */
  newChannel(prefix = 'specific'): Deferred<string> {
    requireValidGroupName(prefix, 'newChannel prefix');
    const name = `${prefix}.${this.clientPrefix}!${randomBytes(16).toString('hex')}`;
    if (name.length >= MAX_NAME_LENGTH) throw new TypeError(`newChannel prefix is too long: the name must be shorter than ${MAX_NAME_LENGTH} characters`);
    if (this.closed) return fail(new ChannelLayerClosed());
    return this.listen(name).subscribed.addCallback(() => name);
  }

  /**
   * Make `channel` (listened to here) a member of `group`; fires once Redis confirmed the
   * group's subscription.
   * @throws TypeError for an invalid name.
   */
  groupAdd(group: string, channel: string): Deferred<void> {
    requireValidGroupName(group);
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const groupChannel = this.groupChannel(group);
    const listening = this.listen(channel).subscribed;
    let members = this.groups.get(groupChannel);
    let joined: Deferred<void>;
    if (members === undefined) {
      this.groups.set(groupChannel, (members = new Set()));
      members.add(channel);
      joined = this.subscriber(this.hash(groupChannel)).subscribe(groupChannel, (data) => this.groupMessage(groupChannel, data));
    } else {
      members.add(channel);
      joined = succeed<void>(undefined);
    }
    return gatherResults([listening, joined], { consumeErrors: true }).addCallbacks<void, void>((): void => undefined, firstError);
  }

  /**
   * Remove `channel` from `group`; unsubscribe from the group when no local member is left.
   * A no-op for a non-member.
   * @throws TypeError for an invalid name.
   */
  groupDiscard(group: string, channel: string): Deferred<void> {
    requireValidGroupName(group);
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const groupChannel = this.groupChannel(group);
    const members = this.groups.get(groupChannel);
    if (members === undefined || !members.delete(channel)) return succeed<void>(undefined);
    if (members.size > 0) return succeed<void>(undefined);
    this.groups.delete(groupChannel);
    return this.subscriber(this.hash(groupChannel)).unsubscribe(groupChannel);
  }

  /**
   * `PUBLISH <prefix>__group__<group> payload`: every process with members gets it.
   * @throws TypeError for an invalid group name or message.
   */
  groupSend(group: string, message: Message): Deferred<void> {
    requireValidGroupName(group);
    requireValidMessage(message);
    const payload = this.serialize(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    const groupChannel = this.groupChannel(group);
    return this.publisher(this.hash(groupChannel)).command('PUBLISH', groupChannel, payload).addCallback((): void => undefined);
  }

  /**
   * Forget every group and buffered message and stop listening to channels nobody waits on
   * (receivers waiting keep waiting, and listening).
   */
  flush(): Deferred<void> {
    if (this.closed) return fail(new ChannelLayerClosed());
    const done: Deferred<void>[] = [];
    for (const groupChannel of this.groups.keys()) done.push(this.subscriber(this.hash(groupChannel)).unsubscribe(groupChannel));
    this.groups.clear();
    for (const local of [...this.channels.values()]) {
      local.queue.length = 0;
      if (local.waiters.length === 0) done.push(this.unlisten(local));
    }
    return gatherResults(done, { consumeErrors: true }).addBoth((): void => undefined);
  }

  /** Close: waiting receives fail with {@link ChannelLayerClosed}; connections close. */
  close(): Deferred<void> {
    if (this.closed) return succeed<void>(undefined);
    this.closed = true;
    this.untrack?.();
    this.untrack = null;
    const waiting = [...this.channels.values()].flatMap((c) => c.waiters);
    this.channels.clear();
    this.groups.clear();
    for (const d of waiting) d.errback(new ChannelLayerClosed('the channel layer was closed while receiving'));
    const closing: Deferred<void>[] = [];
    for (const s of this.subscribers) if (s !== null) closing.push(s.close());
    for (const p of this.publishers) if (p !== null) closing.push(p.quit());
    return gatherResults(closing, { consumeErrors: true }).addBoth((): void => undefined);
  }

  // ---------------------------------------------------------------- private

  private hash(name: string): number {
    return consistentHash(name, this.hosts.length);
  }

  private publisher(index: number): RedisConnection {
    let c = this.publishers[index];
    if (c === null || c === undefined) this.publishers[index] = c = connectRedis(this.reactor, this.hosts[index]!, this.connectionOptions);
    return c;
  }

  private subscriber(index: number): RedisPubSub {
    let s = this.subscribers[index];
    if (s === null || s === undefined) this.subscribers[index] = s = connectRedisPubSub(this.reactor, this.hosts[index]!, this.connectionOptions);
    return s;
  }

  /** The local channel `name`, subscribed to if it was not: with the Deferred of that subscription. */
  private listen(name: string): { local: LocalChannel; subscribed: Deferred<void> } {
    let local = this.channels.get(name);
    if (local === undefined) {
      local = { name, queue: [], waiters: [] };
      this.channels.set(name, local);
    }
    // Subscribing again to a channel already listened to only tells when Redis confirmed it.
    return { local, subscribed: this.subscriber(this.hash(name)).subscribe(name, this.handlerOf(local)) };
  }

  private readonly handlers = new WeakMap<LocalChannel, (data: Buffer) => void>();

  private handlerOf(local: LocalChannel): (data: Buffer) => void {
    let h = this.handlers.get(local);
    if (h === undefined) {
      h = (data: Buffer) => {
        const message = this.deserialize(data, local.name);
        if (message !== null) this.deliver(local, message);
      };
      this.handlers.set(local, h);
    }
    return h;
  }

  private forget(local: LocalChannel): void {
    if (this.channels.get(local.name) !== local) return;
    void this.unlisten(local);
  }

  private unlisten(local: LocalChannel): Deferred<void> {
    this.channels.delete(local.name);
    const sub = this.subscribers[this.hash(local.name)];
    if (sub === null || sub === undefined) return succeed<void>(undefined);
    return sub.unsubscribe(local.name, this.handlerOf(local)).addErrback((): void => undefined);
  }

  private groupMessage(groupChannel: string, data: Buffer): void {
    const members = this.groups.get(groupChannel);
    if (members === undefined) return;
    for (const name of members) {
      const local = this.channels.get(name);
      if (local === undefined) continue;
      // Each member its own copy.
      const message = this.deserialize(data, groupChannel);
      if (message === null) return;
      this.deliver(local, message);
    }
  }

  private deliver(local: LocalChannel, message: Message): void {
    const waiter = local.waiters.shift();
    if (waiter !== undefined) {
      waiter.callback(message);
      return;
    }
    while (local.queue.length >= this.capacity) {
      local.queue.shift();
      this.stats.bufferOverflows++;
    }
    local.queue.push(message);
  }

  private serialize(message: Message): Buffer {
    let packed: Buffer;
    try {
      packed = encode(message, { undefinedAsNil: true });
    } catch (e) {
      throw new TypeError(`a message must be encodable with msgpack: ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.crypter !== null ? this.crypter.encrypt(packed, this.clock.seconds()) : packed;
  }

  private deserialize(data: Buffer, channel: string): Message | null {
    try {
      const body = this.crypter !== null ? this.crypter.decrypt(data, { now: this.clock.seconds(), ttl: this.tokenTtl }) : data;
      const value = decode(body);
      if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Map) {
        throw new TypeError('a channel layer message is a msgpack map');
      }
      return value as unknown as Message;
    } catch (e) {
      this.stats.messagesUndecodable++;
      log.failure('Dropped a message on {channel} that could not be decoded', e, { channel }, 'error');
      return null;
    }
  }
}

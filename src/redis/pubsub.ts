/**
 * Redis pub/sub: {@link RedisSubscriber}, the protocol of a connection in subscriber mode, and
 * {@link RedisPubSub}, a reconnecting subscription that subscribes again to everything after
 * each reconnection. Publishing is an ordinary command (`PUBLISH`) on a `RedisConnection`.
 *
 * @module
 */
import { Deferred, fail, gatherResults, succeed } from '../defer/index.js';
import type { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import { RedisClient, type RedisClientOptions } from './client.js';
import { ReconnectingRedis, type RedisAddress, type RedisConnectionOptions, type RedisReactor } from './connect.js';
import type { RespValue } from './resp.js';
import { RedisReplyError } from './respErrors.js';

const log = new Logger('spindle.redis.pubsub');

/** What {@link RedisSubscriber} hands on for each message. */
export interface PubSubMessage {
  /** The channel it was published on. */
  channel: string;
  /** Its payload, as published (binary-safe). */
  data: Buffer;
  /** The pattern it matched (`PSUBSCRIBE`), or null for a plain subscription. */
  pattern: string | null;
}

const KINDS = new Set(['message', 'pmessage', 'subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe']);

function kindOf(value: RespValue): string | null {
  if (!Array.isArray(value) || value.length < 3) return null;
  const first = value[0];
  const kind = Buffer.isBuffer(first) ? first.toString('latin1') : typeof first === 'string' ? first : null;
  return kind !== null && KINDS.has(kind) ? kind : null;
}

function text(v: RespValue | undefined): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/**
 * The protocol of a subscriber connection. Each (un)subscription is sent as a command of its
 * own (`SUBSCRIBE ch`), so every confirmation (`subscribe`, `unsubscribe`…) answers exactly one
 * command and fires its Deferred, and an error reply fails exactly that one. `message` and
 * `pmessage` arrays are not replies: they go to `onMessage`.
 *
 * Once subscribed, Redis refuses ordinary commands on this connection (they fail with a
 * `RedisReplyError`); publish on another connection.
 */
export class RedisSubscriber extends RedisClient {
  /** Called with every message received. Exceptions it throws are logged. */
  onMessage: ((message: PubSubMessage) => void) | null = null;

  /** Subscribe to each channel; fires once Redis confirmed them all. */
  subscribe(...channels: string[]): Deferred<void> {
    return this.each('SUBSCRIBE', channels);
  }

  /** Unsubscribe from each channel; fires once Redis confirmed. */
  unsubscribe(...channels: string[]): Deferred<void> {
    return this.each('UNSUBSCRIBE', channels);
  }

  /** Subscribe to each glob pattern (`news.*`); fires once confirmed. */
  psubscribe(...patterns: string[]): Deferred<void> {
    return this.each('PSUBSCRIBE', patterns);
  }

  /** Unsubscribe from each pattern; fires once confirmed. */
  punsubscribe(...patterns: string[]): Deferred<void> {
    return this.each('PUNSUBSCRIBE', patterns);
  }

  protected override replyReceived(value: RespValue): void {
    const kind = kindOf(value);
    if (kind === 'message' || kind === 'pmessage') {
      const parts = value as RespValue[];
      const message: PubSubMessage =
        kind === 'message'
          ? { channel: text(parts[1]), data: parts[2] as Buffer, pattern: null }
          : { channel: text(parts[2]), data: parts[3] as Buffer, pattern: text(parts[1]) };
      try {
        this.onMessage?.(message);
      } catch (e) {
        log.failure('A Redis message handler failed (channel {channel})', e, { channel: message.channel }, 'error');
      }
      return;
    }
    super.replyReceived(value);
  }

  private each(command: string, names: readonly string[]): Deferred<void> {
    if (names.length === 0) return succeed<void>(undefined);
    const ds = this.pipeline(names.map((name) => [command, name]));
    return gatherResults(ds, { consumeErrors: true }).addCallbacks<void, void>(
      () => undefined,
      (f: Failure) => (f.value as { subFailure?: Failure }).subFailure ?? f,
    );
  }
}

/** A handler of {@link RedisPubSub}: the payload, the channel, and the pattern it matched (or null). */
export type PubSubHandler = (data: Buffer, channel: string, pattern: string | null) => void;

interface Subscription {
  readonly handlers: Set<PubSubHandler>;
  /** Redis confirmed it on the current connection. */
  confirmed: boolean;
  /** subscribe() calls waiting for the confirmation. */
  waiters: Deferred<void>[];
}

/**
 * A subscriber connection that stays subscribed: it reconnects after every loss (with the
 * backoff of {@link RedisConnectionOptions.reconnect}) and subscribes again to every channel and
 * pattern that still has a handler. Messages published while it was disconnected are lost (that
 * is pub/sub); `onReconnect` tells you when to resynchronise.
 *
 * - `subscribe(channel, handler)` fires once Redis confirmed the subscription (after the next
 *   reconnection if it is disconnected); several handlers may share a channel.
 * - `unsubscribe(channel, handler?)` removes one handler (or all); the channel is unsubscribed
 *   when none is left.
 * - `psubscribe(pattern, handler)` / `punsubscribe(pattern, handler?)`: the same for glob
 *   patterns; handlers get the pattern as their third argument.
 * - Handlers run synchronously as messages are parsed; an exception is logged, not propagated.
 *
 * @example
 * ```ts
 * const sub = connectRedisPubSub(reactor, 'redis://127.0.0.1:6379');
 * await sub.subscribe('news', (data, channel) => console.log(channel, data.toString()));
 * await redis.command('PUBLISH', 'news', 'hello');
 * ```
 */
export class RedisPubSub extends ReconnectingRedis<RedisSubscriber> {
  /** Called after each reconnection, once every subscription was sent again. */
  onReconnect: (() => void) | null = null;
  /** Called when the connection is lost (messages are missed until `onReconnect`). */
  onDisconnect: ((reason: Error) => void) | null = null;

  private readonly channels = new Map<string, Subscription>();
  private readonly patterns = new Map<string, Subscription>();
  private connectedOnce = false;

  /** Prefer {@link connectRedisPubSub}. Connects at once. */
  constructor(reactor: RedisReactor, url: string | RedisAddress, options: RedisConnectionOptions = {}) {
    super(reactor, url, options);
    this.start();
  }

  /** The channels subscribed to (with at least one handler). */
  get subscribedChannels(): string[] {
    return [...this.channels.keys()];
  }

  /** The patterns subscribed to (with at least one handler). */
  get subscribedPatterns(): string[] {
    return [...this.patterns.keys()];
  }

  /**
   * Call `handler` for every message on `channel`. Fires once Redis confirmed the subscription;
   * fails with `RedisNotConnected` if the connection is closed first.
   */
  subscribe(channel: string, handler: PubSubHandler): Deferred<void> {
    return this.add(this.channels, channel, handler, (c, name) => c.subscribe(name));
  }

  /** Stop calling `handler` (every handler when omitted) for `channel`. Fires once Redis confirmed (at once when disconnected). */
  unsubscribe(channel: string, handler?: PubSubHandler): Deferred<void> {
    return this.remove(this.channels, channel, handler, (c, name) => c.unsubscribe(name));
  }

  /** Call `handler` for every message on a channel matching the glob `pattern`. */
  psubscribe(pattern: string, handler: PubSubHandler): Deferred<void> {
    return this.add(this.patterns, pattern, handler, (c, name) => c.psubscribe(name));
  }

  /** Stop calling `handler` (every handler when omitted) for `pattern`. */
  punsubscribe(pattern: string, handler?: PubSubHandler): Deferred<void> {
    return this.remove(this.patterns, pattern, handler, (c, name) => c.punsubscribe(name));
  }

  protected makeClient(options: RedisClientOptions): RedisSubscriber {
    const client = new RedisSubscriber(options);
    client.onMessage = (m) => this.dispatch(m);
    return client;
  }

  protected clientReady(client: RedisSubscriber): void {
    const again = this.connectedOnce;
    this.connectedOnce = true;
    const sent: Deferred<void>[] = [];
    for (const [name, sub] of this.channels) sent.push(this.confirm(sub, client.subscribe(name), name));
    for (const [name, sub] of this.patterns) sent.push(this.confirm(sub, client.psubscribe(name), name));
    if (again) {
      gatherResults(sent, { consumeErrors: true }).addBoth(() => {
        try {
          this.onReconnect?.();
        } catch (e) {
          log.failure('onReconnect failed', e, undefined, 'error');
        }
        return undefined;
      });
    }
  }

  protected connectFailed(_error: Error): void {
    // Subscriptions stay wanted: they are sent again once an attempt succeeds.
  }

  protected clientLost(reason: Failure): void {
    for (const sub of [...this.channels.values(), ...this.patterns.values()]) sub.confirmed = false;
    try {
      this.onDisconnect?.(reason.value instanceof Error ? reason.value : new Error(String(reason.value)));
    } catch (e) {
      log.failure('onDisconnect failed', e, undefined, 'error');
    }
  }

  protected closed(): void {
    const error = this.closedError();
    for (const sub of [...this.channels.values(), ...this.patterns.values()]) {
      const waiters = sub.waiters;
      sub.waiters = [];
      for (const d of waiters) d.errback(error);
    }
    this.channels.clear();
    this.patterns.clear();
  }

  private add(
    table: Map<string, Subscription>,
    name: string,
    handler: PubSubHandler,
    send: (client: RedisSubscriber, name: string) => Deferred<void>,
  ): Deferred<void> {
    if (typeof name !== 'string' || name === '') throw new TypeError('a channel or pattern is a non-empty string');
    if (typeof handler !== 'function') throw new TypeError('a pub/sub handler is a function');
    if (this.state === 'closed') return fail(this.closedError());
    let sub = table.get(name);
    if (sub === undefined) {
      sub = { handlers: new Set(), confirmed: false, waiters: [] };
      table.set(name, sub);
      sub.handlers.add(handler);
      if (this.client !== null) this.confirm(sub, send(this.client, name), name);
    } else {
      sub.handlers.add(handler);
      if (sub.confirmed) return succeed<void>(undefined);
    }
    const d = new Deferred<void>();
    sub.waiters.push(d);
    return d;
  }

  private remove(
    table: Map<string, Subscription>,
    name: string,
    handler: PubSubHandler | undefined,
    send: (client: RedisSubscriber, name: string) => Deferred<void>,
  ): Deferred<void> {
    const sub = table.get(name);
    if (sub === undefined) return succeed<void>(undefined);
    if (handler !== undefined) sub.handlers.delete(handler);
    else sub.handlers.clear();
    if (sub.handlers.size > 0) return succeed<void>(undefined);
    table.delete(name);
    // Nobody waits for a subscription nobody wants any more.
    const waiters = sub.waiters;
    sub.waiters = [];
    for (const d of waiters) d.callback(undefined);
    if (this.client === null) return succeed<void>(undefined);
    // A failure (the connection dropping meanwhile) leaves nothing to undo: the next
    // connection does not subscribe to it again.
    return send(this.client, name).addErrback(() => undefined);
  }

  /** Mark `sub` confirmed when `d` fires, and release its waiters; failures wait for the next connection. */
  private confirm(sub: Subscription, d: Deferred<void>, name: string): Deferred<void> {
    return d.addCallbacks<void, void>(
      () => {
        sub.confirmed = true;
        const waiters = sub.waiters;
        sub.waiters = [];
        for (const w of waiters) w.callback(undefined);
        return undefined;
      },
      (f: Failure) => {
        // Lost with the connection: subscribed again on the next one. Refused by Redis (ACL…):
        // the subscription is dropped and its waiters get the error.
        const error = f.value;
        if (error instanceof RedisReplyError) {
          if (this.channels.get(name) === sub) this.channels.delete(name);
          else if (this.patterns.get(name) === sub) this.patterns.delete(name);
          const waiters = sub.waiters;
          sub.waiters = [];
          for (const w of waiters) w.errback(error);
        }
        return undefined;
      },
    );
  }

  private dispatch(message: PubSubMessage): void {
    const sub = message.pattern === null ? this.channels.get(message.channel) : this.patterns.get(message.pattern);
    if (sub === undefined) return; // unsubscribed meanwhile
    for (const handler of [...sub.handlers]) {
      try {
        handler(message.data, message.channel, message.pattern);
      } catch (e) {
        log.failure('A Redis pub/sub handler failed (channel {channel})', e, { channel: message.channel }, 'error');
      }
    }
  }
}

/**
 * A reconnecting subscriber connection to the Redis at `url` (see `parseRedisUrl`), connecting
 * at once. See {@link RedisPubSub}.
 * @throws TypeError for a bad URL.
 */
export function connectRedisPubSub(reactor: RedisReactor, url: string | RedisAddress, options: RedisConnectionOptions = {}): RedisPubSub {
  return new RedisPubSub(reactor, url, options);
}

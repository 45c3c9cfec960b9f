/**
 * InMemoryChannelLayer: Channels' in-memory layer for one process, with its semantics made strict
 * (capacity per name pattern, expiry on the reactor's clock, copies, name checks, counters).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { types } from 'node:util';
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { getDefaultClock, type IDelayedCall, type IReactorTime } from '../../defer/clock.js';
// Registers the global reactor as the default clock, for layers made without one.
import '../../reactor/default.js';
import type { ChannelLayer, Message } from '../types.js';
import { ChannelFull, ChannelLayerClosed } from './errors.js';
import {
  CapacityTable,
  MAX_NAME_LENGTH,
  requireValidChannelName,
  requireValidGroupName,
  requireValidMessage,
  type ChannelCapacities,
} from './names.js';

/** Options of {@link InMemoryChannelLayer}. */
export interface InMemoryChannelLayerOptions {
  /** Messages a channel holds before `send` fails with `ChannelFull`. Default 100. */
  capacity?: number;
  /** Seconds a message waits to be received before it is dropped. Default 60. */
  expiry?: number;
  /** Seconds a group membership lasts after its last `groupAdd`. Default 86,400 (one day). */
  groupExpiry?: number;
  /** Capacities by channel name pattern (first match wins), overriding `capacity`. */
  channelCapacity?: ChannelCapacities;
  /** Where time comes from (pass a `Clock` in tests). Default: the global reactor. */
  reactor?: IReactorTime;
}

/** Counters of what the layer dropped or refused, since it was made. */
export interface ChannelLayerStats {
  /** `send` calls refused with `ChannelFull`. */
  sendsRefused: number;
  /** Deliveries `groupSend` skipped because the member's channel was full. */
  groupSendsSkipped: number;
  /** Messages dropped unreceived after `expiry`. */
  messagesExpired: number;
  /** Group memberships dropped after `groupExpiry`. */
  groupMembershipsExpired: number;
}

interface Queued {
  expiresAt: number;
  message: Message;
}

/** A FIFO with O(1) shift (an array with a moving head, compacted now and then). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as T; // let it be collected
    this.head++;
    if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

function done(): Deferred<void> {
  return succeed<void>(undefined);
}

/**
 * A copy of a flat message — a plain object whose values are all primitives, the usual
 * `{ type, user, text }` — made property by property: the same result as `structuredClone`, at a
 * fraction of its cost (which `groupSend` pays once per member). Null for any other message.
 */
function flatCopy(message: Message): Message | null {
  if (Object.getPrototypeOf(message) !== Object.prototype || types.isProxy(message)) return null;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(message)) {
    // An own "__proto__" key (from JSON.parse) would set the copy's prototype instead.
    if (key === '__proto__') return null;
    const value = (message as Record<string, unknown>)[key];
    const type = typeof value;
    if (type === 'object' ? value !== null : type === 'function' || type === 'symbol') return null;
    copy[key] = value;
  }
  return copy as Message;
}

function cloneOf(message: Message): Message {
  try {
    return structuredClone(message);
  } catch (e) {
    throw new TypeError(`a message must be copyable with structuredClone: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function copyOf(message: Message): Message {
  return flatCopy(message) ?? cloneOf(message);
}

function positive(what: string, n: unknown): number {
  if (typeof n !== 'number' || !(n > 0) || !Number.isFinite(n)) {
    throw new RangeError(`${what} must be a positive number of seconds, not ${String(n)}`);
  }
  return n;
}

/**
 * A channel layer held in this process's memory: for development, tests, and single-process
 * deployments (use the Redis layer to reach other processes).
 *
 * - `send` queues a **copy** (`structuredClone`) of the message; at the channel's capacity it
 *   fails with {@link ChannelFull} and counts `stats.sendsRefused`.
 * - `receive` gives the next message, or waits for one; waiting receivers are served in the order
 *   they asked. Cancelling a waiting receive takes it out of the line and loses no message.
 * - `groupSend` sends a separate copy to each member; full members are skipped and counted in
 *   `stats.groupSendsSkipped` (it never fails with `ChannelFull`).
 * - Messages expire `expiry` seconds after they were sent (on the reactor's clock): an expired
 *   message is dropped and its channel is removed from every group (the member is evidently not
 *   reading). Memberships expire `groupExpiry` seconds after the last `groupAdd`.
 * - Names are checked (`TypeError` naming the rule), as are messages (a plain object with a
 *   `type` string that `structuredClone` can copy).
 * - `flush()` forgets every message and group (waiting receivers keep waiting); `close()` fails
 *   waiting receives with {@link ChannelLayerClosed}, as it does every later call.
 *
 * Delivery to a waiting receiver is synchronous: its Deferred fires inside `send`/`groupSend`.
 *
 * @example
 * ```ts
 * const layer = new InMemoryChannelLayer({ reactor: clock });
 * const me = await layer.newChannel();
 * await layer.groupAdd('room.lobby', me);
 * await layer.groupSend('room.lobby', { type: 'chat.message', text: 'hi' });
 * await layer.receive(me); // { type: 'chat.message', text: 'hi' }
 * ```
 */
export class InMemoryChannelLayer implements ChannelLayer {
  readonly extensions: string[] = ['groups', 'flush'];
  /** The default capacity of a channel, in messages. */
  readonly capacity: number;
  /** Seconds a message lives unreceived. */
  readonly expiry: number;
  /** Seconds a membership lives after its last `groupAdd`. */
  readonly groupExpiry: number;
  /** What the layer dropped or refused (counters, never reset). */
  readonly stats: ChannelLayerStats = {
    sendsRefused: 0,
    groupSendsSkipped: 0,
    messagesExpired: 0,
    groupMembershipsExpired: 0,
  };

  private readonly capacities: CapacityTable;
  private clockInstance: IReactorTime | null;
  /** Channels with queued messages (an emptied channel is deleted). */
  private readonly queues = new Map<string, Fifo<Queued>>();
  /**
   * Receivers waiting, per channel (only when its queue is empty). A group member's line stays
   * here while empty, until the channel leaves its last group: a consumer waits again after every
   * message, and deleting and re-adding its entry each time is a measurable part of a broadcast.
   */
  private readonly waiters = new Map<string, Deferred<Message>[]>();
  /** group → channel → time of the last groupAdd. */
  private readonly groups = new Map<string, Map<string, number>>();
  /** channel → its groups: the reverse index, so an expiry removes a channel from all of them. */
  private readonly memberOf = new Map<string, Set<string>>();
  /** Drops expired messages from channels nobody touches (memory), while messages are queued. */
  private sweeper: IDelayedCall | null = null;
  private closed = false;
  /** The per-layer part of `newChannel` names, so names from two layers never collide. */
  private readonly instanceId = randomBytes(6).toString('hex');

  /**
   * @throws RangeError for a capacity that is not a positive integer or a non-positive expiry.
   */
  constructor(options: InMemoryChannelLayerOptions = {}) {
    this.capacity = options.capacity ?? 100;
    this.capacities = new CapacityTable(this.capacity, options.channelCapacity);
    this.expiry = positive('expiry', options.expiry ?? 60);
    this.groupExpiry = positive('groupExpiry', options.groupExpiry ?? 86_400);
    this.clockInstance = options.reactor ?? null;
  }

  /** The capacity of channel `name` (from `channelCapacity`, else `capacity`). */
  capacityOf(name: string): number {
    return this.capacities.capacityOf(name);
  }

  /**
   * Queue a copy of `message` on `channel`, or hand it to the first waiting receiver.
   * Fails with {@link ChannelFull} at capacity, {@link ChannelLayerClosed} after `close()`.
   * @throws TypeError for an invalid channel name or message.
   */
  send(channel: string, message: Message): Deferred<void> {
    requireValidChannelName(channel);
    requireValidMessage(message);
    const copy = copyOf(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    if (this.deliver(channel, copy, this.clock.seconds())) return done();
    this.stats.sendsRefused++;
    return fail(new ChannelFull(channel, this.capacities.capacityOf(channel)));
  }

  /**
   * The next message on `channel`: at once when one is queued, otherwise when one arrives.
   * Cancelling the Deferred (`d.cancel()`) leaves the line without losing a message. Fails with
   * {@link ChannelLayerClosed} when the layer is (or gets) closed.
   * @throws TypeError for an invalid channel name.
   */
  receive(channel: string): Deferred<Message> {
    // A group member's name was checked by groupAdd (a consumer's channel, read again after
    // every message): a Map lookup instead of the name's regex.
    if (!this.memberOf.has(channel)) requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const queue = this.queues.get(channel);
    if (queue !== undefined) {
      this.expireHead(channel, queue, this.clock.seconds());
      const next = queue.shift();
      if (queue.length === 0) this.queues.delete(channel);
      if (next !== undefined) return succeed(next.message);
    }
    const d = new Deferred<Message>((cancelled) => this.removeWaiter(channel, cancelled));
    const line = this.waiters.get(channel);
    if (line === undefined) this.waiters.set(channel, [d]);
    else line.push(d);
    return d;
  }

  /**
   * A new process-local channel name, `<prefix>.<layer id>!<random>` (hex parts: 48 random bits
   * per layer, 64 per name), not in use in this layer.
   * @throws TypeError when `prefix` is not a valid group-style name (no `!`) or is too long.
   */
  newChannel(prefix = 'specific'): Deferred<string> {
    requireValidGroupName(prefix, 'newChannel prefix');
    if (this.closed) return fail(new ChannelLayerClosed());
    for (;;) {
      const name = `${prefix}.${this.instanceId}!${randomBytes(8).toString('hex')}`;
      if (name.length >= MAX_NAME_LENGTH) {
        throw new TypeError(`newChannel prefix is too long: the name must be shorter than ${MAX_NAME_LENGTH} characters`);
      }
      if (!this.queues.has(name) && !this.waiters.has(name) && !this.memberOf.has(name)) return succeed(name);
    }
  }

  /**
   * Add `channel` to `group`, or refresh its membership: it lasts `groupExpiry` seconds from now.
   * @throws TypeError for an invalid group or channel name.
   */
  groupAdd(group: string, channel: string): Deferred<void> {
    requireValidGroupName(group);
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    let members = this.groups.get(group);
    if (members === undefined) this.groups.set(group, (members = new Map()));
    members.set(channel, this.clock.seconds());
    let groups = this.memberOf.get(channel);
    if (groups === undefined) this.memberOf.set(channel, (groups = new Set()));
    groups.add(group);
    return done();
  }

  /**
   * Remove `channel` from `group`; nothing happens when it is not a member.
   * @throws TypeError for an invalid group or channel name.
   */
  groupDiscard(group: string, channel: string): Deferred<void> {
    requireValidGroupName(group);
    requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    this.leave(group, channel);
    return done();
  }

  /**
   * Send a separate copy of `message` to each member of `group` (in the order they joined).
   * Members whose channel is full are skipped and counted; expired memberships are dropped.
   * Succeeds even when the group is empty or unknown.
   * @throws TypeError for an invalid group name or message.
   */
  groupSend(group: string, message: Message): Deferred<void> {
    requireValidGroupName(group);
    requireValidMessage(message);
    // Copied once here (a TypeError for an uncopyable message, even for an empty group), then
    // each member gets its own copy of that copy: every member receives the message as it was
    // sent, whatever a receiver run by an earlier delivery does to the caller's object. A flat
    // message (the usual case) is copied per member with a spread, V8's fastest object clone.
    const flat = flatCopy(message);
    const sent = flat ?? cloneOf(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    const members = this.groups.get(group);
    if (members === undefined) return done();
    const now = this.clock.seconds();
    // A snapshot (two arrays, no entry pairs): deliveries run receivers synchronously, and they
    // may join or leave groups.
    const n = members.size;
    const channels = new Array<string>(n);
    const joinedAts = new Array<number>(n);
    let at = 0;
    members.forEach((joinedAt, channel) => {
      channels[at] = channel;
      joinedAts[at++] = joinedAt;
    });
    for (let i = 0; i < n; i++) {
      const channel = channels[i]!;
      const joinedAt = joinedAts[i]!;
      if (members.get(channel) !== joinedAt) continue; // left (or re-joined) meanwhile
      if (now >= joinedAt + this.groupExpiry) {
        this.leave(group, channel);
        this.stats.groupMembershipsExpired++;
        continue;
      }
      const queue = this.queues.get(channel);
      if (queue !== undefined && this.expireHead(channel, queue, now)) {
        if (queue.length === 0) this.queues.delete(channel);
        continue; // it was removed from its groups
      }
      const copy = flat !== null ? { ...flat } : structuredClone(sent);
      if (!this.deliver(channel, copy, now)) this.stats.groupSendsSkipped++;
    }
    return done();
  }

  /** Forget every queued message and every group. Receivers waiting keep waiting. */
  flush(): Deferred<void> {
    this.queues.clear();
    this.groups.clear();
    this.memberOf.clear();
    for (const channel of [...this.waiters.keys()]) this.dropEmptyLine(channel);
    this.stopSweeping();
    return done();
  }

  /**
   * Close the layer: waiting receives fail with {@link ChannelLayerClosed}, as do all later
   * calls; messages and groups are forgotten. Closing twice is harmless.
   */
  close(): Deferred<void> {
    if (this.closed) return done();
    this.closed = true;
    const waiting = [...this.waiters.values()].flat();
    this.waiters.clear();
    this.queues.clear();
    this.groups.clear();
    this.memberOf.clear();
    this.stopSweeping();
    for (const d of waiting) d.errback(new ChannelLayerClosed('the channel layer was closed while receiving'));
    return done();
  }

  private get clock(): IReactorTime {
    return (this.clockInstance ??= getDefaultClock());
  }

  /** Hand `copy` to the first waiting receiver, or queue it; false when the channel is full. */
  private deliver(channel: string, copy: Message, now: number): boolean {
    const line = this.waiters.get(channel);
    if (line !== undefined && line.length > 0) {
      const receiver = line.shift()!;
      if (line.length === 0 && !this.memberOf.has(channel)) this.waiters.delete(channel);
      receiver.callback(copy);
      return true;
    }
    let queue = this.queues.get(channel);
    if (queue !== undefined) {
      this.expireHead(channel, queue, now);
      if (queue.length >= this.capacities.capacityOf(channel)) return false;
    } else {
      this.queues.set(channel, (queue = new Fifo()));
    }
    queue.push({ expiresAt: now + this.expiry, message: copy });
    this.sweeper ??= this.clock.callLater(this.expiry, () => this.sweep());
    return true;
  }

  /**
   * Drop the expired messages at the head of `channel`'s queue (messages are queued in time
   * order, so they are all at the head). An expired message removes its channel from every
   * group. Returns whether anything expired. The caller deletes the queue if it is now empty.
   */
  private expireHead(channel: string, queue: Fifo<Queued>, now: number): boolean {
    let expired = false;
    while (queue.length > 0 && now >= queue.peek()!.expiresAt) {
      queue.shift();
      this.stats.messagesExpired++;
      expired = true;
    }
    if (expired) {
      for (const group of this.memberOf.get(channel) ?? []) this.leave(group, channel);
    }
    return expired;
  }

  private leave(group: string, channel: string): void {
    const members = this.groups.get(group);
    if (members !== undefined && members.delete(channel) && members.size === 0) this.groups.delete(group);
    const groups = this.memberOf.get(channel);
    if (groups !== undefined && groups.delete(group) && groups.size === 0) {
      this.memberOf.delete(channel);
      this.dropEmptyLine(channel);
    }
  }

  /** Forget `channel`'s line of receivers if nobody waits in it. */
  private dropEmptyLine(channel: string): void {
    if (this.waiters.get(channel)?.length === 0) this.waiters.delete(channel);
  }

  private removeWaiter(channel: string, d: Deferred<Message>): void {
    const line = this.waiters.get(channel);
    if (line === undefined) return;
    const i = line.indexOf(d);
    if (i !== -1) line.splice(i, 1);
    if (line.length === 0) this.waiters.delete(channel);
  }

  /**
   * Expire messages on every channel, then come back when the oldest remaining one expires (at
   * most once a second: receive and send check expiry exactly; this only frees memory).
   */
  private sweep(): void {
    this.sweeper = null;
    const now = this.clock.seconds();
    let next = Infinity;
    for (const [channel, queue] of [...this.queues]) {
      this.expireHead(channel, queue, now);
      const head = queue.peek();
      if (head === undefined) this.queues.delete(channel);
      else if (head.expiresAt < next) next = head.expiresAt;
    }
    if (next !== Infinity) {
      this.sweeper = this.clock.callLater(Math.max(next - now, Math.min(1, this.expiry)), () => this.sweep());
    }
  }

  private stopSweeping(): void {
    if (this.sweeper !== null && this.sweeper.active()) this.sweeper.cancel();
    this.sweeper = null;
  }
}

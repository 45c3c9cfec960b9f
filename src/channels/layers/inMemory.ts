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

/**
 * Something waiting in a channel's line for its next message: a `receive()` Deferred, or a
 * {@link ChannelWaiter} (what a consumer loop re-arms after every message).
 */
interface Receiver {
  callback(message: Message): void;
  errback(error: unknown): void;
}

/**
 * A receiver that takes messages from {@link InMemoryChannelLayer.receiveInto} without a
 * Deferred per message: `callback` gets the message (synchronously, inside the `send` or
 * `groupSend` that delivered it), `errback` the error when the layer is closed meanwhile.
 * Neither may throw. @internal
 */
export interface ChannelWaiter extends Receiver {
  /**
   * The layer's own note of the channel record this waiter waited in last (start with null;
   * never set it): the next `receiveInto` on the same channel reuses the record while it is
   * still the layer's, instead of looking the name up.
   */
  spot: unknown;
}

/**
 * Everything the layer holds for one channel name, in one record: its queued messages, the
 * receivers waiting for one, and the groups it is in. Group memberships point at the record, so
 * a `groupSend` reaches each member without a lookup by name. A record is forgotten (`live`
 * false) once it holds nothing.
 */
class ChannelEntry {
  // What a delivery reads comes first: fields are laid out in the order declared, and a group
  // send reads them for every member (fewer memory lines each).
  /**
   * The receiver waiting longest (only while `queue` is empty; null when none). It has a field of
   * its own: a consumer keeps one receiver waiting, taken and put back per message, and an array
   * would be shrunk and regrown each time.
   */
  first: Receiver | null = null;
  /** Messages waiting, oldest first (null when none). */
  queue: Fifo<Queued> | null = null;
  /** The receivers waiting after `first`, in the order they came (null when none). */
  line: Receiver[] | null = null;
  /** Still the layer's record for `name`. */
  live = true;
  /** The groups this channel is in (null when none). */
  groups: Set<string> | null = null;
  /** The layer holding it. */
  readonly layer: InMemoryChannelLayer;
  readonly name: string;
  /** The channel's capacity (a function of its name, fixed for the layer's life). */
  readonly capacity: number;

  constructor(layer: InMemoryChannelLayer, name: string, capacity: number) {
    this.layer = layer;
    this.name = name;
    this.capacity = capacity;
  }
}

/** One channel's membership of one group. */
class Membership {
  /** False once the channel left the group (a `groupSend` under way then skips it). */
  active = true;

  constructor(
    readonly channel: ChannelEntry,
    /** Time of the last `groupAdd`. */
    public joinedAt: number,
  ) {}
}

/** A group: its memberships by channel name, and the same in the order they joined. */
class Group {
  readonly byChannel = new Map<string, Membership>();
  /**
   * The memberships in join order, for `groupSend` to walk without a lookup per member. Left
   * ones are only marked inactive, and dropped now and then by building a new array: a
   * `groupSend` under way keeps walking the array it started with (and stops at the length it
   * saw, so members who join meanwhile are not sent this message).
   */
  members: Membership[] = [];
  inactive = 0;
}

function isActive(m: Membership): boolean {
  return m.active;
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
  /**
   * Every channel the layer holds something for (messages, waiting receivers, memberships):
   * one lookup by name finds all of it.
   */
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly groups = new Map<string, Group>();
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
    // A name the layer holds something for was checked when it got there.
    const found = this.channels.get(channel);
    if (found === undefined) requireValidChannelName(channel);
    requireValidMessage(message);
    const copy = copyOf(message);
    if (this.closed) return fail(new ChannelLayerClosed());
    const entry = found ?? this.entryFor(channel);
    if (this.deliver(entry, copy, this.clock.seconds())) return done();
    this.stats.sendsRefused++;
    return fail(new ChannelFull(channel, entry.capacity));
  }

  /**
   * The next message on `channel`: at once when one is queued, otherwise when one arrives.
   * Cancelling the Deferred (`d.cancel()`) leaves the line without losing a message. Fails with
   * {@link ChannelLayerClosed} when the layer is (or gets) closed.
   * @throws TypeError for an invalid channel name.
   */
  receive(channel: string): Deferred<Message> {
    // A name the layer holds something for (a group member's, read again after every message)
    // was checked when it got there: the lookup replaces the name's regex.
    const found = this.channels.get(channel);
    if (found === undefined) requireValidChannelName(channel);
    if (this.closed) return fail(new ChannelLayerClosed());
    const next = this.takeNext(found);
    if (next !== undefined) return succeed(next);
    const entry = found ?? this.entryFor(channel);
    const d = new Deferred<Message>((cancelled) => this.removeReceiver(entry, cancelled));
    this.wait(entry, d);
    return d;
  }

  /**
   * `receive` for a consumer loop: the next message on `channel` now, or `undefined` after
   * putting `waiter` in the channel's line (it then gets the message, or the layer's closing, as
   * a Deferred would). The loop re-arms the same waiter after each message, so a message costs
   * no Deferred, closure or Promise. Withdraw it with {@link InMemoryChannelLayer.cancelReceiveInto}.
   * @throws TypeError for an invalid channel name; ChannelLayerClosed after `close()`.
   * @internal
   */
  receiveInto(channel: string, waiter: ChannelWaiter): Message | undefined {
    // The record it waited in last, while it is still this layer's record of that name (a live
    // record is the one the name maps to): a consumer's channel is read after every message.
    const spot = waiter.spot;
    const found =
      spot instanceof ChannelEntry && spot.live && spot.layer === this && spot.name === channel
        ? spot
        : this.channels.get(channel);
    if (found === undefined) requireValidChannelName(channel);
    if (this.closed) throw new ChannelLayerClosed();
    const next = this.takeNext(found);
    if (next !== undefined) return next;
    const entry = found ?? this.entryFor(channel);
    this.wait(entry, waiter);
    waiter.spot = entry;
    return undefined;
  }

  /** Take `waiter` out of `channel`'s line (nothing happens when it is not in it). @internal */
  cancelReceiveInto(channel: string, waiter: ChannelWaiter): void {
    const entry = this.channels.get(channel);
    if (entry !== undefined) this.removeReceiver(entry, waiter);
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
      if (!this.channels.has(name)) return succeed(name);
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
    const now = this.clock.seconds();
    let g = this.groups.get(group);
    if (g === undefined) this.groups.set(group, (g = new Group()));
    const member = g.byChannel.get(channel);
    if (member !== undefined) {
      member.joinedAt = now; // a refresh keeps its place in the join order
      return done();
    }
    const entry = this.entryFor(channel);
    const joined = new Membership(entry, now);
    g.byChannel.set(channel, joined);
    g.members.push(joined);
    if (entry.groups === null) entry.groups = new Set([group]);
    else entry.groups.add(group);
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
    const entry = this.leave(group, channel);
    if (entry !== null) this.release(entry);
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
    const g = this.groups.get(group);
    if (g === undefined) return done();
    const now = this.clock.seconds();
    const groupExpiry = this.groupExpiry;
    // The members as they are now: deliveries run receivers synchronously, and they may join or
    // leave groups. Those who leave meanwhile are marked inactive (and skipped); those who join
    // are appended past `n` (or to a new array), so they do not get this message.
    const members = g.members;
    const n = members.length;
    for (let i = 0; i < n; i++) {
      const member = members[i]!;
      if (!member.active) continue;
      const entry = member.channel;
      if (now >= member.joinedAt + groupExpiry) {
        this.leave(group, entry.name);
        this.release(entry);
        this.stats.groupMembershipsExpired++;
        continue;
      }
      if (entry.queue !== null && this.expireHead(entry, now)) {
        this.release(entry);
        continue; // it was removed from its groups
      }
      const copy = flat !== null ? { ...flat } : structuredClone(sent);
      if (!this.deliver(entry, copy, now)) this.stats.groupSendsSkipped++;
    }
    return done();
  }

  /** Forget every queued message and every group. Receivers waiting keep waiting. */
  flush(): Deferred<void> {
    this.dropGroups();
    for (const entry of [...this.channels.values()]) {
      entry.queue = null;
      entry.groups = null;
      this.release(entry);
    }
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
    const waiting: Receiver[] = [];
    for (const entry of this.channels.values()) {
      if (entry.first !== null) waiting.push(entry.first);
      if (entry.line !== null) waiting.push(...entry.line);
      entry.first = null;
      entry.line = null;
      entry.queue = null;
      entry.groups = null;
      entry.live = false;
    }
    this.channels.clear();
    this.dropGroups();
    this.stopSweeping();
    for (const r of waiting) r.errback(new ChannelLayerClosed('the channel layer was closed while receiving'));
    return done();
  }

  private get clock(): IReactorTime {
    return (this.clockInstance ??= getDefaultClock());
  }

  /** The record of `name` (a valid channel name), made when there is none. */
  private entryFor(name: string): ChannelEntry {
    let entry = this.channels.get(name);
    if (entry === undefined) {
      entry = new ChannelEntry(this, name, this.capacities.capacityOf(name));
      this.channels.set(name, entry);
    }
    return entry;
  }

  /** Forget `entry` if it holds nothing any more (no message, no receiver waiting, no group). */
  private release(entry: ChannelEntry): void {
    if (!entry.live || entry.queue !== null || entry.groups !== null) return;
    if (entry.first !== null) return;
    entry.live = false;
    this.channels.delete(entry.name);
  }

  /**
   * Hand `copy` to the first waiting receiver, or queue it; false when the channel is full.
   * `entry` is live (the caller's lookup, or an active membership's).
   */
  private deliver(entry: ChannelEntry, copy: Message, now: number): boolean {
    const receiver = entry.first;
    if (receiver !== null) {
      this.takeFirst(entry);
      this.release(entry); // a channel that was only being waited on
      receiver.callback(copy);
      return true;
    }
    if (entry.queue !== null) {
      this.expireHead(entry, now);
      if (entry.queue !== null && entry.queue.length >= entry.capacity) return false;
    }
    const queue = (entry.queue ??= new Fifo());
    queue.push({ expiresAt: now + this.expiry, message: copy });
    this.sweeper ??= this.clock.callLater(this.expiry, () => this.sweep());
    return true;
  }

  /**
   * A receive's message now: the next unexpired message queued on `entry` (the channel's record,
   * if the layer has one), or undefined. An entry left holding nothing is released.
   */
  private takeNext(entry: ChannelEntry | undefined): Message | undefined {
    if (entry === undefined || entry.queue === null) return undefined;
    this.expireHead(entry, this.clock.seconds());
    const queue = entry.queue;
    if (queue === null) return undefined;
    const next = queue.shift()!;
    if (queue.length === 0) entry.queue = null;
    this.release(entry);
    return next.message;
  }

  /** Put `receiver` at the end of `entry`'s line, to get its next message. */
  private wait(entry: ChannelEntry, receiver: Receiver): void {
    if (entry.first === null) entry.first = receiver;
    else (entry.line ??= []).push(receiver);
  }

  /**
   * Drop the expired messages at the head of `entry`'s queue (messages are queued in time
   * order, so they are all at the head); an emptied queue is dropped. An expired message removes
   * its channel from every group. Returns whether anything expired. The caller releases the
   * entry if it may now hold nothing.
   */
  private expireHead(entry: ChannelEntry, now: number): boolean {
    const queue = entry.queue;
    if (queue === null) return false;
    let expired = false;
    while (queue.length > 0 && now >= queue.peek()!.expiresAt) {
      queue.shift();
      this.stats.messagesExpired++;
      expired = true;
    }
    if (queue.length === 0) entry.queue = null;
    if (expired && entry.groups !== null) {
      for (const group of [...entry.groups]) this.leave(group, entry.name);
    }
    return expired;
  }

  /**
   * Take `channel` out of `group`. Returns its record when it was a member (for the caller to
   * release), else null.
   */
  private leave(group: string, channel: string): ChannelEntry | null {
    const g = this.groups.get(group);
    if (g === undefined) return null;
    const member = g.byChannel.get(channel);
    if (member === undefined) return null;
    member.active = false;
    g.byChannel.delete(channel);
    if (g.byChannel.size === 0) {
      this.groups.delete(group);
    } else if (++g.inactive >= 32 && g.inactive * 2 >= g.members.length) {
      // A new array: a groupSend walking the old one is not disturbed.
      g.members = g.members.filter(isActive);
      g.inactive = 0;
    }
    const entry = member.channel;
    const groups = entry.groups;
    if (groups !== null && groups.delete(group) && groups.size === 0) entry.groups = null;
    return entry;
  }

  /** Forget every group (a groupSend under way skips the members it has not reached). */
  private dropGroups(): void {
    for (const g of this.groups.values()) for (const m of g.members) m.active = false;
    this.groups.clear();
  }

  /** The next receiver in `entry`'s line moves up to first place (null when none is left). */
  private takeFirst(entry: ChannelEntry): void {
    const line = entry.line;
    if (line === null) entry.first = null;
    else {
      entry.first = line.shift()!;
      if (line.length === 0) entry.line = null;
    }
  }

  private removeReceiver(entry: ChannelEntry, r: Receiver): void {
    if (entry.first === r) this.takeFirst(entry);
    else {
      const line = entry.line;
      if (line === null) return;
      const i = line.indexOf(r);
      if (i === -1) return;
      line.splice(i, 1);
      if (line.length === 0) entry.line = null;
    }
    this.release(entry);
  }

  /**
   * Expire messages on every channel, then come back when the oldest remaining one expires (at
   * most once a second: receive and send check expiry exactly; this only frees memory).
   */
  private sweep(): void {
    this.sweeper = null;
    const now = this.clock.seconds();
    let next = Infinity;
    for (const entry of [...this.channels.values()]) {
      if (entry.queue === null) continue;
      this.expireHead(entry, now);
      const head = entry.queue?.peek();
      if (head === undefined) this.release(entry);
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

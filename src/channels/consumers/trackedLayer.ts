/**
 * A channel layer as a consumer sees it: the real layer, plus a record of the groups the
 * consumer's own channel joined, so they can all be discarded when the consumer ends — even
 * when it crashed (Channels leaves crashed consumers in their groups until the group expiry).
 */
import { Deferred, fail } from '../../defer/deferred.js';
import { Failure } from '../../defer/failure.js';
import type { ChannelLayer, Message } from '../types.js';

/**
 * Forwards every call to `inner`, remembering the groups `channelName` is added to (and
 * forgetting those it is discarded from).
 */
export class TrackedLayer implements ChannelLayer {
  readonly #memberships = new Set<string>();

  constructor(
    /** The layer itself. */
    readonly inner: ChannelLayer,
    /** The consumer's own channel. */
    readonly channelName: string,
  ) {}

  get extensions(): string[] {
    return this.inner.extensions;
  }

  /** The groups the consumer's channel is currently in (as far as this wrapper saw). */
  get memberships(): string[] {
    return [...this.#memberships];
  }

  send(channel: string, message: Message): Deferred<void> {
    return this.inner.send(channel, message);
  }

  receive(channel: string): Deferred<Message> {
    return this.inner.receive(channel);
  }

  newChannel(prefix?: string): Deferred<string> {
    return this.inner.newChannel(prefix);
  }

  groupAdd(group: string, channel: string): Deferred<void> {
    const d = this.inner.groupAdd(group, channel);
    // Recorded only once the layer took the name (a bad one throws synchronously).
    if (channel === this.channelName) this.#memberships.add(group);
    return d;
  }

  groupDiscard(group: string, channel: string): Deferred<void> {
    const d = this.inner.groupDiscard(group, channel);
    if (channel === this.channelName) this.#memberships.delete(group);
    return d;
  }

  groupSend(group: string, message: Message): Deferred<void> {
    return this.inner.groupSend(group, message);
  }

  flush(): Deferred<void> {
    return this.inner.flush();
  }

  close(): Deferred<void> {
    return this.inner.close();
  }

  /**
   * Discard the consumer's channel from every group it joined. Fires when all are done; fails
   * with the first failure (after trying them all).
   */
  discardAll(): Deferred<void> {
    const groups = [...this.#memberships];
    this.#memberships.clear();
    const ds: Deferred<void>[] = [];
    for (const g of groups) {
      try {
        ds.push(this.inner.groupDiscard(g, this.channelName));
      } catch (e) {
        ds.push(fail(e));
      }
    }
    const all = Deferred.fromPromise(Promise.allSettled(ds.map((d) => d.asPromise())));
    return all.addCallback((results): void => {
      for (const r of results) if (r.status === 'rejected') throw Failure.from(r.reason);
    });
  }
}

/**
 * What a reactor must close when it stops: listening ports, connections, UDP
 * ports, child processes, thread pools. Each registers itself while open.
 */
import type { Deferred } from '../defer/deferred.js';
import { Logger } from '../logger/index.js';

const log = new Logger('spindle.reactor');

/** Something the reactor closes at shutdown ("during shutdown" phase). */
export interface ReactorResource {
  /**
   * Close now. Connections call their protocol's `connectionLost` with
   * ConnectionLost; ports stop listening. A returned Deferred is waited for.
   */
  shutdown(): Deferred<void> | void;
}

/** The reactor side of resource tracking. */
export interface ResourceTracker {
  /** Register `resource` until the returned function is called (when it closes by itself). */
  track(resource: ReactorResource): () => void;
}

/**
 * Many resources of one kind tracked as one: the open connections of a
 * reactor. `add`/`delete` are a Set operation each, where `track` per
 * resource would keep an unregister closure alive per connection. The group
 * is tracked while it has members; at shutdown it closes every member (an
 * error closing one is logged and the others still close), and a member
 * added during shutdown tracks the group again, for the reactor's next sweep.
 */
export class ResourceGroup<R extends { shutdown(): void }> implements ReactorResource {
  private readonly members = new Set<R>();
  private untrack: (() => void) | null = null;

  constructor(private readonly tracker: ResourceTracker) {}

  /** How many members are open. */
  get size(): number {
    return this.members.size;
  }

  add(member: R): void {
    this.members.add(member);
    this.untrack ??= this.tracker.track(this);
  }

  /** `member` closed by itself. */
  delete(member: R): void {
    if (!this.members.delete(member) || this.members.size > 0 || this.untrack === null) return;
    const untrack = this.untrack;
    this.untrack = null;
    untrack();
  }

  shutdown(): void {
    const members = [...this.members];
    this.members.clear();
    // The reactor has dropped us already; calling the unregister function again is harmless.
    this.untrack?.();
    this.untrack = null;
    for (const member of members) {
      try {
        member.shutdown();
      } catch (e) {
        log.failure('Error while closing {resource} at shutdown', e, { resource: String(member) });
      }
    }
  }
}

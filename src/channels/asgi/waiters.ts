/**
 * Application `receive()` calls waiting for the next event of a cycle, served in order.
 * Shared by the HTTP and WebSocket cycles.
 */
import { Deferred, succeed } from '../../defer/deferred.js';
import type { ASGIEvent } from '../types.js';

/** A FIFO of pending `receive()` Deferreds; cancelling one takes it out of the line. */
export class EventWaiters {
  readonly #waiting: Deferred<ASGIEvent>[] = [];

  /** The event `take()` gives now, or a Deferred fired by a later {@link EventWaiters.serve}. */
  receive(take: () => ASGIEvent | null): Deferred<ASGIEvent> {
    const ev = take();
    if (ev !== null) return succeed(ev);
    const d: Deferred<ASGIEvent> = new Deferred<ASGIEvent>((cancelled) => {
      const i = this.#waiting.indexOf(cancelled);
      if (i !== -1) this.#waiting.splice(i, 1);
    });
    this.#waiting.push(d);
    return d;
  }

  /** Hand events from `take()` to the waiting receivers, oldest first, while both last. */
  serve(take: () => ASGIEvent | null): void {
    while (this.#waiting.length > 0) {
      const ev = take();
      if (ev === null) return;
      this.#waiting.shift()!.callback(ev);
    }
  }
}

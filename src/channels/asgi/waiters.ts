/**
 * Application `receive()` calls waiting for the next event of a cycle, served in order.
 * Shared by the HTTP and WebSocket cycles.
 */
import { Deferred, succeed } from '../../defer/deferred.js';
import type { ASGIEvent } from '../types.js';

/** A FIFO of pending `receive()` Deferreds; cancelling one takes it out of the line. */
export class EventWaiters {
  /** Made on the first wait: most cycles answer every receive() at once, or never receive. */
  #waiting: Deferred<ASGIEvent>[] | null = null;

  /** Whether receivers are waiting (nothing for {@link EventWaiters.serve} to do otherwise). */
  get waiting(): boolean {
    return this.#waiting !== null && this.#waiting.length > 0;
  }

  /** The event `take()` gives now, or a Deferred fired by a later {@link EventWaiters.serve}. */
  receive(take: () => ASGIEvent | null): Deferred<ASGIEvent> {
    const ev = take();
    if (ev !== null) return succeed(ev);
    const waiting = (this.#waiting ??= []);
    const d: Deferred<ASGIEvent> = new Deferred<ASGIEvent>((cancelled) => {
      const i = waiting.indexOf(cancelled);
      if (i !== -1) waiting.splice(i, 1);
    });
    waiting.push(d);
    return d;
  }

  /** Hand events from `take()` to the waiting receivers, oldest first, while both last. */
  serve(take: () => ASGIEvent | null): void {
    const waiting = this.#waiting;
    if (waiting === null) return;
    while (waiting.length > 0) {
      const ev = take();
      if (ev === null) return;
      waiting.shift()!.callback(ev);
    }
  }
}

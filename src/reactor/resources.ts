/**
 * What a reactor must close when it stops: listening ports, connections, UDP
 * ports, child processes, thread pools. Each registers itself while open.
 */
import type { Deferred } from '../defer/deferred.js';

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

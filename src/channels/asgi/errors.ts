/**
 * The errors of the ASGI server rules: what `send` fails with when an application breaks the
 * protocol, when it sends on a connection that is over, and what an instance is killed with.
 */
import { TimeoutError } from '../../defer/errors.js';
import { ConnectionClosed } from '../../reactor/errors.js';

/**
 * An application sent an event that breaks the ASGI protocol: an unknown `type`, a missing or
 * mistyped key (a `Uint8Array` header, a string body, a non-integer status), or an event out of
 * order (`http.response.body` before `http.response.start`, `websocket.send` before
 * `websocket.accept`, a second `http.response.start`…). `send` fails with it; for HTTP the
 * connection is also aborted (see `HttpCycle`).
 */
export class ASGIProtocolError extends Error {
  override name = 'ASGIProtocolError';
  constructor(
    message: string,
    /** The `type` of the offending event, when it had one. */
    readonly eventType: string | null = null,
  ) {
    super(message);
  }
}

/**
 * `send` on a connection that is over: the HTTP response was completed or aborted, the client
 * went away, the WebSocket was closed. ASGI 2.4 asks servers to raise a subclass of `OSError`
 * here; ours is a {@link ConnectionClosed}. An application that lets it propagate is treated as
 * having returned normally: it is never logged as a crash.
 */
export class ASGIConnectionClosed extends ConnectionClosed {
  override name = 'ASGIConnectionClosed';
  constructor(message = 'the connection is closed') {
    super(message);
  }
}

/**
 * An application instance kept running longer than the application-close timeout after its
 * connection ended; it was cancelled. Logged once per instance (level `error`).
 */
export class ApplicationCloseTimeoutError extends TimeoutError {
  override name = 'ApplicationCloseTimeoutError';
  constructor(timeout: number, what = 'application instance') {
    super(timeout, what);
    this.message = `${what} took too long to shut down and was killed (${timeout} s after its connection closed)`;
  }
}

/** The application answered `lifespan.startup` with `lifespan.startup.failed`: the server must not serve. */
export class LifespanStartupFailed extends Error {
  override name = 'LifespanStartupFailed';
}

/** The application answered `lifespan.shutdown` with `lifespan.shutdown.failed`. */
export class LifespanShutdownFailed extends Error {
  override name = 'LifespanShutdownFailed';
}

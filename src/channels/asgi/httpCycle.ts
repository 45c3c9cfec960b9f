/**
 * One HTTP request/response cycle from the server's side, as a sans-IO state machine: the
 * server pushes the request body and the disconnect in, the application's `receive`/`send` go
 * through it, and it tells the server what to write as {@link HttpAction}s. It enforces the ASGI
 * rules strictly (where Daphne is lenient), so a protocol violation fails the same way in a
 * unit test (the communicators run this class) and in production.
 */
import { EventWaiters } from './waiters.js';
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import type { Failure } from '../../defer/failure.js';
import type { ASGIEvent, Headers } from '../types.js';
import { emitActions, joinWaits, waitFor, type ASGIConnection } from './connection.js';
import { ASGIConnectionClosed, ASGIProtocolError } from './errors.js';
import { checkBool, checkBytes, checkHeaders, checkStatus, concatBytes, plainTextResponse, requireEvent } from './validate.js';

/**
 * What the server must do, in order:
 * - `head`: write the status line and headers. Held back until the first `http.response.body`
 *   (ASGI allows it), so `contentLength` is the whole body's length when that first body event
 *   is also the last (the server may then send `Content-Length` instead of chunking), else null.
 * - `body`: write these bytes of the response body.
 * - `finish`: the response is complete.
 * - `error-response`: the application failed before starting a response (it raised, or
 *   returned without responding): write this whole response (a 500) instead. `error` is the
 *   application's exception, or null when it returned; `reason` says which.
 * - `abort`: close the connection at once, without completing the response: the application
 *   broke the protocol (`error` is the `ASGIProtocolError`), raised after starting the
 *   response, or returned in the middle of it.
 * - `resume-reading`: the application took the buffered request body; read from the socket
 *   again (after `pushBody` returned false).
 */
export type HttpAction =
  | { kind: 'head'; status: number; headers: Headers; contentLength: number | null }
  | { kind: 'body'; body: Uint8Array }
  | { kind: 'finish' }
  | { kind: 'error-response'; status: number; headers: Headers; body: Uint8Array; reason: string; error: Error | null }
  | { kind: 'abort'; error: Error }
  | { kind: 'resume-reading' };

/** The one `finish` action (it carries nothing, so it is shared; frozen: no handler can change it). */
const FINISH: HttpAction = Object.freeze({ kind: 'finish' });

/** Receives the {@link HttpAction}s; returning a PromiseLike delays the `send` that caused it (flow control). */
export type HttpActionHandler = (action: HttpAction) => void | PromiseLike<void>;

/** Options of an {@link HttpCycle}. */
export interface HttpCycleOptions {
  /**
   * Request-body bytes buffered for the application before `pushBody` returns false (the server
   * should stop reading until `resume-reading`). Default 65536.
   */
  highWaterMark?: number;
}

/** Where the response is. `started`: start received, head not yet written. */
type ResponseState = 'none' | 'started' | 'streaming' | 'complete' | 'aborted';

/**
 * The server side of one HTTP request as an {@link ASGIConnection}.
 *
 * Rules enforced on `send` (each violation fails that `send` with an `ASGIProtocolError` and
 * aborts the connection): only `http.response.start` and `http.response.body`; one start,
 * before any body; `status` an integer 100–599; `headers` `[name, value]` pairs of strings
 * (a `Uint8Array` is refused); `body` a `Uint8Array`; `more_body` a boolean; `trailers: true`
 * is refused (the extension is not offered). Sending after the response completed, was aborted
 * or the client left fails with `ASGIConnectionClosed` (nothing is aborted: it is over already).
 *
 * When the application ends ({@link HttpCycle.applicationFinished}): before the response start
 * → a 500 `error-response` (raised or simply returned); after it, unfinished → `abort`.
 *
 * `receive()` gives the request body as `http.request` events (`more_body` true until the
 * last), one event per call with whatever is buffered, so the body is streamed with
 * backpressure rather than buffered whole; after the body, it waits until the response is
 * complete or the client leaves, then gives `http.disconnect` (and always `http.disconnect`
 * from then on).
 *
 * @example
 * ```ts
 * const cycle = new HttpCycle((action) => server.perform(action));
 * const runner = new AppRunner(app, scope, cycle);
 * runner.start();
 * if (!cycle.pushBody(chunk, true)) transport.pauseProducing(); // resume on 'resume-reading'
 * ```
 */
export class HttpCycle implements ASGIConnection {
  onClosed: (() => void) | null = null;

  readonly #onAction: HttpActionHandler;
  readonly #highWaterMark: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #bodyComplete = false;
  #bodyDelivered = false;
  #paused = false;
  #response: ResponseState = 'none';
  #status = 0;
  #headers: Headers | null = null;
  #disconnected = false;
  #finished = false;
  #closeNotified = false;
  /** Made on the first receive(): an application that never reads needs none. */
  #waiters: EventWaiters | null = null;

  /**
   * @param onAction called synchronously with every action, in order.
   * @throws RangeError when `highWaterMark` is not a positive number.
   */
  constructor(onAction: HttpActionHandler, options?: HttpCycleOptions) {
    this.#onAction = onAction;
    const hwm = options?.highWaterMark ?? 65536;
    if (!(hwm > 0)) throw new RangeError('HttpCycle: highWaterMark must be a positive number of bytes');
    this.#highWaterMark = hwm;
  }

  /** Whether the exchange is over: response complete or aborted, or the client left. */
  get closed(): boolean {
    return this.#disconnected || this.#response === 'complete' || this.#response === 'aborted';
  }

  /** Whether the application has sent `http.response.start`. */
  get responseStarted(): boolean {
    return this.#response !== 'none';
  }

  /** Whether the response was completed (normally or with a 500 `error-response`). */
  get responseComplete(): boolean {
    return this.#response === 'complete';
  }

  /** Request-body bytes buffered, not yet taken by the application. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  // ------------------------------------------------------------------ server side

  /**
   * Hand the next piece of the request body to the application (`moreBody` false for the last;
   * a request without a body is one `pushBody(empty, false)`). Ignored once the exchange is over.
   * @returns false when the buffer reached the high-water mark: stop reading until the
   *   `resume-reading` action.
   * @throws Error when called again after the last piece (a server bug).
   */
  pushBody(chunk: Uint8Array, moreBody: boolean): boolean {
    if (this.#bodyComplete) throw new Error('HttpCycle.pushBody: the request body already ended');
    if (!moreBody) this.#bodyComplete = true;
    if (this.closed) return true; // nobody will read it: let the server drain and discard
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    this.#serveWaiters();
    if (this.#buffered >= this.#highWaterMark) {
      this.#paused = true;
      return false;
    }
    return true;
  }

  /** The client went away (connection lost). Pending and later `receive()` give `http.disconnect`. */
  pushDisconnect(): void {
    if (this.#disconnected) return;
    this.#disconnected = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#closedNow();
  }

  // ------------------------------------------------------------------ application side

  receive(): Deferred<ASGIEvent> {
    return (this.#waiters ??= new EventWaiters()).receive(() => this.#take());
  }

  send(event: ASGIEvent): Deferred<void> {
    return this.trySend(event) ?? succeed<void>(undefined);
  }

  /**
   * {@link HttpCycle.send} without a Deferred for the common outcome: null when the event was
   * carried out at once (every start; a body the connection took without pushing back), else
   * the Deferred `send` gives (its failure, or its wait for flow control).
   */
  trySend(event: ASGIEvent): Deferred<void> | null {
    try {
      requireEvent(event);
    } catch (e) {
      return this.closed ? fail(new ASGIConnectionClosed()) : this.#violation(e as ASGIProtocolError);
    }
    if (this.closed) {
      return fail(
        new ASGIConnectionClosed(
          this.#disconnected
            ? `${event.type}: the client disconnected`
            : `${event.type}: the response is already ${this.#response === 'complete' ? 'complete' : 'aborted'}`,
        ),
      );
    }
    try {
      if (event.type === 'http.response.start') return this.#start(event);
      if (event.type === 'http.response.body') return this.#body(event);
      throw new ASGIProtocolError(`unknown event type ${JSON.stringify(event.type)} for an HTTP connection`, event.type);
    } catch (e) {
      if (e instanceof ASGIProtocolError) return this.#violation(e);
      throw e;
    }
  }

  applicationFinished(failure: Failure | null): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.closed) return;
    if (this.#response === 'none') {
      const reason =
        failure === null
          ? 'the application returned without starting a response'
          : 'the application raised before starting a response';
      const { headers, body } = plainTextResponse(500, 'Internal Server Error');
      this.#response = 'complete';
      this.#emit([{ kind: 'error-response', status: 500, headers, body, reason, error: failure?.value ?? null }]);
    } else {
      this.#response = 'aborted';
      const error =
        failure?.value ?? new ASGIProtocolError('the application returned before finishing the response (more_body was true)');
      this.#emit([{ kind: 'abort', error }]);
    }
    this.#closedNow();
  }

  // ------------------------------------------------------------------ internals

  #start(event: ASGIEvent): null {
    if (this.#response !== 'none') {
      throw new ASGIProtocolError('http.response.start sent twice: the response has already started', event.type);
    }
    const status = checkStatus(event);
    const headers = checkHeaders(event);
    if (checkBool(event, 'trailers')) {
      throw new ASGIProtocolError('http.response.start: trailers are not supported (no http.response.trailers extension)', event.type);
    }
    this.#status = status;
    this.#headers = headers;
    this.#response = 'started';
    return null;
  }

  #body(event: ASGIEvent): Deferred<void> | null {
    if (this.#response === 'none') {
      throw new ASGIProtocolError('http.response.body sent before http.response.start', event.type);
    }
    const body = checkBytes(event, 'body');
    const more = checkBool(event, 'more_body');
    // The state moves first, then the actions run in order (as emitActions would run them, but
    // without building the list: this is every response's path).
    const head = this.#response === 'started';
    if (head) this.#response = 'streaming';
    if (!more) this.#response = 'complete';
    const onAction = this.#onAction;
    let wait: PromiseLike<void> | null = null;
    let failed: Deferred<void> | null = null;
    try {
      if (head) wait = joinWaits(wait, onAction({ kind: 'head', status: this.#status, headers: this.#headers!, contentLength: more ? null : body.length }));
      if (body.length > 0) wait = joinWaits(wait, onAction({ kind: 'body', body }));
      if (!more) wait = joinWaits(wait, onAction(FINISH));
    } catch (e) {
      failed = fail(e);
    }
    if (!more) this.#closedNow();
    if (failed !== null) return failed;
    return wait === null ? null : waitFor(wait);
  }

  #violation(error: ASGIProtocolError): Deferred<void> {
    this.#response = 'aborted';
    // The abort is what matters here; a failing handler must not replace the protocol error.
    this.#emit([{ kind: 'abort', error }]).addErrback(() => undefined);
    this.#closedNow();
    return fail(error);
  }

  #emit(actions: HttpAction[]): Deferred<void> {
    return emitActions(this.#onAction, actions);
  }

  /** The next event for the application, or null when it must wait. */
  #take(): ASGIEvent | null {
    if (this.closed) return { type: 'http.disconnect' };
    if (this.#chunks.length > 0 || (this.#bodyComplete && !this.#bodyDelivered)) {
      const body = concatBytes(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
      const more = !this.#bodyComplete;
      if (!more) this.#bodyDelivered = true;
      if (this.#paused) {
        this.#paused = false;
        this.#emit([{ kind: 'resume-reading' }]).addErrback(() => undefined);
      }
      return { type: 'http.request', body, more_body: more };
    }
    return null;
  }

  #serveWaiters(): void {
    const waiters = this.#waiters;
    if (waiters !== null && waiters.waiting) waiters.serve(() => this.#take());
  }

  #closedNow(): void {
    this.#serveWaiters();
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    this.onClosed?.();
  }
}

/**
 * WebsocketCommunicator: one WebSocket client of an application, in a test, through the
 * server's own `WebsocketCycle`.
 */
import { Deferred, ensureDeferred, fail, succeed } from '../../defer/index.js';
import type { ASGIApplication, ASGIEvent, ChannelLayer, Headers } from '../types.js';
import { ApplicationCommunicator, ApplicationExitedError, type CommunicatorOptions } from './applicationCommunicator.js';
import type { HttpResponse } from './httpCommunicator.js';
import { baseScope, type TestHeaders } from './scope.js';

/** Options of a {@link WebsocketCommunicator}. */
export interface WebsocketCommunicatorOptions extends CommunicatorOptions {
  /** Handshake request headers (names are lower-cased). */
  headers?: TestHeaders;
  /** Subprotocols the client offers (`scope.subprotocols`), in preference order. */
  subprotocols?: string[];
  /** Put in the scope as `channel_layer` (what consumers use by default). */
  channelLayer?: ChannelLayer;
  /** Offer the `websocket.http.response` denial extension. Default true. */
  httpResponseExtension?: boolean;
}

/** A message as the client receives it: exactly one of `text` and `bytes`. */
export type WebsocketMessage = { text: string; bytes?: undefined } | { bytes: Uint8Array; text?: undefined };

/**
 * A WebSocket client for tests (Channels' `WebsocketCommunicator`). The scope is the server's:
 * `type: 'websocket'`, spec 2.5, `subprotocols`, the `websocket.http.response` extension.
 *
 * - `connect()` → `[true, subprotocol | null]` when the application accepts;
 *   `[false, closeCode]` when it closes before accepting (the server answers 403);
 *   `[false, status]` when it sends a denial response (extension) — or 500 when it returned
 *   without deciding. The refusal is in `rejection`, the accept headers in `acceptHeaders`.
 * - `sendTo({ text } | { bytes })`, `sendJsonTo(value)`; `receiveFrom()` gives the next message
 *   (fails when the next event is not a `websocket.send`, e.g. a close — read that with
 *   `receiveOutput()`), `receiveJsonFrom()` parses it; `receiveNothing()`.
 * - `disconnect(code = 1000, reason = '')` tells the application the client left and waits
 *   for it to return (re-raising its exception, as all methods do).
 *
 * @example
 * ```ts
 * const comm = new WebsocketCommunicator(Echo.asApp(), '/ws/echo/');
 * const [connected] = await comm.connect();
 * await comm.sendTo({ text: 'hello' });
 * expect(await comm.receiveFrom()).toEqual({ text: 'hello' });
 * await comm.disconnect();
 * ```
 */
export class WebsocketCommunicator extends ApplicationCommunicator {
  /** The headers the application added when accepting. */
  acceptHeaders: Headers = [];
  /** The HTTP answer when the handshake was refused (403 for a close before accept). */
  rejection: HttpResponse | null = null;
  #connectSent = false;
  #accepted = false;

  constructor(app: ASGIApplication, path: string, options: WebsocketCommunicatorOptions = {}) {
    const scope = baseScope('websocket', path, options.headers, options.channelLayer);
    scope.subprotocols = options.subprotocols ?? [];
    if (options.httpResponseExtension ?? true) scope.extensions = { 'websocket.http.response': {} };
    super(app, scope, options);
  }

  override sendInput(event: ASGIEvent): Deferred<void> {
    if (event.type === 'websocket.connect') this.#connectSent = true;
    return super.sendInput(event);
  }

  /** Open the connection; see the class for the result. Waits up to `timeout` seconds. */
  connect(timeout = 1): Deferred<[boolean, string | number | null]> {
    return ensureDeferred(this.#connect(timeout));
  }

  /**
   * Send a message from the client. Fails with a TypeError unless exactly one of `text`
   * (string) and `bytes` (Uint8Array) is given, with an Error before an accepted `connect()`.
   */
  sendTo(data: WebsocketMessage): Deferred<void> {
    if (!this.#accepted) return fail(new Error('sendTo: the WebSocket is not connected (call connect() and check it was accepted)'));
    const { text, bytes } = data as { text?: unknown; bytes?: unknown };
    if (typeof text === 'string' && bytes === undefined) return this.sendInput({ type: 'websocket.receive', text });
    if (bytes instanceof Uint8Array && text === undefined) return this.sendInput({ type: 'websocket.receive', bytes });
    return fail(new TypeError('sendTo needs exactly one of { text: string } and { bytes: Uint8Array }'));
  }

  /** Send `value` as one JSON text message. */
  sendJsonTo(value: unknown): Deferred<void> {
    const text = JSON.stringify(value);
    if (text === undefined) return fail(new TypeError(`${typeof value} has no JSON form`));
    return this.sendTo({ text });
  }

  /** The next message the application sent (see the class). */
  receiveFrom(timeout = 1): Deferred<WebsocketMessage> {
    return this.receiveOutput(timeout).addCallback((ev): WebsocketMessage => {
      if (ev.type !== 'websocket.send') {
        const detail = ev.type === 'websocket.close' ? ` (code ${String(ev.code ?? 1000)})` : '';
        throw new Error(`expected a websocket.send from the application, got ${ev.type}${detail}`);
      }
      if (typeof ev.text === 'string') return { text: ev.text };
      return { bytes: ev.bytes as Uint8Array };
    });
  }

  /** The next message, parsed as JSON. Fails when it is binary or not JSON. */
  receiveJsonFrom(timeout = 1): Deferred<unknown> {
    return this.receiveFrom(timeout).addCallback((m): unknown => {
      if (m.text === undefined) throw new Error('expected a JSON text message, got a binary one');
      return JSON.parse(m.text);
    });
  }

  /**
   * The client leaves with `code`: the application gets `websocket.disconnect`; then wait up to
   * `timeout` seconds for it to return.
   */
  disconnect(code = 1000, reason = '', timeout = 1): Deferred<void> {
    if (!this.runner.started) return succeed<void>(undefined); // never connected: nothing to end
    if (!this.runner.finished) {
      const d = this.sendInput({ type: 'websocket.disconnect', code, reason });
      d.addErrback(() => undefined); // the outcome is what wait() reports
    }
    return this.wait(timeout);
  }

  async #connect(timeout: number): Promise<[boolean, string | number | null]> {
    if (!this.#connectSent) await this.sendInput({ type: 'websocket.connect' });
    let ev: ASGIEvent;
    try {
      ev = await this.receiveOutput(timeout);
    } catch (e) {
      if (e instanceof ApplicationExitedError) {
        const denied = this.#denial();
        if (denied !== null) return [false, denied.status];
      }
      throw e;
    }
    switch (ev.type) {
      case 'websocket.accept':
        this.#accepted = true;
        this.acceptHeaders = ((ev.headers ?? []) as Headers).map(([n, v]): [string, string] => [n.toLowerCase(), v]);
        return [true, typeof ev.subprotocol === 'string' ? ev.subprotocol : null];
      case 'websocket.close':
        this.rejection = this.#denial();
        return [false, typeof ev.code === 'number' ? ev.code : 1000];
      case 'websocket.http.response.start': {
        let body = ev;
        do body = await this.receiveOutput(timeout);
        while (body.more_body === true);
        this.rejection = this.#denial();
        return [false, ev.status as number];
      }
      default:
        throw new Error(`unexpected ${ev.type} from the application during the handshake`);
    }
  }

  #denial(): HttpResponse | null {
    for (const a of this.serverActions) {
      if (a.kind === 'deny') return { status: a.status, headers: a.headers, body: a.body };
    }
    return null;
  }
}

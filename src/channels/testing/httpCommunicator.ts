/**
 * HttpCommunicator: one HTTP request to an application, in a test, through the server's own
 * `HttpCycle`.
 */
import { Deferred, ensureDeferred } from '../../defer/index.js';
import { concatBytes } from '../asgi/validate.js';
import type { ASGIApplication, ChannelLayer, Headers } from '../types.js';
import { ApplicationCommunicator, ApplicationExitedError, type CommunicatorOptions } from './applicationCommunicator.js';
import { baseScope, type TestHeaders } from './scope.js';

/** Options of an {@link HttpCommunicator}. */
export interface HttpCommunicatorOptions extends CommunicatorOptions {
  /** The request body (a string is sent as UTF-8). Default empty. */
  body?: Uint8Array | string;
  /** Request headers (names are lower-cased). */
  headers?: TestHeaders;
  /** Put in the scope as `channel_layer` (what consumers use by default). */
  channelLayer?: ChannelLayer;
}

/** A response as the client would see it. */
export interface HttpResponse {
  status: number;
  /** `[name, value]` pairs, names lower-cased. */
  headers: Headers;
  body: Uint8Array;
}

/**
 * Sends one request to an application and collects the response (Channels'
 * `HttpCommunicator`). The scope is the server's: `type: 'http'`, spec 2.5, the method
 * upper-cased, `path` decoded, `raw_path` and `query_string` as latin1 strings from `path`
 * (everything after `?` is the query).
 *
 * `getResponse()` sends the body as one `http.request` (unless the test already sent input
 * with `sendInput`) and gives `{ status, headers, body }` once the response is complete. It
 * fails with the application's exception when the application raised, with the
 * `ASGIProtocolError` when it broke the protocol (the server would have aborted the
 * connection), and gives the server's 500 when the application returned without responding.
 * For streaming responses use `receiveOutput()` event by event.
 *
 * @example
 * ```ts
 * const comm = new HttpCommunicator(app, 'POST', '/echo/?x=1', { body: 'hi' });
 * const { status, body } = await comm.getResponse();
 * ```
 */
export class HttpCommunicator extends ApplicationCommunicator {
  readonly #body: Uint8Array;
  #requestSent = false;

  constructor(app: ASGIApplication, method: string, path: string, options: HttpCommunicatorOptions = {}) {
    const scope = baseScope('http', path, options.headers, options.channelLayer);
    scope.method = method.toUpperCase();
    super(app, scope, options);
    const body = options.body ?? new Uint8Array(0);
    this.#body = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  }

  override sendInput(event: Parameters<ApplicationCommunicator['sendInput']>[0]): Deferred<void> {
    if (event.type === 'http.request') this.#requestSent = true;
    return super.sendInput(event);
  }

  /** The whole response, waiting up to `timeout` seconds for each event (see the class). */
  getResponse(timeout = 1): Deferred<HttpResponse> {
    return ensureDeferred(this.#getResponse(timeout));
  }

  async #getResponse(timeout: number): Promise<HttpResponse> {
    if (!this.#requestSent) await this.sendInput({ type: 'http.request', body: this.#body, more_body: false });
    try {
      const start = await this.receiveOutput(timeout);
      const status = start.status as number;
      const headers = ((start.headers ?? []) as Headers).map(([n, v]): [string, string] => [n.toLowerCase(), v]);
      const chunks: Uint8Array[] = [];
      for (;;) {
        const ev = await this.receiveOutput(timeout);
        if (ev.body instanceof Uint8Array && ev.body.length > 0) chunks.push(ev.body);
        if (ev.more_body !== true) break;
      }
      return { status, headers, body: concatBytes(chunks) };
    } catch (e) {
      if (!(e instanceof ApplicationExitedError)) throw e;
      // The application exited without (finishing) a response: answer as the server did.
      for (const a of this.serverActions) {
        if (a.kind === 'error-response') return { status: a.status, headers: a.headers, body: a.body };
        if (a.kind === 'abort') throw a.error;
      }
      throw e;
    }
  }
}

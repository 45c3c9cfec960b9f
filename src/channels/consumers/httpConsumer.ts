/**
 * AsyncHttpConsumer: an HTTP request handled by a consumer — a plain response, a streamed one,
 * or a long-poll / server-sent-events response fed by channel-layer messages.
 */
import { Deferred } from '../../defer/deferred.js';
import { sentAtOnce } from '../asgi/appRunner.js';
import type { ASGIEvent, Headers } from '../types.js';
import { AsyncConsumer } from './asyncConsumer.js';
import { registerFrameworkClass } from './dispatch.js';
import { StopConsumer } from './exceptions.js';

/** Response headers: `[name, value]` pairs or an object of name → value. */
export type ResponseHeaders = Headers | Record<string, string>;

/** Arguments of {@link AsyncHttpConsumer.sendHeaders}. */
export interface SendHeadersOptions {
  /** Default 200. */
  status?: number;
  /** Default none. */
  headers?: ResponseHeaders;
}

const encoder = new TextEncoder();

function toHeaders(h: ResponseHeaders | undefined): Headers {
  if (h === undefined) return [];
  if (Array.isArray(h)) return h;
  return Object.entries(h);
}

function toBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? encoder.encode(body) : body;
}

type ResponseState = 'none' | 'started' | 'complete';

/**
 * An HTTP consumer (Channels' `AsyncHttpConsumer`).
 *
 * The request body is collected (up to `static maxBodySize` bytes, default 10 MiB; beyond, the
 * answer is 413) and handed whole to `handle(body)`. Inside, answer with
 * `sendResponse(status, body, { headers })`, or `sendHeaders({ status, headers })` then
 * `sendBody(chunk, { moreBody: true })`… and a last `sendBody(chunk)`.
 *
 * When `handle()` returns:
 * - response complete → `disconnect()` runs and the consumer stops;
 * - response started but not finished → the consumer **keeps running**: handlers of
 *   channel-layer messages can go on streaming (`sendBody(…, { moreBody: true })`: long-poll,
 *   server-sent events); it stops once a handler finishes the response or the client leaves
 *   (`http.disconnect`), calling `disconnect()` then;
 * - no response started → the consumer stops and the server answers 500 (an application must
 *   answer).
 *
 * @example
 * ```ts
 * class Events extends AsyncHttpConsumer {
 *   static override groups = ['news'];
 *   override async handle() {
 *     await this.sendHeaders({ headers: { 'content-type': 'text/event-stream' } });
 *     await this.sendBody('', { moreBody: true });
 *   }
 *   async news_item(message: ASGIEvent) {
 *     await this.sendBody(`data: ${String(message.text)}\n\n`, { moreBody: true });
 *   }
 * }
 * ```
 */
export class AsyncHttpConsumer extends AsyncConsumer {
  /** Largest request body accepted, in bytes (413 beyond). */
  static maxBodySize = 10 * 1024 * 1024;

  #chunks: Uint8Array[] = [];
  #size = 0;
  #handled = false;
  #response: ResponseState = 'none';
  #disconnected = false;

  /** Handler of `http.request`: collects the body, then calls `handle(body)`. */
  async http_request(message: ASGIEvent): Promise<void> {
    if (this.#handled) return;
    const chunk = message.body instanceof Uint8Array ? message.body : new Uint8Array(0);
    const max = (this.constructor as typeof AsyncHttpConsumer).maxBodySize;
    if (this.#size + chunk.length > max) {
      this.#handled = true;
      await this.sendResponse(413, 'Payload Too Large', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
      return this.#stop();
    }
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    if (message.more_body === true) return;
    this.#handled = true;
    const body = this.#join();
    try {
      await this.handle(body);
    } catch (e) {
      await this.#callDisconnect();
      throw e;
    }
    if (this.#response !== 'started') return this.#stop();
  }

  /** Handler of `http.disconnect`: calls `disconnect()` and stops the consumer. */
  async http_disconnect(_message: ASGIEvent): Promise<void> {
    return this.#stop();
  }

  override async dispatch(message: ASGIEvent): Promise<void> {
    await super.dispatch(message);
    // A layer-message handler finished a kept-open response: the consumer's work is done.
    if (this.#handled && this.#response === 'complete') return this.#stop();
  }

  /**
   * Answer the request; `body` is the whole request body.
   * @throws Error unless overridden.
   */
  handle(_body: Uint8Array): void | PromiseLike<void> {
    throw new Error(`${this.constructor.name} must implement handle(body)`);
  }

  /** The exchange is over (response complete or client gone). Default: nothing. */
  disconnect(): void | PromiseLike<void> {}

  /** Start the response (`http.response.start`). */
  sendHeaders(options: SendHeadersOptions = {}): PromiseLike<void> {
    const d = this.send({ type: 'http.response.start', status: options.status ?? 200, headers: toHeaders(options.headers) });
    if (this.#response === 'none') this.#response = 'started';
    return d;
  }

  /**
   * Send a piece of the body (a string is sent as UTF-8). Without `moreBody`, this is the last
   * piece and completes the response.
   */
  sendBody(body: Uint8Array | string, options: { moreBody?: boolean } = {}): PromiseLike<void> {
    const more = options.moreBody ?? false;
    const d = this.send({ type: 'http.response.body', body: toBytes(body), more_body: more });
    if (!more && this.#response === 'started') this.#response = 'complete';
    return d;
  }

  /** A whole response in one call: `sendHeaders` then `sendBody`. */
  sendResponse(status: number, body: Uint8Array | string, options: { headers?: ResponseHeaders } = {}): PromiseLike<void> {
    const start = this.sendHeaders({ status, ...(options.headers !== undefined ? { headers: options.headers } : {}) });
    // The body goes only once the start was accepted, so a refused start is the error seen.
    if (sentAtOnce(start)) return this.sendBody(body);
    return Deferred.fromPromise(start).addCallback(() => this.sendBody(body));
  }

  #join(): Uint8Array {
    const chunks = this.#chunks;
    this.#chunks = [];
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  async #callDisconnect(): Promise<void> {
    if (this.#disconnected) return;
    this.#disconnected = true;
    await this.disconnect();
  }

  async #stop(): Promise<never> {
    await this.#callDisconnect();
    throw new StopConsumer();
  }
}

registerFrameworkClass(AsyncHttpConsumer);

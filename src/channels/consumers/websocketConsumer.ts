/**
 * WebSocket consumers: `AsyncWebsocketConsumer` (text and binary frames) and
 * `JsonWebsocketConsumer` (one JSON value per text frame), Channels' generic consumers.
 */
import { Deferred } from '../../defer/deferred.js';
import type { ASGIEvent, Headers } from '../types.js';
import { AsyncConsumer } from './asyncConsumer.js';
import { registerFrameworkClass } from './dispatch.js';
import { AcceptConnection, DenyConnection, StopConsumer } from './exceptions.js';

/** What a WebSocket consumer sends: exactly one of a text or a binary message. */
export type WebsocketData = { text: string; bytes?: undefined } | { bytes: Uint8Array; text?: undefined };

/** What a WebSocket consumer receives: `text` for a text frame, `bytes` for a binary one. */
export interface ReceivedData {
  text?: string;
  bytes?: Uint8Array;
}

function failed(error: Error): Deferred<void> {
  const d = new Deferred<void>();
  d.errback(error);
  return d;
}

/**
 * A WebSocket consumer (Channels' `AsyncWebsocketConsumer`). Override the hooks:
 * - `connect()`: called on `websocket.connect`, after `static groups` were joined; the default
 *   accepts. Throwing {@link AcceptConnection} accepts, {@link DenyConnection} refuses (the
 *   handshake is answered 403); not calling `accept()` and returning leaves the handshake
 *   pending until the consumer does.
 * - `receive({ text, bytes })`: one message from the client.
 * - `disconnect(code)`: the client left (`code` from its close frame, 1006 when the socket was
 *   lost); the consumer then stops and its memberships are discarded.
 *
 * And call: `accept(subprotocol?, headers?)`, `send({ text } | { bytes })`,
 * `close(code?, reason?)` (before accept: a refusal). A raw ASGI event may also be passed to
 * `send`. Messages from the layer reach their own handlers (`chat.message` → `chat_message`).
 *
 * @example
 * ```ts
 * class Echo extends AsyncWebsocketConsumer {
 *   override async receive({ text, bytes }: ReceivedData) {
 *     await this.send(text !== undefined ? { text } : { bytes: bytes! });
 *   }
 * }
 * ```
 */
export class AsyncWebsocketConsumer extends AsyncConsumer {
  /** Handler of `websocket.connect`: runs `connect()` and applies Accept/DenyConnection. */
  async websocket_connect(_message: ASGIEvent): Promise<void> {
    try {
      await this.connect();
    } catch (e) {
      if (e instanceof AcceptConnection) await this.accept();
      else if (e instanceof DenyConnection) await this.close();
      else throw e;
    }
  }

  /** Handler of `websocket.receive`: calls `receive({ text })` or `receive({ bytes })`. */
  async websocket_receive(message: ASGIEvent): Promise<void> {
    if (typeof message.text === 'string') await this.receive({ text: message.text });
    else if (message.bytes instanceof Uint8Array) await this.receive({ bytes: message.bytes });
  }

  /** Handler of `websocket.disconnect`: leaves the groups, calls `disconnect(code)`, then stops the consumer. */
  async websocket_disconnect(message: ASGIEvent): Promise<void> {
    await this.discardMemberships();
    await this.disconnect(typeof message.code === 'number' ? message.code : 1005);
    throw new StopConsumer();
  }

  /** The client asks to connect. Default: accept. */
  connect(): void | PromiseLike<void> {
    return this.accept();
  }

  /** A message from the client. Default: ignore it. */
  receive(_data: ReceivedData): void | PromiseLike<void> {}

  /** The client left with `code`. Default: nothing. */
  disconnect(_code: number): void | PromiseLike<void> {}

  /**
   * Accept the connection, choosing `subprotocol` (one the client offered: see
   * `scope.subprotocols`) and adding `headers` to the handshake response.
   */
  accept(subprotocol: string | null = null, headers: Headers = []): PromiseLike<void> {
    return super.send({ type: 'websocket.accept', subprotocol, headers });
  }

  /**
   * Send a text or a binary message (or, given an object with a `type`, that raw ASGI event).
   * Fails with a TypeError unless exactly one of `text` and `bytes` is given; with
   * `ASGIProtocolError` before `accept()`.
   */
  override send(data: WebsocketData | ASGIEvent): PromiseLike<void> {
    if (typeof (data as { type?: unknown }).type === 'string') return super.send(data as ASGIEvent);
    const { text, bytes } = data as { text?: unknown; bytes?: unknown };
    if (typeof text === 'string' && bytes === undefined) return super.send({ type: 'websocket.send', text });
    if (bytes instanceof Uint8Array && text === undefined) return super.send({ type: 'websocket.send', bytes });
    return failed(new TypeError('send() needs exactly one of { text: string } and { bytes: Uint8Array }'));
  }

  /** Close the connection (code default 1000). Before `accept()`, this refuses the handshake (403). */
  close(code?: number, reason?: string): PromiseLike<void> {
    return super.send({ type: 'websocket.close', code: code ?? 1000, reason: reason ?? '' });
  }
}

/**
 * A WebSocket consumer that speaks JSON: each text frame is one JSON value given to
 * `receiveJson(content)`; `sendJson(content)` sends one. A frame that is not valid JSON, or a
 * binary frame, goes to `receiveInvalid(data, error)`, whose default closes the connection
 * with **1003** (unsupported data) — a client cannot crash the consumer (or fill the server's
 * error log) with garbage. Override `decodeJson`/`encodeJson` to change the encoding.
 *
 * @example
 * ```ts
 * class Chat extends JsonWebsocketConsumer {
 *   override async receiveJson(content: unknown) {
 *     await this.channelLayer.groupSend('lobby', { type: 'chat.message', content });
 *   }
 *   async chat_message(event: ASGIEvent) {
 *     await this.sendJson(event.content);
 *   }
 * }
 * ```
 */
export class JsonWebsocketConsumer extends AsyncWebsocketConsumer {
  override async receive(data: ReceivedData): Promise<void> {
    if (data.text === undefined) {
      await this.receiveInvalid(data, new TypeError('binary frames are not accepted: expected one JSON value per text frame'));
      return;
    }
    let content: unknown;
    try {
      content = this.decodeJson(data.text);
    } catch (e) {
      await this.receiveInvalid(data, e instanceof Error ? e : new TypeError(String(e)));
      return;
    }
    await this.receiveJson(content);
  }

  /** One decoded JSON value from the client. Default: ignore it. */
  receiveJson(_content: unknown): void | PromiseLike<void> {}

  /**
   * A frame that could not be decoded (`error` says why). Default: close with 1003 and the
   * reason "invalid JSON" (or "binary frames are not accepted").
   */
  receiveInvalid(data: ReceivedData, _error: Error): void | PromiseLike<void> {
    return this.close(1003, data.text === undefined ? 'binary frames are not accepted' : 'invalid JSON');
  }

  /** Send `content` as one JSON text frame. Fails with a TypeError when it cannot be encoded. */
  sendJson(content: unknown): PromiseLike<void> {
    let text: string;
    try {
      text = this.encodeJson(content);
    } catch (e) {
      return failed(e instanceof Error ? e : new TypeError(String(e)));
    }
    return this.send({ text });
  }

  /** Text → value. Default `JSON.parse`. */
  decodeJson(text: string): unknown {
    return JSON.parse(text);
  }

  /**
   * Value → text. Default `JSON.stringify`.
   * @throws TypeError when the value has no JSON form (`undefined`, a function, a cycle…).
   */
  encodeJson(content: unknown): string {
    const text = JSON.stringify(content);
    if (text === undefined) throw new TypeError(`${typeof content} cannot be sent as JSON`);
    return text;
  }
}

registerFrameworkClass(AsyncWebsocketConsumer);
registerFrameworkClass(JsonWebsocketConsumer);

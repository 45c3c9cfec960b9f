/**
 * The shared vocabulary of `spindle/channels`: ASGI scopes, events and applications, and the
 * channel-layer contract. Every router, middleware, consumer, server and communicator speaks
 * these types, so they live in one file that depends on nothing but `Deferred`.
 *
 * Conventions (ASGI's, kept exactly so apps read like their Python counterparts):
 * - keys use ASGI's own snake_case names (`query_string`, `raw_path`, `url_route`…);
 * - bytes are `Uint8Array`;
 * - headers are `[name, value][]` strings, names lower-case, values latin1 (one char per byte);
 * - `query_string` and `raw_path` are latin1 strings still percent-encoded; `path` is decoded.
 * @module
 */
import type { Deferred } from '../defer/deferred.js';

/** A header list: `[name, value]` pairs, names lower-case, values latin1 strings. */
export type Headers = [string, string][];

/** ASGI's `scope.asgi`: the interface version (always `"3.0"`) and the spec version. */
export interface ASGIVersions {
  version: string;
  spec_version?: string;
}

/**
 * What a router captured from the path: Django's `url_route`. `kwargs` holds named captures
 * (converted: `<int:n>` gives a number), `args` the unnamed regex groups in order.
 */
export interface URLRoute {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/**
 * A session as `sessionMiddleware` puts it on `scope.session`. Changes stay in memory until
 * `save()`; `save()` also (re)issues the session id, which the middleware then sets as a cookie
 * on the next `http.response.start`.
 */
export interface ScopeSession {
  /** The session id, or `null` while the session has never been saved. */
  readonly key: string | null;
  /** The value stored under `name`, or `undefined`. */
  get(name: string): unknown;
  /** Store `value` (must survive `structuredClone`) under `name`; marks the session modified. */
  set(name: string, value: unknown): void;
  /** Remove `name`; marks the session modified when it was present. */
  delete(name: string): void;
  /** Whether `name` is present. */
  has(name: string): boolean;
  /** All names present. */
  keys(): string[];
  /**
   * Remove everything and forget the id (at logout): the old entry is deleted from the store and
   * a new id is issued if the session is saved again.
   */
  clear(): void;
  /** Keep the data under a new id (at login, against session fixation); the old id is deleted. */
  cycleKey(): void;
  /** True when changed since loaded or last saved. */
  readonly modified: boolean;
  /** Write to the store (creating an id if needed). Fails when the store fails. */
  save(): Deferred<void>;
}

/**
 * The connection scope handed to an application: ASGI's keys plus the ones Channels' routers
 * and middleware add. `type` is `"http"`, `"websocket"`, `"lifespan"` or `"channel"`; other keys
 * depend on it. Extensions add keys through the index signature.
 */
export interface Scope {
  type: string;
  asgi?: ASGIVersions;
  /** `"1.0"`, `"1.1"` or `"2"`. */
  http_version?: string;
  /** Upper-case method (HTTP scopes). */
  method?: string;
  /** `"http"`/`"https"` or `"ws"`/`"wss"`. */
  scheme?: string;
  /** Decoded path (percent-decoded, UTF-8), without `root_path`'s effect removed. */
  path?: string;
  /** The request target's path as sent, latin1, still percent-encoded. */
  raw_path?: string;
  /** The query string without `?`, latin1, still percent-encoded. */
  query_string?: string;
  /** The mount point of the application (`--root-path`), `""` when none. */
  root_path?: string;
  headers?: Headers;
  /** `[host, port]` of the peer, or `null` when unknown (UNIX sockets). */
  client?: [string, number] | null;
  /** `[host, port]` of the server, or `[path, null]` for a UNIX socket, or `null`. */
  server?: [string, number | null] | null;
  /** WebSocket subprotocols the client offered, in order. */
  subprotocols?: string[];
  /** A shallow copy of the lifespan state (see ASGI lifespan `state`). */
  state?: Record<string, unknown>;
  /** Server extensions supported for this scope (`websocket.http.response`, …). */
  extensions?: Record<string, Record<string, unknown>>;
  /** What `urlRouter` captured (merged through nested routers). */
  url_route?: URLRoute;
  /** The part of the path not yet consumed by an outer `urlRouter` (nested routing). */
  path_remaining?: string;
  /** Cookies from the `cookie` header, set by `cookieMiddleware` / `sessionMiddleware`. */
  cookies?: Record<string, string>;
  /** The session, set by `sessionMiddleware`. */
  session?: ScopeSession;
  /** The layer the server hands to every application instance. */
  channel_layer?: ChannelLayer;
  /** This instance's own channel on the layer (consumers). */
  channel_name?: string;
  /** For `"channel"` scopes: the channel name the worker consumes (see `channelNameRouter`). */
  channel?: string;
  /** Set by an auth middleware (see the guide). */
  user?: unknown;
  [key: string]: unknown;
}

/** One ASGI event (and one channel-layer message): a plain object with a `type` string. */
export interface ASGIEvent {
  type: string;
  [key: string]: unknown;
}

/** A channel-layer message: the same shape as an ASGI event (a plain object with `type`). */
export type Message = ASGIEvent;

/** Waits for the next incoming event. */
export type Receive = () => PromiseLike<ASGIEvent>;

/** Sends one outgoing event; fails when the event breaks the protocol. */
export type Send = (event: ASGIEvent) => PromiseLike<void>;

/**
 * An ASGI 3 application: called once per connection (or lifespan, or worker channel) with its
 * scope; returns when the connection's work is over. Throwing is the way to report a crash
 * (the server answers 500 / aborts) or, for `lifespan`, that lifespan is unsupported.
 */
export type ASGIApplication = (scope: Scope, receive: Receive, send: Send) => PromiseLike<void>;

/**
 * A channel layer: named mailboxes (channels) and named sets of channels (groups), shared by
 * the application instances of one process (in-memory) or of many (Redis). Channels'
 * `BaseChannelLayer` API in Spindle's currency (Deferreds).
 *
 * Names: channels and groups are `[A-Za-z0-9._-]`, under 100 characters; a channel may hold one
 * `!` (process-local channels made by `newChannel`); groups never do. A bad name or a message
 * that is not a plain object with a `type` string throws a `TypeError` synchronously.
 */
export interface ChannelLayer {
  /** Optional capabilities: `"groups"` (the group methods work), `"flush"` (`flush` works). */
  readonly extensions: string[];
  /** Queue a copy of `message` on `channel`. Fails with `ChannelFull` at capacity. */
  send(channel: string, message: Message): Deferred<void>;
  /**
   * The next message on `channel`, waiting for one if needed. Cancelling the Deferred leaves the
   * queue of waiting receivers and loses no message. Fails when the layer is closed.
   */
  receive(channel: string): Deferred<Message>;
  /** A fresh channel name for this process, containing `!` (e.g. `specific.ab12!cd34`). */
  newChannel(prefix?: string): Deferred<string>;
  /** Add `channel` to `group` (refreshing the membership's expiry). */
  groupAdd(group: string, channel: string): Deferred<void>;
  /** Remove `channel` from `group`; a no-op when it is not a member. */
  groupDiscard(group: string, channel: string): Deferred<void>;
  /** Send a copy of `message` to every channel of `group`; full channels are skipped. */
  groupSend(group: string, message: Message): Deferred<void>;
  /** Forget every message, channel and group. */
  flush(): Deferred<void>;
  /** Release resources; pending receives fail. */
  close(): Deferred<void>;
}

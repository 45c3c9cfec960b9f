/**
 * The server side: `WebSocketServerProtocol` (one per connection) and
 * `WebSocketServerFactory` (what a port listens with), the `onHandshake` decision helpers, and
 * `webSocketHandler` / `WebSocketResource`, which serve WebSocket upgrades from Spindle's HTTP
 * server (a handler, a `Router` route, a node of a `Site`'s resource tree).
 *
 * @module
 */
import { Deferred, maybeDeferred, succeed } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import { gatherResults } from '../defer/list.js';
import { HttpParseError } from '../http/errors.js';
import { HeaderList as HttpHeaderList } from '../http/headers.js';
import { NEED_DATA, PAUSED, RequestParser, type HttpParserOptions, type RequestHead } from '../http/parser.js';
import type { Request } from '../http/request.js';
import { ResponseSerializer } from '../http/serializer.js';
import { Resource } from '../http/site.js';
import { reasonPhrase } from '../http/status.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import type { IProtocol, IProtocolFactory, ITCPTransport, ITransport } from '../reactor/interfaces.js';
import type { PerMessageDeflateOptions } from './deflate.js';
import { PerMessageDeflate } from './deflate.js';
import {
  deflateConfigFor,
  negotiatePerMessageDeflate,
  type PerMessageDeflateServerOptions,
} from './deflate-negotiation.js';
import { buildAcceptHeaders, selectSubprotocol, validateUpgradeRequest, type UpgradeOffer } from './handshake.js';
import type { HeaderList } from './header-tokens.js';
import {
  R_HANDSHAKE,
  WebSocketProtocol,
  resolveWebSocketOptions,
  type OpenParams,
  type ResolvedWebSocketOptions,
  type WebSocketOptions,
} from './protocol.js';
import { WebSocketRequest, broadcast, type CloseInfo, type WebSocket } from './socket.js';

const log = new Logger('spindle.websocket');

/** permessage-deflate on the server: what to accept (RFC 7692 parameters) and how to compress. */
export interface ServerDeflateOptions extends PerMessageDeflateServerOptions, PerMessageDeflateOptions {}

/**
 * What `onHandshake` decides: accept (optionally choosing the subprotocol and adding response
 * headers) or reject with an HTTP status. Build one with {@link acceptHandshake} /
 * {@link rejectHandshake}.
 */
export type HandshakeDecision =
  | {
      readonly accept: true;
      /** The subprotocol to select (one the client offered), `null` for none; default: `protocols`. */
      readonly protocol?: string | null;
      /** Extra header fields of the 101 response (e.g. `Set-Cookie`). */
      readonly headers?: HeaderList;
    }
  | {
      readonly accept: false;
      /** The HTTP status, 300–599 (401, 403, a redirect…). */
      readonly status: number;
      /** Header fields of the rejection (e.g. `WWW-Authenticate`, `Location`). */
      readonly headers?: HeaderList;
      /** A short plain-text body (default: the status's reason phrase). */
      readonly body?: string;
    };

/**
 * Accept the upgrade, optionally selecting the subprotocol (it must be one the client offered)
 * and adding fields to the 101 response.
 *
 * @example
 * ```ts
 * onHandshake: (req) => acceptHandshake({ headers: [['Set-Cookie', 'seen=1']] })
 * ```
 */
export function acceptHandshake(options: { protocol?: string | null; headers?: HeaderList } = {}): HandshakeDecision {
  return { accept: true, ...options };
}

/**
 * Refuse the upgrade with an HTTP response (`status` 300–599, default 403).
 *
 * @example
 * ```ts
 * onHandshake: (req) => req.origin === 'https://example.com' || rejectHandshake(403)
 * ```
 * @throws RangeError for a status outside 300–599.
 */
export function rejectHandshake(status = 403, headers: HeaderList = [], body?: string): HandshakeDecision {
  if (!Number.isInteger(status) || status < 300 || status > 599) throw new RangeError(`a handshake is rejected with a status from 300 to 599, not ${status}`);
  return body === undefined ? { accept: false, status, headers } : { accept: false, status, headers, body };
}

/** What `onHandshake` may return: a decision, `true`/`undefined` (accept), `false` (403), or a Deferred/Promise of one. */
export type HandshakeResult = HandshakeDecision | boolean | undefined | void;

/** Options of the server protocol and factory. */
export interface WebSocketServerOptions extends WebSocketOptions {
  /**
   * Subprotocols we speak: the first of the client's offers (in its order) that is in the list
   * is selected; or a function choosing one of `offered` (or `null`). Default: none.
   */
  protocols?: readonly string[] | ((offered: readonly string[], request: WebSocketRequest) => string | null);
  /**
   * permessage-deflate: on by default (`true`), with a 1024-byte threshold under which messages
   * go out uncompressed, the inflated size capped at `maxMessageSize`, and zlib work bounded by
   * the process-wide limit (`setZlibConcurrency`). `false` turns it off; an object tunes it.
   */
  perMessageDeflate?: boolean | ServerDeflateOptions;
  /**
   * Decide on each valid upgrade request (authentication, origin checks): return a
   * {@link HandshakeDecision}, `true`/nothing to accept, `false` to refuse with 403, or a
   * Deferred/Promise of one of these (the handshake timeout still applies). A throw or a failure
   * answers 500 (and is logged). Requests that are not valid upgrades are answered 400/426
   * before this is called.
   */
  onHandshake?: (request: WebSocketRequest) => HandshakeResult | PromiseLike<HandshakeResult>;
  /** Extra header fields for every 101 response, or a function of the request giving them. */
  headers?: HeaderList | ((request: WebSocketRequest) => HeaderList);
  /**
   * Called with each socket as it opens, before its `onOpen`: set its callbacks here. A throw
   * is logged and fails the connection with 1011.
   */
  onConnection?: (ws: WebSocket, request: WebSocketRequest) => void;
  /** Limits of the upgrade request's HTTP parser (head size → 431, …); see `HttpParserOptions`. */
  httpLimits?: HttpParserOptions;
}

/** The upgrade request as an HTTP layer parsed it. An HTTP `RequestHead` fits. */
export interface UpgradeRequestHead {
  /** The method, e.g. `GET`. */
  readonly method: string;
  /** The request target as received. */
  readonly target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly versionMinor: number;
  /** The header fields as `[name, value]` pairs in any case (an HTTP `HeaderList` is iterable so). */
  readonly headers: Iterable<readonly [string, string]>;
}

/** The answer to an upgrade request: the 101 to send, or a rejection. */
export type UpgradeOutcome =
  | { readonly ok: true; readonly status: 101; readonly headers: HeaderList }
  | { readonly ok: false; readonly status: number; readonly headers: HeaderList; readonly body: string };

/** Resolved server options. @internal */
export interface ServerConfig {
  readonly base: ResolvedWebSocketOptions;
  readonly protocols: WebSocketServerOptions['protocols'];
  readonly deflate: { readonly negotiation: PerMessageDeflateServerOptions; readonly runtime: PerMessageDeflateOptions } | null;
  readonly onHandshake: WebSocketServerOptions['onHandshake'];
  readonly headers: WebSocketServerOptions['headers'];
  readonly onConnection: WebSocketServerOptions['onConnection'];
  readonly httpLimits: HttpParserOptions | undefined;
}

/**
 * Check server options once.
 *
 * @throws RangeError for invalid limits, timeouts or deflate parameters.
 * @internal
 */
export function resolveServerOptions(options: WebSocketServerOptions): ServerConfig {
  const base = resolveWebSocketOptions(options);
  const pmd = options.perMessageDeflate ?? true;
  let deflate: ServerConfig['deflate'] = null;
  if (pmd !== false) {
    const o: ServerDeflateOptions = pmd === true ? {} : pmd;
    const negotiation: PerMessageDeflateServerOptions = {
      serverNoContextTakeover: o.serverNoContextTakeover,
      clientNoContextTakeover: o.clientNoContextTakeover,
      serverMaxWindowBits: o.serverMaxWindowBits,
      clientMaxWindowBits: o.clientMaxWindowBits,
    };
    const runtime: PerMessageDeflateOptions = {
      threshold: o.threshold,
      maxInflatedSize: o.maxInflatedSize ?? base.maxMessageSize,
      level: o.level,
      memLevel: o.memLevel,
    };
    // Validate now rather than on the first connection (neither allocates zlib state).
    negotiatePerMessageDeflate([], negotiation);
    new PerMessageDeflate(
      deflateConfigFor({ serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, 'server'),
      runtime,
    ).close();
    deflate = { negotiation, runtime };
  }
  return {
    base,
    protocols: options.protocols,
    deflate,
    onHandshake: options.onHandshake,
    headers: options.headers,
    onConnection: options.onConnection,
    httpLimits: options.httpLimits,
  };
}

/**
 * The header fields as lower-case names and values, alternating, and as the `[name, value]`
 * pairs the handshake functions take. An HTTP `HeaderList` gives its own lower-case names.
 */
function readHeaders(headers: UpgradeRequestHead['headers']): { fields: string[]; pairs: Array<[string, string]> } {
  const fields: string[] = [];
  const pairs: Array<[string, string]> = [];
  const lowered = headers instanceof HttpHeaderList;
  for (const [n, value] of lowered ? headers.entries() : headers) {
    const name = lowered ? n : n.toLowerCase();
    fields.push(name, value);
    pairs.push([name, value]);
  }
  return { fields, pairs };
}

interface Negotiated {
  readonly outcome: UpgradeOutcome;
  readonly params: OpenParams | null;
}

function rejection(status: number, headers: HeaderList, body?: string): Negotiated {
  return { outcome: { ok: false, status, headers, body: body ?? (reasonPhrase(status) || 'Error') }, params: null };
}

/** A rejection's header fields; a 426 (Upgrade Required) must say what to upgrade to (RFC 9110 §15.5.22). */
function rejectionHeaders(outcome: UpgradeOutcome): HeaderList {
  const has = outcome.headers.some(([n]) => n.toLowerCase() === 'upgrade');
  return outcome.status === 426 && !has ? [['Upgrade', 'websocket'], ...outcome.headers] : outcome.headers;
}

const INTERNAL_ERROR = (): Negotiated => rejection(500, [], 'Internal Server Error');

// Handshake phases.
const P_IDLE = 0;
const P_READING = 1;
const P_DECIDING = 2;
const P_ACCEPTED = 3;
const P_OPEN = 4;
const P_REJECTED = 5;
/** `acceptFromRequest`: the request comes from outside, not from our own parser. */
const P_EXTERNAL = 6;

/** What the server protocol needs only until the handshake is over (then dropped). */
class HandshakeState {
  parser: RequestParser | null = null;
  head: RequestHead | null = null;
  /** Bytes that came after the request, kept until the 101 is sent. */
  early: Uint8Array[] | null = null;
  earlyBytes = 0;
  /** What `negotiate` agreed, until `connectionMade` opens with it. */
  accepted: OpenParams | null = null;
}

/** Bytes a client may send ahead of our 101 before we stop reading. */
const MAX_EARLY_BYTES = 64 * 1024;

/**
 * The server end of one WebSocket connection. It works in three ways:
 *
 * 1. **Standalone, over any transport** (a factory's port): it reads the HTTP upgrade request
 *    itself (`RequestParser`, with `httpLimits`), answers 400 (malformed or not an upgrade:
 *    the reason is the body), 426 with `Sec-WebSocket-Version: 13` (unsupported version), the
 *    parser's status (431 for a huge head…), or — after `onHandshake` — the 101; then carries the
 *    WebSocket. A client that has not completed its request within `handshakeTimeout` (10 s)
 *    is dropped.
 * 2. **After an HTTP server parsed the request and hands over the raw connection**:
 *    {@link WebSocketServerProtocol.acceptFromRequest}`(transport, head, leftover)` — it answers
 *    (101 or rejection) itself and treats `leftover` as the first WebSocket bytes; the HTTP
 *    server then forwards later `dataReceived` / `connectionLost` to it.
 * 3. **With an HTTP server that writes the 101 itself** (Spindle's `request.upgrade(protocol,
 *    { headers })`): {@link WebSocketServerProtocol.negotiate}`(head)` gives the
 *    {@link UpgradeOutcome}; on `ok`, send the 101 with its headers and connect the protocol
 *    (`makeConnection`, then the leftover bytes to `dataReceived`): it opens at once.
 *    {@link webSocketHandler} does exactly this.
 *
 * Then see `WebSocketProtocol` for how the connection behaves.
 */
export class WebSocketServerProtocol extends WebSocketProtocol {
  /** The factory that built it, if any (it tracks open sockets). */
  readonly factory: WebSocketServerFactory | null;
  private readonly config: ServerConfig;
  private phase = P_IDLE;
  /** Made on first need, dropped once the connection opens or is refused. */
  private hs: HandshakeState | null = null;

  /**
   * @param options ignored when `factory` is given (the factory's are used).
   * @throws RangeError for invalid options.
   */
  constructor(options: WebSocketServerOptions = {}, factory: WebSocketServerFactory | null = null) {
    const config = factory !== null ? factory.config : resolveServerOptions(options);
    super('server', config.base);
    this.config = config;
    this.factory = factory;
  }

  /** Start reading the upgrade request (or, after `negotiate`, open at once). */
  override connectionMade(): void {
    if (this.phase === P_ACCEPTED) {
      const params = this.hs!.accepted!;
      this.hs = null;
      this.phase = P_OPEN;
      this.open(params, null);
      return;
    }
    if (this.phase === P_REJECTED) {
      // negotiate() refused this request: nothing to carry.
      this.closeTransport();
      return;
    }
    this.startHandshakeTimer();
    if (this.phase === P_EXTERNAL) return;
    this.phase = P_READING;
    this.handshake.parser = new RequestParser(this.config.httpLimits);
  }

  /**
   * Take over a connection whose upgrade request an HTTP server has already parsed, without
   * having answered it: connect to `transport`, validate `head`, consult `onHandshake`, write
   * the 101 (or the rejection, then close), and process `leftover` — the bytes read after the
   * request — as the first WebSocket bytes. Forward later `dataReceived` and `connectionLost`
   * calls to this protocol.
   *
   * @example
   * ```ts
   * // in an HTTP server's "upgrade" hook that hands over the raw connection:
   * const ws = new WebSocketServerProtocol({ onConnection: (ws) => { ws.onMessage = (m) => ws.send(m); } });
   * ws.acceptFromRequest(transport, { method, target, versionMinor: 1, headers }, leftover);
   * ```
   * @throws Error when the protocol is already connected.
   */
  acceptFromRequest(transport: ITransport, head: UpgradeRequestHead, leftover: Uint8Array | null = null): void {
    if (this.transport !== null || this.phase !== P_IDLE) throw new Error('this protocol is already connected');
    this.phase = P_EXTERNAL;
    this.makeConnection(transport);
    if (!this.isLost) this.requestComplete(head, leftover);
  }

  /**
   * Decide on an upgrade request for an HTTP server that writes the 101 response itself. On
   * `ok`, send a 101 with `outcome.headers`, then connect this protocol to the transport
   * (`makeConnection`) and give it the bytes read after the request (`dataReceived`): it opens
   * at once. On a rejection, answer `status` with `headers` and `body`, and drop the protocol.
   *
   * @param remote the client's address (for `request.remoteAddress`).
   * @param secure whether the connection is TLS.
   * @returns a Deferred of the outcome; it never fails (a failing `onHandshake` gives 500).
   * @throws Error when called twice or after connecting.
   */
  negotiate(head: UpgradeRequestHead, remote: Address | null = null, secure = false): Deferred<UpgradeOutcome> {
    if (this.transport !== null || this.phase !== P_IDLE) throw new Error('negotiate() is called once, before connecting');
    this.phase = P_DECIDING;
    return this.decide(head, remote, secure).addCallback((n: Negotiated) => {
      if (n.params !== null) {
        this.handshake.accepted = n.params;
        this.phase = P_ACCEPTED;
      } else {
        this.phase = P_REJECTED;
      }
      return n.outcome;
    });
  }

  protected override handshakeData(data: Uint8Array): void {
    if (this.phase === P_READING) this.readRequest(data);
    else if (this.phase === P_DECIDING) this.keepEarly(data);
    // Rejected: the rest is ignored while the connection closes.
  }

  protected override opened(): void {
    const factory = this.factory;
    if (factory !== null) factory.sockets.add(this.socket);
    const cb = this.config.onConnection;
    if (cb) {
      try {
        cb(this.socket, this.socket.request!);
      } catch (e) {
        log.failure('Unhandled error in onConnection: the connection is failed with 1011', e);
        this.fail(1011, 'internal error');
        return;
      }
    }
    super.opened();
  }

  protected override closed(): void {
    this.factory?.sockets.delete(this.socket);
  }

  // ------------------------------------------------------------------ the upgrade request

  private get handshake(): HandshakeState {
    return (this.hs ??= new HandshakeState());
  }

  private readRequest(data: Uint8Array): void {
    const hs = this.handshake;
    const parser = hs.parser!;
    parser.receiveData(data);
    for (;;) {
      let ev;
      try {
        ev = parser.nextEvent();
      } catch (e) {
        if (!(e instanceof HttpParseError)) throw e;
        hs.parser = null;
        this.respond({ outcome: { ok: false, status: e.status, headers: [], body: e.message }, params: null });
        return;
      }
      if (ev === NEED_DATA || ev === PAUSED) return;
      if (ev.type === 'request') {
        if (ev.contentLength !== 0 || ev.chunked) {
          hs.parser = null;
          this.respond(rejection(400, [], 'a WebSocket upgrade request has no body'));
          return;
        }
        hs.head = ev;
      } else if (ev.type === 'end') {
        const head = hs.head!;
        const rest = parser.unconsumed;
        hs.parser = null;
        hs.head = null;
        this.requestComplete(head, rest.length > 0 ? rest : null);
        return;
      } else {
        return;
      }
    }
  }

  private requestComplete(head: UpgradeRequestHead, leftover: Uint8Array | null): void {
    this.phase = P_DECIDING;
    if (leftover !== null && leftover.length > 0) this.keepEarly(leftover);
    const t = this.transport!;
    const secure = (t as Partial<ITCPTransport>).isSecure === true;
    this.decide(head, t.getPeer(), secure).addCallback((n: Negotiated) => {
      this.respond(n);
      return undefined;
    });
  }

  private keepEarly(data: Uint8Array): void {
    const hs = this.handshake;
    (hs.early ??= []).push(data);
    hs.earlyBytes += data.length;
    if (hs.earlyBytes > MAX_EARLY_BYTES) this.pauseReading(R_HANDSHAKE);
  }

  /** Send the 101 and open, or send the rejection and close. */
  private respond(n: Negotiated): void {
    if (this.isLost || this.phase === P_OPEN || this.phase === P_REJECTED) return;
    const t = this.transport!;
    const outcome = n.outcome;
    const ser = new ResponseSerializer();
    if (outcome.ok) {
      let bytes: Uint8Array;
      try {
        bytes = ser.send({ type: 'response', status: 101, headers: outcome.headers });
      } catch (e) {
        // Only our users' extra headers can be invalid.
        log.failure('WebSocket: invalid 101 response header: answering 500', e);
        this.respond(INTERNAL_ERROR());
        return;
      }
      this.phase = P_OPEN;
      t.write(bytes);
      const early = this.hs?.early ?? null;
      this.hs = null;
      const leftover = early === null ? null : early.length === 1 ? early[0]! : Buffer.concat(early);
      this.resumeReading(R_HANDSHAKE);
      this.open(n.params!, leftover);
      return;
    }
    this.phase = P_REJECTED;
    this.hs = null;
    this.stopHandshakeTimer();
    ser.respondTo({ method: 'GET', versionMinor: 1, keepAlive: false });
    let bytes: Uint8Array;
    try {
      bytes = ser.send({
        type: 'response',
        status: outcome.status,
        headers: [...rejectionHeaders(outcome), ['Content-Type', 'text/plain; charset=utf-8']],
        body: `${outcome.body}\n`,
      });
    } catch (e) {
      log.failure('WebSocket: invalid rejection response: answering 500', e);
      bytes = new ResponseSerializer().send({ type: 'response', status: 500, headers: [['Connection', 'close']], body: 'Internal Server Error\n' });
    }
    t.write(bytes);
    this.closeTransport();
  }

  /** Validate, consult `onHandshake`, and negotiate subprotocol and compression. Never fails. */
  private decide(head: UpgradeRequestHead, remote: Address | null, secure: boolean): Deferred<Negotiated> {
    let read: ReturnType<typeof readHeaders>;
    try {
      read = readHeaders(head.headers);
    } catch (e) {
      log.failure('WebSocket: unreadable request headers: answering 500', e);
      return succeed(INTERNAL_ERROR());
    }
    const v = validateUpgradeRequest({ method: head.method, httpVersion: head.versionMinor >= 1 ? '1.1' : '1.0', headers: read.pairs });
    if (!v.ok) return succeed(rejection(v.status, v.headers, v.reason));
    const offer = v.offer;
    const request = new WebSocketRequest(head.method, head.target, read.fields, remote, secure);
    const hook = this.config.onHandshake;
    const decision: Deferred<HandshakeResult> =
      hook === undefined ? succeed<HandshakeResult>(undefined) : maybeDeferred<HandshakeResult, []>(() => hook(request));
    return decision.addCallbacks(
      (d: HandshakeResult) => this.conclude(request, offer, d),
      (f: Failure) => {
        log.failure('Unhandled error in onHandshake: answering 500', f);
        return INTERNAL_ERROR();
      },
    );
  }

  private conclude(request: WebSocketRequest, offer: UpgradeOffer, d: HandshakeResult): Negotiated {
    if (d === false) return rejection(403, []);
    if (typeof d === 'object' && d !== null && d.accept === false) return rejection(d.status, d.headers ?? [], d.body);
    try {
      const accept = typeof d === 'object' && d !== null ? d : null;
      let protocol: string | null;
      if (accept !== null && accept.protocol !== undefined) {
        protocol = accept.protocol;
        if (protocol !== null && !offer.protocols.includes(protocol)) {
          throw new TypeError(`onHandshake selected subprotocol ${JSON.stringify(protocol)}, which the client did not offer`);
        }
      } else {
        const supported = this.config.protocols;
        protocol =
          supported === undefined
            ? null
            : selectSubprotocol(offer.protocols, typeof supported === 'function' ? (offered) => supported(offered, request) : supported);
      }
      const deflate = this.config.deflate === null ? null : negotiatePerMessageDeflate(offer.extensions, this.config.deflate.negotiation);
      const extensions = deflate === null ? null : deflate.response;
      const headers: Array<readonly [string, string]> = buildAcceptHeaders(offer.key, protocol, extensions);
      const extra = this.config.headers;
      if (extra !== undefined) headers.push(...(typeof extra === 'function' ? extra(request) : extra));
      if (accept !== null && accept.headers !== undefined) headers.push(...accept.headers);
      return {
        outcome: { ok: true, status: 101, headers },
        params: {
          protocol,
          extensions,
          deflate: deflate === null ? null : deflate.params,
          deflateOptions: this.config.deflate === null ? {} : this.config.deflate.runtime,
          url: request.target,
          request,
        },
      };
    } catch (e) {
      log.failure('WebSocket: accepting the upgrade failed: answering 500', e);
      return INTERNAL_ERROR();
    }
  }
}

/**
 * Builds a {@link WebSocketServerProtocol} per connection and keeps the set of open sockets
 * (`sockets`), for `broadcast` and a graceful `closeAll`. Listen with it on any port or endpoint.
 *
 * @example
 * ```ts
 * const factory = new WebSocketServerFactory({
 *   protocols: ['chat.v1'],
 *   onHandshake: (req) => req.origin === 'https://example.com' || rejectHandshake(403),
 *   onConnection(ws, req) {
 *     ws.onMessage = (data) => factory.broadcast(data);
 *   },
 * });
 * reactor.listenTCP(8080, factory, { interface: '127.0.0.1' });
 * ```
 */
export class WebSocketServerFactory implements IProtocolFactory {
  /** The sockets currently open (added before `onConnection`, removed after `onClose`). */
  readonly sockets = new Set<WebSocket>();
  /** How many ports use this factory. */
  numPorts = 0;
  /** @internal */
  readonly config: ServerConfig;

  /** @throws RangeError for invalid options. */
  constructor(options: WebSocketServerOptions = {}) {
    this.config = resolveServerOptions(options);
  }

  /** A protocol for a new connection. */
  buildProtocol(_addr: Address): WebSocketServerProtocol {
    return new WebSocketServerProtocol({}, this);
  }

  doStart(): void {
    this.numPorts++;
  }

  doStop(): void {
    if (this.numPorts > 0) this.numPorts--;
  }

  /** {@link broadcast} to every open socket; returns how many took the message. */
  broadcast(message: string | Uint8Array, options: { binary?: boolean } = {}): number {
    return broadcast(this.sockets, message, options);
  }

  /**
   * Close every open socket with `code` (default 1001, going away) and `reason`; fires once all
   * are closed (each within its `closeTimeout`). Stop listening first so no new ones open.
   */
  closeAll(code = 1001, reason = ''): Deferred<void> {
    const waits: Deferred<CloseInfo>[] = [];
    for (const ws of [...this.sockets]) {
      ws.close(code, reason);
      waits.push(ws.whenClosed());
    }
    return gatherResults(waits).addCallback((): void => undefined);
  }
}

/**
 * What {@link webSocketHandler} needs of an HTTP request: Spindle's `Request` fits.
 */
export interface UpgradableRequest {
  readonly method: string;
  /** The request target as received. */
  readonly uri: string;
  readonly versionMinor: number;
  readonly requestHeaders: Iterable<readonly [string, string]>;
  /** True once the client went away. */
  readonly disconnected: boolean;
  getClientAddress(): Address;
  isSecure(): boolean;
  /** Send a 101 with `headers`, then hand the connection to `protocol`. */
  upgrade(protocol: IProtocol, options: { headers: HeaderList }): void;
  setResponseCode(code: number): void;
  addHeader(name: string, value: string): void;
  setHeader(name: string, value: string): void;
  finish(data?: string): void;
}

/**
 * A request handler for Spindle's HTTP server (`new HTTPFactory(handler)`, or a route) that
 * serves WebSocket upgrades with `factory`: a valid upgrade that `onHandshake` accepts gets its
 * 101 and the connection is handed to a `WebSocketServerProtocol` (through `request.upgrade`);
 * anything else is answered with the rejection's status (400, 426 with
 * `Sec-WebSocket-Version: 13`, 403…) as a plain-text response.
 *
 * It works wherever a request handler does: `new HTTPFactory(handler)`, a `Router` route, a
 * render method (see {@link WebSocketResource}). The returned Deferred fires once the request
 * is answered (upgraded, or finished with the rejection).
 *
 * @example
 * ```ts
 * const chat = new WebSocketServerFactory({ onConnection: (ws) => { ws.onMessage = (m) => ws.send(m); } });
 * reactor.listenTCP(8000, new HTTPFactory(webSocketHandler(chat)), { interface: '127.0.0.1' });
 * router.get('/chat/<room>', webSocketHandler(chat));
 * ```
 */
export function webSocketHandler(factory: WebSocketServerFactory): (request: UpgradableRequest) => Deferred<void> {
  return (request) => {
    const remote = request.getClientAddress();
    const protocol = factory.buildProtocol(remote);
    const head: UpgradeRequestHead = {
      method: request.method,
      target: request.uri,
      versionMinor: request.versionMinor,
      headers: request.requestHeaders,
    };
    return protocol.negotiate(head, remote, request.isSecure()).addCallback((outcome: UpgradeOutcome): void => {
      if (request.disconnected) return;
      if (outcome.ok) {
        request.upgrade(protocol, { headers: outcome.headers });
        return;
      }
      request.setResponseCode(outcome.status);
      for (const [name, value] of rejectionHeaders(outcome)) request.addHeader(name, value);
      request.setHeader('Content-Type', 'text/plain; charset=utf-8');
      request.finish(`${outcome.body}\n`);
    });
  };
}

/**
 * A leaf of a `Site`'s resource tree that serves WebSocket upgrades with `factory` (see
 * {@link webSocketHandler}); the rest of the path is in `request.postpath`. Only GET is rendered
 * (other methods get 405).
 *
 * @example
 * ```ts
 * const root = new Resource();
 * root.putChild('live', new WebSocketResource(new WebSocketServerFactory({ onConnection })));
 * reactor.listenTCP(8000, new Site(root), { interface: '127.0.0.1' });
 * // or with a Router: router.get('/live/<room>', webSocketHandler(factory));
 * ```
 */
export class WebSocketResource extends Resource {
  override isLeaf = true;
  private readonly handle: (request: UpgradableRequest) => Deferred<void>;

  constructor(readonly factory: WebSocketServerFactory) {
    super();
    this.handle = webSocketHandler(factory);
  }

  /** Answer the upgrade (or its rejection); the request is finished when the Deferred fires. */
  render_GET(request: Request): Deferred<void> {
    return this.handle(request);
  }
}

/**
 * The client side: `WebSocketClientProtocol` (the opening handshake from the client's end,
 * then the shared connection logic) and `connectWebSocket`, which connects to a `ws://` or
 * `wss://` URL through the reactor and gives the open socket.
 *
 * @module
 */
import { isIP } from 'node:net';
import type { IReactorTime } from '../defer/clock.js';
import { Deferred, fail, succeed } from '../defer/deferred.js';
import { TimeoutError } from '../defer/errors.js';
import type { Failure } from '../defer/failure.js';
import { HttpParseError } from '../http/errors.js';
import { NEED_DATA, PAUSED, ResponseParser, type HttpParserOptions } from '../http/parser.js';
import { RequestSerializer } from '../http/serializer.js';
import { SSL4ClientEndpoint, TCP4ClientEndpoint } from '../reactor/endpoints/tcp.js';
import type { IReactorSSL, IReactorTCP, TLSOptions } from '../reactor/interfaces.js';
import type { PerMessageDeflateOptions } from './deflate.js';
import { PerMessageDeflate } from './deflate.js';
import {
  deflateConfigFor,
  formatPerMessageDeflateOffer,
  type PerMessageDeflateClientOptions,
  type PerMessageDeflateParams,
} from './deflate-negotiation.js';
import { WebSocketHandshakeError } from './errors.js';
import { createClientHandshake, validateServerResponse, type ClientHandshake, type ClientHandshakeResult } from './handshake.js';
import type { HeaderList } from './header-tokens.js';
import { WebSocketProtocol, resolveWebSocketOptions, type WebSocketOptions } from './protocol.js';
import type { WebSocket, WebSocketHandlers } from './socket.js';

/** permessage-deflate on the client: what to offer (RFC 7692 parameters) and how to compress. */
export interface ClientDeflateOptions extends PerMessageDeflateClientOptions, PerMessageDeflateOptions {}

/** Options of {@link connectWebSocket} (and of the client protocol). Handlers may be given here. */
export interface WebSocketClientOptions extends WebSocketOptions, WebSocketHandlers {
  /** Subprotocols to ask for, most preferred first (tokens, no duplicates). */
  protocols?: readonly string[];
  /** Extra request header fields (cookies, authorization…). */
  headers?: HeaderList | Readonly<Record<string, string>>;
  /** An `Origin` header value. */
  origin?: string;
  /**
   * Offer permessage-deflate: on by default (`true`); `false` to not offer it; an object to
   * tune the offer and the compression (threshold 1024 bytes by default).
   */
  perMessageDeflate?: boolean | ClientDeflateOptions;
  /** `wss://`: TLS options (a `ca` for a private certificate, …). The server is always verified unless `rejectUnauthorized: false`. */
  tls?: TLSOptions;
  /** Seconds to establish the TCP (and TLS) connection. Default 30. */
  connectTimeout?: number;
  /** Limits of the response parser (head size, field count). */
  httpLimits?: HttpParserOptions;
}

/** Options of a {@link WebSocketClientProtocol} used directly, over a transport of your own. */
export interface WebSocketClientProtocolOptions extends WebSocketClientOptions {
  /** The `Host` header: `host[:port]`. */
  host: string;
  /** The request target (path and query). Default `/`. */
  path?: string;
  /** What `ws.url` reports. Default `ws://{host}{path}`. */
  url?: string;
  /** The `Sec-WebSocket-Key` to send (tests); default a fresh random one. */
  key?: string;
}

/** A `ws://` / `wss://` URL taken apart; see {@link parseWebSocketUrl}. */
export interface WebSocketTarget {
  /** `wss://` (or `https://`). */
  readonly secure: boolean;
  /** The host to connect to (an IPv6 address without brackets). */
  readonly host: string;
  /** The port (80 / 443 by default). */
  readonly port: number;
  /** The `Host` header value (the port only when not the default). */
  readonly hostHeader: string;
  /** The request target: path and query. */
  readonly path: string;
  /** The normalized URL, with a `ws:`/`wss:` scheme. */
  readonly href: string;
}

/**
 * Take a WebSocket URL apart. `http://` and `https://` are accepted as `ws://` and `wss://`.
 *
 * @throws TypeError for an unparsable URL, another scheme, a fragment, or credentials in the
 *   URL (send an `Authorization` header instead).
 */
export function parseWebSocketUrl(url: string | URL): WebSocketTarget {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw new TypeError(`invalid WebSocket URL ${JSON.stringify(String(url))}`);
  }
  let secure: boolean;
  switch (u.protocol) {
    case 'ws:':
    case 'http:':
      secure = false;
      break;
    case 'wss:':
    case 'https:':
      secure = true;
      break;
    default:
      throw new TypeError(`a WebSocket URL starts with ws:// or wss://, not ${u.protocol}//`);
  }
  if (u.hash !== '' || (typeof url === 'string' && url.includes('#'))) throw new TypeError('a WebSocket URL has no fragment');
  if (u.username !== '' || u.password !== '') throw new TypeError('credentials in a WebSocket URL are not supported: send an Authorization header');
  const hostname = u.hostname;
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const defaultPort = secure ? 443 : 80;
  const port = u.port === '' ? defaultPort : Number(u.port);
  const hostHeader = port === defaultPort ? u.hostname : `${u.hostname}:${port}`;
  const path = (u.pathname === '' ? '/' : u.pathname) + u.search;
  return { secure, host, port, hostHeader, path, href: `${secure ? 'wss' : 'ws'}://${hostHeader}${path}` };
}

function headerList(headers: WebSocketClientOptions['headers']): HeaderList {
  if (headers === undefined) return [];
  if (Array.isArray(headers)) return headers as HeaderList;
  return Object.entries(headers as Record<string, string>);
}

/**
 * The client end of one WebSocket connection: on `connectionMade` it sends the upgrade request
 * (with the subprotocols, `Origin`, extra headers, and a permessage-deflate offer unless
 * `perMessageDeflate: false`), validates the server's 101 (`validateServerResponse`: accept key,
 * subprotocol among those asked, extensions as offered) and opens; bytes after the 101 are the
 * first WebSocket bytes. A non-101 answer, an invalid 101, a handshake timeout
 * (`handshakeTimeout`, 10 s) or a lost connection fail {@link WebSocketClientProtocol.whenOpen}
 * and close the connection.
 *
 * Use {@link connectWebSocket} to connect to a URL; use this class directly over a transport of
 * your own (or `connectedPair` in tests).
 *
 * @example
 * ```ts
 * const client = new WebSocketClientProtocol({ host: '127.0.0.1:8080', path: '/chat', reactor: clock });
 * const { pump } = connectedPair(new WebSocketServerFactory({ reactor: clock }).buildProtocol(addr), client);
 * const ws = successResultOf(client.whenOpen());
 * ```
 */
export class WebSocketClientProtocol extends WebSocketProtocol {
  /** The handshake request we send (key, subprotocols, offer). */
  readonly handshake: ClientHandshake;
  private readonly target: string;
  private readonly deflateRuntime: PerMessageDeflateOptions;
  private readonly httpLimits: HttpParserOptions | undefined;
  private parser: ResponseParser | null = null;
  private agreed: ClientHandshakeResult | null = null;
  private agreedExtensions: string | null = null;
  private openWaiters: Deferred<WebSocket>[] | null = null;
  private openError: Error | null = null;

  /**
   * @throws RangeError for invalid options, subprotocols or deflate parameters.
   */
  constructor(options: WebSocketClientProtocolOptions) {
    super('client', resolveWebSocketOptions(options), options);
    const pmd = options.perMessageDeflate ?? true;
    let offer: PerMessageDeflateClientOptions | false = false;
    this.deflateRuntime = {};
    if (pmd !== false) {
      const o: ClientDeflateOptions = pmd === true ? {} : pmd;
      offer = {
        serverNoContextTakeover: o.serverNoContextTakeover,
        clientNoContextTakeover: o.clientNoContextTakeover,
        serverMaxWindowBits: o.serverMaxWindowBits,
        clientMaxWindowBits: o.clientMaxWindowBits,
      };
      this.deflateRuntime = { threshold: o.threshold, maxInflatedSize: o.maxInflatedSize ?? this.settings.maxMessageSize, level: o.level, memLevel: o.memLevel };
      formatPerMessageDeflateOffer(offer);
      const full: PerMessageDeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
      new PerMessageDeflate(deflateConfigFor(full, 'client'), this.deflateRuntime).close();
    }
    const path = options.path ?? '/';
    this.handshake = createClientHandshake({
      host: options.host,
      path,
      protocols: options.protocols,
      perMessageDeflate: offer,
      origin: options.origin,
      headers: headerList(options.headers),
      key: options.key,
    });
    this.target = options.url ?? `ws://${options.host}${path}`;
    this.httpLimits = options.httpLimits;
  }

  /**
   * A Deferred firing with the socket once the handshake completed (at once if it has), or
   * failing with {@link WebSocketHandshakeError} (a non-101 answer — its `status` — or an
   * invalid one; also when the connection closed first), or `TimeoutError` (`handshakeTimeout`).
   * A new Deferred per call.
   */
  whenOpen(): Deferred<WebSocket> {
    if (this.isOpen) return succeed(this.socket);
    if (this.openError !== null) return fail<WebSocket>(this.openError);
    const d = new Deferred<WebSocket>();
    (this.openWaiters ??= []).push(d);
    return d;
  }

  /** Send the upgrade request. */
  override connectionMade(): void {
    const hs = this.handshake;
    const bytes = new RequestSerializer().send({ type: 'request', method: 'GET', target: hs.path, headers: hs.headers });
    this.parser = new ResponseParser(this.httpLimits);
    this.parser.expectResponse('GET');
    this.startHandshakeTimer();
    this.transport!.write(bytes);
  }

  protected override handshakeData(data: Uint8Array): void {
    const parser = this.parser;
    if (parser === null) return;
    parser.receiveData(data);
    for (;;) {
      let ev;
      try {
        ev = parser.nextEvent();
      } catch (e) {
        if (!(e instanceof HttpParseError)) throw e;
        this.handshakeFailed(new WebSocketHandshakeError(0, `invalid HTTP response from the server: ${e.message}`));
        return;
      }
      if (ev === NEED_DATA || ev === PAUSED) return;
      switch (ev.type) {
        case 'response': {
          const headers = [...ev.headers.entries()];
          try {
            this.agreed = validateServerResponse(this.handshake, { status: ev.status, headers });
          } catch (e) {
            this.handshakeFailed(
              e instanceof WebSocketHandshakeError && ev.status !== 101
                ? new WebSocketHandshakeError(ev.status, `the server answered ${ev.status}${ev.reason === '' ? '' : ` ${ev.reason}`} instead of 101`)
                : (e as Error),
            );
            return;
          }
          if (this.agreed.perMessageDeflate !== null) this.agreedExtensions = ev.headers.getCombined('sec-websocket-extensions') ?? null;
          break;
        }
        case 'end': {
          const rest = parser.unconsumed;
          const agreed = this.agreed!;
          this.parser = null;
          this.open(
            {
              protocol: agreed.protocol,
              extensions: this.agreedExtensions,
              deflate: agreed.perMessageDeflate,
              deflateOptions: this.deflateRuntime,
              url: this.target,
              request: null,
            },
            // A view into the parser's buffer, which is dropped: the frames may be unmasked in place.
            rest.length > 0 ? rest : null,
          );
          return;
        }
        default:
          // 1xx interim responses: wait for the real one.
          break;
      }
    }
  }

  protected override handshakeTimedOut(): void {
    this.handshakeFailed(new TimeoutError(this.settings.handshakeTimeout, 'WebSocket opening handshake'));
    this.abort();
  }

  protected override handshakeLost(reason: Failure): void {
    if (this.openError === null) {
      this.settle(
        new WebSocketHandshakeError(0, `the connection closed before the opening handshake completed: ${reason.value.message}`),
      );
    }
  }

  protected override opened(): void {
    super.opened();
    const waiters = this.openWaiters;
    this.openWaiters = null;
    if (waiters !== null) for (const d of waiters) d.callback(this.socket);
  }

  private handshakeFailed(error: Error): void {
    this.stopHandshakeTimer();
    this.parser = null;
    this.settle(error);
    this.closeTransport();
  }

  private settle(error: Error): void {
    this.openError = error;
    const waiters = this.openWaiters;
    this.openWaiters = null;
    if (waiters !== null) for (const d of waiters) d.errback(error);
  }
}

/**
 * Connect to a WebSocket server: `ws://` over `reactor.connectTCP`, `wss://` over
 * `reactor.connectSSL` (the server's certificate is verified against the host name unless
 * `tls.rejectUnauthorized` is false; pass `tls.ca` for a private CA). Fires with the
 * {@link WebSocket} once the opening handshake completed.
 *
 * Failures: the connection errors (`ConnectionRefusedError`, `TCPTimedOutError` after
 * `connectTimeout`, `DNSLookupError`…), {@link WebSocketHandshakeError} (the server answered
 * something else than a valid 101: `status` says what), `TimeoutError` (`handshakeTimeout`).
 * Cancelling the Deferred (it then fails with `CancelledError`) stops connecting, or drops the
 * connection if it was made. An `onClose` given in the options is called (1006) when the
 * connection was made but the handshake failed, as a browser does.
 *
 * @example
 * ```ts
 * const ws = await connectWebSocket(reactor, 'ws://127.0.0.1:8080/echo', { protocols: ['chat'] });
 * await ws.send('hello');
 * for await (const msg of ws) console.log(msg);
 * ```
 * @throws TypeError for an invalid URL; RangeError for invalid options.
 */
export function connectWebSocket(
  reactor: IReactorTCP & IReactorSSL & IReactorTime,
  url: string | URL,
  options: WebSocketClientOptions = {},
): Deferred<WebSocket> {
  const target = parseWebSocketUrl(url);
  const protocol = new WebSocketClientProtocol({ reactor, ...options, host: target.hostHeader, path: target.path, url: target.href });
  const timeout = options.connectTimeout ?? 30;
  const endpoint = target.secure
    ? new SSL4ClientEndpoint(reactor, target.host, target.port, tlsFor(target, options.tls), { timeout })
    : new TCP4ClientEndpoint(reactor, target.host, target.port, { timeout });
  let connecting: Deferred<WebSocketClientProtocol> | null = null;
  let cancelled = false;
  const result = new Deferred<WebSocket>(() => {
    // The Deferred then fails with CancelledError, whichever step was cancelled.
    cancelled = true;
    if (connecting !== null && !connecting.called) connecting.cancel();
    else protocol.abort();
  });
  const failed = (f: Failure): undefined => {
    if (!result.called && !cancelled) result.errback(f);
    return undefined;
  };
  connecting = endpoint.connect<WebSocketClientProtocol>({ buildProtocol: () => protocol });
  connecting.addCallbacks((p: WebSocketClientProtocol) => {
    p.whenOpen().addCallbacks((ws: WebSocket) => {
      if (!result.called) result.callback(ws);
      else ws.terminate();
      return undefined;
    }, failed);
    return undefined;
  }, failed);
  return result;
}

function tlsFor(target: WebSocketTarget, tls: TLSOptions | undefined): TLSOptions {
  const options: TLSOptions = { ...tls };
  // Verify the certificate against the host name (IP addresses are checked as such by Node).
  if (options.servername === undefined && isIP(target.host) === 0) options.servername = target.host;
  return options;
}

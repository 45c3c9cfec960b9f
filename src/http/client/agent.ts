/**
 * The HTTP client's Agent (Twisted's `twisted.web.client.Agent`): requests
 * by URL over pooled connections.
 *
 * @module
 */
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { Deferred } from '../../defer/deferred.js';
import { TCPTimedOutError } from '../../reactor/errors.js';
import type { IClientFactory, IConnector, IReactorSSL, IReactorTCP, TLSOptions } from '../../reactor/interfaces.js';
import { HeaderList } from '../headers.js';
import { SchemeNotSupported } from './errors.js';
import { HTTPConnectionPool } from './pool.js';
import { HTTP11ClientProtocol, isRequestBody, type ClientRequest, type RequestBody } from './protocol.js';
import type { Response } from './response.js';

/**
 * Header fields of a request: `[name, value]` pairs (order kept, repeats
 * allowed), a record whose array values become repeated fields, or a
 * received {@link HeaderList}. Numbers are sent in decimal.
 */
export type RequestHeaders =
  | ReadonlyArray<readonly [string, string | number]>
  | Readonly<Record<string, string | number | ReadonlyArray<string | number>>>
  | HeaderList;

/**
 * Anything that makes HTTP requests: {@link Agent} and the agents that wrap
 * one ({@link RedirectAgent}, {@link ContentDecoderAgent}), so wrappers
 * compose (Twisted's `IAgent`).
 */
export interface IAgent {
  /**
   * Send a request; the Deferred fires with the {@link Response} once its
   * head has arrived.
   *
   * @param method - a token (`GET`, `POST`, ...).
   * @param url - an absolute `http:` or `https:` URL.
   * @param headers - extra fields; `Host` comes from the URL (a `Host`
   *   given here replaces it); Content-Length and Transfer-Encoding are
   *   refused (the body decides them).
   * @param body - see {@link RequestBody}.
   */
  request(method: string, url: string | URL, headers?: RequestHeaders | null, body?: RequestBody | null): Deferred<Response>;
}

/** What an Agent needs of a reactor: time (timeouts), TCP and TLS connections. */
export type AgentReactor = IReactorTime & IReactorTCP & IReactorSSL;

/** Options of {@link Agent}. */
export interface AgentOptions {
  /**
   * The connection pool. Default: a pool of its own that is **not
   * persistent** (Twisted's default: each request on a new connection,
   * closed after the response). Pass `new HTTPConnectionPool(reactor)` for
   * keep-alive.
   */
  pool?: HTTPConnectionPool;
  /** Seconds to establish a connection (TCP, and TLS for https) before failing with TCPTimedOutError (default 30; Infinity for none). */
  connectTimeout?: number;
  /**
   * Seconds without progress before the response head arrives: from sending
   * the request head, restarted by each request body chunk written and by
   * each 1xx response. Running out fails the request with `TimeoutError`
   * and aborts the connection. Default: none (as in Twisted; or use
   * `d.addTimeout(seconds, reactor)` for an overall limit).
   */
  requestTimeout?: number;
  /**
   * Seconds between two chunks of the response body (suspended while the
   * body's consumer pauses). Running out fails the body with `TimeoutError`
   * and aborts the connection. Default: none.
   */
  bodyTimeout?: number;
  /**
   * Largest response head, in bytes (default 64 KiB). A connection keeps the
   * limit of the agent that opened it.
   */
  maxResponseHeadSize?: number;
  /** TLS settings for https (CA, client certificate, `rejectUnauthorized`...). The server name is checked against the URL's host. */
  tls?: TLSOptions;
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// CR, LF, NUL, space and every other control: a URL string must have none
// (WHATWG URL parsing silently strips tabs and newlines, so check first).
const BAD_URL_CHAR_RE = /[\x00-\x20\x7f]/;
const BAD_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;
const TARGET_RE = /^[\x21-\x7e]+$/;

let agentSerial = 0;

/**
 * Validate and parse a request URL: absolute, `http:`/`https:`, no
 * credentials, no control characters or spaces in the string.
 *
 * @throws TypeError (or its subclass SchemeNotSupported).
 */
export function parseRequestURL(url: string | URL): URL {
  const text = typeof url === 'string' ? url : url instanceof URL ? url.href : undefined;
  if (text === undefined) throw new TypeError(`the URL must be a string or a URL, not ${typeof url}`);
  if (BAD_URL_CHAR_RE.test(text)) {
    throw new TypeError(`invalid URL ${JSON.stringify(text)}: it contains a space, CR, LF or another control character`);
  }
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new TypeError(`invalid URL ${JSON.stringify(text)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new SchemeNotSupported(parsed.protocol);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError('credentials in the URL are not sent: give an Authorization header instead');
  }
  if (parsed.hostname === '') throw new TypeError(`invalid URL ${JSON.stringify(text)}: no host`);
  return parsed;
}

/**
 * Header fields as validated `[name, value]` pairs: names are tokens,
 * values have no CR, LF, NUL or other control (TAB allowed) and no
 * character above U+00FF.
 *
 * @throws TypeError for an invalid name or value (header injection).
 */
export function normalizeHeaders(headers: RequestHeaders | null | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (headers === null || headers === undefined) return out;
  const add = (name: unknown, value: unknown): void => {
    if (typeof name !== 'string' || !TOKEN_RE.test(name)) throw new TypeError(`invalid HTTP header name ${JSON.stringify(name)}`);
    const v = typeof value === 'number' ? String(value) : value;
    if (typeof v !== 'string') throw new TypeError(`the value of HTTP header ${name} must be a string or a number`);
    if (BAD_VALUE_RE.test(v)) {
      throw new TypeError(`invalid character (CR, LF, NUL or another control) in the value of HTTP header ${name}`);
    }
    out.push([name, v]);
  };
  if (headers instanceof HeaderList) {
    for (const [name, value] of headers) add(name, value);
  } else if (Array.isArray(headers)) {
    for (const pair of headers as ReadonlyArray<readonly [string, string | number]>) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('headers must be [name, value] pairs');
      add(pair[0], pair[1]);
    }
  } else if (typeof headers === 'object') {
    const rec = headers as Readonly<Record<string, string | number | ReadonlyArray<string | number>>>;
    for (const name of Object.keys(rec)) {
      const v = rec[name]!;
      if (Array.isArray(v)) for (const one of v as ReadonlyArray<string | number>) add(name, one);
      else add(name, v);
    }
  } else {
    throw new TypeError('headers must be an array of [name, value] pairs, a record or a HeaderList');
  }
  return out;
}

/** The port of a parsed http(s) URL (the scheme's default when absent). */
function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/**
 * Makes HTTP/1.1 requests (Twisted's `Agent`).
 *
 * `request(method, url, headers, body)` validates everything first — a
 * method that is not a token, a URL with a space, CR, LF or other control
 * character, a header name that is not a token, a value with CR/LF/NUL —
 * and throws a TypeError before anything is sent (CVE-2019-12387). It then
 * takes a connection from the pool (keyed by scheme, host and port) or
 * opens one (`connectTCP`, or `connectSSL` for https), and sends the
 * request with `Host` from the URL. A body of bytes or a string goes with a
 * Content-Length; an async iterable or an IBodyProducer without a length
 * goes chunked. The Deferred fires with the Response once the head has
 * arrived; the body streams afterwards. Cancelling it before then stops
 * connecting or aborts the connection (which is not reused).
 *
 * It follows no redirects and decodes nothing: wrap it in
 * {@link RedirectAgent} / {@link ContentDecoderAgent} for that.
 *
 * @example
 * ```ts
 * const pool = new HTTPConnectionPool(reactor);
 * const agent = new Agent(reactor, { pool, connectTimeout: 10, requestTimeout: 30 });
 * const response = await agent.request('POST', 'http://127.0.0.1:8080/items',
 *   { 'Content-Type': 'application/json' }, JSON.stringify({ name: 'x' }));
 * console.log(response.status, (await readBody(response)).toString());
 * ```
 */
export class Agent implements IAgent {
  /** The connection pool in use. */
  readonly pool: HTTPConnectionPool;
  readonly connectTimeout: number;
  readonly requestTimeout: number | undefined;
  readonly bodyTimeout: number | undefined;
  readonly maxResponseHeadSize: number | undefined;
  private readonly tls: TLSOptions;
  /** Keeps connections made with custom TLS settings apart in a shared pool. */
  private readonly keySuffix: string;

  /** @throws RangeError for a timeout that is not a positive number. */
  constructor(
    readonly reactor: AgentReactor,
    options: AgentOptions = {},
  ) {
    this.pool = options.pool ?? new HTTPConnectionPool(reactor, { persistent: false });
    this.connectTimeout = checkSeconds('connectTimeout', options.connectTimeout ?? 30);
    this.requestTimeout = options.requestTimeout === undefined ? undefined : checkSeconds('requestTimeout', options.requestTimeout);
    this.bodyTimeout = options.bodyTimeout === undefined ? undefined : checkSeconds('bodyTimeout', options.bodyTimeout);
    this.maxResponseHeadSize = options.maxResponseHeadSize;
    this.tls = options.tls ?? {};
    this.keySuffix = options.tls === undefined ? '' : `#tls${++agentSerial}`;
  }

  /**
   * Send a request (see the class documentation and {@link IAgent.request}).
   *
   * @throws TypeError when the method, URL, headers or body are invalid
   *   (SchemeNotSupported for other schemes); nothing is sent then.
   */
  request(method: string, url: string | URL, headers?: RequestHeaders | null, body?: RequestBody | null): Deferred<Response> {
    if (typeof method !== 'string' || !TOKEN_RE.test(method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(method)}`);
    const parsed = parseRequestURL(url);
    const target = `${parsed.pathname === '' ? '/' : parsed.pathname}${parsed.search}`;
    if (!TARGET_RE.test(target)) throw new TypeError(`invalid request target ${JSON.stringify(target)}`);
    if (body !== null && body !== undefined && !isRequestBody(body)) {
      throw new TypeError('the body must be a Uint8Array, a string, an async iterable or an IBodyProducer');
    }
    let host = parsed.host;
    let askedToClose = false;
    const fields: [string, string][] = [];
    for (const field of normalizeHeaders(headers)) {
      const lower = field[0].toLowerCase();
      if (lower === 'content-length' || lower === 'transfer-encoding') {
        throw new TypeError(`do not set ${field[0]}: the body decides the framing`);
      }
      if (lower === 'host') {
        host = field[1];
        continue;
      }
      if (lower === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(field[1])) askedToClose = true;
      fields.push(field);
    }
    if (!this.pool.persistent && !askedToClose) fields.push(['Connection', 'close']);
    const persistent = this.pool.persistent && !askedToClose;
    fields.unshift(['Host', host]);
    const request: ClientRequest = {
      method,
      target,
      headers: fields,
      body: body ?? null,
      persistent,
      url: parsed.href,
      requestTimeout: this.requestTimeout,
      bodyTimeout: this.bodyTimeout,
    };
    const secure = parsed.protocol === 'https:';
    const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    const port = portOf(parsed);
    const key = `${parsed.protocol}//${parsed.hostname}:${port}${secure ? this.keySuffix : ''}`;
    return this.pool
      .getConnection(key, () => this.connect(secure, hostname, port))
      .addCallback((connection) => connection.request(request));
  }

  /** Open a connection; fires with its protocol once connected (TLS handshake included). */
  private connect(secure: boolean, host: string, port: number): Deferred<HTTP11ClientProtocol> {
    const reactor = this.reactor;
    const timeout = this.connectTimeout;
    const protocol = new HTTP11ClientProtocol(
      reactor,
      this.maxResponseHeadSize === undefined ? {} : { maxHeadSize: this.maxResponseHeadSize },
    );
    let connector: IConnector | null = null;
    let timer: IDelayedCall | null = null;
    let settled = false;
    let timedOut = false;
    const stopTimer = (): void => {
      if (timer !== null && timer.active()) timer.cancel();
      timer = null;
    };
    const d = new Deferred<HTTP11ClientProtocol>(() => {
      settled = true;
      stopTimer();
      if (connector !== null && connector.state === 'connecting') connector.stopConnecting();
    });
    protocol.onConnectionMade = () => {
      if (settled) {
        // Connected after a cancel or a timeout: nobody wants it.
        void protocol.abort();
        return;
      }
      settled = true;
      stopTimer();
      d.callback(protocol);
    };
    const factory: IClientFactory = {
      buildProtocol: () => protocol,
      clientConnectionFailed: (_connector, reason) => {
        if (settled) return;
        settled = true;
        stopTimer();
        d.errback(timedOut ? new TCPTimedOutError(`connecting to ${host}:${port} took longer than ${timeout} s`) : reason);
      },
    };
    // The reactor enforces the timeout too; our own timer on its clock makes
    // it hold for reactors that do not (MemoryReactorClock in tests).
    const options = { timeout };
    connector = secure
      ? reactor.connectSSL(host, port, factory, { alpnProtocols: ['http/1.1'], ...this.tls }, options)
      : reactor.connectTCP(host, port, factory, options);
    if (!settled && Number.isFinite(timeout)) {
      timer = reactor.callLater(timeout, () => {
        timer = null;
        if (settled) return;
        timedOut = true;
        if (connector !== null && connector.state === 'connecting') connector.stopConnecting();
        if (!settled) {
          settled = true;
          d.errback(new TCPTimedOutError(`connecting to ${host}:${port} took longer than ${timeout} s`));
        }
      });
    }
    return d;
  }
}

function checkSeconds(what: string, seconds: number): number {
  if (typeof seconds !== 'number' || !(seconds > 0)) throw new RangeError(`${what} must be a number of seconds > 0, not ${String(seconds)}`);
  return seconds;
}

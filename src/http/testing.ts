/**
 * Testing handlers without I/O: {@link createTestRequest} makes a real
 * {@link Request} on an in-memory connection, {@link render} runs a
 * router, resource or handler function on it and gives back the response.
 *
 * The request goes through the real parser, channel and serializer, so
 * what a test sees is what a client would receive.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import type { IReactorTime } from '../defer/clock.js';
import { Deferred } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import { IPv4Address, type Address } from '../reactor/address.js';
import { Clock } from '../testing/clock.js';
import { StringTransport } from '../testing/stringTransport.js';
import { HTTPFactory, type HTTPChannel } from './channel.js';
import { HttpParseError } from './errors.js';
import type { HeaderList } from './headers.js';
import { ResponseParser } from './parser.js';
import type { Request } from './request.js';
import { Router } from './router.js';
import { Resource, renderRequest, respondWith, type RenderResult } from './site.js';

/** What {@link createTestRequest} builds. Every field has a default. */
export interface TestRequestOptions {
  /** Default `GET`. */
  method?: string;
  /** The request target, query included. Default `/`. */
  path?: string;
  /** Request fields; `Host: localhost` is added when missing, `Content-Length` when there is a body. */
  headers?: Readonly<Record<string, string | readonly string[]>> | ReadonlyArray<readonly [string, string]>;
  /** The body (a string is UTF-8). Default none. */
  body?: string | Uint8Array;
  /** `'1.1'` (default) or `'1.0'`. */
  httpVersion?: '1.0' | '1.1';
  /** Whether `isSecure()` says true. Default false. */
  secure?: boolean;
  /** The client address. Default 192.168.1.1:54321. */
  peer?: Address;
  /** The server address. Default 10.0.0.1:8080. */
  host?: Address;
  /** The clock of the connection (timeouts, Date). Default a new `Clock` at 0. */
  clock?: IReactorTime;
  /** `request.maxBodySize`. Default 10 MiB. */
  maxBodySize?: number;
}

/** A response read back from the in-memory connection. */
export interface TestResponse {
  /** The final status. */
  readonly status: number;
  /** The reason phrase. */
  readonly reason: string;
  /** The response fields (`headers.get('content-type')`, lower-case names). */
  readonly headers: HeaderList;
  /** The body bytes (after removing chunked framing). */
  readonly body: Buffer;
  /** The body as UTF-8 text. */
  readonly text: string;
  /** Statuses of interim responses (e.g. `[100]`), in order. */
  readonly informational: readonly number[];
  /** The body parsed as JSON. @throws SyntaxError when it is not JSON. */
  json<T = unknown>(): T;
}

/** A StringTransport that can claim to be TLS. */
class TestTransport extends StringTransport {
  constructor(
    host: Address,
    peer: Address,
    readonly isSecure: boolean,
  ) {
    super(host, peer);
  }
}

function requestBytes(o: TestRequestOptions): Buffer {
  const method = o.method ?? 'GET';
  const target = o.path ?? '/';
  const version = o.httpVersion ?? '1.1';
  const body = o.body === undefined ? undefined : typeof o.body === 'string' ? Buffer.from(o.body, 'utf8') : o.body;
  const pairs: Array<readonly [string, string]> = [];
  const h = o.headers;
  if (Array.isArray(h)) pairs.push(...(h as ReadonlyArray<readonly [string, string]>));
  else if (h !== undefined) {
    for (const [name, v] of Object.entries(h as Record<string, string | readonly string[]>)) {
      if (typeof v === 'string') pairs.push([name, v]);
      else for (const one of v) pairs.push([name, one]);
    }
  }
  const has = (n: string): boolean => pairs.some(([k]) => k.toLowerCase() === n);
  if (!has('host')) pairs.unshift(['Host', 'localhost']);
  if (body !== undefined && !has('content-length') && !has('transfer-encoding')) pairs.push(['Content-Length', String(body.length)]);
  let head = `${method} ${target} HTTP/${version}\r\n`;
  for (const [n, v] of pairs) {
    if (/[\r\n]/.test(n) || /[\r\n]/.test(v)) throw new TypeError(`CR or LF in test request field ${JSON.stringify(n)}`);
    head += `${n}: ${v}\r\n`;
  }
  head += '\r\n';
  const headBytes = Buffer.from(head, 'latin1');
  return body === undefined ? headBytes : Buffer.concat([headBytes, body]);
}

/**
 * A real {@link Request}, parsed from the bytes `options` describe, on an
 * in-memory connection (a `StringTransport`) whose clock is a `Clock`.
 * Nothing handles it yet: pass it to {@link render} (or call your handler
 * yourself and read the result with {@link responseOf}). The body is read
 * the usual way (`content()`, `receiveBody`…), synchronously.
 *
 * @throws TypeError (CR/LF in a field) or HttpParseError when the options
 *   do not make a valid request (e.g. an invalid method or path).
 *
 * @example
 * ```ts
 * const request = createTestRequest({ method: 'POST', path: '/users?x=1', body: '{"name":"ada"}',
 *   headers: { 'Content-Type': 'application/json' } });
 * const response = await render(router, request);
 * expect(response.status).toBe(201);
 * ```
 */
export function createTestRequest(options: TestRequestOptions = {}): Request {
  let captured: Request | null = null;
  const factory = new HTTPFactory(
    (request) => {
      captured = request;
    },
    { reactor: options.clock ?? new Clock(), maxBodySize: options.maxBodySize },
  );
  const peer = options.peer ?? new IPv4Address('TCP', '192.168.1.1', 54321);
  const host = options.host ?? new IPv4Address('TCP', '10.0.0.1', 8080);
  const transport = new TestTransport(host, peer, options.secure === true);
  const channel: HTTPChannel = factory.buildProtocol(peer);
  channel.makeConnection(transport);
  const bytes = requestBytes(options);
  channel.dataReceived(bytes);
  if (captured === null) {
    const answer = transport.value().toString('latin1');
    const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? '400';
    throw new HttpParseError('INVALID_REQUEST_LINE', Number(status), `the test request is not valid HTTP: the server answered ${status}`);
  }
  return captured;
}

/**
 * The response written to a request made by {@link createTestRequest},
 * once it is finished. Fails with ConnectionLost when the response was
 * aborted (a handler failed after the response started).
 */
export function responseOf(request: Request): Deferred<TestResponse> {
  return request.notifyFinish().addCallback(() => readResponse(request));
}

function readResponse(request: Request): TestResponse {
  const raw = (request.transport as StringTransport).value();
  const parser = new ResponseParser();
  parser.expectResponse(request.method);
  const informational: number[] = [];
  const chunks: Uint8Array[] = [];
  let head: { status: number; reason: string; headers: HeaderList } | null = null;
  let ended = false;
  const handler = {
    onHead: (h: { status: number; reason: string; headers: HeaderList }) => {
      head = h;
    },
    onInformational: (i: { status: number }) => {
      informational.push(i.status);
    },
    onData: (d: Uint8Array) => {
      chunks.push(Buffer.from(d));
    },
    onEnd: () => {
      ended = true;
      parser.pause();
    },
  };
  parser.feed(raw, handler);
  if (!ended) {
    // A body delimited by the connection's end (HTTP/1.0).
    parser.receiveEOF();
    parser.feed(new Uint8Array(0), handler);
  }
  if (head === null) throw new Error('no response was written');
  const h = head as { status: number; reason: string; headers: HeaderList };
  const body = Buffer.concat(chunks);
  return {
    status: h.status,
    reason: h.reason,
    headers: h.headers,
    body,
    text: body.toString('utf8'),
    informational,
    json<T>(): T {
      return JSON.parse(body.toString('utf8')) as T;
    },
  };
}

/** What {@link render} can run. */
export type RenderTarget = Router | Resource | HTTPFactory | ((request: Request) => RenderResult);

/**
 * Run `target` on `request` (from {@link createTestRequest}) as a server
 * would, and fire with the response once it is finished:
 * - a `Router` or a `Resource` tree: routed/traversed and rendered;
 * - an `HTTPFactory` (a `Site`…): its `process`;
 * - a function: called, and its return value rendered as a route handler's.
 *
 * A handler that never finishes leaves the Deferred waiting (add a timeout
 * with `addTimeout(seconds, clock)` if that is a risk). Errors a handler
 * throws become the response (500 for unexpected ones, which are also
 * logged: take them with `flushLoggedErrors`).
 *
 * @example
 * ```ts
 * const res = await render(router, createTestRequest({ path: '/users/7' }));
 * res.status;             // 200
 * res.json();             // { id: 7 }
 * res.headers.get('content-type'); // 'application/json'
 * ```
 */
export function render(target: RenderTarget, request: Request): Deferred<TestResponse> {
  if (target instanceof Router) renderRequest(target.asResource(), request);
  else if (target instanceof Resource) renderRequest(target, request);
  else if (target instanceof HTTPFactory) {
    try {
      const result = target.process(request);
      if (result instanceof Deferred) {
        (result as Deferred<unknown>).addErrback((f: Failure) => {
          request.processingFailed(f);
          return undefined;
        });
      } else if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, (e: unknown) => request.processingFailed(e));
      }
    } catch (e) {
      request.processingFailed(e);
    }
  } else {
    let result: RenderResult;
    try {
      result = target(request);
    } catch (e) {
      request.processingFailed(e);
      return responseOf(request);
    }
    respondWith(request, result);
  }
  return responseOf(request);
}

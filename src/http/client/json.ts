/**
 * One-call conveniences over the Agent: `get`, `post`, `getJSON`,
 * `postJSON`, with a default agent per reactor that follows redirects and
 * decodes gzip/deflate.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import type { Deferred } from '../../defer/deferred.js';
import { getReactor } from '../../reactor/default.js';
import type { HeaderList } from '../headers.js';
import { Agent, normalizeHeaders, type AgentReactor, type IAgent, type RequestHeaders } from './agent.js';
import { ContentDecoderAgent } from './decode.js';
import { HTTPStatusError } from './errors.js';
import type { RequestBody } from './protocol.js';
import { readBody } from './readBody.js';
import { RedirectAgent } from './redirect.js';
import type { Response } from './response.js';

/** Options of {@link get}, {@link post}, {@link getJSON} and {@link postJSON}. */
export interface SimpleRequestOptions {
  /** Extra header fields. */
  headers?: RequestHeaders | null;
  /** The reactor whose default agent to use (default: the global reactor). Ignored with `agent`. */
  reactor?: AgentReactor;
  /** The agent to use instead of the default one. */
  agent?: IAgent;
  /** The most body bytes read (default 64 MiB); more fails with `ResponseBodyTooLarge`. */
  maxSize?: number;
}

/** A whole response: what {@link get} and {@link post} give. */
export interface SimpleResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: HeaderList;
  readonly body: Buffer;
  /** The URL the response came from, after redirects. */
  readonly url: string;
}

const agents = new WeakMap<object, IAgent>();

/**
 * The agent the conveniences use for `reactor` (default: the global
 * reactor, created on first use): redirects followed (20 at most),
 * gzip/deflate decoded, connections **not** kept alive — a script that
 * made a request can exit at once. Make your own Agent with an
 * `HTTPConnectionPool` for keep-alive.
 */
export function defaultAgent(reactor?: AgentReactor): IAgent {
  const r = reactor ?? getReactor();
  let agent = agents.get(r);
  if (agent === undefined) {
    agent = new ContentDecoderAgent(new RedirectAgent(new Agent(r)));
    agents.set(r, agent);
  }
  return agent;
}

function agentFor(options: SimpleRequestOptions): IAgent {
  return options.agent ?? defaultAgent(options.reactor);
}

function collect(response: Response, maxSize: number | undefined): Deferred<SimpleResponse> {
  return readBody(response, maxSize === undefined ? {} : { maxSize }).addCallback((body) => ({
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    body,
    url: response.url,
  }));
}

/** `fields` plus `name: value` unless a field of that name is there already. */
function withDefault(fields: [string, string][], name: string, value: string): [string, string][] {
  const lower = name.toLowerCase();
  if (!fields.some(([n]) => n.toLowerCase() === lower)) fields.push([name, value]);
  return fields;
}

/** A body and its Content-Type: bytes and strings as they are, anything else as JSON. */
function encodeBody(jsonOrBody: unknown): { body: RequestBody; contentType: string | null } {
  if (jsonOrBody instanceof Uint8Array || typeof jsonOrBody === 'string') return { body: jsonOrBody, contentType: null };
  const text = JSON.stringify(jsonOrBody);
  if (text === undefined) throw new TypeError(`cannot send ${typeof jsonOrBody} as JSON`);
  return { body: text, contentType: 'application/json' };
}

/**
 * GET `url` and read the whole response, whatever its status.
 *
 * @throws TypeError for an invalid URL or headers (before anything is sent).
 *
 * @example
 * ```ts
 * const { status, body } = await get('http://127.0.0.1:8080/health');
 * ```
 */
export function get(url: string | URL, options: SimpleRequestOptions = {}): Deferred<SimpleResponse> {
  return agentFor(options)
    .request('GET', url, options.headers ?? null, null)
    .addCallback((response) => collect(response, options.maxSize));
}

/**
 * POST to `url` and read the whole response, whatever its status.
 * `jsonOrBody`: a Uint8Array or a string is sent as it is (set the
 * Content-Type in `headers`); any other value is sent as JSON with
 * `Content-Type: application/json`.
 *
 * @throws TypeError for an invalid URL or headers, or a value JSON cannot encode.
 *
 * @example
 * ```ts
 * const reply = await post('http://127.0.0.1:8080/items', { name: 'spindle' });
 * ```
 */
export function post(url: string | URL, jsonOrBody: unknown, options: SimpleRequestOptions = {}): Deferred<SimpleResponse> {
  const { body, contentType } = encodeBody(jsonOrBody);
  const fields = normalizeHeaders(options.headers);
  if (contentType !== null) withDefault(fields, 'Content-Type', contentType);
  return agentFor(options)
    .request('POST', url, fields, body)
    .addCallback((response) => collect(response, options.maxSize));
}

/**
 * GET `url` (with `Accept: application/json`) and parse the body as JSON.
 * Fails with {@link HTTPStatusError} (carrying the body) unless the status
 * is 2xx, and with a SyntaxError when the body is not JSON.
 *
 * @example
 * ```ts
 * const user = await getJSON<{ name: string }>('http://127.0.0.1:8080/users/1');
 * ```
 */
export function getJSON<T = unknown>(url: string | URL, options: SimpleRequestOptions = {}): Deferred<T> {
  const fields = withDefault(normalizeHeaders(options.headers), 'Accept', 'application/json');
  return agentFor(options)
    .request('GET', url, fields, null)
    .addCallback((response) => collect(response, options.maxSize))
    .addCallback((r) => parseJSON<T>(r));
}

/**
 * POST `value` as JSON to `url` and parse the answer as JSON; fails like
 * {@link getJSON}.
 */
export function postJSON<T = unknown>(url: string | URL, value: unknown, options: SimpleRequestOptions = {}): Deferred<T> {
  const body = JSON.stringify(value);
  if (body === undefined) throw new TypeError(`cannot send ${typeof value} as JSON`);
  const fields = withDefault(normalizeHeaders(options.headers), 'Accept', 'application/json');
  withDefault(fields, 'Content-Type', 'application/json');
  return agentFor(options)
    .request('POST', url, fields, body)
    .addCallback((response) => collect(response, options.maxSize))
    .addCallback((r) => parseJSON<T>(r));
}

function parseJSON<T>(r: SimpleResponse): T {
  if (r.status < 200 || r.status > 299) throw new HTTPStatusError(r.status, r.statusText, r.headers, r.body, r.url);
  return JSON.parse(r.body.toString('utf8')) as T;
}

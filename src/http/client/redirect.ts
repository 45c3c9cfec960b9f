/**
 * Following redirects (Twisted's `RedirectAgent`/`BrowserLikeRedirectAgent`),
 * without leaking credentials to other origins (CVE-2022-21712).
 *
 * @module
 */
import { succeed, type Deferred } from '../../defer/deferred.js';
import { parseRequestURL, normalizeHeaders, type IAgent, type RequestHeaders } from './agent.js';
import { InfiniteRedirection, RedirectBodyNotReplayable } from './errors.js';
import { isReplayableBody, type RequestBody } from './protocol.js';
import { readBody } from './readBody.js';
import type { Response } from './response.js';

/** Options of {@link RedirectAgent}. */
export interface RedirectAgentOptions {
  /** Redirects followed for one request before failing with {@link InfiniteRedirection} (default 20). */
  maxRedirects?: number;
}

/** The statuses followed. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Fields never sent to another origin than the one they were given for
 * (Twisted's list, after CVE-2022-21712). `Host` goes too: the next request
 * takes it from its URL.
 */
const SENSITIVE = new Set(['authorization', 'cookie', 'cookie2', 'proxy-authorization', 'www-authenticate', 'host']);

/** Fields that describe a request body, dropped when a redirect turns the request into a GET. */
const BODY_FIELDS = new Set(['content-type', 'content-encoding', 'content-language', 'content-location']);

/** Bytes of a redirect response's body read (and thrown away) so its connection can be reused; beyond, it is aborted. */
const DISCARD_LIMIT = 64 * 1024;

/**
 * Wraps an agent to follow redirects (301, 302, 303, 307, 308 with a
 * `Location`), the way browsers do:
 *
 * - 303 — and 301/302 answering a POST (what browsers do, though the RFC
 *   says to keep the method) — become a GET without a body (HEAD stays
 *   HEAD); the body's Content-Type and similar fields are dropped;
 * - 307 and 308 (and 301/302 for methods other than POST) repeat the
 *   method and the body; a streamed body cannot be sent twice, so the
 *   request fails with {@link RedirectBodyNotReplayable} instead;
 * - a relative `Location` is resolved against the URL of the response;
 * - when the redirect leaves the origin (scheme, host or port differ),
 *   `Authorization`, `Cookie`, `Cookie2`, `Proxy-Authorization`,
 *   `WWW-Authenticate` and a `Host` of yours are dropped, and stay dropped
 *   for the rest of the chain; a same-origin redirect keeps them;
 * - more than `maxRedirects` fail with {@link InfiniteRedirection}, which
 *   carries every response of the chain (`history`);
 * - the final response's `previousResponse` is the redirect that led to
 *   it, whose own `previousResponse` is the one before, and so on. Redirect
 *   bodies are read and thrown away (up to 64 KiB; a longer one is
 *   aborted), so their connections go back to the pool.
 *
 * A 3xx without `Location`, or any other status, is returned as it is.
 *
 * @example
 * ```ts
 * const agent = new RedirectAgent(new Agent(reactor, { pool }), { maxRedirects: 5 });
 * const response = await agent.request('GET', 'http://127.0.0.1:8080/old');
 * response.url;                  // where it ended up
 * response.previousResponse?.status; // 301
 * ```
 */
export class RedirectAgent implements IAgent {
  readonly maxRedirects: number;

  /** @throws RangeError for a negative `maxRedirects`. */
  constructor(
    readonly agent: IAgent,
    options: RedirectAgentOptions = {},
  ) {
    this.maxRedirects = options.maxRedirects ?? 20;
    if (!(this.maxRedirects >= 0)) throw new RangeError('maxRedirects must be >= 0');
  }

  /**
   * Send the request and follow its redirects.
   *
   * @throws TypeError as `Agent.request` does, before anything is sent.
   */
  request(method: string, url: string | URL, headers?: RequestHeaders | null, body?: RequestBody | null): Deferred<Response> {
    const fields = normalizeHeaders(headers);
    const history: Response[] = [];
    return this.step(method, url, fields, body ?? null, history);
  }

  private step(
    method: string,
    url: string | URL,
    headers: [string, string][],
    body: RequestBody | null,
    history: Response[],
  ): Deferred<Response> {
    return this.agent.request(method, url, headers, body).addCallback((response) => {
      const previous = history.length === 0 ? null : history[history.length - 1]!;
      response.previousResponse = previous;
      history.push(response);
      if (!REDIRECTS.has(response.status)) return response;
      const location = response.headers.get('location');
      if (location === undefined) return response;
      if (history.length > this.maxRedirects) {
        void discard(response);
        throw new InfiniteRedirection(`more than ${this.maxRedirects} redirects, the last to ${location}`, response, [...history]);
      }
      let next: URL;
      try {
        next = new URL(location, response.url);
      } catch {
        void discard(response);
        throw new TypeError(`invalid Location ${JSON.stringify(location)} in a ${response.status} response from ${response.url}`);
      }
      try {
        // Same checks as a first request (scheme, credentials, characters).
        parseRequestURL(next);
      } catch (e) {
        void discard(response);
        throw e;
      }
      let nextMethod = method;
      let nextBody = body;
      let nextHeaders = headers;
      const status = response.status;
      if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
        nextMethod = 'GET';
        nextBody = null;
        nextHeaders = nextHeaders.filter(([name]) => !BODY_FIELDS.has(name.toLowerCase()));
      } else if (!isReplayableBody(body)) {
        void discard(response);
        throw new RedirectBodyNotReplayable(
          `cannot follow a ${status} redirect to ${next.href}: the request body was a stream and cannot be sent again`,
          response,
          [...history],
        );
      }
      if (new URL(response.url).origin !== next.origin) {
        nextHeaders = nextHeaders.filter(([name]) => !SENSITIVE.has(name.toLowerCase()));
      }
      // Once the redirect's body is read (usually it came with the head), its
      // connection is back in the pool for the next request.
      return discard(response).addCallback(() => this.step(nextMethod, next, nextHeaders, nextBody, history));
    });
  }
}

/**
 * Read a redirect's body and drop it, so its connection can carry the next
 * request; a longer body than DISCARD_LIMIT is aborted. Never fails.
 */
function discard(response: Response): Deferred<null> {
  if (response.bodyUsed) return succeed(null);
  return readBody(response, { maxSize: DISCARD_LIMIT }).addBoth(() => null);
}

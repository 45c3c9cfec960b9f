/**
 * Origin checks for WebSockets (and HTTP): Channels' `OriginValidator` and
 * `AllowedHostsOriginValidator`, answering instead of raising.
 * @module
 */
import { turnAway } from '../deny.js';
import type { ASGIApplication, Receive, Scope, Send } from '../types.js';

/** An `Origin` header value, parsed: scheme and host lower-cased, IPv6 brackets removed. */
interface ParsedOrigin {
  scheme: string;
  host: string;
  /** The explicit port, or the scheme's default (80/443 for http/ws and https/wss), or null. */
  port: number | null;
}

const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?(?:[/?#].*)?$/i;

function defaultPort(scheme: string): number | null {
  if (scheme === 'http' || scheme === 'ws') return 80;
  if (scheme === 'https' || scheme === 'wss') return 443;
  return null;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Parse `scheme://host[:port]`; null for `null`, garbage, or a bad port. */
function parseOrigin(value: string): ParsedOrigin | null {
  const m = ORIGIN.exec(value.trim());
  if (m === null) return null;
  const scheme = m[1]!.toLowerCase();
  const host = stripBrackets(m[2]!.toLowerCase());
  if (host === '') return null;
  let port: number | null;
  if (m[3] === undefined || m[3] === '') port = defaultPort(scheme);
  else if (/^[0-9]{1,5}$/.test(m[3]) && Number(m[3]) <= 65535) port = Number(m[3]);
  else return null;
  return { scheme, host, port };
}

/**
 * Django's `is_same_domain`: `pattern` is `host` itself, or a `.example.com` pattern matching
 * `example.com` and every subdomain of it. Both lower-case.
 */
function isSameDomain(host: string, pattern: string): boolean {
  if (pattern === '') return false;
  if (pattern.startsWith('.')) return host === pattern.slice(1) || host.endsWith(pattern);
  return host === pattern;
}

type OriginMatcher = (origin: ParsedOrigin) => boolean;

/** Compile one allowed-origin pattern (see {@link originValidator}). */
function compileOriginPattern(pattern: string): OriginMatcher {
  if (typeof pattern !== 'string' || pattern === '') {
    throw new TypeError(`allowed origin patterns must be non-empty strings, not ${JSON.stringify(pattern)}`);
  }
  const lower = pattern.toLowerCase();
  if (lower.includes('://')) {
    const p = parseOrigin(lower);
    if (p === null) throw new TypeError(`invalid allowed origin ${JSON.stringify(pattern)}`);
    return (o) => o.scheme === p.scheme && o.port === p.port && isSameDomain(o.host, p.host);
  }
  // host, .domain, host:port, [v6], [v6]:port — without a scheme: any scheme.
  const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]{1,5}))?$/.exec(lower);
  if (m === null) throw new TypeError(`invalid allowed origin ${JSON.stringify(pattern)}`);
  const host = stripBrackets(m[1]!);
  const port = m[2] === undefined ? null : Number(m[2]);
  return (o) => isSameDomain(o.host, host) && (port === null || o.port === port);
}

/** The `origin` header of the scope (the last one, as Channels), or undefined. */
function originHeader(scope: Scope): string | undefined {
  let found: string | undefined;
  for (const [name, value] of scope.headers ?? []) if (name === 'origin') found = value;
  return found;
}

function validator(app: ASGIApplication, allowAll: boolean, matchers: OriginMatcher[]): ASGIApplication {
  return (scope: Scope, receive: Receive, send: Send): PromiseLike<void> => {
    if (allowAll || (scope.type !== 'websocket' && scope.type !== 'http')) return app(scope, receive, send);
    const header = originHeader(scope);
    if (header === undefined) {
      // Browsers always send Origin on a WebSocket handshake, but not on same-origin GET/HEAD
      // navigations: a missing Origin is refused on WebSockets and let through on HTTP.
      if (scope.type === 'http') return app(scope, receive, send);
    } else {
      const origin = parseOrigin(header);
      if (origin !== null && matchers.some((m) => m(origin))) return app(scope, receive, send);
    }
    return turnAway(scope, receive, send, 403, 'Forbidden', () => new Error('origin not allowed'));
  };
}

/**
 * Let a connection through only when its `Origin` header matches one of `allowedOrigins`
 * (Channels' `OriginValidator`; protects WebSockets from cross-site hijacking, which browsers do
 * not prevent on their own).
 *
 * Patterns (case-insensitive):
 * - `*`: any origin, and none at all;
 * - `example.com`: that host, any scheme and port;
 * - `.example.com`: `example.com` and all its subdomains, any scheme and port;
 * - `example.com:8080`: that host on that port, any scheme;
 * - `https://example.com:8443`, `https://.example.com`: scheme, host (or domain) and port must
 *   all match; a missing port means the scheme's default (80 for http/ws, 443 for https/wss).
 *   IPv6 hosts are written in brackets: `[::1]`, `http://[::1]:8000`.
 *
 * Refused: a WebSocket is closed before accept (the server answers 403); HTTP gets `403
 * Forbidden`. A WebSocket without an `Origin` header (or with `null`) is refused unless `*` is
 * allowed; an HTTP request without one is let through (browsers omit it on same-origin
 * navigations; non-browser clients are not what this protects against). Other scope types
 * (`lifespan`, `channel`) pass through untouched.
 *
 * @throws TypeError for an empty or unparsable pattern.
 *
 * @example
 * ```ts
 * originValidator(wsApp, ['https://example.com', '.example.org', 'localhost:8000']);
 * ```
 */
export function originValidator(app: ASGIApplication, allowedOrigins: readonly string[]): ASGIApplication {
  if (!Array.isArray(allowedOrigins)) throw new TypeError('originValidator(app, allowedOrigins): allowedOrigins must be an array');
  const allowAll = allowedOrigins.includes('*');
  return validator(app, allowAll, allowAll ? [] : allowedOrigins.map(compileOriginPattern));
}

/**
 * Django's `ALLOWED_HOSTS` check applied to the `Origin` header (Channels'
 * `AllowedHostsOriginValidator`): the origin's host (scheme and port ignored) must be one of
 * `allowedHosts`, where `*` allows any, `.example.com` allows the domain and its subdomains, and
 * IPv6 hosts are written in brackets (`[::1]`). Refusals, missing origins and other scope types
 * are handled as by {@link originValidator}.
 *
 * Without `allowedHosts` it allows what Django allows in DEBUG with no `ALLOWED_HOSTS`:
 * `localhost`, `127.0.0.1` and `[::1]`. An empty array refuses every origin.
 *
 * @throws TypeError for an empty or unparsable host.
 *
 * @example
 * ```ts
 * allowedHostsOriginValidator(wsApp, ['example.com', '.example.com']);
 * ```
 */
export function allowedHostsOriginValidator(
  app: ASGIApplication,
  allowedHosts: readonly string[] = ['localhost', '127.0.0.1', '[::1]'],
): ASGIApplication {
  if (!Array.isArray(allowedHosts)) throw new TypeError('allowedHostsOriginValidator(app, allowedHosts): allowedHosts must be an array');
  const allowAll = allowedHosts.includes('*');
  const matchers = allowAll
    ? []
    : allowedHosts.map((h): OriginMatcher => {
        const bracketed = typeof h === 'string' && /^\[[0-9a-f:.]+\]$/i.test(h);
        if (typeof h !== 'string' || h === '' || (!bracketed && /[/:@?#[\]\s]/.test(h))) {
          throw new TypeError(`allowed hosts must be host names (no scheme or port), not ${JSON.stringify(h)}`);
        }
        const host = stripBrackets(h.toLowerCase());
        return (o) => isSameDomain(o.host, host);
      });
  return validator(app, allowAll, matchers);
}

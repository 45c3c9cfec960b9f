/**
 * Proxy headers: who the client really is when Spindle sits behind a reverse proxy. The
 * `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port` fields are honoured only on
 * connections from peers listed as trusted: from anyone else they are ignored, since any client
 * can send them.
 * @module
 */
import { isIP } from 'node:net';
import type { Address } from '../../reactor/address.js';

/** What a connection's scope says about its two ends. */
export interface ConnectionEnds {
  /** `[host, port]` of the client, or null when unknown (UNIX sockets). */
  client: [string, number] | null;
  /** `[host, port]` of the server, `[path, null]` for a UNIX socket, or null. */
  server: [string, number | null] | null;
  /** Whether the client reached us over TLS (directly or, through a trusted proxy, as it says). */
  secure: boolean;
}

/** The header fields read, as lower-case names and latin1 values. */
export interface ForwardedFields {
  get(lowerName: string): string | undefined;
  getAll(lowerName: string): string[];
}

/** Whether `s` has a character `toLowerCase` would change (any non-ASCII one counts). */
function needsLowering(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return true;
  }
  return false;
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it maps; lower-case. */
function plainHost(host: string): string {
  // Every scope asks (client and server), and hosts come lower-case already: no new string then.
  const lower = needsLowering(host) ? host.toLowerCase() : host;
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

function ipv4ToNumber(host: string): number {
  let n = 0;
  for (const part of host.split('.')) n = n * 256 + Number(part);
  return n;
}

type Matcher = (host: string | null) => boolean;

function compile(entry: string): Matcher {
  const e = entry.trim().toLowerCase();
  if (e === '*') return () => true;
  if (e === 'unix') return (host) => host === null;
  const slash = e.indexOf('/');
  if (slash !== -1) {
    const base = e.slice(0, slash);
    const bits = Number(e.slice(slash + 1));
    if (isIP(base) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) {
      throw new TypeError(`proxyHeaders.trusted: ${JSON.stringify(entry)} is not an IPv4 network such as 10.0.0.0/8`);
    }
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const net = (ipv4ToNumber(base) & mask) >>> 0;
    return (host) => host !== null && isIP(host) === 4 && ((ipv4ToNumber(host) & mask) >>> 0) === net;
  }
  if (isIP(e) === 0) {
    throw new TypeError(`proxyHeaders.trusted: ${JSON.stringify(entry)} is not an IP address, an IPv4 network, "unix" or "*"`);
  }
  const want = plainHost(e);
  return (host) => host === want;
}

/**
 * Which peers may set the forwarded fields. Entries are IP addresses (`127.0.0.1`, `::1`),
 * IPv4 networks (`10.0.0.0/8`), `"unix"` (any peer of a UNIX socket, e.g. nginx on the same
 * machine) or `"*"` (everyone: only when the port is reachable from the proxy alone).
 *
 * @example
 * ```ts
 * const proxy = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);
 * proxy.trusts('10.1.2.3'); // true
 * ```
 */
export class TrustedProxies {
  readonly #matchers: Matcher[];

  /** @throws TypeError for an entry that is none of the forms above. */
  constructor(readonly entries: readonly string[]) {
    if (!Array.isArray(entries)) throw new TypeError('proxyHeaders.trusted must be an array of addresses');
    this.#matchers = entries.map(compile);
  }

  /** Whether a peer at `host` (null for a UNIX socket peer) is trusted. */
  trusts(host: string | null): boolean {
    const h = host === null ? null : plainHost(host);
    for (const m of this.#matchers) if (m(h)) return true;
    return false;
  }
}

/** `[host, port]` of an IP address (the client end of a scope); null for UNIX sockets. */
export function ipPair(addr: Address): [string, number] | null {
  return 'host' in addr ? [plainHost(addr.host), addr.port] : null;
}

/** The server end: `[host, port]`, or `[path, null]` for a UNIX socket. */
export function serverPair(addr: Address): [string, number | null] | null {
  if ('host' in addr) return [plainHost(addr.host), addr.port];
  return addr.name === null ? null : [addr.name, null];
}

/** The last value of a comma-separated list field (the one the nearest proxy added). */
function lastListValue(fields: ForwardedFields, name: string): string | undefined {
  const all = fields.getAll(name);
  if (all.length === 0) return undefined;
  const parts = all.join(',').split(',');
  const last = parts[parts.length - 1]!.trim();
  return last === '' ? undefined : last;
}

/** A host as it appears in X-Forwarded-For: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`. */
function forwardedHost(token: string): string | null {
  let t = token.trim();
  if (t.startsWith('[')) {
    const end = t.indexOf(']');
    if (end === -1) return null;
    t = t.slice(1, end);
  } else if (t.includes('.') && t.lastIndexOf(':') > t.lastIndexOf('.')) {
    t = t.slice(0, t.lastIndexOf(':')); // IPv4 with a port
  }
  return isIP(t) === 0 ? null : plainHost(t);
}

/**
 * The ends of a connection for a scope, with the forwarded fields applied when `proxies` trusts
 * the peer:
 * - `X-Forwarded-For`: walking from the nearest proxy back, the first address that is not itself
 *   a trusted proxy is the client (all trusted: the farthest one). The client's port is then
 *   unknown: 0 (a request that did not come straight from the client has no meaningful port).
 * - `X-Forwarded-Proto`: `https`/`wss` make the connection secure, `http`/`ws` plain; other
 *   values are ignored.
 * - `X-Forwarded-Port`: the port the client connected to, on the proxy: the `server` port.
 *   (Daphne puts it in `client` instead; the field's common meaning, and AWS's, is ours.)
 * Malformed values are ignored, field by field.
 */
export function connectionEnds(
  peer: Address,
  host: Address,
  secure: boolean,
  fields: ForwardedFields,
  proxies: TrustedProxies | null,
): ConnectionEnds {
  const ends: ConnectionEnds = { client: ipPair(peer), server: serverPair(host), secure };
  if (proxies === null) return ends;
  const peerHost = 'host' in peer ? peer.host : null;
  if (!proxies.trusts(peerHost)) return ends;

  const forwardedFor = fields.getAll('x-forwarded-for');
  if (forwardedFor.length > 0) {
    const hops = forwardedFor.join(',').split(',').map(forwardedHost);
    if (!hops.includes(null)) {
      let client: string | null = null;
      for (let i = hops.length - 1; i >= 0; i--) {
        client = hops[i]!;
        if (!proxies.trusts(client)) break;
      }
      if (client !== null) ends.client = [client, 0];
    }
  }
  const proto = lastListValue(fields, 'x-forwarded-proto')?.toLowerCase();
  if (proto === 'https' || proto === 'wss') ends.secure = true;
  else if (proto === 'http' || proto === 'ws') ends.secure = false;

  const port = lastListValue(fields, 'x-forwarded-port');
  if (port !== undefined && /^\d{1,5}$/.test(port) && Number(port) <= 65535 && ends.server !== null) {
    ends.server = [ends.server[0], Number(port)];
  }
  return ends;
}

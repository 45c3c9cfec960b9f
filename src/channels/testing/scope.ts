/**
 * Building the scopes the communicators hand to applications: the same keys the server puts in
 * (ASGI spec 2.5), from a test's path and headers.
 */
import type { ChannelLayer, Headers, Scope } from '../types.js';

/** Headers as a test writes them: pairs or an object; names are lower-cased. */
export type TestHeaders = Headers | Record<string, string>;

/** Lower-cased `[name, value]` pairs. */
export function normalizeHeaders(headers: TestHeaders | undefined): Headers {
  if (headers === undefined) return [];
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  return pairs.map(([n, v]) => [n.toLowerCase(), v]);
}

/** Percent-encode what is not visible ASCII (as UTF-8), leaving existing escapes alone. */
function encodeTarget(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c > 0x20 && c < 0x7f) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Percent-decode runs of escapes as UTF-8; a run that is not valid UTF-8 stays as it is. */
function decodePath(s: string): string {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** `path`, `raw_path` and `query_string` of a request target such as `/chat/?room=a%20b`. */
export function targetKeys(target: string): { path: string; raw_path: string; query_string: string } {
  const q = target.indexOf('?');
  const rawPath = encodeTarget(q === -1 ? target : target.slice(0, q));
  const query = q === -1 ? '' : encodeTarget(target.slice(q + 1));
  return { path: decodePath(rawPath), raw_path: rawPath, query_string: query };
}

/** The keys every communicator scope has. */
export function baseScope(type: 'http' | 'websocket', target: string, headers: TestHeaders | undefined, layer: ChannelLayer | undefined): Scope {
  const scope: Scope = {
    type,
    asgi: { version: '3.0', spec_version: '2.5' },
    http_version: '1.1',
    scheme: type === 'http' ? 'http' : 'ws',
    ...targetKeys(target),
    root_path: '',
    headers: normalizeHeaders(headers),
    client: ['127.0.0.1', 50000],
    server: ['testserver', 80],
  };
  if (layer !== undefined) scope.channel_layer = layer;
  return scope;
}

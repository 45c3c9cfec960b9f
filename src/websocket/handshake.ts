/**
 * The opening handshake (RFC 6455 §4) as pure functions: validate an upgrade request and build
 * the 101 response (server), build the request and validate the 101 response (client).
 * The HTTP layer parses and writes the messages; these functions only read and produce headers.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { WEBSOCKET_GUID, WEBSOCKET_VERSION } from './constants.js';
import {
  PERMESSAGE_DEFLATE,
  acceptPerMessageDeflateResponse,
  formatPerMessageDeflateOffer,
  negotiatePerMessageDeflate,
  type PerMessageDeflateClientOptions,
  type PerMessageDeflateParams,
  type PerMessageDeflateServerOptions,
} from './deflate-negotiation.js';
import { WebSocketHandshakeError } from './errors.js';
import { parseExtensions, type ExtensionOffer } from './extensions.js';
import { headerValues, isToken, listHasToken, parseTokenList, trimOws, type HeaderList } from './header-tokens.js';

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
 *
 * @example
 * ```ts
 * computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='); // 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
 * ```
 */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64. */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

function base64Value(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c === 0x2b) return 62;
  if (c === 0x2f) return 63;
  return -1;
}

/**
 * Whether `key` is the canonical base64 encoding of exactly 16 bytes: 22 alphabet characters,
 * the last of which carries no stray low bits, then `==`.
 */
export function isValidKey(key: string): boolean {
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) if (base64Value(key.charCodeAt(i)) < 0) return false;
  // 22 characters hold 132 bits; the last 4 must be zero for 16 bytes.
  return (base64Value(key.charCodeAt(21)) & 0x0f) === 0;
}

/** The request as the HTTP layer saw it. */
export interface UpgradeRequest {
  /** Request method, e.g. `GET`. */
  readonly method: string;
  /** `1.1` (or `HTTP/1.1`). */
  readonly httpVersion: string;
  /** All header fields as `[lowercaseName, value]`, in order, duplicates kept. */
  readonly headers: HeaderList;
}

/** A valid upgrade request's WebSocket parameters. */
export interface UpgradeOffer {
  /** The `Sec-WebSocket-Key`. */
  readonly key: string;
  /** Requested subprotocols, in the client's preference order. */
  readonly protocols: readonly string[];
  /** Offered extensions, in the client's preference order. */
  readonly extensions: readonly ExtensionOffer[];
}

/** Why an upgrade request is refused, and the HTTP response to send. */
export interface HandshakeRejection {
  readonly ok: false;
  /** 400, or 426 for a missing or unsupported `Sec-WebSocket-Version`. */
  readonly status: number;
  /** A short human-readable reason (for the body / logs). */
  readonly reason: string;
  /** Headers the rejection must carry (426 → `Sec-WebSocket-Version: 13`). */
  readonly headers: HeaderList;
}

function reject(status: number, reason: string, headers: HeaderList = []): HandshakeRejection {
  return { ok: false, status, reason, headers };
}

function single(headers: HeaderList, name: string): string | null | undefined {
  const values = headerValues(headers, name);
  if (values.length === 0) return undefined;
  return values.length === 1 ? trimOws(values[0]!) : null; // null = repeated
}

/**
 * Validate a WebSocket upgrade request (RFC 6455 §4.2.1). Requires: method `GET`; HTTP/1.1;
 * a `Host` header; `Upgrade` containing the token `websocket` and `Connection` containing
 * `upgrade` (both case-insensitive, other tokens allowed); exactly one
 * `Sec-WebSocket-Version: 13`; exactly one `Sec-WebSocket-Key` that is canonical base64 of 16
 * bytes; well-formed `Sec-WebSocket-Protocol` (tokens, no duplicates) and
 * `Sec-WebSocket-Extensions` if present.
 *
 * @returns `{ ok: true, offer }`, or a {@link HandshakeRejection}: 426 with
 *   `Sec-WebSocket-Version: 13` for a missing, repeated or unsupported version, 400 otherwise.
 *
 * @example
 * ```ts
 * const r = validateUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers });
 * if (!r.ok) respond(r.status, r.headers, r.reason);
 * ```
 */
export function validateUpgradeRequest(request: UpgradeRequest): { readonly ok: true; readonly offer: UpgradeOffer } | HandshakeRejection {
  if (request.method !== 'GET') return reject(400, 'WebSocket upgrade requires GET');
  if (request.httpVersion !== '1.1' && request.httpVersion !== 'HTTP/1.1') return reject(400, 'WebSocket upgrade requires HTTP/1.1');
  const h = request.headers;
  const host = single(h, 'host');
  if (host === undefined || host === null || host === '') return reject(400, 'missing or repeated Host header');
  if (!listHasToken(headerValues(h, 'upgrade'), 'websocket')) return reject(400, 'Upgrade header does not contain "websocket"');
  if (!listHasToken(headerValues(h, 'connection'), 'upgrade')) return reject(400, 'Connection header does not contain "upgrade"');
  const version = single(h, 'sec-websocket-version');
  if (version !== WEBSOCKET_VERSION) {
    return reject(426, 'unsupported or missing Sec-WebSocket-Version', [['Sec-WebSocket-Version', WEBSOCKET_VERSION]]);
  }
  const key = single(h, 'sec-websocket-key');
  if (key === undefined || key === null || !isValidKey(key)) return reject(400, 'missing, repeated or invalid Sec-WebSocket-Key');
  const protocols: string[] = [];
  if (!parseTokenList(headerValues(h, 'sec-websocket-protocol'), protocols)) return reject(400, 'invalid Sec-WebSocket-Protocol');
  if (new Set(protocols).size !== protocols.length) return reject(400, 'duplicate subprotocol in Sec-WebSocket-Protocol');
  const extensions = parseExtensions(headerValues(h, 'sec-websocket-extensions'));
  if (extensions === null) return reject(400, 'invalid Sec-WebSocket-Extensions');
  return { ok: true, offer: { key, protocols, extensions } };
}

/**
 * Choose a subprotocol: the first of the client's `offered` protocols (its preference order)
 * that the server `supported` (a list, compared exactly), or whatever a callback returns.
 *
 * @returns the chosen protocol, or `null` for none (the response then omits the header).
 * @throws TypeError if a callback returns a protocol the client did not offer.
 */
export function selectSubprotocol(
  offered: readonly string[],
  supported: readonly string[] | ((offered: readonly string[]) => string | null),
): string | null {
  if (typeof supported === 'function') {
    if (offered.length === 0) return null;
    const chosen = supported(offered);
    if (chosen !== null && !offered.includes(chosen)) throw new TypeError(`subprotocol ${JSON.stringify(chosen)} was not offered`);
    return chosen;
  }
  for (const p of offered) if (supported.includes(p)) return p;
  return null;
}

/**
 * The header fields of a 101 Switching Protocols response.
 *
 * @param key the client's `Sec-WebSocket-Key`.
 * @param protocol the chosen subprotocol, if any.
 * @param extensions the `Sec-WebSocket-Extensions` value, if any extension was accepted.
 */
export function buildAcceptHeaders(key: string, protocol: string | null = null, extensions: string | null = null): Array<[string, string]> {
  const headers: Array<[string, string]> = [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Accept', computeAcceptKey(key)],
  ];
  if (protocol !== null) headers.push(['Sec-WebSocket-Protocol', protocol]);
  if (extensions !== null) headers.push(['Sec-WebSocket-Extensions', extensions]);
  return headers;
}

/** Server handshake policy. */
export interface ServerHandshakeOptions {
  /**
   * Supported subprotocols (first match in the client's order wins), or a callback choosing one
   * of the offered ones (or `null`). Default: none.
   */
  protocols?: readonly string[] | ((offered: readonly string[]) => string | null);
  /** Accept permessage-deflate offers: `true` for defaults, options, or `false` (default). */
  perMessageDeflate?: boolean | PerMessageDeflateServerOptions;
}

/** An accepted upgrade: the 101 response and what was agreed. */
export interface HandshakeAcceptance {
  readonly ok: true;
  readonly status: 101;
  /** Header fields of the 101 response. */
  readonly headers: HeaderList;
  /** The chosen subprotocol, or `null`. */
  readonly protocol: string | null;
  /** The agreed permessage-deflate parameters, or `null` when not negotiated. */
  readonly perMessageDeflate: PerMessageDeflateParams | null;
}

/**
 * Validate an upgrade request and, if valid, negotiate subprotocol and permessage-deflate and
 * build the 101 response. Unacceptable extension offers are declined, not rejected.
 *
 * @example
 * ```ts
 * const r = acceptUpgrade(req, { protocols: ['chat.v2', 'chat'], perMessageDeflate: true });
 * if (r.ok) writeHead(101, r.headers); else writeHead(r.status, r.headers);
 * ```
 * @throws TypeError if a protocol callback picks an unoffered protocol; RangeError for invalid
 *   deflate options.
 */
export function acceptUpgrade(request: UpgradeRequest, options: ServerHandshakeOptions = {}): HandshakeAcceptance | HandshakeRejection {
  const v = validateUpgradeRequest(request);
  if (!v.ok) return v;
  const { key, protocols, extensions } = v.offer;
  const protocol = options.protocols === undefined ? null : selectSubprotocol(protocols, options.protocols);
  let deflate = null;
  const pmd = options.perMessageDeflate;
  if (pmd !== undefined && pmd !== false) {
    deflate = negotiatePerMessageDeflate(extensions, pmd === true ? {} : pmd);
  }
  return {
    ok: true,
    status: 101,
    headers: buildAcceptHeaders(key, protocol, deflate === null ? null : deflate.response),
    protocol,
    perMessageDeflate: deflate === null ? null : deflate.params,
  };
}

/** Client handshake options. */
export interface ClientHandshakeOptions {
  /** The `Host` header value (`host[:port]`). */
  host: string;
  /** Request target (path and query). Default `/`. */
  path?: string;
  /** Subprotocols to request, most preferred first (tokens, no duplicates). */
  protocols?: readonly string[];
  /** Offer permessage-deflate: `true` for the default offer, options, or `false` (default). */
  perMessageDeflate?: boolean | PerMessageDeflateClientOptions;
  /** An `Origin` header value, if any. */
  origin?: string;
  /** Extra header fields appended as given. */
  headers?: HeaderList;
  /** The key to use; default {@link generateKey}. For tests. */
  key?: string;
}

/** A client's opening request, and what is needed to check the response. */
export interface ClientHandshake {
  readonly method: 'GET';
  readonly path: string;
  /** Header fields of the request. */
  readonly headers: HeaderList;
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  /** The subprotocols requested. */
  readonly protocols: readonly string[];
  /** The permessage-deflate offer, or `null`. */
  readonly perMessageDeflate: PerMessageDeflateClientOptions | null;
}

/**
 * Build a client's upgrade request.
 *
 * @example
 * ```ts
 * const hs = createClientHandshake({ host: 'example.com', path: '/chat', protocols: ['chat'] });
 * // write `GET /chat HTTP/1.1` + hs.headers; later: validateServerResponse(hs, response)
 * ```
 * @throws RangeError for an invalid or duplicate subprotocol, or invalid deflate options.
 */
export function createClientHandshake(options: ClientHandshakeOptions): ClientHandshake {
  const key = options.key ?? generateKey();
  const protocols = options.protocols ?? [];
  for (const p of protocols) if (!isToken(p)) throw new RangeError(`invalid subprotocol ${JSON.stringify(p)}`);
  if (new Set(protocols).size !== protocols.length) throw new RangeError('duplicate subprotocol');
  const pmd = options.perMessageDeflate;
  const deflate = pmd === undefined || pmd === false ? null : pmd === true ? {} : pmd;
  const headers: Array<[string, string]> = [
    ['Host', options.host],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', key],
    ['Sec-WebSocket-Version', WEBSOCKET_VERSION],
  ];
  if (protocols.length > 0) headers.push(['Sec-WebSocket-Protocol', protocols.join(', ')]);
  if (deflate !== null) headers.push(['Sec-WebSocket-Extensions', formatPerMessageDeflateOffer(deflate)]);
  if (options.origin !== undefined) headers.push(['Origin', options.origin]);
  if (options.headers) for (const h of options.headers) headers.push([h[0], h[1]]);
  return { method: 'GET', path: options.path ?? '/', headers, key, protocols, perMessageDeflate: deflate };
}

/** The server's response as the HTTP client layer parsed it. */
export interface HandshakeResponse {
  readonly status: number;
  /** `[lowercaseName, value]` pairs. */
  readonly headers: HeaderList;
}

/** What the server agreed to. */
export interface ClientHandshakeResult {
  /** The subprotocol the server chose, or `null` (allowed even if some were requested). */
  readonly protocol: string | null;
  /** The agreed permessage-deflate parameters, or `null`. */
  readonly perMessageDeflate: PerMessageDeflateParams | null;
}

/**
 * Check the server's answer to `handshake` (RFC 6455 §4.1): status 101; `Upgrade` containing
 * `websocket`; `Connection` containing `upgrade`; exactly one `Sec-WebSocket-Accept` matching
 * our key; at most one `Sec-WebSocket-Protocol`, naming one protocol we requested; extensions
 * limited to a single `permessage-deflate` we offered, with acceptable parameters.
 *
 * @throws WebSocketHandshakeError whose `status` is the response's status when it is not 101,
 *   and 101 when a header is wrong.
 */
export function validateServerResponse(handshake: ClientHandshake, response: HandshakeResponse): ClientHandshakeResult {
  const fail = (message: string): never => {
    throw new WebSocketHandshakeError(response.status, message);
  };
  if (response.status !== 101) fail(`expected status 101, got ${response.status}`);
  const h = response.headers;
  if (!listHasToken(headerValues(h, 'upgrade'), 'websocket')) fail('Upgrade header does not contain "websocket"');
  if (!listHasToken(headerValues(h, 'connection'), 'upgrade')) fail('Connection header does not contain "upgrade"');
  const accept = single(h, 'sec-websocket-accept');
  if (accept === undefined || accept === null || accept !== computeAcceptKey(handshake.key)) fail('missing or wrong Sec-WebSocket-Accept');

  let protocol: string | null = null;
  const protocolValues = headerValues(h, 'sec-websocket-protocol');
  if (protocolValues.length > 1) fail('repeated Sec-WebSocket-Protocol');
  if (protocolValues.length === 1) {
    const p = trimOws(protocolValues[0]!);
    if (!handshake.protocols.includes(p)) fail(`server chose subprotocol ${JSON.stringify(p)}, which was not requested`);
    protocol = p;
  }

  let perMessageDeflate: PerMessageDeflateParams | null = null;
  const extensions = parseExtensions(headerValues(h, 'sec-websocket-extensions'));
  if (extensions === null) fail('invalid Sec-WebSocket-Extensions');
  for (const ext of extensions!) {
    if (ext.name !== PERMESSAGE_DEFLATE || handshake.perMessageDeflate === null) fail(`extension ${JSON.stringify(ext.name)} was not offered`);
    if (perMessageDeflate !== null) fail('permessage-deflate accepted twice');
    const agreed = acceptPerMessageDeflateResponse(ext, handshake.perMessageDeflate!);
    if (typeof agreed === 'string') fail(agreed);
    perMessageDeflate = agreed as PerMessageDeflateParams;
  }
  return { protocol, perMessageDeflate };
}

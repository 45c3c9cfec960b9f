/**
 * permessage-deflate parameter negotiation (RFC 7692 §7.1). Compression itself lives in the
 * protocol layer; this file only decides what both sides agreed to.
 *
 * @module
 */
import type { WebSocketRole } from './frame-parser.js';
import { formatExtension, type ExtensionOffer, type ExtensionParam } from './extensions.js';

/** The extension token. */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/**
 * Smallest LZ77 window we can compress with. zlib cannot produce raw deflate streams with an
 * 8-bit window (it silently uses 9), so an agreement that would make *us* compress with 8 is
 * declined (server) or refused (client). Decompressing is unaffected: a 15-bit inflater reads
 * streams made with any smaller window.
 */
export const MIN_COMPRESS_WINDOW_BITS = 9;

/**
 * What both ends agreed to. `server*` parameters constrain the server's compressor (and the
 * client's decompressor), `client*` the client's. Window bits are 8–15 (15 when not negotiated).
 * A decompressor may always use 15 bits; see {@link deflateConfigFor} for one side's view.
 */
export interface PerMessageDeflateParams {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
}

/** Server policy for accepting permessage-deflate offers. */
export interface PerMessageDeflateServerOptions {
  /** Always reset our compressor between messages (adds `server_no_context_takeover`). */
  serverNoContextTakeover?: boolean;
  /** Ask the client to reset its compressor between messages (adds `client_no_context_takeover`). */
  clientNoContextTakeover?: boolean;
  /** Cap our compression window (9–15); the client's `server_max_window_bits` may lower it further. */
  serverMaxWindowBits?: number;
  /**
   * Cap the client's window (9–15), saving our inflater memory. Offers that do not allow it
   * (no `client_max_window_bits`) are declined.
   */
  clientMaxWindowBits?: number;
}

/** Client offer for permessage-deflate. */
export interface PerMessageDeflateClientOptions {
  /** Ask the server to reset its compressor between messages. */
  serverNoContextTakeover?: boolean;
  /** Promise to reset our compressor between messages. */
  clientNoContextTakeover?: boolean;
  /** Ask the server to compress with at most this window (8–15). */
  serverMaxWindowBits?: number;
  /**
   * `true` (default): tell the server it may cap our window (`client_max_window_bits` without a
   * value). A number (9–15): we will use at most this window. `false`: omit the parameter.
   */
  clientMaxWindowBits?: number | boolean;
}

/** One side's compressor/decompressor settings derived from the agreement. */
export interface DeflateConfig {
  /** Reset the compressor after each message. */
  readonly compressNoContextTakeover: boolean;
  /** `windowBits` for our compressor (9–15). */
  readonly compressWindowBits: number;
  /** Reset the decompressor after each message. */
  readonly decompressNoContextTakeover: boolean;
  /** `windowBits` for our decompressor (the peer's window; 15 is always safe). */
  readonly decompressWindowBits: number;
}

/**
 * The agreement seen from `role`'s side: a server compresses with the `server_*` parameters and
 * decompresses with the `client_*` ones; a client the opposite. Decompression windows are
 * raised to at least 9 for zlib's sake (a larger inflate window is always compatible).
 */
export function deflateConfigFor(params: PerMessageDeflateParams, role: WebSocketRole): DeflateConfig {
  const server = role === 'server';
  return {
    compressNoContextTakeover: server ? params.serverNoContextTakeover : params.clientNoContextTakeover,
    compressWindowBits: Math.max(MIN_COMPRESS_WINDOW_BITS, server ? params.serverMaxWindowBits : params.clientMaxWindowBits),
    decompressNoContextTakeover: server ? params.clientNoContextTakeover : params.serverNoContextTakeover,
    decompressWindowBits: Math.max(MIN_COMPRESS_WINDOW_BITS, server ? params.clientMaxWindowBits : params.serverMaxWindowBits),
  };
}

interface ParsedDeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | null;
  /** `true` = present without a value. */
  clientMaxWindowBits: number | true | null;
}

/** "8" … "15" exactly (no sign, no leading zero, no spaces). */
function parseWindowBits(value: string | null): number | null {
  if (value === null) return null;
  if (value.length === 1) {
    const c = value.charCodeAt(0);
    return c === 0x38 || c === 0x39 ? c - 0x30 : null;
  }
  if (value.length === 2 && value.charCodeAt(0) === 0x31) {
    const d = value.charCodeAt(1) - 0x30;
    return d >= 0 && d <= 5 ? 10 + d : null;
  }
  return null;
}

/** Validate one element's parameters; `null` for unknown, duplicate or malformed ones. */
function parseDeflateParams(params: readonly ExtensionParam[], side: 'offer' | 'response'): ParsedDeflateParams | null {
  const out: ParsedDeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: null,
    clientMaxWindowBits: null,
  };
  let seen = 0;
  for (const p of params) {
    let bit: number;
    switch (p.name) {
      case 'server_no_context_takeover':
        if (p.value !== null) return null;
        out.serverNoContextTakeover = true;
        bit = 1;
        break;
      case 'client_no_context_takeover':
        if (p.value !== null) return null;
        out.clientNoContextTakeover = true;
        bit = 2;
        break;
      case 'server_max_window_bits': {
        const bits = parseWindowBits(p.value);
        if (bits === null) return null;
        out.serverMaxWindowBits = bits;
        bit = 4;
        break;
      }
      case 'client_max_window_bits': {
        if (p.value === null) {
          // Valueless only in an offer (RFC 7692 §7.1.2.2).
          if (side === 'response') return null;
          out.clientMaxWindowBits = true;
        } else {
          const bits = parseWindowBits(p.value);
          if (bits === null) return null;
          out.clientMaxWindowBits = bits;
        }
        bit = 8;
        break;
      }
      default:
        return null;
    }
    if ((seen & bit) !== 0) return null;
    seen |= bit;
  }
  return out;
}

function checkBits(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > 15)) {
    throw new RangeError(`${name} must be an integer from ${min} to 15`);
  }
}

/** Result of {@link negotiatePerMessageDeflate}. */
export interface DeflateNegotiation {
  /** The agreed parameters. */
  readonly params: PerMessageDeflateParams;
  /** The element to put in the response's `Sec-WebSocket-Extensions`. */
  readonly response: string;
}

/**
 * Server side: pick the first acceptable `permessage-deflate` offer among `offers` (the client's
 * preference order) under `options`, and compute the agreed parameters and the response element.
 * An offer is declined (and the next one tried) when it has an unknown or duplicate parameter,
 * a malformed value (window bits must be exactly `8`–`15`), asks us to compress with an 8-bit
 * window, or cannot honour `options.clientMaxWindowBits`.
 *
 * @returns the negotiation, or `null` when no offer is acceptable (answer without the extension).
 * @throws RangeError for invalid `options`.
 *
 * @example
 * ```ts
 * const offers = parseExtensions(['permessage-deflate; client_max_window_bits'])!;
 * negotiatePerMessageDeflate(offers, { serverNoContextTakeover: true });
 * // { params: { serverNoContextTakeover: true, clientNoContextTakeover: false,
 * //             serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
 * //   response: 'permessage-deflate; server_no_context_takeover' }
 * ```
 */
export function negotiatePerMessageDeflate(
  offers: readonly ExtensionOffer[],
  options: PerMessageDeflateServerOptions = {},
): DeflateNegotiation | null {
  checkBits('serverMaxWindowBits', options.serverMaxWindowBits, MIN_COMPRESS_WINDOW_BITS);
  checkBits('clientMaxWindowBits', options.clientMaxWindowBits, MIN_COMPRESS_WINDOW_BITS);
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const o = parseDeflateParams(offer.params, 'offer');
    if (o === null) continue;
    if (o.serverMaxWindowBits !== null && o.serverMaxWindowBits < MIN_COMPRESS_WINDOW_BITS) continue;
    if (options.clientMaxWindowBits !== undefined && o.clientMaxWindowBits === null) continue;

    const params: ExtensionParam[] = [];
    const serverNoContextTakeover = o.serverNoContextTakeover || options.serverNoContextTakeover === true;
    const clientNoContextTakeover = o.clientNoContextTakeover || options.clientNoContextTakeover === true;
    if (serverNoContextTakeover) params.push({ name: 'server_no_context_takeover', value: null });
    if (clientNoContextTakeover) params.push({ name: 'client_no_context_takeover', value: null });

    let serverMaxWindowBits = 15;
    if (o.serverMaxWindowBits !== null || options.serverMaxWindowBits !== undefined) {
      serverMaxWindowBits = Math.min(o.serverMaxWindowBits ?? 15, options.serverMaxWindowBits ?? 15);
      params.push({ name: 'server_max_window_bits', value: String(serverMaxWindowBits) });
    }

    let clientMaxWindowBits = typeof o.clientMaxWindowBits === 'number' ? o.clientMaxWindowBits : 15;
    if (options.clientMaxWindowBits !== undefined) {
      clientMaxWindowBits = Math.min(clientMaxWindowBits, options.clientMaxWindowBits);
      params.push({ name: 'client_max_window_bits', value: String(clientMaxWindowBits) });
    }

    return {
      params: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
      response: formatExtension({ name: PERMESSAGE_DEFLATE, params }),
    };
  }
  return null;
}

/**
 * Client side: the `permessage-deflate` element to offer for `options`.
 *
 * @throws RangeError for invalid window bits.
 */
export function formatPerMessageDeflateOffer(options: PerMessageDeflateClientOptions = {}): string {
  checkBits('serverMaxWindowBits', options.serverMaxWindowBits, 8);
  const cmwb = options.clientMaxWindowBits ?? true;
  if (typeof cmwb === 'number') checkBits('clientMaxWindowBits', cmwb, MIN_COMPRESS_WINDOW_BITS);
  const params: ExtensionParam[] = [];
  if (options.serverNoContextTakeover) params.push({ name: 'server_no_context_takeover', value: null });
  if (options.clientNoContextTakeover) params.push({ name: 'client_no_context_takeover', value: null });
  if (options.serverMaxWindowBits !== undefined) params.push({ name: 'server_max_window_bits', value: String(options.serverMaxWindowBits) });
  if (cmwb !== false) params.push({ name: 'client_max_window_bits', value: cmwb === true ? null : String(cmwb) });
  return formatExtension({ name: PERMESSAGE_DEFLATE, params });
}

/**
 * Client side: check the server's accepted `permessage-deflate` element against what we offered
 * and return the agreement.
 *
 * @returns the parameters, or a string saying why the response is unacceptable (the client
 *   must then fail the connection): an unknown, duplicate or malformed parameter; a
 *   `client_max_window_bits` we did not offer or below 9; a `server_max_window_bits` above the
 *   one we asked for, or missing when we asked; a missing `server_no_context_takeover` we asked for.
 */
export function acceptPerMessageDeflateResponse(
  response: ExtensionOffer,
  options: PerMessageDeflateClientOptions = {},
): PerMessageDeflateParams | string {
  const r = parseDeflateParams(response.params, 'response');
  if (r === null) return 'invalid permessage-deflate parameters in the response';
  const offeredClientBits = options.clientMaxWindowBits ?? true;
  if (r.clientMaxWindowBits !== null) {
    if (offeredClientBits === false) return 'client_max_window_bits was not offered';
    if ((r.clientMaxWindowBits as number) < MIN_COMPRESS_WINDOW_BITS) return 'client_max_window_bits below 9 is not supported';
  }
  if (options.serverMaxWindowBits !== undefined) {
    if (r.serverMaxWindowBits === null) return 'server_max_window_bits missing from the response';
    if (r.serverMaxWindowBits > options.serverMaxWindowBits) return 'server_max_window_bits above the offered value';
  }
  if (options.serverNoContextTakeover && !r.serverNoContextTakeover) return 'server_no_context_takeover missing from the response';
  const clientCap = typeof offeredClientBits === 'number' ? offeredClientBits : 15;
  return {
    serverNoContextTakeover: r.serverNoContextTakeover,
    clientNoContextTakeover: r.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: r.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: Math.min(typeof r.clientMaxWindowBits === 'number' ? r.clientMaxWindowBits : 15, clientCap),
  };
}

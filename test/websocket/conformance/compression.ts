/**
 * The checker's side of permessage-deflate (RFC 7692), built on `node:zlib` directly and not on
 * `src/websocket/deflate*.ts`: a `Sec-WebSocket-Extensions` parser, Autobahn-style offers and
 * server accept policies, the RFC's rules for a response to an offer, and one raw
 * deflater/inflater per direction with or without context takeover.
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';

/** One element of an extension list: its name and parameters (`true` for a parameter without value). */
export interface ExtensionElement {
  readonly name: string;
  readonly params: ReadonlyMap<string, string | true>;
}

/** Parse a `Sec-WebSocket-Extensions` value; `null` when malformed (or a parameter repeats). */
export function parseExtensions(value: string): ExtensionElement[] | null {
  const out: ExtensionElement[] = [];
  for (const element of value.split(',')) {
    const parts = element.split(';').map((s) => s.trim());
    const name = parts[0]!.toLowerCase();
    if (name === '') return null;
    const params = new Map<string, string | true>();
    for (const p of parts.slice(1)) {
      const eq = p.indexOf('=');
      const key = (eq === -1 ? p : p.slice(0, eq)).trim().toLowerCase();
      let v: string | true = eq === -1 ? true : p.slice(eq + 1).trim();
      if (typeof v === 'string' && v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (key === '' || params.has(key)) return null;
      params.set(key, v);
    }
    out.push({ name, params });
  }
  return out;
}

/** A client offer, as Autobahn's `PerMessageDeflateOffer` builds them. */
export interface DeflateOffer {
  /** Offer `client_no_context_takeover` (and then honour it). Autobahn default: true. */
  readonly acceptNoContextTakeover?: boolean;
  /** Offer `client_max_window_bits` (no value). Autobahn default: true. */
  readonly acceptMaxWindowBits?: boolean;
  /** Ask for `server_no_context_takeover`. */
  readonly requestNoContextTakeover?: boolean;
  /** Ask for `server_max_window_bits=N` (0: do not ask). */
  readonly requestMaxWindowBits?: number;
}

/** The offer as a header element. */
export function formatOffer(o: DeflateOffer): string {
  let s = 'permessage-deflate';
  if (o.acceptNoContextTakeover ?? true) s += '; client_no_context_takeover';
  if (o.acceptMaxWindowBits ?? true) s += '; client_max_window_bits';
  if (o.requestNoContextTakeover === true) s += '; server_no_context_takeover';
  if ((o.requestMaxWindowBits ?? 0) !== 0) s += `; server_max_window_bits=${o.requestMaxWindowBits}`;
  return s;
}

/** What both ends agreed (window bits `null` when not negotiated = 15). */
export interface DeflateAgreement {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number | null;
  readonly clientMaxWindowBits: number | null;
}

const KNOWN = new Set(['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits']);

function windowBits(v: string | true | undefined): number | null | 'bad' {
  if (v === undefined) return null;
  if (v === true || !/^(8|9|1[0-5])$/.test(v)) return 'bad';
  return Number(v);
}

/**
 * Check a server's answer against our offers (RFC 7692 §5, §7.1): at most one
 * permessage-deflate element, known parameters with valid values, and consistent with at
 * least one offer (requested `server_*` parameters honoured, `client_max_window_bits` only if
 * offered). Returns the agreement, `null` when the server declined, or an error string.
 */
export function checkDeflateResponse(offers: readonly DeflateOffer[], header: string | undefined): DeflateAgreement | null | string {
  if (header === undefined || header.trim() === '') return null;
  const elements = parseExtensions(header);
  if (elements === null) return `malformed Sec-WebSocket-Extensions: ${header}`;
  if (offers.length === 0) return `extensions in the response although none were offered: ${header}`;
  if (elements.length !== 1 || elements[0]!.name !== 'permessage-deflate') return `unexpected extensions in the response: ${header}`;
  const p = elements[0]!.params;
  for (const k of p.keys()) if (!KNOWN.has(k)) return `unknown permessage-deflate parameter ${k}`;
  for (const k of ['server_no_context_takeover', 'client_no_context_takeover']) if (p.has(k) && p.get(k) !== true) return `${k} takes no value`;
  const smwb = windowBits(p.get('server_max_window_bits'));
  const cmwb = windowBits(p.get('client_max_window_bits'));
  if (smwb === 'bad' || cmwb === 'bad') return `invalid window bits in ${header}`;
  const agreement: DeflateAgreement = {
    serverNoContextTakeover: p.has('server_no_context_takeover'),
    clientNoContextTakeover: p.has('client_no_context_takeover'),
    serverMaxWindowBits: smwb,
    clientMaxWindowBits: cmwb,
  };
  const fits = offers.some((o) => {
    if (o.requestNoContextTakeover === true && !agreement.serverNoContextTakeover) return false;
    const asked = o.requestMaxWindowBits ?? 0;
    if (asked !== 0 && (smwb === null || smwb > asked)) return false;
    if (cmwb !== null && !(o.acceptMaxWindowBits ?? true)) return false;
    return true;
  });
  return fits ? agreement : `the response ${header} matches none of the offers`;
}

/** A client's offer as the fake server sees it. */
export interface ReceivedOffer {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number | null;
  /** `true` when offered without a value. */
  readonly clientMaxWindowBits: number | true | null;
}

/** The permessage-deflate offers in a client's request (malformed ones are skipped). */
export function parseOffers(header: string | undefined): ReceivedOffer[] {
  if (header === undefined) return [];
  const elements = parseExtensions(header) ?? [];
  const out: ReceivedOffer[] = [];
  for (const e of elements) {
    if (e.name !== 'permessage-deflate') continue;
    const s = windowBits(e.params.get('server_max_window_bits'));
    const c = e.params.get('client_max_window_bits');
    const cBits = c === true ? true : windowBits(c);
    if (s === 'bad' || cBits === 'bad') continue;
    out.push({
      serverNoContextTakeover: e.params.has('server_no_context_takeover'),
      clientNoContextTakeover: e.params.has('client_no_context_takeover'),
      serverMaxWindowBits: s,
      clientMaxWindowBits: cBits,
    });
  }
  return out;
}

/**
 * How a fake server answers an offer, after Autobahn's 13.x accept functions: `[noContextTakeover,
 * maxWindowBits]` requested of the *client* (`0` = do not ask), tried in order; the first one the
 * offer allows wins (a window cap needs `client_max_window_bits` in the offer).
 */
export type ServerAcceptPolicy = ReadonlyArray<readonly [boolean, number]>;

/** The response header for the first offer `policy` can accept, or `null` (decline). */
export function acceptOffer(offers: readonly ReceivedOffer[], policy: ServerAcceptPolicy): { header: string; agreement: DeflateAgreement } | null {
  for (const [noContext, bits] of policy) {
    for (const o of offers) {
      if (bits !== 0 && o.clientMaxWindowBits === null) continue;
      let header = 'permessage-deflate';
      // Honour what the client asked of us.
      if (o.serverNoContextTakeover) header += '; server_no_context_takeover';
      if (o.serverMaxWindowBits !== null) header += `; server_max_window_bits=${o.serverMaxWindowBits}`;
      if (noContext) header += '; client_no_context_takeover';
      if (bits !== 0) header += `; client_max_window_bits=${bits}`;
      return {
        header,
        agreement: {
          serverNoContextTakeover: o.serverNoContextTakeover,
          clientNoContextTakeover: noContext || o.clientNoContextTakeover,
          serverMaxWindowBits: o.serverMaxWindowBits,
          clientMaxWindowBits: bits !== 0 ? bits : typeof o.clientMaxWindowBits === 'number' ? o.clientMaxWindowBits : null,
        },
      };
    }
  }
  return null;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

function collect(stream: DeflateRaw | InflateRaw, input: Buffer, appendTail: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const onData = (b: Buffer): void => void out.push(b);
    const onError = (e: Error): void => {
      stream.off('data', onData);
      reject(e);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    stream.write(input);
    if (appendTail) stream.write(TAIL);
    stream.flush(constants.Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      stream.off('error', onError);
      resolve(Buffer.concat(out));
    });
  });
}

/**
 * One direction's compressor: each message compressed with a sync flush and the trailing
 * `00 00 ff ff` removed (RFC 7692 §7.2.1); a fresh stream per message without context takeover.
 */
export class MessageDeflater {
  private stream: DeflateRaw | null = null;

  constructor(
    private readonly windowBits: number,
    private readonly noContextTakeover: boolean,
  ) {}

  async compress(data: Buffer): Promise<Buffer> {
    // zlib cannot make raw streams with an 8-bit window.
    this.stream ??= createDeflateRaw({ windowBits: Math.max(9, this.windowBits), memLevel: 8 });
    const out = await collect(this.stream, data, false);
    if (this.noContextTakeover) this.close();
    if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) return out.subarray(0, out.length - 4);
    return out;
  }

  close(): void {
    this.stream?.close();
    this.stream = null;
  }
}

/**
 * One direction's decompressor, with the peer's window (so a peer that compresses with a larger
 * window than agreed is caught) and a fresh stream per message when the peer promised no context
 * takeover (so a peer that still refers to earlier messages is caught).
 */
export class MessageInflater {
  private stream: InflateRaw | null = null;

  constructor(
    private readonly windowBits: number,
    private readonly noContextTakeover: boolean,
  ) {}

  async decompress(data: Buffer): Promise<Buffer> {
    this.stream ??= createInflateRaw({ windowBits: Math.max(9, this.windowBits) });
    try {
      return await collect(this.stream, data, true);
    } finally {
      if (this.noContextTakeover) this.close();
    }
  }

  close(): void {
    this.stream?.close();
    this.stream = null;
  }
}

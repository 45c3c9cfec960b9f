/**
 * The `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1, with the quoted-string values of
 * RFC 7692 §5): parsing into offers and formatting back.
 *
 * @module
 */
import { isToken, isTokenChar } from './header-tokens.js';

/** One `name[=value]` parameter of an extension; `value` is `null` when absent. */
export interface ExtensionParam {
  /** Parameter name, lowercased. */
  readonly name: string;
  /** The value, unquoted; `null` for a bare parameter. */
  readonly value: string | null;
}

/** One element of an extension list: an extension token and its parameters, in order. */
export interface ExtensionOffer {
  /** Extension name, lowercased (e.g. `permessage-deflate`). */
  readonly name: string;
  /** Parameters in wire order; duplicates are kept so negotiators can reject them. */
  readonly params: readonly ExtensionParam[];
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Parse one or more `Sec-WebSocket-Extensions` header values into offers, in order (the
 * client's preference order). Grammar, per element:
 * `token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] )`, elements separated by
 * commas; empty elements are ignored. A quoted value must unescape to a token (RFC 6455 §9.1).
 * Names are lowercased; values are kept as written.
 *
 * @returns the offers, or `null` on any syntax error (answer 400 on a server; fail on a client).
 *
 * @example
 * ```ts
 * parseExtensions(['permessage-deflate; client_max_window_bits, permessage-deflate']);
 * // [{ name: 'permessage-deflate', params: [{ name: 'client_max_window_bits', value: null }] },
 * //  { name: 'permessage-deflate', params: [] }]
 * ```
 */
export function parseExtensions(values: readonly string[]): ExtensionOffer[] | null {
  const offers: ExtensionOffer[] = [];
  for (const value of values) {
    const n = value.length;
    let i = 0;
    const skipOws = (): void => {
      while (i < n && isOws(value.charCodeAt(i))) i++;
    };
    const token = (): string | null => {
      const start = i;
      while (i < n && isTokenChar(value.charCodeAt(i))) i++;
      return i === start ? null : value.slice(start, i);
    };
    while (i < n) {
      skipOws();
      if (i === n) break;
      if (value.charCodeAt(i) === 0x2c) {
        i++;
        continue;
      }
      const name = token();
      if (name === null) return null;
      const params: ExtensionParam[] = [];
      skipOws();
      while (i < n && value.charCodeAt(i) === 0x3b) {
        i++;
        skipOws();
        const pname = token();
        if (pname === null) return null;
        let pvalue: string | null = null;
        skipOws();
        if (i < n && value.charCodeAt(i) === 0x3d) {
          i++;
          skipOws();
          if (i < n && value.charCodeAt(i) === 0x22) {
            // quoted-string; its unescaped content must itself be a token.
            i++;
            let text = '';
            let closed = false;
            while (i < n) {
              let c = value.charCodeAt(i);
              if (c === 0x22) {
                closed = true;
                i++;
                break;
              }
              if (c === 0x5c) {
                i++;
                if (i === n) return null;
                c = value.charCodeAt(i);
              }
              if (!isTokenChar(c)) return null;
              text += value[i];
              i++;
            }
            if (!closed || text.length === 0) return null;
            pvalue = text;
          } else {
            pvalue = token();
            if (pvalue === null) return null;
          }
          skipOws();
        }
        params.push({ name: pname.toLowerCase(), value: pvalue });
      }
      offers.push({ name: name.toLowerCase(), params });
      if (i < n) {
        if (value.charCodeAt(i) !== 0x2c) return null;
        i++;
      }
    }
  }
  return offers;
}

/**
 * Format one extension element, e.g. `permessage-deflate; client_max_window_bits=10`.
 *
 * @throws RangeError if a name or value is not a token.
 */
export function formatExtension(offer: ExtensionOffer): string {
  if (!isToken(offer.name)) throw new RangeError(`invalid extension name ${JSON.stringify(offer.name)}`);
  let s = offer.name;
  for (const p of offer.params) {
    if (!isToken(p.name) || (p.value !== null && !isToken(p.value))) {
      throw new RangeError(`invalid extension parameter ${JSON.stringify(p.name)}`);
    }
    s += p.value === null ? `; ${p.name}` : `; ${p.name}=${p.value}`;
  }
  return s;
}

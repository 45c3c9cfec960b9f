/**
 * Received header fields, in order, as the parser hands them over.
 *
 * @module
 */

/**
 * The field lines of a received head (or trailer section), in wire order.
 *
 * Nothing is merged or dropped: a repeated field appears once per line, the
 * name is kept as received ({@link raw}) next to its lower-case form
 * ({@link names}), and values are the latin1 decoding of the bytes with the
 * optional whitespace around them removed. Lookups take **lower-case** names
 * and scan linearly, which beats a map for the usual ten to twenty fields.
 *
 * The parser has already validated every name (a token) and value (no CR,
 * LF, NUL or other control); a list you build yourself is not checked.
 *
 * @example
 * ```ts
 * const h = head.headers;
 * h.get('content-type');          // first value, or undefined
 * h.getAll('set-cookie');         // every value, in order
 * for (const [name, value] of h) console.log(`${name}: ${value}`);
 * ```
 */
export class HeaderList implements Iterable<[string, string]> {
  /** Names as received and values, alternating: `[name0, value0, name1, value1, …]` (Node's `rawHeaders` shape). */
  readonly raw: string[];
  /** Lower-case names: `names[i]` is the lower-case form of `raw[2 * i]`. */
  readonly names: string[];

  /**
   * @param raw - alternating names and values, as {@link HeaderList.raw}.
   * @param names - their lower-case names; computed from `raw` when omitted.
   */
  constructor(raw: string[] = [], names?: string[]) {
    this.raw = raw;
    if (names === undefined) {
      names = new Array<string>(raw.length >> 1);
      for (let i = 0; i < names.length; i++) names[i] = raw[2 * i]!.toLowerCase();
    }
    this.names = names;
  }

  /** Number of field lines. */
  get length(): number {
    return this.names.length;
  }

  /** The name of field `i` as received. */
  name(i: number): string {
    return this.raw[2 * i]!;
  }

  /** The value of field `i`. */
  value(i: number): string {
    return this.raw[2 * i + 1]!;
  }

  /** The value of the first field named `lowerName`, or `undefined`. */
  get(lowerName: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === lowerName) return this.raw[2 * i + 1];
    return undefined;
  }

  /** The values of every field named `lowerName`, in order (empty if none). */
  getAll(lowerName: string): string[] {
    const out: string[] = [];
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === lowerName) out.push(this.raw[2 * i + 1]!);
    return out;
  }

  /**
   * The field's values combined into one list value (`a, b`), as RFC 9110
   * §5.3 allows for list-based fields; `undefined` if absent. Do not use it
   * for `set-cookie`, whose values cannot be combined.
   */
  getCombined(lowerName: string): string | undefined {
    let out: string | undefined;
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === lowerName) {
        const v = this.raw[2 * i + 1]!;
        out = out === undefined ? v : `${out}, ${v}`;
      }
    }
    return out;
  }

  /** Whether a field named `lowerName` is present. */
  has(lowerName: string): boolean {
    return this.names.indexOf(lowerName) !== -1;
  }

  /** `[name as received, value]` pairs in wire order. */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    const raw = this.raw;
    for (let i = 0; i + 1 < raw.length; i += 2) yield [raw[i]!, raw[i + 1]!];
  }

  /** `[lower-case name, value]` pairs in wire order. */
  *entries(): IterableIterator<[string, string]> {
    const raw = this.raw;
    const names = this.names;
    for (let i = 0; i < names.length; i++) yield [names[i]!, raw[2 * i + 1]!];
  }
}

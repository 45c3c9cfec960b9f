/**
 * Path converters for `path()` routes: Django's `str`, `int`, `slug`, `uuid` and `path`, and
 * `registerConverter` for your own.
 * @module
 */

/**
 * Turns one `<name:value>` segment of a `path()` route into a value.
 *
 * `regex` is the source of a RegExp (without anchors or named groups) that the segment must match;
 * `toValue` converts the matched text and may throw to say "this route does not match after all"
 * (as Django's `to_python` raising `ValueError`): the router then tries the next route.
 */
export interface PathConverter<T = unknown> {
  readonly regex: string;
  toValue(text: string): T;
}

/** Django's `str`: any non-empty text without `/`. */
export const strConverter: PathConverter<string> = { regex: '[^/]+', toValue: (s) => s };

/**
 * Django's `int`: digits, given as a number. Digits beyond `Number.MAX_SAFE_INTEGER` do not
 * match (a number would lose them).
 */
export const intConverter: PathConverter<number> = {
  regex: '[0-9]+',
  toValue(s) {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw new RangeError(`${s} is beyond the safe integer range`);
    return n;
  },
};

/** Django's `slug`: ASCII letters, digits, hyphens and underscores. */
export const slugConverter: PathConverter<string> = { regex: '[-a-zA-Z0-9_]+', toValue: (s) => s };

/** Django's `uuid`: a lower-case hyphenated UUID, given as the string. */
export const uuidConverter: PathConverter<string> = {
  regex: '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  toValue: (s) => s,
};

/** Django's `path`: any non-empty text, `/` included. */
export const pathConverter: PathConverter<string> = { regex: '.+', toValue: (s) => s };

const registry = new Map<string, PathConverter>([
  ['str', strConverter],
  ['int', intConverter],
  ['slug', slugConverter],
  ['uuid', uuidConverter],
  ['path', pathConverter],
]);

/**
 * Make `<name:…>` available to the `path()` routes created afterwards (Django's
 * `register_converter`).
 *
 * @throws TypeError when `name` is not an identifier, is already registered, or `converter`'s
 *   `regex` does not compile.
 *
 * @example
 * ```ts
 * registerConverter('year', { regex: '[0-9]{4}', toValue: Number });
 * path('archive/<year:y>/', app);
 * ```
 */
export function registerConverter(name: string, converter: PathConverter): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`converter name must be an identifier, not ${JSON.stringify(name)}`);
  if (registry.has(name)) throw new TypeError(`a converter named ${JSON.stringify(name)} is already registered`);
  if (typeof converter?.regex !== 'string' || typeof converter.toValue !== 'function') {
    throw new TypeError('a converter needs a regex string and a toValue function');
  }
  try {
    new RegExp(converter.regex);
  } catch (e) {
    throw new TypeError(`converter ${name}: invalid regex: ${(e as Error).message}`);
  }
  registry.set(name, converter);
}

/** The converter registered as `name`, or undefined. */
export function getConverter(name: string): PathConverter | undefined {
  return registry.get(name);
}

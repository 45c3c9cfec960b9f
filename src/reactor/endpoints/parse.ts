/**
 * The endpoint description grammar (Twisted's `strports`): `prefix:arg:key=value`,
 * and the converters the built-in parsers use for their arguments.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A description string that cannot be turned into an endpoint: an unknown
 * prefix, a missing or unknown argument, a value of the wrong form, or a file
 * it names that cannot be read.
 */
export class EndpointDescriptionError extends Error {
  override name = 'EndpointDescriptionError';
  constructor(
    message: string,
    /** The description (or the part of it) that was being parsed. */
    readonly description: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A description split into positional arguments and keyword arguments. */
export interface ParsedDescription {
  /** The `:`-separated parts without `=`, in order (the prefix is the first). */
  args: string[];
  /** The `key=value` parts; a repeated key keeps its last value. */
  kwargs: Record<string, string>;
}

const BACKSLASH = '\\';

/**
 * Split a description the way Twisted does (`endpoints._parse`).
 *
 * - `:` separates arguments; an argument containing `=` is a keyword
 *   argument: the text before the first `=` is the key, everything after
 *   it (further `=` included) the value;
 * - `\` makes the next character literal (`\:` is a colon inside an
 *   argument, `\\` a backslash, `\=` an equals sign in a key).
 *
 * @throws EndpointDescriptionError when the description ends with a lone `\`.
 *
 * @example
 * ```ts
 * parseDescription('a:b:d=1:c');        // { args: ['a', 'b', 'c'], kwargs: { d: '1' } }
 * parseDescription('unix:C\\:/x\\:y');  // { args: ['unix', 'C:/x:y'], kwargs: {} }
 * ```
 */
export function parseDescription(description: string): ParsedDescription {
  const args: string[] = [];
  const entries: Array<[string, string]> = [];
  // The parts of the current argument: [value] or [key, value].
  let parts: string[] = [];
  let current = '';
  // After a key's `=`, only `:` ends the value: `a=b=c` is a -> "b=c".
  let inValue = false;
  const finish = (): void => {
    parts.push(current);
    if (parts.length === 1) args.push(parts[0]!);
    else entries.push([parts[0]!, parts[1]!]);
    parts = [];
    current = '';
    inValue = false;
  };
  for (let i = 0; i < description.length; i++) {
    const ch = description[i]!;
    if (ch === BACKSLASH) {
      i++;
      if (i >= description.length) {
        throw new EndpointDescriptionError(
          `endpoint description ends with an escaping backslash: ${JSON.stringify(description)}`,
          description,
        );
      }
      current += description[i]!;
    } else if (ch === ':') {
      finish();
    } else if (ch === '=' && !inValue) {
      parts.push(current);
      current = '';
      inValue = true;
    } else {
      current += ch;
    }
  }
  finish();
  return { args, kwargs: Object.fromEntries(entries) };
}

/** Twisted's name for {@link parseDescription}. */
export const _parse = parseDescription;

/**
 * Escape `argument` so that it stays one argument inside a description:
 * backslashes and colons get a backslash.
 *
 * @example
 * ```ts
 * quoteStringArgument('C:/x:y') === 'C\\:/x\\:y';
 * serverFromString(reactor, `ssl:443:privateKey=${quoteStringArgument(path)}`);
 * ```
 */
export function quoteStringArgument(argument: string): string {
  return argument.replaceAll(BACKSLASH, BACKSLASH + BACKSLASH).replaceAll(':', BACKSLASH + ':');
}

/**
 * Bind a parsed description to named parameters, as a function call would:
 * positional arguments (after the prefix) fill `params` in order, keyword
 * arguments by name.
 *
 * @throws EndpointDescriptionError on too many positional arguments, an
 * unknown keyword, a parameter given twice, or a missing required one.
 */
export function bindArguments(
  prefix: string,
  description: string,
  parsed: { args: readonly string[]; kwargs: Readonly<Record<string, string>> },
  params: readonly string[],
  required: readonly string[] = [],
): Record<string, string | undefined> {
  const bound: Record<string, string | undefined> = {};
  if (parsed.args.length > params.length) {
    throw new EndpointDescriptionError(
      `${prefix}: takes at most ${params.length} positional argument(s) (${params.join(', ')}), ` +
        `got ${parsed.args.length}: ${JSON.stringify(description)}`,
      description,
    );
  }
  parsed.args.forEach((value, i) => {
    bound[params[i]!] = value;
  });
  for (const [key, value] of Object.entries(parsed.kwargs)) {
    if (!params.includes(key)) {
      throw new EndpointDescriptionError(
        `${prefix}: unknown argument '${key}' (expected ${params.join(', ')}): ${JSON.stringify(description)}`,
        description,
      );
    }
    if (bound[key] !== undefined) {
      throw new EndpointDescriptionError(
        `${prefix}: '${key}' is given twice: ${JSON.stringify(description)}`,
        description,
      );
    }
    bound[key] = value;
  }
  for (const name of required) {
    if (bound[name] === undefined || bound[name] === '') {
      throw new EndpointDescriptionError(
        `${prefix}: missing '${name}': ${JSON.stringify(description)}`,
        description,
      );
    }
  }
  return bound;
}

/** Converts one string argument, naming it in errors. */
export class ArgumentReader {
  constructor(
    private readonly prefix: string,
    private readonly description: string,
  ) {}

  /** An error about argument `name`. */
  error(name: string, problem: string, cause?: unknown): EndpointDescriptionError {
    return new EndpointDescriptionError(
      `${this.prefix}: ${name} ${problem}: ${JSON.stringify(this.description)}`,
      this.description,
      cause === undefined ? undefined : { cause },
    );
  }

  /** A port number, 0 to 65535. */
  port(name: string, value: string): number {
    const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
    if (!(n >= 0 && n <= 65535)) throw this.error(name, `must be a port number (0-65535), not ${JSON.stringify(value)}`);
    return n;
  }

  /** A whole number >= `min`. */
  integer(name: string, value: string, min = 0): number {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min) || !Number.isSafeInteger(n)) {
      throw this.error(name, `must be a whole number >= ${min}, not ${JSON.stringify(value)}`);
    }
    return n;
  }

  /** A number of seconds > 0 (fractions allowed). */
  seconds(name: string, value: string): number {
    const n = /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : NaN;
    if (!(n > 0) || !Number.isFinite(n)) throw this.error(name, `must be a number of seconds > 0, not ${JSON.stringify(value)}`);
    return n;
  }

  /** An octal file mode such as `666` or `0660`. */
  octal(name: string, value: string): number {
    if (!/^0?o?[0-7]{1,4}$/i.test(value)) throw this.error(name, `must be an octal mode such as 666, not ${JSON.stringify(value)}`);
    return parseInt(value.replace(/^0?o/i, ''), 8);
  }

  /** A flag: 1/0, true/false, yes/no. */
  flag(name: string, value: string): boolean {
    const v = value.toLowerCase();
    if (v === '1' || v === 'true' || v === 'yes') return true;
    if (v === '0' || v === 'false' || v === 'no') return false;
    throw this.error(name, `must be 0 or 1, not ${JSON.stringify(value)}`);
  }

  /**
   * The text of the file at `path` (read now, synchronously: parsers call it
   * when an endpoint listens or connects, not when the string is parsed).
   */
  file(name: string, path: string): string {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw this.error(name, `names a file that cannot be read (${path}: ${(e as Error).message})`, e);
    }
  }

  /** The text of every `*.pem` file in directory `path`, in name order. */
  pemDirectory(name: string, path: string): string[] {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (e) {
      throw this.error(name, `names a directory that cannot be read (${path}: ${(e as Error).message})`, e);
    }
    const pems = names.filter((n) => n.toLowerCase().endsWith('.pem')).sort();
    if (pems.length === 0) throw this.error(name, `names a directory without .pem files (${path})`);
    return pems.map((n) => this.file(name, join(path, n)));
  }
}

/**
 * A small command-line parser for the `spindle` commands (no dependency): options declared as
 * data, GNU-style spellings, and errors that say what to type instead.
 * @module
 */

/** One option of a command. */
export interface OptionSpec {
  /** The long name, without dashes: `--port`. Also the key in the parsed options. */
  readonly name: string;
  /** A one-letter short name: `-p`. */
  readonly short?: string;
  /**
   * `flag`: no value (true when given); `value`: one value (the last one given wins);
   * `list`: a value that may be repeated (all kept, in order).
   */
  readonly kind: 'flag' | 'value' | 'list';
  /** What the value is, for the help: `PORT`. */
  readonly metavar?: string;
  /** One line of help. */
  readonly help: string;
}

/** A command line the command cannot use: printed with a hint, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** What {@link parseArgs} found. */
export interface ParsedArgs {
  /** By long name: a string (`value`), strings (`list`), or true (`flag`); absent when not given. */
  readonly options: Readonly<Record<string, string | string[] | true>>;
  /** The arguments that are not options, in order. */
  readonly positionals: string[];
}

/**
 * Parse `argv` (without the program and command names) against `specs`.
 *
 * Spellings: `--name value`, `--name=value`, `-n value`, `-nvalue`, flags as `--name` / `-n`
 * (several short flags may be grouped: `-ab`). `--` ends the options; `-` alone is a positional.
 *
 * @throws UsageError for an unknown option (with the closest known one), a missing value, or a
 *   value given to a flag.
 *
 * @example
 * ```ts
 * parseArgs(['app.mjs', '-p', '0', '-e', 'unix:/tmp/s'], [
 *   { name: 'port', short: 'p', kind: 'value', help: 'TCP port' },
 *   { name: 'endpoint', short: 'e', kind: 'list', help: 'endpoint' },
 * ]);
 * // { options: { port: '0', endpoint: ['unix:/tmp/s'] }, positionals: ['app.mjs'] }
 * ```
 */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));
  const options: Record<string, string | string[] | true> = {};
  const positionals: string[] = [];

  const set = (spec: OptionSpec, value: string | null, spelled: string): void => {
    if (spec.kind === 'flag') {
      if (value !== null) throw new UsageError(`option ${spelled} takes no value`);
      options[spec.name] = true;
    } else if (value === null) {
      throw new UsageError(`option ${spelled} needs a value${spec.metavar !== undefined ? ` (${spec.metavar})` : ''}`);
    } else if (spec.kind === 'list') {
      const list = options[spec.name];
      if (Array.isArray(list)) list.push(value);
      else options[spec.name] = [value];
    } else {
      options[spec.name] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw unknown(`--${name}`, specs);
      let value: string | null = eq === -1 ? null : arg.slice(eq + 1);
      if (value === null && spec.kind !== 'flag') value = argv[++i] ?? null;
      set(spec, value, `--${name}`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const spec = byShort.get(letter);
        if (spec === undefined) throw unknown(`-${letter}`, specs);
        if (spec.kind === 'flag') {
          set(spec, null, `-${letter}`);
          continue;
        }
        const rest = arg.slice(j + 1);
        set(spec, rest !== '' ? rest : (argv[++i] ?? null), `-${letter}`);
        break;
      }
    } else {
      positionals.push(arg);
    }
  }
  return { options, positionals };
}

function unknown(spelled: string, specs: readonly OptionSpec[]): UsageError {
  // Only long names are worth a suggestion: any one letter is one edit away from any other.
  if (!spelled.startsWith('--')) return new UsageError(`unknown option ${spelled}`);
  const names = specs.map((s) => `--${s.name}`);
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const n of names) {
    const d = distance(spelled, n);
    if (d < bestDistance) {
      bestDistance = d;
      best = n;
    }
  }
  const hint = best !== null && bestDistance <= Math.max(2, Math.floor(spelled.length / 3)) ? ` (did you mean ${best}?)` : '';
  return new UsageError(`unknown option ${spelled}${hint}`);
}

/** Levenshtein distance, for suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The options as help lines: `  -p, --port PORT   TCP port …`. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const left = specs.map((s) => {
    const names = `${s.short !== undefined ? `-${s.short}, ` : '    '}--${s.name}`;
    return s.kind === 'flag' ? names : `${names} ${s.metavar ?? 'VALUE'}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return specs.map((s, i) => `  ${left[i]!.padEnd(width)}${s.help}`).join('\n');
}

// ---------------------------------------------------------------- value checks

/** The value of a `value` option, or undefined. */
export function valueOf(parsed: ParsedArgs, name: string): string | undefined {
  const v = parsed.options[name];
  return typeof v === 'string' ? v : undefined;
}

/** The values of a `list` option (empty when not given). */
export function listOf(parsed: ParsedArgs, name: string): string[] {
  const v = parsed.options[name];
  return Array.isArray(v) ? v : [];
}

/** Whether a flag was given. */
export function flagOf(parsed: ParsedArgs, name: string): boolean {
  return parsed.options[name] === true;
}

/**
 * A number of seconds (`10`, `2.5`), `>= 0`.
 * @throws UsageError otherwise.
 */
export function secondsValue(option: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${option} takes a number of seconds >= 0, not ${JSON.stringify(value)}`);
  return n;
}

/**
 * An integer from `min` to `max`.
 * @throws UsageError otherwise.
 */
export function integerValue(option: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} takes an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${option} takes an integer from ${min} to ${max}, not ${n}`);
  return n;
}

/**
 * Debugging switches for Deferreds: when on, each Deferred records the stack
 * where it was created and where it was first fired, and both appear in
 * `AlreadyCalledError` messages and in unhandled-error reports.
 */

let debugging = false;

/**
 * Turn Deferred debugging on or off. It costs a stack capture per Deferred,
 * so leave it off in production.
 *
 * @example
 * ```ts
 * setDebugging(true);
 * const d = new Deferred();
 * d.callback(1);
 * d.callback(2); // AlreadyCalledError whose message has "C:" (created) and "I:" (first fired) stacks
 * ```
 */
export function setDebugging(on: boolean): void {
  debugging = on;
}

/** Whether Deferred debugging is on. */
export function getDebugging(): boolean {
  return debugging;
}

/** The current stack, without this helper's own frames, one frame a line. */
export function captureStack(): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, captureStack);
  const stack = holder.stack ?? '';
  // Drop the "Error" header line; keep the frames.
  const nl = stack.indexOf('\n');
  return nl === -1 ? '' : stack.slice(nl + 1);
}

/** Prefix every line of a captured stack, as Twisted does with "C:" and "I:". */
export function prefixLines(prefix: string, stack: string): string {
  return stack
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => `${prefix}${l.trim()}`)
    .join('\n');
}

/** Creator and first-invoker stacks of a Deferred, when debugging was on. */
export interface DebugStacks {
  creator?: string;
  invoker?: string;
}

/** The debug stacks as the text Twisted puts in its messages. */
export function describeStacks(info: DebugStacks | null): string {
  if (info === null) return '';
  const parts: string[] = [];
  if (info.creator !== undefined) parts.push(prefixLines('C: ', info.creator));
  if (info.invoker !== undefined) parts.push(prefixLines('I: ', info.invoker));
  return parts.join('\n');
}

/**
 * What the integration tests share: bounded waits (every wait on a real socket or process has
 * a deadline, so a hung peer fails the test instead of the run) and peer checks.
 */
import { execFileSync } from 'node:child_process';

/** `p`, or a rejection naming `what` after `ms` milliseconds. */
export async function within<T>(p: PromiseLike<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * {@link within} with another default bound, for a file whose waits are all longer (a child
 * process starting, a server on a loaded machine): `const within = withinDefault(10_000);`.
 */
export function withinDefault(defaultMs: number): <T>(p: PromiseLike<T>, what: string, ms?: number) => Promise<T> {
  return (p, what, ms = defaultMs) => within(p, what, ms);
}

/** Poll `predicate` every `intervalMs` until it holds; a rejection naming `what` after `ms`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  ms = 5000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether Debian's `openssl` command is there (to make test certificates). */
export function hasOpenSSL(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * What the integration tests share: bounded waits (every wait on a real socket or process has
 * a deadline, so a hung peer fails the test instead of the run) and peer checks.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';

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

/** A child process whose output is collected, waited on with bounded waits. */
export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when `pattern` appears on the stream, with the match; rejects after `ms` or if the child exits first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** The exit status (or the signal's name). */
  exited: Promise<number | string>;
}

/** Collect the output of `child` (spawned with piped stdout and stderr); every `waitFor` gives up after `ms`. */
export function watchChild(child: ChildProcess, ms = 10_000): Running {
  let out = '';
  let err = '';
  const listeners: Array<() => void> = [];
  const onData = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    onData();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
    onData();
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, stream = 'stdout') {
      return within(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = (): boolean => {
            const m = (stream === 'stdout' ? out : err).match(pattern);
            if (m !== null) resolve(m);
            return m !== null;
          };
          if (check()) return;
          const l = (): void => {
            if (check()) listeners.splice(listeners.indexOf(l), 1);
          };
          listeners.push(l);
          void exited.then((code) => reject(new Error(`exited (${code}) before ${pattern}: ${out}\n${err}`)));
        }),
        `${pattern} on ${stream}`,
        ms,
      );
    },
  };
}

/** What {@link reactorPerTest} gives each test (fields replaced before every test). */
export interface ReactorPerTest {
  /** A running reactor, stopped after the test. */
  reactor: NodeReactor;
  /** Fires when `reactor` has stopped. */
  stopped: PromiseLike<void>;
  /** A fresh temporary directory (UNIX sockets go there), removed after the test. */
  tmp: string;
  /** Raw client sockets of the test, destroyed after it. */
  rawSockets: net.Socket[];
}

/**
 * The fixture of the suites that run once per socket path (fast reads or not, direct writes or
 * not): before each test of the calling suite, `setSwitch(on)` chooses the path and a reactor
 * starts; after it, the raw sockets are destroyed, the reactor stopped (bounded) and the switch
 * and the temporary directory restored.
 */
export function reactorPerTest(setSwitch: (on: boolean) => boolean, on: boolean, prefix: string): ReactorPerTest {
  const env: ReactorPerTest = { reactor: null as unknown as NodeReactor, stopped: Promise.resolve(), tmp: '', rawSockets: [] };
  let previous = true;
  beforeEach(() => {
    previous = setSwitch(on);
    env.tmp = mkdtempSync(join(tmpdir(), prefix));
    env.reactor = new NodeReactor();
    env.stopped = env.reactor.run();
  });
  afterEach(async () => {
    for (const s of env.rawSockets.splice(0)) s.destroy();
    if (env.reactor.running) env.reactor.stop();
    await within(env.stopped, 'the reactor to stop');
    setSwitch(previous);
    rmSync(env.tmp, { recursive: true, force: true });
  });
  return env;
}

/** Deterministic pseudo-random bytes (xorshift), different for each `seed`. */
export function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

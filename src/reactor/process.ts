/**
 * Child processes on `node:child_process` (Twisted's `spawnProcess` and its
 * `process.Process`): pipes to the child's file descriptors delivered to an
 * {@link IProcessProtocol}, and how the process ended as a Failure of
 * ProcessDone or ProcessTerminated.
 *
 * The Node reactor's `spawnProcess` is this function with the reactor passed
 * in.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { Deferred, succeed } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import type { IDelayedCall, IReactorTime } from '../defer/clock.js';
import { Logger } from '../logger/index.js';
import { ProcessDone, ProcessExitedAlready, ProcessTerminated } from './errors.js';
import { assertBytes } from './glue.js';
import type { IProcessProtocol, IProcessTransport, SpawnOptions } from './interfaces.js';
import type { ReactorResource, ResourceTracker } from './resources.js';

/** Seconds the reactor's shutdown waits after SIGTERM before sending SIGKILL to a child. */
export const SHUTDOWN_KILL_AFTER = 5;
/** Further seconds shutdown waits after SIGKILL (or for pipes held open) before giving up on a child. */
export const SHUTDOWN_GIVE_UP_AFTER = 1;

/** The default `childFDs`: we write the child's stdin, read its stdout and stderr. */
const DEFAULT_CHILD_FDS: Readonly<Record<number, 'r' | 'w' | number>> = { 0: 'w', 1: 'r', 2: 'r' };

const log = new Logger('spindle.reactor.process');

/**
 * Start `executable` as a child process and connect `protocol` to it.
 *
 * **Arguments.** `args` are the arguments *after* the executable (Node's
 * convention, `argv[1..]`), not Twisted's, where `args[0]` is the child's
 * `argv[0]`. The executable runs directly, never through a shell. A bare
 * name ('echo') is looked up in the child's PATH, or in the system's default
 * path (/usr/bin:/bin) when the child's environment has no PATH: give an
 * absolute path to be sure.
 *
 * **Environment (Twisted's rule).** `env` defaults to `{}`: the child gets
 * an EMPTY environment, nothing inherited. Pass `env: null` to inherit
 * `process.env`; pass an object to give exactly that environment (spread
 * `process.env` into it to extend ours).
 *
 * **File descriptors.** `childFDs` maps each child fd to 'r' (a pipe we
 * read: the child writes), 'w' (a pipe we write: the child reads) or a
 * number (the child inherits that fd of ours). Default `{0:'w', 1:'r', 2:'r'}`.
 * Fds not listed are closed in the child, except 0-2, which get /dev/null.
 * Fd 0 cannot be 'r'.
 *
 * **Callbacks**, in order: `makeConnection(transport)` (or, without it,
 * `transport` is set and `connectionMade()` runs) before this function
 * returns; then any number of `childDataReceived(fd, data)` — or, for a
 * protocol without that method, `outReceived(data)` for fd 1 and
 * `errReceived(data)` for fd 2; `childConnectionLost(fd)` (or
 * `inConnectionLost`/`outConnectionLost`/`errConnectionLost`) as each pipe
 * closes; `processExited(reason)` as soon as the process exits (output may
 * still be arriving); `processEnded(reason)` once it has exited AND every
 * pipe is closed, always last. `reason` is a Failure of {@link ProcessDone}
 * (exit code 0) or {@link ProcessTerminated} (`exitCode`, or `signal` as
 * Node names it: 'SIGTERM', 'SIGKILL'...). Our stdin pipes are closed when
 * the process exits. An exception thrown by a callback is logged and the
 * process carries on.
 *
 * **Failing to start.** Node reports a missing executable, a permission
 * error or a bad `path` asynchronously, so they are not thrown: the protocol
 * gets `connectionMade`, then its pipes are lost and `processExited` and
 * `processEnded` arrive with a `ProcessTerminated(null, null)` whose `cause`
 * is Node's error (`code` 'ENOENT', 'EACCES'...); `pid` is undefined.
 * Errors Node reports synchronously (EPERM for `uid`/`gid`...) are thrown.
 *
 * While the process runs it is registered with `reactor.track`: stopping
 * the reactor sends it SIGTERM, SIGKILL {@link SHUTDOWN_KILL_AFTER} seconds
 * later if it is still there, and gives up waiting (closing our pipes)
 * {@link SHUTDOWN_GIVE_UP_AFTER} second after that.
 *
 * @throws TypeError for an empty executable, non-string arguments or
 *   environment values, NUL bytes, or an invalid `childFDs`.
 *
 * @example
 * ```ts
 * const done = new Deferred<string>();
 * let out = '';
 * spawnProcess(reactor, {
 *   outReceived(data) { out += Buffer.from(data).toString(); },
 *   processEnded(reason) {
 *     if (reason.check(ProcessDone)) done.callback(out);
 *     else done.errback(reason);
 *   },
 * }, '/bin/ls', ['-l', '/tmp'], { env: null });
 * console.log(await done);
 * ```
 */
export function spawnProcess(
  reactor: IReactorTime & ResourceTracker,
  protocol: IProcessProtocol,
  executable: string,
  args: readonly string[] = [],
  options: SpawnOptions = {},
): IProcessTransport {
  checkString('executable', executable);
  if (executable === '') throw new TypeError('spawnProcess: the executable is empty');
  if (!Array.isArray(args)) throw new TypeError('spawnProcess: args must be an array of strings');
  args.forEach((a, i) => checkString(`args[${i}]`, a));
  const env = checkEnv(options.env === undefined ? {} : options.env);
  const childFDs = checkChildFDs(options.childFDs ?? DEFAULT_CHILD_FDS);
  return new ProcessTransport(reactor, protocol, executable, args, env, childFDs, options);
}

/** One of our ends of a pipe to the child. */
interface Pipe {
  readonly mode: 'r' | 'w';
  readonly stream: Readable | Writable;
}

/** A running child process: the transport of an {@link IProcessProtocol}. */
class ProcessTransport implements IProcessTransport, ReactorResource {
  private readonly child: ChildProcess;
  private readonly pipes = new Map<number, Pipe>();
  /** The fds we write to, still known after their pipe closed (writes are then dropped). */
  private readonly writeFDs = new Set<number>();
  private exitError: ProcessDone | ProcessTerminated | null = null;
  private ended = false;
  private endWaiters: Array<Deferred<void>> = [];
  private timers: IDelayedCall[] = [];
  private readonly untrack: () => void;

  constructor(
    private readonly reactor: IReactorTime & ResourceTracker,
    private readonly protocol: IProcessProtocol,
    executable: string,
    args: readonly string[],
    env: Record<string, string> | null,
    childFDs: ReadonlyMap<number, 'r' | 'w' | number>,
    options: SpawnOptions,
  ) {
    // Unlisted fds: 'ignore' (Node gives fds 0-2 /dev/null, closes the others).
    const width = Math.max(2, ...childFDs.keys()) + 1;
    const stdio: Array<'pipe' | 'ignore' | number> = new Array(width).fill('ignore');
    for (const [fd, how] of childFDs) stdio[fd] = typeof how === 'number' ? how : 'pipe';
    this.child = spawn(executable, args, {
      stdio: stdio as StdioOptions,
      env: env ?? process.env,
      cwd: options.path,
      uid: options.uid,
      gid: options.gid,
      shell: false,
      windowsHide: true,
    });
    this.child.on('exit', (code, signal) => this.onExit(code, signal));
    this.child.on('error', (err) => this.onChildError(err));
    for (const [fd, how] of childFDs) {
      if (typeof how === 'number') continue;
      if (how === 'w') this.writeFDs.add(fd);
      const stream = this.child.stdio[fd] as Readable | Writable | null | undefined;
      // Node creates no streams when spawning fails with EMFILE/ENFILE.
      if (stream == null) continue;
      this.pipes.set(fd, { mode: how, stream });
      stream.on('error', (err: Error) => this.onPipeError(fd, err));
      stream.on('close', () => this.onPipeClosed(fd));
      if (how === 'r') (stream as Readable).on('data', (chunk: Buffer) => this.onData(fd, chunk));
    }
    this.untrack = reactor.track(this);
    this.call('makeConnection', () => {
      if (typeof protocol.makeConnection === 'function') protocol.makeConnection(this);
      else {
        protocol.transport = this;
        protocol.connectionMade?.();
      }
    });
  }

  // ---------------------------------------------------------------- IProcessTransport

  /** The child's process id; undefined once it has exited (as in Twisted) or when it never started. */
  get pid(): number | undefined {
    return this.exitError === null ? this.child.pid : undefined;
  }

  /** Write to the child's stdin (fd 0); see {@link writeToChild}. */
  write(data: Uint8Array): void {
    this.writeToChild(0, data);
  }

  /**
   * Write to the child's fd `fd` (one mapped 'w' in `childFDs`). Never
   * blocks: Node queues what the pipe does not take yet. Dropped silently
   * once that pipe is closed.
   * @throws TypeError when `data` is not bytes; Error when `fd` is not a pipe we write to.
   */
  writeToChild(fd: number, data: Uint8Array): void {
    assertBytes(data);
    if (!this.writeFDs.has(fd)) throw new Error(`child fd ${fd} is not a pipe we write to (see childFDs)`);
    const pipe = this.pipes.get(fd);
    if (pipe === undefined || pipe.stream.destroyed || (pipe.stream as Writable).writableEnded) return;
    (pipe.stream as Writable).write(data);
  }

  /** Close the child's stdin once what was written is flushed (the child reads EOF). */
  closeStdin(): void {
    this.closeChildFD(0);
  }

  /** Stop reading the child's stdout and close our end (the child gets EPIPE/SIGPIPE if it writes). */
  closeStdout(): void {
    this.closeChildFD(1);
  }

  /** Stop reading the child's stderr and close our end. */
  closeStderr(): void {
    this.closeChildFD(2);
  }

  /**
   * Close our end of the pipe for child fd `fd`: a pipe we write is closed
   * after what is queued is flushed; a pipe we read is closed at once.
   * `childConnectionLost(fd)` follows. A no-op for an fd that is not an
   * open pipe.
   */
  closeChildFD(fd: number): void {
    const pipe = this.pipes.get(fd);
    if (pipe === undefined) return;
    if (pipe.mode === 'w') (pipe.stream as Writable).end();
    else pipe.stream.destroy();
  }

  /**
   * Send a signal: 'TERM', 'KILL', 'INT', 'HUP'... (with or without the
   * 'SIG' prefix) or a signal number.
   * @throws ProcessExitedAlready when the process has exited (or never started).
   * @throws TypeError for an unknown signal.
   */
  signalProcess(signal: string | number): void {
    const sig = normalizeSignal(signal);
    if (this.exitError !== null || this.child.pid === undefined) throw new ProcessExitedAlready();
    // kill() is false when the process is gone but not yet reaped (ESRCH).
    if (!this.child.kill(sig)) throw new ProcessExitedAlready();
  }

  /** Close every pipe to the child (it keeps running; see {@link signalProcess}). */
  loseConnection(): void {
    for (const fd of [...this.pipes.keys()]) this.closeChildFD(fd);
  }

  /**
   * ReactorResource: the reactor is stopping. SIGTERM, then SIGKILL after
   * {@link SHUTDOWN_KILL_AFTER} s, then give up after
   * {@link SHUTDOWN_GIVE_UP_AFTER} s more; fires once the process has
   * ended or shutdown gave up.
   */
  shutdown(): Deferred<void> {
    if (this.ended) return succeed<void>(undefined);
    const d = new Deferred<void>();
    this.endWaiters.push(d);
    if (this.timers.length > 0) return d; // shutdown already under way
    if (this.exitError === null && this.child.pid !== undefined) {
      this.child.kill('SIGTERM');
      this.timers.push(
        this.reactor.callLater(SHUTDOWN_KILL_AFTER, () => {
          if (this.exitError === null) this.child.kill('SIGKILL');
          this.timers.push(this.reactor.callLater(SHUTDOWN_GIVE_UP_AFTER, () => this.giveUp()));
        }),
      );
    } else {
      // Exited (or never started) but something still holds a pipe open.
      this.timers.push(this.reactor.callLater(SHUTDOWN_GIVE_UP_AFTER, () => this.giveUp()));
    }
    return d;
  }

  toString(): string {
    return `<Process pid=${String(this.child.pid)} ${this.child.spawnfile}>`;
  }

  // ---------------------------------------------------------------- child events

  private onData(fd: number, chunk: Buffer): void {
    const p = this.protocol;
    this.call('childDataReceived', () => {
      if (typeof p.childDataReceived === 'function') p.childDataReceived(fd, chunk);
      else if (fd === 1) p.outReceived?.(chunk);
      else if (fd === 2) p.errReceived?.(chunk);
    });
  }

  private onPipeError(fd: number, err: Error): void {
    // EPIPE/ECONNRESET: the child closed its end. The pipe is lost either way.
    log.debug('Pipe to child fd {fd} failed: {error}', { fd, error: err.message });
    this.pipes.get(fd)?.stream.destroy();
  }

  private onPipeClosed(fd: number): void {
    if (!this.pipes.delete(fd)) return;
    const p = this.protocol;
    this.call('childConnectionLost', () => {
      if (typeof p.childConnectionLost === 'function') p.childConnectionLost(fd);
      else if (fd === 0) p.inConnectionLost?.();
      else if (fd === 1) p.outConnectionLost?.();
      else if (fd === 2) p.errConnectionLost?.();
    });
    this.maybeEnded();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitError !== null) return;
    this.exited(code === 0 ? new ProcessDone() : new ProcessTerminated(signal === null ? code : null, signal));
  }

  private onChildError(err: Error): void {
    if (this.child.pid === undefined && this.exitError === null) {
      // The process never started (ENOENT, EACCES...).
      this.exited(new ProcessTerminated(null, null, { cause: err }));
      for (const pipe of this.pipes.values()) pipe.stream.destroy();
      return;
    }
    log.failure('Error from child process {pid}', err, { pid: this.child.pid }, 'error');
  }

  private exited(error: ProcessDone | ProcessTerminated): void {
    this.exitError = error;
    // Nobody reads our stdin pipes any more; closing them lets processEnded come.
    for (const pipe of this.pipes.values()) if (pipe.mode === 'w') pipe.stream.destroy();
    this.call('processExited', () => this.protocol.processExited?.(new Failure(error)));
    this.maybeEnded();
  }

  private maybeEnded(): void {
    if (this.ended || this.exitError === null || this.pipes.size > 0) return;
    this.ended = true;
    this.untrack();
    for (const t of this.timers) if (t.active()) t.cancel();
    this.timers = [];
    const error = this.exitError;
    this.call('processEnded', () => this.protocol.processEnded?.(new Failure(error)));
    this.releaseEndWaiters();
  }

  private giveUp(): void {
    // Once exited, closing the pipes (their 'close' events) brings processEnded.
    for (const pipe of this.pipes.values()) pipe.stream.destroy();
    if (this.exitError === null) {
      log.warn('Gave up waiting for child process {pid} to end at shutdown', { pid: this.child.pid });
      this.child.unref();
      this.untrack();
      this.releaseEndWaiters();
    }
  }

  private releaseEndWaiters(): void {
    const waiters = this.endWaiters;
    this.endWaiters = [];
    for (const d of waiters) d.callback(undefined);
  }

  /** Run a protocol callback; an exception is logged, never thrown into Node's event emitter. */
  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      log.failure('{callback} of {protocol} raised', e, {
        callback: what,
        protocol: this.protocol.constructor?.name ?? 'protocol',
      }, 'error');
    }
  }
}

// ---------------------------------------------------------------- argument checks

function checkString(what: string, s: unknown): asserts s is string {
  if (typeof s !== 'string') throw new TypeError(`spawnProcess: ${what} must be a string, not ${typeof s}`);
  if (s.includes('\0')) throw new TypeError(`spawnProcess: ${what} contains a NUL byte`);
}

function checkEnv(env: Record<string, string> | null): Record<string, string> | null {
  if (env === null) return null;
  if (typeof env !== 'object') throw new TypeError('spawnProcess: env must be an object or null');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    checkString(`env key ${JSON.stringify(k)}`, k);
    if (k === '' || k.includes('=')) throw new TypeError(`spawnProcess: invalid env key ${JSON.stringify(k)}`);
    checkString(`env[${JSON.stringify(k)}]`, v);
    out[k] = v;
  }
  return out;
}

function checkChildFDs(childFDs: Readonly<Record<number, 'r' | 'w' | number>>): Map<number, 'r' | 'w' | number> {
  const out = new Map<number, 'r' | 'w' | number>();
  for (const [key, how] of Object.entries(childFDs)) {
    const fd = Number(key);
    if (!Number.isInteger(fd) || fd < 0 || fd > 1023) throw new TypeError(`spawnProcess: bad child fd ${key}`);
    if (how === 'r' || how === 'w') {
      if (fd === 0 && how === 'r') throw new TypeError("spawnProcess: child fd 0 cannot be 'r' (it is the child's stdin)");
    } else if (!(typeof how === 'number' && Number.isInteger(how) && how >= 0)) {
      throw new TypeError(`spawnProcess: childFDs[${fd}] must be 'r', 'w' or a parent fd, not ${String(how)}`);
    }
    out.set(fd, how);
  }
  return out;
}

function normalizeSignal(signal: string | number): NodeJS.Signals | number {
  const known = osConstants.signals as Record<string, number>;
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && (signal === 0 || Object.values(known).includes(signal))) return signal;
  } else if (typeof signal === 'string') {
    const upper = signal.toUpperCase();
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (Object.hasOwn(known, name)) return name as NodeJS.Signals;
  }
  throw new TypeError(`signalProcess: unknown signal ${String(signal)}`);
}

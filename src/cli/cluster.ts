/**
 * `spindle serve --workers N`: N worker processes serving on one port with `node:cluster`.
 *
 * The primary serves nothing: it resolves `-p 0` to one free port (so every worker binds the
 * same one), forks the workers, prints `Listening on …` once when all of them listen, restarts
 * a worker that dies (with a growing backoff, at most {@link MAX_RESTARTS_PER_MINUTE} a
 * minute), and on SIGTERM/SIGINT forwards SIGTERM to every worker, waits for all of them to
 * exit, and exits 0. Each worker runs the ordinary `serve` path with its own layer connection.
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import { Deferred } from '../defer/deferred.js';
import type { IReactor } from '../reactor/interfaces.js';
import type { CliIO } from './serve.js';

/** The environment variable through which the primary hands the resolved port to workers. */
export const CLUSTER_PORT_ENV = 'SPINDLE_CLUSTER_PORT';

/** A worker crashing more often than this in a minute makes the primary give up (exit 1). */
export const MAX_RESTARTS_PER_MINUTE = 10;

/** Backoff before the n-th restart within the last minute: 0.1 s doubling, capped at 5 s. */
export function restartDelay(recentRestarts: number): number {
  return Math.min(5, 0.1 * 2 ** Math.max(0, recentRestarts));
}

/** The message a worker sends the primary once it listens. */
interface ListeningMessage {
  readonly spindle: 'listening';
  readonly lines: readonly string[];
}

function isListeningMessage(m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as { spindle?: unknown }).spindle === 'listening' && Array.isArray((m as { lines?: unknown }).lines);
}

/** True in a process forked by {@link runPrimary}. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[CLUSTER_PORT_ENV] !== undefined;
}

/**
 * In a worker: tell the primary the `Listening on …` lines instead of printing them.
 * Returns false outside a cluster worker (the caller prints them itself).
 */
export function reportListening(lines: readonly string[]): boolean {
  if (!isClusterWorker() || process.send === undefined) return false;
  const message: ListeningMessage = { spindle: 'listening', lines };
  process.send(message);
  return true;
}

/** What the primary needs to know. */
export interface PrimaryOptions {
  /** How many workers (2 or more). */
  readonly workers: number;
  /** The port workers bind (already resolved from 0), or null when the port is in `-e`/`-u`. */
  readonly port: number | null;
  /** Print the in-memory layer warning. */
  readonly memoryLayer: boolean;
  /**
   * Seconds after SIGTERM before workers still running are killed (SIGKILL): a bound on the
   * stop, past the workers' own `--shutdown-timeout`. Default 35.
   */
  readonly killAfter?: number;
}

/**
 * Run the cluster primary on `reactor` until SIGTERM/SIGINT (or until workers keep crashing);
 * resolves with the exit status: 0 after every worker has exited on a signal, 1 when a worker
 * fails before all listen (its stderr says why) or crashes more than
 * {@link MAX_RESTARTS_PER_MINUTE} times in a minute.
 */
export async function runPrimary(options: PrimaryOptions, io: CliIO, reactor: IReactor): Promise<number> {
  if (options.memoryLayer) {
    io.stderr.write(`spindle serve: warning: with --layer memory each of the ${options.workers} workers has its own groups and channels; use --layer redis://… to share them\n`);
  }
  const env: Record<string, string> = { [CLUSTER_PORT_ENV]: String(options.port ?? '') };
  const live = new Set<Worker>();
  const listening = new Set<number>();
  let announced = false;
  let stopping = false;
  let status = 0;
  const restarts: number[] = [];
  let allExited: Deferred<void> | null = null;

  const stopped = reactor.run();

  const giveUp = (why: string): void => {
    if (stopping) return;
    io.stderr.write(`spindle serve: ${why}; stopping\n`);
    status = 1;
    try {
      reactor.stop();
    } catch {
      // already stopping
    }
  };

  const fork = (): void => {
    if (stopping) return;
    const worker = cluster.fork(env);
    live.add(worker);
    worker.on('message', (m: unknown) => {
      if (!isListeningMessage(m)) return;
      listening.add(worker.id);
      if (!announced && listening.size >= options.workers) {
        announced = true;
        for (const line of m.lines) io.stdout.write(`${line}\n`);
      }
    });
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      const wasListening = listening.delete(worker.id);
      if (stopping) {
        if (live.size === 0) allExited?.callback(undefined);
        return;
      }
      if (!announced && !wasListening) {
        giveUp(`a worker exited before serving (${signal ?? `status ${code}`})`);
        return;
      }
      const now = reactor.seconds();
      while (restarts.length > 0 && restarts[0]! < now - 60) restarts.shift();
      if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
        giveUp(`workers crashed ${restarts.length + 1} times within a minute`);
        return;
      }
      const delay = restartDelay(restarts.length);
      restarts.push(now);
      io.stderr.write(`spindle serve: worker ${worker.process.pid} died (${signal ?? `status ${code}`}); restarting in ${delay} s\n`);
      reactor.callLater(delay, fork);
    });
  };

  // The reactor handles SIGTERM/SIGINT: before it shuts down, every worker gets SIGTERM (they
  // stop gracefully: draining requests, closing WebSockets with 1001) and is waited for.
  reactor.addSystemEventTrigger('before', 'shutdown', () => {
    stopping = true;
    if (live.size === 0) return undefined;
    const exited = new Deferred<void>();
    allExited = exited;
    for (const w of live) w.process.kill('SIGTERM');
    const killer = reactor.callLater(options.killAfter ?? 35, () => {
      io.stderr.write(`spindle serve: ${live.size} worker(s) still running after ${options.killAfter ?? 35} s; killing them\n`);
      for (const w of live) w.process.kill('SIGKILL');
    });
    return exited.addBoth((): void => {
      if (killer.active()) killer.cancel();
    });
  });

  for (let i = 0; i < options.workers; i++) fork();
  await stopped;
  return status;
}

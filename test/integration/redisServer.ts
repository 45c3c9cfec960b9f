/**
 * A redis-server of the test's own: started as a child process on a free 127.0.0.1 port (or a
 * UNIX socket in a temp dir), nothing saved to disk, stopped by the test. Shared by the Redis
 * integration, fault and interop tests.
 *
 * When redis-server is missing, `redisMissing()` says why: tests skip visibly, except under
 * `CI=true`, where they fail (the CI installs the Debian package).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Why redis-server cannot run here, or null when it can. */
export function redisMissing(): string | null {
  if (!existsSync(REDIS_SERVER)) return `${REDIS_SERVER} is not installed (Debian package redis-server)`;
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) return `${REDIS_SERVER} --version failed: ${r.stderr || r.error?.message || r.status}`;
  return null;
}

/** `redisMissing()`, turned into a failure under CI. Call at the top of a test file. */
export function requireRedisOrSkip(what: string): string | null {
  const missing = redisMissing();
  if (missing !== null && process.env.CI === 'true') throw new Error(`CI must run ${what} against a real redis-server: ${missing}`);
  if (missing !== null) console.log(`skipping ${what}: ${missing}`);
  return missing;
}

/** A free TCP port on 127.0.0.1 (bound then released: a tiny race, acceptable in tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** Listen on this port (default: a free one). */
  port?: number;
  /** Also listen on a UNIX socket in a temp dir. */
  unixSocket?: boolean;
  /** Extra arguments (`--requirepass`, …). */
  args?: string[];
}

/** A running redis-server. */
export class RedisServer {
  private child: ChildProcess | null = null;
  private dir: string | null = null;

  private constructor(
    readonly port: number,
    readonly socketPath: string | null,
    private readonly args: string[],
  ) {}

  /** Start one; resolves once it accepts connections. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    let socketPath: string | null = null;
    let dir: string | null = null;
    if (options.unixSocket === true) {
      dir = mkdtempSync(join(tmpdir(), 'spindle-redis-'));
      socketPath = join(dir, 'redis.sock');
    }
    const server = new RedisServer(port, socketPath, options.args ?? []);
    server.dir = dir;
    await server.spawn();
    return server;
  }

  /** `redis://127.0.0.1:<port>` (with a db path when given). */
  url(db = 0): string {
    return `redis://127.0.0.1:${this.port}${db !== 0 ? `/${db}` : ''}`;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== null;
  }

  /** Stop it (SIGKILL by default: an abrupt crash, nothing flushed). Resolves once it exited. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }

  /** Start it again on the same port (and socket). */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawn();
  }

  /** Stop it and remove its temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private async spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
    if (this.socketPath !== null) args.push('--unixsocket', this.socketPath, '--unixsocketperm', '700');
    args.push(...this.args);
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    child.stdout!.on('data', (d: Buffer) => void (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => void (output += d.toString()));
    // Ready when a TCP connection succeeds (bounded: 100 tries, 50 ms apart).
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${output}`);
      if (await canConnect(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`redis-server did not start on port ${this.port} within 5 s: ${output}`);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

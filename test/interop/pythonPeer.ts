/**
 * A Django Channels process (test/interop/python/channels_peer.py, run with Debian's
 * /usr/bin/python3) that the interop tests drive over JSON lines, and the tagged-JSON value
 * mapping it uses ({"$bytes": hex}, {"$bigint": digits}, {"$float": repr}).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/channels_peer.py', import.meta.url));

/** Why the Python peer cannot run here, or null. */
export function pythonChannelsMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import django, channels, channels_redis, msgpack, redis'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error !== undefined) return `${PYTHON} cannot run: ${r.error.message}`;
  if (r.status !== 0) return `Debian's Python lacks Django Channels / channels_redis (python3-django-channels, python3-channels-redis): ${r.stderr.trim().split('\n').pop()}`;
  return null;
}

/** Configuration of the peer's layer. */
export interface PeerConfig {
  backend: 'core' | 'pubsub';
  hosts: string[];
  prefix?: string;
  symmetric_encryption_keys?: string[];
  capacity?: number;
}

/** A JSON value with the peer's tags. */
export type Tagged = null | boolean | number | string | Tagged[] | { [key: string]: Tagged };

/** A JS value as the tagged JSON Python's side would produce for it. */
export function tag(v: unknown): Tagged {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : { $bigint: v.toString() };
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 2 ** 53 ? v : { $float: String(v) };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(tag);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, tag(x)]));
  throw new TypeError(`cannot tag ${typeof v}`);
}

/** The JS value of tagged JSON (as the Spindle side decodes it from msgpack). */
export function untag(v: Tagged): unknown {
  if (Array.isArray(v)) return v.map(untag);
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v);
  if (entries.length === 1) {
    const [t, x] = entries[0]!;
    if (t === '$bytes') return Buffer.from(x as string, 'hex');
    if (t === '$bigint') {
      const big = BigInt(x as string);
      return big >= -(2n ** 53n) && big <= 2n ** 53n ? Number(big) : big;
    }
    if (t === '$float') return Number(x);
  }
  return Object.fromEntries(entries.map(([k, x]) => [k, untag(x)]));
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** One running peer process. */
export class PythonPeer {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer = '';
  private stderr = '';
  private readonly ready: Promise<unknown>;

  private constructor(private readonly child: ChildProcess) {
    let resolveReady!: (v: unknown) => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.pending.set(0, { resolve: resolveReady, reject: rejectReady });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.stderr!.on('data', (d: Buffer) => void (this.stderr += d.toString()));
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`the Python peer exited (${code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Start a peer and wait until its layer is configured. */
  static async start(config: PeerConfig): Promise<PythonPeer> {
    const child = spawn(PYTHON, [SCRIPT, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    const peer = new PythonPeer(child);
    await withTimeout(peer.ready, 20_000, 'the Python peer to start');
    return peer;
  }

  /** Run one layer operation; resolves with its result (fails with the Python error). */
  request<T = unknown>(op: string, params: Record<string, unknown> = {}, ms = 15_000): Promise<T> {
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.child.stdin!.write(`${JSON.stringify({ id, op, ...params })}\n`);
    return withTimeout(p, ms, `the Python peer's ${op}`);
  }

  newChannel(): Promise<string> {
    return this.request<string>('new_channel');
  }

  send(channel: string, message: Tagged): Promise<null> {
    return this.request('send', { channel, message });
  }

  groupAdd(group: string, channel: string): Promise<null> {
    return this.request('group_add', { group, channel });
  }

  groupSend(group: string, message: Tagged): Promise<null> {
    return this.request('group_send', { group, message });
  }

  /** The next message on `channel` as tagged JSON, or null after `timeout` seconds. */
  async receive(channel: string, timeout = 10): Promise<Tagged | null> {
    const r = await this.request<{ message?: Tagged; timeout?: boolean }>('receive', { channel, timeout }, (timeout + 5) * 1000);
    return r.timeout === true ? null : r.message!;
  }

  /** Stop the process (bounded). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const reply = JSON.parse(line) as { id: number; ok?: unknown; error?: string };
      const p = this.pending.get(reply.id);
      if (p === undefined) continue;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) p.reject(new Error(`Python: ${reply.error}`));
      else p.resolve(reply.ok);
    }
  }
}

/** `p`, or a rejection after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
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

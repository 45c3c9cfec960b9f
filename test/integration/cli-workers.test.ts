/**
 * `spindle serve --workers N` (node:cluster), spawned as users run it (`node dist/cli/main.js`,
 * built by `npm test` before vitest): N workers on one port (`-p 0` resolved once by the
 * primary), a worker killed with SIGKILL is restarted and requests keep working, SIGTERM to the
 * primary stops every worker and exits 0 with no process left. Every wait is bounded; every
 * process is killed by its pid if a test leaves it running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, requireRedisOrSkip } from './redisServer.js';
import { restartDelay } from '../../src/cli/cluster.js';
import { watchChild, withinDefault, type Running } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const pidApp = 'test/fixtures/apps/pid.mjs';

const within = withinDefault(10_000);

const children: ChildProcess[] = [];
const workerPids = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  workerPids.clear();
});

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does it)`);
});


function run(args: string[], detached = false): Running {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached });
  children.push(child);
  return watchChild(child);
}

/** GET `path` on `port`: the pid of the worker that answered (its x-pid header), and the body. */
function getAt(port: number, path: string): Promise<{ pid: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          if (res.statusCode !== 200 || !body.startsWith(String(res.headers['x-pid']))) reject(new Error(`unexpected answer ${res.statusCode} ${body}`));
          else resolve({ pid: Number(res.headers['x-pid']), body });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    `GET ${path}`,
  );
}

/** GET / on `port`: the pid of the worker that answered. */
async function pidAt(port: number): Promise<number> {
  return (await getAt(port, '/')).pid;
}

/** Request until `count` distinct workers have answered (bounded); the pids seen. */
async function distinctPids(port: number, count: number, maxRequests = 40): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < maxRequests && seen.size < count; i++) seen.add(await pidAt(port));
  for (const pid of seen) workerPids.add(pid);
  return seen;
}

async function waitUntil(what: string, test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  for (let i = 0; i < 1000; i++) {
    if (await test()) return;
    if (performance.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('restartDelay', () => {
  it.each([
    [0, 0.1],
    [1, 0.2],
    [3, 0.8],
    [6, 5],
    [50, 5],
  ])('before a restart with %i others in the last minute: %f s', (recent, seconds) => {
    expect(restartDelay(recent)).toBeCloseTo(seconds);
  });
});

describe('spindle serve --workers', () => {
  it('serves on one port with N workers, restarts a killed one, and stops all on SIGTERM', async () => {
    const s = run(['serve', pidApp, '-p', '0', '--workers', '2', '-v', '0', '--lifespan', 'off']);
    const port = Number((await s.waitFor(/Listening on http:\/\/127\.0\.0\.1:(\d+)\n/))[1]);
    expect(port).toBeGreaterThan(0);
    // Printed once, not once per worker; the in-memory layer warning is given.
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stdout().match(/Listening on/g)).toHaveLength(1);
    expect(s.stderr()).toMatch(/warning: with --layer memory each of the 2 workers has its own groups/);

    const first = await distinctPids(port, 2);
    expect(first.size).toBe(2);
    expect(first.has(s.child.pid!)).toBe(false); // the primary does not serve

    const [victim] = [...first];
    process.kill(victim!, 'SIGKILL');
    await s.waitFor(new RegExp(`worker ${victim} died \\(SIGKILL\\); restarting`), 'stderr');
    await waitUntil('the killed worker to be gone', () => !alive(victim!));
    // Requests keep working, and two workers answer again: the survivor and a new one.
    let after = new Set<number>();
    await waitUntil('a replacement worker to answer', async () => {
      after = await distinctPids(port, 2, 10);
      return after.size === 2 && !after.has(victim!);
    });
    expect([...after].filter((p) => !first.has(p))).toHaveLength(1);

    s.child.kill('SIGTERM');
    expect(await within(s.exited, 'the primary to exit')).toBe(0);
    for (const pid of [...first, ...after]) expect(alive(pid), `worker ${pid} still running`).toBe(false);
  }, 30_000);

  const redisMissing = requireRedisOrSkip('the --workers test with a Redis layer');
  it.skipIf(redisMissing !== null)('shares one Redis layer across the workers: what one puts, another takes', async () => {
    const redis = await RedisServer.start();
    try {
      const s = run(['serve', pidApp, '-p', '0', '--workers', '2', '-v', '0', '--lifespan', 'off', '--layer', redis.url()]);
      const port = Number((await s.waitFor(/Listening on http:\/\/127\.0\.0\.1:(\d+)\n/))[1]);
      expect(s.stderr()).not.toMatch(/warning/);
      let crossed = false;
      // Requests are spread over the workers: repeat (bounded) until a put and its take are
      // answered by different processes.
      for (let i = 0; i < 20 && !crossed; i++) {
        const put = await getAt(port, `/put?v=value${i}`);
        const take = await getAt(port, '/take');
        workerPids.add(put.pid).add(take.pid);
        expect(take.body).toBe(`${take.pid} value${i}`);
        crossed = put.pid !== take.pid;
      }
      expect(crossed).toBe(true);
      s.child.kill('SIGTERM');
      expect(await within(s.exited, 'the primary to exit')).toBe(0);
    } finally {
      await redis.dispose();
    }
  }, 30_000);

  it('stops gracefully when SIGINT reaches the whole process group (Ctrl-C in a terminal)', async () => {
    // Its own process group, so that the signal reaches the primary and the workers only.
    const s = run(['serve', pidApp, '-p', '0', '--workers', '2', '-v', '0', '--lifespan', 'off'], true);
    const port = Number((await s.waitFor(/Listening on http:\/\/127\.0\.0\.1:(\d+)\n/))[1]);
    const pids = await distinctPids(port, 2);
    process.kill(-s.child.pid!, 'SIGINT');
    expect(await within(s.exited, 'the primary to exit')).toBe(0);
    await waitUntil('the workers to exit', () => [...pids].every((pid) => !alive(pid)));
    expect(s.stderr()).not.toMatch(/died/);
  }, 30_000);

  it.each([
    { name: 'port 0 in an -e endpoint', args: ['-e', 'tcp:0:interface=127.0.0.1', '--workers', '2'], error: /port 0 in an -e endpoint/ },
    { name: 'a worker count of 0', args: ['-p', '0', '--workers', '0'], error: /--workers/ },
  ])('refuses $name (status 2)', async ({ args, error }) => {
    const s = run(['serve', pidApp, ...args]);
    expect(await within(s.exited, 'exit')).toBe(2);
    expect(s.stderr()).toMatch(error);
  });

  it('exits 1 when the workers cannot load the application, with no process left', async () => {
    const s = run(['serve', 'test/fixtures/apps/missing-app.mjs', '-p', '0', '--workers', '2', '-v', '0']);
    expect(await within(s.exited, 'exit')).toBe(1);
    expect(s.stderr()).toMatch(/a worker exited before serving/);
  });
});

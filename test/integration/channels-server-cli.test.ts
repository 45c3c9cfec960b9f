/**
 * The `spindle` command, spawned as users run it (`node dist/cli/main.js …`, built by `npm test`
 * before vitest): `serve` on 127.0.0.1 port 0 and on a UNIX socket in a temporary directory,
 * SIGTERM draining an in-flight request and closing WebSockets with 1001, the exit statuses,
 * `worker`, and the page-counter example. Every wait is bounded; every process is killed (by its
 * pid) if a test leaves it running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { connectWebSocket } from '../../src/websocket/index.js';
import { watchChild, withinDefault, type Running } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const hello = 'test/fixtures/apps/hello.mjs';

const within = withinDefault(10_000);


const children: ChildProcess[] = [];
const scratch: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does it)`);
});

function run(args: string[], script = cli): Running {
  const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return watchChild(child);
}

/** Run a command that should end by itself; its status and output. */
async function runToEnd(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const r = run(args);
  const code = await within(r.exited, `spindle ${args.join(' ')} to exit`);
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

function get(target: { port?: number; socketPath?: string }, path: string): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', ...target, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    `GET ${path}`,
  );
}

/** A port nothing listens on right now (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function listening(r: Running): Promise<number> {
  const m = await r.waitFor(/Listening on http:\/\/127\.0\.0\.1:(\d+)/);
  return Number(m[1]);
}

describe('spindle serve', () => {
  it('serves the application, then drains an in-flight request on SIGTERM and exits 0', async () => {
    const r = run(['serve', hello, '-p', '0']);
    const port = await listening(r);
    expect(await get({ port }, '/x')).toEqual({ status: 200, body: 'hello from /x (state yes, 0 bytes)' });
    const slow = get({ port }, '/slow?ms=400');
    await r.waitFor(/slow request started/, 'stderr');
    r.child.kill('SIGTERM');
    expect(await slow).toMatchObject({ status: 200, body: 'hello from /slow (state yes, 0 bytes)' });
    expect(await within(r.exited, 'the exit')).toBe(0);
    expect(r.stderr()).toContain('fixture: lifespan shutdown');
    // The access log (stdout at the default verbosity).
    expect(r.stdout()).toMatch(/"GET \/x HTTP\/1\.1" 200 /);
    await expect(get({ port }, '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('closes WebSockets with 1001 on SIGTERM', async () => {
    const r = run(['serve', hello, '-p', '0', '-v', '0']);
    const port = await listening(r);
    const reactor = new NodeReactor();
    const ws = await within(connectWebSocket(reactor, `ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false }), 'the WebSocket');
    const echoed = new Promise<string>((resolve) => (ws.onMessage = (m) => resolve(String(m))));
    await ws.send('hi');
    expect(await within(echoed, 'the echo')).toBe('echo hi');
    r.child.kill('SIGTERM');
    expect((await within(ws.whenClosed(), 'the close')).code).toBe(1001);
    expect(await within(r.exited, 'the exit')).toBe(0);
    expect(r.stderr()).toContain('fixture: websocket disconnect 1001');
    expect(r.stdout()).not.toMatch(/"GET /); // -v 0: no access log
  });

  it('listens on a UNIX socket given with -e, and serves a named export', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-cli-'));
    scratch.push(dir);
    const socketPath = join(dir, 'app.sock');
    const r = run(['serve', 'test/fixtures/apps/named.mjs:application', '-e', `unix:${socketPath}`]);
    await r.waitFor(/Listening on unix:/);
    expect(await get({ socketPath }, '/')).toEqual({ status: 200, body: 'named application' });
    r.child.kill('SIGINT');
    expect(await within(r.exited, 'the exit')).toBe(0);
  });

  it('accepts a consumer-like class (its asApp() is served)', async () => {
    const r = run(['serve', 'test/fixtures/apps/named.mjs:Hello', '-p', '0', '-v', '0']);
    const port = await listening(r);
    expect((await get({ port }, '/')).body).toBe('from asApp');
    r.child.kill('SIGTERM');
    expect(await within(r.exited, 'the exit')).toBe(0);
  });

  it('--help shows the options and examples (exit 0)', async () => {
    const { code, stdout } = await runToEnd(['serve', '--help']);
    expect(code).toBe(0);
    for (const part of ['Usage: spindle serve', '--root-path', '--proxy-headers', '--access-log', 'Examples:']) expect(stdout).toContain(part);
  });

  it.each([
    ['no application', ['serve'], /which application/],
    ['an unknown option', ['serve', hello, '--prot', '0'], /unknown option --prot \(did you mean --port\?\)/],
    ['a bad port', ['serve', hello, '-p', 'http'], /-p\/--port takes an integer/],
    ['a worker count of 0', ['serve', hello, '--workers', '0'], /--workers/],
    ['an unknown layer', ['serve', hello, '--layer', 'postgres://x'], /--layer takes 'memory' or a redis:\/\/ URL/],
    ['an unknown command', ['srve'], /unknown command "srve"/],
  ])('a usage error (%s) exits 2', async (_name, args, message) => {
    const { code, stderr } = await runToEnd(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it.each([
    ['a missing module', ['serve', 'test/fixtures/apps/nope.mjs'], /no file or package named "test\/fixtures\/apps\/nope\.mjs"/],
    ['a missing relative path', ['serve', './nope.mjs'], /no such file/],
    ['a module that throws', ['serve', 'test/fixtures/apps/throws.mjs'], /importing .* failed:\n.*Error: this module cannot load/],
    ['no default export', ['serve', 'test/fixtures/apps/named.mjs'], /has no default export.*it exports: Hello, application, notAnApp/],
    ['an export that is not an application', ['serve', 'test/fixtures/apps/named.mjs:notAnApp'], /is not an application/],
    ['a missing export', ['serve', 'test/fixtures/apps/named.mjs:other'], /has no export "other"/],
  ])('an application load error (%s) exits 1 with the error', async (_name, args, message) => {
    const { code, stderr } = await runToEnd(args);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
  });
});

describe('spindle worker', () => {
  it('consumes the named channels until SIGTERM, then exits 0', async () => {
    const r = run(['worker', hello, 'page-counter', 'emails']);
    await r.waitFor(/Worker consuming page-counter, emails/);
    r.child.kill('SIGTERM');
    expect(await within(r.exited, 'the exit')).toBe(0);
    expect(r.stderr()).toContain('the in-memory layer only carries messages sent inside this process');
  });

  it('needs channels (exit 2)', async () => {
    const { code, stderr } = await runToEnd(['worker', hello]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/which channels/);
  });
});

describe('spindle serve and spindle worker over Redis', () => {
  const redisServer = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const haveRedis = redisServer.status === 0;
  if (!haveRedis) console.log('skipping the Redis case: redis-server is not installed (apt-get install redis-server)');

  it.skipIf(!haveRedis)('an HTTP view sends to a channel; a worker in another process consumes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-redis-'));
    scratch.push(dir);
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(redis);
    let redisOut = '';
    redis.stdout!.on('data', (c: Buffer) => (redisOut += c.toString()));
    await within(
      (async () => {
        while (!redisOut.includes('Ready to accept connections')) await new Promise((r) => setTimeout(r, 10));
      })(),
      'redis-server to start',
    );
    const layer = `redis://127.0.0.1:${port}/0`;
    const server = run(['serve', 'test/fixtures/apps/counter.mjs', '-p', '0', '-v', '0', '--layer', layer]);
    const worker = run(['worker', 'test/fixtures/apps/counter.mjs', 'page-counter', '--layer', layer]);
    const httpPort = await listening(server);
    await worker.waitFor(/Worker consuming page-counter/);
    expect((await get({ port: httpPort }, '/a')).body).toBe('viewed /a');
    expect((await get({ port: httpPort }, '/b')).body).toBe('viewed /b');
    await worker.waitFor(/counted \/a\ncounted \/b\n/, 'stderr');
    server.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await within(server.exited, 'the server to exit')).toBe(0);
    expect(await within(worker.exited, 'the worker to exit')).toBe(0);
    expect(worker.stderr()).not.toContain('in-memory layer');
  });
});

describe('the page-counter example', () => {
  it('counts page views in the background worker', async () => {
    const r = run(['0'], join(root, 'examples', 'page-counter', 'main.js'));
    const port = await listening(r);
    for (const p of ['/a', '/b/c', '/a']) expect((await get({ port }, p)).status).toBe(200);
    let counts: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      counts = JSON.parse((await get({ port }, '/counts')).body) as Record<string, number>;
      if (counts['/a'] === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(counts).toEqual({ '/a': 2, '/b/c': 1 });
    r.child.kill('SIGTERM');
    expect(await within(r.exited, 'the exit')).toBe(0);
  });
});

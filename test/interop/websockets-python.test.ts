/**
 * Interop with a WebSocket implementation nobody here wrote: Python's `websockets` (Debian's
 * python3-websockets, run with /usr/bin/python3), over real sockets on 127.0.0.1.
 *
 * - Python client ↔ our server (test/interop/python/client.py, driven by a JSON plan);
 * - our client ↔ Python server (test/interop/python/server.py, an echo server that reports
 *   what it saw as JSON lines);
 *
 * both ways: text, binary, fragmented messages (Python sends fragments from an async iterator),
 * permessage-deflate (negotiated on both ends, and measured on the wire through a counting
 * relay), close codes and reasons.
 *
 * Without the peer the suite is skipped with the reason printed, except under CI (CI=true),
 * where it fails: `.ci/run` installs python3-websockets.
 */
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IPv4Address } from '../../src/reactor/address.js';
import type { IListeningPort } from '../../src/reactor/interfaces.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { WebSocketServerFactory, connectWebSocket, type WebSocket, type WebSocketData } from '../../src/websocket/index.js';

const PYTHON = '/usr/bin/python3';
const CLIENT_PY = fileURLToPath(new URL('./python/client.py', import.meta.url));
const SERVER_PY = fileURLToPath(new URL('./python/server.py', import.meta.url));

function peerVersion(): string | null {
  try {
    return execFileSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

const VERSION = peerVersion();
const SKIP = VERSION === null && process.env.CI !== 'true';
if (SKIP) console.log(`skipping test/interop/websockets-python: ${PYTHON} cannot import websockets (apt-get install python3-websockets)`);

// ------------------------------------------------------------------ helpers

async function within<T>(p: PromiseLike<T>, what: string, ms = 10_000): Promise<T> {
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

async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');

/** The large, very compressible payloads client.py's big() makes. */
function bigPayload(kind: 'text' | 'binary', size: number): Buffer {
  const unit = kind === 'text' ? Buffer.from('spindle websocket interop ') : Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const out = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += unit.length) unit.copy(out, at, 0, Math.min(unit.length, size - at));
  return out;
}

/** How Python describes a message it received. */
interface Described {
  type: 'text' | 'binary';
  length: number;
  sha1: string;
  text?: string;
}

interface ClientResult {
  extensions: string[];
  received: Described[];
  close: { code: number; reason: string } | null;
}

type Step =
  | { send: 'text'; data: string }
  | { send: 'binary'; hex: string }
  | { send: 'fragments'; parts: string[]; binary?: boolean }
  | { send: 'big'; kind: 'text' | 'binary'; size: number }
  | { recv: number }
  | { close: number; reason: string }
  | { wait_close: true };

/** Run client.py against `url` with `plan`; its JSON result. */
function pythonClient(url: string, plan: Step[]): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [CLIENT_PY, url, JSON.stringify(plan)], { timeout: 40_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`client.py failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as ClientResult);
    });
  });
}

interface ServerEvent {
  event: 'open' | 'message' | 'closed';
  path?: string;
  extensions?: string[];
  type?: 'text' | 'binary';
  length?: number;
  sha1?: string;
  text?: string;
  code?: number;
  reason?: string;
}

/** server.py, started; its port and the events it reported so far. */
interface PythonServer {
  readonly port: number;
  readonly events: ServerEvent[];
  stop(): Promise<void>;
}

async function pythonServer(): Promise<PythonServer> {
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [SERVER_PY], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: ServerEvent[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let buffered = '';
  let resolvePort!: (port: number) => void;
  const portKnown = new Promise<number>((r) => (resolvePort = r));
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = JSON.parse(buffered.slice(0, nl)) as ServerEvent & { port?: number };
      buffered = buffered.slice(nl + 1);
      if (line.port !== undefined) resolvePort(line.port);
      else events.push(line);
    }
  });
  const exited = once(child, 'exit');
  const port = await within(Promise.race([portKnown, exited.then(() => Promise.reject(new Error(`server.py exited: ${stderr}`)))]), 'server.py to listen');
  return {
    port,
    events,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** A TCP relay on 127.0.0.1 that counts the bytes going each way. */
interface Relay {
  readonly port: number;
  /** Bytes from the connecting side to the target, and back. */
  readonly up: () => number;
  readonly down: () => number;
  close(): Promise<void>;
}

async function relay(targetPort: number): Promise<Relay> {
  let up = 0;
  let down = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = netConnect({ host: '127.0.0.1', port: targetPort });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.on('data', (d: Buffer) => void (up += d.length));
    outbound.on('data', (d: Buffer) => void (down += d.length));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    up: () => up,
    down: () => down,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

// ------------------------------------------------------------------ fixtures

let reactor: NodeReactor;
let stopped: PromiseLike<void>;
const cleanups: Array<() => PromiseLike<unknown> | void> = [];

beforeEach(() => {
  reactor = new NodeReactor();
  stopped = reactor.run();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await within(Promise.resolve(c()), 'cleanup');
  if (reactor.running) reactor.stop();
  await within(stopped, 'the reactor to stop');
});

interface ServerSide {
  readonly url: string;
  readonly port: number;
  /** Messages our server received, per connection path. */
  readonly messages: Array<{ path: string; data: WebSocketData }>;
  /** onClose calls, per path. */
  readonly closes: Array<{ path: string; code: number; reason: string; wasClean: boolean }>;
  readonly sockets: Array<{ path: string; ws: WebSocket }>;
}

/**
 * Our echo server; "please-fragment" is answered in three fragments, "please-close:CODE:REASON"
 * makes it close with that code and reason.
 */
async function ourServer(): Promise<ServerSide> {
  const side: ServerSide = { url: '', port: 0, messages: [], closes: [], sockets: [] };
  const factory = new WebSocketServerFactory({
    reactor,
    onConnection(ws) {
      const path = ws.url;
      side.sockets.push({ path, ws });
      ws.onMessage = (data, isBinary) => {
        side.messages.push({ path, data });
        if (data === 'please-fragment') {
          ws.send('alpha-', { fin: false }).addErrback(() => undefined);
          ws.send('beta-', { fin: false }).addErrback(() => undefined);
          ws.send('gamma').addErrback(() => undefined);
        } else if (typeof data === 'string' && data.startsWith('please-close:')) {
          const [, code, reason] = data.split(':');
          ws.close(Number(code), reason);
        } else {
          ws.send(data, { binary: isBinary }).addErrback(() => undefined);
        }
      };
      ws.onClose = (code, reason, wasClean) => void side.closes.push({ path, code, reason, wasClean });
    },
  });
  const port: IListeningPort = reactor.listenTCP(0, factory, { interface: '127.0.0.1' });
  cleanups.push(() => port.stopListening());
  await within(port.ready, 'our port');
  const n = (port.getHost() as IPv4Address).port;
  return { ...side, url: `ws://127.0.0.1:${n}`, port: n };
}

async function ourClient(url: string): Promise<{ ws: WebSocket; messages: WebSocketData[] }> {
  const messages: WebSocketData[] = [];
  const ws = await within(connectWebSocket(reactor, url, { onMessage: (d) => void messages.push(d) }), 'our client to connect');
  cleanups.push(() => ws.terminate());
  return { ws, messages };
}

// ------------------------------------------------------------------ tests

describe.skipIf(SKIP)(`interop with Python websockets ${VERSION ?? '(missing)'}`, () => {
  it('has the peer (under CI, .ci/run installs python3-websockets)', () => {
    expect(VERSION, `${PYTHON} cannot import websockets`).not.toBeNull();
  });

  describe('Python client → our server', () => {
    it('echoes text, binary and fragmented messages; fragments arrive as one message each way', async () => {
      const server = await ourServer();
      const r = await pythonClient(`${server.url}/basic`, [
        { send: 'text', data: 'hello from python ✓' },
        { recv: 1 },
        { send: 'binary', hex: '00ff10fe' },
        { recv: 1 },
        { send: 'fragments', parts: ['one-', 'two-', 'three ✓'] },
        { recv: 1 },
        { send: 'fragments', parts: ['ab', 'cd', 'ef'], binary: true },
        { recv: 1 },
        { send: 'text', data: 'please-fragment' },
        { recv: 1 },
        { close: 1000, reason: 'done' },
      ]);
      expect(r.received.map((m) => [m.type, m.text ?? m.sha1])).toEqual([
        ['text', 'hello from python ✓'],
        ['binary', sha1(Buffer.from('00ff10fe', 'hex'))],
        ['text', 'one-two-three ✓'],
        ['binary', sha1(Buffer.from('abcdef'))],
        ['text', 'alpha-beta-gamma'],
      ]);
      // Each fragmented send reached our server as one message.
      expect(server.messages.map((m) => (typeof m.data === 'string' ? m.data : m.data.toString('hex')))).toEqual([
        'hello from python ✓',
        '00ff10fe',
        'one-two-three ✓',
        Buffer.from('abcdef').toString('hex'),
        'please-fragment',
      ]);
      expect(r.close).toEqual({ code: 1000, reason: '' });
      await until(() => server.closes.length === 1, 'our onClose');
      expect(server.closes[0]).toMatchObject({ code: 1000, reason: 'done', wasClean: true });
    });

    it('negotiates permessage-deflate and compresses both ways (bytes on the wire counted by a relay)', async () => {
      const server = await ourServer();
      const wire = await relay(server.port);
      cleanups.push(() => wire.close());
      const size = 200_000;
      const r = await pythonClient(`ws://127.0.0.1:${wire.port}/deflate`, [
        { send: 'big', kind: 'text', size },
        { recv: 1 },
        { send: 'big', kind: 'binary', size },
        { recv: 1 },
        { close: 1000, reason: '' },
      ]);
      expect(r.extensions).toEqual(['permessage-deflate']);
      expect(server.sockets[0]!.ws.extensions).toContain('permessage-deflate');
      expect(r.received).toEqual([
        { type: 'text', length: size, sha1: sha1(bigPayload('text', size)) },
        { type: 'binary', length: size, sha1: sha1(bigPayload('binary', size)) },
      ]);
      // 400 kB of payload each way; compressed, a few kB.
      expect(wire.up()).toBeLessThan(40_000);
      expect(wire.down()).toBeLessThan(40_000);
    });

    it('close codes and reasons both ways: Python closes with 4001, our server with 4002', async () => {
      const server = await ourServer();
      const a = await pythonClient(`${server.url}/python-closes`, [
        { send: 'text', data: 'hi' },
        { recv: 1 },
        { close: 4001, reason: 'bye from python' },
      ]);
      expect(a.close?.code).toBe(4001);
      await until(() => server.closes.length === 1, 'our onClose');
      expect(server.closes[0]).toEqual({ path: '/python-closes', code: 4001, reason: 'bye from python', wasClean: true });

      const b = await pythonClient(`${server.url}/server-closes`, [{ send: 'text', data: 'please-close:4002:bye from spindle' }, { wait_close: true }]);
      expect(b.close).toEqual({ code: 4002, reason: 'bye from spindle' });
      await until(() => server.closes.length === 2, 'our onClose');
      expect(server.closes[1]).toMatchObject({ path: '/server-closes', code: 4002, wasClean: true });
    });
  });

  describe('our client → Python server', () => {
    let py: PythonServer;
    beforeEach(async () => {
      py = await pythonServer();
      cleanups.push(() => py.stop());
    });

    it('text, binary and fragmented messages are echoed; fragments arrive as one message each way', async () => {
      const { ws, messages } = await ourClient(`ws://127.0.0.1:${py.port}/basic`);
      await within(ws.send('hello from spindle ✓'), 'a send');
      await within(ws.send(Buffer.from([0, 255, 16])), 'a send');
      ws.send('one-', { fin: false }).addErrback(() => undefined);
      ws.send('two-', { fin: false }).addErrback(() => undefined);
      await within(ws.send('three ✓'), 'the last fragment');
      ws.send(Buffer.from('ab'), { fin: false }).addErrback(() => undefined);
      await within(ws.send(Buffer.from('cd')), 'the last fragment');
      await within(ws.send('please-fragment'), 'a send');
      await until(() => messages.length === 5, 'the echoes');
      expect(messages).toEqual(['hello from spindle ✓', Buffer.from([0, 255, 16]), 'one-two-three ✓', Buffer.from('abcd'), 'alpha-beta-gamma']);
      const seen = py.events.filter((e) => e.event === 'message').map((e) => [e.type, e.text ?? e.sha1]);
      expect(seen).toEqual([
        ['text', 'hello from spindle ✓'],
        ['binary', sha1(Buffer.from([0, 255, 16]))],
        ['text', 'one-two-three ✓'],
        ['binary', sha1(Buffer.from('abcd'))],
        ['text', 'please-fragment'],
      ]);
      ws.close(1000, 'done');
      expect(await within(ws.whenClosed(), 'the close')).toMatchObject({ code: 1000, wasClean: true });
      await until(() => py.events.some((e) => e.event === 'closed'), 'the Python server to see the close');
      expect(py.events.find((e) => e.event === 'closed')).toMatchObject({ code: 1000, reason: 'done' });
    });

    it('negotiates permessage-deflate (the server asks for 12-bit windows) and compresses both ways', async () => {
      const wire = await relay(py.port);
      cleanups.push(() => wire.close());
      const { ws, messages } = await ourClient(`ws://127.0.0.1:${wire.port}/deflate`);
      expect(ws.extensions).toContain('permessage-deflate');
      const size = 200_000;
      const text = bigPayload('text', size).toString('latin1');
      const binary = bigPayload('binary', size);
      await within(ws.send(text), 'a send');
      await within(ws.send(binary), 'a send');
      await until(() => messages.length === 2, 'the echoes');
      expect(messages[0]).toBe(text);
      expect(sha1(messages[1] as Buffer)).toBe(sha1(binary));
      expect(py.events.find((e) => e.event === 'open')?.extensions).toEqual(['permessage-deflate']);
      expect(wire.up()).toBeLessThan(40_000);
      expect(wire.down()).toBeLessThan(40_000);
      ws.close();
      await within(ws.whenClosed(), 'the close');
    });

    it('close codes and reasons both ways: our client closes with 4005, the Python server with 4006', async () => {
      const a = await ourClient(`ws://127.0.0.1:${py.port}/client-closes`);
      a.ws.close(4005, 'bye from spindle client');
      expect(await within(a.ws.whenClosed(), 'the close')).toMatchObject({ code: 4005, wasClean: true });
      await until(() => py.events.some((e) => e.event === 'closed' && e.path === '/client-closes'), 'the Python server to see the close');
      expect(py.events.find((e) => e.event === 'closed' && e.path === '/client-closes')).toMatchObject({ code: 4005, reason: 'bye from spindle client' });

      const b = await ourClient(`ws://127.0.0.1:${py.port}/server-closes`);
      await within(b.ws.send('please-close:4006:bye from python server'), 'a send');
      expect(await within(b.ws.whenClosed(), 'the close')).toEqual({ code: 4006, reason: 'bye from python server', wasClean: true });
    });
  });
});

/**
 * The chat example end to end, in a real browser: Debian's Chromium, headless, driven over the
 * Chrome DevTools Protocol with Spindle's own WebSocket client (`connectWebSocket`) — no
 * puppeteer, no playwright.
 *
 * The chat (examples/chat/app.js, served in this process by `serve` on 127.0.0.1, a free port,
 * with an in-memory layer) is opened in two pages, each in its own browser context (two users,
 * nothing shared); both join one room through the page's form, page 1 sends a message and both
 * pages must show it; a message posted to the HTTP endpoint must show in both too; when page 2
 * closes, page 1 must show the leave notice. A screenshot of page 1 is kept in
 * test-artifacts/chat-e2e.png. Every wait is bounded; the browser (only the process this test
 * started, by its PID) and the server are stopped in `finally`.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; `.ci/run` installs it) and dist/ (the
 * example imports the built package; `npm test` builds first). Without them the test is skipped
 * with the reason printed — except under CI=true, where it fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as ChannelsModule from '../../src/channels/index.js';
import type * as CoreModule from '../../src/index.js';
import type * as LoggerModule from '../../src/logger/index.js';
import type * as TestingModule from '../../src/testing/index.js';
import type { ASGIApplication } from '../../src/channels/types.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { connectWebSocket, type WebSocket } from '../../src/websocket/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(root, 'test-artifacts', 'chat-e2e.png');
const dist = (p: string): string => pathToFileURL(join(root, 'dist', p)).href;

// As this machine needs it: root (no sandbox), no GPU, and none of the background connections
// a closed network refuses (or makes slow).
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--remote-debugging-port=0',
];

function missing(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install -y chromium)`;
  if (!existsSync(join(root, 'dist', 'channels', 'index.js'))) return 'dist/ is missing (run `npm run build`; `npm test` does it first)';
  return null;
}

const REASON = missing();
const SKIP = REASON !== null && process.env.CI !== 'true';
if (SKIP) console.log(`skipping test/e2e/chat-browser: ${REASON}`);

// ------------------------------------------------------------------ bounded waits

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

/** Poll `probe` every 50 ms until it returns true (errors count as false); bounded by `ms`. */
async function until(probe: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      if (await probe()) return;
      last = null;
    } catch (e) {
      last = e; // e.g. the page is navigating and its context is gone: try again
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last === null ? '' : ` (last error: ${String(last)})`}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ------------------------------------------------------------------ Chromium and its protocol

interface Browser {
  child: ChildProcess;
  /** The browser's DevTools WebSocket URL. */
  url: string;
  exited: Promise<void>;
  profile: string;
}

/** Start headless Chromium on a new empty profile; resolves once it prints its DevTools URL. */
async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'spindle-chromium-'));
  const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  const url = await within(
    new Promise<string>((resolve, reject) => {
      child.once('error', reject);
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (m !== null) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`Chromium exited before listening:\n${stderr.slice(-2000)}`)));
    }),
    'Chromium to print its DevTools URL',
    20_000,
  ).catch((e: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
    throw e;
  });
  // Keep draining its stderr (it logs), so it never blocks on a full pipe.
  child.stderr!.resume();
  return { child, url, exited, profile };
}

/** Close the browser: politely over CDP, then by its PID if it lingers. Removes its profile. */
async function closeChromium(browser: Browser, cdp: Cdp | null): Promise<void> {
  const { child } = browser;
  if (cdp !== null) await cdp.send('Browser.close').catch(() => undefined);
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  if (!gone()) await within(browser.exited, 'Chromium to exit', 5000).catch(() => undefined);
  if (!gone()) {
    child.kill('SIGKILL');
    await within(browser.exited, 'Chromium to die', 5000).catch(() => undefined);
  }
  rmSync(browser.profile, { recursive: true, force: true });
}

interface CdpError {
  code: number;
  message: string;
}

/**
 * A Chrome DevTools Protocol connection over one Spindle WebSocket: `send` a command (to the
 * browser, or to a page through its `sessionId` with flattened sessions) and get its result.
 */
class Cdp {
  readonly #ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; method: string }>();

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onMessage = (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: CdpError };
      if (msg.id === undefined) return; // an event: this test polls instead
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`${p.method}: ${msg.error.message} (${msg.error.code})`));
      else p.resolve(msg.result);
    };
    ws.onClose = () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: the DevTools connection closed`));
      this.#pending.clear();
    };
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.#next++;
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
    });
    void this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId !== undefined ? { sessionId } : {}) })).then(undefined, (e: unknown) => {
      this.#pending.get(id)?.reject(e instanceof Error ? e : new Error(String(e)));
      this.#pending.delete(id);
    });
    return within(result, `the answer to ${method}`, 10_000).finally(() => this.#pending.delete(id));
  }

  close(): void {
    this.#ws.close(1000);
  }
}

/** One page (a target in its own browser context), attached with a flattened session. */
class Page {
  constructor(
    readonly cdp: Cdp,
    readonly sessionId: string,
    readonly targetId: string,
  ) {}

  static async open(cdp: Cdp): Promise<Page> {
    const { browserContextId } = await cdp.send<{ browserContextId: string }>('Target.createBrowserContext');
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(cdp, sessionId, targetId);
    await page.send('Page.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { width: 800, height: 640, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.cdp.send<T>(method, params, this.sessionId);
  }

  /** The value of `expression` in the page (awaited if it is a promise); a page exception throws. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true },
    );
    if (r.exceptionDetails !== undefined) {
      throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value as T;
  }

  async goto(url: string): Promise<void> {
    const r = await this.send<{ errorText?: string }>('Page.navigate', { url });
    if (r.errorText !== undefined) throw new Error(`navigating to ${url}: ${r.errorText}`);
    await until(
      () => this.evaluate<boolean>(`document.readyState === 'complete' && location.href === ${JSON.stringify(url)} && !!document.querySelector('#join-form')`),
      `${url} to load`,
    );
  }

  /** The lines of the message list, as the user reads them. */
  lines(): Promise<string[]> {
    return this.evaluate<string[]>(`[...document.querySelectorAll('#messages li')].map((li) => li.className + ': ' + li.textContent)`);
  }

  async waitForLine(line: string, what: string): Promise<void> {
    await until(async () => (await this.lines()).includes(line), what);
  }
}

// ------------------------------------------------------------------ the chat server (built package)

interface ChatServer {
  port: number;
  stop(): Promise<void>;
}

async function startChat(): Promise<ChatServer> {
  const core = (await import(dist('index.js'))) as typeof CoreModule;
  const ch = (await import(dist('channels/index.js'))) as typeof ChannelsModule;
  const app = ((await import(pathToFileURL(join(root, 'examples', 'chat', 'app.js')).href)) as { default: ASGIApplication }).default;
  const reactor = new core.NodeReactor();
  const running = reactor.run();
  const layer = new ch.InMemoryChannelLayer({ reactor });
  let server: ChannelsModule.SpindleServer;
  try {
    server = await within(
      ch.serve(app, { reactor, channelLayer: layer, endpoints: ['tcp:0:interface=127.0.0.1'], lifespan: 'off' }),
      'the chat server to listen',
    );
  } catch (e) {
    reactor.stop();
    await within(running, 'the server reactor to stop');
    throw e;
  }
  return {
    port: (server.addresses[0] as { port: number }).port,
    async stop() {
      await within(server.stop(), 'the chat server to stop', 15_000);
      await layer.close();
      reactor.stop();
      await within(running, 'the server reactor to stop');
    },
  };
}

function postMessage(port: number, room: string, content: unknown): Promise<number> {
  return within(
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: `/rooms/${room}/messages`, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(content));
    }),
    'POST /rooms/…/messages',
  );
}

// ------------------------------------------------------------------ the test

describe.skipIf(SKIP)('the chat example in headless Chromium, over the DevTools protocol', () => {
  it('two pages join a room; a message from one shows in both; HTTP posts and leaves show too', { timeout: 90_000 }, async () => {
    if (REASON !== null) throw new Error(`cannot run under CI: ${REASON}`);
    // The built package logs through its own logger: keep its output off stderr, and fail on
    // any error it logs (test/setup.ts does the same for src/).
    const logger = (await import(dist('logger/index.js'))) as typeof LoggerModule;
    const distTesting = (await import(dist('testing/index.js'))) as typeof TestingModule;
    if (process.env.SPINDLE_TEST_LOG !== '1') logger.beginLoggingTo([]);
    distTesting.beginErrorTracking();

    const reactor = new NodeReactor();
    const reactorStopped = reactor.run();
    let leftBehind: string[] = [];
    let chat: ChatServer | null = null;
    let browser: Browser | null = null;
    let cdp: Cdp | null = null;
    try {
      chat = await startChat();
      browser = await launchChromium();
      expect(browser.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/devtools\/browser\//);
      // Spindle's client; Chromium's DevTools server takes no extension, so offer none.
      const ws = await within(connectWebSocket(reactor, browser.url, { perMessageDeflate: false, maxMessageSize: 64 * 1024 * 1024 }), 'the DevTools WebSocket');
      cdp = new Cdp(ws);
      const version = await cdp.send<{ product: string }>('Browser.getVersion');
      expect(version.product).toMatch(/Chrome/);

      const room = 'e2e';
      const url = `http://127.0.0.1:${chat.port}/?room=${room}`;
      const [ada, bob] = [await Page.open(cdp), await Page.open(cdp)];
      await Promise.all([ada.goto(url), bob.goto(url)]);

      const join = (page: Page, name: string): Promise<boolean> =>
        page.evaluate<boolean>(`(() => {
          document.querySelector('#name').value = ${JSON.stringify(name)};
          document.querySelector('#join-form').requestSubmit();
          return true;
        })()`);
      const inRoom = (page: Page, name: string) => () =>
        page.evaluate<boolean>(`!document.querySelector('#chat').hidden && document.querySelector('#user-name').textContent === ${JSON.stringify(name)}`);

      await join(ada, 'Ada');
      await until(inRoom(ada, 'Ada'), 'Ada to be in the room');
      expect(await ada.evaluate<string>(`document.querySelector('#room-name').textContent`)).toBe(room);
      await join(bob, 'Bob');
      await until(inRoom(bob, 'Bob'), 'Bob to be in the room');
      await ada.waitForLine('notice: Bob joined', 'Ada to see Bob join');

      // Page 1 types a message and sends it with the form.
      await ada.evaluate(`(() => {
        document.querySelector('#text').value = 'Hello from Ada <b>not bold</b>';
        document.querySelector('#send-form').requestSubmit();
        return true;
      })()`);
      const hello = 'message: Ada:Hello from Ada <b>not bold</b>';
      await Promise.all([ada.waitForLine(hello, 'page 1 to show the message'), bob.waitForLine(hello, 'page 2 to show the message')]);
      // Shown as text, not HTML.
      expect(await bob.evaluate<number>(`document.querySelectorAll('#messages b').length`)).toBe(0);
      expect(await ada.evaluate<string>(`document.querySelector('#text').value`)).toBe('');

      // The HTTP endpoint posts into the same room, from outside the browser.
      expect(await postMessage(chat.port, room, { user: 'deploy-bot', text: 'build 42 is green' })).toBe(202);
      const posted = 'message: deploy-bot:build 42 is green';
      await Promise.all([ada.waitForLine(posted, 'page 1 to show the posted message'), bob.waitForLine(posted, 'page 2 to show the posted message')]);

      // Bob closes his tab: Ada sees him leave.
      await cdp.send('Target.closeTarget', { targetId: bob.targetId });
      await ada.waitForLine('notice: Bob left', 'Ada to see Bob leave');

      expect(await ada.lines()).toEqual(['notice: Ada joined', 'notice: Bob joined', hello, posted, 'notice: Bob left']);

      const shot = await ada.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
      const png = Buffer.from(shot.data, 'base64');
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      writeFileSync(SCREENSHOT, png);
    } finally {
      if (browser !== null) await closeChromium(browser, cdp);
      cdp?.close();
      if (chat !== null) await chat.stop();
      if (reactor.running) reactor.stop();
      await within(reactorStopped, 'the reactor to stop');
      leftBehind = distTesting.endErrorTracking().map((f) => f.getTraceback());
    }
    expect(leftBehind).toEqual([]);
  });
});

/**
 * serve() on real sockets (127.0.0.1, port 0) with the Node reactor: each ASGI server rule with
 * its own test, against Node's `http` client, raw sockets (to see exactly what is on the wire:
 * a reset, no response at all, the 101's fields) and Spindle's WebSocket client. Every wait is
 * bounded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { connectWebSocket, type WebSocket } from '../../src/websocket/index.js';
import { ApplicationCloseTimeoutError, ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { serve, type ServeOptions, type SpindleServer } from '../../src/channels/server/serve.js';
import { path, urlRouter } from '../../src/channels/routing/urlRouter.js';
import { protocolTypeRouter } from '../../src/channels/routing/protocolTypeRouter.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';
import { within, until, hasOpenSSL } from './helpers.js';

// ------------------------------------------------------------------ helpers

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

let reactor: NodeReactor;
let stopped: PromiseLike<void>;
let servers: SpindleServer[];
const sockets: net.Socket[] = [];

beforeEach(() => {
  reactor = new NodeReactor();
  stopped = reactor.run();
  servers = [];
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers) await within(s.stop(), 'the server to stop', 15_000);
  if (reactor.running) reactor.stop();
  await within(stopped, 'the reactor to stop');
});

async function start(app: ASGIApplication, options: ServeOptions = {}): Promise<{ server: SpindleServer; port: number }> {
  const server = await within(
    serve(app, { lifespan: 'off', ...options, reactor, endpoints: ['tcp:0:interface=127.0.0.1'] }),
    'the server to listen',
  );
  servers.push(server);
  return { server, port: (server.addresses[0] as { port: number }).port };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, target: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Reply> {
  return within(
    new Promise<Reply>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: target, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(options.body);
    }),
    `${options.method ?? 'GET'} ${target}`,
  );
}

/** Send `bytes` on a raw connection; everything received until the server closes it, and how. */
function raw(port: number, bytes: string | Buffer, keepOpen = false): Promise<{ data: string; reset: boolean; closed: boolean }> {
  return within(
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      const chunks: Buffer[] = [];
      let reset = false;
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        if (keepOpen) resolve({ data: Buffer.concat(chunks).toString('latin1'), reset, closed: false });
      });
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNRESET') reset = true;
      });
      s.on('close', () => resolve({ data: Buffer.concat(chunks).toString('latin1'), reset, closed: true }));
      s.write(bytes);
    }),
    'a raw exchange',
  );
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
function upgradeRequest(target = '/ws/', extra = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

function ws(port: number, target = '/ws/', protocols: string[] = []): Promise<WebSocket> {
  return within(connectWebSocket(reactor, `ws://127.0.0.1:${port}${target}`, { protocols, perMessageDeflate: false }), 'the WebSocket to open');
}

/** An HTTP application sending `events` after reading the request; send errors recorded. */
function sender(events: ASGIEvent[], errors: unknown[], after?: () => never): ASGIApplication {
  return async (_scope, receive, send) => {
    await receive();
    for (const ev of events) {
      try {
        await send(ev);
      } catch (e) {
        errors.push(e);
        return;
      }
    }
    after?.();
  };
}

// ------------------------------------------------------------------ HTTP

describe('channels server over TCP: HTTP', () => {
  it('serves an ASGI application to Node’s http client, with the ASGI scope', async () => {
    const scopes: Scope[] = [];
    const app: ASGIApplication = async (scope, receive, send) => {
      scopes.push(scope);
      const ev = await receive();
      await send({ type: 'http.response.start', status: 200, headers: [['content-type', 'text/plain'], ['x-seen', String((ev.body as Uint8Array).length)]] });
      await send({ type: 'http.response.body', body: enc(`hello ${String(scope.path)}`) });
    };
    const { port } = await start(app);
    const r = await get(port, '/caf%C3%A9/?q=1', { method: 'POST', body: 'abc' });
    expect(r).toMatchObject({ status: 200, body: 'hello /café/' });
    expect(r.headers['x-seen']).toBe('3');
    expect(r.headers['content-length']).toBe(String('hello /café/'.length + 1));
    expect(scopes[0]).toMatchObject({ type: 'http', method: 'POST', query_string: 'q=1', raw_path: '/caf%C3%A9/', scheme: 'http', server: ['127.0.0.1', port] });
    expect(scopes[0]!.client![0]).toBe('127.0.0.1');
  });

  it.each([
    ['a second http.response.start', [{ type: 'http.response.start', status: 200 }, { type: 'http.response.start', status: 200 }]],
    ['a body before the start', [{ type: 'http.response.body', body: enc('x') }]],
    ['a Uint8Array header', [{ type: 'http.response.start', status: 200, headers: [[enc('a'), enc('b')]] }]],
  ])('%s: an error from send, and the connection is dropped without a response', async (_name, events) => {
    const errors: unknown[] = [];
    const { port } = await start(sender(events as ASGIEvent[], errors));
    const r = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.closed).toBe(true);
    expect(r.data).toBe('');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ASGIProtocolError);
  });

  it('an application raising before the response start: 500', async () => {
    const { port } = await start(async (_s, receive) => {
      await receive();
      throw new RangeError('before');
    });
    const r = await get(port, '/');
    expect(r.status).toBe(500);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('an application raising after the response start: the connection is aborted', async () => {
    const { port } = await start(async (_s, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('partial'), more_body: true });
      throw new RangeError('after');
    });
    const r = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.closed).toBe(true);
    expect(r.data).toContain('partial');
    expect(r.data).not.toMatch(/\r\n0\r\n\r\n$/); // never a complete chunked body
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('an application returning without responding: 500 at once', async () => {
    const { port } = await start(async (_s, receive) => {
      await receive();
    });
    const t0 = Date.now();
    const r = await get(port, '/');
    expect(r.status).toBe(500);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('receive() after the response gives http.disconnect', async () => {
    const got = new Deferred<string[]>();
    const { port } = await start(async (_s, receive, send) => {
      const first = await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('done') });
      got.callback([first.type, (await receive()).type]);
    });
    expect((await get(port, '/')).body).toBe('done');
    expect(await within(got, 'the application')).toEqual(['http.request', 'http.disconnect']);
  });

  it('receive() after the client is gone gives http.disconnect (a long poll ends)', async () => {
    const got = new Deferred<string>();
    const { port } = await start(async (_s, receive) => {
      await receive();
      got.callback((await receive()).type);
    });
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    s.write('GET /poll HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    expect(await within(got, 'the disconnect')).toBe('http.disconnect');
  });

  it('streams a large upload to the application in chunks, with backpressure', async () => {
    const sizes: number[] = [];
    const { port } = await start(
      async (_s, receive, send) => {
        for (;;) {
          const ev = await receive();
          sizes.push((ev.body as Uint8Array).length);
          // A slow consumer: the client must be held back, not the whole body buffered.
          await new Promise((r) => setTimeout(r, 1));
          if (ev.more_body !== true) break;
        }
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: enc(String(sizes.reduce((a, b) => a + b, 0))) });
      },
      { maxBodySize: 64 * 1024 * 1024 },
    );
    const total = 8 * 1024 * 1024;
    const r = await within(get(port, '/upload', { method: 'PUT', body: Buffer.alloc(total, 7) }), 'the upload', 20_000);
    expect(r.body).toBe(String(total));
    expect(sizes.length).toBeGreaterThan(16);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('kills an application that outlives its connection after the application-close timeout, logging it once', async () => {
    const started = new Deferred<void>();
    const { port, server } = await start(
      async (_s, receive) => {
        await receive();
        started.callback(undefined);
        await new Promise(() => undefined); // ignores everything
      },
      { applicationCloseTimeout: 0.2 },
    );
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(started, 'the application');
    s.destroy();
    await until(() => server.instanceCount === 0, 'the instance to be killed');
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });

  it('root_path: the path includes it and urlRouter routes under it', async () => {
    const app = urlRouter([
      path('chat/', async (scope, receive, send) => {
        await receive();
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: enc(`${String(scope.root_path)} ${String(scope.path)}`) });
      }),
    ]);
    const { port } = await start(app, { rootPath: '/app' });
    expect((await get(port, '/chat/')).body).toBe('/app /app/chat/');
    expect((await get(port, '/app/chat/')).body).toBe('/app /app/chat/');
    expect((await get(port, '/other/')).status).toBe(404);
  });

  it.each([
    ['trusted', ['127.0.0.1'], ['203.0.113.9', 0], 'https'],
    ['not trusted', ['10.0.0.1'], ['127.0.0.1', -1], 'http'],
  ])('proxy headers from a %s peer', async (_name, trusted, client, scheme) => {
    const scopes: Scope[] = [];
    const { port } = await start(
      async (scope, receive, send) => {
        scopes.push(scope);
        await receive();
        await send({ type: 'http.response.start', status: 204 });
        await send({ type: 'http.response.body' });
      },
      { proxyHeaders: { trusted } },
    );
    await get(port, '/', { headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' } });
    expect(scopes[0]!.client![0]).toBe(client[0]);
    if (client[1] !== -1) expect(scopes[0]!.client![1]).toBe(client[1]);
    expect(scopes[0]!.scheme).toBe(scheme);
  });

  it('one crashing instance does not affect the others', async () => {
    const { port } = await start(async (scope, receive, send) => {
      await receive();
      if (scope.path === '/twice') {
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.start', status: 200 });
      }
      if (scope.path === '/crash') throw new RangeError('crash');
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('still fine') });
    });
    const results = await Promise.allSettled([raw(port, 'GET /twice HTTP/1.1\r\nHost: x\r\n\r\n'), get(port, '/crash'), get(port, '/ok')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseFulfilledResult<Reply>).value.status).toBe(500);
    expect((await get(port, '/crash')).status).toBe(500);
    expect((await get(port, '/ok')).body).toBe('still fine');
    expect(flushLoggedErrors(RangeError)).toHaveLength(2);
    expect(flushLoggedErrors(ASGIProtocolError)).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ lifespan

describe('channels server over TCP: lifespan', () => {
  it('startup before listening, state copied into scopes, shutdown on stop()', async () => {
    const events: string[] = [];
    const app = protocolTypeRouter({
      lifespan: async (scope, receive, send) => {
        for (;;) {
          const ev = await receive();
          events.push(ev.type);
          if (ev.type === 'lifespan.startup') {
            scope.state!.greeting = 'from startup';
            await send({ type: 'lifespan.startup.complete' });
          } else {
            await send({ type: 'lifespan.shutdown.complete' });
            return;
          }
        }
      },
      http: async (scope, receive, send) => {
        await receive();
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: enc(String(scope.state?.greeting)) });
      },
    });
    const server = await within(serve(app, { reactor, endpoints: ['tcp:0:interface=127.0.0.1'] }), 'serve');
    expect(events).toEqual(['lifespan.startup']);
    const port = (server.addresses[0] as { port: number }).port;
    expect((await get(port, '/')).body).toBe('from startup');
    await within(server.stop(), 'stop');
    expect(events).toEqual(['lifespan.startup', 'lifespan.shutdown']);
  });

  it('an application that refuses lifespan is still served', async () => {
    const app = protocolTypeRouter({
      http: async (_scope, receive, send) => {
        await receive();
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: enc('no lifespan') });
      },
    });
    const server = await within(serve(app, { reactor, endpoints: ['tcp:0:interface=127.0.0.1'] }), 'serve');
    servers.push(server);
    expect(server.lifespanSupported).toBe(false);
    expect((await get(port(server), '/')).body).toBe('no lifespan');
  });
});

function port(server: SpindleServer): number {
  return (server.addresses[0] as { port: number }).port;
}

// ------------------------------------------------------------------ WebSocket

describe('channels server over TCP: WebSocket', () => {
  it('send before accept: an error from send, then 500 when the application dies', async () => {
    const errors: unknown[] = [];
    const { port } = await start(async (_s, receive, send) => {
      await receive();
      try {
        await send({ type: 'websocket.send', text: 'early' });
      } catch (e) {
        errors.push(e);
        throw e;
      }
    });
    const r = await raw(port, upgradeRequest(), true);
    expect(r.data).toMatch(/^HTTP\/1\.1 500 /);
    expect(errors[0]).toBeInstanceOf(ASGIProtocolError);
    expect(flushLoggedErrors(ASGIProtocolError)).toHaveLength(1);
  });

  it('close before accept: 403', async () => {
    const { port } = await start(async (_s, receive, send) => {
      await receive();
      await send({ type: 'websocket.close' });
    });
    const r = await raw(port, upgradeRequest(), true);
    expect(r.data).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
  });

  it('accept headers and subprotocol are in the 101; the close code and reason reach the client', async () => {
    const app: ASGIApplication = async (_s, receive, send) => {
      await receive();
      await send({ type: 'websocket.accept', subprotocol: 'chat', headers: [['x-accept', '1']] });
      const ev = await receive();
      if (ev.type === 'websocket.receive') await send({ type: 'websocket.close', code: 4321, reason: `bye ${String(ev.text)}` });
      await receive();
    };
    const { port } = await start(app);
    const head = await raw(port, upgradeRequest('/ws/', 'Sec-WebSocket-Protocol: superchat, chat\r\n'), true);
    expect(head.data).toMatch(/^HTTP\/1\.1 101 /);
    expect(head.data).toContain('Sec-WebSocket-Protocol: chat\r\n');
    expect(head.data).toContain('x-accept: 1\r\n');
    const sock = await ws(port, '/ws/', ['superchat', 'chat']);
    expect(sock.protocol).toBe('chat');
    await sock.send('now');
    const info = await within(sock.whenClosed(), 'the close');
    expect(info).toEqual({ code: 4321, reason: 'bye now', wasClean: true });
  });

  it('the disconnect event carries the client close code and reason', async () => {
    const got = new Deferred<ASGIEvent>();
    const { port } = await start(async (_s, receive, send) => {
      await receive();
      await send({ type: 'websocket.accept' });
      for (;;) {
        const ev = await receive();
        if (ev.type === 'websocket.disconnect') {
          got.callback(ev);
          return;
        }
        await send({ type: 'websocket.send', text: `echo ${String(ev.text)}` });
      }
    });
    const sock = await ws(port);
    const reply = new Deferred<string>();
    sock.onMessage = (m) => reply.callback(String(m));
    await sock.send('hi');
    expect(await within(reply, 'the echo')).toBe('echo hi');
    sock.close(4000, 'client done');
    expect(await within(got, 'the disconnect')).toEqual({ type: 'websocket.disconnect', code: 4000, reason: 'client done' });
  });

  it('stop() closes open WebSockets with 1001 and waits for an in-flight request to finish', async () => {
    const inFlight = new Deferred<void>();
    const app: ASGIApplication = async (scope, receive, send) => {
      if (scope.type === 'websocket') {
        await receive();
        await send({ type: 'websocket.accept' });
        await receive();
        return;
      }
      await receive();
      inFlight.callback(undefined);
      await new Promise((r) => setTimeout(r, 300));
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('finished') });
    };
    const { port, server } = await start(app);
    const sock = await ws(port);
    const slow = get(port, '/slow');
    await within(inFlight, 'the slow request');
    const stopping = server.stop();
    expect((await within(sock.whenClosed(), 'the WebSocket close')).code).toBe(1001);
    expect((await slow).body).toBe('finished');
    await within(stopping, 'the stop');
    await expect(get(port, '/')).rejects.toThrow(/ECONNREFUSED/);
  });
});

// ------------------------------------------------------------------ TLS

const opensslPresent = hasOpenSSL();
if (!opensslPresent && process.env.CI === 'true') throw new Error('the ssl: endpoint test needs the openssl CLI, which is missing under CI');
if (!opensslPresent) console.warn('SKIPPED the ssl: endpoint test of channels-server.test.ts: the openssl CLI is not installed');

describe('channels server over TCP: an ssl: endpoint', () => {
  it.skipIf(!opensslPresent)('serves HTTPS and WSS with scheme https / wss in the scopes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-serve-tls-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
        { stdio: 'ignore' },
      );
      const schemes: string[] = [];
      const app: ASGIApplication = async (scope, receive, send) => {
        schemes.push(scope.scheme as string);
        await receive();
        if (scope.type === 'websocket') {
          await send({ type: 'websocket.close' });
          return;
        }
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: enc('secure') });
      };
      const server = await within(
        serve(app, { reactor, lifespan: 'off', endpoints: [`ssl:0:privateKey=${join(dir, 'key.pem')}:certKey=${join(dir, 'cert.pem')}:interface=127.0.0.1`] }),
        'the TLS server',
      );
      servers.push(server);
      const tlsPort = port(server);
      const body = await within(
        new Promise<string>((resolve, reject) => {
          https
            .get({ host: '127.0.0.1', port: tlsPort, path: '/', rejectUnauthorized: false, agent: false }, (res) => {
              let text = '';
              res.on('data', (c: Buffer) => (text += c.toString()));
              res.on('end', () => resolve(text));
            })
            .on('error', reject);
        }),
        'the HTTPS request',
      );
      expect(body).toBe('secure');
      await expect(
        within(connectWebSocket(reactor, `wss://127.0.0.1:${tlsPort}/ws`, { tls: { rejectUnauthorized: false } }), 'the refused WSS handshake'),
      ).rejects.toThrow(/403/);
      expect(schemes).toEqual(['https', 'wss']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

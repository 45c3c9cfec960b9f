/**
 * The HTTP client on real sockets (127.0.0.1, port 0) with the Node
 * reactor: against `node:http` servers (keep-alive reuse seen on the server
 * side through `req.socket` identity, chunked uploads, gzip responses,
 * redirects across origins, the stale-connection retry, large bodies with
 * backpressure, timeouts) and against our own server (Router). Every wait
 * is bounded; every server and connection is closed after each test.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TimeoutError } from '../../src/defer/errors.js';
import {
  Agent,
  ContentDecoderAgent,
  HTTPConnectionPool,
  RedirectAgent,
  ResponseNeverReceived,
  Router,
  getJSON,
  readBody,
  type Request,
} from '../../src/http/index.js';
import { ConnectionRefusedError } from '../../src/reactor/errors.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import { withinDefault } from './helpers.js';

const within = withinDefault(10_000);

/** `p`'s rejection reason (bounded). */
async function rejection(p: PromiseLike<unknown>, what: string): Promise<unknown> {
  return within(
    Promise.resolve(p).then(
      () => {
        throw new Error(`${what} succeeded`);
      },
      (e: unknown) => e,
    ),
    what,
  );
}

let reactor: NodeReactor;
let stopped: PromiseLike<void>;
let pool: HTTPConnectionPool;
let agent: Agent;
const servers: http.Server[] = [];

beforeEach(() => {
  reactor = new NodeReactor();
  stopped = reactor.run();
  pool = new HTTPConnectionPool(reactor);
  agent = new Agent(reactor, { pool, connectTimeout: 5 });
});

afterEach(async () => {
  await within(pool.closeCachedConnections(), 'the cached connections to close');
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await within(new Promise<void>((resolve) => s.close(() => resolve())), 'a node:http server to close');
  }
  if (reactor.running) reactor.stop();
  await within(stopped, 'the reactor to stop');
});

/** A node:http server on 127.0.0.1; its base URL. */
async function nodeServer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())), 'node:http to listen');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function text(url: string, a: { request: Agent['request'] } = agent, method = 'GET'): Promise<{ status: number; body: string }> {
  const response = await within(a.request(method, url), `${method} ${url}`);
  const body = await within(readBody(response), `the body of ${url}`);
  return { status: response.status, body: body.toString() };
}

describe('against node:http', () => {
  it('reuses one keep-alive connection for sequential requests (the same req.socket on the server)', async () => {
    const sockets: Socket[] = [];
    const base = await nodeServer((req, res) => {
      sockets.push(req.socket);
      res.end(`you asked for ${req.url}`);
    });
    for (let i = 0; i < 3; i++) expect((await text(`${base}/${i}`)).body).toBe(`you asked for /${i}`);
    expect(sockets).toHaveLength(3);
    expect(new Set(sockets).size).toBe(1);
    expect(pool.idleCount()).toBe(1);
  });

  it('without a persistent pool, each request gets its own connection (Connection: close)', async () => {
    const seen: { socket: Socket; connection: string | undefined }[] = [];
    const base = await nodeServer((req, res) => {
      seen.push({ socket: req.socket, connection: req.headers.connection });
      res.end('ok');
    });
    const plain = new Agent(reactor);
    await text(`${base}/a`, plain);
    await text(`${base}/b`, plain);
    expect(seen.map((s) => s.connection)).toEqual(['close', 'close']);
    expect(seen[0]!.socket).not.toBe(seen[1]!.socket);
  });

  it('concurrent requests open several connections; the idle ones are capped per host', async () => {
    const small = new HTTPConnectionPool(reactor, { maxPersistentPerHost: 2 });
    const a = new Agent(reactor, { pool: small });
    const sockets = new Set<Socket>();
    const base = await nodeServer((req, res) => {
      sockets.add(req.socket);
      setTimeout(() => res.end('slow'), 20);
    });
    const bodies = await Promise.all([0, 1, 2, 3].map(async (i) => (await text(`${base}/${i}`, a)).body));
    expect(bodies).toEqual(['slow', 'slow', 'slow', 'slow']);
    expect(sockets.size).toBe(4);
    expect(small.idleCount()).toBe(2);
    await within(small.closeCachedConnections(), 'closing');
  });

  it('sends a streamed body chunked and a bytes body with a Content-Length', async () => {
    const got: { te: string | undefined; cl: string | undefined; body: string }[] = [];
    const base = await nodeServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: Buffer.concat(chunks).toString() });
        res.end('stored');
      });
    });
    async function* parts() {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 2));
        yield `part${i};`;
      }
    }
    let r = await within(agent.request('PUT', `${base}/up`, { 'Content-Type': 'text/plain' }, parts()), 'the upload');
    await within(readBody(r), 'the answer');
    r = await within(agent.request('POST', `${base}/up`, null, Buffer.from('all at once')), 'the post');
    await within(readBody(r), 'the answer');
    expect(got).toEqual([
      { te: 'chunked', cl: undefined, body: 'part0;part1;part2;part3;part4;' },
      { te: undefined, cl: '11', body: 'all at once' },
    ]);
  });

  it('uploads and downloads 8 MiB intact, with backpressure both ways', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const digest = createHash('sha256').update(payload).digest('hex');
    const base = await nodeServer((req, res) => {
      const h = createHash('sha256');
      req.on('data', (c: Buffer) => h.update(c));
      req.on('end', () => {
        res.setHeader('X-Upload-Digest', h.digest('hex'));
        res.end(payload);
      });
    });
    async function* upload() {
      for (let i = 0; i < payload.length; i += 256 * 1024) yield payload.subarray(i, i + 256 * 1024);
    }
    const response = await within(agent.request('POST', `${base}/echo`, null, upload()), 'the response head', 20_000);
    expect(response.headers.get('x-upload-digest')).toBe(digest);
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of response) {
      h.update(chunk);
      // A slow consumer: pause now and then.
      if (++n % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(h.digest('hex')).toBe(digest);
  });

  it('decodes gzip and deflate responses (ContentDecoderAgent), small and streamed', async () => {
    const big = Buffer.from('spindle '.repeat(200_000));
    const base = await nodeServer((req, res) => {
      const accepts = req.headers['accept-encoding'] ?? '';
      if (req.url === '/small') {
        res.setHeader('Content-Encoding', 'gzip');
        res.end(zlib.gzipSync(Buffer.from(`small, accepted: ${accepts}`)));
      } else if (req.url === '/deflate') {
        res.setHeader('Content-Encoding', 'deflate');
        res.end(zlib.deflateSync(Buffer.from('deflated')));
      } else {
        res.setHeader('Content-Encoding', 'gzip');
        const gz = zlib.createGzip();
        gz.pipe(res);
        gz.end(big);
      }
    });
    const decoding = new ContentDecoderAgent(agent);
    expect((await text(`${base}/small`, decoding)).body).toBe('small, accepted: gzip, deflate');
    expect((await text(`${base}/deflate`, decoding)).body).toBe('deflated');
    const response = await within(decoding.request('GET', `${base}/big`), 'the big response');
    expect(response.headers.get('content-encoding')).toBeUndefined();
    expect((await within(readBody(response), 'the big body')).equals(big)).toBe(true);
  });

  it('follows redirects; credentials go to the same origin only', async () => {
    const seenB: http.IncomingHttpHeaders[] = [];
    const seenA: { url: string | undefined; headers: http.IncomingHttpHeaders; body: string }[] = [];
    const b = await nodeServer((req, res) => {
      seenB.push(req.headers);
      res.end('on B');
    });
    const a = await nodeServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seenA.push({ url: req.url, headers: req.headers, body });
        if (req.url === '/to-b') res.writeHead(302, { Location: `${b}/landing` }).end('bye');
        else if (req.url === '/same') res.writeHead(301, { Location: '/target' }).end();
        else if (req.url === '/keep-post') res.writeHead(307, { Location: '/target' }).end();
        else if (req.url === '/see-other') res.writeHead(303, { Location: '/target' }).end();
        else res.end(`target got ${req.method} ${body}`);
      });
    });
    const redirecting = new RedirectAgent(agent);
    const secrets = { Authorization: 'Bearer s3cret', Cookie: 'sid=1', 'X-Other': 'fine' };

    let r = await within(redirecting.request('GET', `${a}/to-b`, secrets), 'the cross-origin redirect');
    expect((await within(readBody(r), 'body')).toString()).toBe('on B');
    expect(r.previousResponse!.status).toBe(302);
    expect(seenB[0]!.authorization).toBeUndefined();
    expect(seenB[0]!.cookie).toBeUndefined();
    expect(seenB[0]!['x-other']).toBe('fine');

    r = await within(redirecting.request('GET', `${a}/same`, secrets), 'the same-origin redirect');
    await within(readBody(r), 'body');
    const target = seenA.find((s) => s.url === '/target')!;
    expect(target.headers.authorization).toBe('Bearer s3cret');
    expect(target.headers.cookie).toBe('sid=1');

    r = await within(redirecting.request('POST', `${a}/keep-post`, null, 'payload'), '307');
    expect((await within(readBody(r), 'body')).toString()).toBe('target got POST payload');
    r = await within(redirecting.request('POST', `${a}/see-other`, null, 'payload'), '303');
    expect((await within(readBody(r), 'body')).toString()).toBe('target got GET ');
  });

  it('retries an idempotent request once when the cached connection turns out closed', async () => {
    const served = new Map<Socket, number>();
    const sockets = new Set<Socket>();
    const base = await nodeServer((req, res) => {
      sockets.add(req.socket);
      const n = served.get(req.socket) ?? 0;
      served.set(req.socket, n + 1);
      // A server that drops keep-alive connections as the next request comes in.
      if (n > 0) {
        req.socket.destroy();
        return;
      }
      res.end(`fresh ${req.method}`);
    });
    expect((await text(`${base}/first`)).body).toBe('fresh GET');
    expect(pool.idleCount()).toBe(1);
    expect((await text(`${base}/second`)).body).toBe('fresh GET');
    expect(sockets.size).toBe(2);
    // POST is not retried.
    const failure = await rejection(agent.request('POST', `${base}/third`, null, 'x'), 'the POST');
    expect(failure).toBeInstanceOf(ResponseNeverReceived);
  });

  it('fails with TimeoutError when the head does not come in time (requestTimeout)', async () => {
    const base = await nodeServer(() => {
      // never answers
    });
    const impatient = new Agent(reactor, { pool, requestTimeout: 0.2 });
    const failure = await rejection(impatient.request('GET', `${base}/`), 'the request');
    expect(failure).toBeInstanceOf(TimeoutError);
  });

  it('fails with ConnectionRefusedError when nobody listens', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const failure = await rejection(agent.request('GET', `http://127.0.0.1:${port}/`), 'the request');
    expect(failure).toBeInstanceOf(ConnectionRefusedError);
  });

  it('getJSON with the default agent of a reactor', async () => {
    const base = await nodeServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ accept: req.headers.accept, path: req.url }));
    });
    expect(await within(getJSON(`${base}/data`, { reactor }), 'getJSON')).toEqual({ accept: 'application/json', path: '/data' });
  });
});

describe('against our own server (Router)', () => {
  it('GET, POST with a body, JSON, 404, HEAD, over one keep-alive connection', async () => {
    const router = new Router();
    router.get('/hello/<name>', (request: Request) => `hello ${String(request.params.name)}`);
    router.post('/echo', (request: Request) => request.content().addCallback((body) => body));
    router.get('/json', () => ({ ok: true, n: 3 }));
    const site = router.site({ reactor });
    let connections = 0;
    const build = site.buildProtocol.bind(site);
    site.buildProtocol = (addr) => {
      connections++;
      return build(addr);
    };
    const port = reactor.listenTCP(0, site, { interface: '127.0.0.1' });
    await within(port.ready, 'our server to listen');
    const base = `http://127.0.0.1:${(port.getHost() as { port: number }).port}`;

    expect(await text(`${base}/hello/spindle`)).toEqual({ status: 200, body: 'hello spindle' });
    const echoed = await within(agent.request('POST', `${base}/echo`, null, 'round trip'), 'POST');
    expect((await within(readBody(echoed), 'echo')).toString()).toBe('round trip');
    async function* chunks() {
      yield 'chunked ';
      yield 'upload';
    }
    const streamed = await within(agent.request('POST', `${base}/echo`, null, chunks()), 'chunked POST');
    expect((await within(readBody(streamed), 'echo')).toString()).toBe('chunked upload');
    const json = await within(agent.request('GET', `${base}/json`), 'json');
    expect(json.headers.get('content-type')).toMatch(/application\/json/);
    expect(await within(json.json(), 'json body')).toEqual({ ok: true, n: 3 });
    expect((await text(`${base}/nowhere`)).status).toBe(404);
    const head = await within(agent.request('HEAD', `${base}/hello/x`), 'HEAD');
    expect(head.status).toBe(200);
    expect((await within(readBody(head), 'HEAD body')).length).toBe(0);
    expect(connections).toBe(1);
    await within(port.stopListening(), 'our server to stop');
  });
});

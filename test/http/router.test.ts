/**
 * The Router: converters, order, 404 / 405 with Allow, HEAD via GET,
 * the trailing-slash rule, JSON and Promise/Deferred results, error hooks,
 * mounting in a resource tree, and handlers tested with no I/O.
 */
import { describe, expect, it } from 'vitest';
import { Deferred, succeed } from '../../src/defer/deferred.js';
import {
  HttpError,
  NOT_DONE_YET,
  Resource,
  Router,
  compilePattern,
  createTestRequest,
  render,
  type Request,
} from '../../src/http/index.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { get, parseResponses, wire } from './channel-helpers.js';

const params = (r: Request) => r.params;

describe('converters', () => {
  const cases: { pattern: string; path: string; params: Record<string, string | number> | null }[] = [
    { pattern: '/users/<name>', path: '/users/ada', params: { name: 'ada' } },
    { pattern: '/users/<string:name>', path: '/users/a%20b', params: { name: 'a b' } },
    { pattern: '/users/<name>', path: '/users/ada/x', params: null },
    { pattern: '/users/<name>', path: '/users/', params: null },
    { pattern: '/items/<int:id>', path: '/items/42', params: { id: 42 } },
    { pattern: '/items/<int:id>', path: '/items/007', params: { id: 7 } },
    { pattern: '/items/<int:id>', path: '/items/-1', params: null },
    { pattern: '/items/<int:id>', path: '/items/4.2', params: null },
    { pattern: '/items/<int:id>', path: '/items/99999999999999999999', params: null },
    { pattern: '/at/<float:x>', path: '/at/3.25', params: { x: 3.25 } },
    { pattern: '/at/<float:x>', path: '/at/3', params: { x: 3 } },
    { pattern: '/at/<float:x>', path: '/at/3.', params: null },
    { pattern: '/files/<path:rest>', path: '/files/a/b/c.txt', params: { rest: 'a/b/c.txt' } },
    { pattern: '/files/<path:rest>/edit', path: '/files/a/b/edit', params: { rest: 'a/b' } },
    { pattern: '/files/<path:rest>', path: '/files/', params: null },
    { pattern: '/o/<uuid:u>', path: '/o/123E4567-E89B-12D3-A456-426614174000', params: { u: '123e4567-e89b-12d3-a456-426614174000' } },
    { pattern: '/o/<uuid:u>', path: '/o/123e4567', params: null },
    { pattern: '/a.b/<x>', path: '/a.b/1', params: { x: '1' } },
    { pattern: '/a.b/<x>', path: '/aXb/1', params: null },
    { pattern: '/<a>-<int:b>', path: '/x-1', params: { a: 'x', b: 1 } },
  ];
  for (const c of cases) {
    it(`${c.pattern} on ${c.path}`, async () => {
      const router = new Router().route(c.pattern, params);
      const res = await render(router, createTestRequest({ path: c.path }));
      if (c.params === null) expect(res.status).toBe(404);
      else {
        expect(res.status).toBe(200);
        expect(res.json()).toEqual(c.params);
      }
    });
  }

  const bad = ['users', '/<bogus:x>', '/<a>/<a>', '/<a', '/a>', '/<1a>'];
  for (const pattern of bad) {
    it(`refuses the pattern ${JSON.stringify(pattern)}`, () => {
      expect(() => compilePattern(pattern)).toThrow(TypeError);
    });
  }
});

describe('matching', () => {
  function router(): Router {
    return new Router()
      .route('/things', () => 'list', { methods: ['GET'] })
      .route('/things', () => 'created', { methods: ['POST'] })
      .route('/things/<int:id>', (r) => `thing ${r.params.id}`, { methods: ['GET', 'DELETE'] })
      .route('/things/new', () => 'never: the route above wins first for ints only, this is a string')
      .route('/first/<x>', () => 'first')
      .route('/first/<x>', () => 'second')
      .route('/dir/', () => 'directory')
      .route('/any', (r) => `any ${r.method}`);
  }
  const cases: [string, string, number, string | null, string | null][] = [
    ['GET', '/things', 200, 'list', null],
    ['POST', '/things', 200, 'created', null],
    ['HEAD', '/things', 200, '', null],
    ['PUT', '/things', 405, null, 'GET, HEAD, POST'],
    ['GET', '/things/3', 200, 'thing 3', null],
    ['DELETE', '/things/3', 200, 'thing 3', null],
    ['PATCH', '/things/3', 405, null, 'DELETE, GET, HEAD'],
    ['GET', '/things/new', 200, 'never: the route above wins first for ints only, this is a string', null],
    ['GET', '/first/z', 200, 'first', null],
    ['GET', '/any', 200, 'any GET', null],
    ['OPTIONS', '/any', 200, 'any OPTIONS', null],
    ['GET', '/missing', 404, null, null],
    ['GET', '/dir/', 200, 'directory', null],
    ['GET', '/things/', 404, null, null],
  ];
  for (const [method, path, status, body, allow] of cases) {
    it(`${method} ${path} → ${status}`, async () => {
      const res = await render(router(), createTestRequest({ method, path }));
      expect(res.status).toBe(status);
      if (body !== null) expect(res.text).toBe(body);
      expect(res.headers.get('allow')).toBe(allow ?? undefined);
    });
  }

  it('a route ending in / redirects the path without it (308, query kept)', async () => {
    const res = await render(router(), createTestRequest({ path: '/dir?x=1' }));
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('/dir/?x=1');
  });

  it('match() explains the decision', () => {
    const r = router();
    expect(r.match('GET', '/things/5')).toMatchObject({ kind: 'found', params: { id: 5 } });
    expect(r.match('PUT', '/things')).toEqual({ kind: 'method-not-allowed', allowed: ['GET', 'HEAD', 'POST'] });
    expect(r.match('GET', '/dir')).toEqual({ kind: 'redirect', location: '/dir/' });
    expect(r.match('GET', '/zzz')).toEqual({ kind: 'not-found' });
    expect(r.routes).toHaveLength(8);
  });
});

describe('results', () => {
  it('an object is JSON with application/json', async () => {
    const router = new Router().get('/u/<int:id>', (r) => ({ id: r.params.id, tags: ['a'] }));
    const res = await render(router, createTestRequest({ path: '/u/7' }));
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.json()).toEqual({ id: 7, tags: ['a'] });
  });

  it('promises, Deferreds, bytes, and a handler writing itself', async () => {
    const router = new Router()
      .get('/p', async () => 'promised')
      .get('/d', () => succeed({ deferred: true }))
      .get('/b', () => new Uint8Array([111, 107]))
      .get('/w', (r) => {
        r.setHeader('Content-Type', 'text/plain');
        r.write('by ');
        r.write('hand');
      })
      .get('/later', (r) => {
        setTimeout(() => r.finish('later'), 1);
        return NOT_DONE_YET;
      });
    const texts = [];
    for (const path of ['/p', '/d', '/b', '/w', '/later']) texts.push((await render(router, createTestRequest({ path }))).text);
    expect(texts).toEqual(['promised', '{"deferred":true}', 'ok', 'by hand', 'later']);
  });

  it('a POST handler reading JSON', async () => {
    const router = new Router().post('/users', async (r) => {
      const user = JSON.parse((await r.content()).toString()) as { name: string };
      r.setResponseCode(201);
      return { created: user.name };
    });
    const res = await render(
      router,
      createTestRequest({ method: 'POST', path: '/users', body: '{"name":"ada"}', headers: { 'Content-Type': 'application/json' } }),
    );
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ created: 'ada' });
  });
});

describe('errors and hooks', () => {
  it('default pages: 404, 405, a thrown HttpError, a logged 500', async () => {
    const router = new Router()
      .get('/teapot', () => {
        throw new HttpError(418);
      })
      .get('/boom', () => {
        throw new Error('boom');
      })
      .get('/async-boom', async () => {
        throw new Error('async boom');
      })
      .get('/deferred-boom', () => {
        const d = new Deferred<string>();
        setTimeout(() => d.errback(new Error('deferred boom')), 1);
        return d;
      });
    const statuses = [];
    for (const path of ['/nope', '/teapot', '/boom', '/async-boom', '/deferred-boom']) {
      statuses.push((await render(router, createTestRequest({ path }))).status);
    }
    statuses.push((await render(router, createTestRequest({ method: 'POST', path: '/teapot' }))).status);
    expect(statuses).toEqual([404, 418, 500, 500, 500, 405]);
    expect(flushLoggedErrors(Error).map((f) => f.value.message)).toEqual(['boom', 'async boom', 'deferred boom']);
  });

  it('a per-status hook renders the error, with the status and fields set', async () => {
    const router = new Router()
      .get('/only-get', () => 'x')
      .onError(404, (r, e) => ({ error: e.message, path: r.path }))
      .onError(405, (r) => `allowed: ${r.getResponseHeader('allow')}`);
    const nf = await render(router, createTestRequest({ path: '/zzz' }));
    expect(nf.status).toBe(404);
    expect(nf.json()).toEqual({ error: 'Not Found', path: '/zzz' });
    const na = await render(router, createTestRequest({ method: 'PUT', path: '/only-get' }));
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('GET, HEAD');
    expect(na.text).toBe('allowed: GET, HEAD');
  });

  it('a catch-all hook sees 500s with the original error as the cause, logged once', async () => {
    const seen: unknown[] = [];
    const router = new Router()
      .get('/boom', () => {
        throw new RangeError('inner');
      })
      .onError((r, e) => {
        seen.push(e.cause);
        return { status: e.status };
      });
    const res = await render(router, createTestRequest({ path: '/boom' }));
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ status: 500 });
    expect(seen[0]).toBeInstanceOf(RangeError);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('a hook that throws falls back to the default page, and is logged', async () => {
    const router = new Router().onError(404, () => {
      throw new Error('hook broke');
    });
    const res = await render(router, createTestRequest({ path: '/x' }));
    expect(res.status).toBe(404);
    expect(res.text).toContain('Not Found');
    expect(flushLoggedErrors(Error).map((f) => f.value.message)).toEqual(['hook broke']);
  });

  it('a handler failing after it started writing aborts the response', async () => {
    const router = new Router().get('/half', async (r) => {
      r.write('half');
      await Promise.resolve();
      throw new Error('then failed');
    });
    const request = createTestRequest({ path: '/half' });
    await expect(render(router, request)).rejects.toThrow(/aborted/);
    expect((request.transport as StringTransport).disconnected).toBe(true);
    expect(flushLoggedErrors(Error)).toHaveLength(1);
  });

  it('refuses a non-function handler or hook', () => {
    expect(() => new Router().route('/', 'nope' as unknown as () => string)).toThrow(TypeError);
    expect(() => new Router().onError(404, undefined as unknown as () => string)).toThrow(TypeError);
  });
});

describe('serving', () => {
  it('router.site() serves over a channel, pipelined', () => {
    const router = new Router().get('/n/<int:n>', (r) => ({ n: (r.params.n as number) * 2 }));
    const site = router.site({ reactor: new Clock() });
    const t = new StringTransport();
    const ch = site.buildProtocol(t.getPeer());
    ch.makeConnection(t);
    ch.dataReceived(wire(get('/n/1') + get('/n/2') + get('/x')));
    expect(parseResponses(t.value()).map((r) => [r.status, r.body])).toEqual([
      [200, '{"n":2}'],
      [200, '{"n":4}'],
      [404, expect.stringContaining('Not Found')],
    ]);
  });

  it('mounted under a resource, it routes on the rest of the path', async () => {
    const api = new Router().get('/users/<int:id>', (r) => `user ${r.params.id} under ${r.prepath.join('/')}`).get('/', () => 'api root');
    const root = new Resource();
    root.putChild('api', api.asResource());
    expect((await render(root, createTestRequest({ path: '/api/users/3' }))).text).toBe('user 3 under api');
    expect((await render(root, createTestRequest({ path: '/api/' }))).text).toBe('api root');
    // As in Klein: at the mount point itself the rest of the path is empty, routed as '/'.
    expect((await render(root, createTestRequest({ path: '/api' }))).text).toBe('api root');
  });

  it('handle() works on a request without a site', async () => {
    const router = new Router().get('/x/<int:n>', (r) => r.params.n);
    const request = createTestRequest({ path: '/x/5' });
    expect(router.handle(request)).toBe(5);
    request.finish();
  });
});

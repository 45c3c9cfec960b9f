/**
 * Site and the resource tree: children, leaves, prepath/postpath, 404,
 * 405 with Allow, HEAD from GET, NOT_DONE_YET, Deferred and Promise
 * results, JSON values, errors (500 logged, HttpError not), and a Site
 * serving it over a channel.
 */
import { describe, expect, it } from 'vitest';
import { Deferred, succeed } from '../../src/defer/deferred.js';
import {
  ErrorPage,
  ForbiddenResource,
  HttpError,
  NOT_DONE_YET,
  NoResource,
  Resource,
  Site,
  createTestRequest,
  render,
  type Request,
} from '../../src/http/index.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { captureEvents } from '../../src/logger/index.js';
import { get, parseResponses, wire } from './channel-helpers.js';

class Text extends Resource {
  override isLeaf = true;
  constructor(private readonly text: string) {
    super();
  }
  render_GET(request: Request): string {
    return `${this.text} pre=${request.prepath.join(',')} post=${request.postpath.join(',')}`;
  }
}

class Echo extends Resource {
  override isLeaf = true;
  render_GET(): string {
    return 'get';
  }
  async render_POST(request: Request): Promise<string> {
    return `posted ${(await request.content()).toString()}`;
  }
  render_DELETE(): number {
    return 204;
  }
}

/** A dynamic child per segment: /users/<name>. */
class Users extends Resource {
  override getChild(name: string): Resource {
    if (name === '') return new Text('user list');
    if (name === 'forbidden') return new ForbiddenResource();
    return new Text(`user ${name}`);
  }
}

function tree(): Resource {
  const root = new Resource();
  root.putChild('', new Text('index'));
  root.putChild('leaf', new Text('leaf'));
  root.putChild('echo', new Echo());
  root.putChild('users', new Users());
  const nested = new Resource();
  nested.putChild('deep', new Text('deep'));
  root.putChild('nested', nested);
  return root;
}

async function fetch(path: string, method = 'GET', body?: string) {
  return render(tree(), createTestRequest({ method, path, body }));
}

describe('traversal', () => {
  const cases: [string, number, string | null][] = [
    ['/', 200, 'index pre= post='],
    ['/leaf', 200, 'leaf pre=leaf post='],
    ['/leaf/a/b', 200, 'leaf pre=leaf post=a,b'],
    ['/leaf/', 200, 'leaf pre=leaf post='],
    ['/nested/deep', 200, 'deep pre=nested,deep post='],
    ['/nested/deep/x', 200, 'deep pre=nested,deep post=x'],
    ['/users/', 200, 'user list pre=users, post='],
    ['/users/ada', 200, 'user ada pre=users,ada post='],
    ['/users/a%20b', 200, 'user a b pre=users,a b post='],
    ['/users/forbidden', 403, null],
    ['/nope', 404, null],
    ['/nested', 405, null], // a resource without render methods: 405 with an empty Allow, as in Twisted
    ['/nested/missing/more', 404, null],
  ];
  for (const [path, status, body] of cases) {
    it(`${path} → ${status}`, async () => {
      const res = await fetch(path);
      expect(res.status).toBe(status);
      if (body !== null) expect(res.text).toBe(body);
      else expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    });
  }

  it('putChild refuses a path with a slash', () => {
    expect(() => new Resource().putChild('a/b', new Resource())).toThrow(TypeError);
  });

  it('a root without an index child answers 404 for /, as in Twisted', async () => {
    const res = await render(new Resource(), createTestRequest({ path: '/' }));
    expect(res.status).toBe(404);
  });
});

describe('render methods', () => {
  it('dispatches on the method', async () => {
    expect((await fetch('/echo')).text).toBe('get');
    expect((await fetch('/echo', 'POST', 'data')).text).toBe('posted data');
  });

  it('HEAD falls back to GET: same fields, no body', async () => {
    const res = await fetch('/leaf', 'HEAD');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(res.headers.get('content-length')).toBe(String('leaf pre=leaf post='.length));
  });

  it('a method without a render method is 405 with Allow', async () => {
    const res = await fetch('/echo', 'PUT');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('DELETE, GET, HEAD, POST');
    const bare = await render(new Text('x'), createTestRequest({ method: 'PATCH' }));
    expect(bare.headers.get('allow')).toBe('GET, HEAD');
    expect(flushLoggedErrors()).toHaveLength(0);
  });

  it('finds render methods set on an instance', async () => {
    const r = new Resource() as Resource & { render_GET?: (request: Request) => string };
    r.isLeaf = true;
    r.render_GET = () => 'own';
    expect((await render(r, createTestRequest())).text).toBe('own');
    expect(r.allowedMethods()).toEqual(['GET', 'HEAD']);
  });
});

describe('results', () => {
  function leaf(fn: (request: Request) => unknown): Resource {
    const r = new Resource() as Resource & { render_GET: (request: Request) => unknown };
    r.isLeaf = true;
    r.render_GET = fn;
    return r;
  }

  const cases: { name: string; fn: (request: Request) => unknown; status?: number; body: string; type?: string }[] = [
    { name: 'a string', fn: () => 'text ☃', body: 'text ☃', type: 'text/html; charset=utf-8' },
    { name: 'bytes', fn: () => new Uint8Array([104, 105]), body: 'hi', type: 'text/html; charset=utf-8' },
    { name: 'an object as JSON', fn: () => ({ a: [1, 'two'] }), body: '{"a":[1,"two"]}', type: 'application/json' },
    { name: 'null as JSON', fn: () => null, body: 'null', type: 'application/json' },
    { name: 'a number as JSON', fn: () => 42, body: '42', type: 'application/json' },
    { name: 'undefined: finish as written', fn: (r) => void r.write('written'), body: 'written' },
    { name: 'a Deferred', fn: () => succeed('from a deferred'), body: 'from a deferred' },
    { name: 'a Promise', fn: async () => 'from a promise', body: 'from a promise' },
    { name: 'a Promise of an object', fn: async () => ({ ok: true }), body: '{"ok":true}', type: 'application/json' },
    {
      name: 'a Content-Type set by the handler',
      fn: (r) => {
        r.setHeader('Content-Type', 'text/plain');
        return 'plain';
      },
      body: 'plain',
      type: 'text/plain',
    },
    {
      name: 'a status set by the handler',
      fn: (r) => {
        r.setResponseCode(201);
        return { created: 1 };
      },
      status: 201,
      body: '{"created":1}',
    },
    {
      name: 'NOT_DONE_YET, finished later',
      fn: (r) => {
        void Promise.resolve().then(() => r.finish('later'));
        return NOT_DONE_YET;
      },
      body: 'later',
    },
    {
      name: 'a Deferred of NOT_DONE_YET',
      fn: (r) => {
        const d = new Deferred<typeof NOT_DONE_YET>();
        void Promise.resolve().then(() => {
          d.callback(NOT_DONE_YET);
          r.finish('mine');
        });
        return d;
      },
      body: 'mine',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const res = await render(leaf(c.fn), createTestRequest());
      expect(res.status).toBe(c.status ?? 200);
      expect(res.text).toBe(c.body);
      if (c.type !== undefined) expect(res.headers.get('content-type')).toBe(c.type);
    });
  }

  it('a value returned after the handler finished is ignored with a warning', async () => {
    const capture = captureEvents();
    try {
      const res = await render(
        leaf((r) => {
          r.finish('first');
          return 'second';
        }),
        createTestRequest(),
      );
      expect(res.text).toBe('first');
    } finally {
      capture.stop();
    }
    expect(capture.events.some((e) => e.log_level === 'warn')).toBe(true);
  });

  const failures: { name: string; fn: (request: Request) => unknown; status: number; logged: number }[] = [
    {
      name: 'a thrown error',
      fn: () => {
        throw new Error('boom');
      },
      status: 500,
      logged: 1,
    },
    {
      name: 'a failed Deferred',
      fn: () => {
        const d = new Deferred<string>();
        void Promise.resolve().then(() => d.errback(new Error('no')));
        return d;
      },
      status: 500,
      logged: 1,
    },
    { name: 'a rejected Promise', fn: async () => Promise.reject(new RangeError('no')), status: 500, logged: 1 },
    {
      name: 'a thrown HttpError',
      fn: () => {
        throw new HttpError(402, 'pay up');
      },
      status: 402,
      logged: 0,
    },
    { name: 'a value that is not JSON', fn: () => ({ big: 1n }), status: 500, logged: 1 },
    { name: 'a function', fn: () => () => 1, status: 500, logged: 1 },
  ];
  for (const c of failures) {
    it(`${c.name} → ${c.status}`, async () => {
      const res = await render(leaf(c.fn), createTestRequest());
      expect(res.status).toBe(c.status);
      expect(flushLoggedErrors()).toHaveLength(c.logged);
    });
  }
});

describe('error pages', () => {
  it('escape their texts', async () => {
    const res = await render(new ErrorPage(400, 'brief', '<script>alert(1)</script>'), createTestRequest());
    expect(res.status).toBe(400);
    expect(res.text).toContain('&lt;script&gt;');
    expect(res.text).not.toContain('<script>');
    expect((await render(new NoResource(), createTestRequest())).status).toBe(404);
  });
});

describe('Site over a channel', () => {
  function serve(root: Resource, options = {}) {
    const clock = new Clock();
    const site = new Site(root, { reactor: clock, ...options });
    const t = new StringTransport();
    const ch = site.buildProtocol(t.getPeer());
    ch.makeConnection(t);
    return { site, t, ch, clock };
  }

  it('serves the tree, pipelined and in order', () => {
    const { t, ch } = serve(tree());
    ch.dataReceived(wire(get('/leaf/x') + get('/users/bob') + get('/nope') + get('/')));
    expect(parseResponses(t.value()).map((r) => [r.status, r.body.slice(0, 12)])).toEqual([
      [200, 'leaf pre=lea'],
      [200, 'user bob pre'],
      [404, '<!DOCTYPE ht'],
      [200, 'index pre= p'],
    ]);
  });

  it('keeps a slow resource in order with the next request', async () => {
    const gate = new Deferred<string>();
    const root = new Resource();
    const slow = new Resource() as Resource & { render_GET: () => unknown };
    slow.isLeaf = true;
    slow.render_GET = () => gate;
    root.putChild('slow', slow);
    root.putChild('fast', new Text('fast'));
    const { t, ch } = serve(root);
    ch.dataReceived(wire(get('/slow') + get('/fast')));
    expect(t.value().length).toBe(0);
    gate.callback('slow');
    expect(parseResponses(t.value()).map((r) => r.body.slice(0, 4))).toEqual(['slow', 'fast']);
  });

  it('getResourceFor finds the resource and sets the paths', () => {
    const site = new Site(tree(), { reactor: new Clock() });
    const r = createTestRequest({ path: '/leaf/a' });
    expect(site.getResourceFor(r)).toBeInstanceOf(Text);
    expect(r.prepath).toEqual(['leaf']);
    expect(r.postpath).toEqual(['a']);
  });

  it('a null defaultContentType sets none', async () => {
    const site = new Site(tree(), { reactor: new Clock(), defaultContentType: null });
    const res = await render(site, createTestRequest({ path: '/leaf' }));
    expect(res.headers.has('content-type')).toBe(false);
  });

  it('writes an access log line per response in Combined Log Format', () => {
    const capture = captureEvents();
    try {
      const clock = new Clock();
      clock.advance(971211336); // 10/Oct/2000:20:55:36 +0000
      const { t, ch } = serve(tree(), { accessLog: true, reactor: clock });
      ch.dataReceived(wire(get('/leaf', 'Referer: http://x/"q"\r\nUser-Agent: curl/8.0\r\n') + get('/nope')));
      expect(parseResponses(t.value())).toHaveLength(2);
    } finally {
      capture.stop();
    }
    const access = capture.events.filter((e) => e.log_namespace === 'spindle.http.access');
    expect(access).toHaveLength(2);
    expect(access[0]!.log_level).toBe('info');
    expect(access[0]!.line).toBe(
      '192.168.1.1 - - [10/Oct/2000:20:55:36 +0000] "GET /leaf HTTP/1.1" 200 19 "http://x/\\"q\\"" "curl/8.0"',
    );
    expect(access[0]!.status).toBe(200);
    expect(access[1]!.line).toMatch(/"GET \/nope HTTP\/1.1" 404 \d+ "-" "-"$/);
  });
});

import { describe, expect, test } from 'vitest';
import { protocolTypeRouter } from '../../src/channels/routing/protocolTypeRouter.js';
import { channelNameRouter } from '../../src/channels/routing/channelNameRouter.js';
import { path, rePath, urlRouter, Route } from '../../src/channels/routing/urlRouter.js';
import { registerConverter } from '../../src/channels/routing/converters.js';
import type { ASGIApplication, Scope } from '../../src/channels/types.js';
import { http, recorder, run, text, websocket } from './driveApp.js';

describe('protocolTypeRouter', () => {
  const apps = { http: recorder('http'), websocket: recorder('websocket'), lifespan: recorder('lifespan'), channel: recorder('channel'), custom: recorder('custom') };
  const router = protocolTypeRouter(apps);

  test.each(Object.keys(apps))('a %s scope goes to its application, unchanged', async (type) => {
    const scope: Scope = { type, path: '/' };
    await run(router, scope);
    const app = apps[type as keyof typeof apps];
    expect(app.scopes.at(-1)).toBe(scope);
  });

  test('a type with no application fails with an Error naming it (lifespan declined)', async () => {
    const noLifespan = protocolTypeRouter({ http: recorder() });
    await expect(run(noLifespan, { type: 'lifespan' })).rejects.toThrow(
      'No application configured for scope type "lifespan" (configured: http)',
    );
  });

  test('entries that are not functions are a TypeError; undefined entries are skipped', async () => {
    expect(() => protocolTypeRouter({ http: 'nope' as unknown as ASGIApplication })).toThrow(TypeError);
    const r = protocolTypeRouter({ http: undefined, websocket: recorder() });
    await expect(run(r, { type: 'http' })).rejects.toThrow(/configured: websocket/);
  });

  test("the inner application's failure is the router's", async () => {
    const r = protocolTypeRouter({ http: () => Promise.reject(new RangeError('inner')) });
    await expect(run(r, http('/'))).rejects.toThrow(RangeError);
  });
});

describe('channelNameRouter', () => {
  const thumbs = recorder();
  const counter = recorder();
  const router = channelNameRouter({ 'thumbnails-generate': thumbs, 'page-counter': counter });

  test('dispatches on scope.channel', async () => {
    await run(router, { type: 'channel', channel: 'page-counter' });
    await run(router, { type: 'channel', channel: 'thumbnails-generate' });
    expect(counter.scopes).toHaveLength(1);
    expect(thumbs.scopes).toHaveLength(1);
  });

  test.each([
    [{ type: 'channel' }, /no "channel"/],
    [{ type: 'http', path: '/' }, /"http" scope with no "channel"/],
    [{ type: 'channel', channel: 'unknown' }, /No application configured for channel "unknown"/],
  ])('%j fails', async (scope, message) => {
    await expect(run(router, scope as Scope)).rejects.toThrow(message);
  });

  test('entries must be functions', () => {
    expect(() => channelNameRouter({ x: 1 as unknown as ASGIApplication })).toThrow(TypeError);
  });
});

describe('path(): converters', () => {
  const uuid = '123e4567-e89b-12d3-a456-426614174000';
  const table: [string, string, Record<string, unknown> | null][] = [
    ['ws/<str:room>/', '/ws/lobby/', { room: 'lobby' }],
    ['ws/<room>/', '/ws/lobby/', { room: 'lobby' }],
    ['ws/<str:room>/', '/ws/a/b/', null],
    ['ws/<str:room>/', '/ws/lobby', null],
    ['ws/<str:room>/', '/ws//', null],
    ['ws/<str:room>/', '//ws/x/', { room: 'x' }],
    ['ws/<str:room>/', '/ws/café au lait/', { room: 'café au lait' }],
    ['items/<int:id>/', '/items/42/', { id: 42 }],
    ['items/<int:id>/', '/items/007/', { id: 7 }],
    ['items/<int:id>/', '/items/-1/', null],
    ['items/<int:id>/', '/items/4x/', null],
    ['items/<int:id>/', '/items/99999999999999999999/', null],
    ['s/<slug:s>/', '/s/my-post_1/', { s: 'my-post_1' }],
    ['s/<slug:s>/', '/s/my post/', null],
    ['s/<slug:s>/', '/s/café/', null],
    ['u/<uuid:id>/', `/u/${uuid}/`, { id: uuid }],
    ['u/<uuid:id>/', `/u/${uuid.toUpperCase()}/`, null],
    ['u/<uuid:id>/', '/u/123e4567e89b12d3a456426614174000/', null],
    ['f/<path:p>', '/f/a/b/c.txt', { p: 'a/b/c.txt' }],
    ['f/<path:p>', '/f/', null],
    ['a/<int:x>/<slug:y>/', '/a/1/z/', { x: 1, y: 'z' }],
    ['', '/', {}],
    ['', '', {}],
    ['exact/', '/exact/more', null],
    ['dots.json', '/dotsXjson', null],
    ['dots.json', '/dots.json', {}],
    ['a+b(c)', '/a+b(c)', {}],
  ];

  test.each(table)('%s on %s → %j', async (route, p, kwargs) => {
    const app = recorder();
    const sent = await run(urlRouter([path(route, app)]), http(p));
    if (kwargs === null) {
      expect(app.scopes).toHaveLength(0);
      expect(sent[0]).toMatchObject({ type: 'http.response.start', status: 404 });
    } else {
      expect(app.scopes[0]!.url_route).toEqual({ args: [], kwargs });
      expect(app.scopes[0]!.path_remaining).toBe('');
    }
  });

  test.each([
    ['/ws/', /must not start with "\/"/],
    ['<int:>', /not an identifier/],
    ['<int:1x>', /not an identifier/],
    ['<a b>', /not an identifier/],
    ['<foo:x>', /unknown converter "foo"/],
    ['<x>/<int:x>', /appears twice/],
    ['a<b', /stray/],
    ['a>b', /stray/],
  ])('route %s is a TypeError', (route, message) => {
    expect(() => path(route, recorder())).toThrow(TypeError);
    expect(() => path(route, recorder())).toThrow(message);
  });

  test('the app must be a function and kwargs an object', () => {
    expect(() => path('a/', undefined as unknown as ASGIApplication)).toThrow(/must be a function/);
    expect(() => path('a/', recorder(), [] as unknown as Record<string, unknown>)).toThrow(/kwargs/);
  });

  test('route kwargs are merged over captured ones', async () => {
    const app = recorder();
    await run(urlRouter([path('items/<int:id>/', app, { id: 'fixed', format: 'json' })]), http('/items/3/'));
    expect(app.scopes[0]!.url_route!.kwargs).toEqual({ id: 'fixed', format: 'json' });
  });

  test('registerConverter adds a converter; toValue throwing means no match', async () => {
    registerConverter('year4', {
      regex: '[0-9]{4}',
      toValue(s) {
        const n = Number(s);
        if (n < 1900) throw new RangeError('too old');
        return n;
      },
    });
    const app = recorder();
    const fallback = recorder();
    const router = urlRouter([path('archive/<year4:y>/', app), path('archive/<str:y>/', fallback)]);
    await run(router, http('/archive/2024/'));
    await run(router, http('/archive/1850/'));
    expect(app.scopes[0]!.url_route!.kwargs).toEqual({ y: 2024 });
    expect(fallback.scopes[0]!.url_route!.kwargs).toEqual({ y: '1850' });
    expect(() => registerConverter('year4', { regex: 'x', toValue: String })).toThrow(/already registered/);
    expect(() => registerConverter('bad-name', { regex: 'x', toValue: String })).toThrow(/identifier/);
    expect(() => registerConverter('badre', { regex: '(', toValue: String })).toThrow(/invalid regex/);
  });
});

describe('rePath()', () => {
  const table: [string | RegExp, string, unknown[], Record<string, unknown>, string][] = [
    ['^ws/(?<room>\\w+)/$', '/ws/lobby/', [], { room: 'lobby' }, ''],
    ['^ws/(?P<room>\\w+)/$', '/ws/lobby/', [], { room: 'lobby' }, ''],
    [/^archive\/(\d{4})\/(\d{2})\/$/, '/archive/2024/05/', ['2024', '05'], {}, ''],
    ['^a/(?<x>\\d+)?/?$', '/a/', [], {}, ''],
    ['^(?<a>\\w+)-(\\d+)$', '/x-1', [], { a: 'x' }, ''], // named groups present: unnamed ones ignored
    ['chat', '/xx/chat/yy', [], {}, '/yy'], // unanchored: searched anywhere
    ['^x/', '/x/rest', [], {}, 'rest'], // an endpoint without "$" matches a prefix
    ['(?P<a>x)(?P=a)$', '/xx', [], { a: 'x' }, ''],
  ];

  test.each(table)('%s on %s', async (re, p, args, kwargs, remaining) => {
    const app = recorder();
    await run(urlRouter([rePath(re, app)]), http(p));
    expect(app.scopes[0]!.url_route).toEqual({ args, kwargs });
    expect(app.scopes[0]!.path_remaining).toBe(remaining);
  });

  test.each([
    ['^chat/$', '/chat/more'],
    ['^ws/(?<room>\\w+)/$', '/ws/a b/'],
    [/^UPPER$/, '/upper'],
  ])('%s does not match %s', async (re, p) => {
    const app = recorder();
    await run(urlRouter([rePath(re, app)]), http(p));
    expect(app.scopes).toHaveLength(0);
  });

  test('RegExp flags are kept (i), g and y dropped', async () => {
    const app = recorder();
    const router = urlRouter([rePath(/^upper$/giy, app)]);
    await run(router, http('/UPPER'));
    await run(router, http('/UPPER'));
    expect(app.scopes).toHaveLength(2);
  });

  test('an invalid pattern is a TypeError', () => {
    expect(() => rePath('(', recorder())).toThrow(TypeError);
    expect(() => rePath(42 as unknown as string, recorder())).toThrow(TypeError);
  });
});

describe('urlRouter', () => {
  test('the first matching route wins', async () => {
    const [a, b] = [recorder('a'), recorder('b')];
    await run(urlRouter([path('x/<str:s>/', a), path('x/<int:n>/', b)]), http('/x/1/'));
    expect(a.scopes).toHaveLength(1);
    expect(b.scopes).toHaveLength(0);
  });

  test('the scope given to the app is a copy with url_route and path_remaining added', async () => {
    const app = recorder();
    const scope = http('/a/1/');
    await run(urlRouter([path('a/<int:n>/', app)]), scope);
    expect(app.scopes[0]).not.toBe(scope);
    expect(app.scopes[0]).toEqual({ ...scope, url_route: { args: [], kwargs: { n: 1 } }, path_remaining: '' });
    expect(scope).not.toHaveProperty('url_route');
  });

  test('nested routers: prefix match, merged kwargs, inner path_remaining', async () => {
    const chat = recorder('chat');
    const router = urlRouter([
      path('rooms/<int:id>/', urlRouter([path('chat/<str:what>/', chat)]), { outer: true }),
    ]);
    await run(router, http('/rooms/4/chat/x/'));
    expect(chat.scopes[0]!.url_route).toEqual({ args: [], kwargs: { id: 4, outer: true, what: 'x' } });
    expect(chat.scopes[0]!.path_remaining).toBe('');
  });

  test('nested rePath routers merge args in order', async () => {
    const leaf = recorder();
    const router = urlRouter([rePath('^v(\\d)/', urlRouter([rePath('^(\\w+)/(\\w+)/$', leaf)]))]);
    await run(router, http('/v2/a/b/'));
    expect(leaf.scopes[0]!.url_route).toEqual({ args: ['2', 'a', 'b'], kwargs: {} });
  });

  test('three levels deep', async () => {
    const leaf = recorder();
    const router = urlRouter([
      path('a/', urlRouter([path('<slug:b>/', urlRouter([path('c/<int:d>/', leaf)]))])),
    ]);
    await run(router, http('/a/bee/c/4/'));
    expect(leaf.scopes[0]!.url_route!.kwargs).toEqual({ b: 'bee', d: 4 });
  });

  test('a nested router that matches nothing lets the next outer route try', async () => {
    const chat = recorder('chat');
    const rest = recorder('rest');
    const router = urlRouter([
      path('rooms/<int:id>/', urlRouter([path('chat/', chat)])),
      path('rooms/<path:rest>', rest),
    ]);
    await run(router, http('/rooms/4/other/'));
    expect(chat.scopes).toHaveLength(0);
    expect(rest.scopes[0]!.url_route!.kwargs).toEqual({ rest: '4/other/' });
  });

  test('a nested router called with path_remaining from the scope merges the outer url_route', async () => {
    const leaf = recorder();
    const inner = urlRouter([path('x/<int:n>/', leaf)]);
    await run(inner, http('/ignored', { path_remaining: '/x/5/', url_route: { args: ['a'], kwargs: { k: 1 } } }));
    expect(leaf.scopes[0]!.url_route).toEqual({ args: ['a'], kwargs: { k: 1, n: 5 } });
  });

  test('a router wrapped in middleware is an endpoint (as in Channels): only the exact prefix matches', async () => {
    const leaf = recorder();
    const wrapped: ASGIApplication = (scope, receive, send) => urlRouter([path('', leaf)])(scope, receive, send);
    const router = urlRouter([path('mw/', wrapped)]);
    const sent = await run(router, http('/mw/x/'));
    expect(sent[0]).toMatchObject({ status: 404 });
    await run(router, http('/mw/'));
    expect(leaf.scopes).toHaveLength(1);
  });

  describe('root_path', () => {
    test.each([
      ['/prefix/ws/a/', '/prefix', true],
      ['/prefix/ws/a/', '/prefix/', true],
      ['/prefixed/ws/a/', '/prefix', false],
      ['/other/ws/a/', '/prefix', false],
      ['/ws/a/', '', true],
    ])('path %s under root_path %j: routed %s', async (p, root, routed) => {
      const app = recorder();
      const sent = await run(urlRouter([path('ws/<str:room>/', app)]), http(p, { root_path: root }));
      expect(app.scopes.length === 1).toBe(routed);
      if (!routed) expect(sent[0]).toMatchObject({ status: 404 });
      else expect(app.scopes[0]!.url_route!.kwargs).toEqual({ room: 'a' });
    });

    test('nested routers do not strip root_path again', async () => {
      const leaf = recorder();
      const router = urlRouter([path('api/', urlRouter([path('api/', leaf)]))]);
      await run(router, http('/api/api/api/', { root_path: '/api' }));
      expect(leaf.scopes).toHaveLength(1);
    });
  });

  describe('no match', () => {
    const router = urlRouter([path('known/', recorder())]);

    test('HTTP: 404 Not Found, text/plain, with a length', async () => {
      const sent = await run(router, http('/unknown/'));
      expect(sent).toHaveLength(2);
      expect(sent[0]).toEqual({
        type: 'http.response.start',
        status: 404,
        headers: [
          ['content-type', 'text/plain; charset=utf-8'],
          ['content-length', '9'],
        ],
      });
      expect(sent[1]!.type).toBe('http.response.body');
      expect(text(sent[1]!.body)).toBe('Not Found');
      expect(sent[1]!.more_body).toBeUndefined();
    });

    test('WebSocket: waits for websocket.connect, then closes before accept (the server answers 403)', async () => {
      const sent = await run(router, websocket('/unknown/'), [{ type: 'websocket.connect' }]);
      expect(sent).toEqual([{ type: 'websocket.close', code: 1000 }]);
    });

    test('WebSocket already disconnected: nothing is sent', async () => {
      const sent = await run(router, websocket('/unknown/'), [{ type: 'websocket.disconnect', code: 1006 }]);
      expect(sent).toEqual([]);
    });

    test('another scope type with a path fails with an Error', async () => {
      await expect(run(router, { type: 'custom', path: '/unknown/' })).rejects.toThrow('No route found for path "unknown/"');
    });

    test('a scope with no path (lifespan) fails with an Error', async () => {
      await expect(run(router, { type: 'lifespan' })).rejects.toThrow(/cannot route a "lifespan" scope/);
    });
  });

  test('routes must come from path() or rePath()', () => {
    expect(() => urlRouter([{ pattern: 'x' } as unknown as Route])).toThrow(TypeError);
    expect(() => urlRouter('x' as unknown as Route[])).toThrow(TypeError);
    expect(String(path('a/', recorder()))).toBe('Route(a/)');
  });

  test('a router in a protocolTypeRouter: HTTP 404 and lifespan declined', async () => {
    const app = protocolTypeRouter({ http: urlRouter([path('x/', recorder())]) });
    expect((await run(app, http('/y/')))[0]).toMatchObject({ status: 404 });
    await expect(run(app, { type: 'lifespan' })).rejects.toThrow(/scope type "lifespan"/);
  });
});

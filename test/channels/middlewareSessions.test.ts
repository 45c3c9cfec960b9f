import { createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { Clock } from '../../src/testing/clock.js';
import { successResultOf, failureResultOf } from '../../src/testing/results.js';
import {
  MemorySessionStore,
  sessionMiddleware,
  type SessionData,
  type SessionMiddlewareOptions,
  type SessionStore,
} from '../../src/channels/middleware/sessions.js';
import { cookieMiddleware } from '../../src/channels/middleware/cookies.js';
import type { ASGIApplication, ASGIEvent, Headers, Scope, ScopeSession } from '../../src/channels/types.js';
import { http, run, websocket } from './driveApp.js';

const SECRET = 'a-test-secret-of-at-least-16-bytes';

/** An app that runs `body(session)` then answers 200 (or `status`). */
function handler(body: (session: ScopeSession, scope: Scope) => void | Promise<void>, status = 200): ASGIApplication & { seen: Scope[] } {
  const seen: Scope[] = [];
  const app = async (scope: Scope, _receive: unknown, send: (e: ASGIEvent) => PromiseLike<void>): Promise<void> => {
    seen.push(scope);
    await body(scope.session!, scope);
    await send({ type: 'http.response.start', status, headers: [['content-type', 'text/plain']] });
    await send({ type: 'http.response.body', body: new Uint8Array() });
  };
  return Object.assign(app as ASGIApplication, { seen });
}

function setCookies(sent: ASGIEvent[]): string[] {
  return ((sent[0]?.headers as Headers | undefined) ?? []).filter(([n]) => n === 'set-cookie').map(([, v]) => v);
}

/** The `name=value` part of the first Set-Cookie, as a browser would send it back. */
function cookieFrom(sent: ASGIEvent[]): string {
  const [first] = setCookies(sent);
  if (first === undefined) throw new Error('no Set-Cookie');
  return first.split(';')[0]!;
}

function setup(options: Partial<SessionMiddlewareOptions> = {}) {
  const clock = new Clock();
  const store = new MemorySessionStore({ reactor: clock });
  const wrap = (app: ASGIApplication) => sessionMiddleware(app, { secret: SECRET, store, ...options });
  const request = (app: ASGIApplication, cookie?: string) =>
    run(wrap(app), http('/', { headers: cookie === undefined ? [] : [['cookie', cookie]] }));
  return { clock, store, wrap, request };
}

describe('sessionMiddleware: round trip', () => {
  test('a new session: empty, no key; setting a value saves it and sets a signed cookie', async () => {
    const { request, store } = setup();
    const app = handler((s) => {
      expect(s.key).toBeNull();
      expect(s.keys()).toEqual([]);
      s.set('user', 'ada');
    });
    const sent = await request(app);
    const [cookie] = setCookies(sent);
    expect(cookie).toMatch(/^sessionid=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}; Max-Age=1209600; Path=\/; HttpOnly; SameSite=Lax$/);
    const key = cookie!.slice('sessionid='.length, cookie!.indexOf('.'));
    expect(successResultOf(store.get(key))).toEqual({ user: 'ada' });
    // The signature is HMAC-SHA256 over the salted id.
    const sig = cookie!.split(';')[0]!.split('.')[1];
    expect(sig).toBe(createHmac('sha256', SECRET).update(`spindle.session:${key}`).digest('base64url'));
  });

  test('the next request with the cookie sees the data; unchanged, no cookie is sent', async () => {
    const { request } = setup();
    const first = await request(handler((s) => s.set('n', 1)));
    const seen: unknown[] = [];
    const second = await request(
      handler((s) => {
        seen.push(s.get('n'), s.has('n'), s.key !== null, s.modified);
      }),
      cookieFrom(first),
    );
    expect(seen).toEqual([1, true, true, false]);
    expect(setCookies(second)).toEqual([]);
  });

  test('a change is saved under the same id, and the cookie is refreshed', async () => {
    const { request, store } = setup();
    const cookie = cookieFrom(await request(handler((s) => s.set('n', 1))));
    const sent = await request(handler((s) => s.set('n', (s.get('n') as number) + 1)), cookie);
    expect(cookieFrom(sent)).toBe(cookie);
    const key = cookie.slice('sessionid='.length).split('.')[0]!;
    expect(successResultOf(store.get(key))).toEqual({ n: 2 });
  });

  test('the event the app sent is not mutated', async () => {
    const { wrap } = setup();
    const start: ASGIEvent = { type: 'http.response.start', status: 200, headers: [['a', 'b']] };
    const app: ASGIApplication = async (scope, _r, send) => {
      scope.session!.set('x', 1);
      await send(start);
    };
    const sent = await run(wrap(app), http('/'));
    expect(start.headers).toEqual([['a', 'b']]);
    expect((sent[0]!.headers as Headers).length).toBe(2);
  });

  test('scope.cookies is set, and reused when cookieMiddleware ran first', async () => {
    const { wrap } = setup();
    const app = handler(() => undefined);
    await run(cookieMiddleware(wrap(app)), http('/', { headers: [['cookie', 'a=1']] }));
    await run(wrap(app), http('/', { headers: [['cookie', 'b=2']] }));
    expect(app.seen.map((s) => ({ ...s.cookies }))).toEqual([{ a: '1' }, { b: '2' }]);
  });

  test('a custom cookie name and attributes', async () => {
    const { request } = setup({ cookieName: '__Host-sid', maxAge: 60, cookie: { secure: true, sameSite: 'Strict', path: '/' } });
    const [cookie] = setCookies(await request(handler((s) => s.set('a', 1))));
    expect(cookie).toMatch(/^__Host-sid=\S+; Max-Age=60; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
  });
});

describe('sessionMiddleware: signatures', () => {
  async function loaded(cookie: string, options: Partial<SessionMiddlewareOptions> = {}, store?: MemorySessionStore) {
    const s = setup(options);
    const st = store ?? s.store;
    const wrap = (app: ASGIApplication) => sessionMiddleware(app, { secret: SECRET, store: st, ...options });
    const seen: unknown[] = [];
    await run(wrap(handler((session) => void seen.push(session.get('user') ?? null))), http('/', { headers: [['cookie', cookie]] }));
    return seen[0];
  }

  test.each([
    ['a flipped signature character', (c: string) => c.slice(0, -1) + (c.endsWith('A') ? 'B' : 'A')],
    ['a signature with padding added', (c: string) => `${c}=`],
    ['a truncated signature', (c: string) => c.slice(0, -2)],
    ['no signature', (c: string) => c.split('.')[0]!],
    ['an empty signature', (c: string) => `${c.split('.')[0]!}.`],
    ['another id with this signature', (c: string) => `sessionid=${'A'.repeat(32)}.${c.split('.')[1]}`],
    ['a signature from another secret', (c: string) => {
      const key = c.slice('sessionid='.length).split('.')[0]!;
      return `sessionid=${key}.${createHmac('sha256', 'another-secret-0123456789').update(`spindle.session:${key}`).digest('base64url')}`;
    }],
    ['garbage', () => 'sessionid=%%%'],
  ])('%s gives an empty session', async (_what, tamper) => {
    const { request, store } = setup();
    const cookie = cookieFrom(await request(handler((s) => s.set('user', 'ada'))));
    expect(await loaded(cookie, {}, store)).toBe('ada');
    expect(await loaded(tamper(cookie), {}, store)).toBeNull();
  });

  test('key rotation: the first secret signs, every secret verifies', async () => {
    const { request, store } = setup();
    const old = cookieFrom(await request(handler((s) => s.set('user', 'ada'))));
    const NEW = 'the-new-secret-of-at-least-16-bytes';
    expect(await loaded(old, { secret: [NEW, SECRET] }, store)).toBe('ada');
    expect(await loaded(old, { secret: NEW }, store)).toBeNull();
    // A save re-issues the cookie signed with the new secret.
    const wrap = sessionMiddleware(handler((s) => s.set('n', 1)), { secret: [NEW, SECRET], store });
    const renewed = cookieFrom(await run(wrap, http('/', { headers: [['cookie', old]] })));
    expect(await loaded(renewed, { secret: NEW }, store)).toBe('ada');
  });

  test.each([
    [{ secret: '' }, TypeError],
    [{ secret: 'short' }, TypeError],
    [{ secret: [] }, TypeError],
    [{ secret: 42 }, TypeError],
    [{ secret: SECRET, maxAge: 0 }, RangeError],
    [{ secret: SECRET, cookieName: 'bad name' }, TypeError],
  ])('options %j: %s', (options, error) => {
    expect(() => sessionMiddleware(handler(() => undefined), options as unknown as SessionMiddlewareOptions)).toThrow(error);
  });

  test('bytes secrets work', async () => {
    const { store } = setup();
    const app = sessionMiddleware(handler((s) => s.set('a', 1)), { secret: new Uint8Array(32).fill(7), store });
    expect(setCookies(await run(app, http('/')))).toHaveLength(1);
  });
});

describe('sessionMiddleware: lifecycle', () => {
  test('sessions expire after maxAge on the store clock', async () => {
    const { request, clock } = setup({ maxAge: 100 });
    const cookie = cookieFrom(await request(handler((s) => s.set('user', 'ada'))));
    clock.advance(99);
    const seen: unknown[] = [];
    await request(handler((s) => void seen.push(s.get('user'))), cookie);
    clock.advance(1);
    await request(handler((s) => void seen.push(s.get('user'), s.key)), cookie);
    expect(seen).toEqual(['ada', undefined, null]);
  });

  test('a 500 response saves nothing and sets no cookie', async () => {
    const { request, store } = setup();
    const sent = await request(handler((s) => s.set('a', 1), 500));
    expect(setCookies(sent)).toEqual([]);
    expect(store.size).toBe(0);
  });

  test('an untouched new session stores nothing and sets no cookie', async () => {
    const { request, store } = setup();
    expect(setCookies(await request(handler(() => undefined)))).toEqual([]);
    expect(store.size).toBe(0);
  });

  test('clear(): the stored session is deleted and so is the cookie', async () => {
    const { request, store } = setup();
    const cookie = cookieFrom(await request(handler((s) => s.set('user', 'ada'))));
    expect(store.size).toBe(1);
    const sent = await request(handler((s) => s.clear()), cookie);
    expect(setCookies(sent)).toEqual(['sessionid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax']);
    expect(store.size).toBe(0);
  });

  test('clear() then set(): a new id, the old one deleted (logout, then a new visitor)', async () => {
    const { request, store } = setup();
    const cookie = cookieFrom(await request(handler((s) => s.set('user', 'ada'))));
    const sent = await request(
      handler((s) => {
        s.clear();
        s.set('cart', []);
      }),
      cookie,
    );
    expect(cookieFrom(sent)).not.toBe(cookie);
    expect(store.size).toBe(1);
  });

  test('cycleKey(): same data under a new id, the old id deleted', async () => {
    const { request, store } = setup();
    const cookie = cookieFrom(await request(handler((s) => s.set('user', 'ada'))));
    const renewed = cookieFrom(await request(handler((s) => s.cycleKey()), cookie));
    expect(renewed).not.toBe(cookie);
    expect(store.size).toBe(1);
    const seen: unknown[] = [];
    await request(handler((s) => void seen.push(s.get('user'))), renewed);
    await request(handler((s) => void seen.push(s.get('user'))), cookie);
    expect(seen).toEqual(['ada', undefined]);
  });

  test('delete() of an absent name changes nothing; of a present one, saves', async () => {
    const { request } = setup();
    const cookie = cookieFrom(await request(handler((s) => (s.set('a', 1), s.set('b', 2)))));
    expect(setCookies(await request(handler((s) => s.delete('zzz')), cookie))).toEqual([]);
    expect(setCookies(await request(handler((s) => s.delete('a')), cookie))).toHaveLength(1);
    const seen: unknown[] = [];
    await request(handler((s) => void seen.push(s.keys())), cookie);
    expect(seen).toEqual([['b']]);
  });

  test('saveEveryRequest re-sends the cookie on every response', async () => {
    const { request } = setup({ saveEveryRequest: true });
    const cookie = cookieFrom(await request(handler((s) => s.set('a', 1))));
    expect(setCookies(await request(handler(() => undefined), cookie))).toHaveLength(1);
  });

  test('an explicit save() before the response still sets the cookie', async () => {
    const { request, store } = setup();
    const sent = await request(
      handler(async (s) => {
        s.set('a', 1);
        await s.save();
        expect(s.modified).toBe(false);
        expect(s.key).not.toBeNull();
      }),
    );
    expect(setCookies(sent)).toHaveLength(1);
    expect(store.size).toBe(1);
  });

  test('WebSocket: the cookie rides on websocket.accept; later changes need save()', async () => {
    const { wrap, store } = setup();
    let session: ScopeSession | undefined;
    const app: ASGIApplication = async (scope, receive, send) => {
      session = scope.session!;
      await receive();
      session.set('joined', true);
      await send({ type: 'websocket.accept' });
      session.set('messages', 1);
      await session.save();
    };
    const sent = await run(wrap(app), websocket('/ws/'), [{ type: 'websocket.connect' }]);
    expect(sent[0]!.type).toBe('websocket.accept');
    expect(cookieFrom(sent)).toMatch(/^sessionid=/);
    expect(successResultOf(store.get(session!.key!))).toEqual({ joined: true, messages: 1 });
  });

  test('other scopes pass through untouched', async () => {
    const { wrap } = setup();
    const seen: Scope[] = [];
    const scope = { type: 'channel', channel: 'x' };
    await run(
      wrap(async (s) => void seen.push(s)),
      scope,
    );
    expect(seen[0]).toBe(scope);
  });
});

describe('sessionMiddleware: stores', () => {
  test('an asynchronous (Promise) store works', async () => {
    const map = new Map<string, SessionData>();
    const store: SessionStore = {
      get: async (k) => map.get(k),
      set: async (k, d) => void map.set(k, structuredClone(d)),
      delete: async (k) => void map.delete(k),
    };
    const wrap = (app: ASGIApplication) => sessionMiddleware(app, { secret: SECRET, store });
    const cookie = cookieFrom(await run(wrap(handler((s) => s.set('a', 1))), http('/')));
    const seen: unknown[] = [];
    await run(wrap(handler((s) => void seen.push(s.get('a')))), http('/', { headers: [['cookie', cookie]] }));
    expect(seen).toEqual([1]);
  });

  test('a store that fails on load fails the request before the app runs', async () => {
    const { request } = setup();
    const cookie = cookieFrom(await request(handler((s) => s.set('a', 1))));
    const broken: SessionStore = {
      get: () => Promise.reject(new Error('store down')),
      set: () => undefined,
      delete: () => undefined,
    };
    const app = handler(() => undefined);
    await expect(run(sessionMiddleware(app, { secret: SECRET, store: broken }), http('/', { headers: [['cookie', cookie]] }))).rejects.toThrow(
      'store down',
    );
    expect(app.seen).toHaveLength(0);
  });

  test('MemorySessionStore copies in and out, expires, and is bounded', () => {
    const clock = new Clock();
    const store = new MemorySessionStore({ reactor: clock, maxEntries: 2 });
    const data = { list: [1] };
    successResultOf(store.set('a', data, 10));
    data.list.push(2);
    const got = successResultOf(store.get('a'))!;
    expect(got).toEqual({ list: [1] });
    (got.list as number[]).push(3);
    expect(successResultOf(store.get('a'))).toEqual({ list: [1] });
    successResultOf(store.set('b', {}, 10));
    successResultOf(store.set('a', { again: true }, 10)); // rewritten: now the most recent
    successResultOf(store.set('c', {}, 10)); // pushes out b, the least recently written
    expect(successResultOf(store.get('b'))).toBeUndefined();
    expect(successResultOf(store.get('a'))).toEqual({ again: true });
    clock.advance(10);
    expect(successResultOf(store.get('a'))).toBeUndefined();
    successResultOf(store.delete('c'));
    successResultOf(store.delete('never'));
    expect(store.size).toBe(0);
    failureResultOf(store.set('x', { fn: () => 1 }, 10), TypeError);
    expect(() => new MemorySessionStore({ maxEntries: 0 })).toThrow(RangeError);
  });
});

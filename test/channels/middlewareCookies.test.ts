import { describe, expect, test } from 'vitest';
import { cookieMiddleware, deleteCookie, setCookie } from '../../src/channels/middleware/cookies.js';
import type { ASGIEvent, Headers } from '../../src/channels/types.js';
import { http, recorder, run, websocket } from './driveApp.js';

async function parsed(headers: Headers): Promise<Record<string, string>> {
  const app = recorder();
  await run(cookieMiddleware(app), http('/', { headers }));
  return { ...app.scopes[0]!.cookies };
}

describe('cookieMiddleware: parsing (lenient)', () => {
  const table: [string, Headers, Record<string, string>][] = [
    ['no cookie header', [], {}],
    ['one cookie', [['cookie', 'a=1']], { a: '1' }],
    ['two cookies', [['cookie', 'a=1; b=2']], { a: '1', b: '2' }],
    ['no space after ;', [['cookie', 'a=1;b=2']], { a: '1', b: '2' }],
    ['spaces around', [['cookie', '  a = 1 ;  b=2  ']], { a: '1', b: '2' }],
    ['a quoted value', [['cookie', 'a="quoted value"']], { a: 'quoted value' }],
    ['a repeated name: the first wins', [['cookie', 'a=1; a=2']], { a: '1' }],
    ['several cookie headers (HTTP/2)', [['cookie', 'a=1'], ['cookie', 'b=2']], { a: '1', b: '2' }],
    ['a pair without "="', [['cookie', 'flag; a=1']], { a: '1' }],
    ['"=" inside the value', [['cookie', 'a=x=y']], { a: 'x=y' }],
    ['an empty value', [['cookie', 'a=']], { a: '' }],
    ['an empty name', [['cookie', '=v; b=2']], { b: '2' }],
    ['percent-encoding kept', [['cookie', 'a=%20x']], { a: '%20x' }],
    ['latin1 bytes kept', [['cookie', 'a=caf\u00e9']], { a: 'caf\u00e9' }],
    ['trailing ;', [['cookie', 'a=1;']], { a: '1' }],
    ['other headers ignored', [['x-cookie', 'a=1'], ['cookie', 'b=2']], { b: '2' }],
  ];

  test.each(table)('%s', async (_what, headers, expected) => {
    expect(await parsed(headers)).toEqual(expected);
  });

  test('a cookie named __proto__ is just a cookie', async () => {
    const app = recorder();
    await run(cookieMiddleware(app), http('/', { headers: [['cookie', '__proto__=x; constructor=y']] }));
    const cookies = app.scopes[0]!.cookies!;
    expect(cookies['__proto__']).toBe('x');
    expect(cookies['constructor']).toBe('y');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  test('WebSocket scopes get cookies too; the scope is copied', async () => {
    const app = recorder();
    const scope = websocket('/', { headers: [['cookie', 'a=1']] });
    await run(cookieMiddleware(app), scope, [{ type: 'websocket.connect' }]);
    expect(app.scopes[0]!.cookies).toEqual({ a: '1' });
    expect(scope).not.toHaveProperty('cookies');
  });

  test('other scopes pass through untouched', async () => {
    const app = recorder();
    const scope = { type: 'lifespan' };
    await run(cookieMiddleware(app), scope);
    expect(app.scopes[0]).toBe(scope);
  });

  test('the app must be a function', () => {
    expect(() => cookieMiddleware(null as never)).toThrow(TypeError);
  });
});

describe('setCookie / deleteCookie (strict)', () => {
  test('defaults: Path=/ and SameSite=Lax', () => {
    expect(setCookie([], 'theme', 'dark')).toEqual([['set-cookie', 'theme=dark; Path=/; SameSite=Lax']]);
  });

  test('attributes', () => {
    const headers = setCookie([], 'sid', 'abc', {
      maxAge: 3600,
      domain: 'example.com',
      path: '/app',
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
    });
    expect(headers[0]![1]).toBe('sid=abc; Max-Age=3600; Domain=example.com; Path=/app; Secure; HttpOnly; SameSite=Strict');
  });

  test('sameSite: undefined leaves it out', () => {
    expect(setCookie([], 'a', 'b', { sameSite: undefined })[0]![1]).toBe('a=b; Path=/');
  });

  test('an http.response.start event gets headers, created if needed; existing ones are kept', () => {
    const bare: ASGIEvent = { type: 'http.response.start', status: 200 };
    setCookie(bare, 'a', '1');
    expect(bare.headers).toEqual([['set-cookie', 'a=1; Path=/; SameSite=Lax']]);
    const withHeaders: ASGIEvent = { type: 'http.response.start', status: 200, headers: [['content-type', 'text/plain']] };
    setCookie(withHeaders, 'a', '1');
    setCookie(withHeaders, 'b', '2');
    expect((withHeaders.headers as Headers).map(([n]) => n)).toEqual(['content-type', 'set-cookie', 'set-cookie']);
  });

  test.each([
    ['a value with a space', 'a', 'x y'],
    ['a value with ";"', 'a', 'x;Path=/evil'],
    ['a value with CRLF', 'a', 'x\r\nset-cookie: evil=1'],
    ['a value with a quote', 'a', 'x"y'],
    ['a value with non-ASCII', 'a', 'café'],
    ['a name with "="', 'a=b', 'x'],
    ['an empty name', '', 'x'],
  ])('%s is a TypeError', (_what, name, value) => {
    expect(() => setCookie([], name, value)).toThrow(TypeError);
  });

  test('an attribute with ";" is a TypeError', () => {
    expect(() => setCookie([], 'a', 'b', { path: '/; Domain=evil.com' })).toThrow(TypeError);
  });

  test('the target must be headers or an event with array headers', () => {
    expect(() => setCookie({ type: 'x', headers: 'no' }, 'a', 'b')).toThrow(TypeError);
  });

  test('deleteCookie: empty value, Max-Age=0, Expires in 1970, Path=/', () => {
    expect(deleteCookie([], 'sessionid')).toEqual([
      ['set-cookie', 'sessionid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'],
    ]);
  });

  test.each([
    ['__Host-id', {}, 'Secure'],
    ['__Secure-id', {}, 'Secure'],
    ['id', { sameSite: 'None' as const }, 'Secure; SameSite=None'],
    ['id', { domain: 'example.com', path: '/x' }, 'Domain=example.com; Path=/x'],
  ])('deleteCookie(%s, %j) has %s', (name, options, part) => {
    expect(deleteCookie([], name, options)[0]![1]).toContain(part);
  });
});

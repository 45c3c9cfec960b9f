import { describe, expect, test } from 'vitest';
import { allowedHostsOriginValidator, originValidator } from '../../src/channels/middleware/origin.js';
import type { ASGIApplication } from '../../src/channels/types.js';
import { http, recorder, run, text, websocket } from './driveApp.js';

/** Whether `wrap(app)` lets a WebSocket with `origin` (undefined: no header) through. */
async function wsAllowed(wrap: (app: ASGIApplication) => ASGIApplication, origin: string | undefined): Promise<boolean> {
  const app = recorder();
  const headers: [string, string][] = origin === undefined ? [] : [['origin', origin]];
  const sent = await run(wrap(app), websocket('/ws/', { headers }), [{ type: 'websocket.connect' }]);
  if (app.scopes.length === 1) {
    expect(sent).toEqual([]);
    return true;
  }
  expect(sent).toEqual([{ type: 'websocket.close', code: 1000 }]);
  return false;
}

describe('originValidator patterns (WebSocket)', () => {
  const table: [string[], string | undefined, boolean][] = [
    // host only: any scheme, any port
    [['example.com'], 'http://example.com', true],
    [['example.com'], 'https://example.com:8443', true],
    [['example.com'], 'http://EXAMPLE.COM', true],
    [['EXAMPLE.com'], 'http://example.com', true],
    [['example.com'], 'http://sub.example.com', false],
    [['example.com'], 'http://example.com.evil.org', false],
    [['example.com'], 'http://evilexample.com', false],
    [['example.com'], 'http://example.com/path?q', true],
    // .domain: the domain and its subdomains
    [['.example.com'], 'http://example.com', true],
    [['.example.com'], 'https://a.b.example.com', true],
    [['.example.com'], 'http://badexample.com', false],
    // scheme://host[:port]: all three must match; default ports
    [['https://example.com'], 'https://example.com', true],
    [['https://example.com'], 'https://example.com:443', true],
    [['https://example.com'], 'http://example.com', false],
    [['https://example.com'], 'https://example.com:8443', false],
    [['https://example.com'], 'wss://example.com', false],
    [['http://example.com:8080'], 'http://example.com:8080', true],
    [['http://example.com:8080'], 'http://example.com', false],
    [['http://example.com:80'], 'http://example.com', true],
    [['http://.example.com:8080'], 'http://a.example.com:8080', true],
    [['http://.example.com:8080'], 'http://a.example.com:8081', false],
    [['chrome-extension://abcdef'], 'chrome-extension://abcdef', true],
    [['chrome-extension://abcdef'], 'chrome-extension://other', false],
    // host:port without scheme: any scheme on that port
    [['example.com:8080'], 'http://example.com:8080', true],
    [['example.com:8080'], 'https://example.com:8080', true],
    [['example.com:8080'], 'http://example.com', false],
    // IPv6
    [['[::1]'], 'http://[::1]:8000', true],
    [['http://[::1]:8000'], 'http://[::1]:8000', true],
    [['http://[::1]:8000'], 'http://[::1]', false],
    // several patterns: any may match
    [['a.com', 'https://b.com'], 'https://b.com', true],
    [['a.com', 'https://b.com'], 'http://b.com', false],
    // wildcard, missing and odd origins
    [['*'], 'http://anything.example', true],
    [['*'], undefined, true],
    [['*'], 'null', true],
    [['example.com'], undefined, false],
    [['example.com'], 'null', false],
    [['example.com'], '', false],
    [['example.com'], 'example.com', false],
    [['localhost'], 'http://localhost:99999', false],
    [['localhost'], 'http://localhost:abc', false],
    [['localhost'], 'file://', false],
    [[], 'http://example.com', false],
  ];

  test.each(table)('%j with Origin %j: allowed %s', async (patterns, origin, allowed) => {
    expect(await wsAllowed((app) => originValidator(app, patterns), origin)).toBe(allowed);
  });

  test('the last origin header counts (as Channels)', async () => {
    const app = recorder();
    const scope = websocket('/', { headers: [['origin', 'http://evil.com'], ['origin', 'http://good.com']] });
    await run(originValidator(app, ['good.com']), scope, [{ type: 'websocket.connect' }]);
    expect(app.scopes).toHaveLength(1);
  });

  test.each([[''], ['http://'], ['http://host:port'], ['host:99x']])('pattern %j is a TypeError', (pattern) => {
    expect(() => originValidator(recorder(), [pattern])).toThrow(TypeError);
  });

  test('allowedOrigins must be an array', () => {
    expect(() => originValidator(recorder(), 'example.com' as unknown as string[])).toThrow(TypeError);
  });
});

describe('originValidator on HTTP and other scopes', () => {
  test('a bad Origin on HTTP is answered 403 Forbidden', async () => {
    const app = recorder();
    const sent = await run(originValidator(app, ['good.com']), http('/', { headers: [['origin', 'http://evil.com']] }));
    expect(app.scopes).toHaveLength(0);
    expect(sent[0]).toEqual({
      type: 'http.response.start',
      status: 403,
      headers: [
        ['content-type', 'text/plain; charset=utf-8'],
        ['content-length', '9'],
      ],
    });
    expect(text(sent[1]!.body)).toBe('Forbidden');
  });

  test('a good Origin on HTTP goes through, with the scope unchanged', async () => {
    const app = recorder();
    const scope = http('/', { headers: [['origin', 'https://good.com']] });
    await run(originValidator(app, ['good.com']), scope);
    expect(app.scopes[0]).toBe(scope);
  });

  test('HTTP without an Origin goes through (same-origin navigations have none)', async () => {
    const app = recorder();
    await run(originValidator(app, ['good.com']), http('/'));
    expect(app.scopes).toHaveLength(1);
  });

  test('a WebSocket already gone when refused: nothing is sent', async () => {
    const app = recorder();
    const sent = await run(originValidator(app, ['good.com']), websocket('/', { headers: [['origin', 'http://evil.com']] }), [
      { type: 'websocket.disconnect', code: 1001 },
    ]);
    expect(sent).toEqual([]);
  });

  test.each([['lifespan'], ['channel']])('%s scopes pass through untouched', async (type) => {
    const app = recorder();
    const scope = { type, channel: 'x' };
    await run(originValidator(app, []), scope);
    expect(app.scopes[0]).toBe(scope);
  });
});

describe('allowedHostsOriginValidator', () => {
  const table: [string[] | undefined, string | undefined, boolean][] = [
    [['example.com'], 'https://example.com:8443', true],
    [['example.com'], 'http://example.com', true],
    [['example.com'], 'http://www.example.com', false],
    [['.example.com'], 'http://www.example.com', true],
    [['.example.com'], 'http://example.com', true],
    [['Example.COM'], 'http://example.com', true],
    [['[::1]'], 'http://[::1]:8000', true],
    [['*'], 'http://whatever', true],
    [['*'], undefined, true],
    [['example.com'], undefined, false],
    [[], 'http://example.com', false],
    [undefined, 'http://localhost:8000', true],
    [undefined, 'http://127.0.0.1:8000', true],
    [undefined, 'http://[::1]:8000', true],
    [undefined, 'http://example.com', false],
  ];

  test.each(table)('hosts %j with Origin %j: allowed %s', async (hosts, origin, allowed) => {
    expect(await wsAllowed((app) => allowedHostsOriginValidator(app, hosts), origin)).toBe(allowed);
  });

  test.each([['example.com:8000'], ['http://example.com'], [''], ['a b'], ['::1']])('host %j is a TypeError', (host) => {
    expect(() => allowedHostsOriginValidator(recorder(), [host])).toThrow(TypeError);
  });

  test('HTTP: refused with 403, missing Origin allowed', async () => {
    const app = recorder();
    const v = allowedHostsOriginValidator(app, ['good.com']);
    expect((await run(v, http('/', { headers: [['origin', 'http://bad.com']] })))[0]).toMatchObject({ status: 403 });
    await run(v, http('/'));
    expect(app.scopes).toHaveLength(1);
  });
});

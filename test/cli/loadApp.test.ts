// Loading `<module>[:export]`: paths and packages, default and named exports, consumer classes,
// and the errors a user sees.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LoadAppError, asApplication, loadApp, parseAppSpec } from '../../src/cli/loadApp.js';
import { AsyncConsumer } from '../../src/channels/consumers/asyncConsumer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('parseAppSpec', () => {
  it.each([
    ['app.mjs', { module: 'app.mjs', exportName: null }],
    ['app.mjs:application', { module: 'app.mjs', exportName: 'application' }],
    ['./dir/site.js:routers.main', { module: './dir/site.js', exportName: 'routers.main' }],
    ['@acme/site', { module: '@acme/site', exportName: null }],
    ['@acme/site:app', { module: '@acme/site', exportName: 'app' }],
    ['/abs/path/app.mjs:$app_1', { module: '/abs/path/app.mjs', exportName: '$app_1' }],
    ['C:\\apps\\app.mjs', { module: 'C:\\apps\\app.mjs', exportName: null }],
    ['weird:1bad', { module: 'weird:1bad', exportName: null }],
  ])('%s', (spec, expected) => {
    expect(parseAppSpec(spec)).toEqual(expected);
  });

  it('refuses an empty spec', () => {
    expect(() => parseAppSpec(' ')).toThrow(LoadAppError);
  });
});

describe('asApplication', () => {
  it('takes functions as they are and calls asApp() on consumer classes', () => {
    const fn = async (): Promise<void> => undefined;
    expect(asApplication(fn, 'x')).toBe(fn);
    class Echo extends AsyncConsumer {}
    const app = asApplication(Echo, 'Echo');
    expect(typeof app).toBe('function');
    expect((app as { consumerClass?: unknown }).consumerClass).toBe(Echo);
  });

  it.each([
    [42, /is not an application/],
    [null, /got null/],
    [class Plain {}, /is a class without a static asApp/],
  ])('refuses %s', (value, message) => {
    expect(() => asApplication(value, 'it')).toThrow(message);
  });
});

describe('loadApp', () => {
  it('loads a default export from a path relative to the directory given', async () => {
    expect(typeof (await loadApp('test/fixtures/apps/hello.mjs', root))).toBe('function');
  });

  it('loads a named export, and a consumer-like class through its asApp()', async () => {
    const named = await loadApp(join(root, 'test/fixtures/apps/named.mjs:application'), '/');
    expect(named.name).toBe('application');
    const fromClass = await loadApp('./test/fixtures/apps/named.mjs:Hello', root);
    expect(typeof fromClass).toBe('function');
  });

  it.each([
    ['./nope.mjs', /no such file/],
    ['no-such-package-spindle-test', /no file or package named "no-such-package-spindle-test"/],
    ['test/fixtures/apps/named.mjs', /has no default export; name one with .*\(it exports: Hello, application, notAnApp\)/],
    ['test/fixtures/apps/named.mjs:missing', /has no export "missing"/],
    ['test/fixtures/apps/named.mjs:notAnApp', /is not an application/],
    ['test/fixtures/apps/throws.mjs', /importing "test\/fixtures\/apps\/throws.mjs" failed/],
  ])('%s fails with a LoadAppError', async (spec, message) => {
    const p = loadApp(spec, root);
    await expect(p).rejects.toThrow(LoadAppError);
    await expect(p).rejects.toThrow(message);
  });
});

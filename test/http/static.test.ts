/**
 * static.File: files and directory trees (index names, listings, the
 * trailing-slash redirect), MIME types, HEAD, 405, validators and 304,
 * path traversal refused (dot segments, encoded ones, backslashes, NUL,
 * symlinks leaving the root), and bodies streamed through a push producer
 * (pausing, disconnects, a shrinking file, pipelining behind a stream).
 * Twisted's test_static names are given where a case reproduces one.
 * Ranges are in static-ranges.test.ts.
 */
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import {
  DateCache,
  File,
  HTTPFactory,
  MIME_TYPES,
  Resource,
  createTestRequest,
  httpDate,
  parseHttpDate,
  render,
  renderRequest,
  type Request,
} from '../../src/http/index.js';
import { ConnectionLost } from '../../src/reactor/errors.js';
import type { IPushProducer } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import type { StringTransport } from '../../src/testing/stringTransport.js';
import { SPLITS, connect, get } from './channel-helpers.js';
import { MTIME, fetch, makeFixture, openFds, waitFor, type Fixture } from './static-fixture.js';

let fx: Fixture;
let site: File;

beforeAll(() => {
  fx = makeFixture();
  site = new File(fx.root);
});

afterAll(() => fx.remove());

const etagOf = (size: number): string => `W/"${size.toString(16)}-${(MTIME * 1000).toString(16)}"`;

describe('serving files (test_staticFile, test_indexNames)', () => {
  const cases: Array<[string, string, string | (() => Buffer)]> = [
    ['/hello.txt', 'text/plain; charset=utf-8', 'hello world\n'],
    ['/data.bin', 'application/octet-stream', () => fx.payload],
    ['/big.bin', 'application/octet-stream', () => fx.big],
    ['/nested/deep/file.json', 'application/json', '{"a":1}'],
    ['/style.CSS', 'text/css; charset=utf-8', 'body{}'],
    ['/noext', 'application/octet-stream', 'no extension'],
    ['/weird%20name%20%26%20%3Cx%3E.txt', 'text/plain; charset=utf-8', 'weird'],
    ['/sub/', 'text/html; charset=utf-8', '<h1>sub</h1>'],
    ['/inside-link', 'application/octet-stream', 'hello world\n'],
    ['/empty.txt', 'text/plain; charset=utf-8', ''],
  ];
  it.each(cases)('GET %s', async (path, type, content) => {
    const expected = typeof content === 'string' ? Buffer.from(content) : content();
    const res = await fetch(site, path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('content-length')).toBe(String(expected.length));
    expect(res.headers.get('etag')).toBe(etagOf(expected.length));
    expect(res.headers.get('last-modified')).toBe(httpDate(MTIME));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.body.equals(expected)).toBe(true);
  });

  it('HEAD answers the fields of GET with no body and no stream (test_headRequest)', async () => {
    const request = createTestRequest({ method: 'HEAD', path: '/big.bin' });
    const res = await render(site, request);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(fx.big.length));
    expect(res.headers.get('etag')).toBe(etagOf(fx.big.length));
    expect(res.body.length).toBe(0);
    expect((request.transport as StringTransport).value().toString('latin1')).not.toContain('\r\n\r\n\x00');
  });

  it('other methods get 405 with Allow: GET, HEAD (test_invalidMethod)', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(site, { method, path: '/hello.txt', body: method === 'POST' ? 'x' : undefined });
      expect([method, res.status, res.headers.get('allow')]).toEqual([method, 405, 'GET, HEAD']);
    }
  });

  it('is a leaf anywhere in a tree: the rest of the path names the file', async () => {
    const root = new Resource();
    root.putChild('static', new File(fx.root));
    expect((await fetch(root, '/static/nested/deep/file.json')).text).toBe('{"a":1}');
    expect((await fetch(root, '/static/sub/')).text).toBe('<h1>sub</h1>');
    const redirect = await fetch(root, '/static');
    expect([redirect.status, redirect.headers.get('location')]).toEqual([302, '/static/']);
  });

  it('a File whose root is a file serves it for its own path', async () => {
    const one = new File(join(fx.root, 'hello.txt'));
    expect((await fetch(one, '/')).text).toBe('hello world\n');
    const root = new Resource();
    root.putChild('hello', one);
    expect((await fetch(root, '/hello')).text).toBe('hello world\n');
    expect((await fetch(root, '/hello/more')).status).toBe(404);
  });

  it('MIME types: the built-in table, the mimeTypes option (with or without a dot), defaultType', () => {
    const f = new File(fx.root, { mimeTypes: { '.TXT': 'text/x-custom', md: 'text/x-markdown' }, defaultType: 'x/default' });
    expect(f.contentType('a.txt')).toBe('text/x-custom');
    expect(f.contentType('README.md')).toBe('text/x-markdown');
    expect(f.contentType('a.PNG')).toBe('image/png');
    expect(f.contentType('archive.tar.gz')).toBe('application/gzip');
    expect(f.contentType('Makefile')).toBe('x/default');
    expect(f.contentType('a.unknown')).toBe('x/default');
    expect(site.contentType('index.html')).toBe('text/html; charset=utf-8');
    for (const [ext, type] of Object.entries(MIME_TYPES)) {
      expect([ext, type.startsWith('text/') === type.endsWith('; charset=utf-8')]).toEqual([ext, true]);
    }
  });

  it('refuses a chunk size or range limit that is not a positive integer', () => {
    expect(() => new File(fx.root, { chunkSize: 0 })).toThrow(TypeError);
    expect(() => new File(fx.root, { maxRanges: 1.5 })).toThrow(TypeError);
  });

  it('a root that does not exist answers 404 (test_staticFileDeletedRender)', async () => {
    const missing = new File(join(fx.base, 'nope'));
    expect((await fetch(missing, '/')).status).toBe(404);
    expect((await fetch(missing, '/a.txt')).status).toBe(404);
  });
});

describe('directories', () => {
  it('redirects a directory URL without its slash, query kept (test_directoryWithoutTrailingSlashRedirects)', async () => {
    const res = await fetch(site, '/sub?x=1&y=2');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/sub/?x=1&y=2');
    expect((await fetch(site, '/nested')).headers.get('location')).toBe('/nested/');
  });

  it('a directory without an index is 403 unless listings are allowed', async () => {
    expect((await fetch(site, '/empty/')).status).toBe(403);
    expect((await fetch(site, '/')).status).toBe(403);
  });

  it('indexNames: the first that exists wins', async () => {
    fx.put('idx/b.html', 'B');
    fx.put('idx/c.html', 'C');
    const f = new File(fx.root, { indexNames: ['a.html', 'b.html', 'c.html'] });
    expect((await fetch(f, '/idx/')).text).toBe('B');
  });

  it('lists a directory, names escaped and links percent-encoded (test_renderFiles, test_renderDirectories)', async () => {
    const f = new File(fx.root, { allowDirectoryListing: true });
    const res = await fetch(f, '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = res.text;
    expect(html).toContain('<title>Directory listing for /</title>');
    expect(html).toContain('<a href="hello.txt">hello.txt</a></td><td>12B</td><td>[text/plain; charset=utf-8]</td>');
    expect(html).toContain('<a href="sub/">sub/</a></td><td></td><td>[Directory]</td>');
    expect(html).toContain('<a href="weird%20name%20%26%20%3Cx%3E.txt">weird name &amp; &lt;x&gt;.txt</a>');
    expect(html).toContain('<td>300K</td>');
    expect(html.indexOf('big.bin')).toBeLessThan(html.indexOf('hello.txt'));
    // An index file still wins over the listing.
    expect((await fetch(f, '/sub/')).text).toBe('<h1>sub</h1>');
    expect((await fetch(f, '/empty/')).text).toContain('Directory listing for /empty/');
  });
});

describe('path traversal is refused (test_securityViolationNotFound, test_notFound)', () => {
  const cases: Array<[string, number]> = [
    ['/../outside/secret.txt', 404],
    ['/%2e%2e/outside/secret.txt', 404],
    ['/%2E%2E/outside/secret.txt', 404],
    ['/.%2e/outside/secret.txt', 404],
    ['/sub/../../outside/secret.txt', 404],
    ['/sub/%2e%2e/%2e%2e/outside/secret.txt', 404],
    ['/..%2Foutside%2Fsecret.txt', 404],
    ['/..%2foutside/secret.txt', 404],
    ['/..%5Coutside%5Csecret.txt', 404],
    ['/sub%5C..%5C..%5Coutside%5Csecret.txt', 404],
    ['/hello.txt%00.png', 404],
    ['/./hello.txt', 404],
    ['/sub//index.html', 404],
    ['/hello.txt/', 404],
    ['/missing.txt', 404],
    ['/missing/deeper.txt', 404],
    ['/hello.txt/deeper', 404],
    ['/escape', 403],
    ['/escape-dir/secret.txt', 403],
  ];
  it.each(cases)('GET %s → %i', async (path, status) => {
    const res = await fetch(site, path);
    expect(res.status).toBe(status);
    expect(res.text).not.toContain('TOP SECRET');
  });

  it('followSymlinks serves links that leave the root', async () => {
    const f = new File(fx.root, { followSymlinks: true });
    expect((await fetch(f, '/escape')).text).toBe('TOP SECRET');
    expect((await fetch(f, '/escape-dir/secret.txt')).text).toBe('TOP SECRET');
    expect((await fetch(f, '/%2e%2e/outside/secret.txt')).status).toBe(404);
  });

  const hasMkfifo = (() => {
    try {
      execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!hasMkfifo)('a FIFO is not served (and does not block the open)', async () => {
    mkdirSync(join(fx.root, 'fifo-dir'), { recursive: true });
    execFileSync('mkfifo', [join(fx.root, 'fifo-dir', 'pipe')]);
    expect((await fetch(site, '/fifo-dir/pipe')).status).toBe(404);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable file is 403 (test_forbiddenResource)', async () => {
    const path = fx.put('locked.txt', 'locked');
    chmodSync(path, 0);
    try {
      expect((await fetch(site, '/locked.txt')).status).toBe(403);
    } finally {
      chmodSync(path, 0o600);
    }
  });
});

describe('HTTP dates (the validators parse them)', () => {
  const T = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example
  const cases: Array<[string, number | null, number?]> = [
    ['Sun, 06 Nov 1994 08:49:37 GMT', T],
    ['Sunday, 06-Nov-94 08:49:37 GMT', T],
    ['Sun Nov  6 08:49:37 1994', T],
    ['Sun Nov 16 08:49:37 1994', T + 10 * 86400],
    ['Thursday, 01-Jan-70 00:00:00 GMT', 0],
    ['Saturday, 01-Jan-00 00:00:00 GMT', 946684800],
    // RFC 850 two-digit years fall at most 50 years after "now" (here 2060): 11 is 2011, 70 is 2070.
    ['Saturday, 01-Jan-11 00:00:00 GMT', 1293840000, 2840140800],
    ['Thursday, 01-Jan-70 00:00:00 GMT', 3155760000, 2840140800],
    ['Sun, 06 Nov 1994 08:49:37 UTC', null],
    ['sun, 06 Nov 1994 08:49:37 GMT', null],
    ['Sun, 6 Nov 1994 08:49:37 GMT', null],
    ['Sun, 31 Feb 1994 08:49:37 GMT', null],
    ['Sun, 06 Nov 1994 24:00:00 GMT', null],
    ['Sun, 06 Foo 1994 08:49:37 GMT', null],
    [' Sun, 06 Nov 1994 08:49:37 GMT', null],
    ['784111777', null],
    ['', null],
  ];
  it.each(cases)('%j → %s', (value, expected, now) => {
    expect(parseHttpDate(value, now)).toBe(expected);
  });

  it('round-trips httpDate', () => {
    for (const t of [0, T, MTIME, 4102444799]) expect(parseHttpDate(httpDate(t))).toBe(t);
  });

  it('DateCache: the field and the whole line for a time the caller read, formatted once per second', () => {
    const clock = new Clock();
    clock.advance(T + 0.25);
    const dates = new DateCache(clock);
    expect(dates.value()).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(dates.lineAt(T + 0.9)).toBe('Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n');
    const field = dates.fieldAt(T);
    expect(field).toEqual(['Date', 'Sun, 06 Nov 1994 08:49:37 GMT']);
    expect(dates.fieldAt(T + 0.5)).toBe(field);
    expect(dates.lineAt(T + 1)).toBe('Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n');
  });
});

describe('conditional requests', () => {
  const size = 12; // hello.txt
  const cases: Array<[string, Record<string, string>, number]> = [
    ['If-None-Match: our tag', { 'If-None-Match': etagOf(size) }, 304],
    ['If-None-Match: our tag without W/ (weak comparison)', { 'If-None-Match': etagOf(size).slice(2) }, 304],
    ['If-None-Match: a list holding our tag', { 'If-None-Match': `"nope", ${etagOf(size)}` }, 304],
    ['If-None-Match: *', { 'If-None-Match': '*' }, 304],
    ['If-None-Match: another tag', { 'If-None-Match': 'W/"c-0"' }, 200],
    ['If-None-Match: garbage', { 'If-None-Match': 'garbage' }, 200],
    ['If-Modified-Since: Last-Modified', { 'If-Modified-Since': httpDate(MTIME) }, 304],
    ['If-Modified-Since: later', { 'If-Modified-Since': httpDate(MTIME + 3600) }, 304],
    ['If-Modified-Since: a second before', { 'If-Modified-Since': httpDate(MTIME - 1) }, 200],
    ['If-Modified-Since: RFC 850 form', { 'If-Modified-Since': 'Tuesday, 14-Nov-23 22:13:20 GMT' }, 304],
    ['If-Modified-Since: asctime form', { 'If-Modified-Since': 'Tue Nov 14 22:13:20 2023' }, 304],
    ['If-Modified-Since: invalid', { 'If-Modified-Since': 'yesterday' }, 200],
    ['If-None-Match wins over If-Modified-Since', { 'If-None-Match': 'W/"other"', 'If-Modified-Since': httpDate(MTIME) }, 200],
  ];
  it.each(cases)('%s → %s', async (_name, headers, status) => {
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(site, { method, path: '/hello.txt', headers });
      expect([method, res.status]).toEqual([method, status]);
      expect(res.headers.get('etag')).toBe(etagOf(size));
      expect(res.headers.get('last-modified')).toBe(httpDate(MTIME));
      if (status === 304) {
        expect(res.body.length).toBe(0);
        expect(res.headers.has('content-length')).toBe(false);
      } else if (method === 'GET') {
        expect(res.text).toBe('hello world\n');
      }
    }
  });

  it('a changed file gets a new validator', async () => {
    fx.put('changing.txt', 'one');
    const first = await fetch(site, '/changing.txt');
    fx.put('changing.txt', 'three');
    const second = await fetch(site, { path: '/changing.txt', headers: { 'If-None-Match': first.headers.get('etag')! } });
    expect(second.status).toBe(200);
    expect(second.text).toBe('three');
  });
});

/**
 * Pause the request's producer right after its first write reaches the
 * transport, as a full socket buffer would; resolves then.
 */
function pauseAfterFirstWrite(request: Request): Promise<IPushProducer> {
  const transport = request.transport as StringTransport;
  const write = transport.write.bind(transport);
  return new Promise((resolve) => {
    transport.write = (data: Uint8Array): void => {
      write(data);
      if (transport.producer === null) return;
      transport.write = write;
      const producer = transport.producer as IPushProducer;
      producer.pauseProducing();
      resolve(producer);
    };
  });
}

describe('streaming through a producer', () => {
  it('registers a push producer for the body and unregisters it at the end (test_finishCalledWhenDone)', async () => {
    const f = new File(fx.root, { chunkSize: 10_000 });
    const request = createTestRequest({ path: '/big.bin' });
    const transport = request.transport as StringTransport;
    const writes: Uint8Array[] = [];
    const write = transport.write.bind(transport);
    transport.write = (data: Uint8Array): void => {
      writes.push(data);
      write(data);
    };
    const paused = pauseAfterFirstWrite(request);
    const done = render(f, request);
    const producer = await paused;
    expect(transport.streaming).toBe(true);
    // The head and the first chunk went out in one write.
    expect(writes).toHaveLength(1);
    expect(writes[0]!.length).toBeGreaterThan(10_000);
    expect(writes[0]!.length).toBeLessThan(10_000 + 300);
    producer.resumeProducing();
    const res = await done;
    expect(res.body.equals(fx.big)).toBe(true);
    expect(transport.producer).toBe(null);
  });

  it('a paused producer makes no new read; resumed, it finishes byte-exact', async () => {
    const f = new File(fx.root, { chunkSize: 4096 });
    const request = createTestRequest({ path: '/big.bin' });
    const transport = request.transport as StringTransport;
    const paused = pauseAfterFirstWrite(request);
    const done = render(f, request);
    const producer = await paused;
    const at = transport.value().length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(transport.value().length).toBe(at);
    expect(at).toBeLessThan(4096 + 300);
    producer.resumeProducing();
    const res = await done;
    expect(res.body.equals(fx.big)).toBe(true);
  });

  it('a client that disconnects stops the reads and closes the file', async () => {
    const f = new File(fx.root, { chunkSize: 4096 });
    const fds = openFds();
    const request = createTestRequest({ path: '/big.bin' });
    const transport = request.transport as StringTransport;
    const paused = pauseAfterFirstWrite(request);
    const done = render(f, request);
    let failure: Failure | null = null;
    done.addErrback((e: Failure) => {
      failure = e;
    });
    const producer = await paused;
    const at = transport.value().length;
    request.channel.connectionLost(new Failure(new ConnectionLost('gone')));
    // A StringTransport does not stop its producer: resuming shows the producer notices by itself.
    producer.resumeProducing();
    await waitFor(() => openFds() <= fds, 'the file to be closed');
    expect(transport.value().length).toBe(at);
    expect(failure).not.toBe(null);
    expect(failure!.value).toBeInstanceOf(ConnectionLost);
  });

  it('stopProducing (the transport is gone) closes the file', async () => {
    const f = new File(fx.root, { chunkSize: 4096 });
    const fds = openFds();
    const request = createTestRequest({ path: '/big.bin' });
    const transport = request.transport as StringTransport;
    const paused = pauseAfterFirstWrite(request);
    render(f, request).addErrback(() => undefined);
    const producer = await paused;
    const at = transport.value().length;
    producer.stopProducing();
    request.channel.connectionLost(new Failure(new ConnectionLost('gone')));
    producer.resumeProducing(); // ignored once stopped
    await waitFor(() => openFds() <= fds, 'the file to be closed');
    expect(transport.value().length).toBe(at);
  });

  it('a file that shrinks while it is sent aborts the connection (the short body is never taken for whole)', async () => {
    const path = fx.put('shrinking.bin', Buffer.alloc(200_000, 0x61));
    const f = new File(fx.root, { chunkSize: 4096 });
    const request = createTestRequest({ path: '/shrinking.bin' });
    const transport = request.transport as StringTransport;
    const paused = pauseAfterFirstWrite(request);
    const done = render(f, request);
    let failure: Failure | null = null;
    done.addErrback((e: Failure) => {
      failure = e;
    });
    const producer = await paused;
    truncateSync(path, 10);
    producer.resumeProducing();
    await waitFor(() => transport.disconnected, 'the abort');
    expect(failure!.value).toBeInstanceOf(ConnectionLost);
    expect(flushLoggedErrors(Error).map((e) => e.value.message)).toEqual(['the file is shorter than when it was opened']);
  });

  it.each(SPLITS)('pipelined behind a streamed file, the next request waits its turn (split: %s)', async (split) => {
    const f = new File(fx.root, { chunkSize: 8192 });
    const conn = connect((request: Request) => renderRequest(f, request));
    conn.send(get('/big.bin') + get('/hello.txt') + get('/data.bin'), split);
    await waitFor(() => conn.responses().length === 3 && conn.responses()[2]!.complete, 'three responses');
    const [a, b, c] = conn.responses();
    expect(Buffer.from(a!.body, 'latin1').equals(fx.big)).toBe(true);
    expect(b!.body).toBe('hello world\n');
    expect(Buffer.from(c!.body, 'latin1').equals(fx.payload)).toBe(true);
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('works under an HTTPFactory handler too (renderRequest)', async () => {
    const factory = new HTTPFactory((request) => renderRequest(site, request));
    const res = await render(factory, createTestRequest({ path: '/hello.txt' }));
    expect(res.text).toBe('hello world\n');
  });
});

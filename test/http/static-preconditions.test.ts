/**
 * static.File and RFC 9110 §13.2.2's preconditions: If-Match and
 * If-Unmodified-Since answer 412 when they fail, before If-None-Match /
 * If-Modified-Since are looked at. Our entity tags are weak, so If-Match
 * (strong comparison) passes only with `*`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { File, httpDate } from '../../src/http/index.js';
import { MTIME, fetch, makeFixture, type Fixture } from './static-fixture.js';

let fx: Fixture;
let site: File;

beforeAll(() => {
  fx = makeFixture();
  site = new File(fx.root);
});

afterAll(() => fx.remove());

const size = 12; // hello.txt
const etag = `W/"${size.toString(16)}-${(MTIME * 1000).toString(16)}"`;

describe('preconditions (RFC 9110 §13.1.1, §13.1.4, §13.2.2)', () => {
  const cases: Array<[string, Record<string, string>, number]> = [
    ['If-Match: *', { 'If-Match': '*' }, 200],
    ['If-Match: our weak tag (strong comparison fails)', { 'If-Match': etag }, 412],
    ['If-Match: our tag without W/', { 'If-Match': etag.slice(2) }, 412],
    ['If-Match: a list', { 'If-Match': `"a", ${etag}` }, 412],
    ['If-Match: garbage', { 'If-Match': 'garbage' }, 412],
    ['If-Unmodified-Since: Last-Modified', { 'If-Unmodified-Since': httpDate(MTIME) }, 200],
    ['If-Unmodified-Since: later', { 'If-Unmodified-Since': httpDate(MTIME + 60) }, 200],
    ['If-Unmodified-Since: a second before', { 'If-Unmodified-Since': httpDate(MTIME - 1) }, 412],
    ['If-Unmodified-Since: invalid date is ignored', { 'If-Unmodified-Since': 'yesterday' }, 200],
    ['If-Match decides over If-Unmodified-Since (passes)', { 'If-Match': '*', 'If-Unmodified-Since': httpDate(MTIME - 1) }, 200],
    ['If-Match decides over If-Unmodified-Since (fails)', { 'If-Match': '"x"', 'If-Unmodified-Since': httpDate(MTIME) }, 412],
    ['412 comes before If-None-Match', { 'If-Match': '"x"', 'If-None-Match': etag }, 412],
    ['passing If-Match, then If-None-Match → 304', { 'If-Match': '*', 'If-None-Match': etag }, 304],
    ['passing If-Unmodified-Since, then If-Modified-Since → 304', {
      'If-Unmodified-Since': httpDate(MTIME),
      'If-Modified-Since': httpDate(MTIME),
    }, 304],
  ];
  it.each(cases)('%s → %s', async (_name, headers, status) => {
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(site, { method, path: '/hello.txt', headers });
      expect([method, res.status]).toEqual([method, status]);
      expect(res.headers.get('etag')).toBe(etag);
      if (status !== 200) expect(res.body.length).toBe(0);
      else if (method === 'GET') expect(res.text).toBe('hello world\n');
    }
  });

  it('a Range request whose precondition fails gets 412, not 206', async () => {
    const res = await fetch(site, { path: '/hello.txt', headers: { Range: 'bytes=0-3', 'If-Match': '"x"' } });
    expect(res.status).toBe(412);
    expect(res.body.length).toBe(0);
  });
});

/**
 * static.File byte ranges: parseByteRanges on its own (Twisted's
 * test_invalidRanges, test_rangeMissingStop/Start, test_rangeWithSpace,
 * test_nullRangeElements, test_multipleRanges), then the responses: single
 * ranges (206, Content-Range), suffix and open ranges, ranges past the end,
 * malformed fields ignored (200), 416 with `bytes *\/size`, multipart/
 * byteranges, the limits against range abuse, If-Range, HEAD, and ranges
 * crossing read-chunk boundaries.
 */
import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { File, httpDate, parseByteRanges, type ByteRange } from '../../src/http/index.js';
import { MTIME, fetch, makeFixture, parseMultipart, type Fixture } from './static-fixture.js';

let fx: Fixture;
let site: File;

beforeAll(() => {
  fx = makeFixture();
  site = new File(fx.root);
});

afterAll(() => fx.remove());

describe('parseByteRanges', () => {
  const r = (start: number, end: number): ByteRange => ({ start, end });
  const cases: Array<[string, number, ByteRange[] | null]> = [
    ['bytes=2-5', 64, [r(2, 5)]],
    ['bytes=0-', 64, [r(0, 63)]],
    ['bytes=-3', 64, [r(61, 63)]],
    ['bytes=-100', 64, [r(0, 63)]],
    ['bytes=40-100', 64, [r(40, 63)]],
    ['bytes=0-0', 64, [r(0, 0)]],
    ['bytes=63-63', 64, [r(63, 63)]],
    ['bytes=1-2,3-4', 64, [r(1, 2), r(3, 4)]],
    ['bytes=5-6,1-2', 64, [r(5, 6), r(1, 2)]],
    ['BYTES=1-2', 64, [r(1, 2)]],
    [' bytes=1-2 ', 64, [r(1, 2)]],
    ['bytes =1-2 ', 64, [r(1, 2)]],
    ['bytes= 1-2', 64, [r(1, 2)]],
    ['bytes=1 -2', 64, [r(1, 2)]],
    ['bytes=1- 2', 64, [r(1, 2)]],
    ['bytes=1-2, ,\t,', 64, [r(1, 2)]],
    ['bytes=0-99999999999999999999', 64, [r(0, 63)]],
    ['bytes=-99999999999999999999', 64, [r(0, 63)]],
    // Unsatisfiable: an empty list (416).
    ['bytes=64-', 64, []],
    ['bytes=67-108', 64, []],
    ['bytes=-0', 64, []],
    ['bytes=99999999999999999999-', 64, []],
    ['bytes=64-70,-0', 64, []],
    // Some satisfiable, some not: the satisfiable ones.
    ['bytes=0-1,100-200', 64, [r(0, 1)]],
    // Ignored (null): another unit, or a syntax error anywhere.
    ['bytes', 64, null],
    ['unknown=1-2', 64, null],
    ['foobar=0-43', 64, null],
    ['bytes=3', 64, null],
    ['bytes=-', 64, null],
    ['bytes=foo-', 64, null],
    ['bytes=-foo', 64, null],
    ['bytes=5-4', 64, null],
    ['bytes=20-13', 64, null],
    ['bytes=', 64, null],
    ['bytes=,', 64, null],
    ['bytes=1-2,x', 64, null],
    ['bytes=1-2;3-4', 64, null],
    ['bytes=0x1-2', 64, null],
    ['bytes=+1-2', 64, null],
    ['bytes=1.0-2', 64, null],
  ];
  it.each(cases)('%j of %i bytes', (value, size, expected) => {
    expect(parseByteRanges(value, size)).toEqual(expected);
  });
});

describe('single ranges (test_explicitRange, test_implicitEnd, test_implicitStart, test_explicitRangeOverlappingEnd)', () => {
  const cases: Array<[string, string, number, number]> = [
    ['bytes=3-43', 'bytes 3-43/64', 3, 44],
    ['bytes=23-', 'bytes 23-63/64', 23, 64],
    ['bytes=-17', 'bytes 47-63/64', 47, 64],
    ['bytes=40-100', 'bytes 40-63/64', 40, 64],
    ['bytes=0-0', 'bytes 0-0/64', 0, 1],
    ['bytes=-100', 'bytes 0-63/64', 0, 64],
    ['bytes=0-1,100-200', 'bytes 0-1/64', 0, 2],
  ];
  it.each(cases)('Range: %s → 206 %s', async (range, contentRange, from, to) => {
    const res = await fetch(site, { path: '/data.bin', headers: { Range: range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(contentRange);
    expect(res.headers.get('content-length')).toBe(String(to - from));
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.body.equals(fx.payload.subarray(from, to))).toBe(true);
  });

  it('a range across read-chunk boundaries is byte-exact', async () => {
    const f = new File(fx.root, { chunkSize: 1000 });
    const res = await fetch(f, { path: '/big.bin', headers: { Range: 'bytes=65530-131080' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 65530-131080/${fx.big.length}`);
    expect(res.body.equals(fx.big.subarray(65530, 131081))).toBe(true);
  });
});

describe('ranges that are ignored (test_invalidRangeRequest, test_statusCodeRequestedRangeNotSatisfiable)', () => {
  it.each(['foobar=0-43', 'bytes=20-13', 'bytes=-', 'bytes=x-', 'bytes'])('Range: %s → 200, the whole file', async (range) => {
    const res = await fetch(site, { path: '/data.bin', headers: { Range: range } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('64');
    expect(res.headers.has('content-range')).toBe(false);
    expect(res.body.equals(fx.payload)).toBe(true);
  });

  it('a Range on HEAD is ignored', async () => {
    const res = await fetch(site, { method: 'HEAD', path: '/data.bin', headers: { Range: 'bytes=0-9' } });
    expect([res.status, res.headers.get('content-length'), res.body.length]).toEqual([200, '64', 0]);
  });

  it('a Range on an empty file is ignored', async () => {
    const res = await fetch(site, { path: '/empty.txt', headers: { Range: 'bytes=-5' } });
    expect([res.status, res.headers.get('content-length')]).toEqual([200, '0']);
  });

  it('too many ranges, or ranges adding up to more than the file, get the whole file', async () => {
    const many = `bytes=${Array.from({ length: 17 }, (_, i) => `${i}-${i}`).join(',')}`;
    expect((await fetch(site, { path: '/data.bin', headers: { Range: many } })).status).toBe(200);
    const overlapping = 'bytes=0-63,0-63';
    const res = await fetch(site, { path: '/data.bin', headers: { Range: overlapping } });
    expect(res.status).toBe(200);
    expect(res.body.equals(fx.payload)).toBe(true);
    const f = new File(fx.root, { maxRanges: 2 });
    expect((await fetch(f, { path: '/data.bin', headers: { Range: 'bytes=0-1,2-3,4-5' } })).status).toBe(200);
    expect((await fetch(f, { path: '/data.bin', headers: { Range: 'bytes=0-1,2-3' } })).status).toBe(206);
  });
});

describe('unsatisfiable ranges (test_invalidStartBytePos)', () => {
  it.each(['bytes=64-', 'bytes=67-108', 'bytes=-0', 'bytes=100-200,300-'])('Range: %s → 416', async (range) => {
    const res = await fetch(site, { path: '/data.bin', headers: { Range: range } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */64');
    expect(res.headers.get('content-length')).toBe('0');
    expect(res.body.length).toBe(0);
  });
});

describe('multiple ranges: multipart/byteranges (test_multipleRangeRequest, test_multipleRangeRequestWithRangeOverlappingEnd)', () => {
  const cases: Array<[string, Array<[number, number]>]> = [
    ['bytes=0-2,20-30,40-50', [[0, 2], [20, 30], [40, 50]]],
    ['bytes=0-2,40-100', [[0, 2], [40, 63]]],
    ['bytes=-4,0-1', [[60, 63], [0, 1]]],
    ['bytes=0-1,100-200,10-12', [[0, 1], [10, 12]]],
  ];
  it.each(cases)('Range: %s', async (range, expected) => {
    const res = await fetch(site, { path: '/data.bin', headers: { Range: range } });
    expect(res.status).toBe(206);
    const type = res.headers.get('content-type')!;
    const m = /^multipart\/byteranges; boundary=([0-9a-f]+)$/.exec(type);
    expect(m).not.toBe(null);
    expect(res.headers.get('content-length')).toBe(String(res.body.length));
    expect(res.headers.has('content-range')).toBe(false);
    const parts = parseMultipart(res.body, m![1]!);
    expect(parts.map((p) => p.range)).toEqual(expected.map(([s, e]) => `bytes ${s}-${e}/64`));
    for (const [i, [s, e]] of expected.entries()) {
      expect(parts[i]!.type).toBe('application/octet-stream');
      expect(parts[i]!.body.equals(fx.payload.subarray(s, e + 1))).toBe(true);
    }
  });

  it('parts crossing read-chunk boundaries are byte-exact', async () => {
    const f = new File(fx.root, { chunkSize: 777 });
    const ranges: Array<[number, number]> = [[0, 5000], [100_000, 100_010], [200_000, 307_206]];
    const res = await fetch(f, { path: '/big.bin', headers: { Range: `bytes=${ranges.map(([s, e]) => `${s}-${e}`).join(',')}` } });
    expect(res.status).toBe(206);
    const boundary = /boundary=(\w+)/.exec(res.headers.get('content-type')!)![1]!;
    const parts = parseMultipart(res.body, boundary);
    expect(parts).toHaveLength(3);
    for (const [i, [s, e]] of ranges.entries()) {
      expect(parts[i]!.range).toBe(`bytes ${s}-${e}/${fx.big.length}`);
      expect(parts[i]!.body.equals(fx.big.subarray(s, e + 1))).toBe(true);
    }
  });

  it('each part carries the file type', async () => {
    const res = await fetch(site, { path: '/hello.txt', headers: { Range: 'bytes=0-1,6-10' } });
    const boundary = /boundary=(\w+)/.exec(res.headers.get('content-type')!)![1]!;
    const parts = parseMultipart(res.body, boundary);
    expect(parts.map((p) => [p.type, p.body.toString()])).toEqual([
      ['text/plain; charset=utf-8', 'he'],
      ['text/plain; charset=utf-8', 'world'],
    ]);
  });
});

describe('If-Range', () => {
  const cases: Array<[string, string, number]> = [
    ['the Last-Modified date', httpDate(MTIME), 206],
    ['another date', httpDate(MTIME - 10), 200],
    ['an invalid date', 'not a date', 200],
    ['our (weak) entity tag: never a strong match', `W/"40-${(MTIME * 1000).toString(16)}"`, 200],
    ['a strong entity tag', `"40-${(MTIME * 1000).toString(16)}"`, 200],
  ];
  it.each(cases)('If-Range: %s → %s', async (_name, value, status) => {
    const res = await fetch(site, { path: '/data.bin', headers: { Range: 'bytes=0-9', 'If-Range': value } });
    expect(res.status).toBe(status);
    expect(res.body.equals(status === 206 ? fx.payload.subarray(0, 10) : fx.payload)).toBe(true);
  });

  it('If-Range without Range changes nothing', async () => {
    const res = await fetch(site, { path: '/data.bin', headers: { 'If-Range': httpDate(MTIME) } });
    expect(res.status).toBe(200);
  });

  it('a 304 wins over a Range', async () => {
    const res = await fetch(site, { path: '/data.bin', headers: { Range: 'bytes=0-9', 'If-Modified-Since': httpDate(MTIME) } });
    expect(res.status).toBe(304);
    expect(Buffer.byteLength(res.body)).toBe(0);
  });
});

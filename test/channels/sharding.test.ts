/**
 * consistentHash against channels_redis's `_consistent_hash`: a table computed with Debian's
 * Python (binascii.crc32 and channels_redis.utils), and a live comparison on random names.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { consistentHash, crc32 } from '../../src/channels/layers/sharding.js';

const RINGS = [1, 2, 3, 4, 5, 7, 16];

// [value, binascii.crc32(value.encode()), [_consistent_hash(value, n) for n in RINGS]]
const TABLE: [string, number, number[]][] = [
  ['', 0, [0, 0, 0, 0, 0, 0, 0]],
  ['a', 3904355907, [0, 1, 2, 3, 4, 6, 14]],
  ['123456789', 3421780262, [0, 1, 1, 2, 2, 4, 9]],
  ['specific.abc!', 4124610115, [0, 1, 2, 3, 4, 6, 14]],
  ['room1', 3832756778, [0, 1, 1, 2, 3, 4, 10]],
  ['asgi', 3938172399, [0, 1, 2, 3, 4, 6, 13]],
  ['tasks', 1347970455, [0, 0, 1, 1, 1, 2, 5]],
  ['worker-q', 1256468784, [0, 0, 0, 0, 0, 0, 1]],
  ['chat.lobby', 233268744, [0, 0, 1, 1, 1, 2, 6]],
  ['g1', 985395109, [0, 1, 2, 3, 4, 6, 15]],
  ['specific.23ef87db385443b7bbfcb3c68412a2a9!', 268779336, [0, 1, 2, 3, 4, 6, 15]],
  ['specific.23ef87db385443b7bbfcb3c68412a2a9!f91f542c038e4bdfa5f386724d2c50c0', 1380752750, [0, 1, 2, 3, 4, 5, 13]],
  ['http.response!abc', 2692274005, [0, 0, 1, 1, 2, 3, 7]],
  ['café', 2561491637, [0, 0, 0, 0, 0, 1, 2]],
  ['thumbnails-generate', 2054125085, [0, 0, 1, 1, 1, 2, 6]],
  ['asgi__group__room', 1152568505, [0, 1, 2, 3, 3, 5, 12]],
  ['x'.repeat(99), 3754881318, [0, 0, 0, 0, 0, 0, 1]],
];

describe('crc32 and consistentHash as channels_redis', () => {
  test.each(TABLE)('%j', (value, crc, indexes) => {
    expect(crc32(value)).toBe(crc);
    expect(crc32(Buffer.from(value, 'utf8'))).toBe(crc);
    expect(RINGS.map((n) => consistentHash(value, n))).toEqual(indexes);
  });

  test('the example of channels.md §3.5: crc32("specific.abc!") & 0xFFF = 3651 → 1 of 2, 2 of 3', () => {
    expect(crc32('specific.abc!') & 0xfff).toBe(3651);
    expect([consistentHash('specific.abc!', 2), consistentHash('specific.abc!', 3)]).toEqual([1, 2]);
  });

  test.each([[0], [-1], [1.5], [Number.NaN]])('a ring of %d hosts is a RangeError', (n) => {
    expect(() => consistentHash('x', n)).toThrow(RangeError);
  });

  const probe = spawnSync('/usr/bin/python3', ['-c', 'import channels_redis.utils'], { encoding: 'utf8', timeout: 10_000 });
  const missing = probe.status === 0 ? null : 'Debian’s python3-channels-redis is not installed';
  if (missing !== null && process.env.CI === 'true') throw new Error(`CI must have ${missing}`);

  test.skipIf(missing !== null)('agrees with channels_redis.utils._consistent_hash on 300 random names, live', () => {
    const names = Array.from({ length: 300 }, (_, i) => `specific.${randomBytes(16).toString('hex')}!${i % 3 === 0 ? randomBytes(16).toString('hex') : ''}`);
    const script = 'import json,sys\nfrom channels_redis.utils import _consistent_hash as h\nnames=json.load(sys.stdin)\nprint(json.dumps([[h(n, r) for r in (2,3,5,16)] for n in names]))';
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(names), encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    const expected = JSON.parse(r.stdout) as number[][];
    expect(names.map((n) => [2, 3, 5, 16].map((k) => consistentHash(n, k)))).toEqual(expected);
  });
});

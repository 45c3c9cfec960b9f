/**
 * The msgpack codec against bytes made by Python's msgpack (`packb(v, use_bin_type=True)`), the
 * encoder channels_redis uses: test/fixtures/msgpack/cases.json, written by generate.py beside
 * it. Every case: decode(bytes) is the value; encode(value) is the bytes where the mapping is
 * canonical. The last test re-runs the generator and checks the committed file is current.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ExtensionNotSupported,
  MsgpackDecodeError,
  MsgpackExt,
  decode,
  encode,
  type DecodeOptions,
  type MsgpackDecodeErrorCode,
} from '../../src/redis/msgpack/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/msgpack/', import.meta.url));
const CASES_FILE = join(FIXTURES, 'cases.json');
const GENERATOR = join(FIXTURES, 'generate.py');
const PYTHON = '/usr/bin/python3';

interface Case {
  name: string;
  hex: string;
  value: unknown;
  encode: boolean;
  options?: DecodeOptions;
  error?: MsgpackDecodeErrorCode;
}

const cases = JSON.parse(readFileSync(CASES_FILE, 'utf8')) as Case[];

/** The JS value a case's tagged JSON stands for. */
function fromJson(j: unknown): unknown {
  if (Array.isArray(j)) return j.map(fromJson);
  if (j === null || typeof j !== 'object') return j;
  const entries = Object.entries(j);
  if (entries.length === 1) {
    const [tag, v] = entries[0]!;
    switch (tag) {
      case '$bigint':
        return BigInt(v as string);
      case '$float':
        return v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);
      case '$bytes':
        return Buffer.from(v as string, 'hex');
      case '$map':
        return new Map((v as [unknown, unknown][]).map(([k, x]) => [fromJson(k), fromJson(x)]));
      case '$ext': {
        const [type, data] = v as [number, string];
        return new MsgpackExt(type, Buffer.from(data, 'hex'));
      }
    }
  }
  // fromEntries defines "__proto__" as an own property, as decode does.
  return Object.fromEntries(entries.map(([k, x]) => [k, fromJson(x)]));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof MsgpackDecodeError ? e.code : `not a MsgpackDecodeError: ${String(e)}`;
  }
  return 'no error';
}

describe('msgpack against Python msgpack (use_bin_type=True)', () => {
  it('has the fixture cases', () => {
    expect(cases.length).toBeGreaterThan(100);
  });

  describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const bytes = Buffer.from(c.hex, 'hex');
    const expected = fromJson(c.value);

    it('decodes to the value', () => {
      expect(decode(bytes, c.options)).toEqual(expected);
    });

    if (c.error !== undefined) {
      it(`without options, refuses it with ${c.error}`, () => {
        expect(codeOf(() => decode(bytes))).toBe(c.error);
        if (c.error === 'EXTENSION_NOT_SUPPORTED') expect(() => decode(bytes)).toThrow(ExtensionNotSupported);
      });
    }

    if (c.encode) {
      it('encodes to the same bytes', () => {
        expect(encode(expected).toString('hex')).toBe(c.hex);
        expect(encode(decode(bytes, c.options)).toString('hex')).toBe(c.hex);
      });
    } else {
      it('re-encodes to bytes that decode to the same value', () => {
        expect(decode(encode(expected), c.options)).toEqual(expected);
      });
    }

    it('refuses every truncation of it', () => {
      // Large cases: the cut points near the ends are the interesting ones.
      const cuts = bytes.length <= 300 ? [...Array(bytes.length).keys()] : [0, 1, 2, 3, 4, 5, bytes.length - 2, bytes.length - 1];
      for (const cut of cuts) expect(codeOf(() => decode(bytes.subarray(0, cut), c.options)), `cut at ${cut}`).toBe('TRUNCATED');
    });
  });

  it('the group_send member is byte for byte the one stored by channels_redis (channels.md §3.3)', () => {
    // The 220-byte dump, less its 12 random prefix bytes.
    const dump = `
      92ba 782a 308e f19f bce0 aec3 85a4 7479 7065 ac63 6861 742e 6d65 7373 6167 65a4
      7465 7874 a268 69a1 6e01 a372 6177 c402 0001 b05f 5f61 7367 695f 6368 616e 6e65
      6c5f 5f92 d94a 7370 6563 6966 6963 2e32 3365 6638 3764 6233 3835 3434 3362 3762
      6266 6362 3363 3638 3431 3261 3261 3921 6639 3166 3534 3263 3033 3865 3462 6466
      6135 6633 3836 3732 3464 3263 3530 6330 d94a 7370 6563 6966 6963 2e32 3365 6638
      3764 6233 3835 3434 3362 3762 6266 6362 3363 3638 3431 3261 3261 3921 6662 3766
      6432 3032 6637 6331 3465 3636 3837 3538 3964 6137 6461 3439 3637 3931`.replace(/\s+/g, '');
    expect(dump.length / 2).toBe(220);
    const member = dump.slice(24);
    const c = cases.find((x) => x.name.startsWith('channels group_send member'))!;
    expect(c.hex).toBe(member);
    const message = decode(Buffer.from(member, 'hex')) as Record<string, unknown>;
    expect(message.__asgi_channel__).toEqual([
      'specific.23ef87db385443b7bbfcb3c68412a2a9!f91f542c038e4bdfa5f386724d2c50c0',
      'specific.23ef87db385443b7bbfcb3c68412a2a9!fb7fd202f7c14e6687589da7da496791',
    ]);
    expect(encode(message).toString('hex')).toBe(member);
  });

  it('the committed cases.json is what generate.py writes with this machine’s Python msgpack', (ctx) => {
    const missing = pythonMsgpackMissing();
    if (missing !== null) {
      if (process.env.CI === 'true') throw new Error(`CI must have Python's msgpack to check the fixture: ${missing}`);
      console.log(`skipping the fixture freshness check: ${missing}`);
      ctx.skip(missing);
    }
    const dir = mkdtempSync(join(tmpdir(), 'spindle-msgpack-'));
    try {
      const run = spawnSync(PYTHON, [GENERATOR, dir], { encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stderr).toBe(0);
      const fresh = readFileSync(join(dir, 'cases.json'), 'utf8').split('\n');
      const committed = readFileSync(CASES_FILE, 'utf8').split('\n');
      const firstDiff = fresh.findIndex((line, i) => line !== committed[i]);
      // Report the first line that differs, not a 700 KB diff.
      expect(firstDiff === -1 ? null : { line: firstDiff + 1, fresh: fresh[firstDiff]!.slice(0, 300), committed: committed[firstDiff]?.slice(0, 300) }).toBeNull();
      expect(fresh.length).toBe(committed.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function pythonMsgpackMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  const probe = spawnSync(PYTHON, ['-c', 'import msgpack'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status !== 0) return `${PYTHON} cannot import msgpack (apt-get install python3-msgpack)`;
  return null;
}

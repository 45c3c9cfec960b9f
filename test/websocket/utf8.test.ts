import { describe, expect, it } from 'vitest';
import { Utf8Validator, isValidUtf8 } from '../../src/websocket/index.js';
import { hex, rng } from './helpers.js';

// [hex, valid] — Markus Kuhn's test file as used by Autobahn 6.5–6.23, plus boundaries.
const table: Array<[string, boolean, string]> = [
  ['', true, 'empty'],
  ['48656c6c6f', true, 'ASCII'],
  ['cebae1bdb9cf83cebcceb5', true, '6.5.1 κόσμε'],
  ['00', true, '6.7.1 U+0000'],
  ['c280', true, '6.7.2 U+0080'],
  ['e0a080', true, '6.7.3 U+0800'],
  ['f0908080', true, '6.7.4 U+10000'],
  ['7f', true, '6.9.1 U+007F'],
  ['dfbf', true, '6.9.2 U+07FF'],
  ['efbfbf', true, '6.9.3 U+FFFF'],
  ['f48fbfbf', true, '6.11.4 U+10FFFF'],
  ['ed9fbf', true, '6.11.1 U+D7FF'],
  ['ee8080', true, '6.11.2 U+E000'],
  ['efbfbd', true, '6.23.5 U+FFFD'],
  ['efbfbe', true, '6.22.1 U+FFFE non-character'],
  ['f8888080', false, '6.8.1 5-byte form'],
  ['f888808080', false, '6.8.1 5-byte form'],
  ['fc8480808080', false, '6.8.2 6-byte form'],
  ['f4908080', false, '6.11.5 above U+10FFFF'],
  ['f7bfbfbf', false, '6.10.x F7 lead'],
  ['80', false, '6.12.1 lone continuation'],
  ['bf', false, '6.12.2'],
  ['80bf', false, '6.12.3'],
  ['c020', false, '6.13.1 lonely start'],
  ['e020', false, '6.13.x lonely 3-byte start'],
  ['c0', false, '6.14.1 truncated 2-byte'],
  ['e080', false, '6.14.2 truncated'],
  ['efbf', false, '6.14.7 truncated U+FFFF'],
  ['f7bfbf', false, '6.14.8'],
  ['fe', false, '6.16.1 FE'],
  ['ff', false, '6.16.2 FF'],
  ['fefeffff', false, '6.16.3'],
  ['c0af', false, '6.17.1 overlong /'],
  ['e080af', false, '6.17.2'],
  ['f08080af', false, '6.17.3'],
  ['c1bf', false, '6.18.1 max overlong 2-byte'],
  ['e09fbf', false, '6.18.2 max overlong 3-byte'],
  ['f08fbfbf', false, '6.18.3 max overlong 4-byte'],
  ['c080', false, '6.19.1 overlong NUL'],
  ['eda080', false, '6.20.1 U+D800'],
  ['edbfbf', false, '6.20.7 U+DFFF'],
  ['eda080edb080', false, '6.21.1 paired surrogates'],
  ['edafbfedbfbf', false, '6.21.8'],
];

describe('UTF-8 validation table', () => {
  for (const [h, valid, name] of table) {
    it(`${name} (${h || 'empty'}) is ${valid ? 'valid' : 'invalid'}`, () => {
      const b = hex(h);
      expect(isValidUtf8(b)).toBe(valid);
      const v = new Utf8Validator();
      const r = v.write(b);
      expect(r === -1 && v.end()).toBe(valid);
      // Byte at a time gives the same verdict.
      const v2 = new Utf8Validator();
      let bad = false;
      for (const byte of b) if (v2.write(Uint8Array.of(byte)) !== -1) bad = true;
      expect(!bad && v2.end()).toBe(valid);
      // And agrees with the WHATWG decoder.
      let decoderValid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(b);
      } catch {
        decoderValid = false;
      }
      expect(decoderValid).toBe(valid);
    });
  }

  it('reports the index of the first offending byte', () => {
    const v = new Utf8Validator();
    expect(v.write(hex('41 42 f4 90 80'))).toBe(3);
    expect(v.failed).toBe(true);
    expect(v.write(hex('41'))).toBe(0); // stays rejected
    v.reset();
    expect(v.write(hex('ce'))).toBe(-1);
    expect(v.end()).toBe(false);
    expect(v.write(hex('ba'))).toBe(-1);
    expect(v.end()).toBe(true);
  });

  it('respects start/end bounds', () => {
    const b = hex('ff 41 42 ff');
    expect(isValidUtf8(b, 1, 3)).toBe(true);
    expect(new Utf8Validator().write(b, 1, 3)).toBe(-1);
    expect(new Utf8Validator().write(b, 1, 4)).toBe(3);
  });
});

/** First index at which the WHATWG streaming decoder throws, or -1 (it fails fast too). */
function decoderFailIndex(b: Uint8Array): number {
  const d = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < b.length; i++) {
    try {
      d.decode(b.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  return -1;
}

function randomInput(next: () => number): Uint8Array {
  const pieces: number[] = [];
  const n = Math.floor(next() * 80);
  const interesting = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff];
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.35) {
      pieces.push(0x20 + Math.floor(next() * 0x5f));
    } else if (r < 0.7) {
      // A valid code point, sometimes with a corrupted byte.
      const cp = Math.floor(next() * 0x110000);
      if (cp >= 0xd800 && cp < 0xe000) continue;
      const enc = [...Buffer.from(String.fromCodePoint(cp), 'utf8')];
      if (next() < 0.2) enc[Math.floor(next() * enc.length)] = interesting[Math.floor(next() * interesting.length)]!;
      if (next() < 0.1) enc.pop();
      pieces.push(...enc);
    } else {
      pieces.push(interesting[Math.floor(next() * interesting.length)]!);
    }
  }
  // Sometimes pad to exercise the native fast path.
  if (next() < 0.3) {
    const pad = Array.from({ length: 60 + Math.floor(next() * 100) }, () => 0x61);
    if (next() < 0.5) pieces.unshift(...pad);
    else pieces.push(...pad);
  }
  return Uint8Array.from(pieces);
}

describe('UTF-8 validator against TextDecoder (fatal)', () => {
  it('agrees on verdict and fail-fast index for 20000 random inputs, in random splits', () => {
    const next = rng(0x5eed);
    let invalid = 0;
    for (let t = 0; t < 20000; t++) {
      const b = randomInput(next);
      const expectIndex = decoderFailIndex(b);
      let decoderValid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(b);
      } catch {
        decoderValid = false;
      }
      if (!decoderValid) invalid++;
      expect(isValidUtf8(b)).toBe(decoderValid);
      // Whole.
      const v = new Utf8Validator();
      const idx = v.write(b);
      expect(idx).toBe(expectIndex);
      if (idx === -1) expect(v.end()).toBe(decoderValid);
      // Random 3-way split.
      const a = Math.floor(next() * (b.length + 1));
      const c = a + Math.floor(next() * (b.length - a + 1));
      const v2 = new Utf8Validator();
      let found = -1;
      for (const [s, e] of [[0, a], [a, c], [c, b.length]] as const) {
        const r = v2.write(b, s, e);
        if (r !== -1) {
          found = r;
          break;
        }
      }
      expect(found).toBe(expectIndex);
    }
    expect(invalid).toBeGreaterThan(2000); // the generator exercises both outcomes
  });

  it('validates every code point boundary region', () => {
    for (let cp = 0; cp < 0x110000; cp += cp < 0x11000 ? 1 : 97) {
      if (cp >= 0xd800 && cp < 0xe000) {
        const enc = Uint8Array.of(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
        expect(isValidUtf8(enc)).toBe(false);
        continue;
      }
      expect(isValidUtf8(Buffer.from(String.fromCodePoint(cp), 'utf8'))).toBe(true);
    }
  });
});

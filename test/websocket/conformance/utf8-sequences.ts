/**
 * The UTF-8 test sequences of Autobahn's cases 6.5–6.23 (after Markus Kuhn's UTF-8 decoder
 * stress test), as `[valid, bytes]` per sub-group, in Autobahn's order so case numbers match.
 */

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function cat(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
}

/** κόσμε */
export const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

function prefixes(): Array<[boolean, Buffer]> {
  // Code points of κόσμε end after bytes 2, 5, 7, 9 and 11.
  const ends = new Set([2, 5, 7, 9, 11]);
  return Array.from({ length: KOSME.length }, (_, i) => [ends.has(i + 1), KOSME.subarray(0, i + 1)] as [boolean, Buffer]);
}

function range(from: number, to: number, withSpace: boolean): Buffer {
  const out: number[] = [];
  for (let b = from; b < to; b++) {
    out.push(b);
    if (withSpace) out.push(0x20);
  }
  return Buffer.from(out);
}

const MISSING_LAST = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(hex);

function nonCharacters(): Array<[boolean, Buffer]> {
  const out: Array<[boolean, Buffer]> = [
    [true, hex('efbfbe')],
    [true, hex('efbfbf')],
  ];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // above U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        out.push([true, Buffer.from([z1, z2, 0xbf, z3])]);
      }
    }
  }
  return out;
}

/** Sub-groups 6.5 … 6.23: a title and the `[valid, payload]` cases. */
export const UTF8_SEQUENCES: ReadonlyArray<readonly [string, ReadonlyArray<readonly [boolean, Buffer]>]> = [
  [
    'Some valid UTF-8 sequences',
    [
      [true, cat('hello', hex('24'), 'world')],
      [true, cat('hello', hex('c2a2'), 'world')],
      [true, cat('hello', hex('e282ac'), 'world')],
      [true, cat('hello', hex('f0a4ada2'), 'world')],
      [true, KOSME],
    ],
  ],
  ['All prefixes of a valid UTF-8 string that contains multi-byte code points', prefixes()],
  ['First possible sequence of a certain length', [[true, hex('00')], [true, hex('c280')], [true, hex('e0a080')], [true, hex('f0908080')]]],
  ['First possible sequence length 5/6 (invalid codepoints)', [[false, hex('f888808080')], [false, hex('fc8480808080')]]],
  ['Last possible sequence of a certain length', [[true, hex('7f')], [true, hex('dfbf')], [true, hex('efbfbf')], [true, hex('f48fbfbf')]]],
  ['Last possible sequence length 4/5/6 (invalid codepoints)', [[false, hex('f7bfbfbf')], [false, hex('fbbfbfbfbf')], [false, hex('fdbfbfbfbfbf')]]],
  [
    'Other boundary conditions',
    [[true, hex('ed9fbf')], [true, hex('ee8080')], [true, hex('efbfbd')], [true, hex('f48fbfbf')], [false, hex('f4908080')]],
  ],
  [
    'Unexpected continuation bytes',
    [
      [false, hex('80')],
      [false, hex('bf')],
      [false, hex('80bf')],
      [false, hex('80bf80')],
      [false, hex('80bf80bf')],
      [false, hex('80bf80bf80')],
      [false, hex('80bf80bf80bf')],
      [false, range(0x80, 0xbf, false)],
    ],
  ],
  [
    'Lonely start characters',
    [
      [false, range(0xc0, 0xdf, true)],
      [false, range(0xe0, 0xef, true)],
      [false, range(0xf0, 0xf7, true)],
      [false, range(0xf8, 0xfb, true)],
      [false, range(0xfc, 0xfd, true)],
    ],
  ],
  ['Sequences with last continuation byte missing', MISSING_LAST.map((b) => [false, b] as const)],
  ['Concatenation of incomplete sequences', [[false, Buffer.concat(MISSING_LAST)]]],
  ['Impossible bytes', [[false, hex('fe')], [false, hex('ff')], [false, hex('fefeffff')]]],
  [
    'Examples of an overlong ASCII character',
    [[false, hex('c0af')], [false, hex('e080af')], [false, hex('f08080af')], [false, hex('f8808080af')], [false, hex('fc80808080af')]],
  ],
  [
    'Maximum overlong sequences',
    [[false, hex('c1bf')], [false, hex('e09fbf')], [false, hex('f08fbfbf')], [false, hex('f887bfbfbf')], [false, hex('fc83bfbfbfbf')]],
  ],
  [
    'Overlong representation of the NUL character',
    [[false, hex('c080')], [false, hex('e08080')], [false, hex('f0808080')], [false, hex('f880808080')], [false, hex('fc8080808080')]],
  ],
  [
    'Single UTF-16 surrogates',
    ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((s) => [false, hex(s)] as const),
  ],
  [
    'Paired UTF-16 surrogates',
    ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map(
      (s) => [false, hex(s)] as const,
    ),
  ],
  ['Non-character code points (valid UTF-8)', nonCharacters()],
  ['Unicode specials (i.e. replacement char)', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map((s) => [true, hex(s)] as const)],
];

/**
 * Stand-ins for the five files Autobahn's 12.x/13.x cases compress (a JSON document, the Lena
 * bitmap, Goethe's Faust, an HTML page, a PDF), generated deterministically so nothing is
 * downloaded or committed: each has the original's size, message type and roughly its
 * compressibility (structured ASCII, a smooth image with noise, prose with umlauts sent as
 * binary, markup, and a mix of text objects and incompressible streams).
 *
 * The text corpora are ASCII only, so any slice of them is valid UTF-8 (the cases cut messages
 * out of a ring over the corpus at arbitrary byte offsets).
 */

/** One corpus: its Autobahn sub-category, whether messages are binary, and its bytes. */
export interface Corpus {
  readonly name: string;
  readonly description: string;
  readonly binary: boolean;
  readonly data: Buffer;
}

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function fill(size: number, seed: number, piece: (r: () => number, i: number) => string): Buffer {
  const r = rng(seed);
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const p = piece(r, i);
    parts.push(p);
    n += Buffer.byteLength(p, 'utf8');
  }
  return Buffer.from(parts.join(''), 'utf8').subarray(0, size);
}

const WORDS = [
  'alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima',
  'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey',
  'xray', 'yankee', 'zulu', 'reactor', 'deferred', 'protocol', 'factory', 'transport', 'spindle',
];

function json(size: number): Buffer {
  return fill(size, 0x1234, (r, i) => {
    const w = (k: number): string => WORDS[(r() >>> 0) % WORDS.length]! + (k > 0 ? String(r() % 100) : '');
    return (
      (i === 0 ? '[' : ',') +
      JSON.stringify({
        id: i,
        name: `${w(0)} ${w(0)}`,
        email: `${w(0)}.${w(1)}@example.com`,
        active: (r() & 1) === 1,
        score: (r() % 100000) / 100,
        tags: [w(0), w(0), w(1)],
        address: { street: `${r() % 999} ${w(0)} street`, city: w(0), zip: String(10000 + (r() % 89999)) },
      })
    );
  });
}

function bitmap(): Buffer {
  const w = 512;
  const h = 512;
  const header = Buffer.alloc(54 + 1024);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + 1024 + w * h, 2);
  header.writeUInt32LE(54 + 1024, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(w, 18);
  header.writeInt32LE(h, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(8, 28);
  header.writeUInt32LE(w * h, 34);
  header.writeUInt32LE(256, 46);
  for (let i = 0; i < 256; i++) header.writeUInt32LE(i * 0x010101, 54 + 4 * i);
  const r = rng(0x5eed);
  const px = Buffer.allocUnsafe(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = 128 + 60 * Math.sin(x / 37) * Math.cos(y / 23) + 40 * Math.sin((x + y) / 71) + ((r() % 17) - 8);
      px[y * w + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return Buffer.concat([header, px]);
}

const GERMAN = [
  'Habe', 'nun', 'ach', 'Philosophie', 'Juristerei', 'und', 'Medizin', 'leider', 'auch', 'Theologie',
  'durchaus', 'studiert', 'mit', 'heißem', 'Bemühn', 'da', 'steh', 'ich', 'armer', 'Tor', 'bin', 'so',
  'klug', 'als', 'wie', 'zuvor', 'Geist', 'Natur', 'Wissen', 'Welt', 'Herz', 'Nacht', 'Mond', 'Bücher',
  'schön', 'grün', 'Höhe', 'Tiefe', 'über', 'Mädchen', 'Fräulein', 'Straße', 'Gefühl', 'Dämmerung',
];

function prose(size: number): Buffer {
  return fill(size, 0xfa057, (r, i) => {
    const n = 4 + (r() % 7);
    const line: string[] = [];
    for (let k = 0; k < n; k++) line.push(GERMAN[r() % GERMAN.length]!);
    const s = line.join(' ');
    return (i % 9 === 0 ? '\n\nFAUST:\n' : '') + s.charAt(0).toUpperCase() + s.slice(1) + (r() % 3 === 0 ? '!\n' : ',\n');
  });
}

function html(size: number): Buffer {
  return fill(size, 0x7e7e, (r, i) => {
    const words = (n: number): string => Array.from({ length: n }, () => WORDS[r() % WORDS.length]).join(' ');
    if (i === 0) return '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Spindle corpus</title></head>\n<body>\n';
    switch (r() % 4) {
      case 0:
        return `<h2 id="s${i}">${words(3)}</h2>\n`;
      case 1:
        return `<p class="text">${words(20 + (r() % 30))}</p>\n`;
      case 2:
        return `<ul>${Array.from({ length: 4 }, () => `<li><a href="/${words(1)}/${r() % 1000}">${words(2)}</a></li>`).join('')}</ul>\n`;
      default:
        return `<table><tr><td>${r() % 10000}</td><td>${words(2)}</td><td>${(r() % 100000) / 100}</td></tr></table>\n`;
    }
  });
}

function pdf(size: number): Buffer {
  const r = rng(0x9df);
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let n = parts[0]!.length;
  for (let obj = 1; n < size; obj++) {
    let part: Buffer;
    if (obj % 3 === 0) {
      // An already-compressed stream: incompressible bytes.
      const len = 2000 + (r() % 6000);
      const body = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) body[i] = r() & 0xff;
      part = Buffer.concat([
        Buffer.from(`${obj} 0 obj\n<< /Length ${len} /Filter /FlateDecode >>\nstream\n`, 'latin1'),
        body,
        Buffer.from('\nendstream\nendobj\n', 'latin1'),
      ]);
    } else {
      const words = Array.from({ length: 40 }, () => WORDS[r() % WORDS.length]).join(' ');
      part = Buffer.from(`${obj} 0 obj\n<< /Type /Page /Parent 2 0 R /Contents [(${words}) Tj] /MediaBox [0 0 612 792] >>\nendobj\n`, 'latin1');
    }
    parts.push(part);
    n += part.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

let cache: Corpus[] | null = null;

/**
 * The five corpora in Autobahn's order (12.1 … 12.5), sizes as the originals:
 * JSON 7007 B (text), Lena 263222 B, Faust 222218 B (sent as binary, as Autobahn does),
 * HTML 263202 B (text), PDF 1042328 B.
 */
export function corpora(): Corpus[] {
  cache ??= [
    { name: 'json', description: 'Large JSON data file (utf8, 7007 bytes)', binary: false, data: json(7007) },
    { name: 'lena', description: 'Lena Picture, Bitmap 512x512 bw (binary, 263222 bytes)', binary: true, data: bitmap() },
    { name: 'faust', description: "Human readable text, Goethe's Faust I (German) (binary, 222218 bytes)", binary: true, data: prose(222218) },
    { name: 'html', description: 'Large HTML file (utf8, 263202 bytes)', binary: false, data: html(263202) },
    { name: 'pdf', description: 'A larger PDF (binary, 1042328 bytes)', binary: true, data: pdf(1042328) },
  ];
  return cache;
}

// Runs every ```js runnable block of docs/guides/*.md against the built package, so the
// guides' examples keep working as written. `npm test` builds dist/ before running vitest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const guides = join(root, 'docs', 'guides');
// Inside the repository, so that `import 'spindle'` resolves to this package (self-reference).
const scratch = join(root, '.vitest-artifacts', 'guides');

interface Snippet {
  guide: string;
  line: number;
  code: string;
}

function snippets(): Snippet[] {
  const found: Snippet[] = [];
  for (const file of readdirSync(guides).filter((f) => f.endsWith('.md')).sort()) {
    const lines = readFileSync(join(guides, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.trim() !== '```js runnable') continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && lines[end]!.trim() !== '```') end++;
      found.push({ guide: file, line: start + 1, code: lines.slice(start, end).join('\n') });
      i = end;
    }
  }
  return found;
}

describe('runnable guide snippets', () => {
  const all = snippets();

  test('the package is built', () => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'run `npm run build` (npm test does it first)').toBe(true);
  });

  test.each(all.map((s) => [`${s.guide}:${s.line}`, s] as const))('%s', (_name, snippet) => {
    mkdirSync(scratch, { recursive: true });
    const file = join(scratch, `${snippet.guide.replace(/\W/g, '_')}_${snippet.line}.mjs`);
    writeFileSync(file, snippet.code);
    const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
    expect(result.stderr + result.stdout, `snippet at ${snippet.guide}:${snippet.line} failed`).not.toMatch(
      /Error|error/,
    );
    expect(result.status, result.stderr).toBe(0);
  });
});

// The logger is imported by the Deferred core, so it must import nothing from other Spindle
// layers (that would be a cycle): only its own files and Node built-ins.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const sourceDir = fileURLToPath(new URL('../../src/logger/', import.meta.url));
const files = readdirSync(sourceDir).filter((name) => name.endsWith('.ts'));

describe('src/logger imports', () => {
  it.each(files)('%s imports only ./*.js siblings and node: built-ins', (file) => {
    const text = readFileSync(sourceDir + file, 'utf8');
    const specifiers = [...text.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)/g)].map(
      (match) => match[1] ?? match[2],
    );
    for (const specifier of specifiers) {
      expect(specifier).toMatch(/^(\.\/[\w-]+\.js|node:[\w/]+)$/);
    }
  });
});

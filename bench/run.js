// Runs every benchmark in bench/ in turn (each compares Spindle with a peer in the same
// run and prints the ratio). `npm run bench` builds first; `npm run bench -- tcp` runs one.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const names = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();

for (const name of names) {
  console.log(`\n=== bench/${name} ===`);
  const mod = await import(pathToFileURL(join(here, `${name}.js`)).href);
  if (typeof mod.run === 'function') await mod.run();
}

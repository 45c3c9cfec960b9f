// A call that is already due must run on the next loop turn even when nothing else wakes the
// loop. With an unref'd setImmediate, Node blocks in poll until unrelated I/O or timers (seen:
// 0.9 s to 17 minutes). The scenario runs in a child process whose only handle is an idle
// server, so nothing else can wake its loop; it uses the built package (npm test builds first).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = join(root, 'dist', 'reactor', 'nodeReactor.js');

const script = `
import { NodeReactor } from ${JSON.stringify(pathToFileURL(built).href)};
import net from 'node:net';
const reactor = new NodeReactor();
const server = net.createServer().listen(0, '127.0.0.1', () => {
  // Scheduled from a timer callback: after the timers phase the loop goes to poll with
  // nothing else to wake it.
  setTimeout(() => {
    const started = performance.now();
    reactor.callLater(0, () => {
      console.log(Math.round(performance.now() - started));
      server.close();
    });
  }, 20);
});
`;

test('callLater(0) runs promptly on an otherwise idle loop', () => {
  expect(existsSync(built), 'run `npm run build` first (npm test does)').toBe(true);
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 5000,
  });
  expect(result.error, 'the delayed call never ran: the child hung').toBeUndefined();
  expect(result.status, result.stderr).toBe(0);
  expect(Number(result.stdout.trim())).toBeLessThan(500);
});

/**
 * The socket suites again, on the stream path: plain TCP and UNIX sockets normally read through
 * the fast path (src/reactor/fastRead.ts: Node's `onread`, one shared buffer) and write straight
 * to the socket's handle when nothing is queued (src/reactor/fastWrite.ts), and fall back to
 * Node's streams when Node's internals are not as expected. This file switches both fast paths
 * off and runs the TCP, transport, UNIX and TLS (STARTTLS) suites unchanged, each in its own
 * `describe` so that its hooks apply to its own tests only; tcp-fastread.test.ts and
 * tcp-fastwrite.test.ts compare both paths directly.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { setFastReads } from '../../src/reactor/fastRead.js';
import { setFastWrites } from '../../src/reactor/fastWrite.js';

let previousReads = true;
let previousWrites = true;
beforeAll(() => {
  previousReads = setFastReads(false);
  previousWrites = setFastWrites(false);
});
afterAll(() => {
  setFastReads(previousReads);
  setFastWrites(previousWrites);
});

describe('tcp.test.ts on the stream path', async () => {
  await import('./tcp.test.js');
});
describe('tcp-transport.test.ts on the stream path', async () => {
  await import('./tcp-transport.test.js');
});
describe('unix.test.ts on the stream path', async () => {
  await import('./unix.test.js');
});
describe('tls.test.ts on the stream path', async () => {
  await import('./tls.test.js');
});

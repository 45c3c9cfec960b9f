/**
 * A temporary directory tree for the static-file tests, and helpers to
 * render a request against a File and to wait (bounded) for file I/O.
 *
 *   <base>/root/            the served directory
 *     hello.txt             "hello world\n"
 *     data.bin              64 random bytes (Twisted's RangeTests payload size)
 *     big.bin               300 KiB + 7 random bytes (several chunks)
 *     empty.txt             0 bytes
 *     style.CSS, noext, "weird name & <x>.txt"
 *     sub/index.html        "<h1>sub</h1>"
 *     nested/deep/file.json
 *     empty/                a directory without an index
 *     inside-link  -> hello.txt           (stays inside)
 *     escape       -> ../outside/secret.txt
 *     escape-dir   -> ../outside
 *   <base>/outside/secret.txt
 *
 * Every file's mtime is MTIME, so validators are known in advance.
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestRequest, render, type Resource, type TestRequestOptions, type TestResponse } from '../../src/http/index.js';

/** The modification time of every fixture file (seconds). */
export const MTIME = 1_700_000_000;

export interface Fixture {
  base: string;
  root: string;
  payload: Buffer;
  big: Buffer;
  /** Write a file under the root with MTIME. */
  put(rel: string, content: string | Buffer): string;
  remove(): void;
}

export function makeFixture(): Fixture {
  const base = mkdtempSync(join(tmpdir(), 'spindle-static-'));
  const root = join(base, 'root');
  const payload = randomBytes(64);
  const big = randomBytes(300 * 1024 + 7);
  const put = (rel: string, content: string | Buffer): string => {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
    utimesSync(path, MTIME, MTIME);
    return path;
  };
  mkdirSync(root);
  put('hello.txt', 'hello world\n');
  put('data.bin', payload);
  put('big.bin', big);
  put('empty.txt', '');
  put('style.CSS', 'body{}');
  put('noext', 'no extension');
  put('weird name & <x>.txt', 'weird');
  put('sub/index.html', '<h1>sub</h1>');
  put('nested/deep/file.json', '{"a":1}');
  mkdirSync(join(root, 'empty'));
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'secret.txt'), 'TOP SECRET');
  symlinkSync('hello.txt', join(root, 'inside-link'));
  symlinkSync(join('..', 'outside', 'secret.txt'), join(root, 'escape'));
  symlinkSync(join('..', 'outside'), join(root, 'escape-dir'));
  return { base, root, payload, big, put, remove: () => rmSync(base, { recursive: true, force: true }) };
}

/** Render `options` against `resource` (a File, or a tree holding one) and wait for the whole response. */
export async function fetch(resource: Resource, options: TestRequestOptions | string): Promise<TestResponse> {
  const o = typeof options === 'string' ? { path: options } : options;
  return render(resource, createTestRequest(o));
}

/** Poll `cond` every few milliseconds; fail after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Open file descriptors of this process (Linux), to check files are closed. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Split a multipart/byteranges body (Twisted's parseMultipartBody). */
export function parseMultipart(body: Buffer, boundary: string): { type: string; range: string; body: Buffer }[] {
  const text = body.toString('latin1');
  const parts = text.split(`\r\n--${boundary}`);
  if (parts[0] !== '') throw new Error('the body does not start with a boundary');
  if (parts[parts.length - 1] !== '--\r\n') throw new Error('the body does not end with the closing boundary');
  return parts.slice(1, -1).map((part) => {
    const end = part.indexOf('\r\n\r\n');
    const head = part.slice(0, end);
    if (!head.startsWith('\r\n')) throw new Error('a boundary line is not followed by CRLF');
    const fields = new Map(
      head
        .slice(2)
        .split('\r\n')
        .map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
        }),
    );
    return { type: fields.get('content-type')!, range: fields.get('content-range')!, body: Buffer.from(part.slice(end + 4), 'latin1') };
  });
}

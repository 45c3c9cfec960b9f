/**
 * Fernet against tokens made by Python's `cryptography` with channels_redis's key derivation
 * (test/fixtures/fernet/tokens.json, written by generate.py beside it), and a live round trip
 * through Debian's Python when it is installed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { Fernet, InvalidToken, MultiFernet, fernetForSecrets } from '../../src/channels/layers/fernet.js';

interface TokenCase {
  name: string;
  secret: string;
  timestamp: number;
  iv: string;
  plaintext: string;
  token: string;
}

const cases = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/fernet/tokens.json', import.meta.url)), 'utf8')) as TokenCase[];
const PYTHON = '/usr/bin/python3';

describe('Fernet: tokens made by Python (cryptography), channels_redis key derivation', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s: same token byte for byte, and it decrypts', (_name, c) => {
    const f = Fernet.fromSecret(c.secret);
    const token = f.encrypt(Buffer.from(c.plaintext, 'hex'), c.timestamp, Buffer.from(c.iv, 'hex'));
    expect(token.toString('latin1')).toBe(c.token);
    expect(f.decrypt(c.token, { now: c.timestamp + 1 }).toString('hex')).toBe(c.plaintext);
    expect(f.decrypt(Buffer.from(c.token, 'latin1'), { now: c.timestamp, ttl: 70 }).toString('hex')).toBe(c.plaintext);
  });

  test('the key is sha256(secret), split into signing and encryption halves', () => {
    // The derived key as bytes, or in the URL-safe base64 form channels_redis hands to Fernet.
    const c = cases[0]!;
    const derived = createHash('sha256').update(c.secret, 'utf8').digest();
    expect(new Fernet(derived.toString('base64').replace(/\+/g, '-').replace(/\//g, '_')).decrypt(c.token, { now: c.timestamp }).toString('hex')).toBe(c.plaintext);
    expect(new Fernet(derived).decrypt(c.token, { now: c.timestamp }).toString('hex')).toBe(c.plaintext);
  });

  const bad: [string, (t: string) => string][] = [
    ['a flipped ciphertext byte', (t) => flip(t, 40)],
    ['a flipped MAC byte', (t) => flip(t, t.length - 5)],
    ['a wrong version byte', (t) => `h${t.slice(1)}`],
    ['truncated', (t) => t.slice(0, 60)],
    ['not base64', (t) => `${t.slice(0, -4)}!!!=`],
    ['missing padding', (t) => t.replace(/=+$/, '')],
  ];
  test.each(bad)('%s: InvalidToken', (_what, mangle) => {
    const c = cases[0]!;
    expect(() => Fernet.fromSecret(c.secret).decrypt(mangle(c.token), { now: c.timestamp })).toThrow(InvalidToken);
  });

  test('another key: InvalidToken', () => {
    const c = cases[0]!;
    expect(() => Fernet.fromSecret('not it').decrypt(c.token, { now: c.timestamp })).toThrow(InvalidToken);
  });

  test('ttl: a token older than ttl is refused; one from more than 60 s in the future too', () => {
    const c = cases[0]!;
    const f = Fernet.fromSecret(c.secret);
    expect(() => f.decrypt(c.token, { now: c.timestamp + 70, ttl: 70 })).not.toThrow();
    expect(() => f.decrypt(c.token, { now: c.timestamp + 70.5, ttl: 70 })).toThrow(/expired/);
    expect(() => f.decrypt(c.token, { now: c.timestamp - 60 })).not.toThrow();
    expect(() => f.decrypt(c.token, { now: c.timestamp - 61 })).toThrow(/future/);
  });

  test('MultiFernet: the first key encrypts, any key decrypts (rotation)', () => {
    const old = Fernet.fromSecret('old');
    const rotated = fernetForSecrets(['new', 'old']);
    const legacy = old.encrypt(Buffer.from('from before'), 100);
    expect(rotated.decrypt(legacy, { now: 100 }).toString()).toBe('from before');
    const fresh = rotated.encrypt(Buffer.from('now'), 100);
    expect(() => old.decrypt(fresh, { now: 100 })).toThrow(InvalidToken);
    expect(Fernet.fromSecret('new').decrypt(fresh, { now: 100 }).toString()).toBe('now');
    expect(() => new MultiFernet([])).toThrow(TypeError);
    expect(() => fernetForSecrets('single' as unknown as string[])).toThrow(/list of keys/);
  });

  test('a key that is not 32 bytes (or their base64) is a TypeError', () => {
    expect(() => new Fernet(Buffer.alloc(16))).toThrow(TypeError);
    expect(() => new Fernet('short')).toThrow(TypeError);
  });
});

describe('Fernet ⇄ Python cryptography, live', () => {
  const probe = spawnSync(PYTHON, ['-c', 'import cryptography.fernet'], { encoding: 'utf8', timeout: 10_000 });
  const missing = probe.status === 0 ? null : `Debian's python3-cryptography is missing: ${probe.stderr || probe.error?.message}`;
  if (missing !== null && process.env.CI === 'true') throw new Error(`CI must have ${missing}`);

  test.skipIf(missing !== null)('Python decrypts our tokens and we decrypt its fresh ones', () => {
    const secret = 'live-secret ✓';
    const ours = Fernet.fromSecret(secret).encrypt(Buffer.from('from node'), Date.now() / 1000).toString('latin1');
    const script = `
import base64, hashlib, sys
from cryptography.fernet import Fernet
f = Fernet(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()))
print(f.decrypt(sys.argv[2].encode(), ttl=70).decode())
print(f.encrypt(b"from python").decode())
`;
    const r = spawnSync(PYTHON, ['-c', script, secret, ours], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    const [decrypted, theirs] = r.stdout.trim().split('\n');
    expect(decrypted).toBe('from node');
    expect(Fernet.fromSecret(secret).decrypt(theirs!, { now: Date.now() / 1000, ttl: 70 }).toString()).toBe('from python');
  });
});

function flip(token: string, at: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const c = token[at]!;
  const other = alphabet[(alphabet.indexOf(c) + 1) % 64]!;
  return token.slice(0, at) + other + token.slice(at + 1);
}

/**
 * Fernet symmetric encryption (the spec of Python's `cryptography.fernet`), with node:crypto only,
 * and the key derivation channels_redis applies to its `symmetric_encryption_keys`: messages
 * encrypted by one side decrypt on the other.
 *
 * Token = URL-safe base64 (padded) of `0x80 ‖ timestamp (u64 BE, seconds) ‖ IV (16) ‖
 * AES-128-CBC(PKCS7) ciphertext ‖ HMAC-SHA256(first 16 key bytes, everything before)`; the last
 * 16 key bytes are the AES key.
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A token that is malformed, forged, encrypted with another key, or too old for the `ttl`. */
export class InvalidToken extends Error {
  override name = 'InvalidToken';
  constructor(message = 'the Fernet token is invalid (wrong key, tampered, malformed or expired)') {
    super(message);
  }
}

const VERSION = 0x80;
const HEADER = 1 + 8 + 16;
const MAC = 32;
/** cryptography's `_MAX_CLOCK_SKEW`: tokens from further in the future are refused. */
const MAX_CLOCK_SKEW = 60;

function toBytes(v: string | Uint8Array): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Strict URL-safe base64 with padding, as Python's `urlsafe_b64decode` wants it. */
function decodeBase64Url(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return null;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function encodeBase64Url(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Options of {@link Fernet.decrypt}. */
export interface FernetDecryptOptions {
  /** The current time, in seconds (the layer passes its reactor's). */
  now: number;
  /** Refuse tokens older than this many seconds; null (default) accepts any age. */
  ttl?: number | null;
}

/**
 * One Fernet key: encrypt and decrypt tokens exactly as `cryptography.fernet.Fernet` does.
 *
 * @example
 * ```ts
 * const f = Fernet.fromSecret('my channel layer secret'); // as channels_redis derives it
 * const token = f.encrypt(Buffer.from('hi'), reactor.seconds());
 * f.decrypt(token, { now: reactor.seconds(), ttl: 70 }); // <Buffer 68 69>
 * ```
 */
export class Fernet {
  private readonly signingKey: Buffer;
  private readonly encryptionKey: Buffer;

  /**
   * @param key a Fernet key: 32 bytes, or their URL-safe base64 (44 characters), as
   *   `Fernet.generate_key()` gives.
   * @throws TypeError when it is neither.
   */
  constructor(key: string | Uint8Array) {
    const raw = typeof key === 'string' ? decodeBase64Url(key) : toBytes(key);
    if (raw === null || raw.length !== 32) throw new TypeError('a Fernet key is 32 bytes, or their URL-safe base64 encoding (44 characters)');
    this.signingKey = Buffer.from(raw.subarray(0, 16));
    this.encryptionKey = Buffer.from(raw.subarray(16, 32));
  }

  /**
   * The Fernet of a channels_redis secret: `Fernet(urlsafe_b64encode(sha256(secret)))`, i.e. the
   * SHA-256 digest of the secret (a string is taken as UTF-8) used as the key.
   */
  static fromSecret(secret: string | Uint8Array): Fernet {
    return new Fernet(createHash('sha256').update(toBytes(secret)).digest());
  }

  /**
   * A token (ASCII bytes) for `data`, stamped with `now` (seconds, truncated).
   * @param iv 16 bytes; random by default (give one only to reproduce a known token).
   */
  encrypt(data: Uint8Array, now: number, iv: Uint8Array = randomBytes(16)): Buffer {
    if (iv.length !== 16) throw new TypeError('a Fernet IV is 16 bytes');
    const cipher = createCipheriv('aes-128-cbc', this.encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    const header = Buffer.alloc(HEADER);
    header[0] = VERSION;
    header.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 1);
    header.set(iv, 9);
    const signed = Buffer.concat([header, ciphertext]);
    const mac = createHmac('sha256', this.signingKey).update(signed).digest();
    return Buffer.from(encodeBase64Url(Buffer.concat([signed, mac])), 'latin1');
  }

  /**
   * The data inside `token` (its ASCII bytes, or the string).
   * @throws InvalidToken when the token is malformed, not signed with this key, older than
   *   `ttl`, or stamped more than 60 s in the future.
   */
  decrypt(token: Uint8Array | string, options: FernetDecryptOptions): Buffer {
    const text = typeof token === 'string' ? token : Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('latin1');
    const raw = decodeBase64Url(text);
    if (raw === null || raw.length < HEADER + 16 + MAC || raw[0] !== VERSION || (raw.length - HEADER - MAC) % 16 !== 0) throw new InvalidToken();
    const timestamp = Number(raw.readBigUInt64BE(1));
    const ttl = options.ttl ?? null;
    if (ttl !== null && timestamp + ttl < options.now) throw new InvalidToken('the Fernet token has expired');
    if (options.now + MAX_CLOCK_SKEW < timestamp) throw new InvalidToken('the Fernet token is stamped in the future');
    const signed = raw.subarray(0, raw.length - MAC);
    const mac = createHmac('sha256', this.signingKey).update(signed).digest();
    if (!timingSafeEqual(mac, raw.subarray(raw.length - MAC))) throw new InvalidToken();
    try {
      const decipher = createDecipheriv('aes-128-cbc', this.encryptionKey, raw.subarray(9, HEADER));
      return Buffer.concat([decipher.update(raw.subarray(HEADER, raw.length - MAC)), decipher.final()]);
    } catch {
      throw new InvalidToken();
    }
  }
}

/**
 * Several keys, for rotation (`cryptography`'s `MultiFernet`): encrypts with the first,
 * decrypts with whichever works, in order.
 */
export class MultiFernet {
  private readonly fernets: readonly Fernet[];

  /** @throws TypeError for an empty list. */
  constructor(fernets: readonly Fernet[]) {
    if (fernets.length === 0) throw new TypeError('MultiFernet needs at least one key');
    this.fernets = [...fernets];
  }

  /** Encrypt with the first key. */
  encrypt(data: Uint8Array, now: number): Buffer {
    return this.fernets[0]!.encrypt(data, now);
  }

  /** Decrypt with the first key that works. @throws InvalidToken when none does. */
  decrypt(token: Uint8Array | string, options: FernetDecryptOptions): Buffer {
    for (const f of this.fernets) {
      try {
        return f.decrypt(token, options);
      } catch (e) {
        if (!(e instanceof InvalidToken)) throw e;
      }
    }
    throw new InvalidToken();
  }
}

/**
 * The `MultiFernet` channels_redis builds from `symmetric_encryption_keys`: one Fernet per
 * secret, derived with SHA-256 ({@link Fernet.fromSecret}); the first encrypts.
 * @throws TypeError for an empty list, or a single string (a list is required, as in channels_redis).
 */
export function fernetForSecrets(secrets: ReadonlyArray<string | Uint8Array>): MultiFernet {
  if (typeof secrets === 'string' || secrets instanceof Uint8Array) {
    throw new TypeError('symmetricEncryptionKeys must be a list of keys, not a single key');
  }
  return new MultiFernet(secrets.map((s) => Fernet.fromSecret(s)));
}

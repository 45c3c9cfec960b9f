// Shared helpers for the permessage-deflate tests: configs, instance tracking, zlib stream
// instrumentation (creation, destruction, operations in flight) and payload generators.
import zlib from 'node:zlib';
import { vi } from 'vitest';
import {
  PerMessageDeflate,
  deflateConfigFor,
  type DeflateConfig,
  type PerMessageDeflateOptions,
  type PerMessageDeflateParams,
} from '../../src/websocket/index.js';

export const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

export function params(overrides: Partial<PerMessageDeflateParams> = {}): PerMessageDeflateParams {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...overrides,
  };
}

/** One direction's config where both directions use the same settings. */
export function symmetric(noContextTakeover = false, windowBits = 15): DeflateConfig {
  return deflateConfigFor(
    params({
      serverNoContextTakeover: noContextTakeover,
      clientNoContextTakeover: noContextTakeover,
      serverMaxWindowBits: windowBits,
      clientMaxWindowBits: windowBits,
    }),
    'server',
  );
}

/** Creates instances and closes every one of them at the end of the test. */
export class Instances {
  private readonly all: PerMessageDeflate[] = [];

  make(config: DeflateConfig = symmetric(), options?: PerMessageDeflateOptions): PerMessageDeflate {
    const p = new PerMessageDeflate(config, options);
    this.all.push(p);
    return p;
  }

  /** A server and a client instance for the agreement `p`. */
  pair(p: PerMessageDeflateParams, options?: PerMessageDeflateOptions): { server: PerMessageDeflate; client: PerMessageDeflate } {
    return { server: this.make(deflateConfigFor(p, 'server'), options), client: this.make(deflateConfigFor(p, 'client'), options) };
  }

  closeAll(): void {
    for (const p of this.all.splice(0)) p.close();
  }
}

type ZlibStream = zlib.DeflateRaw | zlib.InflateRaw;

/**
 * Wraps zlib.createDeflateRaw / createInflateRaw (the library calls them through the module
 * object) to record every stream created and to count operations in flight: a stream is busy
 * from its first write or flush until the flush callback, which is exactly the span a
 * PerMessageDeflate operation holds a slot of the process-wide limit.
 */
export class ZlibProbe {
  readonly deflaters: zlib.DeflateRaw[] = [];
  readonly inflaters: zlib.InflateRaw[] = [];
  /** Bytes each inflater emitted, by index into `inflaters`. */
  readonly inflated: number[] = [];
  active = 0;
  maxActive = 0;

  constructor() {
    const createDeflateRaw = zlib.createDeflateRaw;
    const createInflateRaw = zlib.createInflateRaw;
    vi.spyOn(zlib, 'createDeflateRaw').mockImplementation((options?: zlib.ZlibOptions) => {
      const s = createDeflateRaw(options);
      this.deflaters.push(s);
      this.instrument(s);
      return s;
    });
    vi.spyOn(zlib, 'createInflateRaw').mockImplementation((options?: zlib.ZlibOptions) => {
      const s = createInflateRaw(options);
      const i = this.inflaters.push(s) - 1;
      this.inflated[i] = 0;
      s.on('data', (c: Buffer) => {
        this.inflated[i]! += c.length;
      });
      this.instrument(s);
      return s;
    });
  }

  get streams(): ZlibStream[] {
    return [...this.deflaters, ...this.inflaters];
  }

  private instrument(s: ZlibStream): void {
    let busy = false;
    const start = (): void => {
      if (busy) return;
      busy = true;
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
    };
    const stop = (): void => {
      if (!busy) return;
      busy = false;
      this.active--;
    };
    // zlib's flush() calls this.write(marker, '', callback): pass every argument through.
    const write = s.write.bind(s) as (...args: unknown[]) => boolean;
    const flush = s.flush.bind(s) as (kind: number, cb: () => void) => void;
    Object.assign(s, {
      write: (...args: unknown[]) => {
        start();
        return write(...args);
      },
      flush: (kind: number, cb: () => void) => {
        start();
        flush(kind, () => {
          stop();
          cb();
        });
      },
    });
    // A destroyed stream never calls back: it is no longer working for anyone.
    s.on('close', stop);
  }
}

/** Deterministic text-like bytes (compressible, not trivially so). */
export function sampleText(length: number, seed = 1): Buffer {
  const words = ['spindle', 'reactor', 'deferred', 'protocol', 'factory', 'deflate', 'window', 'κόσμε', 'zlib', '→', 'message'];
  let x = seed;
  const parts: string[] = [];
  let n = 0;
  while (n <= length) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length]!;
    parts.push(w);
    n += Buffer.byteLength(w) + 1;
  }
  const b = Buffer.from(parts.join(' ')).subarray(0, length);
  // Cut at a character boundary and pad with spaces: always exactly `length` bytes of valid UTF-8.
  let end = length;
  while (end > 0 && (b[end - 1]! & 0xc0) === 0x80) end--;
  if (end > 0 && b[end - 1]! >= 0xc0) end--;
  return Buffer.concat([b.subarray(0, end), Buffer.alloc(length - end, 0x20)]);
}

/** Deterministic incompressible bytes. */
export function noise(length: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** What a plain zlib peer makes of our compressed message. */
export function inflateLikeAPeer(payload: Uint8Array, windowBits = 15): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** A message compressed by a plain zlib peer (sync flush, tail removed). */
export function deflateLikeAPeer(data: Uint8Array, windowBits = 15): Buffer {
  const out = zlib.deflateRawSync(data, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

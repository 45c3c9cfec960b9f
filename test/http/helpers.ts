/**
 * Shared drivers for the HTTP core tests: feed bytes whole, one byte at a
 * time and in every 2-way split, and compare normalised event logs.
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import {
  HttpParseError,
  NEED_DATA,
  PAUSED,
  RequestParser,
  ResponseParser,
  type HeaderList,
  type HttpParserBase,
  type HttpParserOptions,
} from '../../src/http/index.js';

/** Bytes of a latin1 string (tests spell CR/LF explicitly). */
export function wire(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A comparable form of one event (consecutive data events are merged by `normalise`). */
export type Logged =
  | { type: 'request'; method: string; target: string; versionMinor: number; headers: string[]; names: string[]; keepAlive: boolean; upgrade: boolean; expectContinue: boolean; contentLength: number; chunked: boolean }
  | { type: 'response'; status: number; reason: string; versionMinor: number; headers: string[]; keepAlive: boolean; upgrade: boolean; contentLength: number; chunked: boolean }
  | { type: 'informational'; status: number; reason: string; headers: string[] }
  | { type: 'data'; text: string }
  | { type: 'end'; trailers: string[] | null }
  | { type: 'closed' }
  | { type: 'error'; code: string; status: number };

function fields(h: HeaderList): string[] {
  return [...h.raw];
}

type AnyParser = HttpParserBase<unknown, unknown>;

/** Pull every available event; on error log it and stop. Returns true if the parser failed. */
function drain(parser: AnyParser, log: Logged[]): boolean {
  for (;;) {
    let ev: unknown;
    try {
      ev = parser.nextEvent();
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      expect(err.closeConnection).toBe(true);
      log.push({ type: 'error', code: err.code, status: err.status });
      return true;
    }
    if (ev === NEED_DATA || ev === PAUSED) return false;
    const e = ev as { type: string } & Record<string, unknown>;
    switch (e.type) {
      case 'request': {
        const h = e as unknown as import('../../src/http/index.js').RequestHead;
        log.push({
          type: 'request',
          method: h.method,
          target: h.target,
          versionMinor: h.versionMinor,
          headers: fields(h.headers),
          names: [...h.headers.names],
          keepAlive: h.keepAlive,
          upgrade: h.upgrade,
          expectContinue: h.expectContinue,
          contentLength: h.contentLength,
          chunked: h.chunked,
        });
        break;
      }
      case 'response': {
        const h = e as unknown as import('../../src/http/index.js').ResponseHead;
        log.push({
          type: 'response',
          status: h.status,
          reason: h.reason,
          versionMinor: h.versionMinor,
          headers: fields(h.headers),
          keepAlive: h.keepAlive,
          upgrade: h.upgrade,
          contentLength: h.contentLength,
          chunked: h.chunked,
        });
        break;
      }
      case 'informational': {
        const h = e as unknown as import('../../src/http/index.js').InformationalResponse;
        log.push({ type: 'informational', status: h.status, reason: h.reason, headers: fields(h.headers) });
        break;
      }
      case 'data': {
        const d = (e as unknown as { data: Uint8Array }).data;
        expect(d.length).toBeGreaterThan(0);
        log.push({ type: 'data', text: Buffer.from(d.buffer, d.byteOffset, d.length).toString('latin1') });
        break;
      }
      case 'end': {
        const t = (e as unknown as { trailers: HeaderList | null }).trailers;
        log.push({ type: 'end', trailers: t === null ? null : fields(t) });
        break;
      }
      case 'closed':
        log.push({ type: 'closed' });
        return false;
      default:
        throw new Error(`unexpected event ${e.type}`);
    }
  }
}

/** Merge consecutive data events so logs from different splits compare equal. */
export function normalise(log: Logged[]): Logged[] {
  const out: Logged[] = [];
  for (const ev of log) {
    const last = out[out.length - 1];
    if (ev.type === 'data' && last !== undefined && last.type === 'data') {
      out[out.length - 1] = { type: 'data', text: last.text + ev.text };
    } else {
      out.push(ev);
    }
  }
  return out;
}

/** Options of a run. */
export interface RunOptions {
  /** Call receiveEOF() after the last chunk. */
  eof?: boolean;
  /** Parser limits. */
  limits?: HttpParserOptions;
  /** Response parsers: the methods of the requests sent, in order. */
  methods?: string[];
}

function makeParser(kind: 'request' | 'response', opts: RunOptions): AnyParser {
  if (kind === 'request') return new RequestParser(opts.limits) as unknown as AnyParser;
  const p = new ResponseParser(opts.limits);
  for (const m of opts.methods ?? ['GET']) p.expectResponse(m);
  return p as unknown as AnyParser;
}

/** Feed `chunks` (pulling after each) and return the normalised log. */
export function runChunks(kind: 'request' | 'response', chunks: Uint8Array[], opts: RunOptions = {}): Logged[] {
  const parser = makeParser(kind, opts);
  const log: Logged[] = [];
  let failed = false;
  for (const c of chunks) {
    parser.receiveData(c);
    if ((failed = drain(parser, log))) break;
  }
  if (!failed && opts.eof) {
    parser.receiveEOF();
    drain(parser, log);
  }
  return normalise(log);
}

/** Feed the input whole. */
export function run(kind: 'request' | 'response', input: string | Uint8Array, opts: RunOptions = {}): Logged[] {
  return runChunks(kind, [typeof input === 'string' ? wire(input) : input], opts);
}

/** All the ways to cut `bytes`: whole, one byte at a time, and every 2-way split. */
export function* splits(bytes: Uint8Array): Generator<[string, Uint8Array[]]> {
  yield ['whole', [bytes]];
  yield ['bytewise', Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))];
  for (let i = 1; i < bytes.length; i++) yield [`split@${i}`, [bytes.subarray(0, i), bytes.subarray(i)]];
}

/**
 * Parse `input` whole, byte by byte and in every 2-way split; every run must
 * produce the same normalised log, which is returned.
 */
export function runAllSplits(kind: 'request' | 'response', input: string | Uint8Array, opts: RunOptions = {}): Logged[] {
  const bytes = typeof input === 'string' ? wire(input) : input;
  // Copy per run so a parser can never see another run's buffers.
  const reference = runChunks(kind, [Uint8Array.from(bytes)], opts);
  for (const [name, chunks] of splits(Uint8Array.from(bytes))) {
    const got = runChunks(kind, chunks, opts);
    expect(got, `${name} differs from the whole-input run`).toEqual(reference);
  }
  return reference;
}

/** The error at the end of a log, or undefined. */
export function errorOf(log: Logged[]): { code: string; status: number } | undefined {
  const last = log[log.length - 1];
  return last?.type === 'error' ? { code: last.code, status: last.status } : undefined;
}

/** Assert that parsing `input` as a request fails with `code`/`status` in every split. */
export function expectRequestError(input: string | Uint8Array, code: string, status: number, opts: RunOptions = {}): void {
  const log = runAllSplits('request', input, opts);
  expect(errorOf(log), JSON.stringify(log.slice(0, -1)).slice(0, 200)).toEqual({ code, status });
}

/** Assert that `input` parses as requests without error in every split; returns the log. */
export function expectRequestOk(input: string | Uint8Array, opts: RunOptions = {}): Logged[] {
  const log = runAllSplits('request', input, opts);
  expect(errorOf(log)).toBeUndefined();
  return log;
}

/** A minimal valid HTTP/1.1 request with the given extra field lines (each without CRLF). */
export function req(fields: string[] = [], line = 'GET / HTTP/1.1', body = ''): string {
  return `${line}\r\n${['Host: example.com', ...fields].map((f) => `${f}\r\n`).join('')}\r\n${body}`;
}

/** A request head with no Host added. */
export function rawReq(line: string, fields: string[] = [], body = ''): string {
  return `${line}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n${body}`;
}

/** The single request head in a log. */
export function requestOf(log: Logged[]): Extract<Logged, { type: 'request' }> {
  const heads = log.filter((e): e is Extract<Logged, { type: 'request' }> => e.type === 'request');
  expect(heads.length).toBe(1);
  return heads[0]!;
}

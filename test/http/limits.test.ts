/**
 * Limits (RFC 6585 §5, RFC 9110 §15.5.15): a request head over 64 KiB →
 * 431, a request target over 8 KiB → 414, more than 100 fields → 431,
 * Content-Length over maxBodySize → 413; all configurable per parser.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARSER_LIMITS, RequestParser } from '../../src/http/index.js';
import { errorOf, expectRequestError, expectRequestOk, run, runChunks, req, wire } from './helpers.js';

describe('limits: defaults', () => {
  it('are the documented values', () => {
    expect(DEFAULT_PARSER_LIMITS).toEqual({
      maxHeadSize: 65536,
      maxTargetLength: 8192,
      maxHeaders: 100,
      maxChunkSizeLine: 1024,
      maxChunkExtensionsSize: 16384,
      maxTrailersSize: 65536,
      maxBodySize: Infinity,
    });
    expect(new RequestParser({ maxHeaders: 5, maxBodySize: undefined }).limits).toEqual({ ...DEFAULT_PARSER_LIMITS, maxHeaders: 5 });
  });
});

describe('limits: head size', () => {
  it('a head just under 64 KiB is accepted', () => {
    const head = req([`X: ${'a'.repeat(65000)}`]);
    expect(errorOf(run('request', head))).toBeUndefined();
  });
  it('a head over 64 KiB → 431', () => {
    expect(errorOf(run('request', req([`X: ${'a'.repeat(66000)}`])))).toEqual({ code: 'HEAD_TOO_LARGE', status: 431 });
  });
  it('a head over 64 KiB without any end → 431 as soon as the limit is passed', () => {
    expect(errorOf(run('request', `GET / HTTP/1.1\r\nX: ${'a'.repeat(70000)}`))).toEqual({ code: 'HEAD_TOO_LARGE', status: 431 });
  });
  it('fed in 1 KiB pieces, the error comes once the limit is passed', () => {
    const bytes = wire(`GET / HTTP/1.1\r\nX: ${'a'.repeat(70000)}`);
    const chunks = [];
    for (let i = 0; i < bytes.length; i += 1024) chunks.push(bytes.subarray(i, i + 1024));
    expect(errorOf(runChunks('request', chunks))).toEqual({ code: 'HEAD_TOO_LARGE', status: 431 });
  });
  it('many small fields add up → 431', () => {
    const fields = Array.from({ length: 90 }, (_, i) => `X-${i}: ${'v'.repeat(800)}`);
    expect(errorOf(run('request', req(fields)))).toEqual({ code: 'HEAD_TOO_LARGE', status: 431 });
  });
  it('is configurable', () => {
    expectRequestError(req(['X: 0123456789']), 'HEAD_TOO_LARGE', 431, { limits: { maxHeadSize: 40 } });
    expectRequestOk(req(['X: 0123456789']), { limits: { maxHeadSize: 60 } });
  });
});

describe('limits: request target', () => {
  it('8 KiB target is accepted', () => {
    expect(errorOf(run('request', req([], `GET /${'a'.repeat(8191)} HTTP/1.1`)))).toBeUndefined();
  });
  it('target over 8 KiB → 414', () => {
    expect(errorOf(run('request', req([], `GET /${'a'.repeat(8192)} HTTP/1.1`)))).toEqual({ code: 'TARGET_TOO_LONG', status: 414 });
  });
  it('target over 64 KiB with no LF yet → 414, not 431', () => {
    expect(errorOf(run('request', `GET /${'a'.repeat(70000)}`))).toEqual({ code: 'TARGET_TOO_LONG', status: 414 });
  });
  it('long method with no LF → 431', () => {
    expect(errorOf(run('request', 'G'.repeat(70000)))).toEqual({ code: 'HEAD_TOO_LARGE', status: 431 });
  });
  it('is configurable', () => {
    expectRequestError(req([], 'GET /abcdef HTTP/1.1'), 'TARGET_TOO_LONG', 414, { limits: { maxTargetLength: 5 } });
    expectRequestOk(req([], 'GET /abcd HTTP/1.1'), { limits: { maxTargetLength: 5 } });
  });
});

describe('limits: field count', () => {
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v`);
  it('100 fields are accepted', () => {
    expect(errorOf(run('request', req(fields(99))))).toBeUndefined();
  });
  it('101 fields → 431', () => {
    expect(errorOf(run('request', req(fields(100))))).toEqual({ code: 'TOO_MANY_HEADERS', status: 431 });
  });
  it('is configurable', () => {
    expectRequestError(req(fields(3)), 'TOO_MANY_HEADERS', 431, { limits: { maxHeaders: 3 } });
    expectRequestOk(req(fields(2)), { limits: { maxHeaders: 3 } });
  });
});

describe('limits: body size', () => {
  it('Content-Length over maxBodySize → 413 at the head', () => {
    expectRequestError(req(['Content-Length: 11'], 'POST / HTTP/1.1'), 'BODY_TOO_LARGE', 413, { limits: { maxBodySize: 10 } });
  });
  it('Content-Length at maxBodySize is accepted', () => {
    expectRequestOk(req(['Content-Length: 10'], 'POST / HTTP/1.1', '0123456789'), { limits: { maxBodySize: 10 } });
  });
});

describe('limits: byte-at-a-time input stays linear', () => {
  it('a 60 KiB head fed one byte at a time parses quickly', () => {
    const bytes = wire(req([`X: ${'a'.repeat(60000)}`]));
    const p = new RequestParser();
    const t0 = performance.now();
    let ev: unknown;
    for (let i = 0; i < bytes.length; i++) {
      p.receiveData(bytes.subarray(i, i + 1));
      ev = p.nextEvent();
    }
    expect(ev).toMatchObject({ type: 'request' });
    // Quadratic behaviour would take tens of seconds here.
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

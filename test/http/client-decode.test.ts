/**
 * ContentDecoderAgent and decodeResponse: Accept-Encoding sent, gzip /
 * x-gzip / deflate (zlib and raw) / br / stacked codings decoded as they
 * stream (fed whole and one byte at a time), headers fixed up, undecodable
 * bodies left alone, corrupt data and decompression bombs failing clearly.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { ContentDecoderAgent, decodeResponse } from '../../src/http/client/decode.js';
import {
  ContentDecodingError,
  DecompressedBodyTooLarge,
  ResponseDone,
  ResponseFailed,
} from '../../src/http/client/errors.js';
import { readBody } from '../../src/http/client/readBody.js';
import { Response } from '../../src/http/client/response.js';
import { HeaderList } from '../../src/http/headers.js';
import { ConnectionLost } from '../../src/reactor/errors.js';
import { successResultOf } from '../../src/testing/results.js';
import { harness } from './client-helpers.js';

/** Wait (zlib works on other threads) until `predicate`, 5 s at most. */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
}

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(200);

function encoded(body: Buffer, headers: string[]) {
  const events: string[] = [];
  const response = new Response(
    {
      status: 200,
      statusText: 'OK',
      headers: new HeaderList(headers),
      version: 'HTTP/1.1',
      length: body.length,
      url: 'http://example.com/',
      request: { method: 'GET', url: 'http://example.com/', headers: [] },
    },
    {
      pauseProducing: () => events.push('pause'),
      resumeProducing: () => events.push('resume'),
      stopProducing: () => events.push('stop'),
    },
  );
  return {
    response,
    events,
    feed: (chunk: Uint8Array) => response._bodyDataReceived(chunk),
    done: () => response._bodyDataFinished(new Failure(new ResponseDone())),
    fail: () => response._bodyDataFinished(new Failure(new ResponseFailed([new Failure(new ConnectionLost())]))),
  };
}

const codings: [string, string, (b: Buffer) => Buffer][] = [
  ['gzip', 'gzip', (b) => zlib.gzipSync(b)],
  ['x-gzip', 'x-gzip', (b) => zlib.gzipSync(b)],
  ['GZIP in capitals', 'GZIP', (b) => zlib.gzipSync(b)],
  ['deflate (zlib format, RFC 9110)', 'deflate', (b) => zlib.deflateSync(b)],
  ['deflate sent raw (as some servers do)', 'deflate', (b) => zlib.deflateRawSync(b)],
  ['br', 'br', (b) => zlib.brotliCompressSync(b)],
  ['gzip then deflate (stacked)', 'gzip, deflate', (b) => zlib.deflateSync(zlib.gzipSync(b))],
  ['identity around gzip', 'identity, gzip', (b) => zlib.gzipSync(b)],
];

describe('decodeResponse', () => {
  it.each(codings)('%s, fed whole and one byte at a time', async (_name, header, encode) => {
    const data = encode(Buffer.from(TEXT));
    for (const pieces of [[data], [...data].map((b) => Buffer.from([b]))]) {
      const e = encoded(data, ['Content-Type', 'text/plain', 'Content-Encoding', header, 'Content-Length', String(data.length)]);
      const decoded = decodeResponse(e.response, ['gzip', 'deflate', 'br']);
      expect(decoded).not.toBe(e.response);
      expect(decoded.headers.raw).toEqual(['Content-Type', 'text/plain']);
      expect(decoded.length).toBeNull();
      expect(decoded.status).toBe(200);
      expect(decoded.url).toBe('http://example.com/');
      const body = readBody(decoded);
      for (const p of pieces) e.feed(p);
      e.done();
      expect((await body).toString()).toBe(TEXT);
    }
  });

  const untouched: [string, string[]][] = [
    ['no Content-Encoding', []],
    ['only identity', ['Content-Encoding', 'identity']],
    ['a coding we do not decode', ['Content-Encoding', 'compress']],
    ['ours under one we do not decode', ['Content-Encoding', 'gzip, compress']],
    ['br when only gzip and deflate are asked for', ['Content-Encoding', 'br']],
  ];
  it.each(untouched)('%s: the response is returned as it is', (_name, headers) => {
    const e = encoded(Buffer.from('x'), headers);
    expect(decodeResponse(e.response)).toBe(e.response);
  });

  it('decodes the outer codings it knows and leaves the rest in Content-Encoding', async () => {
    const inner = Buffer.from('compressed-by-something-else');
    const data = zlib.gzipSync(inner);
    const e = encoded(data, ['Content-Encoding', 'compress, gzip']);
    const decoded = decodeResponse(e.response);
    expect(decoded.headers.raw).toEqual(['Content-Encoding', 'compress']);
    const body = readBody(decoded);
    e.feed(data);
    e.done();
    expect((await body).equals(inner)).toBe(true);
  });

  it('an empty body (HEAD, 204, 304) decodes to nothing', async () => {
    const e = encoded(Buffer.alloc(0), ['Content-Encoding', 'gzip']);
    const body = readBody(decodeResponse(e.response));
    e.done();
    expect((await body).length).toBe(0);
  });

  const corrupt: [string, Buffer][] = [
    ['not gzip at all', Buffer.from('this is not gzip data, not at all')],
    ['truncated gzip', zlib.gzipSync(Buffer.from(TEXT)).subarray(0, 50)],
  ];
  it.each(corrupt)('%s fails with ContentDecodingError', async (_name, data) => {
    const e = encoded(data, ['Content-Encoding', 'gzip']);
    const body = readBody(decodeResponse(e.response));
    e.feed(data);
    e.done();
    const err = await body.then(
      () => null,
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(ContentDecodingError);
    expect((err as ContentDecodingError).coding).toBe('gzip');
  });

  it('a decompression bomb fails with DecompressedBodyTooLarge and stops the connection', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(20 * 1024);
    const e = encoded(bomb, ['Content-Encoding', 'gzip']);
    const body = readBody(decodeResponse(e.response, ['gzip'], { maxDecodedSize: 1024 * 1024 }), { maxSize: Infinity });
    e.feed(bomb);
    const err = await body.then(
      () => null,
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(DecompressedBodyTooLarge);
    expect((err as DecompressedBodyTooLarge).message).toMatch(/1048576 bytes/);
    expect(e.events).toContain('stop');
  });

  it('exactly maxDecodedSize is fine', async () => {
    const data = zlib.gzipSync(Buffer.alloc(4096, 0x61));
    const e = encoded(data, ['Content-Encoding', 'gzip']);
    const body = readBody(decodeResponse(e.response, ['gzip'], { maxDecodedSize: 4096 }));
    e.feed(data);
    e.done();
    expect((await body).length).toBe(4096);
  });

  it('a failure of the encoded body is the failure of the decoded one', async () => {
    const data = zlib.gzipSync(Buffer.from(TEXT));
    const e = encoded(data, ['Content-Encoding', 'gzip']);
    const body = readBody(decodeResponse(e.response));
    e.feed(data.subarray(0, 10));
    e.fail();
    await expect(body.asPromise()).rejects.toBeInstanceOf(ResponseFailed);
  });

  it('streams with backpressure: a paused consumer pauses the encoded body', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0x62);
    const data = zlib.gzipSync(big);
    const e = encoded(data, ['Content-Encoding', 'gzip']);
    const decoded = decodeResponse(e.response);
    const it = decoded[Symbol.asyncIterator]();
    e.feed(data);
    // Nobody reads: decoding stops once the buffers are full, and the encoded side is paused.
    await until(() => e.events.length > 0);
    expect(e.events).toEqual(['pause']);
    let total = 0;
    const reading = (async () => {
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        total += r.value.length;
      }
    })();
    await until(() => e.events.includes('resume'));
    expect(e.events.slice(0, 2)).toEqual(['pause', 'resume']);
    e.done();
    await reading;
    expect(total).toBe(big.length);
  });

  it('stopping the decoded body stops the encoded one', () => {
    const e = encoded(Buffer.alloc(0), ['Content-Encoding', 'gzip']);
    const decoded = decodeResponse(e.response);
    const seen: string[] = [];
    decoded.deliverBody({
      makeConnection: (p) => p.stopProducing(),
      connectionLost: (r) => seen.push(r.value.name),
    });
    expect(e.events).toEqual(['stop']);
    expect(seen).toEqual(['ResponseFailed']);
  });
});

describe('ContentDecoderAgent', () => {
  it('sends Accept-Encoding (replacing the caller’s) and decodes the answer', async () => {
    const h = harness();
    const agent = new ContentDecoderAgent(h.agent);
    const d = agent.request('GET', 'http://example.com/', [
      ['accept-encoding', 'br'],
      ['X-A', '1'],
    ]);
    const { server } = h.connect();
    expect(server.text()).toBe('GET / HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nAccept-Encoding: gzip, deflate\r\n\r\n');
    const gz = zlib.gzipSync(Buffer.from('hello, decoded world'));
    server.send(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`);
    server.send(gz);
    h.flush();
    const response = successResultOf(d);
    expect(response.headers.get('content-encoding')).toBeUndefined();
    expect(await response.text()).toBe('hello, decoded world');
    // The whole encoded body was received: the connection went back to the pool.
    expect(h.pool.idleCount()).toBe(1);
  });

  it('a decompression bomb over the wire aborts the connection', async () => {
    const h = harness();
    const agent = new ContentDecoderAgent(h.agent, ['gzip'], { maxDecodedSize: 64 * 1024 });
    const d = agent.request('GET', 'http://example.com/');
    const { server } = h.connect();
    const bomb = zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024));
    server.send(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length + 100}\r\n\r\n`);
    server.send(bomb);
    h.flush();
    const body = readBody(successResultOf(d));
    await expect(body.asPromise()).rejects.toBeInstanceOf(DecompressedBodyTooLarge);
    h.flush();
    expect(server.lost).not.toBeNull();
    expect(h.pool.idleCount()).toBe(0);
  });

  it('refuses unknown codings and an empty list', () => {
    const h = harness();
    expect(() => new ContentDecoderAgent(h.agent, ['compress' as 'gzip'])).toThrow(TypeError);
    expect(() => new ContentDecoderAgent(h.agent, [])).toThrow(TypeError);
    expect(() => new ContentDecoderAgent(h.agent, ['gzip'], { maxDecodedSize: -1 })).toThrow(RangeError);
  });
});

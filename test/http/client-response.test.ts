/**
 * Response and readBody on a hand-fed body source: buffering before a
 * consumer comes (bounded, with a pause), deliverBody once, flow control
 * carried to the source, readBody's size limit and cancellation, text /
 * json / arrayBuffer, the async iterator.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/defer/errors.js';
import { Failure } from '../../src/defer/failure.js';
import { ResponseBodyTooLarge, ResponseDone, ResponseFailed } from '../../src/http/client/errors.js';
import { readBody } from '../../src/http/client/readBody.js';
import { BODY_BUFFER_HIGH_WATER, Response } from '../../src/http/client/response.js';
import { HeaderList } from '../../src/http/headers.js';
import { ConnectionLost } from '../../src/reactor/errors.js';
import type { IPushProducer } from '../../src/reactor/interfaces.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { BodyRecorder } from './client-helpers.js';

function manual(options: { length?: number | null; headers?: string[]; status?: number } = {}) {
  const events: string[] = [];
  const source = {
    pauseProducing: () => events.push('pause'),
    resumeProducing: () => events.push('resume'),
    stopProducing: () => events.push('stop'),
  };
  const response = new Response(
    {
      status: options.status ?? 200,
      statusText: 'OK',
      headers: new HeaderList(options.headers ?? []),
      version: 'HTTP/1.1',
      length: options.length ?? null,
      url: 'http://example.com/',
      request: { method: 'GET', url: 'http://example.com/', headers: [['Host', 'example.com']] },
    },
    source,
  );
  const feed = (s: string | Uint8Array) => response._bodyDataReceived(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  const done = () => response._bodyDataFinished(new Failure(new ResponseDone()));
  const failed = (e: Error = new ResponseFailed([new Failure(new ConnectionLost())])) => response._bodyDataFinished(new Failure(e));
  return { response, events, feed, done, failed };
}

describe('deliverBody', () => {
  it('delivers what was buffered, then what comes, then ResponseDone', () => {
    const { response, feed, done } = manual();
    feed('ab');
    feed('cd');
    const rec = new BodyRecorder();
    response.deliverBody(rec);
    expect(rec.events).toEqual(['made', 'data', 'data']);
    feed('ef');
    done();
    expect(rec.text()).toBe('abcdef');
    expect(rec.events).toEqual(['made', 'data', 'data', 'data', 'done']);
  });

  it('a body that ended before the consumer came is delivered whole at once', () => {
    for (const end of ['done', 'failed'] as const) {
      const m = manual();
      m.feed('xyz');
      m[end]();
      const rec = new BodyRecorder();
      m.response.deliverBody(rec);
      expect(rec.text()).toBe('xyz');
      expect(rec.events.at(-1)).toBe(end === 'done' ? 'done' : 'failed:ResponseFailed');
    }
  });

  it('plain objects without makeConnection get transport and connectionMade', () => {
    const { response, events } = manual();
    const seen: string[] = [];
    const proto = {
      transport: null as IPushProducer | null,
      connectionMade() {
        seen.push('made');
        this.transport!.pauseProducing();
      },
    };
    response.deliverBody(proto);
    expect(seen).toEqual(['made']);
    expect(events).toEqual(['pause']);
  });

  it('can be called once only', () => {
    const { response } = manual();
    expect(response.bodyUsed).toBe(false);
    response.deliverBody({});
    expect(response.bodyUsed).toBe(true);
    expect(() => response.deliverBody({})).toThrow(/already/);
    expect(() => readBody(response)).toThrow(/already/);
  });

  it('buffers up to 64 KiB without a consumer, then pauses the source; the consumer resumes it', () => {
    const { response, events, feed } = manual();
    feed(Buffer.alloc(BODY_BUFFER_HIGH_WATER));
    expect(events).toEqual([]);
    feed('x');
    expect(events).toEqual(['pause']);
    feed('y');
    expect(events).toEqual(['pause']);
    const rec = new BodyRecorder();
    response.deliverBody(rec);
    expect(events).toEqual(['pause', 'resume']);
    expect(rec.chunks.reduce((n, c) => n + c.length, 0)).toBe(BODY_BUFFER_HIGH_WATER + 2);
  });

  it('carries the consumer pauses, resumes and stops to the source, once each, until the body ends', () => {
    const { response, events, done } = manual();
    const rec = new BodyRecorder();
    response.deliverBody(rec);
    rec.producer!.pauseProducing();
    rec.producer!.pauseProducing();
    rec.producer!.resumeProducing();
    rec.producer!.resumeProducing();
    rec.producer!.stopProducing();
    expect(events).toEqual(['pause', 'resume', 'stop']);
    done();
    rec.producer!.pauseProducing();
    rec.producer!.stopProducing();
    expect(events).toEqual(['pause', 'resume', 'stop']);
  });

  it('a consumer that throws is logged and the body is stopped', () => {
    const { response, events, feed } = manual();
    response.deliverBody({
      dataReceived() {
        throw new RangeError('consumer bug');
      },
    });
    feed('a');
    expect(events).toEqual(['stop']);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });
});

describe('readBody', () => {
  it('fires with the whole body on ResponseDone', () => {
    const { response, feed, done } = manual();
    const d = readBody(response);
    feed('hello ');
    assertNoResult(d);
    feed('world');
    done();
    expect(successResultOf(d).toString()).toBe('hello world');
  });

  it('an empty body is an empty Buffer', () => {
    const { response, done } = manual();
    done();
    expect(successResultOf(readBody(response)).length).toBe(0);
  });

  it('fails with the reason the body ended early', () => {
    const { response, feed, failed } = manual();
    const d = readBody(response);
    feed('part');
    failed();
    failureResultOf(d, ResponseFailed);
  });

  const limits: [string, number, string[], boolean][] = [
    ['exactly maxSize', 4, ['ab', 'cd'], true],
    ['one byte over', 4, ['ab', 'cde'], false],
    ['zero allowed, none sent', 0, [], true],
    ['zero allowed, one sent', 0, ['a'], false],
  ];
  it.each(limits)('maxSize: %s', (_name, maxSize, chunks, fits) => {
    const { response, events, feed, done } = manual();
    const d = readBody(response, { maxSize });
    for (const c of chunks) feed(c);
    done();
    if (fits) expect(successResultOf(d).toString()).toBe(chunks.join(''));
    else {
      const f = failureResultOf(d, ResponseBodyTooLarge);
      expect(f.value.maxSize).toBe(maxSize);
      expect(f.value.message).toContain(`${maxSize} bytes`);
      expect(events).toEqual(['stop']);
    }
  });

  it('a Content-Length over maxSize fails at once, before any byte', () => {
    const { response, events } = manual({ length: 1000 });
    failureResultOf(readBody(response, { maxSize: 999 }), ResponseBodyTooLarge);
    expect(events).toEqual(['stop']);
  });

  it('cancelling stops the body (aborting the connection) and fails with CancelledError', () => {
    const { response, events, feed, done } = manual();
    const d = readBody(response);
    feed('a');
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(events).toEqual(['stop']);
    done();
  });

  it('refuses a negative or NaN maxSize', () => {
    expect(() => readBody(manual().response, { maxSize: -1 })).toThrow(RangeError);
    expect(() => readBody(manual().response, { maxSize: Number.NaN })).toThrow(RangeError);
  });
});

describe('text, json, arrayBuffer, body', () => {
  it('text() decodes UTF-8 by default and the charset of the Content-Type when given', () => {
    const a = manual();
    const t1 = a.response.text();
    a.feed(Buffer.from('héllo', 'utf8'));
    a.done();
    expect(successResultOf(t1)).toBe('héllo');
    const b = manual({ headers: ['Content-Type', 'text/plain; charset="ISO-8859-1"'] });
    const t2 = b.response.text();
    b.feed(Buffer.from([0x68, 0xe9]));
    b.done();
    expect(successResultOf(t2)).toBe('hé');
    const c = manual({ headers: ['Content-Type', 'text/plain; charset=no-such-charset'] });
    const t3 = c.response.text();
    c.feed('ok');
    c.done();
    expect(successResultOf(t3)).toBe('ok');
  });

  it('json() parses; invalid JSON fails with SyntaxError', () => {
    const a = manual();
    const j = a.response.json<{ a: number[] }>();
    a.feed('{"a":[1,');
    a.feed('2]}');
    a.done();
    expect(successResultOf(j)).toEqual({ a: [1, 2] });
    const b = manual();
    const bad = b.response.json();
    b.feed('{nope');
    b.done();
    failureResultOf(bad, SyntaxError);
  });

  it('arrayBuffer() and body() give the bytes; the limit applies', () => {
    const a = manual();
    const ab = a.response.arrayBuffer();
    a.feed('abc');
    a.done();
    expect(Buffer.from(successResultOf(ab)).toString()).toBe('abc');
    const b = manual();
    const body = b.response.body({ maxSize: 2 });
    b.feed('abc');
    failureResultOf(body, ResponseBodyTooLarge);
  });

  it('ok, previousResponse and toString', () => {
    expect(manual().response.ok).toBe(true);
    expect(manual({ status: 404 }).response.ok).toBe(false);
    expect(manual().response.previousResponse).toBeNull();
    expect(String(manual().response)).toBe('<Response 200 http://example.com/>');
  });
});

describe('for await (const chunk of response)', () => {
  it('yields the chunks in order and ends with the body', async () => {
    const { response, feed, done } = manual();
    feed('a');
    const seen: string[] = [];
    const loop = (async () => {
      for await (const chunk of response) seen.push(Buffer.from(chunk).toString());
    })();
    feed('b');
    await new Promise((r) => setImmediate(r));
    feed('c');
    done();
    await loop;
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('throws the error of a body that fails', async () => {
    const { response, feed, failed } = manual();
    feed('a');
    failed();
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of response) seen.push(Buffer.from(chunk).toString());
      })(),
    ).rejects.toBeInstanceOf(ResponseFailed);
    expect(seen).toEqual(['a']);
  });

  it('leaving the loop early stops the body', async () => {
    const { response, events, feed } = manual();
    feed('a');
    feed('b');
    for await (const chunk of response) {
      expect(Buffer.from(chunk).toString()).toBe('a');
      break;
    }
    expect(events).toEqual(['stop']);
  });

  it('pauses the source while more than 64 KiB wait for the loop, and resumes as it drains', async () => {
    const { response, events, feed, done } = manual();
    const it = response[Symbol.asyncIterator]();
    for (let i = 0; i < 80; i++) feed(Buffer.alloc(1024));
    expect(events).toEqual(['pause']);
    let n = 0;
    while (events.length < 2) {
      await it.next();
      n++;
    }
    expect(events).toEqual(['pause', 'resume']);
    expect(n).toBeGreaterThan(60);
    done();
    for (;;) if ((await it.next()).done === true) break;
  });
});

/**
 * HTTP11ClientProtocol on a StringTransport and a Clock: the exact request
 * bytes, response parsing fed whole, one byte at a time and in every 2-way
 * split (Content-Length, chunked, close-delimited, HEAD, 204/304, 1xx
 * skipped), when the connection is reusable, connection loss and parse
 * errors, backpressure, timeouts, cancellation, streamed request bodies.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred, succeed } from '../../src/defer/deferred.js';
import { CancelledError, TimeoutError } from '../../src/defer/errors.js';
import { Failure } from '../../src/defer/failure.js';
import { HttpParseError, HttpStateError } from '../../src/http/index.js';
import {
  ConnectionAborted,
  RequestGenerationFailed,
  RequestNotSent,
  RequestTransmissionFailed,
  ResponseFailed,
  ResponseNeverReceived,
} from '../../src/http/client/errors.js';
import {
  HTTP11ClientProtocol,
  type ClientRequest,
  type IBodyConsumer,
  type IBodyProducer,
} from '../../src/http/client/protocol.js';
import { readBody } from '../../src/http/client/readBody.js';
import type { Response } from '../../src/http/client/response.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import type { IPushProducer } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/clock.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { BodyRecorder, splits, wire } from './client-helpers.js';

function setup(maxHeadSize?: number) {
  const clock = new Clock();
  const t = new StringTransport();
  const p = new HTTP11ClientProtocol(clock, maxHeadSize === undefined ? {} : { maxHeadSize });
  const quiescent: string[] = [];
  p.quiescentCallback = () => quiescent.push('quiescent');
  p.makeConnection(t);
  return { clock, t, p, quiescent };
}

function req(over: Partial<ClientRequest> = {}): ClientRequest {
  return {
    method: 'GET',
    target: '/',
    headers: [['Host', 'example.com']],
    body: null,
    persistent: true,
    url: 'http://example.com/',
    ...over,
  };
}

/** Let promise callbacks (async iterables) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

const lostCleanly = () => new Failure(new ConnectionDone());

describe('request bytes', () => {
  const cases: [string, Partial<ClientRequest>, string][] = [
    ['GET without a body', {}, 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'],
    [
      'GET with a path, query and extra fields in order',
      { target: '/a/b?x=1&y=%20', headers: [['Host', 'h:8080'], ['Accept', 'text/plain'], ['X-Two', 'a'], ['X-Two', 'b']] },
      'GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: h:8080\r\nAccept: text/plain\r\nX-Two: a\r\nX-Two: b\r\n\r\n',
    ],
    ['GET with an empty body: no Content-Length', { body: '' }, 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'],
    [
      'POST bytes',
      { method: 'POST', target: '/submit', body: wire('hello') },
      'POST /submit HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello',
    ],
    ['POST empty', { method: 'POST', body: '' }, 'POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n'],
    ['PUT a UTF-8 string', { method: 'PUT', body: 'é' }, 'PUT / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\n\xc3\xa9'],
    [
      'non-persistent: the caller put Connection: close in the headers',
      { headers: [['Host', 'example.com'], ['Connection', 'close']], persistent: false },
      'GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
    ],
  ];
  it.each(cases)('%s', (_name, over, expected) => {
    const { t, p } = setup();
    assertNoResult(p.request(req(over)));
    expect(t.value().toString('latin1')).toBe(expected);
    expect(p.state).toBe('WAITING');
  });

  it('an async iterable body goes chunked, with backpressure from the transport', async () => {
    const { t, p } = setup();
    async function* body() {
      yield 'ab';
      yield wire('cde');
      yield '';
      yield 'f';
    }
    const d = p.request(req({ method: 'POST', body: body() }));
    expect(p.state).toBe('TRANSMITTING');
    expect(t.producer).not.toBeNull();
    expect(t.streaming).toBe(true);
    await settle();
    expect(t.value().toString('latin1')).toBe(
      'POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n1\r\nf\r\n0\r\n\r\n',
    );
    expect(t.producer).toBeNull();
    expect(p.state).toBe('WAITING');
    p.dataReceived(wire('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'));
    expect(successResultOf(d).status).toBe(201);
  });

  it('a paused async iterable body waits for resumeProducing', async () => {
    const { t, p } = setup();
    let pulled = 0;
    async function* body() {
      for (let i = 0; i < 3; i++) {
        pulled++;
        yield `${i}`;
      }
    }
    assertNoResult(p.request(req({ method: 'PUT', body: body() })));
    const producer = t.producer as IPushProducer;
    producer.pauseProducing();
    await settle();
    expect(pulled).toBeLessThanOrEqual(1);
    producer.resumeProducing();
    await settle();
    expect(pulled).toBe(3);
    expect(t.value().toString('latin1')).toMatch(/1\r\n0\r\n1\r\n1\r\n1\r\n2\r\n0\r\n\r\n$/);
  });

  it('an IBodyProducer with a length goes with a Content-Length', () => {
    const { t, p } = setup();
    const producer: IBodyProducer = {
      length: 5,
      startProducing(consumer: IBodyConsumer) {
        consumer.write('he');
        consumer.write(wire('llo'));
        return succeed(undefined);
      },
      stopProducing() {},
    };
    assertNoResult(p.request(req({ method: 'POST', body: producer })));
    expect(t.value().toString('latin1')).toBe('POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello');
    expect(p.state).toBe('WAITING');
  });

  it('an IBodyProducer that writes fewer bytes than its length fails the request (RequestGenerationFailed)', () => {
    const { t, p } = setup();
    const producer: IBodyProducer = {
      length: 5,
      startProducing(consumer: IBodyConsumer) {
        consumer.write('abc');
        return succeed(undefined);
      },
      stopProducing() {},
    };
    const f = failureResultOf(p.request(req({ method: 'POST', body: producer })), RequestGenerationFailed);
    expect(f.value.reasons[0]!.check(HttpStateError)).not.toBeNull();
    expect(t.disconnected).toBe(true);
  });

  it('an IBodyProducer that writes more bytes than its length is stopped and fails the request', () => {
    const { p } = setup();
    let stopped = false;
    const producer: IBodyProducer = {
      length: 1,
      startProducing(consumer: IBodyConsumer) {
        consumer.write('abc');
        return new Deferred<void>();
      },
      stopProducing() {
        stopped = true;
      },
    };
    const d = p.request(req({ method: 'POST', body: producer }));
    expect(stopped).toBe(true);
    const f = failureResultOf(d, RequestGenerationFailed);
    expect((f.value.reasons[0]!.value as HttpStateError).code).toBe('TOO_MUCH_DATA');
  });

  it('a producer that fails fails the request with RequestGenerationFailed and aborts', () => {
    const { t, p } = setup();
    const done = new Deferred<void>();
    const producer: IBodyProducer = { length: null, startProducing: () => done, stopProducing() {} };
    const d = p.request(req({ method: 'POST', body: producer }));
    done.errback(new RangeError('disk on fire'));
    const f = failureResultOf(d, RequestGenerationFailed);
    expect(f.value.reasons[0]!.check(RangeError)).not.toBeNull();
    expect(t.disconnected).toBe(true);
    expect(p.state).toBe('ABORTED');
  });

  it('an async iterable that throws fails the request', async () => {
    const { p } = setup();
    async function* body(): AsyncGenerator<string> {
      yield 'a';
      throw new RangeError('broken stream');
    }
    const d = p.request(req({ method: 'POST', body: body() }));
    await settle();
    const f = failureResultOf(d, RequestGenerationFailed);
    expect(f.value.reasons[0]!.value.message).toBe('broken stream');
  });

  it('refuses a second request while one is in progress, and any after the connection is lost', () => {
    const { p } = setup();
    const first = p.request(req());
    failureResultOf(p.request(req()), Error);
    p.connectionLost(lostCleanly());
    failureResultOf(first, ResponseNeverReceived);
    failureResultOf(p.request(req()), RequestNotSent);
  });
});

interface ParseCase {
  method: string;
  response: string;
  /** Close the connection cleanly after the bytes (close-delimited bodies). */
  close?: boolean;
  status: number;
  statusText?: string;
  version?: string;
  length: number | null;
  body: string;
  reusable: boolean;
}

describe('response parsing, fed whole, byte by byte and in every split', () => {
  const cases: [string, ParseCase][] = [
    [
      'Content-Length',
      { method: 'GET', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello', status: 200, statusText: 'OK', length: 5, body: 'hello', reusable: true },
    ],
    [
      'chunked with extensions and trailers',
      {
        method: 'GET',
        response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n',
        status: 200,
        length: null,
        body: 'abcde',
        reusable: true,
      },
    ],
    [
      'close-delimited',
      { method: 'GET', response: 'HTTP/1.1 200 OK\r\n\r\nuntil the end', close: true, status: 200, length: null, body: 'until the end', reusable: false },
    ],
    [
      'HEAD: a Content-Length but no body',
      { method: 'HEAD', response: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', status: 200, length: 0, body: '', reusable: true },
    ],
    ['204', { method: 'DELETE', response: 'HTTP/1.1 204 No Content\r\n\r\n', status: 204, length: 0, body: '', reusable: true }],
    [
      '304 with a Content-Length',
      { method: 'GET', response: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', status: 304, length: 0, body: '', reusable: true },
    ],
    [
      '100 Continue and 103 Early Hints are skipped',
      {
        method: 'POST',
        response: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
        status: 201,
        statusText: 'Created',
        length: 2,
        body: 'ok',
        reusable: true,
      },
    ],
    [
      'HTTP/1.0 closes',
      { method: 'GET', response: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi', status: 200, version: 'HTTP/1.0', length: 2, body: 'hi', reusable: false },
    ],
    [
      'HTTP/1.0 with keep-alive stays open',
      {
        method: 'GET',
        response: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi',
        status: 200,
        version: 'HTTP/1.0',
        length: 2,
        body: 'hi',
        reusable: true,
      },
    ],
    [
      'Connection: close',
      { method: 'GET', response: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi', status: 200, length: 2, body: 'hi', reusable: false },
    ],
    [
      'an empty reason phrase',
      { method: 'GET', response: 'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n', status: 404, statusText: '', length: 0, body: '', reusable: true },
    ],
  ];

  it.each(cases)('%s', (_name, c) => {
    const input = wire(c.response);
    for (const pieces of splits(input)) {
      const { t, p, quiescent } = setup();
      const d = p.request(req({ method: c.method, body: c.method === 'POST' ? 'x' : null }));
      for (const piece of pieces) p.dataReceived(piece);
      if (c.close === true) p.connectionLost(lostCleanly());
      const response = successResultOf(d);
      expect(response.status).toBe(c.status);
      if (c.statusText !== undefined) expect(response.statusText).toBe(c.statusText);
      expect(response.version).toBe(c.version ?? 'HTTP/1.1');
      expect(response.length).toBe(c.length);
      expect(response.url).toBe('http://example.com/');
      expect(response.request.method).toBe(c.method);
      const rec = new BodyRecorder();
      response.deliverBody(rec);
      expect(rec.text()).toBe(c.body);
      expect(rec.events.at(-1)).toBe('done');
      expect(quiescent.length).toBe(c.reusable ? 1 : 0);
      if (c.close !== true) expect(t.disconnecting).toBe(!c.reusable);
      expect(p.state).toBe(c.reusable ? 'QUIESCENT' : c.close === true ? 'CONNECTION_LOST' : 'CLOSING');
    }
  });

  it('headers are a HeaderList, in order, names as received', () => {
    const { p } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Y: z\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n'));
    const r = successResultOf(d);
    expect(r.headers.getAll('set-cookie')).toEqual(['a=1', 'b=2']);
    expect(r.headers.raw).toEqual(['Set-Cookie', 'a=1', 'X-Y', 'z', 'set-cookie', 'b=2', 'Content-Length', '0']);
  });

  it('the connection goes back to the pool before the body ends (quiescent first)', () => {
    const { p } = setup();
    const order: string[] = [];
    p.quiescentCallback = () => order.push('quiescent');
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh'));
    successResultOf(d).deliverBody({ connectionLost: () => order.push('body done') });
    p.dataReceived(wire('i'));
    expect(order).toEqual(['quiescent', 'body done']);
  });

  it('carries several requests one after the other on one connection', () => {
    const { t, p, quiescent } = setup();
    for (let i = 0; i < 3; i++) {
      t.clear();
      const d = p.request(req({ target: `/${i}` }));
      expect(t.value().toString('latin1')).toBe(`GET /${i} HTTP/1.1\r\nHost: example.com\r\n\r\n`);
      p.dataReceived(wire(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${i}`));
      expect(successResultOf(readBody(successResultOf(d))).toString()).toBe(`${i}`);
    }
    expect(quiescent).toHaveLength(3);
  });

  it('a request that asked for Connection: close is not reused, whatever the server says', () => {
    const { t, p, quiescent } = setup();
    const d = p.request(req({ persistent: false }));
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    successResultOf(d);
    expect(quiescent).toEqual([]);
    expect(t.disconnecting).toBe(true);
  });

  it('a 101 answer ends HTTP on the connection', () => {
    const { t, p, quiescent } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n'));
    expect(successResultOf(d).status).toBe(101);
    expect(quiescent).toEqual([]);
    expect(t.disconnecting).toBe(true);
  });
});

describe('connection loss and invalid responses', () => {
  it('a connection that ends before any response byte: ResponseNeverReceived', () => {
    for (const reason of [new ConnectionDone(), new ConnectionLost()]) {
      const { p } = setup();
      const d = p.request(req());
      p.connectionLost(new Failure(reason));
      const f = failureResultOf(d, ResponseNeverReceived);
      expect(f.value.reasons[0]!.value).toBe(reason);
    }
  });

  it('a connection that ends inside the head: ResponseFailed (not "never received")', () => {
    const { p } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Len'));
    p.connectionLost(lostCleanly());
    const f = failureResultOf(d, ResponseFailed);
    expect(f.value).not.toBeInstanceOf(ResponseNeverReceived);
    expect(f.value.reasons.some((r) => r.check(HttpParseError) !== null)).toBe(true);
  });

  it('a connection that ends while a streamed body is sent: RequestTransmissionFailed', () => {
    const { p } = setup();
    const d = p.request(req({ method: 'POST', body: { length: null, startProducing: () => new Deferred<void>(), stopProducing() {} } }));
    p.connectionLost(new Failure(new ConnectionLost()));
    failureResultOf(d, RequestTransmissionFailed);
  });

  const truncated: [string, string, Error][] = [
    ['a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', new ConnectionDone()],
    ['a chunked body', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', new ConnectionDone()],
    ['a close-delimited body reset', 'HTTP/1.1 200 OK\r\n\r\nabc', new ConnectionLost()],
  ];
  it.each(truncated)('%s cut short fails the body with ResponseFailed after the bytes received', (_name, input, reason) => {
    const { p } = setup();
    const d = p.request(req());
    p.dataReceived(wire(input));
    const rec = new BodyRecorder();
    successResultOf(d).deliverBody(rec);
    p.connectionLost(new Failure(reason));
    expect(rec.text()).toBe('abc');
    expect(rec.events.at(-1)).toBe('failed:ResponseFailed');
  });

  it('an invalid response head fails the request with the HttpParseError and aborts', () => {
    for (const pieces of splits(wire('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'))) {
      const { t, p } = setup();
      const d = p.request(req());
      for (const piece of pieces) p.dataReceived(piece);
      const f = failureResultOf(d, ResponseFailed);
      expect((f.value.reasons[0]!.value as HttpParseError).code).toBe('CL_REPEATED');
      expect(t.disconnected).toBe(true);
      expect(p.state).toBe('ABORTED');
    }
  });

  it('a head larger than maxHeadSize fails (431)', () => {
    const { p } = setup(64);
    const d = p.request(req());
    p.dataReceived(wire(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(100)}\r\n\r\n`));
    const f = failureResultOf(d, ResponseFailed);
    expect((f.value.reasons[0]!.value as HttpParseError).status).toBe(431);
  });

  it('bytes on an idle connection close it quietly (a 408 before the server hangs up)', () => {
    const { t, p } = setup();
    p.dataReceived(wire('HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n'));
    expect(t.disconnected).toBe(true);
    expect(p.isQuiescent).toBe(false);
    failureResultOf(p.request(req()), RequestNotSent);
  });

  it('a response that comes before the streamed body is sent ends the upload and the connection', async () => {
    const { t, p, quiescent } = setup();
    let stopped = false;
    const producer: IBodyProducer = {
      length: null,
      startProducing: (c) => {
        c.write('part');
        return new Deferred<void>();
      },
      stopProducing: () => {
        stopped = true;
      },
    };
    const d = p.request(req({ method: 'POST', body: producer }));
    p.dataReceived(wire('HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig'));
    const r = successResultOf(d);
    expect(r.status).toBe(413);
    expect(successResultOf(readBody(r)).toString()).toBe('big');
    expect(stopped).toBe(true);
    expect(t.producer).toBeNull();
    expect(quiescent).toEqual([]);
    expect(t.disconnecting).toBe(true);
  });
});

describe('backpressure', () => {
  it('a consumer that pauses pauses the transport; data received meanwhile waits', () => {
    const { t, p, quiescent } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab'));
    const rec = new BodyRecorder();
    successResultOf(d).deliverBody(rec);
    expect(rec.text()).toBe('ab');
    rec.producer!.pauseProducing();
    expect(t.producerState).toBe('paused');
    p.dataReceived(wire('cdef'));
    expect(rec.text()).toBe('ab');
    expect(quiescent).toEqual([]);
    rec.producer!.resumeProducing();
    expect(t.producerState).toBe('producing');
    expect(rec.text()).toBe('abcdef');
    expect(rec.events.at(-1)).toBe('done');
    expect(quiescent).toHaveLength(1);
  });

  it('pausing inside dataReceived stops delivery within the same chunk', () => {
    const { p } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
    const seen: string[] = [];
    let producer: { pauseProducing(): void; resumeProducing(): void } | null = null;
    successResultOf(d).deliverBody({
      makeConnection: (pp) => (producer = pp),
      dataReceived: (data) => {
        seen.push(Buffer.from(data).toString());
        producer!.pauseProducing();
      },
    });
    p.dataReceived(wire('1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n'));
    expect(seen).toEqual(['a']);
    producer!.resumeProducing();
    expect(seen).toEqual(['a', 'b']);
    producer!.resumeProducing();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('an unread body buffers 64 KiB, then pauses the transport until someone reads it', () => {
    const { t, p } = setup();
    const d = p.request(req());
    const size = 200 * 1024;
    p.dataReceived(wire(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`));
    const response = successResultOf(d);
    for (let i = 0; i < size / 1024; i++) p.dataReceived(Buffer.alloc(1024, 0x61));
    expect(t.producerState).toBe('paused');
    const body = successResultOf(readBody(response));
    expect(body.length).toBe(size);
    expect(t.producerState).toBe('producing');
  });

  it('a connection lost while the consumer pauses still delivers what was received, then ends', () => {
    const { p } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\n\r\nab'));
    const rec = new BodyRecorder();
    successResultOf(d).deliverBody(rec);
    rec.producer!.pauseProducing();
    p.dataReceived(wire('cd'));
    p.connectionLost(lostCleanly());
    expect(rec.events.at(-1)).toBe('data');
    rec.producer!.resumeProducing();
    expect(rec.text()).toBe('abcd');
    expect(rec.events.at(-1)).toBe('done');
  });

  it('stopProducing aborts the connection and fails the body', () => {
    const { t, p, quiescent } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab'));
    const rec = new BodyRecorder();
    successResultOf(d).deliverBody(rec);
    rec.producer!.stopProducing();
    expect(t.disconnected).toBe(true);
    expect(rec.events.at(-1)).toBe('failed:ResponseFailed');
    expect((rec.reason!.value as ResponseFailed).reasons[0]!.check(ConnectionAborted)).not.toBeNull();
    p.dataReceived(wire('more'));
    p.connectionLost(new Failure(new ConnectionLost()));
    expect(rec.events.filter((e) => e.startsWith('failed'))).toHaveLength(1);
    expect(quiescent).toEqual([]);
  });
});

describe('timeouts (on the clock)', () => {
  it('requestTimeout: no response head in time fails with TimeoutError and aborts', () => {
    const { clock, t, p } = setup();
    const d = p.request(req({ requestTimeout: 5 }));
    clock.advance(4.9);
    assertNoResult(d);
    clock.advance(0.1);
    const f = failureResultOf(d, TimeoutError);
    expect(f.value.timeout).toBe(5);
    expect(t.disconnected).toBe(true);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('requestTimeout is cancelled by the head; interim responses restart it', () => {
    const { clock, p } = setup();
    const d = p.request(req({ requestTimeout: 5 }));
    clock.advance(4);
    p.dataReceived(wire('HTTP/1.1 100 Continue\r\n\r\n'));
    clock.advance(4);
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expect(successResultOf(d).status).toBe(200);
    clock.advance(100);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('requestTimeout is restarted by each request body chunk written', () => {
    const { clock, p } = setup();
    let consumer: IBodyConsumer | null = null;
    const done = new Deferred<void>();
    const d = p.request(
      req({ method: 'POST', requestTimeout: 5, body: { length: null, startProducing: (c) => ((consumer = c), done), stopProducing() {} } }),
    );
    for (let i = 0; i < 4; i++) {
      clock.advance(4);
      consumer!.write('x');
    }
    done.callback(undefined);
    clock.advance(4);
    assertNoResult(d);
    clock.advance(1);
    failureResultOf(d, TimeoutError);
  });

  it('bodyTimeout: a body that stalls fails with TimeoutError; data restarts the timer; a pause suspends it', () => {
    const { clock, t, p } = setup();
    const d = p.request(req({ bodyTimeout: 10 }));
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab'));
    const rec = new BodyRecorder();
    successResultOf(d).deliverBody(rec);
    clock.advance(9);
    p.dataReceived(wire('cd'));
    clock.advance(9);
    rec.producer!.pauseProducing();
    clock.advance(100);
    expect(rec.reason).toBeNull();
    rec.producer!.resumeProducing();
    clock.advance(9.5);
    expect(rec.reason).toBeNull();
    clock.advance(0.5);
    expect(rec.reason!.check(TimeoutError)).not.toBeNull();
    expect(t.disconnected).toBe(true);
  });
});

describe('cancellation', () => {
  it('cancelling before the head aborts the connection, which is never reused', () => {
    const { t, p, quiescent } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\n'));
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(t.disconnected).toBe(true);
    expect(p.state).toBe('ABORTED');
    expect(p.isQuiescent).toBe(false);
    p.dataReceived(wire('Content-Length: 0\r\n\r\n'));
    p.connectionLost(new Failure(new ConnectionLost()));
    expect(quiescent).toEqual([]);
  });

  it('cancelling a streamed upload stops its producer', () => {
    const { p } = setup();
    let stopped = false;
    const d = p.request(
      req({ method: 'POST', body: { length: null, startProducing: () => new Deferred<void>(), stopProducing: () => (stopped = true) } }),
    );
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(stopped).toBe(true);
  });

  it('cancelling after the head has no effect (read the body, or stop it, instead)', () => {
    const { t, p } = setup();
    const d = p.request(req());
    p.dataReceived(wire('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n'));
    const seen: Response[] = [];
    d.addCallback((r) => {
      seen.push(r);
      return r;
    });
    d.cancel();
    expect(seen).toHaveLength(1);
    expect(t.disconnected).toBe(false);
  });
});

describe('closing', () => {
  it('close() loses the connection; whenClosed fires on connectionLost', () => {
    const { t, p } = setup();
    const closed = p.close();
    expect(t.disconnecting).toBe(true);
    assertNoResult(closed);
    p.connectionLost(lostCleanly());
    successResultOf(closed);
    successResultOf(p.whenClosed());
  });

  it('abort() fails the request in progress', () => {
    const { t, p } = setup();
    const d = p.request(req());
    void p.abort();
    expect(t.disconnected).toBe(true);
    failureResultOf(d, ResponseFailed);
  });
});

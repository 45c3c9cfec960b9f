/**
 * HTTPChannel on a StringTransport and a Clock: keep-alive, pipelining
 * order (CVE-2023-46137 / CVE-2024-41671: a slow first handler, both
 * requests in one dataReceived and split byte by byte), parser errors,
 * HEAD, chunked output, the Date field, coalesced writes.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { HttpError, type Request } from '../../src/http/index.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { SPLITS, connect, endOfTurn, get, type Split } from './channel-helpers.js';

describe('keep-alive', () => {
  const cases: { name: string; request: string; connection: string | undefined; closes: boolean }[] = [
    { name: 'HTTP/1.1 persists by default', request: get('/'), connection: undefined, closes: false },
    { name: 'HTTP/1.1 with Connection: close closes', request: get('/', 'Connection: close\r\n'), connection: 'close', closes: true },
    { name: 'HTTP/1.0 closes by default', request: 'GET / HTTP/1.0\r\n\r\n', connection: 'close', closes: true },
    {
      name: 'HTTP/1.0 with Connection: keep-alive persists',
      request: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      connection: 'keep-alive',
      closes: false,
    },
    { name: 'Connection: close among other options closes', request: get('/', 'Connection: foo, close\r\n'), connection: 'close', closes: true },
  ];
  for (const c of cases) {
    for (const split of SPLITS) {
      it(`${c.name} (${split})`, () => {
        const conn = connect((r) => r.finish('ok'));
        conn.send(c.request, split);
        const [res] = conn.responses();
        expect(res!.status).toBe(200);
        expect(res!.body).toBe('ok');
        expect(res!.headers.get('connection')).toBe(c.connection);
        expect(conn.transport.disconnecting).toBe(c.closes);
      });
    }
  }

  it('a handler setting Connection: close closes after the response', () => {
    const conn = connect((r) => {
      r.setHeader('Connection', 'close');
      r.finish('bye');
    });
    conn.send(get('/') + get('/second'));
    expect(conn.requests).toHaveLength(1);
    expect(conn.responses()).toHaveLength(1);
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('serves many requests one after the other on one connection', () => {
    const conn = connect((r) => r.finish(r.path));
    for (let i = 0; i < 20; i++) conn.send(get(`/${i}`));
    expect(conn.responses().map((r) => r.body)).toEqual(Array.from({ length: 20 }, (_, i) => `/${i}`));
    expect(conn.channel.requestCount).toBe(20);
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('after an HTTP/1.0 request without keep-alive, later pipelined bytes are never parsed', () => {
    const conn = connect((r) => r.finish('x'));
    conn.send('GET /a HTTP/1.0\r\n\r\n' + get('/b'));
    expect(conn.requests.map((r) => r.path)).toEqual(['/a']);
    expect(conn.responses()).toHaveLength(1);
  });
});

describe('pipelining order', () => {
  /** `/slow` waits on a Deferred; everything else answers at once with its path. */
  function slowFirst() {
    const gates: Deferred<void>[] = [];
    const conn = connect((r) => {
      if (r.path.startsWith('/slow')) {
        const d = new Deferred<void>();
        gates.push(d);
        d.addCallback(() => r.finish(`done ${r.path}`));
        return;
      }
      r.finish(`done ${r.path}`);
    });
    return { conn, gates };
  }

  for (const split of [...SPLITS, 7] as Split[]) {
    it(`does not dispatch request 2 before response 1 is finished (${split})`, () => {
      const { conn, gates } = slowFirst();
      conn.send(get('/slow') + get('/fast'), split);
      expect(conn.requests.map((r) => r.path)).toEqual(['/slow']);
      expect(conn.out()).toBe('');
      gates[0]!.callback(undefined);
      expect(conn.requests.map((r) => r.path)).toEqual(['/slow', '/fast']);
      expect(conn.responses().map((r) => r.body)).toEqual(['done /slow', 'done /fast']);
    });
  }

  it('keeps order across three requests when the slow one is in the middle', () => {
    const { conn, gates } = slowFirst();
    conn.send(get('/a') + get('/slow') + get('/c'), 'bytes');
    expect(conn.requests.map((r) => r.path)).toEqual(['/a', '/slow']);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /a']);
    gates[0]!.callback(undefined);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /a', 'done /slow', 'done /c']);
  });

  it('bytes arriving after the slow request wait, then are served in order', () => {
    const { conn, gates } = slowFirst();
    conn.send(get('/slow'));
    conn.send(get('/b'));
    conn.send(get('/c'), 'bytes');
    expect(conn.requests).toHaveLength(1);
    gates[0]!.callback(undefined);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /slow', 'done /b', 'done /c']);
  });

  it('two slow requests in a row', async () => {
    const { conn, gates } = slowFirst();
    conn.send(get('/slow1') + get('/slow2') + get('/c'));
    expect(conn.requests).toHaveLength(1);
    gates[0]!.callback(undefined);
    expect(conn.requests).toHaveLength(2);
    // Response 1 is held for the rest of the turn (request 2 is in flight), then written.
    await endOfTurn();
    expect(conn.responses().map((r) => r.body)).toEqual(['done /slow1']);
    gates[1]!.callback(undefined);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /slow1', 'done /slow2', 'done /c']);
  });

  const endings: { name: string; end: (r: Request, d: Deferred<void>) => void; first: number | null }[] = [
    { name: 'finish()', end: (r, d) => d.addCallback(() => r.finish('one')), first: 200 },
    {
      name: 'a failed Deferred (500)',
      end: (r, d) => d.addCallback(() => Promise.reject(new Error('boom'))).addErrback((f) => r.processingFailed(f)),
      first: 500,
    },
    { name: 'an HttpError', end: (r, d) => d.addCallback(() => r.processingFailed(new HttpError(409))), first: 409 },
    {
      name: 'a streamed response',
      end: (r, d) =>
        d.addCallback(() => {
          r.write('o');
          r.write('ne');
          r.finish();
        }),
      first: 200,
    },
  ];
  for (const e of endings) {
    for (const split of ['whole', 'bytes'] as Split[]) {
      it(`request 2 waits whichever way response 1 ends: ${e.name} (${split})`, async () => {
        const gate = new Deferred<void>();
        const conn = connect((r) => {
          if (r.path === '/first') e.end(r, gate);
          else r.finish('two');
        });
        conn.send(get('/first') + get('/second'), split);
        expect(conn.requests).toHaveLength(1);
        gate.callback(undefined);
        for (let i = 0; i < 5 && conn.requests.length < 2; i++) await Promise.resolve();
        expect(conn.requests).toHaveLength(2);
        const res = conn.responses();
        expect(res.map((r) => r.status)).toEqual([e.first, 200]);
        expect(res[1]!.body).toBe('two');
        flushLoggedErrors();
      });
    }
  }

  it('a handler failing after it started writing aborts: request 2 is never dispatched', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      r.write('partial');
      gate.addCallback(() => r.processingFailed(new Error('late failure')));
    });
    conn.send(get('/first') + get('/second'));
    gate.callback(undefined);
    expect(conn.requests).toHaveLength(1);
    expect(conn.transport.disconnected).toBe(true);
    expect(flushLoggedErrors(Error)).toHaveLength(1);
  });

  it('a disconnect while request 1 waits: request 2 is never dispatched, a late finish is a no-op', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      gate.addCallback(() => r.finish('late'));
    });
    conn.send(get('/first') + get('/second'));
    conn.lose();
    gate.callback(undefined);
    expect(conn.requests).toHaveLength(1);
    expect(conn.out()).toBe('');
  });

  it('answers a pipelined batch with one transport write', () => {
    const conn = connect((r) => r.finish(`r${r.path}`));
    let batch = '';
    for (let i = 0; i < 16; i++) batch += get(`/${i}`);
    conn.send(batch);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses()).toHaveLength(16);
  });

  it('writes a simple finish(body) response as one buffer', () => {
    const conn = connect((r) => r.finish('hello'));
    conn.send(get('/'));
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.out()).toBe('HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello');
  });

  it('a batch answered after a slow response is still one write', () => {
    const { conn, gates } = slowFirst();
    conn.send(get('/slow') + get('/a') + get('/b') + get('/c'));
    conn.transport.writes.length = 0;
    gates[0]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /slow', 'done /a', 'done /b', 'done /c']);
  });
});

describe('parser errors: the status, Connection: close, and the connection closes', () => {
  const cases: { name: string; input: string; status: number; limits?: object }[] = [
    { name: 'missing Host', input: 'GET / HTTP/1.1\r\n\r\n', status: 400 },
    { name: 'bare LF', input: 'GET / HTTP/1.1\nHost: x\r\n\r\n', status: 400 },
    { name: 'NUL in a value', input: 'GET / HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n', status: 400 },
    { name: 'Content-Length with Transfer-Encoding', input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc', status: 400 },
    { name: 'two Content-Lengths', input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', status: 400 },
    { name: 'an unsupported transfer coding', input: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', status: 501 },
    { name: 'HTTP/2.0', input: 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', status: 505 },
    { name: 'a long target', input: `GET /${'a'.repeat(100)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 414, limits: { maxTargetLength: 50 } },
    { name: 'too many fields', input: `GET / HTTP/1.1\r\nHost: x\r\n${'A: b\r\n'.repeat(10)}\r\n`, status: 431, limits: { maxHeaders: 5 } },
    { name: 'a large head', input: `GET / HTTP/1.1\r\nHost: x\r\nA: ${'b'.repeat(300)}\r\n\r\n`, status: 431, limits: { maxHeadSize: 200 } },
    { name: 'a declared body over the parser limit', input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', status: 413, limits: { maxBodySize: 10 } },
  ];
  for (const c of cases) {
    for (const split of SPLITS) {
      it(`${c.name} → ${c.status} (${split})`, () => {
        const conn = connect((r) => r.finish('never'), c.limits ? { limits: c.limits } : {});
        conn.send(c.input + get('/after'), split);
        expect(conn.requests).toHaveLength(0);
        const res = conn.responses();
        expect(res).toHaveLength(1);
        expect(res[0]!.status).toBe(c.status);
        expect(res[0]!.headers.get('connection')).toBe('close');
        expect(conn.transport.disconnecting).toBe(true);
      });
    }
  }

  it('a valid request before the error is answered first, in order', () => {
    const conn = connect((r) => r.finish('fine'));
    conn.send(get('/ok') + 'GET / HTTP/1.1\r\n\r\n');
    const res = conn.responses();
    expect(res.map((r) => r.status)).toEqual([200, 400]);
    expect(res[1]!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('an error behind a slow request waits for the slow response', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      gate.addCallback(() => r.finish('slow'));
    });
    conn.send(get('/slow') + 'GET / HTTP/1.1\r\n\r\n');
    expect(conn.out()).toBe('');
    gate.callback(undefined);
    expect(conn.responses().map((r) => r.status)).toEqual([200, 400]);
  });

  for (const split of SPLITS) {
    it(`a broken chunked body is the handler's error first, then 400 and close (${split})`, () => {
      const seen: unknown[] = [];
      const conn = connect((r) => {
        r.content().addErrback((f) => {
          seen.push(f.value);
        });
      });
      conn.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n', split);
      expect(seen).toHaveLength(1);
      expect((seen[0] as { status: number }).status).toBe(400);
      const res = conn.responses();
      expect(res.map((r) => r.status)).toEqual([400]);
      expect(conn.transport.disconnecting).toBe(true);
    });
  }

  it('a broken body after the response started aborts the connection', () => {
    const conn = connect((r) => {
      r.write('streaming');
      r.receiveBody({ data() {}, end() {} });
    });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n');
    expect(conn.transport.disconnected).toBe(true);
  });
});

describe('HEAD', () => {
  for (const split of SPLITS) {
    it(`sends no body even when the handler writes one (${split})`, () => {
      const conn = connect((r) => r.finish('hello world'));
      conn.send(`HEAD / HTTP/1.1\r\nHost: x\r\n\r\n${get('/next')}`, split);
      const res = conn.responses();
      expect(res).toHaveLength(2);
      expect(res[0]!.headers.get('content-length')).toBe('11');
      expect(res[0]!.body).toBe('');
      expect(res[1]!.body).toBe('hello world');
      expect(conn.out().split('hello world')).toHaveLength(2);
    });
  }

  it('drops streamed writes too', () => {
    const conn = connect((r) => {
      r.write('a');
      r.write('b');
      r.finish('c');
    });
    conn.send(`HEAD / HTTP/1.1\r\nHost: x\r\n\r\n${get('/next')}`);
    const res = conn.responses();
    expect(res.map((r) => r.body)).toEqual(['', 'abc']);
    expect(conn.requests[0]!.sentLength).toBe(0);
  });
});

describe('response framing', () => {
  it('chunks a streamed HTTP/1.1 response', () => {
    const conn = connect((r) => {
      r.write('hello');
      r.write(' world');
      r.finish();
    });
    conn.send(get('/'));
    const out = conn.out();
    expect(out).toContain('Transfer-Encoding: chunked\r\n');
    expect(out.endsWith('\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')).toBe(true);
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('delimits a streamed HTTP/1.0 response by closing', () => {
    const conn = connect((r) => {
      r.write('hello');
      r.finish(' world');
    });
    conn.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const out = conn.out();
    expect(out).not.toContain('chunked');
    expect(out).toContain('Connection: close\r\n');
    expect(out.endsWith('\r\n\r\nhello world')).toBe(true);
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('honours a Content-Length the handler sets', () => {
    const conn = connect((r) => {
      r.setHeader('Content-Length', 4);
      r.write('ab');
      r.write('cd');
      r.finish();
    });
    conn.send(get('/'));
    const [res] = conn.responses();
    expect(res!.headers.getAll('content-length')).toEqual(['4']);
    expect(res!.headers.has('transfer-encoding')).toBe(false);
    expect(res!.body).toBe('abcd');
    expect(conn.out().endsWith('\r\n\r\nabcd')).toBe(true);
  });

  it('sends the head with the first chunk in one write', () => {
    const conn = connect((r) => {
      r.write('first');
    });
    conn.send(get('/'));
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.out()).toMatch(/\r\n\r\n5\r\nfirst\r\n$/);
  });

  it('encodes strings as UTF-8', () => {
    const conn = connect((r) => r.finish('héllo ☃'));
    conn.send(get('/'));
    const res = conn.responses()[0]!;
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength('héllo ☃')));
    expect(Buffer.from(res.body, 'latin1').toString('utf8')).toBe('héllo ☃');
  });
});

describe('the Date field', () => {
  it('comes from the clock and is formatted once per second', () => {
    const clock = new Clock();
    clock.advance(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
    const conn = connect((r) => r.finish(''), { reactor: clock });
    conn.send(get('/'));
    conn.clock.advance(0.5);
    conn.send(get('/'));
    conn.clock.advance(0.5);
    conn.send(get('/'));
    const dates = conn.responses().map((r) => r.headers.get('date'));
    expect(dates).toEqual(['Sun, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:38 GMT']);
  });

  it('is not added when the handler sets its own', () => {
    const conn = connect((r) => {
      r.setHeader('date', 'Mon, 01 Jan 2001 00:00:00 GMT');
      r.finish('');
    });
    conn.send(get('/'));
    expect(conn.responses()[0]!.headers.getAll('date')).toEqual(['Mon, 01 Jan 2001 00:00:00 GMT']);
  });
});

describe('Expect: 100-continue', () => {
  const head = 'POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n';

  it('sends 100 Continue when the handler reads the body, not before', () => {
    let reading: (() => void) | null = null;
    const conn = connect((r) => {
      reading = () => {
        r.content().addCallback((body) => r.finish(`got ${body.toString()}`));
      };
    });
    conn.send(head);
    expect(conn.out()).toBe('');
    reading!();
    expect(conn.out()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    conn.send('hello', 'bytes');
    const [res] = conn.responses(['POST']);
    expect(res!.informational).toEqual([100]);
    expect(res!.body).toBe('got hello');
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('sends it at once for a handler reading synchronously', () => {
    const conn = connect((r) => {
      r.receiveBody({ data() {}, end: () => r.finish('ok') });
    });
    conn.send(head);
    expect(conn.out()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    conn.send('hello');
    expect(conn.responses(['POST'])[0]!.body).toBe('ok');
  });

  it('is not sent when the handler answers without reading; the connection then closes', () => {
    const conn = connect((r) => {
      r.setResponseCode(401);
      r.finish('no');
    });
    conn.send(head);
    const out = conn.out();
    expect(out).not.toContain('100 Continue');
    const res = conn.responses(['POST']);
    expect(res.map((r) => r.status)).toEqual([401]);
    expect(res[0]!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('is not sent for a declared body over maxBodySize: 413 and close', () => {
    const conn = connect(
      (r) => {
        return r.content();
      },
      { maxBodySize: 3 },
    );
    conn.send(head);
    expect(conn.out()).not.toContain('100 Continue');
    const [res] = conn.responses(['POST']);
    expect(res!.status).toBe(413);
    expect(res!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('a body already arriving (the client did not wait) needs no 100 and is drained when small', () => {
    const conn = connect((r) => r.finish('early'));
    conn.send(head + 'hel');
    conn.send('lo' + get('/next'));
    const res = conn.responses(['POST', 'GET']);
    expect(res.map((r) => r.body)).toEqual(['early', 'early']);
    expect(conn.out()).not.toContain('100 Continue');
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('is ignored for HTTP/1.0 clients', () => {
    const conn = connect((r) => {
      r.content().addCallback(() => r.finish('ok'));
    });
    conn.send('POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n');
    expect(conn.out()).toBe('');
    conn.send('hi');
    expect(conn.out()).not.toContain('100 Continue');
    expect(conn.responses(['POST'])[0]!.body).toBe('ok');
  });
});

describe('unread bodies', () => {
  it('a small unread body is drained so the connection stays usable', () => {
    const conn = connect((r) => r.finish('answered'));
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789' + get('/next'), 'bytes');
    expect(conn.requests.map((r) => r.path)).toEqual(['/', '/next']);
    expect(conn.responses(['POST', 'GET']).map((r) => r.headers.get('connection'))).toEqual([undefined, undefined]);
  });

  it('a large unread body closes the connection after the response', () => {
    const conn = connect((r) => r.finish('answered'), { maxDrainSize: 4 });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01');
    const [res] = conn.responses(['POST']);
    expect(res!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('an unread chunked body closes the connection after the response', () => {
    const conn = connect((r) => r.finish('answered'));
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(conn.responses(['POST'])[0]!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('a body being read while the response streams keeps the connection open', () => {
    const conn = connect((r) => {
      r.receiveBody({
        data: (chunk) => r.write(chunk),
        end: () => r.finish(),
      });
    });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    conn.send('2\r\nde\r\n0\r\n\r\n' + get('/next'));
    const res = conn.responses(['POST', 'GET']);
    expect(res.map((r) => r.body)).toEqual(['abcde', '']);
    expect(conn.transport.disconnecting).toBe(false);
  });
});

describe('backpressure', () => {
  it('stops reading when a lot is buffered behind a slow handler, and resumes after', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      if (r.path === '/slow') gate.addCallback(() => r.finish('slow'));
      else r.finish('fast');
    }, { maxBufferedBytes: 1000 });
    conn.send(get('/slow'));
    let pipelined = '';
    while (pipelined.length < 5000) pipelined += get('/fast');
    conn.send(pipelined.slice(0, 500));
    expect(conn.transport.producerState).toBe('producing');
    conn.send(pipelined.slice(500));
    expect(conn.transport.producerState).toBe('paused');
    gate.callback(undefined);
    expect(conn.transport.producerState).toBe('producing');
    expect(conn.requests.length).toBe(1 + pipelined.length / get('/fast').length);
  });

  it('a body reader that pauses stops the transport once the buffer is full', () => {
    let req: Request | null = null;
    const got: string[] = [];
    const conn = connect((r) => {
      req = r;
      r.receiveBody({
        data: (c) => {
          got.push(Buffer.from(c).toString());
          r.pauseBody();
        },
        end: () => r.finish('done'),
      });
    }, { maxBufferedBytes: 10 });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n');
    conn.send('aaaaa');
    expect(got).toEqual(['aaaaa']);
    conn.send('bbbbb');
    expect(got).toEqual(['aaaaa']);
    expect(conn.transport.producerState).toBe('producing');
    conn.send('ccccc');
    conn.send('ddddd');
    expect(conn.transport.producerState).toBe('paused');
    req!.resumeBody();
    expect(got).toEqual(['aaaaa', 'bbbbbcccccddddd']);
    expect(conn.transport.producerState).toBe('producing');
    req!.resumeBody();
    conn.send('eeeeeeeeee');
    req!.resumeBody();
    expect(got.join('')).toHaveLength(30);
    expect(conn.responses(['POST'])[0]!.body).toBe('done');
  });

  it('an unread body does not flow: the transport pauses once the buffer is full', () => {
    const conn = connect(() => undefined, { maxBufferedBytes: 100 });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    conn.send('x'.repeat(50));
    expect(conn.transport.producerState).toBe('producing');
    conn.send('x'.repeat(100));
    expect(conn.transport.producerState).toBe('paused');
    const d = conn.requests[0]!.content();
    expect(conn.transport.producerState).toBe('producing');
    conn.send('x'.repeat(850));
    expect(d.called).toBe(true);
  });
});

describe('handler failures', () => {
  it('a throwing handler gets a 500, logged once, and the connection goes on', () => {
    const conn = connect((r) => {
      if (r.path === '/boom') throw new Error('boom');
      r.finish('fine');
    });
    conn.send(get('/boom') + get('/ok'));
    expect(conn.responses().map((r) => r.status)).toEqual([500, 200]);
    expect(conn.out()).not.toContain('boom');
    expect(flushLoggedErrors(Error).map((f) => f.value.message)).toEqual(['boom']);
  });

  it('a rejected Promise from an async handler is a 500', async () => {
    const conn = connect(async () => {
      await Promise.resolve();
      throw new TypeError('async boom');
    });
    conn.send(get('/'));
    await new Promise((r) => setImmediate(r));
    expect(conn.responses()[0]!.status).toBe(500);
    expect(flushLoggedErrors(TypeError)).toHaveLength(1);
  });

  it('an HttpError is its status and is not logged', () => {
    const conn = connect(() => {
      throw new HttpError(418, 'short & stout');
    });
    conn.send(get('/'));
    const [res] = conn.responses();
    expect(res!.status).toBe(418);
    expect(res!.body).toContain('short &amp; stout');
    expect(flushLoggedErrors()).toHaveLength(0);
  });

  it('a body receiver that throws gives a 500', () => {
    const conn = connect((r) => {
      if (r.method !== 'POST') return r.finish('next');
      r.receiveBody({
        data() {
          throw new RangeError('bad chunk');
        },
        end() {},
      });
    });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' + get('/next'));
    expect(conn.responses(['POST', 'GET']).map((r) => r.status)).toEqual([500, 200]);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });
});

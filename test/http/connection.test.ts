/**
 * Connection-level behaviour of the request parser: keep-alive semantics,
 * Upgrade/CONNECT hand-off of unconsumed bytes, pipelining from one chunk,
 * EOF, pause/resume, the push API, and the terminal error state (never
 * resynchronise).
 */
import { describe, expect, it } from 'vitest';
import {
  HttpParseError,
  NEED_DATA,
  PAUSED,
  RequestParser,
  type HeaderList,
  type RequestHead,
} from '../../src/http/index.js';
import { expectRequestOk, rawReq, req, requestOf, run, runAllSplits, wire } from './helpers.js';

describe('keep-alive', () => {
  const cases: [string, string, boolean][] = [
    ['HTTP/1.1 default', req(), true],
    ['HTTP/1.1 Connection: close', req(['Connection: close']), false],
    ['HTTP/1.1 Connection: CLOSE (case-insensitive)', req(['Connection: CLOSE']), false],
    ['HTTP/1.1 close inside a list', req(['Connection: foo, close , bar']), false],
    ['HTTP/1.1 close in a second Connection field', req(['Connection: keep-alive', 'Connection: close']), false],
    ['HTTP/1.1 "closed" is not close', req(['Connection: closed']), true],
    ['HTTP/1.1 keep-alive and close: close wins', req(['Connection: keep-alive, close']), false],
    ['HTTP/1.0 default', rawReq('GET / HTTP/1.0'), false],
    ['HTTP/1.0 Connection: keep-alive', rawReq('GET / HTTP/1.0', ['Connection: keep-alive']), true],
    ['HTTP/1.0 Connection: Keep-Alive', rawReq('GET / HTTP/1.0', ['Connection: Keep-Alive']), true],
    ['HTTP/1.0 keep-alive in a list', rawReq('GET / HTTP/1.0', ['Connection: x,keep-alive']), true],
    ['HTTP/1.0 keep-alive and close', rawReq('GET / HTTP/1.0', ['Connection: keep-alive', 'Connection: close']), false],
  ];
  it.each(cases)('%s', (_name, input, keepAlive) => {
    expect(requestOf(expectRequestOk(input)).keepAlive).toBe(keepAlive);
  });

  it('after a request that ends the connection, the parser is must-close and ignores later bytes', () => {
    const p = new RequestParser();
    p.receiveData(wire(req(['Connection: close']) + req([], 'GET /next HTTP/1.1')));
    expect(p.nextEvent()).toMatchObject({ type: 'request', keepAlive: false });
    expect(p.nextEvent()).toEqual({ type: 'end', trailers: null });
    expect(p.nextEvent()).toBe(PAUSED);
    expect(p.state).toBe('must-close');
    expect(p.bufferedLength).toBeGreaterThan(0);
    p.receiveData(wire('more'));
    expect(p.nextEvent()).toBe(PAUSED);
    p.receiveEOF();
    expect(p.nextEvent()).toEqual({ type: 'closed' });
    expect(p.nextEvent()).toBe(PAUSED);
    expect(p.state).toBe('closed');
  });
});

describe('Expect: 100-continue', () => {
  it.each([
    ['100-continue', true],
    ['100-Continue', true],
    ['something-else', false],
  ] as const)('Expect: %s', (value, flag) => {
    expect(requestOf(expectRequestOk(req([`Expect: ${value}`, 'Content-Length: 1'], 'POST / HTTP/1.1', 'x'))).expectContinue).toBe(flag);
  });
  it('ignored on HTTP/1.0', () => {
    expect(requestOf(expectRequestOk(rawReq('POST / HTTP/1.0', ['Expect: 100-continue', 'Content-Length: 1'], 'x'))).expectContinue).toBe(false);
  });
});

describe('Upgrade and CONNECT', () => {
  const cases: [string, string, boolean][] = [
    ['websocket upgrade', req(['Connection: Upgrade', 'Upgrade: websocket']), true],
    ['upgrade token in a list', req(['Connection: keep-alive, upgrade', 'Upgrade: h2c']), true],
    ['Upgrade field without the Connection option', req(['Upgrade: websocket']), false],
    ['Connection: upgrade without an Upgrade field', req(['Connection: upgrade']), false],
    ['HTTP/1.0 Upgrade is ignored (RFC 9110 §7.8)', rawReq('GET / HTTP/1.0', ['Connection: upgrade', 'Upgrade: websocket']), false],
    ['CONNECT', req([], 'CONNECT example.com:443 HTTP/1.1'), true],
  ];
  it.each(cases)('%s', (_name, input, upgrade) => {
    expect(requestOf(expectRequestOk(input)).upgrade).toBe(upgrade);
  });

  it('the bytes after an upgrade request are not parsed; they are exposed', () => {
    const p = new RequestParser();
    const frame = '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58';
    p.receiveData(wire(req(['Connection: Upgrade', 'Upgrade: websocket']) + frame));
    expect(p.nextEvent()).toMatchObject({ type: 'request', upgrade: true });
    expect(p.nextEvent()).toEqual({ type: 'end', trailers: null });
    expect(p.nextEvent()).toBe(PAUSED);
    expect(p.state).toBe('switched');
    expect(Buffer.from(p.unconsumed).toString('latin1')).toBe(frame);
    // Later bytes are buffered for the new protocol too.
    p.receiveData(wire('more'));
    expect(Buffer.from(p.unconsumed).toString('latin1')).toBe(`${frame}more`);
  });

  it('an upgrade request with a body: the body is HTTP, what follows is not', () => {
    const p = new RequestParser();
    p.receiveData(wire(req(['Connection: upgrade', 'Upgrade: x', 'Content-Length: 3'], 'POST / HTTP/1.1', 'abcNEW')));
    expect(p.nextEvent()).toMatchObject({ type: 'request', upgrade: true, contentLength: 3 });
    expect(p.nextEvent()).toMatchObject({ type: 'data' });
    expect(p.nextEvent()).toMatchObject({ type: 'end' });
    expect(p.nextEvent()).toBe(PAUSED);
    expect(Buffer.from(p.unconsumed).toString()).toBe('NEW');
  });

  it('declineUpgrade() goes back to parsing HTTP', () => {
    const p = new RequestParser();
    p.receiveData(wire(req(['Connection: upgrade', 'Upgrade: x']) + req([], 'GET /second HTTP/1.1')));
    expect(p.nextEvent()).toMatchObject({ upgrade: true });
    expect(p.nextEvent()).toMatchObject({ type: 'end' });
    expect(p.nextEvent()).toBe(PAUSED);
    p.declineUpgrade();
    expect(p.nextEvent()).toMatchObject({ type: 'request', target: '/second' });
  });
});

describe('pipelining', () => {
  const three =
    req(['Content-Length: 3'], 'POST /1 HTTP/1.1', 'abc') +
    req(['Content-Length: 4'], 'PUT /2 HTTP/1.1', 'defg') +
    '\r\n' + // one empty line between messages is tolerated
    req(['Transfer-Encoding: chunked'], 'PATCH /3 HTTP/1.1', '5\r\nhijkl\r\n0\r\n\r\n') +
    req([], 'GET /4 HTTP/1.1');

  it('llhttp pipelining.md: several requests in one chunk, in every split', () => {
    const log = runAllSplits('request', three);
    expect(log.map((e) => (e.type === 'request' ? `${e.method} ${e.target}` : e.type === 'data' ? e.text : e.type))).toEqual([
      'POST /1', 'abc', 'end',
      'PUT /2', 'defg', 'end',
      'PATCH /3', 'hijkl', 'end',
      'GET /4', 'end',
    ]);
  });

  it('parses all of them from one chunk without copying bodies', () => {
    const input = new Uint8Array(wire(three));
    const p = new RequestParser();
    p.receiveData(input);
    const bodies: Uint8Array[] = [];
    for (let ev = p.nextEvent(); typeof ev === 'object'; ev = p.nextEvent()) if (ev.type === 'data') bodies.push(ev.data);
    expect(bodies.map((b) => b.buffer === input.buffer)).toEqual([true, true, true]);
    expect(p.state).toBe('idle');
    expect(p.bufferedLength).toBe(0);
  });

  it('garden #48: a pipelined POST after Content-Length: 0 is its own request', () => {
    const log = runAllSplits('request', req(['Content-Length: 0'], 'POST / HTTP/1.1') + req(['Content-Length: 1'], 'POST /b HTTP/1.1', 'x'));
    expect(log.filter((e) => e.type === 'request').length).toBe(2);
  });

  it('a bad request after a good one: the good one is delivered first', () => {
    const log = run('request', req([], 'GET /good HTTP/1.1') + 'GET /bad HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n');
    expect(log).toEqual([
      expect.objectContaining({ type: 'request', target: '/good' }),
      { type: 'end', trailers: null },
      { type: 'error', code: 'WHITESPACE_BEFORE_COLON', status: 400 },
    ]);
  });
});

describe('EOF', () => {
  it('at a message boundary → closed', () => {
    expect(run('request', req(), { eof: true }).slice(-1)).toEqual([{ type: 'closed' }]);
  });
  it('with nothing received → closed', () => {
    expect(run('request', '', { eof: true })).toEqual([{ type: 'closed' }]);
  });
  it('after the one tolerated empty line → closed', () => {
    expect(run('request', '\r\n', { eof: true })).toEqual([{ type: 'closed' }]);
  });
  it('inside a head → UNEXPECTED_EOF', () => {
    expect(run('request', 'GET / HTTP/1.1\r\nHost', { eof: true })).toEqual([{ type: 'error', code: 'UNEXPECTED_EOF', status: 400 }]);
  });
  it('inside a Content-Length body → UNEXPECTED_EOF after the data received', () => {
    expect(run('request', req(['Content-Length: 5'], 'POST / HTTP/1.1', 'ab'), { eof: true }).slice(1)).toEqual([
      { type: 'data', text: 'ab' },
      { type: 'error', code: 'UNEXPECTED_EOF', status: 400 },
    ]);
  });
});

describe('terminal error state (never resynchronise)', () => {
  it('rethrows the same error and ignores every later byte', () => {
    const p = new RequestParser();
    p.receiveData(wire('GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n'));
    let first: unknown;
    try {
      p.nextEvent();
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(HttpParseError);
    expect(first).toMatchObject({ code: 'WHITESPACE_BEFORE_COLON', status: 400, closeConnection: true, name: 'HttpParseError' });
    expect(p.state).toBe('error');
    expect(p.error).toBe(first);
    p.receiveData(wire(req()));
    expect(() => p.nextEvent()).toThrow(first as Error);
    expect(() => p.feed(wire(req()), { onHead() {}, onData() {}, onEnd() {} })).toThrow(first as Error);
  });

  it('garden #47: a valid request right after invalid chunk data is never parsed', () => {
    const log = run('request', req(['Transfer-Encoding: chunked'], 'POST / HTTP/1.1', '3\r\nabcINVALID\r\n0\r\n\r\n') + req([], 'GET /smuggled HTTP/1.1'));
    expect(log.filter((e) => e.type === 'request').length).toBe(1);
    expect(log[log.length - 1]).toMatchObject({ type: 'error', code: 'INVALID_CHUNK_DATA_END' });
  });
});

describe('push API (feed + handler)', () => {
  function collect(p: RequestParser, chunks: string[]): string[] {
    const out: string[] = [];
    const handler = {
      onHead(h: RequestHead) {
        out.push(`head ${h.method} ${h.target}`);
      },
      onData(d: Uint8Array) {
        out.push(`data ${Buffer.from(d).toString()}`);
      },
      onEnd(t: HeaderList | null) {
        out.push(`end ${t === null ? '-' : t.raw.join('=')}`);
      },
      onClosed() {
        out.push('closed');
      },
    };
    for (const c of chunks) p.feed(wire(c), handler);
    return out;
  }

  it('delivers the same events as the pull API', () => {
    const input = req(['Content-Length: 2'], 'POST /a HTTP/1.1', 'hi') + req(['Transfer-Encoding: chunked'], 'POST /b HTTP/1.1', '1\r\nx\r\n0\r\nT: v\r\n\r\n');
    expect(collect(new RequestParser(), [input])).toEqual(['head POST /a', 'data hi', 'end -', 'head POST /b', 'data x', 'end T=v']);
    const bytewise = collect(new RequestParser(), [...input]);
    expect(bytewise.filter((e) => !e.startsWith('data'))).toEqual(['head POST /a', 'end -', 'head POST /b', 'end T=v']);
  });

  it('pause() inside a callback stops feed; resume() + feed continues', () => {
    const p = new RequestParser();
    const seen: string[] = [];
    const handler = {
      onHead(h: RequestHead) {
        seen.push(h.target);
      },
      onData() {},
      onEnd() {
        p.pause();
      },
    };
    p.feed(wire(req([], 'GET /1 HTTP/1.1') + req([], 'GET /2 HTTP/1.1')), handler);
    expect(seen).toEqual(['/1']);
    expect(p.nextEvent()).toBe(PAUSED);
    p.resume();
    p.feed(new Uint8Array(0), handler);
    expect(seen).toEqual(['/1', '/2']);
    p.resume();
    expect(p.nextEvent()).toBe(NEED_DATA);
  });

  it('throws the parse error after delivering the preceding events', () => {
    const seen: string[] = [];
    const p = new RequestParser();
    expect(() =>
      p.feed(wire(req([], 'GET /ok HTTP/1.1') + 'BAD LINE\r\n\r\n'), {
        onHead: (h) => seen.push(h.target),
        onData() {},
        onEnd: () => seen.push('end'),
      }),
    ).toThrow(HttpParseError);
    expect(seen).toEqual(['/ok', 'end']);
  });
});

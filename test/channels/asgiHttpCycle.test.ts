import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { Failure } from '../../src/defer/failure.js';
import { ASGIConnectionClosed, ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { HttpCycle, type HttpAction } from '../../src/channels/asgi/httpCycle.js';
import type { ASGIEvent } from '../../src/channels/types.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: unknown): string => new TextDecoder().decode(b as Uint8Array);

function setup(options = {}): { cycle: HttpCycle; actions: HttpAction[]; closes: number[] } {
  const actions: HttpAction[] = [];
  const closes: number[] = [];
  const cycle = new HttpCycle((a) => {
    actions.push(a);
  }, options);
  cycle.onClosed = () => closes.push(closes.length + 1);
  return { cycle, actions, closes };
}

const start = (extra: Record<string, unknown> = {}): ASGIEvent => ({
  type: 'http.response.start',
  status: 200,
  headers: [['content-type', 'text/plain']],
  ...extra,
});
const body = (b: string, more = false): ASGIEvent => ({ type: 'http.response.body', body: bytes(b), more_body: more });

describe('HttpCycle: responses', () => {
  it('holds the head until the first body, with the length of a one-piece body', () => {
    const { cycle, actions, closes } = setup();
    successResultOf(cycle.send(start()));
    expect(actions).toEqual([]);
    successResultOf(cycle.send(body('hello')));
    expect(actions).toEqual([
      { kind: 'head', status: 200, headers: [['content-type', 'text/plain']], contentLength: 5 },
      { kind: 'body', body: bytes('hello') },
      { kind: 'finish' },
    ]);
    expect(cycle.closed).toBe(true);
    expect(cycle.responseComplete).toBe(true);
    expect(closes).toEqual([1]);
  });

  it('streams a body sent in pieces (no length in the head)', () => {
    const { cycle, actions } = setup();
    cycle.send(start());
    cycle.send(body('a', true));
    cycle.send(body('', true));
    cycle.send(body('b', true));
    expect(cycle.closed).toBe(false);
    cycle.send(body('c'));
    expect(actions.map((a) => a.kind)).toEqual(['head', 'body', 'body', 'body', 'finish']);
    expect(actions[0]).toMatchObject({ contentLength: null });
    expect(actions.filter((a) => a.kind === 'body').map((a) => text((a as { body: Uint8Array }).body))).toEqual(['a', 'b', 'c']);
  });

  it('answers an empty body with length 0 and no body action; defaults apply', () => {
    const { cycle, actions } = setup();
    cycle.send({ type: 'http.response.start', status: 204 });
    cycle.send({ type: 'http.response.body' });
    expect(actions).toEqual([{ kind: 'head', status: 204, headers: [], contentLength: 0 }, { kind: 'finish' }]);
  });

  it('lower-cases header names and keeps duplicates in order', () => {
    const { cycle, actions } = setup();
    cycle.send(start({ headers: [['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['X-Latin1', 'caf\xe9']] }));
    cycle.send(body(''));
    expect(actions[0]).toMatchObject({ headers: [['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x-latin1', 'caf\xe9']] });
  });

  it('delays send until the server took the bytes (flow control)', () => {
    const written = new Deferred<void>();
    const cycle = new HttpCycle((a) => (a.kind === 'body' ? written : undefined));
    cycle.send(start());
    const d = cycle.send(body('x', true));
    assertNoResult(d);
    written.callback(undefined);
    successResultOf(d);
  });
});

describe('HttpCycle: protocol violations fail send with ASGIProtocolError and abort', () => {
  const cases: Array<[string, ASGIEvent[], unknown, RegExp]> = [
    ['body before start', [], body('x'), /before http.response.start/],
    ['a second start', [start()], start(), /sent twice/],
    ['a second start after streaming began', [start(), body('a', true)], start(), /sent twice/],
    ['a Uint8Array header value', [], start({ headers: [['x-a', bytes('1')]] }), /strings/],
    ['a Uint8Array header name', [], start({ headers: [[bytes('x-a'), '1']] }), /strings/],
    ['headers that are not an array', [], start({ headers: { 'x-a': '1' } }), /array/],
    ['a header that is not a pair', [], start({ headers: [['x-a']] }), /pair/],
    ['an invalid header name', [], start({ headers: [['bad name', '1']] }), /invalid header name/],
    ['a header value with CR LF', [], start({ headers: [['x-a', '1\r\nx-b: 2']] }), /control character/],
    ['a header value above \\xff', [], start({ headers: [['x-a', '\u20ac']] }), /control character or a character above/],
    ['a string status', [], start({ status: '200' }), /integer from 100 to 599/],
    ['status 99', [], start({ status: 99 }), /integer from 100 to 599/],
    ['status 600', [], start({ status: 600 }), /integer from 100 to 599/],
    ['a fractional status', [], start({ status: 200.5 }), /integer/],
    ['a missing status', [], { type: 'http.response.start' }, /integer/],
    ['trailers', [], start({ trailers: true }), /trailers are not supported/],
    ['a string body', [start()], { type: 'http.response.body', body: 'text' }, /must be a Uint8Array/],
    ['a non-boolean more_body', [start()], { type: 'http.response.body', body: bytes('x'), more_body: 1 }, /boolean/],
    ['an unknown type', [], { type: 'http.response.push', path: '/x' }, /unknown event type/],
    ['a websocket event', [], { type: 'websocket.accept' }, /unknown event type/],
    ['null', [], null, /object with a string "type"/],
    ['an event without a type', [], { status: 200 }, /object with a string "type"/],
  ];
  for (const [name, before, bad, message] of cases) {
    it(name, () => {
      const { cycle, actions, closes } = setup();
      for (const e of before) successResultOf(cycle.send(e));
      const f = failureResultOf(cycle.send(bad as ASGIEvent), ASGIProtocolError);
      expect(f.value.message).toMatch(message);
      const last = actions[actions.length - 1];
      expect(last).toEqual({ kind: 'abort', error: f.value });
      expect(cycle.closed).toBe(true);
      expect(closes).toEqual([1]);
      // Whatever comes next: the connection is gone.
      failureResultOf(cycle.send(body('late')), ASGIConnectionClosed);
      expect(actions[actions.length - 1]).toBe(last);
      // The application's end changes nothing any more.
      cycle.applicationFinished(new Failure(f.value));
      expect(actions[actions.length - 1]).toBe(last);
    });
  }

  it('ignores extra keys (the spec says they must not raise)', () => {
    const { cycle, actions } = setup();
    successResultOf(cycle.send(start({ extra: 1 })));
    successResultOf(cycle.send({ ...body('x'), whatever: true }));
    expect(actions.map((a) => a.kind)).toEqual(['head', 'body', 'finish']);
  });
});

describe('HttpCycle: sending when it is over fails with ASGIConnectionClosed', () => {
  const ways: Array<[string, (c: HttpCycle) => void]> = [
    ['after the response completed', (c) => (c.send(start()), c.send(body('x')))],
    ['after the client disconnected', (c) => c.pushDisconnect()],
    ['after the client disconnected mid-response', (c) => (c.send(start()), c.send(body('x', true)), c.pushDisconnect())],
  ];
  for (const [name, end] of ways) {
    it(name, () => {
      const { cycle, actions } = setup();
      end(cycle);
      const n = actions.length;
      for (const e of [start(), body('y'), { type: 'nonsense' }]) {
        expect(failureResultOf(cycle.send(e), ASGIConnectionClosed).value).toBeInstanceOf(ASGIConnectionClosed);
      }
      expect(actions.length).toBe(n);
    });
  }
});

describe('HttpCycle: when the application ends', () => {
  it('raised before the start: a 500 response', () => {
    const { cycle, actions, closes } = setup();
    const boom = new Error('boom');
    cycle.applicationFinished(new Failure(boom));
    expect(actions).toHaveLength(1);
    const a = actions[0] as Extract<HttpAction, { kind: 'error-response' }>;
    expect(a).toMatchObject({ kind: 'error-response', status: 500, error: boom, reason: expect.stringMatching(/raised/) });
    expect(text(a.body)).toBe('Internal Server Error');
    expect(a.headers).toEqual([
      ['content-type', 'text/plain; charset=utf-8'],
      ['content-length', String(a.body.length)],
    ]);
    expect(cycle.closed).toBe(true);
    expect(closes).toEqual([1]);
  });

  it('returned without responding: a 500 at once', () => {
    const { cycle, actions } = setup();
    cycle.applicationFinished(null);
    expect(actions).toMatchObject([{ kind: 'error-response', status: 500, error: null, reason: expect.stringMatching(/returned without/) }]);
  });

  const aborts: Array<[string, ASGIEvent[], Failure | null, RegExp | Error]> = [
    ['raised after the start (head held back)', [start()], new Failure(new Error('late boom')), /late boom/],
    ['raised after streaming began', [start(), body('a', true)], new Failure(new Error('mid boom')), /mid boom/],
    ['returned after the start', [start()], null, /returned before finishing/],
    ['returned mid-response', [start(), body('a', true)], null, /returned before finishing/],
  ];
  for (const [name, sent, failure, expected] of aborts) {
    it(`${name}: abort`, () => {
      const { cycle, actions } = setup();
      for (const e of sent) cycle.send(e);
      cycle.applicationFinished(failure);
      const last = actions[actions.length - 1] as Extract<HttpAction, { kind: 'abort' }>;
      expect(last.kind).toBe('abort');
      if (expected instanceof RegExp) expect(last.error.message).toMatch(expected);
      if (failure === null) expect(last.error).toBeInstanceOf(ASGIProtocolError);
      expect(cycle.closed).toBe(true);
    });
  }

  it('after a complete response or a disconnect: nothing', () => {
    for (const end of [(c: HttpCycle) => (c.send(start()), c.send(body('x'))), (c: HttpCycle) => c.pushDisconnect()]) {
      const { cycle, actions } = setup();
      end(cycle);
      const n = actions.length;
      cycle.applicationFinished(new Failure(new Error('after')));
      cycle.applicationFinished(null);
      expect(actions.length).toBe(n);
    }
  });
});

describe('HttpCycle: the request body', () => {
  const payload = 'The quick brown fox jumps over the lazy dog';
  const splits = [payload.length, 16, 7, 3, 1];
  for (const size of splits) {
    it(`arrives whole when pushed in pieces of ${size} byte(s), read as it comes`, async () => {
      const { cycle } = setup();
      const got: string[] = [];
      let more = true;
      const pieces: string[] = [];
      for (let i = 0; i < payload.length; i += size) pieces.push(payload.slice(i, i + size));
      for (let i = 0; i < pieces.length; i++) {
        cycle.pushBody(bytes(pieces[i]!), i < pieces.length - 1);
        const ev = successResultOf(cycle.receive());
        expect(ev.type).toBe('http.request');
        got.push(text(ev.body));
        more = ev.more_body as boolean;
      }
      expect(got.join('')).toBe(payload);
      expect(got).toEqual(pieces);
      expect(more).toBe(false);
    });

    it(`arrives whole when pushed in pieces of ${size} byte(s) before the app reads`, () => {
      const { cycle } = setup();
      for (let i = 0; i < payload.length; i += size) cycle.pushBody(bytes(payload.slice(i, i + size)), i + size < payload.length);
      const ev = successResultOf(cycle.receive());
      expect(ev).toEqual({ type: 'http.request', body: bytes(payload), more_body: false });
    });
  }

  it('delivers an empty body as one http.request with more_body false', () => {
    const { cycle } = setup();
    cycle.pushBody(new Uint8Array(0), false);
    expect(successResultOf(cycle.receive())).toEqual({ type: 'http.request', body: new Uint8Array(0), more_body: false });
  });

  it('makes an early receive wait for the body', () => {
    const { cycle } = setup();
    const d = cycle.receive();
    assertNoResult(d);
    cycle.pushBody(bytes('ab'), true);
    expect(successResultOf(d)).toEqual({ type: 'http.request', body: bytes('ab'), more_body: true });
    const d2 = cycle.receive();
    assertNoResult(d2);
    cycle.pushBody(bytes(''), false);
    expect(successResultOf(d2)).toEqual({ type: 'http.request', body: new Uint8Array(0), more_body: false });
  });

  it('applies backpressure: pushBody says stop at the high-water mark, resume when the app reads', () => {
    const { cycle, actions } = setup({ highWaterMark: 4 });
    expect(cycle.pushBody(bytes('abc'), true)).toBe(true);
    expect(cycle.pushBody(bytes('de'), true)).toBe(false);
    expect(cycle.bufferedBytes).toBe(5);
    expect(actions).toEqual([]);
    // The next chunk is delivered only when the application asks.
    expect(successResultOf(cycle.receive())).toEqual({ type: 'http.request', body: bytes('abcde'), more_body: true });
    expect(actions).toEqual([{ kind: 'resume-reading' }]);
    expect(cycle.pushBody(bytes('f'), false)).toBe(true);
    expect(successResultOf(cycle.receive())).toMatchObject({ body: bytes('f'), more_body: false });
    expect(actions).toEqual([{ kind: 'resume-reading' }]);
  });

  it('does not ask to pause when a waiting receive takes the chunk at once', () => {
    const { cycle } = setup({ highWaterMark: 2 });
    const d = cycle.receive();
    expect(cycle.pushBody(bytes('abcdef'), true)).toBe(true);
    expect(successResultOf(d)).toMatchObject({ body: bytes('abcdef') });
  });

  it('keeps data for the next receive when a waiting receive is cancelled', () => {
    const { cycle } = setup();
    const d = cycle.receive();
    d.cancel();
    failureResultOf(d);
    cycle.pushBody(bytes('kept'), false);
    expect(successResultOf(cycle.receive())).toMatchObject({ body: bytes('kept') });
  });

  it('refuses a body after its end (a server bug)', () => {
    const { cycle } = setup();
    cycle.pushBody(bytes('x'), false);
    expect(() => cycle.pushBody(bytes('y'), false)).toThrow(/already ended/);
  });

  it('ignores body pieces once the exchange is over', () => {
    const { cycle } = setup({ highWaterMark: 1 });
    cycle.send(start());
    cycle.send(body('done'));
    expect(cycle.pushBody(bytes('unread body'), true)).toBe(true);
    expect(successResultOf(cycle.receive())).toEqual({ type: 'http.disconnect' });
  });
});

describe('HttpCycle: http.disconnect', () => {
  it('receive after the body waits, then gives http.disconnect when the response completes', () => {
    const { cycle } = setup();
    cycle.pushBody(bytes(''), false);
    successResultOf(cycle.receive());
    const d = cycle.receive();
    assertNoResult(d);
    cycle.send(start());
    cycle.send(body('x', true));
    assertNoResult(d);
    cycle.send(body('y'));
    expect(successResultOf(d)).toEqual({ type: 'http.disconnect' });
  });

  it('receive after the body waits, then gives http.disconnect when the client leaves (long-poll)', () => {
    const { cycle } = setup();
    cycle.pushBody(bytes(''), false);
    successResultOf(cycle.receive());
    const waiting = [cycle.receive(), cycle.receive()];
    cycle.pushDisconnect();
    for (const d of waiting) expect(successResultOf(d)).toEqual({ type: 'http.disconnect' });
  });

  it('receive after the response gives http.disconnect every time', () => {
    const { cycle } = setup();
    cycle.send(start());
    cycle.send(body('x'));
    for (let i = 0; i < 3; i++) expect(successResultOf(cycle.receive())).toEqual({ type: 'http.disconnect' });
  });

  it('receive after a disconnect gives http.disconnect, even with unread body', () => {
    const { cycle } = setup();
    cycle.pushBody(bytes('unread'), true);
    cycle.pushDisconnect();
    cycle.pushDisconnect();
    expect(cycle.bufferedBytes).toBe(0);
    for (let i = 0; i < 2; i++) expect(successResultOf(cycle.receive())).toEqual({ type: 'http.disconnect' });
  });

  it('receive while waiting for more body gives http.disconnect when the client leaves', () => {
    const { cycle, closes } = setup();
    cycle.pushBody(bytes('part'), true);
    successResultOf(cycle.receive());
    const d = cycle.receive();
    cycle.pushDisconnect();
    expect(successResultOf(d)).toEqual({ type: 'http.disconnect' });
    expect(closes).toEqual([1]);
  });
});

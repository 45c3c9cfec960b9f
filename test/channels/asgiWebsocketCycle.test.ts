import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { ASGIConnectionClosed, ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { WebsocketCycle, type WebsocketAction, type WebsocketCycleOptions } from '../../src/channels/asgi/websocketCycle.js';
import type { ASGIEvent } from '../../src/channels/types.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: unknown): string => new TextDecoder().decode(b as Uint8Array);

function setup(options: WebsocketCycleOptions = {}): { cycle: WebsocketCycle; actions: WebsocketAction[]; closes: number[] } {
  const actions: WebsocketAction[] = [];
  const closes: number[] = [];
  const cycle = new WebsocketCycle((a) => {
    actions.push(a);
  }, options);
  cycle.onClosed = () => closes.push(closes.length + 1);
  cycle.pushConnect();
  return { cycle, actions, closes };
}

function accepted(options: WebsocketCycleOptions = {}): ReturnType<typeof setup> {
  const s = setup(options);
  expect(successResultOf(s.cycle.receive())).toEqual({ type: 'websocket.connect' });
  successResultOf(s.cycle.send({ type: 'websocket.accept' }));
  s.actions.length = 0;
  return s;
}

describe('WebsocketCycle: the handshake', () => {
  it('gives websocket.connect first, and only after pushConnect', () => {
    const cycle = new WebsocketCycle(() => undefined);
    const d = cycle.receive();
    assertNoResult(d);
    cycle.pushConnect();
    expect(successResultOf(d)).toEqual({ type: 'websocket.connect' });
    expect(() => cycle.pushConnect()).toThrow(/already/);
  });

  it('accepts with a subprotocol the client offered and extra headers (honoured, unlike Daphne)', () => {
    const { cycle, actions } = setup({ subprotocols: ['chat', 'superchat'] });
    successResultOf(cycle.send({ type: 'websocket.accept', subprotocol: 'superchat', headers: [['X-Accept', '1']] }));
    expect(actions).toEqual([{ kind: 'accept', subprotocol: 'superchat', headers: [['x-accept', '1']] }]);
    expect(cycle.state).toBe('open');
  });

  it('accepts without a subprotocol (null or absent)', () => {
    for (const ev of [{ type: 'websocket.accept' }, { type: 'websocket.accept', subprotocol: null, headers: [] }]) {
      const { cycle, actions } = setup({ subprotocols: ['chat'] });
      successResultOf(cycle.send(ev));
      expect(actions).toEqual([{ kind: 'accept', subprotocol: null, headers: [] }]);
    }
  });

  it('close before accept: the handshake is answered 403', () => {
    const { cycle, actions, closes } = setup();
    successResultOf(cycle.send({ type: 'websocket.close', code: 4001 }));
    expect(actions).toHaveLength(1);
    const deny = actions[0] as Extract<WebsocketAction, { kind: 'deny' }>;
    expect(deny).toMatchObject({ kind: 'deny', status: 403, closeCode: 4001, error: null });
    expect(text(deny.body)).toBe('Forbidden');
    expect(cycle.closed).toBe(true);
    expect(closes).toEqual([1]);
    // No close handshake happened: the application sees an abnormal closure.
    expect(successResultOf(cycle.receive())).toEqual({ type: 'websocket.disconnect', code: 1006, reason: '' });
    failureResultOf(cycle.send({ type: 'websocket.accept' }), ASGIConnectionClosed);
  });

  it('supports the websocket.http.response denial extension (a custom response, in pieces)', () => {
    const { cycle, actions } = setup();
    successResultOf(cycle.send({ type: 'websocket.http.response.start', status: 401, headers: [['WWW-Authenticate', 'Bearer']] }));
    expect(actions).toEqual([]);
    successResultOf(cycle.send({ type: 'websocket.http.response.body', body: bytes('log '), more_body: true }));
    successResultOf(cycle.send({ type: 'websocket.http.response.body', body: bytes('in') }));
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ kind: 'deny', status: 401, headers: [['www-authenticate', 'Bearer']], closeCode: null });
    expect(text((actions[0] as { body: Uint8Array }).body)).toBe('log in');
    expect(cycle.closed).toBe(true);
  });

  it('refuses the denial extension when it is not offered', () => {
    const { cycle } = setup({ httpResponseExtension: false });
    const f = failureResultOf(cycle.send({ type: 'websocket.http.response.start', status: 401 }), ASGIProtocolError);
    expect(f.value.message).toMatch(/not offered/);
  });

  it('bounds the denial body', () => {
    const { cycle } = setup({ maxDenialBody: 4 });
    cycle.send({ type: 'websocket.http.response.start', status: 401 });
    failureResultOf(cycle.send({ type: 'websocket.http.response.body', body: bytes('12345') }), ASGIProtocolError);
  });
});

describe('WebsocketCycle: protocol violations fail send with ASGIProtocolError', () => {
  type Stage = 'connecting' | 'open' | 'denying';
  const cases: Array<[string, Stage, unknown, RegExp]> = [
    ['send before accept', 'connecting', { type: 'websocket.send', text: 'x' }, /before websocket.accept/],
    ['send with both text and bytes', 'open', { type: 'websocket.send', text: 'x', bytes: bytes('y') }, /exactly one/],
    ['send with neither', 'open', { type: 'websocket.send' }, /exactly one/],
    ['send with null text and null bytes', 'open', { type: 'websocket.send', text: null, bytes: null }, /exactly one/],
    ['send with a number as text', 'open', { type: 'websocket.send', text: 5 }, /must be a string/],
    ['send with a string as bytes', 'open', { type: 'websocket.send', bytes: 'x' }, /must be a Uint8Array/],
    ['accept twice', 'open', { type: 'websocket.accept' }, /sent twice/],
    ['accept with a subprotocol not offered', 'connecting', { type: 'websocket.accept', subprotocol: 'evil' }, /not offered/],
    ['accept with a number subprotocol', 'connecting', { type: 'websocket.accept', subprotocol: 1 }, /string or null/],
    ['accept with sec-websocket-protocol', 'connecting', { type: 'websocket.accept', headers: [['sec-websocket-protocol', 'chat']] }, /use "subprotocol"/],
    ['accept with an upgrade header', 'connecting', { type: 'websocket.accept', headers: [['Upgrade', 'x']] }, /belongs to the handshake/],
    ['accept with Uint8Array headers', 'connecting', { type: 'websocket.accept', headers: [[bytes('x'), bytes('y')]] }, /strings/],
    ['close with code 1005', 'open', { type: 'websocket.close', code: 1005 }, /valid close code/],
    ['close with code 999', 'open', { type: 'websocket.close', code: 999 }, /valid close code/],
    ['close with a string code', 'open', { type: 'websocket.close', code: '1000' }, /valid close code/],
    ['close with a reason over 123 bytes', 'open', { type: 'websocket.close', reason: 'é'.repeat(62) }, /123 UTF-8 bytes/],
    ['close with a non-string reason', 'open', { type: 'websocket.close', reason: 5 }, /must be a string/],
    ['denial after accept', 'open', { type: 'websocket.http.response.start', status: 403 }, /after websocket.accept/],
    ['denial body before its start', 'connecting', { type: 'websocket.http.response.body', body: bytes('x') }, /before websocket.http.response.start/],
    ['close in the middle of a denial', 'denying', { type: 'websocket.close' }, /finish the response/],
    ['accept in the middle of a denial', 'denying', { type: 'websocket.accept' }, /after websocket.http.response.start/],
    ['a denial with a bad status', 'connecting', { type: 'websocket.http.response.start', status: 42 }, /integer from 100 to 599/],
    ['an unknown type', 'open', { type: 'websocket.ping' }, /unknown event type/],
    ['an http event', 'open', { type: 'http.response.start', status: 200 }, /unknown event type/],
    ['not an event', 'open', 'hello', /object with a string "type"/],
  ];
  for (const [name, stage, bad, message] of cases) {
    it(name, () => {
      const s = stage === 'open' ? accepted({ subprotocols: ['chat'] }) : setup({ subprotocols: ['chat'] });
      if (stage === 'denying') s.cycle.send({ type: 'websocket.http.response.start', status: 403 });
      const before = s.cycle.state;
      const f = failureResultOf(s.cycle.send(bad as ASGIEvent), ASGIProtocolError);
      expect(f.value.message).toMatch(message);
      // The state does not move: the application may catch the error and carry on.
      expect(s.cycle.state).toBe(before);
      expect(s.actions).toEqual([]);
    });
  }

  it('lets the application carry on after a send before accept', () => {
    const { cycle, actions } = setup();
    failureResultOf(cycle.send({ type: 'websocket.send', text: 'early' }), ASGIProtocolError);
    successResultOf(cycle.send({ type: 'websocket.accept' }));
    successResultOf(cycle.send({ type: 'websocket.send', text: 'ok' }));
    expect(actions.map((a) => a.kind)).toEqual(['accept', 'message']);
  });
});

describe('WebsocketCycle: messages and closing', () => {
  it('carries text and binary messages both ways', () => {
    const { cycle, actions } = accepted();
    cycle.send({ type: 'websocket.send', text: 'héllo' });
    cycle.send({ type: 'websocket.send', bytes: bytes('\x00\x01'), text: null });
    expect(actions).toEqual([
      { kind: 'message', data: 'héllo' },
      { kind: 'message', data: bytes('\x00\x01') },
    ]);
    cycle.pushMessage('in');
    cycle.pushMessage(bytes('bin'));
    expect(successResultOf(cycle.receive())).toEqual({ type: 'websocket.receive', text: 'in' });
    expect(successResultOf(cycle.receive())).toEqual({ type: 'websocket.receive', bytes: bytes('bin') });
  });

  it('closes with the code and the reason (honoured, unlike Daphne)', () => {
    const { cycle, actions } = accepted();
    successResultOf(cycle.send({ type: 'websocket.close', code: 4321, reason: 'bye' }));
    expect(actions).toEqual([{ kind: 'close', code: 4321, reason: 'bye' }]);
    expect(cycle.state).toBe('closing');
    // After its own close the application may not send, and messages are dropped…
    failureResultOf(cycle.send({ type: 'websocket.send', text: 'x' }), ASGIConnectionClosed);
    failureResultOf(cycle.send({ type: 'websocket.close' }), ASGIConnectionClosed);
    cycle.pushMessage('dropped');
    const d = cycle.receive();
    assertNoResult(d);
    // …until the peer answers.
    cycle.pushDisconnect(4321, 'bye');
    expect(successResultOf(d)).toEqual({ type: 'websocket.disconnect', code: 4321, reason: 'bye' });
  });

  it('closes with 1000 and an empty reason by default', () => {
    const { cycle, actions } = accepted();
    cycle.send({ type: 'websocket.close' });
    expect(actions).toEqual([{ kind: 'close', code: 1000, reason: '' }]);
  });

  it('delivers the disconnect with code and reason after pending messages, then again and again', () => {
    const { cycle, closes } = accepted();
    cycle.pushMessage('last words');
    cycle.pushDisconnect(1001, 'going away');
    cycle.pushDisconnect(1000, 'ignored');
    expect(closes).toEqual([1]);
    expect(successResultOf(cycle.receive())).toEqual({ type: 'websocket.receive', text: 'last words' });
    for (let i = 0; i < 3; i++) {
      expect(successResultOf(cycle.receive())).toEqual({ type: 'websocket.disconnect', code: 1001, reason: 'going away' });
    }
    failureResultOf(cycle.send({ type: 'websocket.send', text: 'x' }), ASGIConnectionClosed);
    expect(cycle.pushMessage('after')).toBe(true);
  });

  it('reports a lost socket as 1006 by default', () => {
    const { cycle } = accepted();
    cycle.pushDisconnect();
    expect(successResultOf(cycle.receive())).toEqual({ type: 'websocket.disconnect', code: 1006, reason: '' });
  });

  it('reports a client that leaves during the handshake', () => {
    const { cycle } = setup();
    successResultOf(cycle.receive());
    cycle.pushDisconnect();
    expect(successResultOf(cycle.receive())).toMatchObject({ type: 'websocket.disconnect', code: 1006 });
    failureResultOf(cycle.send({ type: 'websocket.accept' }), ASGIConnectionClosed);
  });

  it('refuses messages pushed before the handshake was accepted (a server bug)', () => {
    const { cycle } = setup();
    expect(() => cycle.pushMessage('early')).toThrow(/not been accepted/);
  });

  it('applies backpressure on received messages', () => {
    const { cycle, actions } = accepted({ highWaterMark: 4 });
    expect(cycle.pushMessage('ab')).toBe(true);
    expect(cycle.pushMessage(bytes('cdef'))).toBe(false);
    successResultOf(cycle.receive());
    expect(actions).toEqual([]);
    successResultOf(cycle.receive());
    expect(actions).toEqual([{ kind: 'resume-reading' }]);
  });
});

describe('WebsocketCycle: when the application ends', () => {
  const cases: Array<[string, 'connecting' | 'open' | 'denying', Failure | null, Partial<WebsocketAction>]> = [
    ['raises before accepting: 500', 'connecting', new Failure(new Error('boom')), { kind: 'deny', status: 500 }],
    ['returns before deciding: 500', 'connecting', null, { kind: 'deny', status: 500, error: null }],
    ['raises in the middle of a denial: 500', 'denying', new Failure(new Error('boom')), { kind: 'deny', status: 500 }],
    ['raises after accepting: close 1011', 'open', new Failure(new Error('boom')), { kind: 'close', code: 1011, reason: '' }],
    ['returns after accepting: close 1000', 'open', null, { kind: 'close', code: 1000, reason: '' }],
  ];
  for (const [name, stage, failure, expected] of cases) {
    it(name, () => {
      const s = stage === 'open' ? accepted() : setup();
      if (stage === 'denying') s.cycle.send({ type: 'websocket.http.response.start', status: 401 });
      s.cycle.applicationFinished(failure);
      expect(s.actions).toEqual([expect.objectContaining(expected)]);
      if (failure !== null && expected.kind === 'deny') expect(s.actions[0]).toMatchObject({ error: failure.value });
    });
  }

  it('after a close or a disconnect: nothing', () => {
    for (const end of [(c: WebsocketCycle) => c.send({ type: 'websocket.close' }), (c: WebsocketCycle) => c.pushDisconnect()]) {
      const { cycle, actions } = accepted();
      end(cycle);
      const n = actions.length;
      cycle.applicationFinished(new Failure(new Error('late')));
      expect(actions.length).toBe(n);
    }
  });
});

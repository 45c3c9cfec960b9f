// A `websocket.send` the cycle cannot carry out, through both of its doors — `send` and the
// server's hot path `trySend` (whose state check is one comparison, the errors made out of
// line): the same error, with the same message, in every state but `open`, and nothing written.
import { describe, expect, it } from 'vitest';
import { ASGIConnectionClosed, ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { WebsocketCycle, type WebsocketAction } from '../../src/channels/asgi/websocketCycle.js';
import type { ASGIEvent } from '../../src/channels/types.js';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';

type State = 'connecting' | 'denying' | 'closing' | 'closed';

function cycleIn(state: State): { cycle: WebsocketCycle; actions: WebsocketAction[]; written: Array<string | Uint8Array> } {
  const actions: WebsocketAction[] = [];
  const written: Array<string | Uint8Array> = [];
  const cycle = new WebsocketCycle((a) => {
    actions.push(a);
  }, {
    sendNow: {
      sendNow: (data) => {
        written.push(data);
        return true;
      },
    },
  });
  cycle.pushConnect();
  successResultOf(cycle.receive());
  if (state === 'denying') successResultOf(cycle.send({ type: 'websocket.http.response.start', status: 403 }));
  if (state === 'closing' || state === 'closed') {
    successResultOf(cycle.send({ type: 'websocket.accept' }));
    successResultOf(cycle.send({ type: 'websocket.close' }));
  }
  if (state === 'closed') cycle.pushDisconnect(1000, '');
  expect(cycle.state).toBe(state);
  actions.length = 0;
  return { cycle, actions, written };
}

const cases: Array<[State, typeof ASGIProtocolError | typeof ASGIConnectionClosed, RegExp]> = [
  ['connecting', ASGIProtocolError, /^websocket.send before websocket.accept: the handshake is not complete$/],
  ['denying', ASGIProtocolError, /^websocket.send before websocket.accept: the handshake is not complete$/],
  ['closing', ASGIConnectionClosed, /^websocket.send: the WebSocket is closing \(websocket.close was sent\)$/],
  ['closed', ASGIConnectionClosed, /^websocket.send: the WebSocket is closed$/],
];

describe('WebsocketCycle: a websocket.send refused in each state but open', () => {
  for (const [state, type, message] of cases) {
    for (const door of ['send', 'trySend'] as const) {
      it(`${state}, through ${door}`, () => {
        const { cycle, actions, written } = cycleIn(state);
        const event: ASGIEvent = { type: 'websocket.send', text: 'x' };
        const r = door === 'send' ? cycle.send(event) : cycle.trySend(event);
        expect(r).not.toBeNull();
        const f = failureResultOf(r!, type);
        expect(f.value.message).toMatch(message);
        expect(actions).toEqual([]);
        expect(written).toEqual([]);
      });
    }
  }

  it('open: trySend writes at once (null), send through a message action', () => {
    const { cycle, actions, written } = cycleIn('connecting');
    successResultOf(cycle.send({ type: 'websocket.accept' }));
    actions.length = 0;
    expect(cycle.trySend({ type: 'websocket.send', text: 'now' })).toBeNull();
    expect(written).toEqual(['now']);
    successResultOf(cycle.send({ type: 'websocket.send', text: 'queued' }));
    expect(actions).toEqual([{ kind: 'message', data: 'queued' }]);
  });

  it('sendNow may be a plain function; when it declines, the message goes through a message action', () => {
    const actions: WebsocketAction[] = [];
    const offered: Array<string | Uint8Array> = [];
    let accept = true;
    const cycle = new WebsocketCycle((a) => void actions.push(a), {
      sendNow: (data) => {
        offered.push(data);
        return accept;
      },
    });
    cycle.pushConnect();
    successResultOf(cycle.receive());
    successResultOf(cycle.send({ type: 'websocket.accept' }));
    actions.length = 0;
    expect(cycle.trySend({ type: 'websocket.send', text: 'now' })).toBeNull();
    accept = false;
    // Declined: the message action instead (carried out at once here: the handler returns nothing).
    expect(cycle.trySend({ type: 'websocket.send', text: 'later' })).toBeNull();
    expect(offered).toEqual(['now', 'later']);
    expect(actions).toEqual([{ kind: 'message', data: 'later' }]);
  });
});

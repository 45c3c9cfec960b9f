import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { CancelledError, TimeoutError } from '../../src/defer/errors.js';
import { ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { ApplicationCommunicator, ApplicationExitedError } from '../../src/channels/testing/applicationCommunicator.js';
import { HttpCommunicator } from '../../src/channels/testing/httpCommunicator.js';
import { WebsocketCommunicator } from '../../src/channels/testing/websocketCommunicator.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: unknown): string => new TextDecoder().decode(b as Uint8Array);
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A worker-style application: answers each message on a `channel` scope. */
const doubler: ASGIApplication = async (_scope, receive, send) => {
  for (;;) {
    const ev = await receive();
    if (ev.type === 'stop') return;
    if (ev.type === 'crash') throw new RangeError('asked to crash');
    if (ev.type === 'silent') continue;
    await send({ type: 'doubled', value: (ev.value as number) * 2 });
  }
};

const channelScope: Scope = { type: 'channel', channel: 'math' };

describe('ApplicationCommunicator', () => {
  it('feeds input and reads output, event by event', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock: new Clock() });
    await comm.sendInput({ type: 'double', value: 21 });
    expect(await comm.receiveOutput()).toEqual({ type: 'doubled', value: 42 });
    await comm.sendInput({ type: 'stop' });
    await comm.wait();
  });

  it('re-raises the application exception, after the events it sent before', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock: new Clock() });
    await comm.sendInput({ type: 'double', value: 1 });
    await comm.sendInput({ type: 'crash' });
    await settle();
    expect(await comm.receiveOutput()).toEqual({ type: 'doubled', value: 2 });
    await expect(comm.receiveOutput()).rejects.toThrow(new RangeError('asked to crash'));
    await expect(comm.sendInput({ type: 'double', value: 1 })).rejects.toBeInstanceOf(RangeError);
    await expect(comm.receiveNothing()).rejects.toBeInstanceOf(RangeError);
    await expect(comm.wait()).rejects.toBeInstanceOf(RangeError);
    await expect(comm.stop()).rejects.toBeInstanceOf(RangeError);
    await comm.stop({ exceptions: false });
    expect(flushLoggedErrors()).toEqual([]); // the test sees it; nothing is logged
  });

  it('re-raises an exception that happens while receiveOutput waits', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock: new Clock() });
    const out = comm.receiveOutput();
    await comm.sendInput({ type: 'crash' });
    await expect(out).rejects.toBeInstanceOf(RangeError);
  });

  it('times out receiveOutput on the clock, then cancels the application', async () => {
    const clock = new Clock();
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock });
    const out = comm.receiveOutput(2);
    clock.advance(1.9);
    await settle();
    clock.advance(0.1);
    await expect(out).rejects.toBeInstanceOf(TimeoutError);
    await comm.wait(); // cancelled by the timeout: wait() is satisfied
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('times out receiveOutput in real time on the default reactor', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope);
    await expect(comm.receiveOutput(0.02)).rejects.toBeInstanceOf(TimeoutError);
  });

  it('says when the application returned without sending anything more', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock: new Clock() });
    const out = comm.receiveOutput();
    await comm.sendInput({ type: 'stop' });
    await expect(out).rejects.toBeInstanceOf(ApplicationExitedError);
    await expect(comm.receiveOutput()).rejects.toBeInstanceOf(ApplicationExitedError);
  });

  it('receiveNothing: true after the timeout, false as soon as something arrives', async () => {
    const clock = new Clock();
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock });
    const nothing = comm.receiveNothing(0.1);
    await comm.sendInput({ type: 'silent' });
    await settle();
    clock.advance(0.1);
    expect(await nothing).toBe(true);
    const something = comm.receiveNothing(0.1);
    await comm.sendInput({ type: 'double', value: 2 });
    expect(await something).toBe(false);
    expect(await comm.receiveNothing()).toBe(false); // still queued
    expect(await comm.receiveOutput()).toEqual({ type: 'doubled', value: 4 });
    await comm.sendInput({ type: 'stop' });
    await comm.wait();
    expect(await comm.receiveNothing()).toBe(true);
  });

  it('receiveNothing works in real time on the default reactor', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope);
    expect(await comm.receiveNothing(0.01)).toBe(true);
    await comm.stop();
  });

  it('wait times out on the clock and cancels the application', async () => {
    const clock = new Clock();
    const cancelled: unknown[] = [];
    const comm = new ApplicationCommunicator(
      async (_s, receive) => {
        try {
          await receive();
        } catch (e) {
          cancelled.push(e);
        }
      },
      channelScope,
      { clock },
    );
    const w = comm.wait(1);
    clock.advance(1);
    await expect(w).rejects.toBeInstanceOf(TimeoutError);
    await settle();
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toBeInstanceOf(CancelledError);
  });

  it('stop cancels a running application', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock: new Clock() });
    await comm.sendInput({ type: 'silent' });
    await comm.stop();
    await comm.wait();
    await comm.stop(); // twice is fine
  });

  it('refuses input that is not an event', async () => {
    const comm = new ApplicationCommunicator(doubler, channelScope, { clock: new Clock() });
    await expect(comm.sendInput('nope' as unknown as ASGIEvent)).rejects.toBeInstanceOf(TypeError);
    await comm.stop();
  });

  it('runs an http scope through the server state machine: violations fail the send', async () => {
    const errors: unknown[] = [];
    const comm = new ApplicationCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'http.response.body', body: bytes('x') }).then(undefined, (e: unknown) => errors.push(e));
      },
      { type: 'http', method: 'GET', path: '/' },
      { clock: new Clock() },
    );
    await comm.sendInput({ type: 'http.request' });
    await comm.wait();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ASGIProtocolError);
    expect(comm.serverActions.map((a) => a.kind)).toEqual(['abort']);
    await expect(comm.receiveOutput()).rejects.toBeInstanceOf(ApplicationExitedError); // nothing was output
    await expect(comm.sendInput({ type: 'websocket.connect' })).rejects.toThrow(/not an input event of HTTP/);
  });

  it('passes anything through with strict: false', async () => {
    const comm = new ApplicationCommunicator(
      async (_s, _receive, send) => {
        await send({ type: 'http.response.body', body: 'not checked' });
      },
      { type: 'http' },
      { clock: new Clock(), strict: false },
    );
    expect(await comm.receiveOutput()).toEqual({ type: 'http.response.body', body: 'not checked' });
  });
});

describe('HttpCommunicator', () => {
  const hello: ASGIApplication = async (scope, receive, send) => {
    let body = '';
    for (;;) {
      const ev = await receive();
      body += text(ev.body);
      if (ev.more_body !== true) break;
    }
    await send({ type: 'http.response.start', status: 200, headers: [['Content-Type', 'application/json']] });
    await send({
      type: 'http.response.body',
      body: bytes(JSON.stringify({ method: scope.method, path: scope.path, raw: scope.raw_path, qs: scope.query_string, body })),
    });
  };

  it('gives the whole response, with the scope the server would build', async () => {
    const comm = new HttpCommunicator(hello, 'post', '/caf%C3%A9/d%C3%A9j%C3%A0 vu?x=1&y=%20', {
      body: 'héllo',
      headers: { 'X-Test': '1' },
      clock: new Clock(),
    });
    expect(comm.scope).toMatchObject({
      type: 'http',
      asgi: { version: '3.0', spec_version: '2.5' },
      http_version: '1.1',
      method: 'POST',
      scheme: 'http',
      headers: [['x-test', '1']],
      root_path: '',
    });
    const response = await comm.getResponse();
    expect(response.status).toBe(200);
    expect(response.headers).toEqual([['content-type', 'application/json']]);
    expect(JSON.parse(text(response.body))).toEqual({
      method: 'POST',
      path: '/café/déjà vu',
      raw: '/caf%C3%A9/d%C3%A9j%C3%A0%20vu',
      qs: 'x=1&y=%20',
      body: 'héllo',
    });
  });

  it('concatenates a streamed body', async () => {
    const comm = new HttpCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'http.response.start', status: 201 });
        for (const part of ['a', 'b', 'c']) await send({ type: 'http.response.body', body: bytes(part), more_body: true });
        await send({ type: 'http.response.body' });
      },
      'GET',
      '/',
      { clock: new Clock() },
    );
    const r = await comm.getResponse();
    expect(r).toEqual({ status: 201, headers: [], body: bytes('abc') });
  });

  it('gives the server 500 when the application returns without responding', async () => {
    const comm = new HttpCommunicator(async () => undefined, 'GET', '/', { clock: new Clock() });
    const r = await comm.getResponse();
    expect(r.status).toBe(500);
    expect(text(r.body)).toBe('Internal Server Error');
  });

  it('re-raises the application exception', async () => {
    const comm = new HttpCommunicator(async () => {
      throw new SyntaxError('bad view');
    }, 'GET', '/', { clock: new Clock() });
    await expect(comm.getResponse()).rejects.toThrow(new SyntaxError('bad view'));
    expect(comm.serverActions).toMatchObject([{ kind: 'error-response', status: 500 }]);
    expect(flushLoggedErrors()).toEqual([]);
  });

  const violations: Array<[string, ASGIEvent[]]> = [
    ['str header bytes', [{ type: 'http.response.start', status: 200, headers: [[bytes('a'), bytes('b')]] }]],
    ['a second start', [{ type: 'http.response.start', status: 200 }, { type: 'http.response.start', status: 200 }]],
    ['a body before the start', [{ type: 'http.response.body', body: bytes('x') }]],
  ];
  for (const [name, events] of violations) {
    it(`fails getResponse with ASGIProtocolError on ${name} (the connection is aborted)`, async () => {
      const comm = new HttpCommunicator(
        async (_s, receive, send) => {
          await receive();
          for (const e of events) await send(e);
        },
        'GET',
        '/',
        { clock: new Clock() },
      );
      await expect(comm.getResponse()).rejects.toBeInstanceOf(ASGIProtocolError);
      expect(comm.serverActions[comm.serverActions.length - 1]!.kind).toBe('abort');
    });
  }

  it('fails getResponse when the application returns mid-response (abort)', async () => {
    const comm = new HttpCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: bytes('half'), more_body: true });
      },
      'GET',
      '/',
      { clock: new Clock() },
    );
    await expect(comm.getResponse()).rejects.toThrow(/returned before finishing/);
  });

  it('lets a test stream with sendInput/receiveOutput and see http.disconnect', async () => {
    const seen: string[] = [];
    const comm = new HttpCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.body', body: bytes('tick'), more_body: true });
        seen.push((await receive()).type);
      },
      'GET',
      '/poll',
      { clock: new Clock() },
    );
    await comm.sendInput({ type: 'http.request' });
    expect(await comm.receiveOutput()).toMatchObject({ type: 'http.response.start', status: 200 });
    expect(await comm.receiveOutput()).toMatchObject({ body: bytes('tick'), more_body: true });
    await comm.sendInput({ type: 'http.disconnect' });
    await comm.wait();
    expect(seen).toEqual(['http.disconnect']);
  });

  it('puts the channel layer in the scope', () => {
    const layer = new InMemoryChannelLayer({ reactor: new Clock() });
    const comm = new HttpCommunicator(async () => undefined, 'GET', '/', { channelLayer: layer });
    expect(comm.scope.channel_layer).toBe(layer);
  });
});

describe('WebsocketCommunicator', () => {
  /** Echo with a few switches driven by the path. */
  const echo: ASGIApplication = async (scope, receive, send) => {
    const connect = await receive();
    expect(connect.type).toBe('websocket.connect');
    const offered = scope.subprotocols ?? [];
    await send({ type: 'websocket.accept', subprotocol: offered[0] ?? null, headers: [['X-Hello', 'yes']] });
    for (;;) {
      const ev = await receive();
      if (ev.type === 'websocket.disconnect') {
        (scope.state ??= {}).closedWith = [ev.code, ev.reason];
        return;
      }
      if (ev.text === 'close') await send({ type: 'websocket.close', code: 4000, reason: 'asked' });
      else if (ev.text === 'crash') throw new EvalError('crashed');
      else await send({ type: 'websocket.send', ...(ev.text !== undefined ? { text: ev.text } : { bytes: ev.bytes }) });
    }
  };

  it('connects, echoes text and bytes, and disconnects with a code and a reason', async () => {
    const clock = new Clock();
    const comm = new WebsocketCommunicator(echo, '/ws/echo/?token=1', { subprotocols: ['chat', 'v2'], clock });
    expect(comm.scope).toMatchObject({
      type: 'websocket',
      path: '/ws/echo/',
      query_string: 'token=1',
      subprotocols: ['chat', 'v2'],
      extensions: { 'websocket.http.response': {} },
    });
    expect(await comm.connect()).toEqual([true, 'chat']);
    expect(comm.acceptHeaders).toEqual([['x-hello', 'yes']]);
    await comm.sendTo({ text: 'hi' });
    expect(await comm.receiveFrom()).toEqual({ text: 'hi' });
    await comm.sendTo({ bytes: bytes('\x00\xff') });
    expect(await comm.receiveFrom()).toEqual({ bytes: bytes('\x00\xff') });
    await comm.sendJsonTo({ a: [1, 2] });
    expect(await comm.receiveJsonFrom()).toEqual({ a: [1, 2] });
    const nothing = comm.receiveNothing(0.1);
    clock.advance(0.1); // with a Clock, the test moves time
    expect(await nothing).toBe(true);
    await comm.disconnect(4001, 'bye');
    expect(comm.scope.state).toEqual({ closedWith: [4001, 'bye'] });
  });

  it('reads a close with receiveOutput; receiveFrom names it', async () => {
    const comm = new WebsocketCommunicator(echo, '/', { clock: new Clock() });
    await comm.connect();
    await comm.sendTo({ text: 'close' });
    await expect(comm.receiveFrom()).rejects.toThrow(/got websocket.close \(code 4000\)/);
    await comm.sendTo({ text: 'close' }); // dropped by the server: the app closed
    await comm.disconnect();
  });

  it('close before accept: [false, code] and a 403', async () => {
    const comm = new WebsocketCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'websocket.close', code: 4003 });
        await receive();
      },
      '/',
      { clock: new Clock() },
    );
    expect(await comm.connect()).toEqual([false, 4003]);
    expect(comm.rejection?.status).toBe(403);
    await comm.wait();
  });

  it('a denial response: [false, status] and the response', async () => {
    const comm = new WebsocketCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'websocket.http.response.start', status: 401, headers: [['www-authenticate', 'Bearer']] });
        await send({ type: 'websocket.http.response.body', body: bytes('who are you?') });
      },
      '/',
      { clock: new Clock() },
    );
    expect(await comm.connect()).toEqual([false, 401]);
    expect(comm.rejection).toEqual({ status: 401, headers: [['www-authenticate', 'Bearer']], body: bytes('who are you?') });
  });

  it('returned before deciding: [false, 500]', async () => {
    const comm = new WebsocketCommunicator(async (_s, receive) => {
      await receive();
    }, '/', { clock: new Clock() });
    expect(await comm.connect()).toEqual([false, 500]);
  });

  it('send before accept fails the send; the app dying of it fails connect (server: 500)', async () => {
    const comm = new WebsocketCommunicator(
      async (_s, receive, send) => {
        await receive();
        await send({ type: 'websocket.send', text: 'too early' });
      },
      '/',
      { clock: new Clock() },
    );
    await expect(comm.connect()).rejects.toThrow(/before websocket.accept/);
    expect(comm.serverActions).toMatchObject([{ kind: 'deny', status: 500 }]);
  });

  it('an exception after accept is re-raised (server: close 1011)', async () => {
    const comm = new WebsocketCommunicator(echo, '/', { clock: new Clock() });
    await comm.connect();
    await comm.sendTo({ text: 'crash' });
    await expect(comm.receiveFrom()).rejects.toBeInstanceOf(EvalError);
    expect(comm.serverActions[comm.serverActions.length - 1]).toEqual({ kind: 'close', code: 1011, reason: '' });
    await expect(comm.disconnect()).rejects.toBeInstanceOf(EvalError);
  });

  it('refuses sendTo before an accepted connect, and bad messages', async () => {
    const comm = new WebsocketCommunicator(echo, '/', { clock: new Clock() });
    await expect(comm.sendTo({ text: 'x' })).rejects.toThrow(/not connected/);
    await comm.connect();
    await expect(comm.sendTo({} as { text: string })).rejects.toBeInstanceOf(TypeError);
    await expect(comm.sendJsonTo(undefined)).rejects.toBeInstanceOf(TypeError);
    await comm.disconnect();
  });

  it('times out connect on the clock', async () => {
    const clock = new Clock();
    const comm = new WebsocketCommunicator(() => new Deferred<void>(), '/', { clock });
    const c = comm.connect(5);
    await settle();
    clock.advance(5);
    await expect(c).rejects.toBeInstanceOf(TimeoutError);
  });

  it('can leave out the denial extension', () => {
    const comm = new WebsocketCommunicator(echo, '/', { httpResponseExtension: false });
    expect(comm.scope.extensions).toBeUndefined();
  });
});

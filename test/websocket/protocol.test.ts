// The shared connection logic, with our client and our server joined in memory (connectedPair)
// or one side over a StringTransport: messages both ways, fragmentation, permessage-deflate round
// trips and ordering, the async iterator, backpressure and the WebSocket object's contract.
import { describe, expect, it } from 'vitest';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import type { IPushProducer } from '../../src/reactor/interfaces.js';
import {
  ReadyState,
  WebSocketClosedError,
  WebSocketStateError,
  prepareMessage,
  type WebSocketData,
} from '../../src/websocket/index.js';
import { clientOver, frame, lose, openClient, openServer, pair, pumpUntil, record } from './protocol-helpers.js';

const text = (s: string) => Buffer.from(s, 'utf8');

describe('messages between our client and our server', () => {
  it.each([
    ['text', 'hello, wörld ✓', false],
    ['empty text', '', false],
    ['binary', Buffer.from([0, 1, 2, 255]), true],
    ['empty binary', Buffer.alloc(0), true],
    ['125-byte text', 'x'.repeat(125), false],
    ['126-byte binary (16-bit length)', Buffer.alloc(126, 7), true],
    ['65536-byte binary (64-bit length)', Buffer.alloc(65536, 9), true],
  ] as const)('echoes %s both ways, uncompressed', (_name, payload, binary) => {
    const p = pair({ perMessageDeflate: false, onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const got: Array<[WebSocketData, boolean]> = [];
    p.ws.onMessage = (d, isBinary) => got.push([d, isBinary]);
    successResultOf(p.ws.send(payload));
    p.pump.flush();
    expect(got).toHaveLength(1);
    expect(got[0]![1]).toBe(binary);
    if (binary) expect(Buffer.compare(got[0]![0] as Buffer, payload as Buffer)).toBe(0);
    else expect(got[0]![0]).toBe(payload);
  });

  it('sends a string as binary and bytes as text when asked', () => {
    const p = pair({ perMessageDeflate: false });
    const got: Array<[WebSocketData, boolean]> = [];
    p.serverWs.onMessage = (d, isBinary) => got.push([d, isBinary]);
    p.ws.send('abc', { binary: true });
    p.ws.send(text('déjà'), { binary: false });
    p.pump.flush();
    expect(got).toEqual([
      [Buffer.from('abc'), true],
      ['déjà', false],
    ]);
  });

  it('sends and receives a fragmented message (fin: false), with a ping between fragments', () => {
    const p = pair({ perMessageDeflate: false });
    const got: WebSocketData[] = [];
    const pongs: string[] = [];
    p.serverWs.onMessage = (d) => got.push(d);
    p.ws.onPong = (b) => pongs.push(b.toString());
    successResultOf(p.ws.send('frag', { fin: false }));
    p.ws.ping('between');
    successResultOf(p.ws.send(text('ment'), { fin: false }));
    successResultOf(p.ws.send('ed'));
    p.pump.flush();
    expect(got).toEqual(['fragmented']);
    expect(pongs).toEqual(['between']);
  });

  it('keeps message order across many sends in one round', () => {
    const p = pair({ perMessageDeflate: false, onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const got: WebSocketData[] = [];
    p.ws.onMessage = (d) => got.push(d);
    for (let i = 0; i < 100; i++) p.ws.send(i % 2 === 0 ? `m${i}` : Buffer.from([i]));
    p.pump.flush();
    expect(got).toHaveLength(100);
    got.forEach((d, i) => expect(i % 2 === 0 ? d : (d as Buffer)[0]).toBe(i % 2 === 0 ? `m${i}` : i));
  });

  it('reports protocol, extensions, url, request and addresses', () => {
    const p = pair({ protocols: ['b', 'a'] }, { protocols: ['a', 'b'], path: '/room/1?x=%20y' });
    expect(p.ws.protocol).toBe('a');
    expect(p.serverWs.protocol).toBe('a');
    expect(p.ws.extensions).toBe('permessage-deflate');
    expect(p.serverWs.extensions).toBe('permessage-deflate');
    expect(p.ws.url).toBe('ws://localhost/room/1?x=%20y');
    expect(p.serverWs.url).toBe('/room/1?x=%20y');
    const req = p.serverWs.request!;
    expect([req.rawPath, req.path, req.query, req.getHeader('HOST')]).toEqual(['/room/1', '/room/1', 'x=%20y', 'localhost']);
    expect(req.protocols).toEqual(['a', 'b']);
    expect(p.ws.request).toBeNull();
    expect(String(p.serverWs.remoteAddress)).toBe('127.0.0.1:54321');
    expect(String(p.ws.remoteAddress)).toBe('127.0.0.1:8080');
    expect(String(p.ws.localAddress)).toBe('127.0.0.1:54321');
    expect([p.ws.role, p.serverWs.role]).toEqual(['client', 'server']);
  });
});

describe('permessage-deflate in memory', () => {
  const big = 'All work and no play makes Jack a dull boy. '.repeat(200);

  it('compresses messages over the threshold both ways, and they arrive intact', async () => {
    const p = pair({ onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const wire: number[] = [];
    const write = p.clientIO.write.bind(p.clientIO);
    p.clientIO.write = (d: Uint8Array) => {
      wire.push(d.length);
      write(d);
    };
    const got: WebSocketData[] = [];
    p.ws.onMessage = (d) => got.push(d);
    const binary = Buffer.alloc(50_000, 0x61);
    p.ws.send(big);
    p.ws.send(binary);
    await pumpUntil(p.pump, () => got.length === 2, 'two echoes');
    expect(got[0]).toBe(big);
    expect(Buffer.compare(got[1] as Buffer, binary)).toBe(0);
    // Both went out compressed: far fewer bytes than the payloads.
    expect(wire.reduce((a, b) => a + b, 0)).toBeLessThan(2000);
  });

  it('keeps order between compressed and uncompressed messages, both directions', async () => {
    const p = pair({ onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const got: WebSocketData[] = [];
    p.ws.onMessage = (d) => got.push(d);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const m = i % 3 === 0 ? `${i}:${big}` : `small ${i}`;
      sent.push(m);
      p.ws.send(m);
    }
    await pumpUntil(p.pump, () => got.length === 20, 'twenty echoes');
    expect(got).toEqual(sent);
  });

  it('send Deferreds of compressed messages fire when the frame is written, in order', async () => {
    const p = pair({ perMessageDeflate: false }, { perMessageDeflate: true });
    // The server turned the offer down: nothing is compressed.
    expect(p.ws.extensions).toBe('');
    const q = pair();
    const fired: number[] = [];
    q.ws.send(big).addCallback(() => void fired.push(1));
    q.ws.send('tiny').addCallback(() => void fired.push(2));
    expect(fired).toEqual([]);
    expect(q.ws.bufferedAmount).toBe(big.length + 4);
    await pumpUntil(q.pump, () => fired.length === 2, 'both sends');
    expect(fired).toEqual([1, 2]);
    expect(q.ws.bufferedAmount).toBe(0);
    p.pump.flush();
  });

  it('compress: false sends a big message uncompressed', () => {
    const p = pair();
    const got: WebSocketData[] = [];
    p.serverWs.onMessage = (d) => got.push(d);
    successResultOf(p.ws.send(big, { compress: false }));
    p.pump.flush();
    expect(got).toEqual([big]);
  });

  it('compresses a fragmented message as a whole, as its first fragment decides', async () => {
    const p = pair();
    const got: WebSocketData[] = [];
    p.serverWs.onMessage = (d) => got.push(d);
    p.ws.send(big, { fin: false });
    p.ws.send('tail');
    await pumpUntil(p.pump, () => got.length === 1, 'the message');
    expect(got).toEqual([big + 'tail']);
  });

  it.each([
    ['no context takeover both ways', { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    ['small windows', { serverMaxWindowBits: 9, clientMaxWindowBits: 10 }],
  ])('round-trips with %s', async (_name, opts) => {
    const p = pair({ perMessageDeflate: opts, onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const got: WebSocketData[] = [];
    p.ws.onMessage = (d) => got.push(d);
    for (let i = 0; i < 3; i++) p.ws.send(`${i} ${big}`);
    await pumpUntil(p.pump, () => got.length === 3, 'three echoes');
    expect(got).toEqual([0, 1, 2].map((i) => `${i} ${big}`));
  });

  it('threshold 0 compresses everything, even empty messages', async () => {
    const p = pair({ perMessageDeflate: { threshold: 0 } }, { perMessageDeflate: { threshold: 0 } });
    const got: WebSocketData[] = [];
    p.serverWs.onMessage = (d) => got.push(d);
    p.ws.send('');
    p.ws.send('a');
    await pumpUntil(p.pump, () => got.length === 2, 'two messages');
    expect(got).toEqual(['', 'a']);
  });
});

describe('the async iterator', () => {
  it('yields messages in order and ends at the close', async () => {
    const p = pair({ perMessageDeflate: false });
    for (const m of ['a', 'b', 'c']) p.serverWs.send(m);
    p.serverWs.close(1000, 'done');
    p.pump.flush();
    const got: WebSocketData[] = [];
    for await (const m of p.ws) got.push(m);
    expect(got).toEqual(['a', 'b', 'c']);
    expect(p.ws.closeInfo).toEqual({ code: 1000, reason: 'done', wasClean: true });
  });

  it('waits for messages that are not there yet', async () => {
    const p = pair({ perMessageDeflate: false });
    const it = p.ws[Symbol.asyncIterator]();
    const first = it.next();
    p.serverWs.send('later');
    p.pump.flush();
    expect(await first).toEqual({ done: false, value: 'later' });
    const second = it.next();
    p.serverWs.close();
    p.pump.flush();
    expect(await second).toEqual({ done: true, value: undefined });
  });

  it('ends when the connection is lost', async () => {
    const p = pair({ perMessageDeflate: false });
    const next = p.ws[Symbol.asyncIterator]().next();
    p.serverIO.abortConnection();
    p.pump.flush();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(p.ws.closeInfo).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('keeps messages that arrive before anyone listens; setting onMessage delivers them', () => {
    const p = pair({ perMessageDeflate: false });
    p.serverWs.send('one');
    p.serverWs.send('two');
    p.pump.flush();
    const got: WebSocketData[] = [];
    p.ws.onMessage = (d) => got.push(d);
    expect(got).toEqual(['one', 'two']);
  });

  it('stops reading once maxQueue messages wait, and reads again as they are taken', async () => {
    const p = pair({ perMessageDeflate: false }, { maxQueue: 3 });
    for (let i = 0; i < 10; i++) p.serverWs.send(`m${i}`);
    p.pump.flush();
    expect(p.clientIO.readPaused).toBe(true);
    const got: WebSocketData[] = [];
    const iter = p.ws[Symbol.asyncIterator]();
    while (got.length < 10) {
      got.push((await iter.next()).value!);
      p.pump.flush();
    }
    expect(got).toEqual([...Array(10).keys()].map((i) => `m${i}`));
    expect(p.clientIO.readPaused).toBe(false);
  });

  it('breaking out of the loop does not close the connection', async () => {
    const p = pair({ perMessageDeflate: false });
    p.serverWs.send('x');
    p.pump.flush();
    for await (const m of p.ws) {
      expect(m).toBe('x');
      break;
    }
    expect(p.ws.readyState).toBe(ReadyState.OPEN);
  });
});

describe('reading backpressure: the socket as a push producer', () => {
  it('pauseProducing holds messages and stops reading; resumeProducing delivers them', () => {
    const p = pair({ perMessageDeflate: false });
    const got: WebSocketData[] = [];
    p.ws.onMessage = (d) => got.push(d);
    p.ws.pauseProducing();
    expect(p.clientIO.readPaused).toBe(true);
    p.serverWs.send('held');
    p.pump.flush();
    expect(got).toEqual([]);
    p.ws.resumeProducing();
    p.pump.flush();
    expect(got).toEqual(['held']);
    expect(p.clientIO.readPaused).toBe(false);
  });

  it('stopProducing closes the connection with 1001 (the consumer is gone)', () => {
    const { ws, t } = openServer({ perMessageDeflate: false });
    ws.stopProducing();
    expect(t.value().toString('hex')).toBe('880203e9');
    expect(ws.readyState).toBe(ReadyState.CLOSING);
  });

  it('a handler that pauses stops delivery of the messages behind it in the same chunk', () => {
    const { proto, ws } = openServer({ perMessageDeflate: false });
    const got: WebSocketData[] = [];
    ws.onMessage = (d) => {
      got.push(d);
      ws.pauseProducing();
    };
    proto.dataReceived(Buffer.concat([frame(0x81, 'a'), frame(0x81, 'b'), frame(0x81, 'c')]));
    expect(got).toEqual(['a']);
    ws.resumeProducing();
    expect(got).toEqual(['a', 'b']);
    ws.onMessage = (d) => got.push(d);
    ws.resumeProducing();
    expect(got).toEqual(['a', 'b', 'c']);
  });
});

describe('writing backpressure', () => {
  it('send Deferreds wait while the transport is paused and fire in order once it resumes', () => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false });
    proto.pauseProducing(); // what the transport does when its buffer is full
    const d1 = ws.send('one');
    const d2 = ws.send(Buffer.alloc(10));
    assertNoResult(d1);
    assertNoResult(d2);
    expect(ws.bufferedAmount).toBe(13);
    expect(t.value().length).toBe(0);
    proto.resumeProducing();
    successResultOf(d1);
    successResultOf(d2);
    expect(ws.bufferedAmount).toBe(0);
    expect(t.value().toString('hex')).toBe('81036f6e65' + '820a' + '00'.repeat(10));
  });

  it('pauses a registered producer while the transport pushes back, and resumes it after', () => {
    const p = pair({ perMessageDeflate: false });
    const calls: string[] = [];
    const producer: IPushProducer = {
      pauseProducing: () => calls.push('pause'),
      resumeProducing: () => calls.push('resume'),
      stopProducing: () => calls.push('stop'),
    };
    p.ws.registerProducer(producer, true);
    expect(() => p.ws.registerProducer(producer, true)).toThrow(Error);
    // 100 KiB into a FakeTransport whose limit is 64 KiB: it pauses us.
    const d1 = p.ws.send(Buffer.alloc(100 * 1024));
    successResultOf(d1); // handed over before the pause
    const d2 = p.ws.send('after');
    assertNoResult(d2);
    expect(calls).toEqual(['pause']);
    p.pump.pump();
    successResultOf(d2);
    expect(calls).toEqual(['pause', 'resume']);
    p.serverWs.close();
    p.pump.flush();
    expect(calls).toEqual(['pause', 'resume', 'stop']);
  });

  it('refuses pull producers', () => {
    const { ws } = openServer();
    expect(() => ws.registerProducer({ pauseProducing() {}, resumeProducing() {}, stopProducing() {} }, false)).toThrow(TypeError);
  });

  it('queued sends fail with WebSocketClosedError when the connection is lost', () => {
    const { proto, ws } = openServer({ perMessageDeflate: false });
    proto.pauseProducing();
    const d = ws.send('never');
    lose(proto, false);
    expect(failureResultOf(d, WebSocketClosedError).value.message).toMatch(/lost/);
  });
});

describe('the WebSocket object', () => {
  it('send fails with WebSocketClosedError once CLOSING, and once CLOSED', () => {
    const { proto, ws } = openServer();
    ws.close();
    expect(failureResultOf(ws.send('late'), WebSocketClosedError).value.message).toMatch(/closing/);
    lose(proto);
    expect(failureResultOf(ws.send('later'), WebSocketClosedError).value.message).toMatch(/closed/);
  });

  it('throws WebSocketStateError for send and ping while CONNECTING', () => {
    const { ws } = clientOver();
    expect(ws.readyState).toBe(ReadyState.CONNECTING);
    expect(() => ws.send('x')).toThrow(WebSocketStateError);
    expect(() => ws.ping()).toThrow(WebSocketStateError);
  });

  it.each([
    [999, RangeError],
    [1004, RangeError],
    [1005, RangeError],
    [1006, RangeError],
    [1015, RangeError],
    [2999, RangeError],
    [5000, RangeError],
    [1000.5, RangeError],
  ])('close(%s) throws %p', (code, type) => {
    const { ws } = openServer();
    expect(() => ws.close(code)).toThrow(type);
    expect(ws.readyState).toBe(ReadyState.OPEN);
  });

  it('close validates the reason length (123 bytes of UTF-8)', () => {
    const { ws, t } = openServer();
    expect(() => ws.close(1000, 'é'.repeat(62))).toThrow(RangeError);
    ws.close(1000, 'é'.repeat(61) + 'x');
    expect(t.value().length).toBe(2 + 125);
  });

  it('ping and pong validate the payload and are ignored once closing', () => {
    const { ws, t } = openServer();
    expect(() => ws.ping('x'.repeat(126))).toThrow(RangeError);
    ws.ping('hi');
    ws.pong('yo');
    expect(t.value().toString('hex')).toBe('89026869' + '8a02796f');
    ws.close();
    t.clear();
    ws.ping();
    ws.pong();
    expect(t.value().length).toBe(0);
  });

  it('send rejects other types', () => {
    const { ws } = openServer();
    expect(() => ws.send(42 as never)).toThrow(TypeError);
  });

  it('a callback that throws is logged and fails the connection with 1011', () => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false });
    ws.onMessage = () => {
      throw new Error('boom');
    };
    proto.dataReceived(Buffer.concat([frame(0x81, 'a'), frame(0x81, 'b')]));
    expect(t.value().toString('hex')).toBe('880203f3');
    expect(t.disconnecting).toBe(true);
    expect(flushLoggedErrors(Error)).toHaveLength(1);
    expect(ws.readyState).toBe(ReadyState.CLOSING);
  });

  it('sendPrepared writes the prepared bytes; client sockets refuse it', () => {
    const { ws, t } = openServer();
    const m = prepareMessage('hi');
    successResultOf(ws.sendPrepared(m));
    expect(t.value().toString('hex')).toBe('81026869');
    const c = openClient();
    expect(() => c.ws.sendPrepared(m)).toThrow(WebSocketStateError);
  });

  it('sendPrepared refuses a compressed frame without the extension, and mid-fragment', () => {
    const { ws } = openServer({ perMessageDeflate: false });
    failureResultOf(ws.sendPrepared(prepareMessage(Buffer.from([0]), { compressed: true })), WebSocketStateError);
    ws.send('a', { fin: false });
    failureResultOf(ws.sendPrepared(prepareMessage('x')), WebSocketStateError);
  });

  it('whenClosed gives a fresh Deferred per call and fires at once once closed', () => {
    const p = pair({ perMessageDeflate: false });
    const a = p.ws.whenClosed();
    const b = p.ws.whenClosed();
    expect(a).not.toBe(b);
    p.ws.close(3001, 'x');
    p.pump.flush();
    expect(successResultOf(a)).toEqual({ code: 3001, reason: '', wasClean: true });
    expect(successResultOf(b)).toEqual({ code: 3001, reason: '', wasClean: true });
    expect(successResultOf(p.ws.whenClosed()).code).toBe(3001);
  });

  it('terminate drops the connection: onClose(1006, "", false) on both sides', () => {
    const p = pair({ perMessageDeflate: false });
    const log = record(p.ws);
    const slog = record(p.serverWs);
    p.ws.terminate();
    p.pump.flush();
    expect(log).toEqual([['close', 1006, '', false]]);
    expect(slog).toEqual([['close', 1006, '', false]]);
  });
});

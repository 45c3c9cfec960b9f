// Closing and failing: the close handshake both ways, who closes TCP, every timeout (close,
// keepalive, idle) on a Clock, protocol errors and their close codes, and the end of a
// connection while work is pending.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';
import { ReadyState, WebSocketClosedError, type WebSocketData } from '../../src/websocket/index.js';
import type { IProtocol } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/clock.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { connectedPair, type FakeTransport } from '../../src/testing/iosim.js';
import { WebSocketServerFactory } from '../../src/websocket/index.js';
import { ADDR, frame, lose, openClient, openServer, pair, pumpUntil, record, until, upgradeRequest } from './protocol-helpers.js';

const DEFLATE_OFFER = 'Sec-WebSocket-Extensions: permessage-deflate';

/** A permessage-deflate payload of `data` (without the 00 00 ff ff tail). */
function deflated(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

describe('the close handshake, in memory', () => {
  it('client closes: the server echoes and closes TCP first; both see a clean close', () => {
    const p = pair({ perMessageDeflate: false });
    const clog = record(p.ws);
    const slog = record(p.serverWs);
    p.ws.close(1000, 'bye');
    expect(p.ws.readyState).toBe(ReadyState.CLOSING);
    p.pump.pump(); // the close frame reaches the server
    // A lingering close: FIN after the echo, reading on until the client closes its side.
    expect(p.serverIO.writeDisconnected).toBe(true);
    expect(p.serverIO.disconnecting).toBe(false);
    expect(p.clientIO.writeDisconnected || p.clientIO.disconnecting).toBe(false);
    expect(p.serverWs.readyState).toBe(ReadyState.CLOSING);
    p.pump.flush();
    expect(slog).toEqual([['close', 1000, 'bye', true]]);
    expect(clog).toEqual([['close', 1000, '', true]]);
    expect(p.ws.readyState).toBe(ReadyState.CLOSED);
    expect(p.clock.getDelayedCalls()).toEqual([]);
  });

  it('server closes: the client echoes and waits for the server to close TCP', () => {
    const p = pair({ perMessageDeflate: false });
    const clog = record(p.ws);
    let clientClosedTcp = false;
    const lose0 = p.clientIO.loseConnection.bind(p.clientIO);
    p.clientIO.loseConnection = () => {
      clientClosedTcp = true;
      lose0();
    };
    p.serverWs.close(4001, 'server says bye');
    p.pump.flush();
    expect(clog).toEqual([['close', 4001, 'server says bye', true]]);
    expect(clientClosedTcp).toBe(false);
    expect(p.clock.getDelayedCalls()).toEqual([]);
  });

  it('both close at once: each gets the other close, the connection ends cleanly', () => {
    const p = pair({ perMessageDeflate: false });
    const clog = record(p.ws);
    const slog = record(p.serverWs);
    p.ws.close(3000);
    p.serverWs.close(3001);
    p.pump.flush();
    expect(clog).toEqual([['close', 3001, '', true]]);
    expect(slog).toEqual([['close', 3000, '', true]]);
  });

  it('a close frame waits for the messages sent before it', async () => {
    const p = pair({}, {});
    const got: WebSocketData[] = [];
    p.serverWs.onMessage = (d) => got.push(d);
    const big = 'compress me '.repeat(500);
    p.ws.send(big);
    p.ws.close();
    await pumpUntil(p.pump, () => p.ws.readyState === ReadyState.CLOSED, 'the close');
    expect(got).toEqual([big]);
    expect(p.ws.closeInfo).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it('messages that arrive after we sent close are still delivered', () => {
    const { proto, ws } = openServer({ perMessageDeflate: false });
    const log = record(ws);
    ws.close();
    proto.dataReceived(Buffer.concat([frame(0x81, 'late'), frame(0x88, [0x03, 0xe8])]));
    lose(proto);
    expect(log).toEqual([
      ['message', 'late'],
      ['close', 1000, '', true],
    ]);
  });

  it('an empty close is answered with an empty close and reported as 1005', () => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false });
    const log = record(ws);
    proto.dataReceived(frame(0x88));
    expect(t.value().toString('hex')).toBe('8800');
    expect(t.disconnecting).toBe(true);
    lose(proto);
    expect(log).toEqual([['close', 1005, '', true]]);
  });

  it('nothing is written after the close echo, even by a handler of an earlier message', () => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false });
    const results: Array<'sent' | 'refused'> = [];
    ws.onMessage = (d) => {
      ws.send(d).addCallbacks(
        () => void results.push('sent'),
        (f) => {
          f.trap(WebSocketClosedError);
          results.push('refused');
        },
      );
    };
    // The message is answered as it is parsed, before the close frame behind it.
    proto.dataReceived(Buffer.concat([frame(0x81, 'hi'), frame(0x88, [0x03, 0xe8])]));
    expect(t.value().toString('hex')).toBe('81026869' + '880203e8');
    expect(results).toEqual(['sent']);
    t.clear();
    failureResultOf(ws.send('after'), WebSocketClosedError);
    ws.ping();
    expect(t.value().length).toBe(0);
  });
});

describe('the lingering close over a TCP-like transport', () => {
  /** Our server and a raw peer that writes what it is told and never closes by itself. */
  function rawPeer() {
    const clock = new Clock();
    const factory = new WebSocketServerFactory({ reactor: clock, perMessageDeflate: false });
    const server = factory.buildProtocol(ADDR);
    const received: Buffer[] = [];
    const peer: IProtocol & { received: Buffer[]; lost: boolean } = {
      received,
      lost: false,
      dataReceived: (d) => void received.push(Buffer.from(d)),
      readConnectionLost: () => undefined, // half-closeable: our FIN does not close it
      connectionLost: () => {
        peer.lost = true;
      },
    };
    const { pump } = connectedPair(server, peer, { clock });
    peer.transport!.write(upgradeRequest());
    pump.flush();
    received.length = 0;
    return { clock, server, peer, pump, ws: server.socket, serverIO: server.transport as FakeTransport };
  }

  it('after the close handshake the server sends FIN, still reads what the peer sends, and closes on its FIN', () => {
    const { peer, pump, ws, serverIO } = rawPeer();
    const log = record(ws);
    // The peer closes and, carelessly, sends a ping after its close frame.
    peer.transport!.write(Buffer.concat([frame(0x88, [0x03, 0xe8]), frame(0x89, 'late')]));
    pump.flush();
    expect(Buffer.concat(peer.received).toString('hex')).toBe('880203e8');
    expect(serverIO.writeDisconnected).toBe(true);
    expect(serverIO.disconnected).toBe(false);
    (peer.transport as FakeTransport).loseConnection();
    pump.flush();
    expect(log).toEqual([['close', 1000, '', true]]);
  });

  it('a peer that never closes its side: the server closes for good after closeTimeout', () => {
    const { clock, peer, pump, ws, serverIO } = rawPeer();
    peer.transport!.write(frame(0x88, [0x03, 0xe8]));
    pump.flush();
    expect(serverIO.writeDisconnected).toBe(true);
    clock.advance(5);
    expect(serverIO.disconnecting).toBe(true);
    pump.flush();
    expect(ws.closeInfo).toEqual({ code: 1000, reason: '', wasClean: true });
    expect(serverIO.disconnected).toBe(true);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('the timeouts: FIN, then loseConnection after closeTimeout, then abort after another', () => {
    class HalfClosing extends StringTransport {
      halfClosed = false;
      loseWriteConnection(): void {
        this.halfClosed = true;
      }
    }
    const clock = new Clock();
    const proto = new WebSocketServerFactory({ reactor: clock, perMessageDeflate: false }).buildProtocol(ADDR);
    const t = new HalfClosing();
    proto.makeConnection(t);
    proto.dataReceived(upgradeRequest());
    proto.socket.pauseProducing(); // reading paused by the user…
    proto.dataReceived(frame(0x88, [0x03, 0xe8]));
    expect(t.halfClosed).toBe(true);
    expect(t.producerState).toBe('producing'); // …resumed: the peer's FIN must be read
    expect(t.disconnecting).toBe(false);
    clock.advance(5);
    expect(t.disconnecting).toBe(true);
    expect(t.disconnected).toBe(false);
    clock.advance(5);
    expect(t.disconnected).toBe(true);
  });

  it('a failed connection lingers too: the failing close frame is not lost', () => {
    const { peer, pump, serverIO } = rawPeer();
    peer.transport!.write(Buffer.concat([frame(0x81, 'x', null), frame(0x81, 'more')]));
    pump.flush();
    expect(Buffer.concat(peer.received).toString('hex')).toBe('880203ea');
    expect(serverIO.writeDisconnected).toBe(true);
  });
});

describe('who closes TCP, and the close timeouts (Clock)', () => {
  it('the server closes TCP as soon as the handshake completes; aborts if the transport lingers', () => {
    const { proto, t, clock } = openServer({ perMessageDeflate: false });
    proto.dataReceived(frame(0x88, [0x03, 0xe8]));
    expect(t.disconnecting).toBe(true);
    expect(t.disconnected).toBe(false);
    clock.advance(4.9);
    expect(t.disconnected).toBe(false);
    clock.advance(0.1);
    expect(t.disconnected).toBe(true); // aborted
  });

  it('after sending close, the server drops a peer that never answers after closeTimeout', () => {
    const { proto, t, clock, ws } = openServer({ perMessageDeflate: false, closeTimeout: 2 });
    const log = record(ws);
    ws.close(1001);
    expect(t.value().toString('hex')).toBe('880203e9');
    clock.advance(1.99);
    expect(t.disconnecting).toBe(false);
    clock.advance(0.01);
    expect(t.disconnected).toBe(true);
    lose(proto, false);
    expect(log).toEqual([['close', 1006, '', false]]);
  });

  it('the client waits closeTimeout for the server to close TCP, then closes, then aborts', () => {
    const { proto, t, clock, ws } = openClient();
    const log = record(ws);
    proto.dataReceived(frame(0x88, [0x03, 0xe8], null));
    expect(t.value().length).toBe(2 + 4 + 2); // our masked echo
    expect(t.disconnecting).toBe(false);
    clock.advance(4.99);
    expect(t.disconnecting).toBe(false);
    clock.advance(0.01);
    expect(t.disconnecting).toBe(true);
    expect(t.disconnected).toBe(false);
    clock.advance(5);
    expect(t.disconnected).toBe(true);
    lose(proto, false);
    expect(log).toEqual([['close', 1000, '', true]]);
  });

  it('the client that closed first waits for the echo, then for the server, within the timeouts', () => {
    const { proto, t, clock, ws } = openClient({ closeTimeout: 3 });
    ws.close();
    clock.advance(2);
    proto.dataReceived(frame(0x88, [0x03, 0xe8], null));
    expect(t.disconnecting).toBe(false);
    clock.advance(2.9); // a fresh closeTimeout started with the echo
    expect(t.disconnecting).toBe(false);
    clock.advance(0.1);
    expect(t.disconnecting).toBe(true);
    lose(proto);
    expect(ws.closeInfo).toEqual({ code: 1000, reason: '', wasClean: true });
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('a close queued behind backpressure still goes out in order, and the timer bounds the wait', () => {
    const { proto, t, clock, ws } = openServer({ perMessageDeflate: false });
    proto.pauseProducing();
    const d = ws.send('queued');
    ws.close(1000);
    expect(t.value().length).toBe(0);
    proto.resumeProducing();
    successResultOf(d);
    expect(t.value().toString('hex')).toBe('8106' + Buffer.from('queued').toString('hex') + '880203e8');
    clock.advance(5);
    expect(t.disconnected).toBe(true);
  });
});

describe('keepalive and idle timeouts (Clock)', () => {
  it('pings every pingInterval; a pong re-arms it; no pong within pingTimeout drops the connection', () => {
    const { proto, t, clock, ws } = openServer({ perMessageDeflate: false, pingInterval: 20, pingTimeout: 10 });
    const log = record(ws);
    clock.advance(19.9);
    expect(t.value().length).toBe(0);
    clock.advance(0.1);
    expect(t.value().toString('hex')).toBe('8900');
    t.clear();
    clock.advance(9);
    proto.dataReceived(frame(0x8a));
    clock.advance(19.9);
    expect(t.value().length).toBe(0);
    clock.advance(0.1);
    expect(t.value().toString('hex')).toBe('8900');
    clock.advance(9.9);
    expect(t.disconnected).toBe(false);
    clock.advance(0.1);
    expect(t.disconnected).toBe(true);
    lose(proto, false);
    expect(log).toEqual([
      ['pong', ''],
      ['close', 1006, 'keepalive ping timeout', false],
    ]);
  });

  it('the client pings too (masked), and pingInterval: null turns it off', () => {
    const c = openClient({ pingInterval: 5, pingTimeout: 5 });
    c.clock.advance(5);
    expect(c.t.value().subarray(0, 2).toString('hex')).toBe('8980');
    const off = openClient({ pingInterval: null });
    expect(off.clock.getDelayedCalls()).toEqual([]);
  });

  it('answers pings at once with the same payload', () => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false });
    const log = record(ws);
    proto.dataReceived(frame(0x89, 'are you there'));
    expect(t.value().toString('latin1')).toBe('\x8a\x0dare you there');
    expect(log).toEqual([['ping', 'are you there']]);
  });

  it('idleTimeout closes with 1001 after that long without a message either way', () => {
    const { proto, t, clock } = openServer({ perMessageDeflate: false, idleTimeout: 30, pingInterval: null });
    clock.advance(20);
    proto.dataReceived(frame(0x81, 'x'));
    clock.advance(20);
    expect(t.value().length).toBe(0);
    clock.advance(10);
    expect(t.value().toString('hex')).toBe('880e03e9' + Buffer.from('idle timeout').toString('hex'));
  });

  it('pings do not count as activity for idleTimeout', () => {
    const { proto, t, clock } = openServer({ perMessageDeflate: false, idleTimeout: 10, pingInterval: 4 });
    for (let i = 0; i < 2; i++) {
      clock.advance(4);
      proto.dataReceived(frame(0x8a));
    }
    t.clear();
    clock.advance(2);
    expect(t.value().subarray(0, 4).toString('hex')).toBe('880e03e9');
  });
});

describe('protocol errors: close with the code, deliver what came before, then drop', () => {
  it.each([
    ['a message over maxMessageSize → 1009', { maxMessageSize: 10 }, frame(0x82, Buffer.alloc(11)), 1009],
    ['a fragmented message over maxMessageSize → 1009', { maxMessageSize: 10 }, Buffer.concat([frame(0x02, Buffer.alloc(6)), frame(0x80, Buffer.alloc(5))]), 1009],
    ['invalid UTF-8 in text → 1007', {}, frame(0x81, [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80]), 1007],
    ['too many fragments → 1008', { maxFragments: 2 }, Buffer.concat([frame(0x01, 'a'), frame(0x00, 'b'), frame(0x80, 'c')]), 1008],
    ['a fragmented ping → 1002', {}, frame(0x09, 'x'), 1002],
    ['RSV bits without an extension → 1002', {}, frame(0xc1, 'x'), 1002],
    ['an unmasked client frame → 1002', {}, frame(0x81, 'x', null), 1002],
    ['a reserved opcode → 1002', {}, frame(0x83, ''), 1002],
    ['an invalid close code → 1002', {}, frame(0x88, [0x03, 0xec]), 1002],
    ['invalid UTF-8 in a close reason → 1007', {}, frame(0x88, [0x03, 0xe8, 0xff]), 1007],
  ] as const)('%s', (_name, limits, bad, code) => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false, ...limits });
    const log = record(ws);
    const echoes: string[] = [];
    ws.onMessage = (d) => {
      echoes.push(d as string);
      void ws.send(d);
    };
    proto.dataReceived(Buffer.concat([frame(0x81, 'before'), bad, frame(0x81, 'after')]));
    const closeFrame = `88${'02'}${code.toString(16).padStart(4, '0')}`;
    expect(t.value().toString('hex')).toBe('8106' + Buffer.from('before').toString('hex') + closeFrame);
    expect(echoes).toEqual(['before']);
    expect(t.disconnecting).toBe(true);
    expect(ws.readyState).toBe(ReadyState.CLOSING);
    lose(proto);
    expect(log.at(-1)).toEqual(['close', code, expect.any(String), false]);
  });

  it('detects invalid UTF-8 as the bytes arrive, before the frame is complete', () => {
    const { proto, t } = openServer({ perMessageDeflate: false });
    const whole = frame(0x81, Buffer.concat([Buffer.from('ok '), Buffer.from([0xff]), Buffer.alloc(100, 0x61)]));
    proto.dataReceived(whole.subarray(0, 2 + 4 + 4));
    expect(t.value().toString('hex')).toBe('880203ef');
  });

  it('an invalid compressed text (bad UTF-8 once inflated) → 1007, after zlib', async () => {
    const { proto, t, ws } = openServer({}, { extra: [DEFLATE_OFFER] });
    expect(ws.extensions).toBe('permessage-deflate');
    const log = record(ws);
    proto.dataReceived(Buffer.concat([frame(0xc1, deflated(Buffer.from('fine'))), frame(0xc1, deflated(Buffer.from([0x61, 0xff, 0x62]))), frame(0xc1, deflated(Buffer.from('dropped')))]));
    await until(() => t.disconnecting, 'the failure');
    expect(t.value().toString('hex')).toBe('880203ef');
    lose(proto);
    expect(log.map((e) => e[0])).toEqual(['message', 'close']);
    expect(log[0]).toEqual(['message', 'fine']);
    expect(log[1]!.slice(1, 2)).toEqual([1007]);
  });

  it('a decompression bomb → 1009 once the inflated size passes maxMessageSize', async () => {
    const { proto, t, ws } = openServer({ maxMessageSize: 64 * 1024 }, { extra: [DEFLATE_OFFER] });
    const log = record(ws);
    const bomb = deflated(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    proto.dataReceived(frame(0xc2, bomb));
    await until(() => t.disconnecting, 'the failure');
    expect(t.value().toString('hex')).toBe('880203f1');
    lose(proto);
    expect(log).toEqual([['close', 1009, expect.stringMatching(/exceeds/), false]]);
  });

  it('garbage with RSV1 on a compressed connection → 1007', async () => {
    const { proto, t } = openServer({}, { extra: [DEFLATE_OFFER] });
    proto.dataReceived(frame(0xc2, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])));
    await until(() => t.disconnecting, 'the failure');
    expect(t.value().toString('hex')).toBe('880203ef');
  });

  it('a close received behind a message being inflated waits for it before closing TCP', async () => {
    const { proto, t, ws } = openServer({}, { extra: [DEFLATE_OFFER] });
    const log = record(ws);
    const text = 'z'.repeat(5000);
    proto.dataReceived(Buffer.concat([frame(0xc1, deflated(Buffer.from(text))), frame(0x88, [0x03, 0xe8])]));
    expect(t.value().toString('hex')).toBe('880203e8');
    expect(t.disconnecting).toBe(false);
    await until(() => t.disconnecting, 'the close');
    lose(proto);
    expect(log).toEqual([
      ['message', text],
      ['close', 1000, '', true],
    ]);
  });

  it('the connection lost while a message is inflated: it is dropped, onClose 1006', async () => {
    const { proto, ws } = openServer({}, { extra: [DEFLATE_OFFER] });
    const log = record(ws);
    proto.dataReceived(frame(0xc1, deflated(Buffer.from('x'.repeat(3000)))));
    lose(proto, false);
    expect(log).toEqual([['close', 1006, '', false]]);
    // zlib's late answer finds nothing to do (and no unhandled failure is left behind).
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toHaveLength(1);
  });

  it('the transport lost without a close: onClose(1006, "", false), queued sends fail', () => {
    const { proto, ws } = openServer({ perMessageDeflate: false });
    const log = record(ws);
    proto.pauseProducing();
    const d = ws.send('x');
    lose(proto, false);
    failureResultOf(d, WebSocketClosedError);
    expect(log).toEqual([['close', 1006, '', false]]);
    expect(ws.readyState).toBe(ReadyState.CLOSED);
  });
});

// The write-at-once paths of a server socket (what the channels server tries first for every
// message): `_sendNow` for a string or bytes, `_sendPreparedNow` for a frame from
// `prepareMessage`. Each writes the frame `send`/`sendPrepared` would write, or does nothing and
// says so in every state where the general path would queue or refuse; and a protocol writes its
// own frames past the transport's argument check only to a StreamTransport whose `write` is its own.
import { describe, expect, it } from 'vitest';
import { StreamTransport, bytesWriter } from '../../src/reactor/streamTransport.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { Clock } from '../../src/testing/clock.js';
import { WebSocketServerFactory, prepareMessage } from '../../src/websocket/index.js';
import { frame } from './helpers.js';
import { ADDR, lose, openClient, openServer, serverOver, upgradeRequest } from './protocol-helpers.js';

const DEFLATE = { extra: ['Sec-WebSocket-Extensions: permessage-deflate'] };

describe('_sendPreparedNow', () => {
  it('writes the prepared frame as it is when the socket is open and idle', () => {
    const s = openServer();
    const message = prepareMessage('hello');
    expect(s.ws._sendPreparedNow(message)).toBe(true);
    expect(s.t.value()).toEqual(message.data);
    expect(s.t.value()).toEqual(frame(0x81, 'hello', null));
  });

  it('does nothing and says so before the handshake, once closing and once closed', () => {
    const connecting = serverOver();
    expect(connecting.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    expect(connecting.t.value().length).toBe(0);

    const closing = openServer();
    closing.ws.close(1000, 'bye');
    closing.t.clear();
    expect(closing.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    expect(closing.t.value().length).toBe(0);

    const closed = openServer();
    lose(closed.proto);
    closed.t.clear();
    expect(closed.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    expect(closed.t.value().length).toBe(0);
  });

  it('does nothing while a fragmented message is being sent (the frame would split it)', () => {
    const s = openServer();
    s.ws.send('part', { fin: false });
    s.t.clear();
    expect(s.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    expect(s.t.value().length).toBe(0);
    s.ws.send('end');
    expect(s.ws._sendPreparedNow(prepareMessage('x'))).toBe(true);
  });

  it('does nothing under backpressure; sendPrepared then keeps the order', () => {
    const s = openServer();
    s.proto.pauseProducing(); // what the transport does when its buffer is full
    expect(s.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    s.ws.send('first');
    expect(s.ws._sendPreparedNow(prepareMessage('second'))).toBe(false);
    s.ws.sendPrepared(prepareMessage('second'));
    expect(s.t.value().length).toBe(0);
    s.proto.resumeProducing();
    expect(s.t.value()).toEqual(Buffer.concat([frame(0x81, 'first', null), frame(0x81, 'second', null)]));
  });

  it('does nothing while a message waits for compression ahead of it, or for a compressed frame', () => {
    const s = openServer({ perMessageDeflate: true }, DEFLATE);
    expect(s.ws.extensions).toContain('permessage-deflate');
    void s.ws.send('z'.repeat(4096)); // compressed in the thread pool: queued until then
    expect(s.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    expect(s.t.value().length).toBe(0);

    const idle = openServer({ perMessageDeflate: true }, DEFLATE);
    const compressed = prepareMessage(Buffer.from([0x2a, 0x01, 0x00]), { compressed: true, isText: true });
    expect(idle.ws._sendPreparedNow(compressed)).toBe(false);
    expect(idle.t.value().length).toBe(0);
  });

  it('is for server sockets only (client frames are masked)', () => {
    const c = openClient();
    expect(c.ws._sendPreparedNow(prepareMessage('x'))).toBe(false);
    expect(c.t.value().length).toBe(0);
  });
});

describe('_sendNow', () => {
  it('writes a text or a binary frame when open and idle', () => {
    const s = openServer();
    expect(s.ws._sendNow('hi')).toBe(true);
    expect(s.ws._sendNow(Buffer.from([1, 2]))).toBe(true);
    expect(s.ws._sendNow('as bytes', true)).toBe(true);
    expect(s.t.value()).toEqual(Buffer.concat([frame(0x81, 'hi', null), frame(0x82, [1, 2], null), frame(0x82, 'as bytes', null)]));
  });

  it('does nothing when closing, under backpressure, or for a message worth compressing', () => {
    const closing = openServer();
    closing.ws.close();
    closing.t.clear();
    expect(closing.ws._sendNow('x')).toBe(false);
    expect(closing.t.value().length).toBe(0);

    const paused = openServer();
    paused.proto.pauseProducing();
    expect(paused.ws._sendNow('x')).toBe(false);
    expect(paused.t.value().length).toBe(0);

    const deflating = openServer({ perMessageDeflate: true }, DEFLATE);
    expect(deflating.ws._sendNow('z'.repeat(4096))).toBe(false);
    expect(deflating.ws._sendNow('small')).toBe(true); // under the threshold: as it is
    expect(deflating.t.value()).toEqual(frame(0x81, 'small', null));
  });
});

describe('frames past the argument check (bytesWriter)', () => {
  it('only for a StreamTransport whose write is its own', () => {
    const plain = Object.create(StreamTransport.prototype) as StreamTransport;
    expect(bytesWriter(plain)).toBe(plain);
    class Counting extends StreamTransport {
      override write(data: Uint8Array): void {
        super.write(data);
      }
    }
    expect(bytesWriter(Object.create(Counting.prototype) as StreamTransport)).toBeNull();
    const patched = Object.create(StreamTransport.prototype) as StreamTransport;
    patched.write = () => undefined;
    expect(bytesWriter(patched)).toBeNull();
    expect(bytesWriter(new StringTransport())).toBeNull();
  });

  it('goes to the StreamTransport, and to a transport put in its place since through its write', () => {
    // A StreamTransport in all but its socket: its `write` is the class's own (so bytesWriter
    // takes it), everything else is a StringTransport's.
    const inner = new StringTransport();
    const stream = new Proxy(Object.create(StreamTransport.prototype) as StreamTransport, {
      get(_target, key) {
        if (key === 'write') return StreamTransport.prototype.write;
        if (key === 'writeBytes') return (b: Uint8Array) => inner.write(b);
        const v = (inner as unknown as Record<PropertyKey, unknown>)[key];
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(inner) : v;
      },
    });
    expect(bytesWriter(stream)).toBe(stream);
    const proto = new WebSocketServerFactory({ reactor: new Clock() }).buildProtocol(ADDR);
    const s = { proto, ws: proto.socket };
    proto.makeConnection(stream);
    proto.dataReceived(upgradeRequest());
    expect(s.ws.readyState).toBe(1);
    inner.clear();
    expect(s.ws._sendPreparedNow(prepareMessage('a'))).toBe(true);
    expect(inner.value()).toEqual(frame(0x81, 'a', null));
    inner.clear();

    const other = new StringTransport();
    s.proto.transport = other;
    expect(s.ws._sendPreparedNow(prepareMessage('b'))).toBe(true);
    s.ws.ping('p');
    expect(other.value()).toEqual(Buffer.concat([frame(0x81, 'b', null), frame(0x89, 'p', null)]));
    expect(inner.value().length).toBe(0);
  });
});

// The fast paths taken for speed and memory, each checked against the general path it stands
// in for: text decoded by the parser (`onText`, Latin-1 for ASCII), the small-payload unmask,
// ASCII text frames written as one Latin-1 string, the packed upgrade request, the frame parser
// made on the first bytes, and the keepalive pings of many connections served by one timer.
import { describe, expect, it } from 'vitest';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import type { ITransport } from '../../src/reactor/interfaces.js';
import { FrameParser, WebSocketServerFactory, WebSocketServerProtocol, type WebSocketData } from '../../src/websocket/index.js';
import { Recorder, frame, rng } from './helpers.js';
import { ADDR, lose, openServer, record } from './protocol-helpers.js';

/** Records like Recorder, but takes text through `onText` (payloads in hex, as Recorder does). */
class TextRecorder extends Recorder {
  texts: string[] = [];
  onText(text: string): void {
    this.texts.push(text);
    this.events.push(['text', Buffer.from(text, 'utf8').toString('hex')]);
  }
}

function feed(parser: FrameParser, rec: Recorder, input: Buffer, cuts: number[]): void {
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    rec.position = c - 1;
    if (c > prev) parser.receiveData(Buffer.from(input.subarray(prev, c)));
    prev = c;
  }
}

/** A random text payload: mostly ASCII, some multi-byte code points, sometimes a bad byte. */
function randomPayload(next: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = Math.floor(next() * 90);
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.8) parts.push(Buffer.from([0x20 + Math.floor(next() * 95)]));
    else if (r < 0.9) parts.push(Buffer.from('é€😀'.slice(0, 1 + Math.floor(next() * 3)), 'utf8'));
    else if (r < 0.97) parts.push(Buffer.from('κόσμε', 'utf8'));
    else parts.push(Buffer.from([[0xff, 0xc0, 0xed, 0xe0, 0xf4][Math.floor(next() * 5)]!]));
  }
  return Buffer.concat(parts);
}

describe('the parser decodes text itself (onText), like onMessage + toString would', () => {
  it('agrees with the Buffer path on random text, fragmented and masked, in random splits', () => {
    const next = rng(0x5eed);
    for (let round = 0; round < 600; round++) {
      const frames: Buffer[] = [];
      const messages = 1 + Math.floor(next() * 3);
      for (let m = 0; m < messages; m++) {
        const fragments = 1 + Math.floor(next() * 3);
        for (let f = 0; f < fragments; f++) {
          const op = f === 0 ? 0x01 : 0x00;
          const fin = f === fragments - 1 ? 0x80 : 0;
          const key = Uint8Array.of(next() * 256, next() * 256, next() * 256, next() * 256);
          frames.push(frame(fin | op, randomPayload(next), key));
        }
      }
      const input = Buffer.concat(frames);
      const cuts = [...new Set(Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() * input.length)))].sort((a, b) => a - b);
      const plain = new Recorder();
      feed(new FrameParser({ role: 'server' }, plain), plain, input, cuts);
      const text = new TextRecorder();
      feed(new FrameParser({ role: 'server' }, text), text, input, cuts);
      expect(text.events).toEqual(plain.events);
      expect(text.errorAt).toBe(plain.errorAt);
    }
  });

  it('decodes ASCII and non-ASCII text exactly, and fails invalid UTF-8 with 1007 in a small frame', () => {
    const rec = new TextRecorder();
    const parser = new FrameParser({ role: 'server' }, rec);
    parser.receiveData(frame(0x81, 'plain ascii'));
    parser.receiveData(frame(0x81, 'naïve café'));
    parser.receiveData(frame(0x81, ''));
    parser.receiveData(frame(0x81, Buffer.from([0x61, 0x62, 0xc3])));
    expect(rec.texts).toEqual(['plain ascii', 'naïve café', '']);
    expect(rec.events.at(-1)).toEqual(['error', 1007, 'WS_ERR_INVALID_UTF8']);
  });

  it('binary still comes to onMessage as a Buffer', () => {
    const rec = new TextRecorder();
    new FrameParser({ role: 'server' }, rec).receiveData(frame(0x82, Buffer.from([1, 2, 3])));
    expect(rec.events).toEqual([['binary', '010203']]);
    expect(rec.texts).toEqual([]);
  });

  it('unmasks small payloads at every key phase (split at every offset)', () => {
    const payload = Buffer.from(Array.from({ length: 70 }, (_, i) => (i * 37) & 0xff));
    const input = frame(0x82, payload, Uint8Array.of(0x9a, 0x01, 0xff, 0x5c));
    for (let a = 1; a < input.length; a++) {
      for (const b of [a + 1, a + 3, a + 5]) {
        const rec = new Recorder();
        feed(new FrameParser({ role: 'server' }, rec), rec, input, b < input.length ? [a, b] : [a]);
        expect(rec.events).toEqual([['binary', payload.toString('hex')]]);
      }
    }
  });
});

/** What a server protocol writes for `data` (each send), over `transport`. */
function sentBytes(transport: ITransport & { value(): Buffer }, data: string | Uint8Array): Buffer {
  const clock = new Clock();
  const proto = new WebSocketServerProtocol({ reactor: clock, perMessageDeflate: false, pingInterval: null });
  const head = { method: 'GET', target: '/', versionMinor: 1, headers: [['Host', 'x'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']] as const };
  proto.negotiate(head);
  proto.makeConnection(transport);
  proto.socket.send(data);
  return transport.value();
}

/** A StringTransport without `writeString`: what a transport that cannot take strings sees. */
class BytesOnlyTransport extends StringTransport {
  constructor() {
    super();
    (this as { writeString?: unknown }).writeString = undefined;
  }
}

describe('text frames: ASCII goes out as one Latin-1 string, the same bytes as the Buffer path', () => {
  const texts = ['', 'hi', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65535), 'w'.repeat(65536), 'héllo', '€'.repeat(50), '😀 and ascii', 'a\u0080b'];
  for (const text of texts) {
    it(`${JSON.stringify(text.slice(0, 12))} (${text.length} UTF-16 units)`, () => {
      const strings = new StringTransport();
      let stringWrites = 0;
      const writeString = strings.writeString.bind(strings);
      strings.writeString = (d, e) => {
        stringWrites++;
        writeString(d, e);
      };
      const viaStrings = sentBytes(strings, text);
      const viaBytes = sentBytes(new BytesOnlyTransport(), text);
      const payload = Buffer.from(text, 'utf8');
      expect(viaBytes.equals(viaStrings)).toBe(true);
      expect(viaBytes.subarray(viaBytes.length - payload.length).equals(payload)).toBe(true);
      expect(viaBytes[0]).toBe(0x81);
      expect(stringWrites).toBe(Buffer.byteLength(text) === text.length ? 1 : 0);
      const rec = new Recorder();
      new FrameParser({ role: 'client' }, rec).receiveData(viaBytes);
      expect(rec.events).toEqual([['text', payload.toString('hex')]]);
    });
  }
});

describe('the upgrade request is kept packed', () => {
  it('gives the target and every header as received', () => {
    const { ws } = openServer({ perMessageDeflate: false }, { path: '/chat/room%201?x=1', extra: ['Origin: https://example.com', 'X-Two: a', 'x-two: b', 'X-Empty:'] });
    const req = ws.request!;
    expect(req.target).toBe('/chat/room%201?x=1');
    expect(ws.url).toBe('/chat/room%201?x=1');
    expect(req.path).toBe('/chat/room 1');
    expect(req.query).toBe('x=1');
    expect(req.origin).toBe('https://example.com');
    expect(req.getHeaders('x-two')).toEqual(['a', 'b']);
    expect(req.getHeader('X-EMPTY')).toBe('');
    expect(req.headers.find(([n]) => n === 'sec-websocket-version')).toEqual(['sec-websocket-version', '13']);
  });

  it('keeps a value containing a newline intact (from an HTTP server that hands over the request)', async () => {
    const factory = new WebSocketServerFactory({ reactor: new Clock(), perMessageDeflate: false, pingInterval: null });
    const proto = factory.buildProtocol(ADDR);
    const headers = [['Host', 'x'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13'], ['X-Odd', 'one\ntwo']] as const;
    const outcome = await proto.negotiate({ method: 'GET', target: '/a\nb', versionMinor: 1, headers });
    expect(outcome.ok).toBe(true);
    proto.makeConnection(new StringTransport());
    const req = proto.socket.request!;
    expect(req.target).toBe('/a\nb');
    expect(req.getHeader('x-odd')).toBe('one\ntwo');
    expect(req.getHeader('host')).toBe('x');
  });
});

describe('the frame parser is made on the first bytes after the handshake', () => {
  it('bytes that came with the upgrade request are parsed at once', () => {
    const factory = new WebSocketServerFactory({ reactor: new Clock(), perMessageDeflate: false });
    const proto = factory.buildProtocol(ADDR);
    const got: WebSocketData[] = [];
    const t = new StringTransport();
    proto.makeConnection(t);
    proto.socket.onMessage = (d) => got.push(d);
    const request = Buffer.from(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      'latin1',
    );
    proto.dataReceived(Buffer.concat([request, frame(0x81, 'early'), frame(0x81, 'bird')]));
    expect(got).toEqual(['early', 'bird']);
  });

  it('an idle open connection can still be closed and failed', () => {
    const { proto, t, ws } = openServer({ perMessageDeflate: false });
    const log = record(ws);
    ws.close(1000, 'bye');
    expect(t.value().toString('hex')).toBe('880503e8' + Buffer.from('bye').toString('hex'));
    proto.dataReceived(frame(0x88, Buffer.from([0x03, 0xe8])));
    lose(proto);
    expect(log).toEqual([['close', 1000, '', true]]);
  });
});

describe('keepalive: one timer for every connection with the same reactor and interval', () => {
  it('each connection pings pingInterval after it opened (then after each pong), from one delayed call', () => {
    const clock = new Clock();
    const options = { perMessageDeflate: false, pingInterval: 20, pingTimeout: 10, reactor: clock } as const;
    const a = openServer(options);
    clock.advance(5);
    const b = openServer(options);
    clock.advance(7);
    const c = openServer(options);
    // Three connections waiting, one timer.
    expect(clock.getDelayedCalls()).toHaveLength(1);
    const pinged = (s: { t: StringTransport }) => s.t.value().toString('hex') === '8900';
    clock.advance(7.9); // 19.9
    expect([a, b, c].map(pinged)).toEqual([false, false, false]);
    clock.advance(0.1); // 20
    expect([a, b, c].map(pinged)).toEqual([true, false, false]);
    a.proto.dataReceived(frame(0x8a)); // a's pong: next ping at 40
    clock.advance(4.9); // 24.9
    expect(pinged(b)).toBe(false);
    clock.advance(0.1); // 25
    expect(pinged(b)).toBe(true);
    b.proto.dataReceived(frame(0x8a)); // next ping at 45
    lose(c.proto); // c leaves before its ping at 32
    clock.advance(7); // 32
    expect(c.t.value().length).toBe(0);
    for (const s of [a, b]) s.t.clear();
    clock.advance(8); // 40
    expect([a, b].map(pinged)).toEqual([true, false]);
    clock.advance(5); // 45
    expect(pinged(b)).toBe(true);
    // Both wait for pongs now; without them they are dropped after pingTimeout.
    clock.advance(10);
    expect([a.t.disconnecting, b.t.disconnecting]).toEqual([true, true]);
    lose(a.proto, false);
    lose(b.proto, false);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('connections with different intervals keep their own schedules', () => {
    const clock = new Clock();
    const fast = openServer({ perMessageDeflate: false, pingInterval: 3, reactor: clock });
    const slow = openServer({ perMessageDeflate: false, pingInterval: 8, reactor: clock });
    clock.advance(3);
    expect(fast.t.value().toString('hex')).toBe('8900');
    expect(slow.t.value().length).toBe(0);
    clock.advance(5);
    expect(slow.t.value().toString('hex')).toBe('8900');
  });

  it('a ping that throws does not keep the others from pinging', () => {
    const clock = new Clock();
    const options = { perMessageDeflate: false, pingInterval: 20, reactor: clock } as const;
    const a = openServer(options);
    const b = openServer(options);
    a.t.write = () => {
      throw new Error('broken transport');
    };
    clock.advance(20);
    expect(b.t.value().toString('hex')).toBe('8900');
    expect(flushLoggedErrors(Error)).toHaveLength(1);
  });
});

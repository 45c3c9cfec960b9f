import { describe, expect, it } from 'vitest';
import { type MaskSource, WebSocketConnection, type WebSocketEvent, WebSocketStateError, prepareMessage } from '../../src/websocket/index.js';
import { M, frame, hex } from './helpers.js';

const fixedMask: MaskSource = { fill: (t, o) => t.set(M, o) };

function drain(conn: WebSocketConnection): WebSocketEvent[] {
  const out: WebSocketEvent[] = [];
  for (let ev = conn.nextEvent(); ev !== null; ev = conn.nextEvent()) out.push(ev);
  return out;
}
const wire = (conn: WebSocketConnection): string => Buffer.concat(conn.dataToSend()).toString('hex');

describe('WebSocketConnection (server)', () => {
  it('answers a ping between fragments at once, before the message completes (5.6)', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveData(Buffer.concat([frame(0x01, 'fragment1'), frame(0x89, 'ping payload')]));
    expect(wire(conn)).toBe('8a0c' + Buffer.from('ping payload').toString('hex'));
    conn.receiveData(frame(0x80, 'fragment2'));
    const events = drain(conn);
    expect(events.map((e) => e.type)).toEqual(['ping', 'message']);
    const msg = events[1] as Extract<WebSocketEvent, { type: 'message' }>;
    expect(msg.data.toString()).toBe('fragment1fragment2');
    expect(msg.isText).toBe(true);
  });

  it('echoes a close code and ends closed (7.1.1, 7.3.3)', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveData(Buffer.concat([frame(0x81, 'Hello World!'), frame(0x88, [0x03, 0xe9])]));
    expect(drain(conn)).toMatchObject([{ type: 'message' }, { type: 'close', code: 1001, reason: '', received: true }]);
    expect(wire(conn)).toBe('880203e9');
    expect(conn.state).toBe('closed');
    expect(conn.receivedCloseCode).toBe(1001);
    expect(() => conn.send('late')).toThrow(WebSocketStateError);
  });

  it('answers an empty close with an empty close (7.3.1)', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveData(frame(0x88));
    expect(wire(conn)).toBe('8800');
    expect(drain(conn)).toMatchObject([{ type: 'close', code: 1005 }]);
  });

  it('ignores everything after a close (7.1.2–7.1.5)', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveData(Buffer.concat([frame(0x01, 'f1'), frame(0x88, [3, 0xe8]), frame(0x89), frame(0x88), frame(0x80, 'f2')]));
    expect(wire(conn)).toBe('880203e8');
    expect(drain(conn).map((e) => e.type)).toEqual(['close']);
  });

  it('fails the connection with the error code (no pong for a ping after the bad frame, 3.2)', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveData(Buffer.concat([frame(0x81, 'Hello'), frame(0xa1, 'Hello'), frame(0x89)]));
    const events = drain(conn);
    expect(events.map((e) => e.type)).toEqual(['message', 'error']);
    expect((events[1] as Extract<WebSocketEvent, { type: 'error' }>).error.closeCode).toBe(1002);
    expect(wire(conn)).toBe('880203ea');
    expect(conn.state).toBe('closed');
  });

  it('invalid UTF-8 → close 1007', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveData(frame(0x81, hex('ed a0 80')));
    expect(wire(conn)).toBe('880203ef');
  });

  it('closing: delivers messages, sends no pong, then closed on the peer close without replying', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.close(1000, 'bye');
    expect(conn.state).toBe('closing');
    expect(wire(conn)).toBe('880503e8627965');
    expect(() => conn.ping()).toThrow(WebSocketStateError);
    conn.receiveData(Buffer.concat([frame(0x81, 'late'), frame(0x89, 'p'), frame(0x88, [3, 0xe8])]));
    expect(drain(conn).map((e) => e.type)).toEqual(['message', 'ping', 'close']);
    expect(conn.dataToSend()).toEqual([]);
    expect(conn.state).toBe('closed');
  });

  it('receiveEof without a close → 1006, received false', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    conn.receiveEof();
    expect(drain(conn)).toEqual([{ type: 'close', code: 1006, reason: '', received: false }]);
    expect(conn.state).toBe('closed');
  });

  it('autoPong: false leaves pings to the application', () => {
    const conn = new WebSocketConnection({ role: 'server', autoPong: false });
    conn.receiveData(frame(0x89, 'x'));
    expect(conn.hasDataToSend).toBe(false);
    conn.pong('x');
    expect(wire(conn)).toBe('8a0178');
  });

  it('sends messages, fragments and prepared frames unmasked', () => {
    const conn = new WebSocketConnection({ role: 'server', perMessageDeflate: true });
    conn.send('Hel', { fin: false });
    conn.ping();
    conn.send('lo');
    conn.send(Buffer.from([1, 2]));
    conn.send(Buffer.from('x'), { compressed: true, isText: true });
    conn.sendPrepared(prepareMessage('all'));
    expect(wire(conn)).toBe('010348656c' + '8900' + '80026c6f' + '82020102' + 'c10178' + '8103616c6c');
  });

  it('refuses compressed sends without permessage-deflate', () => {
    const conn = new WebSocketConnection({ role: 'server' });
    expect(() => conn.send('x', { compressed: true })).toThrow(WebSocketStateError);
    expect(() => conn.sendPrepared(prepareMessage('x', { compressed: true }))).toThrow(WebSocketStateError);
  });

  it('stream delivery yields start/data/end events', () => {
    const conn = new WebSocketConnection({ role: 'server', delivery: 'stream' });
    conn.receiveData(Buffer.concat([frame(0x01, 'ab'), frame(0x80, 'cd')]));
    expect(drain(conn).map((e) => e.type)).toEqual(['message-start', 'message-data', 'message-data', 'message-end']);
  });
});

describe('WebSocketConnection (client)', () => {
  it('masks everything it sends, including auto-pongs and the close echo', () => {
    const conn = new WebSocketConnection({ role: 'client', maskSource: fixedMask });
    conn.send('Hello');
    expect(wire(conn)).toBe('818537fa213d7f9f4d5158');
    conn.receiveData(hex('89 05 48 65 6c 6c 6f'));
    expect(wire(conn)).toBe('8a8537fa213d7f9f4d5158');
    conn.receiveData(hex('88 02 03 e8'));
    expect(wire(conn)).toBe('888237fa213d3412');
  });

  it('rejects masked server frames and prepared (unmasked) messages', () => {
    const conn = new WebSocketConnection({ role: 'client', maskSource: fixedMask });
    expect(() => conn.sendPrepared(prepareMessage('x'))).toThrow(WebSocketStateError);
    conn.receiveData(frame(0x81, 'x'));
    expect(drain(conn)).toMatchObject([{ type: 'error', error: { closeCode: 1002, code: 'WS_ERR_UNEXPECTED_MASK' } }]);
  });
});

/**
 * HTTPChannel extras: the access log (a function, a Logger, escaping),
 * graceful drain(), large pipelined batches, HTTP/1.0 keep-alive
 * pipelining.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { Failure } from '../../src/defer/failure.js';
import { ConnectionDone } from '../../src/reactor/errors.js';
import {
  clfTimestamp,
  escapeLogValue,
  formatCombinedLogLine,
  type AccessLogEntry,
} from '../../src/http/index.js';
import { Logger, captureEvents, formatEvent } from '../../src/logger/index.js';
import { successResultOf, assertNoResult } from '../../src/testing/results.js';
import { connect, get } from './channel-helpers.js';

describe('access log', () => {
  it('calls a function with each entry', () => {
    const entries: AccessLogEntry[] = [];
    const conn = connect((r) => {
      r.setResponseCode(r.path === '/missing' ? 404 : 200);
      r.finish('abc');
    }, { accessLog: (e) => entries.push(e) });
    conn.clock.advance(2.5);
    conn.send(get('/x?y=1', 'User-Agent: test/1\r\n') + get('/missing'));
    expect(entries.map((e) => [e.method, e.uri, e.status, e.bytes, e.userAgent, e.protocol])).toEqual([
      ['GET', '/x?y=1', 200, 3, 'test/1', 'HTTP/1.1'],
      ['GET', '/missing', 404, 3, '-', 'HTTP/1.1'],
    ]);
    expect(entries[0]!.remoteAddr).toBe('192.168.1.1');
    expect(entries[0]!.time).toBe(2.5);
    expect(entries[0]!.timestamp).toBe('[01/Jan/1970:00:00:02 +0000]');
  });

  it('logs to a Logger with the CLF line as the format, rendered verbatim', () => {
    const capture = captureEvents();
    try {
      const conn = connect((r) => r.finish(''), { accessLog: new Logger('my.access') });
      conn.send(get('/a{b}c', 'Referer: x"y\r\n'));
    } finally {
      capture.stop();
    }
    const [event] = capture.events.filter((e) => e.log_namespace === 'my.access');
    expect(event!.log_level).toBe('info');
    expect(formatEvent(event!)).toBe(event!.line);
    expect(event!.line).toBe('192.168.1.1 - - [01/Jan/1970:00:00:00 +0000] "GET /a{b}c HTTP/1.1" 200 - "x\\"y" "-"');
  });

  it('escapes what a client could use to forge a line', () => {
    expect(escapeLogValue('a"b\\c\x01\x7fé☃')).toBe('a\\"b\\\\c\\x01\\x7f\\xe9\\u2603');
    expect(clfTimestamp(971211336)).toBe('[10/Oct/2000:20:55:36 +0000]');
    const line = formatCombinedLogLine({
      remoteAddr: '::1', user: '-', time: 0, timestamp: '[x]', method: 'GET', uri: '/"', protocol: 'HTTP/1.0',
      status: 200, bytes: 0, referer: '-', userAgent: '-', duration: 0,
    });
    expect(line).toBe('::1 - - [x] "GET /\\" HTTP/1.0" 200 - "-" "-"');
  });
});

describe('drain()', () => {
  it('closes idle connections at once and busy ones after their response', () => {
    const gate = new Deferred<void>();
    const busy = connect((r) => {
      gate.addCallback(() => r.finish('done'));
    });
    const idle = connect();
    // Both connections on one factory: reuse busy's factory for a second channel.
    const t2 = idle.transport;
    const ch2 = busy.factory.buildProtocol(t2.getPeer());
    ch2.makeConnection(t2);
    busy.send(get('/'));
    const drained = busy.factory.drain();
    expect(t2.disconnecting).toBe(true);
    ch2.connectionLost(new Failure(new ConnectionDone()));
    assertNoResult(drained);
    expect(busy.transport.disconnecting).toBe(false);
    gate.callback(undefined);
    expect(busy.transport.disconnecting).toBe(true);
    busy.lose(true);
    expect(successResultOf(drained)).toBeUndefined();
  });

  it('a response not started yet says Connection: close', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      gate.addCallback(() => r.finish('x'));
    });
    conn.send(get('/') + get('/never'));
    void conn.factory.drain();
    gate.callback(undefined);
    const res = conn.responses();
    expect(res).toHaveLength(1);
    expect(res[0]!.headers.get('connection')).toBe('close');
    conn.lose(true);
  });
});

describe('batches', () => {
  it('a batch over 64 KiB of byte bodies goes out as one writeSequence', () => {
    const body = Buffer.alloc(10_000, 0x78);
    const conn = connect((r) => r.finish(body));
    let batch = '';
    for (let i = 0; i < 10; i++) batch += get(`/${i}`);
    conn.send(batch);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.transport.sequences).toBe(1);
    expect(conn.responses().map((r) => r.body.length)).toEqual(Array(10).fill(10_000));
  });

  it('a batch over 64 KiB of text bodies goes out as one write (one latin1 string, encoded once)', () => {
    const body = 'x'.repeat(10_000);
    const conn = connect((r) => r.finish(body));
    let batch = '';
    for (let i = 0; i < 10; i++) batch += get(`/${i}`);
    conn.send(batch);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((r) => r.body.length)).toEqual(Array(10).fill(10_000));
  });

  it('HTTP/1.0 keep-alive requests pipeline too', () => {
    const conn = connect((r) => r.finish(r.path));
    conn.send('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /c HTTP/1.0\r\n\r\n', 'bytes');
    const res = conn.responses();
    expect(res.map((r) => [r.body, r.headers.get('connection')])).toEqual([
      ['/a', 'keep-alive'],
      ['/b', 'keep-alive'],
      ['/c', 'close'],
    ]);
    expect(conn.transport.disconnecting).toBe(true);
  });
});

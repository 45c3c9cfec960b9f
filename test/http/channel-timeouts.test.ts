/**
 * HTTPChannel timeouts on a Clock: idle keep-alive, slow request head
 * (slowloris), slow body, none while the application works, and the abort
 * after a grace period when a connection we closed lingers.
 */
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { HTTP_SERVER_DEFAULTS, RequestTimeout, type Request } from '../../src/http/index.js';
import { connect, get } from './channel-helpers.js';

describe('defaults', () => {
  it('are documented values', () => {
    expect(HTTP_SERVER_DEFAULTS).toMatchObject({ idleTimeout: 60, headTimeout: 30, bodyTimeout: 60, abortTimeout: 15 });
  });
});

describe('idle keep-alive timeout', () => {
  it('closes a connection that never sends anything, then aborts it after the grace period', () => {
    const conn = connect();
    conn.clock.advance(59.9);
    expect(conn.transport.disconnecting).toBe(false);
    conn.clock.advance(0.1);
    expect(conn.transport.disconnecting).toBe(true);
    expect(conn.out()).toBe('');
    expect(conn.transport.disconnected).toBe(false);
    conn.clock.advance(14.9);
    expect(conn.transport.disconnected).toBe(false);
    conn.clock.advance(0.1);
    expect(conn.transport.disconnected).toBe(true);
  });

  it('counts from the end of the last response', () => {
    const conn = connect((r) => r.finish('ok'));
    conn.clock.advance(50);
    conn.send(get('/'));
    conn.clock.advance(50);
    expect(conn.transport.disconnecting).toBe(false);
    conn.clock.advance(10);
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('a connection that closed in time is not aborted', () => {
    const conn = connect();
    conn.clock.advance(60);
    expect(conn.transport.disconnecting).toBe(true);
    conn.lose(true);
    conn.clock.advance(100);
    expect(conn.transport.disconnected).toBe(false);
    expect(conn.clock.getDelayedCalls()).toHaveLength(0);
  });

  it('is configurable, and 0 disables it', () => {
    const short = connect(undefined, { idleTimeout: 5 });
    short.clock.advance(5);
    expect(short.transport.disconnecting).toBe(true);
    const never = connect(undefined, { idleTimeout: 0 });
    never.clock.advance(1e6);
    expect(never.transport.disconnecting).toBe(false);
    expect(() => connect(undefined, { idleTimeout: -1 })).toThrow(RangeError);
  });
});

describe('slow request head', () => {
  it('answers 408 and closes 30 s after the first byte of a head', () => {
    const conn = connect();
    conn.clock.advance(10);
    conn.send('GET / HTTP/1.1\r\n');
    conn.clock.advance(29.9);
    expect(conn.out()).toBe('');
    conn.clock.advance(0.1);
    const [res] = conn.responses();
    expect(res!.status).toBe(408);
    expect(res!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('does not restart for each byte (slowloris)', () => {
    const conn = connect();
    const head = get('/');
    for (let i = 0; i < 6; i++) {
      conn.send(head[i]!);
      conn.clock.advance(5);
    }
    expect(conn.responses()[0]!.status).toBe(408);
    expect(conn.requests).toHaveLength(0);
  });

  it('a head completed in time is served', () => {
    const conn = connect((r) => r.finish('ok'));
    conn.send('GET / HTTP/1.1\r\n');
    conn.clock.advance(29);
    conn.send('Host: x\r\n\r\n');
    conn.clock.advance(29);
    expect(conn.responses().map((r) => r.status)).toEqual([200]);
    expect(conn.transport.disconnecting).toBe(false);
  });
});

describe('slow request body', () => {
  function reading() {
    const failures: unknown[] = [];
    const conn = connect((r) =>
      r.content().addCallbacks(
        (b) => r.finish(`got ${b.length}`),
        (f) => {
          failures.push(f.value);
          throw f.value; // the 408 reaches the client through the handler's own failure
        },
      ),
    );
    return { conn, failures };
  }

  it('answers 408 after 60 s without progress, and the reader hears it', () => {
    const { conn, failures } = reading();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    conn.clock.advance(59);
    conn.send('de');
    conn.clock.advance(59);
    expect(conn.out()).toBe('');
    conn.clock.advance(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(RequestTimeout);
    const [res] = conn.responses(['POST']);
    expect(res!.status).toBe(408);
    expect(res!.headers.get('connection')).toBe('close');
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('a response already started is aborted instead', () => {
    let req: Request | null = null;
    const conn = connect((r) => {
      req = r;
      r.write('early');
      r.receiveBody({ data() {}, end() {} });
    });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    const done = req!.notifyFinish();
    conn.clock.advance(60);
    expect(conn.transport.disconnected).toBe(true);
    expect(done.called).toBe(true);
    done.addErrback(() => undefined);
  });

  it('does not run while nobody reads the body (the client is not at fault)', () => {
    const conn = connect();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    conn.clock.advance(1000);
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('does not run while the reader has paused', () => {
    let req: Request | null = null;
    const conn = connect((r) => {
      req = r;
      r.receiveBody({ data: () => r.pauseBody(), end: () => r.finish('ok') });
    });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    conn.clock.advance(1000);
    expect(conn.transport.disconnecting).toBe(false);
    req!.resumeBody();
    conn.clock.advance(60);
    expect(conn.responses(['POST'])[0]!.status).toBe(408);
  });
});

describe('no timeout while the application works', () => {
  it('a slow handler may take as long as it likes; the idle timer starts after it', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      gate.addCallback(() => r.finish('late'));
    });
    conn.send(get('/'));
    conn.clock.advance(10_000);
    expect(conn.transport.disconnecting).toBe(false);
    gate.callback(undefined);
    expect(conn.responses()[0]!.body).toBe('late');
    conn.clock.advance(59);
    expect(conn.transport.disconnecting).toBe(false);
    conn.clock.advance(1);
    expect(conn.transport.disconnecting).toBe(true);
  });
});

describe('closing', () => {
  it('a connection closed after Connection: close is aborted if the client never goes away', () => {
    const conn = connect((r) => r.finish('bye'));
    conn.send(get('/', 'Connection: close\r\n'));
    expect(conn.transport.disconnecting).toBe(true);
    conn.clock.advance(15);
    expect(conn.transport.disconnected).toBe(true);
  });

  it('timers are cancelled when the connection is lost', () => {
    const conn = connect();
    conn.send('GET / HTT');
    conn.lose();
    expect(conn.clock.getDelayedCalls()).toHaveLength(0);
  });
});

/**
 * The upgrade hook: `request.upgrade(protocol)` hands the transport and
 * exactly the bytes after the request to another protocol; the channel
 * forwards later bytes and the connection loss; a declined upgrade goes on
 * with HTTP.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import type { Failure } from '../../src/defer/failure.js';
import type { Request } from '../../src/http/index.js';
import type { IProtocol, ITransport } from '../../src/reactor/interfaces.js';
import { SPLITS, connect, get } from './channel-helpers.js';

class Recorder implements IProtocol {
  transport: ITransport | null = null;
  made = 0;
  data: Buffer[] = [];
  lost: Failure | null = null;
  makeConnection(t: ITransport): void {
    this.transport = t;
    this.made++;
    t.write(Buffer.from('[hello from the new protocol]'));
  }
  dataReceived(d: Uint8Array): void {
    this.data.push(Buffer.from(d));
  }
  connectionLost(reason: Failure): void {
    this.lost = reason;
  }
  text(): string {
    return Buffer.concat(this.data).toString('latin1');
  }
}

const upgradeHead = 'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
const accept: [string, string][] = [
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
];

describe('upgrade', () => {
  for (const split of SPLITS) {
    it(`hands over the transport and exactly the bytes after the request (${split})`, () => {
      const proto = new Recorder();
      const conn = connect((r) => {
        expect(r.upgradeRequested).toBe(true);
        r.upgrade(proto, { headers: accept });
      });
      conn.send(`${upgradeHead}\x81\x05hello${get('/not-http-anymore')}`, split);
      expect(proto.made).toBe(1);
      expect(proto.transport).toBe(conn.transport);
      expect(proto.text()).toBe(`\x81\x05hello${get('/not-http-anymore')}`);
      const out = conn.out();
      expect(out.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
      expect(out).toContain('Upgrade: websocket\r\n');
      // The 101 goes out before anything the new protocol writes.
      expect(out.endsWith('\r\n\r\n[hello from the new protocol]')).toBe(true);
      expect(conn.requests).toHaveLength(1);
      expect(conn.channel.upgradedTo).toBe(proto);
      conn.send('more');
      expect(proto.text().endsWith('more')).toBe(true);
      conn.lose();
      expect(proto.lost).not.toBeNull();
      expect(conn.clock.getDelayedCalls()).toHaveLength(0);
    });
  }

  it('an upgrade decided later gets the bytes that arrived meanwhile', () => {
    const proto = new Recorder();
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      gate.addCallback(() => r.upgrade(proto, { headers: accept }));
    });
    conn.send(upgradeHead + 'early');
    conn.send(' and later');
    expect(proto.made).toBe(0);
    gate.callback(undefined);
    expect(proto.text()).toBe('early and later');
  });

  it('a 101 finished by the handler, then upgrade()', () => {
    const proto = new Recorder();
    const conn = connect((r) => {
      r.setResponseCode(101);
      r.setHeader('Upgrade', 'websocket');
      r.setHeader('Connection', 'Upgrade');
      r.finish();
      r.upgrade(proto);
    });
    conn.send(upgradeHead + 'x');
    expect(conn.out().startsWith('HTTP/1.1 101 ')).toBe(true);
    expect(proto.text()).toBe('x');
  });

  it('a declined upgrade goes on with HTTP', () => {
    const conn = connect((r) => r.finish(`plain ${r.path}`));
    conn.send(upgradeHead + get('/next'));
    expect(conn.responses().map((r) => r.body)).toEqual(['plain /chat', 'plain /next']);
  });

  it('a declined upgrade answered later goes on with HTTP', () => {
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      if (r.path === '/chat') gate.addCallback(() => r.finish('no'));
      else r.finish('yes');
    });
    conn.send(upgradeHead + get('/next'));
    expect(conn.requests).toHaveLength(1);
    gate.callback(undefined);
    expect(conn.responses().map((r) => r.body)).toEqual(['no', 'yes']);
  });

  it('CONNECT is answered 200 and tunnelled', () => {
    const proto = new Recorder();
    const conn = connect((r) => r.upgrade(proto));
    conn.send('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01');
    expect(conn.out().startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(conn.requests[0]!.rawPath).toBe('example.com:443');
    expect(proto.text()).toBe('\x16\x03\x01');
  });

  it('refuses to upgrade a request that did not ask, or after a normal response started', () => {
    let plain: Request | null = null;
    const conn = connect((r) => {
      plain = r;
    });
    conn.send(get('/'));
    expect(() => plain!.upgrade(new Recorder())).toThrow(/did not ask/);
    const conn2 = connect((r) => {
      r.write('x');
      expect(() => r.upgrade(new Recorder())).toThrow(/already started/);
      r.finish();
    });
    conn2.send(upgradeHead);
    expect(conn.transport.disconnecting).toBe(false);
  });

  it('refuses a non-switching status for the upgrade response', () => {
    const conn = connect((r) => {
      expect(() => r.upgrade(new Recorder(), { status: 200 })).toThrow(TypeError);
      r.finish('plain');
    });
    conn.send(upgradeHead);
    expect(conn.responses()[0]!.body).toBe('plain');
  });
});

describe('upgrade with a request body', () => {
  it('skips an unread body and hands over what follows it', () => {
    const proto = new Recorder();
    const conn = connect((r) => r.upgrade(proto, { headers: accept }));
    conn.send('POST /x HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 4\r\n\r\nbodyAFTER', 'bytes');
    expect(proto.text()).toBe('AFTER');
  });
});

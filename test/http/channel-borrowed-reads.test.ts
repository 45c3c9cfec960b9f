/**
 * HTTPChannel on the transport's fast read path (`kReadBorrowed`): every read lent for one call
 * in a buffer that the next read overwrites. HTTP itself gets owned copies — requests, bodies
 * and bytes held for a later upgrade stay intact —; after an upgrade, a protocol that borrows
 * reads (the WebSocket protocol) gets them lent, and one that does not gets copies.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { HTTPChannel, HTTPFactory } from '../../src/http/index.js';
import { kReadBorrowed } from '../../src/reactor/fastRead.js';
import type { IProtocol } from '../../src/reactor/interfaces.js';
import { Clock } from '../../src/testing/index.js';
import { CountingTransport, SPLITS, connect, get, type Split } from './channel-helpers.js';

/** Feed `data` through one lent buffer, cut as `split` says, scribbled over after every call. */
function lend(channel: HTTPChannel, data: Buffer, split: Split): void {
  const lent = Buffer.alloc(65536);
  const size = split === 'whole' ? data.length : split === 'bytes' ? 1 : split === 'halves' ? Math.ceil(data.length / 2) : split;
  for (let at = 0; at < data.length; at += size) {
    const n = Math.min(size, data.length - at);
    data.copy(lent, 0, at, at + n);
    channel[kReadBorrowed](lent, n);
    lent.fill(0x58); // whatever kept a view of the lent bytes now sees "XXXX"
  }
}

/** A protocol that keeps exactly what it is handed (no copy of its own). */
class Keeper implements IProtocol {
  kept: Uint8Array[] = [];
  makeConnection(): void {}
  dataReceived(data: Uint8Array): void {
    this.kept.push(data);
  }
  text(): string {
    return Buffer.concat(this.kept).toString('latin1');
  }
}

/** A Keeper that borrows reads: it records each lent call (and copies, as a borrower must). */
class Borrower extends Keeper {
  lent: Array<[Buffer, number]> = [];
  [kReadBorrowed](buffer: Buffer, n: number): void {
    this.lent.push([buffer, n]);
    this.kept.push(Buffer.from(buffer.subarray(0, n)));
  }
}

const accept: [string, string][] = [
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
];
const upgradeHead = 'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';

describe('HTTPChannel with lent reads', () => {
  for (const split of SPLITS) {
    it(`parses requests and bodies from reads it does not own (${split})`, () => {
      const bodies: string[] = [];
      const conn = connect((r) =>
        r.content().addCallback((b) => {
          bodies.push(b.toString('latin1'));
          r.finish(`${r.method} ${r.path} ${b.length}`);
        }),
      );
      const body = 'a body that outlives the read it came in';
      lend(conn.channel, Buffer.from(`POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}${get('/two')}`), split);
      expect(conn.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /one', 'GET /two']);
      expect(bodies).toEqual([body, '']);
      expect(conn.responses(['POST', 'GET']).map((r) => r.body)).toEqual([`POST /one ${body.length}`, 'GET /two 0']);
    });

    it(`lends the reads after an upgrade to a protocol that borrows them (${split})`, () => {
      const proto = new Borrower();
      const conn = connect((r) => r.upgrade(proto, { headers: accept }));
      lend(conn.channel, Buffer.from(`${upgradeHead}first`), split);
      lend(conn.channel, Buffer.from('second'), split);
      expect(conn.channel.upgradedTo).toBe(proto);
      expect(proto.text()).toBe('firstsecond');
      // "second" came after the switch: lent, in the split it came in.
      const after = proto.lent.slice(-(split === 'bytes' ? 6 : split === 'halves' ? 2 : 1));
      expect(after.map(([, n]) => n).reduce((a, b) => a + b, 0)).toBe(6);
    });

    it(`copies the reads after an upgrade to a protocol that does not borrow (${split})`, () => {
      const proto = new Keeper();
      const conn = connect((r) => r.upgrade(proto, { headers: accept }));
      lend(conn.channel, Buffer.from(`${upgradeHead}first`), split);
      lend(conn.channel, Buffer.from('second'), split);
      expect(proto.text()).toBe('firstsecond');
    });
  }

  it('keeps owned copies of the bytes that arrive while an upgrade is being decided', () => {
    const proto = new Borrower();
    const gate = new Deferred<void>();
    const conn = connect((r) => {
      gate.addCallback(() => r.upgrade(proto, { headers: accept }));
    });
    lend(conn.channel, Buffer.from(`${upgradeHead}early`), 'whole');
    lend(conn.channel, Buffer.from(' and later'), 'whole');
    gate.callback(undefined);
    expect(proto.text()).toBe('early and later');
    expect(proto.lent).toHaveLength(0); // handed over as data, not lent
    lend(conn.channel, Buffer.from('!'), 'whole');
    expect(proto.lent).toHaveLength(1);
    expect(proto.text()).toBe('early and later!');
  });

  it('gives a subclass that overrides dataReceived every read, as data, even after an upgrade', () => {
    const seen: string[] = [];
    class Watching extends HTTPChannel {
      override dataReceived(data: Uint8Array): void {
        seen.push(Buffer.from(data).toString('latin1'));
        super.dataReceived(data);
      }
    }
    const proto = new Borrower();
    const channel = new Watching(new HTTPFactory((r) => r.upgrade(proto, { headers: accept }), { reactor: new Clock() }));
    channel.makeConnection(new CountingTransport());
    lend(channel, Buffer.from(`${upgradeHead}x`), 'whole');
    lend(channel, Buffer.from('y'), 'whole');
    expect(channel.upgradedTo).toBe(proto);
    expect(seen).toEqual([`${upgradeHead}x`, 'y']);
    expect(proto.lent).toHaveLength(0);
    expect(proto.text()).toBe('xy');
  });
});

import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import { captureEvents } from '../../src/logger/index.js';
import { DatagramProtocol, ProcessProtocol, Protocol } from '../../src/protocol/protocol.js';
import { IPv4Address, type Address } from '../../src/reactor/address.js';
import { ConnectionDone } from '../../src/reactor/errors.js';
import { deliverConnectionLost, deliverData, makeConnection } from '../../src/reactor/glue.js';
import type {
  IDatagramProtocol,
  IProcessProtocol,
  IProcessTransport,
  IProtocol,
  IUDPTransport,
} from '../../src/reactor/interfaces.js';
import { StringTransport } from '../../src/testing/stringTransport.js';

describe('Protocol', () => {
  it('makeConnection sets transport and connected, then calls connectionMade', () => {
    const seen: unknown[] = [];
    class P extends Protocol {
      override connectionMade(): void {
        seen.push([this.connected, this.transport]);
      }
    }
    const p = new P();
    expect(p.connected).toBe(false);
    expect(p.factory).toBeNull();
    const t = new StringTransport();
    p.makeConnection(t);
    expect(seen).toEqual([[true, t]]);
    expect(p.transport).toBe(t);
  });

  it('connectionLost clears connected; defaults are no-ops', () => {
    const p = new Protocol();
    p.makeConnection(new StringTransport());
    p.dataReceived(Buffer.from('ignored'));
    p.connectionLost(new Failure(new ConnectionDone()));
    expect(p.connected).toBe(false);
  });

  it('logPrefix is the class name', () => {
    class Echo extends Protocol {}
    expect(new Echo().logPrefix()).toBe('Echo');
    expect(new Protocol().logPrefix()).toBe('Protocol');
  });

  it('satisfies IProtocol and works through the reactor glue', () => {
    const got: string[] = [];
    class Echo extends Protocol {
      override dataReceived(data: Uint8Array): void {
        got.push(Buffer.from(data).toString());
        this.transport.write(data);
      }
      override connectionLost(reason: Failure): void {
        super.connectionLost(reason);
        got.push(`lost:${reason.type.name}`);
      }
    }
    const p: IProtocol = new Echo();
    const t = new StringTransport();
    makeConnection(p, t);
    deliverData(p, Buffer.from('hi'));
    deliverConnectionLost(p, new Failure(new ConnectionDone()));
    expect(t.value().toString()).toBe('hi');
    expect(got).toEqual(['hi', 'lost:ConnectionDone']);
  });

  it('a plain object is a protocol too', () => {
    const t = new StringTransport();
    const p: IProtocol = {
      dataReceived(data) {
        this.transport?.write(data);
      },
    };
    makeConnection(p, t);
    deliverData(p, Buffer.from('x'));
    expect(t.value().toString()).toBe('x');
  });
});

describe('ProcessProtocol', () => {
  class Recorder extends ProcessProtocol {
    events: string[] = [];
    override outReceived(data: Uint8Array): void {
      this.events.push(`out:${Buffer.from(data)}`);
    }
    override errReceived(data: Uint8Array): void {
      this.events.push(`err:${Buffer.from(data)}`);
    }
    override inConnectionLost(): void {
      this.events.push('in lost');
    }
    override outConnectionLost(): void {
      this.events.push('out lost');
    }
    override errConnectionLost(): void {
      this.events.push('err lost');
    }
  }

  const dataCases: [number, string[]][] = [
    [1, ['out:x']],
    [2, ['err:x']],
    [0, []],
    [3, []],
  ];
  for (const [fd, expected] of dataCases) {
    it(`childDataReceived(${fd}) dispatches to ${expected[0] ?? 'nothing'}`, () => {
      const p = new Recorder();
      p.childDataReceived(fd, Buffer.from('x'));
      expect(p.events).toEqual(expected);
    });
  }

  const lostCases: [number, string[]][] = [
    [0, ['in lost']],
    [1, ['out lost']],
    [2, ['err lost']],
    [3, []],
  ];
  for (const [fd, expected] of lostCases) {
    it(`childConnectionLost(${fd}) dispatches to ${expected[0] ?? 'nothing'}`, () => {
      const p = new Recorder();
      p.childConnectionLost(fd);
      expect(p.events).toEqual(expected);
    });
  }

  it('makeConnection sets the transport and calls connectionMade; satisfies IProcessProtocol', () => {
    const written: string[] = [];
    const transport = {
      pid: 42,
      write: (d: Uint8Array) => void written.push(Buffer.from(d).toString()),
    } as unknown as IProcessTransport;
    class Greeter extends ProcessProtocol {
      override connectionMade(): void {
        this.transport.write(Buffer.from('hello'));
      }
    }
    const p: IProcessProtocol = new Greeter();
    p.makeConnection!(transport);
    expect(written).toEqual(['hello']);
    expect((p as Greeter).connected).toBe(true);
    expect((p as Greeter).logPrefix()).toBe('Greeter');
  });
});

describe('DatagramProtocol', () => {
  const fakeUDP = {} as IUDPTransport;

  it('doStart/doStop count ports: startProtocol before the first, stopProtocol after the last', () => {
    const events: string[] = [];
    class P extends DatagramProtocol {
      override noisy = false;
      override startProtocol(): void {
        events.push('start');
      }
      override stopProtocol(): void {
        events.push('stop');
      }
    }
    const p = new P();
    p.makeConnection(fakeUDP);
    expect(p.transport).toBe(fakeUDP);
    p.doStart();
    expect(events).toEqual(['start']);
    expect(p.numPorts).toBe(2);
    p.doStop();
    expect(events).toEqual(['start']);
    p.doStop();
    expect(events).toEqual(['start', 'stop']);
    p.doStop(); // one too many: ignored
    expect(p.numPorts).toBe(0);
    expect(events).toEqual(['start', 'stop']);
  });

  it('noisy logs start and stop', () => {
    const capture = captureEvents();
    try {
      const p = new DatagramProtocol();
      p.doStart();
      p.doStop();
    } finally {
      capture.stop();
    }
    const mine = capture.events.filter((e) => e.log_namespace === 'spindle.protocol');
    expect(mine.map((e) => [e.log_level, e.log_format, e['protocol']])).toEqual([
      ['info', 'Starting protocol {protocol}', 'DatagramProtocol'],
      ['info', 'Stopping protocol {protocol}', 'DatagramProtocol'],
    ]);
  });

  it('datagramReceived gets the data and the sender; satisfies IDatagramProtocol', () => {
    const got: [string, Address][] = [];
    class P extends DatagramProtocol {
      override datagramReceived(data: Uint8Array, addr: Address): void {
        got.push([Buffer.from(data).toString(), addr]);
      }
    }
    const p: IDatagramProtocol = new P();
    const from = new IPv4Address('UDP', '127.0.0.1', 5353);
    p.datagramReceived!(Buffer.from('ping'), from);
    p.connectionRefused!();
    expect(got).toEqual([['ping', from]]);
  });
});

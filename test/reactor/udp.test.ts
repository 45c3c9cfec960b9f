/**
 * listenUDP without the network: argument checks that happen before any
 * socket exists, and the errors UDP ports raise. Real datagrams are in
 * test/integration/udp.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PACKET_SIZE, listenUDP } from '../../src/reactor/udp.js';
import { InvalidAddressError, MessageLengthError } from '../../src/reactor/errors.js';
import type { ReactorResource, ResourceTracker } from '../../src/reactor/resources.js';
import { Clock } from '../../src/testing/clock.js';

class TrackingClock extends Clock implements ResourceTracker {
  readonly resources = new Set<ReactorResource>();
  track(resource: ReactorResource): () => void {
    this.resources.add(resource);
    return () => this.resources.delete(resource);
  }
}

describe('listenUDP argument checks', () => {
  it.each([
    ['a negative port', -1, {}],
    ['a port above 65535', 65536, {}],
    ['a fractional port', 1.5, {}],
    ['NaN as port', Number.NaN, {}],
    ['a zero maxPacketSize', 0, { maxPacketSize: 0 }],
    ['a negative maxPacketSize', 0, { maxPacketSize: -5 }],
    ['a fractional maxPacketSize', 0, { maxPacketSize: 10.5 }],
  ])('throws RangeError for %s, before opening anything', (_what, port, options) => {
    const reactor = new TrackingClock();
    expect(() => listenUDP(reactor, port, {}, options)).toThrow(RangeError);
    expect(reactor.resources.size).toBe(0);
  });

  it("defaults maxPacketSize to Twisted's 8192 bytes", () => {
    expect(DEFAULT_MAX_PACKET_SIZE).toBe(8192);
  });
});

describe('UDP errors', () => {
  it('MessageLengthError is an Error with its name', () => {
    const e = new MessageLengthError('too long');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('MessageLengthError');
    expect(e.message).toBe('too long');
  });

  it('InvalidAddressError names the address and suggests resolving', () => {
    const e = new InvalidAddressError('example.com');
    expect(e.name).toBe('InvalidAddressError');
    expect(e.address).toBe('example.com');
    expect(e.message).toContain('"example.com"');
  });
});

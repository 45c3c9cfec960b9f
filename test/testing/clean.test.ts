import { describe, expect, it } from 'vitest';
import type { IDelayedCall } from '../../src/defer/clock.js';
import { assertClean, DirtyReactorError, leftovers, type CheckableReactor } from '../../src/testing/clean.js';
import { Clock } from '../../src/testing/clock.js';
import { ConnectionCompleter } from '../../src/testing/iosim.js';
import { MemoryReactor, MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { factoryOf, recorder } from './protocols.js';

function dirt(reactor: CheckableReactor): readonly string[] {
  try {
    assertClean(reactor);
  } catch (e) {
    expect(e).toBeInstanceOf(DirtyReactorError);
    return (e as DirtyReactorError).leftovers;
  }
  return [];
}

describe('assertClean', () => {
  it('passes on a fresh Clock, MemoryReactor and MemoryReactorClock', () => {
    for (const r of [new Clock(), new MemoryReactor(), new MemoryReactorClock()]) expect(() => assertClean(r)).not.toThrow();
  });

  it('lists delayed calls still pending, with what they call and when', () => {
    const clock = new Clock();
    function reconnect(_host: string): void {}
    clock.callLater(5, reconnect, 'db');
    clock.callLater(1, () => undefined);
    expect(dirt(clock)).toEqual([
      'delayed call <anonymous function>() due at t=1',
      "delayed call reconnect('db') due at t=5",
    ]);
    expect(() => assertClean(clock)).toThrow(/the reactor is unclean: 2 thing\(s\) left behind/);
  });

  it('passes once calls have run or been cancelled', () => {
    const clock = new Clock();
    clock.callLater(1, () => undefined);
    clock.callLater(2, () => undefined).cancel();
    clock.advance(1);
    assertClean(clock);
  });

  it('lists ports not stopped, attempts pending and connections open on a MemoryReactor', () => {
    const reactor = new MemoryReactorClock();
    const port = reactor.listenTCP(8080, factoryOf(() => recorder()), { interface: '127.0.0.1' });
    const connector = reactor.connectTCP('127.0.0.1', 8080, factoryOf(() => recorder()));
    const udp = reactor.listenUDP(53, {});
    reactor.callLater(3, () => undefined);
    expect(dirt(reactor)).toEqual([
      expect.stringMatching(/^delayed call .* due at t=3$/),
      'TCP port listening on 127.0.0.1:8080 (not stopped)',
      'TCP connection attempt to 127.0.0.1:8080 still pending',
      'UDP port 0.0.0.0:53 still listening',
    ]);
    reactor.getDelayedCalls()[0]!.cancel();
    const pump = new ConnectionCompleter(reactor).succeedOnce();
    expect(dirt(reactor)).toContain('TCP connection to 127.0.0.1:8080 still open');
    connector.disconnect();
    pump.flush();
    port.stopListening();
    udp.stopListening();
    assertClean(reactor);
  });

  it('uses openResources() of any reactor that has it', () => {
    const nodeLike: CheckableReactor = {
      getDelayedCalls: (): IDelayedCall[] => [],
      openResources: () => ['TCP connection to 10.0.0.1:80 still open'],
    };
    expect(leftovers(nodeLike)).toEqual(['TCP connection to 10.0.0.1:80 still open']);
    expect(() => assertClean(nodeLike)).toThrow(DirtyReactorError);
  });
});

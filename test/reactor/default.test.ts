/**
 * The default reactor: nothing is created by importing it; the first use
 * creates one NodeReactor, which every later use (and the Deferred layer's
 * default clock) shares.
 */
import { describe, expect, it, vi } from 'vitest';

describe('the default reactor', () => {
  it('is created on first use, once, and is the default clock', async () => {
    vi.resetModules();
    // A NodeReactor registers its own triggers when constructed: count those.
    const { SystemEventTriggers } = await import('../../src/reactor/lifecycle.js');
    const constructed = vi.spyOn(SystemEventTriggers.prototype, 'add');
    const { reactor, getReactor } = await import('../../src/reactor/default.js');
    const { NodeReactor } = await import('../../src/reactor/nodeReactor.js');
    const { getDefaultClock } = await import('../../src/defer/clock.js');
    // Importing it, and reading `running`, create nothing.
    expect(reactor.running).toBe(false);
    expect(constructed).not.toHaveBeenCalled();

    const t = reactor.seconds();
    expect(constructed).toHaveBeenCalled();
    const once = constructed.mock.calls.length;
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(1);
    const instance = getReactor();
    expect(instance).toBeInstanceOf(NodeReactor);
    expect(getReactor()).toBe(instance);
    expect(getDefaultClock()).toBe(instance);

    const call = reactor.callLater(60, () => {});
    expect(instance.getDelayedCalls()).toContain(call);
    expect(reactor.getDelayedCalls()).toContain(call);
    call.cancel();
    expect(constructed.mock.calls.length).toBe(once);
    constructed.mockRestore();
  });

  it('forwards every IReactor method to the NodeReactor', async () => {
    const { reactor, getReactor } = await import('../../src/reactor/default.js');
    const instance = getReactor();
    const f = () => {};
    type Method = Exclude<keyof typeof instance & keyof typeof reactor, 'running'>;
    const calls: Array<[Method, unknown[]]> = [
      ['callLater', [1, f, 'a', 'b']],
      ['getDelayedCalls', []],
      ['run', []],
      ['stop', []],
      ['callWhenRunning', [f, 'a']],
      ['addSystemEventTrigger', ['before', 'shutdown', f, 'a']],
      ['removeSystemEventTrigger', ['id']],
      ['fireSystemEvent', ['persist']],
      ['track', [{ shutdown: f }]],
      ['listenTCP', [0, { buildProtocol: f }, { backlog: 5 }]],
      ['connectTCP', ['h', 1, { buildProtocol: f }, { timeout: 1 }]],
      ['listenUNIX', ['/p', { buildProtocol: f }, { mode: 0o600 }]],
      ['connectUNIX', ['/p', { buildProtocol: f }, { timeout: 1 }]],
      ['listenSSL', [0, { buildProtocol: f }, {}, { backlog: 5 }]],
      ['connectSSL', ['h', 1, { buildProtocol: f }, {}, { timeout: 1 }]],
      ['listenUDP', [0, {}, { interface: '' }]],
      ['spawnProcess', [{}, '/bin/true', ['x'], { env: null }]],
      ['deferToThread', ['/m.mjs', 'fn', 1, 2]],
    ];
    for (const [name, args] of calls) {
      const spy = vi.spyOn(instance, name).mockImplementation((() => 'forwarded') as never);
      const result = (reactor[name] as (...a: unknown[]) => unknown)(...args);
      if (name !== 'stop' && name !== 'removeSystemEventTrigger') expect(result).toBe('forwarded');
      expect(spy).toHaveBeenCalledWith(...args);
      spy.mockRestore();
    }
  });
});

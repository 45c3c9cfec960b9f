/**
 * spawnProcess without starting anything: the argument checks that throw
 * before a child exists, and the process errors. Real children are in
 * test/integration/process.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { spawnProcess } from '../../src/reactor/process.js';
import { ProcessDone, ProcessExitedAlready, ProcessTerminated } from '../../src/reactor/errors.js';
import type { SpawnOptions } from '../../src/reactor/interfaces.js';
import type { ReactorResource, ResourceTracker } from '../../src/reactor/resources.js';
import { Clock } from '../../src/testing/clock.js';

class TrackingClock extends Clock implements ResourceTracker {
  readonly resources = new Set<ReactorResource>();
  track(resource: ReactorResource): () => void {
    this.resources.add(resource);
    return () => this.resources.delete(resource);
  }
}

describe('spawnProcess argument checks', () => {
  const cases: Array<[string, unknown, unknown, SpawnOptions]> = [
    ['an empty executable', '', [], {}],
    ['a non-string executable', 42, [], {}],
    ['a NUL in the executable', '/bin/e\0cho', [], {}],
    ['args that are not an array', '/bin/echo', 'hello', {}],
    ['a non-string argument', '/bin/echo', ['a', 1], {}],
    ['a NUL in an argument', '/bin/echo', ['a\0b'], {}],
    ['a non-string env value', '/bin/echo', [], { env: { A: 1 as unknown as string } }],
    ['an env key with =', '/bin/echo', [], { env: { 'A=B': 'c' } }],
    ['an empty env key', '/bin/echo', [], { env: { '': 'c' } }],
    ['a NUL in an env value', '/bin/echo', [], { env: { A: 'x\0y' } }],
    ['a negative child fd', '/bin/echo', [], { childFDs: { [-1]: 'r' } }],
    ['a bad childFDs value', '/bin/echo', [], { childFDs: { 1: 'x' as 'r' } }],
    ['a negative parent fd', '/bin/echo', [], { childFDs: { 1: -2 } }],
    ["fd 0 as 'r'", '/bin/echo', [], { childFDs: { 0: 'r' } }],
  ];
  it.each(cases)('throws TypeError for %s, before starting anything', (_what, executable, args, options) => {
    const reactor = new TrackingClock();
    const seen: string[] = [];
    expect(() =>
      spawnProcess(
        reactor,
        { connectionMade: () => seen.push('connectionMade') },
        executable as string,
        args as string[],
        options,
      ),
    ).toThrow(TypeError);
    expect(seen).toEqual([]);
    expect(reactor.resources.size).toBe(0);
  });
});

describe('process errors', () => {
  it.each([
    [new ProcessTerminated(3, null), 3, null, /exit code 3/],
    [new ProcessTerminated(null, 'SIGTERM'), null, 'SIGTERM', /signal SIGTERM/],
  ])('ProcessTerminated carries exitCode and signal (%s)', (e, exitCode, signal, message) => {
    expect(e.exitCode).toBe(exitCode);
    expect(e.signal).toBe(signal);
    expect(e.message).toMatch(message);
  });

  it('ProcessTerminated for a process that never started says why, with the cause', () => {
    const cause = Object.assign(new Error('spawn /nope ENOENT'), { code: 'ENOENT' });
    const e = new ProcessTerminated(null, null, { cause });
    expect(e.message).toBe('A process could not be started: spawn /nope ENOENT.');
    expect(e.cause).toBe(cause);
  });

  it('ProcessDone is exit code 0 without a signal', () => {
    const e = new ProcessDone();
    expect([e.exitCode, e.signal, e.name]).toEqual([0, null, 'ProcessDone']);
  });

  it('ProcessExitedAlready is an Error with its name', () => {
    expect(new ProcessExitedAlready()).toMatchObject({ name: 'ProcessExitedAlready' });
  });
});

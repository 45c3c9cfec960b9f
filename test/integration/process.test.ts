/**
 * spawnProcess with real child processes (/bin/echo, /bin/cat, /bin/sh,
 * /bin/sleep, /usr/bin/env). Every wait is bounded; every child is ended
 * (or killed) before its test finishes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deferred } from '../../src/defer/deferred.js';
import { Failure } from '../../src/defer/failure.js';
import { ProcessDone, ProcessExitedAlready, ProcessTerminated } from '../../src/reactor/errors.js';
import type { IProcessProtocol, IProcessTransport, SpawnOptions } from '../../src/reactor/interfaces.js';
import { SHUTDOWN_GIVE_UP_AFTER, SHUTDOWN_KILL_AFTER, spawnProcess } from '../../src/reactor/process.js';
import type { ReactorResource, ResourceTracker } from '../../src/reactor/resources.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

class TrackingClock extends Clock implements ResourceTracker {
  readonly resources = new Set<ReactorResource>();
  track(resource: ReactorResource): () => void {
    this.resources.add(resource);
    return () => this.resources.delete(resource);
  }
}

function within<T>(d: PromiseLike<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    d.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

function describeReason(reason: Failure): string {
  const e = reason.value;
  if (e instanceof ProcessDone) return 'done';
  if (e instanceof ProcessTerminated) return `terminated code=${String(e.exitCode)} signal=${String(e.signal)}`;
  return `other ${e.name}`;
}

/**
 * A process protocol with the outReceived/errReceived shortcuts (no
 * childDataReceived), recording every callback in order.
 */
class Recorder implements IProcessProtocol {
  transport: IProcessTransport | null = null;
  readonly events: string[] = [];
  out = '';
  err = '';
  exitedReason: Failure | null = null;
  endedReason: Failure | null = null;
  /** Fires with `{ reason }`: firing a Deferred with a Failure would errback it. */
  readonly ended = new Deferred<{ reason: Failure }>();

  connectionMade(): void {
    this.events.push('connectionMade');
  }
  outReceived(data: Uint8Array): void {
    this.out += text(data);
    this.events.push(`out`);
  }
  errReceived(data: Uint8Array): void {
    this.err += text(data);
    this.events.push(`err`);
  }
  inConnectionLost(): void {
    this.events.push('lost 0');
  }
  outConnectionLost(): void {
    this.events.push('lost 1');
  }
  errConnectionLost(): void {
    this.events.push('lost 2');
  }
  processExited(reason: Failure): void {
    this.exitedReason = reason;
    this.events.push(`exited ${describeReason(reason)}`);
  }
  processEnded(reason: Failure): void {
    this.endedReason = reason;
    this.events.push(`ended ${describeReason(reason)}`);
    this.ended.callback({ reason });
  }
  async waitEnded(ms = 5000): Promise<Failure> {
    return (await within(this.ended, ms, 'processEnded')).reason;
  }
}

let reactor = new TrackingClock();
const transports: IProcessTransport[] = [];

beforeEach(() => {
  reactor = new TrackingClock();
});

afterEach(() => {
  // Anything still running is killed; nothing is left behind.
  for (const t of transports.splice(0)) {
    try {
      t.signalProcess('KILL');
    } catch {
      // already gone
    }
  }
});

function run(protocol: IProcessProtocol, executable: string, args: string[] = [], options: SpawnOptions = {}): IProcessTransport {
  const t = spawnProcess(reactor, protocol, executable, args, options);
  transports.push(t);
  return t;
}

describe('spawnProcess: output, exit and ordering', () => {
  it('runs /bin/echo: connectionMade, output, pipes lost, processExited, then processEnded last', async () => {
    const p = new Recorder();
    const t = run(p, '/bin/echo', ['hello', 'world']);
    expect(p.events).toEqual(['connectionMade']); // synchronously, before spawnProcess returns
    expect(p.transport).toBe(t);
    expect(typeof t.pid).toBe('number');
    expect(reactor.resources.size).toBe(1);
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessDone);
    expect(p.out).toBe('hello world\n');
    expect(p.err).toBe('');
    expect(p.events[0]).toBe('connectionMade');
    expect(p.events.at(-1)).toBe('ended done');
    expect(p.events.filter((e) => e.startsWith('lost')).sort()).toEqual(['lost 0', 'lost 1', 'lost 2']);
    expect(p.events.indexOf('exited done')).toBeLessThan(p.events.indexOf('ended done'));
    expect(p.exitedReason).not.toBe(p.endedReason); // a Failure each, of the same error
    expect(p.exitedReason!.value).toBe(p.endedReason!.value);
    expect(t.pid).toBeUndefined(); // as in Twisted, once exited
    expect(reactor.resources.size).toBe(0);
  });

  it.each([
    ['whole', ['hello cat\n']],
    ['in two pieces', ['hello ', 'cat\n']],
    ['one byte at a time', [...'hello cat\n']],
  ])('round-trips stdin through /bin/cat, written %s, until closeStdin', async (_how, pieces) => {
    const p = new Recorder();
    const t = run(p, '/bin/cat');
    for (const piece of pieces) t.write(bytes(piece));
    t.closeStdin();
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessDone);
    expect(p.out).toBe('hello cat\n');
  });

  it('delivers stderr through errReceived', async () => {
    const p = new Recorder();
    run(p, '/bin/sh', ['-c', 'echo to-out; echo to-err >&2']);
    await p.waitEnded();
    expect(p.out).toBe('to-out\n');
    expect(p.err).toBe('to-err\n');
  });

  it.each([
    [0, 'done'],
    [1, 'terminated code=1 signal=null'],
    [3, 'terminated code=3 signal=null'],
    [255, 'terminated code=255 signal=null'],
  ])('reports exit code %i as %s in processExited and processEnded', async (code, expected) => {
    const p = new Recorder();
    run(p, '/bin/sh', ['-c', `exit ${code}`]);
    const reason = await p.waitEnded();
    expect(p.events).toContain(`exited ${expected}`);
    expect(p.events.at(-1)).toBe(`ended ${expected}`);
    if (code !== 0) expect(reason.value).toMatchObject({ name: 'ProcessTerminated', exitCode: code, signal: null });
  });

  it('calls processExited as soon as the process exits, and processEnded only once every pipe is closed', async () => {
    const p = new Recorder();
    // The shell exits at once; a background child keeps stdout open a little longer.
    run(p, '/bin/sh', ['-c', '(/bin/sleep 0.3; echo late) & exit 0']);
    await p.waitEnded();
    const exited = p.events.indexOf('exited done');
    const out = p.events.indexOf('out');
    const ended = p.events.indexOf('ended done');
    expect(exited).toBeGreaterThan(-1);
    expect(exited).toBeLessThan(out);
    expect(out).toBeLessThan(ended);
    expect(p.out).toBe('late\n');
  });
});

describe('spawnProcess: signals', () => {
  it.each([
    ['TERM', 'SIGTERM'],
    ['SIGTERM', 'SIGTERM'],
    ['KILL', 'SIGKILL'],
    ['INT', 'SIGINT'],
    ['HUP', 'SIGHUP'],
    ['term', 'SIGTERM'],
    [15, 'SIGTERM'],
    [9, 'SIGKILL'],
  ])('signalProcess(%j) ends /bin/sleep with ProcessTerminated signal %s', async (signal, name) => {
    const p = new Recorder();
    const t = run(p, '/bin/sleep', ['5']);
    t.signalProcess(signal);
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessTerminated);
    expect(reason.value).toMatchObject({ exitCode: null, signal: name });
    expect(reason.value.message).toContain(`signal ${name}`);
  });

  it('throws ProcessExitedAlready once the process has exited, TypeError for an unknown signal', async () => {
    const p = new Recorder();
    const t = run(p, '/bin/true');
    expect(() => t.signalProcess('NOSUCH')).toThrow(TypeError);
    expect(() => t.signalProcess(12345)).toThrow(TypeError);
    await p.waitEnded();
    expect(() => t.signalProcess('TERM')).toThrow(ProcessExitedAlready);
    expect(() => t.signalProcess(0)).toThrow(ProcessExitedAlready);
  });
});

describe('spawnProcess: environment (Twisted rule: empty unless asked)', () => {
  it('gives an EMPTY environment by default: /usr/bin/env prints nothing', async () => {
    const p = new Recorder();
    run(p, '/usr/bin/env');
    await p.waitEnded();
    expect(p.out).toBe('');
  });

  it('gives exactly the environment passed', async () => {
    const p = new Recorder();
    run(p, '/usr/bin/env', [], { env: { GREETING: 'hello there', EMPTY: '' } });
    await p.waitEnded();
    expect(p.out.split('\n').filter(Boolean).sort()).toEqual(['EMPTY=', 'GREETING=hello there']);
  });

  it('inherits process.env with env: null', async () => {
    process.env.SPINDLE_PROCESS_TEST = 'inherited';
    try {
      const p = new Recorder();
      run(p, '/usr/bin/env', [], { env: null });
      await p.waitEnded();
      const lines = p.out.split('\n');
      expect(lines).toContain('SPINDLE_PROCESS_TEST=inherited');
      expect(lines).toContain(`PATH=${process.env.PATH}`);
    } finally {
      delete process.env.SPINDLE_PROCESS_TEST;
    }
  });

  it('finds a bare executable name in the default path even with an empty environment', async () => {
    const p = new Recorder();
    run(p, 'echo', ['found']);
    await p.waitEnded();
    expect(p.out).toBe('found\n');
  });

  it('runs in the directory given as path', async () => {
    const p = new Recorder();
    run(p, '/bin/sh', ['-c', 'pwd'], { path: tmpdir() });
    await p.waitEnded();
    expect(realpathSync(p.out.trim())).toBe(realpathSync(tmpdir()));
  });
});

describe('spawnProcess: protocol dispatch', () => {
  it('calls childDataReceived(fd, data) and childConnectionLost(fd) when the protocol has them, not the shortcuts', async () => {
    const seen: string[] = [];
    const ended = new Deferred<void>();
    run(
      {
        childDataReceived: (fd, data) => seen.push(`data ${fd} ${text(data).trim()}`),
        childConnectionLost: (fd) => seen.push(`lost ${fd}`),
        outReceived: () => seen.push('outReceived!'),
        errReceived: () => seen.push('errReceived!'),
        outConnectionLost: () => seen.push('outConnectionLost!'),
        processEnded: () => ended.callback(undefined),
      },
      '/bin/sh',
      ['-c', 'echo o; echo e >&2'],
    );
    await within(ended, 5000, 'processEnded');
    expect(seen.filter((s) => s.startsWith('data')).sort()).toEqual(['data 1 o', 'data 2 e']);
    expect(seen.filter((s) => s.startsWith('lost')).sort()).toEqual(['lost 0', 'lost 1', 'lost 2']);
    expect(seen.filter((s) => s.endsWith('!'))).toEqual([]);
  });

  it('uses makeConnection when the protocol has one; otherwise sets transport and calls connectionMade', () => {
    const attached: IProcessTransport[] = [];
    const t = run({ makeConnection: (transport) => attached.push(transport) }, '/bin/true');
    expect(attached).toEqual([t]);

    const plain: IProcessProtocol = { connectionMade: () => attached.push(plain.transport!) };
    const t2 = run(plain, '/bin/true');
    expect(plain.transport).toBe(t2);
    expect(attached).toEqual([t, t2]);
  });

  it('works with a protocol that has no callbacks at all', async () => {
    const t = run({}, '/bin/echo', ['ignored']);
    await until(() => reactor.resources.size === 0, 5000, 'the process to end');
    expect(t.pid).toBeUndefined();
  });

  it('logs an exception thrown by a callback and carries on to processEnded', async () => {
    const p = new Recorder();
    p.outReceived = () => {
      throw new RangeError('bad output');
    };
    run(p, '/bin/echo', ['x']);
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessDone);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });
});

describe('spawnProcess: pipes and childFDs', () => {
  it('reads and writes extra pipes: childFDs {3: "r", 4: "w"}', async () => {
    const seen: string[] = [];
    const ended = new Deferred<{ reason: Failure }>();
    const t = run(
      {
        childDataReceived: (fd, data) => seen.push(`${fd}:${text(data)}`),
        processEnded: (reason) => ended.callback({ reason }),
      },
      '/bin/sh',
      ['-c', 'echo three >&3; read x <&4; echo "got $x"'],
      { childFDs: { 0: 'w', 1: 'r', 2: 'r', 3: 'r', 4: 'w' } },
    );
    t.writeToChild(4, bytes('four\n'));
    t.closeChildFD(4);
    const { reason } = await within(ended, 5000, 'processEnded');
    expect(reason.value).toBeInstanceOf(ProcessDone);
    expect(seen.sort()).toEqual(['1:got four\n', '3:three\n']);
  });

  it('lets the child inherit one of our fds: childFDs {1: fd}', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-process-'));
    const file = join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      const p = new Recorder();
      run(p, '/bin/echo', ['into the file'], { childFDs: { 0: 'w', 1: fd, 2: 'r' } });
      await p.waitEnded();
      expect(p.out).toBe('');
      expect(p.events.filter((e) => e.startsWith('lost')).sort()).toEqual(['lost 0', 'lost 2']);
      expect(readFileSync(file, 'utf8')).toBe('into the file\n');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives unlisted fds 0-2 /dev/null: /bin/cat with only {1: "r"} reads EOF at once', async () => {
    const p = new Recorder();
    const t = run(p, '/bin/cat', [], { childFDs: { 1: 'r' } });
    expect(() => t.write(bytes('x'))).toThrow(/not a pipe we write to/);
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessDone);
    expect(p.out).toBe('');
    expect(p.events.filter((e) => e.startsWith('lost'))).toEqual(['lost 1']);
  });

  it('refuses writes to fds that are not pipes we write, and drops writes after closeStdin', async () => {
    const p = new Recorder();
    const t = run(p, '/bin/cat');
    expect(() => t.writeToChild(1, bytes('x'))).toThrow(/not a pipe we write to/);
    expect(() => t.writeToChild(7, bytes('x'))).toThrow(/not a pipe we write to/);
    expect(() => t.write('text' as unknown as Uint8Array)).toThrow(TypeError);
    t.write(bytes('kept\n'));
    t.closeStdin();
    t.write(bytes('dropped\n'));
    await p.waitEnded();
    expect(p.out).toBe('kept\n');
    t.write(bytes('dropped too\n'));
    t.closeChildFD(0); // a no-op now
  });

  it('closeStdout stops reading stdout (outConnectionLost) while the child runs on', async () => {
    const p = new Recorder();
    const t = run(p, '/bin/cat');
    t.closeStdout();
    await until(() => p.events.includes('lost 1'), 5000, 'outConnectionLost');
    expect(p.exitedReason).toBeNull();
    t.closeStderr();
    await until(() => p.events.includes('lost 2'), 5000, 'errConnectionLost');
    t.closeStdin();
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessDone);
  });

  it('loseConnection closes every pipe: /bin/cat reads EOF and exits', async () => {
    const p = new Recorder();
    const t = run(p, '/bin/cat');
    t.loseConnection();
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessDone);
    expect(p.events.filter((e) => e.startsWith('lost')).sort()).toEqual(['lost 0', 'lost 1', 'lost 2']);
  });
});

describe('spawnProcess: a process that cannot start', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'spindle-process-'));
    writeFileSync(join(dir, 'not-executable.sh'), 'echo hi\n', { mode: 0o644 });
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['a missing executable', '/nonexistent/spindle-test', {}, 'ENOENT'],
    ['a missing working directory', '/bin/echo', { path: '/nonexistent/spindle-dir' }, 'ENOENT'],
    ['a file that is not executable', 'not-executable.sh', {}, 'EACCES'],
  ])('reports %s as ProcessTerminated(null, null) with the cause, after connectionMade', async (_what, name, options, code) => {
    const executable = name.startsWith('/') ? name : join(dir, name);
    const p = new Recorder();
    const t = run(p, executable, [], options);
    expect(p.events).toEqual(['connectionMade']);
    expect(t.pid).toBeUndefined();
    expect(() => t.signalProcess('TERM')).toThrow(ProcessExitedAlready);
    const reason = await p.waitEnded();
    expect(reason.value).toBeInstanceOf(ProcessTerminated);
    expect(reason.value).toMatchObject({ exitCode: null, signal: null });
    expect((reason.value.cause as { code?: string }).code).toBe(code);
    expect(reason.value.message).toMatch(/could not be started/);
    expect(p.events).toContain('exited terminated code=null signal=null');
    expect(p.events.at(-1)).toBe('ended terminated code=null signal=null');
    expect(reactor.resources.size).toBe(0);
  });
});

describe('spawnProcess: reactor shutdown', () => {
  it('SIGTERMs a running child and fires once it has ended', async () => {
    const p = new Recorder();
    run(p, '/bin/sleep', ['5']);
    const [resource] = reactor.resources;
    const done = resource!.shutdown() as Deferred<void>;
    await within(done, 5000, 'shutdown');
    expect(p.endedReason!.value).toMatchObject({ signal: 'SIGTERM' });
    expect(reactor.resources.size).toBe(0);
    expect(reactor.getDelayedCalls()).toEqual([]);
  });

  it(`sends SIGKILL ${SHUTDOWN_KILL_AFTER} s after SIGTERM to a child that ignores it`, async () => {
    const p = new Recorder();
    run(p, '/bin/sh', ['-c', 'trap "" TERM; echo ready; exec /bin/sleep 5']);
    await until(() => p.out === 'ready\n', 5000, 'the child to ignore TERM');
    const [resource] = reactor.resources;
    let fired = false;
    (resource!.shutdown() as Deferred<void>).addCallback(() => {
      fired = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(p.exitedReason).toBeNull(); // TERM was ignored
    reactor.advance(SHUTDOWN_KILL_AFTER);
    await p.waitEnded();
    expect(p.endedReason!.value).toMatchObject({ signal: 'SIGKILL' });
    expect(fired).toBe(true);
    expect(reactor.getDelayedCalls()).toEqual([]);
  });

  it(`gives up on pipes held open by a grandchild ${SHUTDOWN_GIVE_UP_AFTER} s after the child exited`, async () => {
    const p = new Recorder();
    run(p, '/bin/sh', ['-c', '/bin/sleep 5 & echo $!']);
    await until(() => p.exitedReason !== null && p.out.endsWith('\n'), 5000, 'the shell to exit');
    const grandchild = Number(p.out.trim());
    try {
      expect(p.endedReason).toBeNull(); // the grandchild holds stdout and stderr
      const [resource] = reactor.resources;
      const done = resource!.shutdown() as Deferred<void>;
      reactor.advance(SHUTDOWN_GIVE_UP_AFTER);
      await within(done, 5000, 'shutdown');
      expect(p.events.at(-1)).toBe('ended done');
      expect(reactor.resources.size).toBe(0);
    } finally {
      process.kill(grandchild, 'SIGKILL');
    }
  });
});

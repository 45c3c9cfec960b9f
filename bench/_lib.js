// What the benchmarks share: the JSON-line RPC their child processes answer on, the queue of
// IPC replies from a server child, and running wrk (Debian's) with its figures parsed.
// (The leading underscore keeps bench/run.js from taking this file for a benchmark.)
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * In a child: answer JSON-line requests `{ id, cmd, … }` from stdin with `handlers[cmd]`, on
 * stdout (`{ id, result }` or `{ id, error }`). The child exits when its stdin closes, so it is
 * gone with the parent whatever happens to it.
 */
export function serveRpc(handlers) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const req = JSON.parse(line);
    try {
      const result = await handlers[req.cmd](req);
      process.stdout.write(`${JSON.stringify({ id: req.id, result })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ id: req.id, error: String(e?.stack ?? e) })}\n`);
    }
  });
  rl.on('close', () => process.exit(0));
}

/**
 * The IPC messages of `child`, in order: `next()` resolves with the next one (already received
 * or to come), or rejects if none comes within `ms`.
 */
export function replyQueue(child, label, ms = 10_000) {
  const replies = [];
  const waiting = [];
  child.on('message', (m) => {
    const w = waiting.shift();
    if (w) w(m);
    else replies.push(m);
  });
  return () =>
    new Promise((resolve, reject) => {
      if (replies.length > 0) return resolve(replies.shift());
      const timer = setTimeout(() => reject(new Error(`the ${label} server did not answer`)), ms);
      waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
}

/**
 * The wrk arguments for one run against `http://127.0.0.1:port/`: one thread, `connections`
 * connections, and with `pipelineScript` that many requests per write (`depth`).
 */
export function wrkArgs(port, { seconds, connections, pipelineScript = null, depth = 0 }) {
  const args = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '2s'];
  if (pipelineScript !== null) args.push('-s', pipelineScript);
  args.push(`http://127.0.0.1:${port}/`);
  if (pipelineScript !== null) args.push('--', String(depth));
  return args;
}

/**
 * Run `cmd argv` (wrk, possibly behind taskset/nice), bounded by `seconds` plus a margin;
 * resolves with `{ rate, non2xx, errors }` parsed from wrk's report.
 */
export function runWrk(cmd, argv, seconds) {
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: (seconds + 15) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stderr}`));
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
      if (rate === null) return reject(new Error(`no Requests/sec in wrk's output:\n${stdout}`));
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
      const errors = /Socket errors:([^\n]*)/.exec(stdout);
      resolve({ rate: Number(rate[1]), non2xx: non2xx ? Number(non2xx[1]) : 0, errors: errors ? errors[1].trim() : '' });
    });
  });
}

/**
 * In the parent: speak to `child` (spawned with piped stdin and stdout) with JSON lines.
 * `ready` resolves with the child's `{ ready }` line (or, with `readyLine`, the first capture
 * of that pattern on a line: a child that is not an RPC server, such as the CLI), or null if
 * it exits first; `call(cmd, args)` resolves with the answer to `{ id, cmd, …args }`, and
 * rejects on an error answer, after `timeoutMs`, or when the child exits; `exited` resolves
 * with `{ code, signal }`.
 */
export function rpcClient(child, label, { readyLine = null } = {}) {
  const waiting = new Map();
  let next = 0;
  let ready;
  const first = new Promise((r) => (ready = r));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (readyLine !== null) {
      const m = readyLine.exec(line);
      if (m !== null) ready(Number(m[1]));
      return;
    }
    const msg = JSON.parse(line);
    if (msg.ready !== undefined) return ready(msg.ready);
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error) w?.reject(new Error(`${label}: ${msg.error}`));
    else w?.resolve(msg.result);
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  void exited.then(({ code, signal }) => {
    for (const w of waiting.values()) w.reject(new Error(`${label} exited (${code ?? signal})`));
    waiting.clear();
    ready(null);
  });
  return {
    ready: first,
    exited,
    call(cmd, args = {}, timeoutMs = 120_000) {
      const id = next++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${label}: ${cmd} timed out`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        child.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
      });
    },
  };
}

/**
 * The code each worker thread of a {@link ThreadPool} runs, as a source
 * string for `new Worker(source, { eval: true })`.
 *
 * Why a string and not a module file: the pool must work both from `src`
 * under vitest (which can load a `.ts` worker only through its own loader)
 * and from `dist` after a build. An eval'd bootstrap needs no file at all;
 * it `import()`s the user's module by URL, so user modules are plain
 * JavaScript ES modules.
 *
 * Messages, main → worker: `{ type: 'run', id, url, exportName, args }`.
 * Worker → main: `{ type: 'result', id, ok: true, value }`,
 * `{ type: 'result', id, ok: false, error }` (see {@link SerializedError}),
 * and `{ type: 'idle' }` when the worker has had nothing to do for
 * `workerData.idleTimeoutMs` (the pool then retires it unless it has just
 * sent it a job).
 *
 * @internal
 */

/** An error thrown in a worker, as it travels back to the main thread. */
export type SerializedError =
  | {
      isError: true;
      name: string;
      message: string;
      stack: string | undefined;
      /** Own enumerable properties with primitive values (`code`, `errno`...). */
      props: Record<string, string | number | boolean | null>;
      cause?: SerializedError;
    }
  | { isError: false; value: unknown };

/** @internal */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const idleTimeoutMs = workerData.idleTimeoutMs;
let idleTimer = null;

function armIdleTimer() {
  if (!(idleTimeoutMs >= 0) || idleTimeoutMs === Infinity) return;
  idleTimer = setTimeout(() => parentPort.postMessage({ type: 'idle' }), idleTimeoutMs);
}

function serializeError(e, depth) {
  if (!(e instanceof Error) && !(e !== null && typeof e === 'object' && typeof e.message === 'string' && typeof e.name === 'string')) {
    return { isError: false, value: e };
  }
  const props = {};
  for (const key of Object.keys(e)) {
    const v = e[key];
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') props[key] = v;
  }
  const out = { isError: true, name: String(e.name), message: String(e.message), stack: typeof e.stack === 'string' ? e.stack : undefined, props };
  if (e.cause !== undefined && depth < 8) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

function post(message) {
  try {
    parentPort.postMessage(message);
  } catch (e) {
    // The result (or a thrown value) cannot be structured-cloned.
    const what = message.ok ? 'the result' : 'the thrown value';
    parentPort.postMessage({
      type: 'result',
      id: message.id,
      ok: false,
      error: {
        isError: true,
        name: 'DataCloneError',
        message: what + ' of ' + message.exportName + ' cannot be sent back from the worker thread: ' + (e && e.message),
        stack: undefined,
        props: {},
      },
    });
  }
}

parentPort.on('message', async (job) => {
  if (job === null || typeof job !== 'object' || job.type !== 'run') return;
  if (idleTimer !== null) clearTimeout(idleTimer);
  idleTimer = null;
  let reply;
  try {
    const mod = await import(job.url);
    const fn = mod[job.exportName];
    if (typeof fn !== 'function') {
      throw new TypeError(job.url + ' has no exported function named ' + JSON.stringify(job.exportName));
    }
    const value = await fn(...job.args);
    reply = { type: 'result', id: job.id, exportName: job.exportName, ok: true, value };
  } catch (e) {
    reply = { type: 'result', id: job.id, exportName: job.exportName, ok: false, error: serializeError(e, 0) };
  }
  post(reply);
  armIdleTimer();
});
armIdleTimer();
`;

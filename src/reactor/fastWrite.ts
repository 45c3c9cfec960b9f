/**
 * Writing to sockets without Node's Writable bookkeeping when nothing is
 * queued (the transports of `./tcp.ts` use this for plain TCP and UNIX
 * sockets; TLS stays on streams).
 *
 * Why: `socket.write` runs the Writable machinery (argument checks, length
 * and callback bookkeeping), then `_writeGeneric`, then makes a new
 * `WriteWrap` request object (a call into C++ that instantiates an API
 * object) before the handle's write method is reached — on a WebSocket echo
 * server about a fifth of the user-space instructions per message. When the
 * Writable holds nothing, the same handle method can be called directly with
 * one request object reused for every write that completes at once (libuv
 * writes what it can synchronously, as Node's own path does); only a write
 * the kernel cannot take whole keeps its request object, and gets a fresh
 * one for the next write.
 *
 * Ordering: a direct write is made only when the Writable has nothing
 * buffered or in flight, and every write, direct or not, goes through the
 * same libuv stream, whose write queue is first in, first out: bytes leave in
 * `write` order whichever way they went. `end()` shuts the socket down
 * through libuv too, which waits for the queue (direct writes included) to
 * drain before sending FIN; `destroy()` cancels what is queued, as it does
 * for stream writes.
 *
 * This relies on Node internals (`process.binding('stream_wrap')`'s
 * `WriteWrap` and `streamBaseState`, the handle's `writeBuffer` /
 * `writeLatin1String` / `writeUtf8String` / `writev`, all what `net.Socket`
 * itself calls), so everything is feature-detected: anything missing, or
 * `--pending-deprecation` (under which `process.binding` warns), leaves
 * every socket on `socket.write`. The transport keeps the rest of the
 * contract itself (see `StreamTransport` in `./tcp.ts`): backpressure for a
 * direct write that did not complete at once, and a write error destroying
 * the socket as a failed stream write does.
 */
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** A request object of Node's stream handles (`WriteWrap`), with the fields we give it. */
export interface WriteRequest {
  /** Called by the handle (`this` = the request) when an asynchronous write is done; status < 0 is an error. */
  oncomplete: (this: WriteRequest, status: number) => void;
  /** Who to tell, and how, when the write completes (set only while one is pending). */
  owner: object | null;
  done: WriteDone | null;
  /** What the pending write reads from, kept alive until it is done (buffers are not copied). */
  buffer: unknown;
}

/** Called when a direct write that did not complete at once is done: `status` is 0 or a negative errno. */
export type WriteDone = (owner: object, status: number) => void;

/** The parts of a libuv stream handle (TCP or Pipe wrap) that writing needs. */
interface WritableHandle {
  writeBuffer(req: WriteRequest, data: Uint8Array): number;
  writeLatin1String(req: WriteRequest, data: string): number;
  writeUtf8String(req: WriteRequest, data: string): number;
  writev(req: WriteRequest, chunks: readonly Uint8Array[], allBuffers: boolean): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => object;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kBytesWritten: number;
}

/** `writeDirect`: written whole, at once. */
export const WRITTEN = 0;
/** `writeDirect`: accepted, the rest queued in libuv; `directWriteDone` follows. */
export const PENDING = 1;
/** `writeDirect`: not possible now (something is queued, no handle...): use `socket.write`. */
export const UNAVAILABLE = 2;
// Anything below 0 is a negative errno: the write failed at once.

let binding: StreamWrapBinding | null | undefined;
/**
 * The symbol under which a `net.Socket` keeps its handle: `socket._handle`
 * is a getter that reads it, shared by every socket in the process, whose
 * load of it turns megamorphic (hundreds of instructions per write); read
 * here, from one call site, it stays cheap. Found on the first socket,
 * checked against `_handle` on every one.
 */
let handleKey: symbol | null | undefined;
let state: Int32Array = new Int32Array(4);
let asyncIndex = 0;
let bytesIndex = 0;
let enabled = true;
/** The request object reused by every write that completes at once. */
let spare: WriteRequest | null = null;

function pendingDeprecation(): boolean {
  return (
    process.execArgv.includes('--pending-deprecation') ||
    (process.env['NODE_OPTIONS'] ?? '').includes('--pending-deprecation') ||
    process.env['NODE_PENDING_DEPRECATION'] === '1'
  );
}

function loadBinding(): StreamWrapBinding | null {
  if (pendingDeprecation()) return null;
  try {
    const b = (process as unknown as { binding(name: string): unknown }).binding('stream_wrap') as Partial<StreamWrapBinding>;
    if (
      typeof b.WriteWrap === 'function' &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kLastWriteWasAsync === 'number' &&
      typeof b.kBytesWritten === 'number' &&
      b.kLastWriteWasAsync < b.streamBaseState.length &&
      b.kBytesWritten < b.streamBaseState.length
    ) {
      state = b.streamBaseState;
      asyncIndex = b.kLastWriteWasAsync;
      bytesIndex = b.kBytesWritten;
      return b as StreamWrapBinding;
    }
  } catch {
    // No process.binding, or not this module: the stream path.
  }
  return null;
}

function onComplete(this: WriteRequest, status: number): void {
  const owner = this.owner;
  const done = this.done;
  this.owner = this.done = this.buffer = null;
  if (owner !== null && done !== null) done(owner, status);
}

function newRequest(b: StreamWrapBinding): WriteRequest {
  const req = new b.WriteWrap() as WriteRequest;
  req.oncomplete = onComplete;
  req.owner = null;
  req.done = null;
  req.buffer = null;
  return req;
}

/**
 * Turn direct writes on or off for transports made from now on; returns the
 * previous setting. Internal: the tests use it to run the stream path too.
 */
export function setFastWrites(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

type InternalSocket = net.Socket & {
  _handle?: unknown;
  _writableState?: { length?: unknown };
  [key: symbol]: unknown;
};

function findHandleKey(socket: InternalSocket): symbol | null {
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === 'kHandle' && socket[key] === socket._handle) return key;
  }
  return null;
}

/** Whether a transport made now over `socket` (a plain TCP or UNIX socket) may write directly. */
export function canWriteDirect(socket: net.Socket): boolean {
  if (!enabled) return false;
  if (binding === undefined) binding = loadBinding();
  if (binding === null) return false;
  const s = socket as InternalSocket;
  const h = s._handle;
  if (typeof h !== 'object' || h === null || typeof s._writableState?.length !== 'number') return false;
  if (handleKey === undefined) handleKey = findHandleKey(s);
  if (handleKey === null || s[handleKey] !== h) return false;
  const o = h as Record<string, unknown>;
  return (
    typeof o['writeBuffer'] === 'function' &&
    typeof o['writeLatin1String'] === 'function' &&
    typeof o['writeUtf8String'] === 'function' &&
    typeof o['writev'] === 'function'
  );
}

/**
 * The handle to write to directly, or null when the socket must take the
 * write itself: it has something buffered or in flight (ordering), it is
 * connecting, or it is gone.
 */
function idleHandle(socket: net.Socket): WritableHandle | null {
  // `_writableState.length` is what the `writableLength` getter reads (bytes buffered or in flight).
  const s = socket as InternalSocket & { _writableState: { length: number } };
  if (s._writableState.length !== 0 || s.connecting) return null;
  return s[handleKey!] as WritableHandle | null;
}

/** Finish a direct write: which of WRITTEN, PENDING or a negative errno it was. */
function outcome(req: WriteRequest, err: number, owner: object, done: WriteDone, keep: unknown): number {
  if (state[asyncIndex] !== 0) {
    // The handle holds the request until the rest is written: it is that write's now.
    spare = null;
    req.owner = owner;
    req.done = done;
    // The caller's array may change once we return: keep the buffers themselves.
    req.buffer = Array.isArray(keep) ? keep.slice() : keep;
    return PENDING;
  }
  return err === 0 ? WRITTEN : err < 0 ? err : -1;
}

/**
 * Write `data` (a Buffer/Uint8Array, or a string in `encoding`) straight to
 * the socket's handle if nothing is queued ahead of it. Only for sockets
 * `canWriteDirect` accepted. Returns WRITTEN, PENDING (`done(owner, status)`
 * is called when the rest is written), UNAVAILABLE (nothing was done: use `socket.write`),
 * or a negative errno (nothing more will be written: the socket must be
 * destroyed with {@link writeError}).
 */
export function writeDirect(
  socket: net.Socket,
  data: Uint8Array | string,
  encoding: 'latin1' | 'utf8' | null,
  owner: object,
  done: WriteDone,
): number {
  const handle = idleHandle(socket);
  if (handle === null) return UNAVAILABLE;
  const req = (spare ??= newRequest(binding!));
  let err: number;
  if (typeof data !== 'string') err = handle.writeBuffer(req, data);
  else if (encoding === 'latin1') err = handle.writeLatin1String(req, data);
  else err = handle.writeUtf8String(req, data);
  return outcome(req, err, owner, done, typeof data === 'string' ? null : data);
}

/** `writeDirect` for several buffers in one system call (`writev`). */
export function writevDirect(socket: net.Socket, chunks: readonly Uint8Array[], owner: object, done: WriteDone): number {
  const handle = idleHandle(socket);
  if (handle === null) return UNAVAILABLE;
  const req = (spare ??= newRequest(binding!));
  return outcome(req, handle.writev(req, chunks, true), owner, done, chunks);
}

/** The bytes of the last direct write that returned PENDING (for backpressure). */
export function pendingBytes(): number {
  return state[bytesIndex]!;
}

/** The error a failed write gives, as Node's own ("write EPIPE", with `errno`, `code`, `syscall`). */
export function writeError(errno: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `Unknown system error ${errno}`;
  }
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.errno = errno;
  err.code = code;
  err.syscall = 'write';
  return err;
}

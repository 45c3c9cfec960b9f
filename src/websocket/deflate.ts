/**
 * permessage-deflate compression (RFC 7692 §7.2) on top of `node:zlib`: one raw deflate stream
 * per direction per connection, the `00 00 ff ff` tail handling, context takeover rules, a cap
 * on inflated size checked as zlib produces output, and a process-wide concurrency limit
 * (see `setZlibConcurrency`).
 *
 * @module
 */
import zlib, { type DeflateRaw, type InflateRaw } from 'node:zlib';
import { Deferred, fail } from '../defer/deferred.js';
import { CancelledError } from '../defer/errors.js';
import type { Failure } from '../defer/failure.js';
import type { DeferredSemaphore } from '../defer/primitives.js';
import { CloseCode, DEFAULT_MAX_MESSAGE_SIZE } from './constants.js';
import { MIN_COMPRESS_WINDOW_BITS, type DeflateConfig } from './deflate-negotiation.js';
import { WebSocketProtocolError } from './errors.js';
import { Utf8Validator } from './utf8.js';
import { zlibSemaphore } from './zlib-limiter.js';

/** Default {@link PerMessageDeflateOptions.threshold}: messages under 1 KiB go out uncompressed. */
export const DEFAULT_DEFLATE_THRESHOLD = 1024;

/** Default {@link PerMessageDeflateOptions.maxInflatedSize}: 16 MiB, like the message size cap. */
export const DEFAULT_MAX_INFLATED_SIZE = DEFAULT_MAX_MESSAGE_SIZE;

/** Options of a {@link PerMessageDeflate}. */
export interface PerMessageDeflateOptions {
  /**
   * Messages shorter than this many bytes should be sent uncompressed (see
   * {@link PerMessageDeflate.shouldCompress}): for small payloads the deflate overhead and the
   * thread-pool round trip cost more than they save. Default 1024; `0` compresses everything.
   */
  threshold?: number;
  /**
   * Largest inflated size of one received message, summed over all its `decompress` calls up to
   * `fin`. Checked as zlib produces output, so a decompression bomb is stopped after at most
   * this much (plus one 16 KiB zlib chunk) has been produced; exceeding it fails with close code
   * 1009. Default {@link DEFAULT_MAX_INFLATED_SIZE} (16 MiB); `Infinity` disables.
   */
  maxInflatedSize?: number;
  /** zlib compression level, -1 (zlib's default, 6) to 9. Default -1. */
  level?: number;
  /** zlib memory level, 1 to 9: more memory, faster and better compression. Default 8. */
  memLevel?: number;
}

/**
 * The operation could not complete because {@link PerMessageDeflate.close} was called (before
 * or while it ran), or was started after it.
 */
export class DeflateClosedError extends Error {
  constructor(message = 'permessage-deflate context closed') {
    super(message);
    this.name = 'DeflateClosedError';
  }
}

// RFC 7692 §7.2.1/§7.2.2: a sync flush ends with this empty stored block; the sender strips
// it from each message and the receiver puts it back before inflating.
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const COMPRESS = 0;
const DECOMPRESS = 1;

interface Operation {
  readonly kind: typeof COMPRESS | typeof DECOMPRESS;
  readonly data: Uint8Array;
  readonly fin: boolean;
  /** decompressText: validate the output as UTF-8. */
  readonly text: boolean;
  readonly result: Deferred<Buffer>;
  /** Set while waiting for a slot of the process-wide limit. */
  acquiring: Deferred<DeferredSemaphore> | null;
  /** The semaphore the slot came from, while it is held. */
  slot: DeferredSemaphore | null;
  chunks: Buffer[];
  size: number;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
}

function concat(chunks: Buffer[], size: number): Buffer {
  // One exact-size copy: zlib's chunks are views into its 16 KiB output blocks, which a
  // queued message would otherwise keep alive.
  return size === 0 ? Buffer.alloc(0) : Buffer.concat(chunks, size);
}

function endsWithTrailer(b: Buffer): boolean {
  const n = b.length;
  return n >= 4 && b[n - 4] === 0x00 && b[n - 3] === 0x00 && b[n - 2] === 0xff && b[n - 1] === 0xff;
}

/**
 * permessage-deflate for one connection, from one side's point of view: compresses the
 * messages we send and decompresses the ones we receive, with the parameters agreed in the
 * handshake (build `config` with `deflateConfigFor(params, role)`).
 *
 * - **Order.** Every call on an instance is queued and served one at a time in call order, so
 *   results fire in call order and the shared compression context sees messages in the order
 *   they go out. Calls may be made without waiting for earlier ones.
 * - **Process-wide limit.** Each operation holds one slot of a process-wide
 *   `DeferredSemaphore` while zlib works (default 10 slots, `setZlibConcurrency`), so
 *   thousands of connections compressing at once do not fragment the native heap.
 * - **Context takeover.** Without `*_no_context_takeover` for a direction its zlib stream is
 *   kept across messages; with it, the stream is reset after each message (`fin`).
 * - **Failures.** A decompression failure (1007 corrupt data or invalid UTF-8, 1009 too big)
 *   means the connection must be failed (RFC 6455 §7.1.7): every later `decompress` on the
 *   instance, including ones already queued, fails with the same error. Compression
 *   failures (zlib internal errors; not expected) likewise poison `compress`.
 * - **Cancellation.** Cancelling a queued call removes it. Cancelling one zlib is working on
 *   fails it at once with `CancelledError`; zlib finishes in the background and its output is
 *   dropped (a compressor is then reset, so later messages never refer to bytes the peer did
 *   not get).
 * - **Lifetime.** zlib streams are created on first use; {@link PerMessageDeflate.close}
 *   releases them and fails whatever is pending with {@link DeflateClosedError}. Always close
 *   when the connection ends.
 *
 * Ownership: zlib reads `data` asynchronously; do not modify it until the Deferred fires.
 *
 * @example
 * ```ts
 * const agreed = negotiatePerMessageDeflate(parseExtensions(offerHeader)!, {});
 * const deflate = new PerMessageDeflate(deflateConfigFor(agreed!.params, 'server'));
 *
 * // Sending: compress big messages, set RSV1 on their first frame.
 * if (deflate.shouldCompress(payload.byteLength)) {
 *   deflate.compress(payload).addCallback((body) => {
 *     transport.writeSequence(encodeFrame(Opcode.Text, body, { rsv1: true }));
 *   });
 * }
 *
 * // Receiving a message the parser reported with compressed = true:
 * deflate.decompressText(data).addCallbacks(
 *   (text) => app.onText(text.toString('utf8')),
 *   (f) => failConnection(f.value instanceof WebSocketProtocolError ? f.value.closeCode : 1011),
 * );
 *
 * // When the connection is gone:
 * deflate.close();
 * ```
 */
export class PerMessageDeflate {
  /** The agreed parameters, from our side. */
  readonly config: DeflateConfig;
  /** See {@link PerMessageDeflateOptions.threshold}. */
  readonly threshold: number;
  /** See {@link PerMessageDeflateOptions.maxInflatedSize}. */
  readonly maxInflatedSize: number;
  private readonly level: number;
  private readonly memLevel: number;

  private readonly queue: Operation[] = [];
  private current: Operation | null = null;
  private isClosed = false;
  private deflater: DeflateRaw | null = null;
  private inflater: InflateRaw | null = null;
  /** Bytes written to the current inflater: more than it consumed means its stream ended. */
  private inflaterInput = 0;
  // State of the message being received.
  private messageInflated = 0;
  /** The deflate stream ended (a BFINAL block) before the message did: the rest is ignored. */
  private messageEnded = false;
  private validator: Utf8Validator | null = null;
  private compressFailure: Error | null = null;
  private decompressFailure: WebSocketProtocolError | null = null;

  /**
   * @param config one side's view of the agreement (`deflateConfigFor(params, role)`).
   * @throws RangeError when `config.compressWindowBits` is outside 9–15 (zlib cannot produce
   *   8-bit windows), `config.decompressWindowBits` outside 8–15, or an option is invalid.
   */
  constructor(config: DeflateConfig, options: PerMessageDeflateOptions = {}) {
    checkInteger('compressWindowBits', config.compressWindowBits, MIN_COMPRESS_WINDOW_BITS, 15);
    checkInteger('decompressWindowBits', config.decompressWindowBits, 8, 15);
    const threshold = options.threshold ?? DEFAULT_DEFLATE_THRESHOLD;
    if (!(threshold >= 0)) throw new RangeError('threshold must be a number ≥ 0');
    const maxInflatedSize = options.maxInflatedSize ?? DEFAULT_MAX_INFLATED_SIZE;
    if (!(maxInflatedSize > 0)) throw new RangeError('maxInflatedSize must be a number > 0');
    const level = options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
    checkInteger('level', level, -1, 9);
    const memLevel = options.memLevel ?? zlib.constants.Z_DEFAULT_MEMLEVEL;
    checkInteger('memLevel', memLevel, 1, 9);
    this.config = { ...config };
    this.threshold = threshold;
    this.maxInflatedSize = maxInflatedSize;
    this.level = level;
    this.memLevel = memLevel;
  }

  /** Whether {@link PerMessageDeflate.close} has been called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Operations queued or running on this instance. */
  get pending(): number {
    return this.queue.length + (this.current === null ? 0 : 1);
  }

  /**
   * Whether a message of `byteLength` bytes is worth compressing: `byteLength >= threshold`.
   * For a fragmented message decide once, from the first fragment (RSV1 is per message).
   */
  shouldCompress(byteLength: number): boolean {
    return byteLength >= this.threshold;
  }

  /**
   * Compress (the next part of) a message we send.
   *
   * The bytes are deflated with our negotiated window and sync-flushed, so the result can be
   * sent as one frame's payload right away. With `fin` (the message's last part) the trailing
   * `00 00 ff ff` is removed (RFC 7692 §7.2.1) and, under `*_no_context_takeover` for our
   * direction, the compressor is reset. For a fragmented message, call with `fin = false` for
   * each part but the last; only the first frame carries RSV1.
   *
   * @returns a Deferred firing with the payload, in call order with the instance's other
   *   operations. It fails with {@link DeflateClosedError} after {@link PerMessageDeflate.close},
   *   with `CancelledError` when cancelled, or with zlib's error (not expected).
   */
  compress(data: Uint8Array, fin = true): Deferred<Buffer> {
    return this.enqueue(COMPRESS, data, fin, false);
  }

  /**
   * Decompress (the next part of) a received message: the payload of a frame of a message that
   * had RSV1 set, as the parser hands it out. With `fin` (the message's last part) `00 00 ff ff`
   * is appended before inflating (RFC 7692 §7.2.2) and, under `*_no_context_takeover` for the
   * peer's direction, the decompressor is reset afterwards.
   *
   * Output is not checked as UTF-8; for text messages use {@link PerMessageDeflate.decompressText}.
   * Data after a final (BFINAL) deflate block is ignored, as zlib does; the next message then
   * starts a new decompressor.
   *
   * @returns a Deferred firing with the inflated bytes of this part, in call order. It fails
   *   with a {@link WebSocketProtocolError}: closeCode 1009 (`WS_ERR_MESSAGE_TOO_BIG`) as soon
   *   as the message's inflated size exceeds `maxInflatedSize`; 1007
   *   (`WS_ERR_INVALID_COMPRESSED_DATA`) when zlib rejects the data. Also
   *   {@link DeflateClosedError} and `CancelledError`, as for `compress`.
   */
  decompress(data: Uint8Array, fin = true): Deferred<Buffer> {
    return this.enqueue(DECOMPRESS, data, fin, false);
  }

  /**
   * {@link PerMessageDeflate.decompress} for a text message: also validates the inflated bytes
   * as UTF-8 while zlib produces them, failing with closeCode 1007 (`WS_ERR_INVALID_UTF8`) at the
   * first chunk holding an invalid byte (inflation stops there), or at `fin` when the text ends
   * inside a code point. The validator state carries across the message's calls: use this
   * method for every part of a text message.
   */
  decompressText(data: Uint8Array, fin = true): Deferred<Buffer> {
    return this.enqueue(DECOMPRESS, data, fin, true);
  }

  /**
   * Release the zlib streams and fail every queued or running operation with
   * {@link DeflateClosedError} (in call order); later calls fail the same way. A slot of the
   * process-wide limit held or awaited by this instance is given back. Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.discardDeflater();
    this.discardInflater();
    const ops = this.queue.splice(0);
    const current = this.current;
    this.current = null;
    if (current !== null) {
      ops.unshift(current);
      this.giveBackSlot(current);
    }
    for (const op of ops) {
      if (!op.result.called) op.result.errback(new DeflateClosedError());
    }
  }

  private enqueue(kind: Operation['kind'], data: Uint8Array, fin: boolean, text: boolean): Deferred<Buffer> {
    if (this.isClosed) return fail<Buffer>(new DeflateClosedError());
    const result = new Deferred<Buffer>(() => this.cancel(op));
    const op: Operation = { kind, data, fin, text, result, acquiring: null, slot: null, chunks: [], size: 0 };
    this.queue.push(op);
    this.pump();
    return op.result;
  }

  /** Start the next queued operation unless one is running. Re-entrant safe. */
  private pump(): void {
    while (this.current === null && !this.isClosed) {
      const op = this.queue.shift();
      if (op === undefined) return;
      // Settled without zlib, in queue order: a poisoned direction, or the rest of a message
      // whose deflate stream already ended.
      const failure = op.kind === COMPRESS ? this.compressFailure : this.decompressFailure;
      if (failure !== null) {
        op.result.errback(failure);
        continue;
      }
      if (op.kind === DECOMPRESS && this.messageEnded) {
        if (op.fin) {
          const error = this.endMessage(op.text);
          if (error !== null) {
            this.decompressFailure = error;
            op.result.errback(error);
            continue;
          }
        }
        op.result.callback(Buffer.alloc(0));
        continue;
      }
      this.current = op;
      const acquiring = zlibSemaphore().acquire();
      op.acquiring = acquiring;
      acquiring.addCallbacks(
        (slot: DeferredSemaphore) => {
          op.acquiring = null;
          if (this.current !== op) slot.release();
          else this.begin(op, slot);
          return undefined;
        },
        (f: Failure) => {
          // Only cancellation (close() or cancel()) fails an acquisition.
          f.trap(CancelledError);
          return undefined;
        },
      );
    }
  }

  private begin(op: Operation, slot: DeferredSemaphore): void {
    op.slot = slot;
    if (op.kind === COMPRESS) {
      const stream = this.deflater ?? this.openDeflater();
      if (op.data.length > 0) stream.write(op.data);
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => this.compressed(stream, op));
    } else {
      const stream = this.inflater ?? this.openInflater();
      if (op.data.length > 0) {
        stream.write(op.data);
        this.inflaterInput += op.data.length;
      }
      if (op.fin) {
        stream.write(TRAILER);
        this.inflaterInput += TRAILER.length;
      }
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => this.decompressed(stream, op));
    }
  }

  /** Settle the running operation, give its slot back, and move on to the next. */
  private finish(op: Operation, result: Buffer | Error): void {
    if (this.current !== op) return;
    this.current = null;
    this.giveBackSlot(op);
    if (!op.result.called) {
      if (result instanceof Error) op.result.errback(result);
      else op.result.callback(result);
    }
    this.pump();
  }

  private giveBackSlot(op: Operation): void {
    const acquiring = op.acquiring;
    const slot = op.slot;
    op.acquiring = null;
    op.slot = null;
    if (acquiring !== null) acquiring.cancel();
    if (slot !== null) slot.release();
  }

  private cancel(op: Operation): void {
    const i = this.queue.indexOf(op);
    if (i !== -1) {
      this.queue.splice(i, 1);
      return;
    }
    if (this.current === op && op.acquiring !== null) {
      // Still waiting for a slot: nothing was given to zlib, so just leave the line. Fire
      // CancelledError before the next operation starts, to keep results in call order.
      this.current = null;
      this.giveBackSlot(op);
      op.result.errback(new CancelledError());
      this.pump();
    }
    // Otherwise zlib is working on it: the Deferred fails now and the output is dropped later.
  }

  private openDeflater(): DeflateRaw {
    const stream = zlib.createDeflateRaw({
      windowBits: this.config.compressWindowBits,
      level: this.level,
      memLevel: this.memLevel,
    });
    stream.on('data', (chunk: Buffer) => {
      const op = this.current;
      if (stream !== this.deflater || op === null || op.kind !== COMPRESS) return;
      op.chunks.push(chunk);
      op.size += chunk.length;
    });
    stream.on('error', (err: Error) => {
      if (stream !== this.deflater) return;
      this.discardDeflater();
      this.compressFailure = err;
      const op = this.current;
      if (op !== null && op.kind === COMPRESS) this.finish(op, err);
    });
    this.deflater = stream;
    return stream;
  }

  private openInflater(): InflateRaw {
    // A decompressor may always use a larger window than the peer's; zlib needs at least 9.
    const stream = zlib.createInflateRaw({ windowBits: Math.max(MIN_COMPRESS_WINDOW_BITS, this.config.decompressWindowBits) });
    stream.on('data', (chunk: Buffer) => this.inflated(stream, chunk));
    stream.on('error', (err: Error) => {
      if (stream !== this.inflater) return;
      this.decompressFailed(
        new WebSocketProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', CloseCode.InvalidPayload, `invalid compressed data: ${err.message}`),
      );
    });
    this.inflater = stream;
    this.inflaterInput = 0;
    return stream;
  }

  private discardDeflater(): void {
    const stream = this.deflater;
    this.deflater = null;
    // destroy() frees the native zlib state now (or as soon as a running chunk returns);
    // callbacks that arrive later see a stream that is no longer ours and are ignored.
    if (stream !== null) stream.destroy();
  }

  private discardInflater(): void {
    const stream = this.inflater;
    this.inflater = null;
    if (stream !== null) stream.destroy();
  }

  /** Output produced before the flush callback (zlib emits 'data' synchronously in flowing mode). */
  private drain(stream: DeflateRaw | InflateRaw): void {
    // Defensive: should a chunk ever sit in the readable buffer, read() emits it as 'data'.
    while (stream.readableLength > 0 && stream.read() !== null);
  }

  private compressed(stream: DeflateRaw, op: Operation): void {
    if (stream !== this.deflater || this.current !== op) return;
    this.drain(stream);
    let out = concat(op.chunks, op.size);
    op.chunks = [];
    if (op.fin) {
      if (endsWithTrailer(out)) out = out.subarray(0, out.length - TRAILER.length);
      // zlib emits nothing for a flush with no new input since the last one; the peer appends
      // 00 00 ff ff, so send the one octet that completes an empty stored block (§7.2.3.6).
      if (out.length === 0) out = Buffer.of(0x00);
    }
    // After a cancelled operation the peer never gets this output: forget it by resetting.
    if (op.result.called || (op.fin && this.config.compressNoContextTakeover)) stream.reset();
    this.finish(op, out);
  }

  private inflated(stream: InflateRaw, chunk: Buffer): void {
    const op = this.current;
    if (stream !== this.inflater || op === null || op.kind !== DECOMPRESS) return;
    this.messageInflated += chunk.length;
    if (this.messageInflated > this.maxInflatedSize) {
      this.decompressFailed(
        new WebSocketProtocolError(
          'WS_ERR_MESSAGE_TOO_BIG',
          CloseCode.MessageTooBig,
          `inflated message exceeds ${this.maxInflatedSize} bytes`,
        ),
      );
      return;
    }
    if (op.text) {
      const validator = (this.validator ??= new Utf8Validator());
      if (validator.write(chunk) !== -1) {
        this.decompressFailed(
          new WebSocketProtocolError('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'invalid UTF-8 in a compressed text message'),
        );
        return;
      }
    }
    op.chunks.push(chunk);
    op.size += chunk.length;
  }

  private decompressed(stream: InflateRaw, op: Operation): void {
    if (stream !== this.inflater || this.current !== op) return;
    this.drain(stream);
    if (stream !== this.inflater) return; // the drained output broke a limit
    // zlib stops consuming input at the end of a final block; Node then ends the stream.
    const streamEnded = stream.bytesWritten < this.inflaterInput;
    const out = concat(op.chunks, op.size);
    op.chunks = [];
    if (op.fin) {
      const error = this.endMessage(op.text);
      if (error !== null) {
        this.decompressFailed(error);
        return;
      }
      if (streamEnded) this.discardInflater();
      else if (this.config.decompressNoContextTakeover) stream.reset();
    } else if (streamEnded) {
      this.messageEnded = true;
      this.discardInflater();
    }
    this.finish(op, out);
  }

  /** Forget the received message's state; for text, whether it ended inside a code point. */
  private endMessage(text: boolean): WebSocketProtocolError | null {
    const truncated = text && this.validator !== null && !this.validator.end();
    this.messageInflated = 0;
    this.messageEnded = false;
    this.validator?.reset();
    return truncated
      ? new WebSocketProtocolError('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'compressed text message ends inside a UTF-8 sequence')
      : null;
  }

  private decompressFailed(error: WebSocketProtocolError): void {
    this.decompressFailure = error;
    this.discardInflater();
    this.endMessage(false);
    const op = this.current;
    if (op !== null && op.kind === DECOMPRESS) this.finish(op, error);
  }
}

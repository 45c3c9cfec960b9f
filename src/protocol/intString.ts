/**
 * Length-prefixed strings: a big-endian unsigned integer of 1, 2 or 4 bytes,
 * then that many bytes (Twisted's Int8/Int16/Int32StringReceiver).
 */
import type { IPushProducer } from '../reactor/interfaces.js';
import { ByteQueue, toBytes } from './byteQueue.js';
import { StringTooLongError } from './errors.js';
import { Protocol } from './protocol.js';

const EMPTY = new Uint8Array(0);

/**
 * The base of the length-prefixed receivers; use `Int32StringReceiver`,
 * `Int16StringReceiver` or `Int8StringReceiver`.
 *
 * - Each string goes to `stringReceived` as a fresh `Buffer`.
 * - A prefix above `MAX_LENGTH` (99999 by default) calls
 *   `lengthLimitExceeded(length)` before the payload is read; the default
 *   closes the connection. Either way the receiver then discards its buffer
 *   and ignores all later input (`limitExceeded` is set), so an override
 *   that keeps the connection open cannot make memory grow.
 * - `sendString` writes the prefix and the bytes in one `write`;
 *   @throws {@link StringTooLongError} when `length >= 2 ** (8 * prefixLength)`.
 * - It is a push producer: `pauseProducing` stops delivery (and the
 *   transport's reading); `resumeProducing` delivers what was buffered.
 * - It is re-entrancy safe (a `dataReceived` from a callback only buffers).
 *
 * @example
 * ```ts
 * class Echo extends Int32StringReceiver {
 *   override stringReceived(s: Buffer): void { this.sendString(s); }
 * }
 * // sendString('foo') writes 00 00 00 03 66 6f 6f
 * ```
 */
export abstract class IntNStringReceiver extends Protocol implements IPushProducer {
  /** Bytes in the length prefix: 1, 2 or 4. */
  abstract readonly prefixLength: 1 | 2 | 4;
  /** The longest string accepted, in bytes. */
  MAX_LENGTH = 99999;
  /** True while paused by `pauseProducing`/`stopProducing`. */
  paused = false;
  /** True once a prefix exceeded `MAX_LENGTH`: later input is ignored. */
  limitExceeded = false;

  private readonly buffer = new ByteQueue();
  private busyReceiving = false;

  /** A complete string arrived (prefix removed). */
  abstract stringReceived(data: Buffer): void;

  /** A prefix announced `length` > `MAX_LENGTH` bytes; the default closes the connection. */
  lengthLimitExceeded(length: number): void {
    this.transport.loseConnection();
  }

  /**
   * Write `data` with its length prefix (a string is encoded as UTF-8).
   * @throws StringTooLongError when the prefix cannot represent the length.
   */
  sendString(data: Uint8Array | string): void {
    const payload = toBytes(data);
    const limit = 2 ** (8 * this.prefixLength);
    if (payload.length >= limit) throw new StringTooLongError(payload.length, limit);
    const prefix = Buffer.allocUnsafe(this.prefixLength);
    prefix.writeUIntBE(payload.length, 0, this.prefixLength);
    this.transport.write(Buffer.concat([prefix, payload]));
  }

  /** Buffer `data` and deliver every string it completes (ignored once the limit was exceeded). */
  override dataReceived(data: Uint8Array): void {
    if (this.limitExceeded) return;
    this.buffer.push(data);
    if (this.busyReceiving) return;
    this.busyReceiving = true;
    try {
      this.consume();
    } finally {
      this.busyReceiving = false;
    }
  }

  /** Stop delivering (and stop the transport reading) until `resumeProducing`. */
  pauseProducing(): void {
    this.paused = true;
    this.transport.pauseProducing();
  }

  /** Resume the transport and deliver what was buffered while paused. */
  resumeProducing(): void {
    this.paused = false;
    this.transport.resumeProducing();
    this.dataReceived(EMPTY);
  }

  /** Stop for good: nothing more is delivered; the transport stops reading. */
  stopProducing(): void {
    this.paused = true;
    this.transport.stopProducing();
  }

  private consume(): void {
    const buffer = this.buffer;
    const n = this.prefixLength;
    while (buffer.length >= n && !this.paused && !this.limitExceeded) {
      const length = buffer.view(0, n).readUIntBE(0, n);
      if (length > this.MAX_LENGTH) {
        this.limitExceeded = true;
        this.buffer.clear();
        this.lengthLimitExceeded(length);
        return;
      }
      if (buffer.length < n + length) return;
      buffer.skip(n);
      this.stringReceived(buffer.take(length));
    }
  }
}

/** Strings prefixed by a 32-bit big-endian unsigned length ("!I"). */
export abstract class Int32StringReceiver extends IntNStringReceiver {
  readonly prefixLength = 4;
}

/** Strings prefixed by a 16-bit big-endian unsigned length ("!H"). */
export abstract class Int16StringReceiver extends IntNStringReceiver {
  readonly prefixLength = 2;
}

/** Strings prefixed by an 8-bit unsigned length ("!B"). */
export abstract class Int8StringReceiver extends IntNStringReceiver {
  readonly prefixLength = 1;
}

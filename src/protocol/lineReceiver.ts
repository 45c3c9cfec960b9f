/**
 * Line framing: LineReceiver (lines, with a raw mode) and LineOnlyReceiver
 * (lines only), with Twisted's semantics (twisted.protocols.basic).
 */
import type { IPushProducer } from '../reactor/interfaces.js';
import { ByteQueue, toBytes } from './byteQueue.js';
import { Protocol } from './protocol.js';

const EMPTY = new Uint8Array(0);

/**
 * A protocol that receives lines and/or raw data, depending on its mode.
 *
 * In line mode (the default) each complete line, without its `delimiter`
 * (`\r\n` by default), goes to `lineReceived`. After `setRawMode()`, the bytes
 * go to `rawDataReceived` as they come, until `setLineMode(extra?)`.
 *
 * Limits — `MAX_LENGTH` (16384) bytes per line:
 * - a delimited line longer than `MAX_LENGTH` (exactly `MAX_LENGTH` is fine)
 *   calls `lineLengthExceeded(line + delimiter + rest of the buffer)`;
 * - a buffer without a delimiter reaching `MAX_LENGTH + delimiter.length`
 *   bytes calls `lineLengthExceeded(whole buffer)` (the extra bytes let a
 *   maximal line's delimiter arrive split across chunks);
 * - in both cases the buffer is emptied first; the default
 *   `lineLengthExceeded` closes the connection. An override that keeps the
 *   connection may hand back bytes to parse with `setLineMode(extra)`: they
 *   are processed in the same call (Twisted leaves them for the next one).
 *
 * Processing of the buffer stops when:
 * - `lineReceived` (or `rawDataReceived`) returns a truthy value — which
 *   `dataReceived` returns (Twisted's way to say "drop the connection");
 *   the rest stays buffered;
 * - `transport.disconnecting` is true (before each line: lines after a
 *   `loseConnection()` are never delivered, however the input was split);
 * - the receiver is paused (`pauseProducing`); `resumeProducing` processes
 *   what is buffered.
 *
 * Switching mode inside a callback takes effect for the rest of the buffer
 * in the same `dataReceived` call: `setRawMode()` in `lineReceived` sends the
 * remaining bytes to `rawDataReceived`. `setLineMode(extra)` from
 * `rawDataReceived` re-parses `extra` as lines (do not pass `extra` from
 * `lineReceived`: the rest of the buffer is parsed anyway).
 *
 * It is re-entrancy safe: `dataReceived` called from inside a callback only
 * buffers; the outer call processes the bytes after the callback returns.
 *
 * Lines and raw chunks are fresh `Buffer`s the callee may keep.
 *
 * @example
 * ```ts
 * class Shout extends LineReceiver {
 *   override lineReceived(line: Buffer): void {
 *     if (line.toString() === 'quit') this.transport.loseConnection();
 *     else this.sendLine(line.toString().toUpperCase());
 *   }
 * }
 * ```
 */
export abstract class LineReceiver extends Protocol implements IPushProducer {
  /** What ends a line (a string is encoded as UTF-8). */
  delimiter: Uint8Array | string = '\r\n';
  /** The longest line accepted, in bytes, delimiter excluded. */
  MAX_LENGTH = 16384;
  /** True in line mode, false in raw mode. */
  lineMode = true;
  /** True while paused by `pauseProducing`/`stopProducing`. */
  paused = false;

  private readonly buffer = new ByteQueue();
  private busyReceiving = false;
  // Bytes already searched for the delimiter (so byte-at-a-time input is not rescanned).
  private scanned = 0;
  private scannedFor: Buffer | null = null;
  // The delimiter as bytes, recomputed only when `delimiter` is changed.
  private delimiterFrom: Uint8Array | string | null = null;
  private delimiterBytes: Buffer = Buffer.alloc(0);

  /** A complete line arrived (without its delimiter). Return a truthy value to stop processing. */
  abstract lineReceived(line: Buffer): unknown;

  /**
   * Raw-mode bytes arrived. Return a truthy value to stop processing.
   * @throws Error unless overridden: a subclass using raw mode must implement it.
   */
  rawDataReceived(data: Buffer): unknown {
    throw new Error(`${this.constructor.name} must override rawDataReceived to use raw mode`);
  }

  /**
   * A line exceeded `MAX_LENGTH`. `line` is the rest of the buffer, starting
   * with (part of) the long line: it may hold more than one line, or only the
   * start of one. The default closes the connection.
   */
  lineLengthExceeded(line: Buffer): unknown {
    this.transport.loseConnection();
    return undefined;
  }

  /** Write `line` followed by the delimiter (a string is encoded as UTF-8). */
  sendLine(line: Uint8Array | string): void {
    this.transport.write(Buffer.concat([toBytes(line), this.currentDelimiter()]));
  }

  /** Empty the buffer, returning what it held (callable from inside `lineReceived`). */
  clearLineBuffer(): Buffer {
    this.resetScan();
    return this.buffer.takeAll();
  }

  /** Deliver everything that arrives from now on to `rawDataReceived`. */
  setRawMode(): void {
    this.lineMode = false;
  }

  /**
   * Back to line mode; `extra` (unprocessed bytes a raw-mode handler got) is
   * parsed for lines first. Returns what `dataReceived` returned for it.
   */
  setLineMode(extra: Uint8Array = EMPTY): unknown {
    this.lineMode = true;
    if (extra.byteLength > 0) return this.dataReceived(extra);
    return undefined;
  }

  /**
   * Buffer `data` and deliver every complete line (or raw chunk) it
   * completes. Returns the truthy value a callback returned to stop, if any.
   */
  override dataReceived(data: Uint8Array): unknown {
    this.buffer.push(data);
    if (this.busyReceiving) return undefined;
    this.busyReceiving = true;
    try {
      return this.processBuffer();
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

  private processBuffer(): unknown {
    const buffer = this.buffer;
    while (buffer.length > 0 && !this.paused && !this.transport?.disconnecting) {
      if (!this.lineMode) {
        this.resetScan();
        const why = this.rawDataReceived(buffer.takeAll());
        if (why) return why;
        continue;
      }
      const delimiter = this.currentDelimiter();
      const at = this.findDelimiter(delimiter);
      if (at === -1) {
        if (buffer.length < this.MAX_LENGTH + delimiter.length) return undefined;
        this.resetScan();
        const why = this.lineLengthExceeded(buffer.takeAll());
        if (why) return why;
        continue;
      }
      this.resetScan();
      if (at > this.MAX_LENGTH) {
        const why = this.lineLengthExceeded(buffer.takeAll());
        if (why) return why;
        continue;
      }
      const line = buffer.take(at);
      buffer.skip(delimiter.length);
      const why = this.lineReceived(line);
      if (why) return why;
    }
    return undefined;
  }

  private currentDelimiter(): Buffer {
    if (this.delimiter !== this.delimiterFrom) {
      this.delimiterFrom = this.delimiter;
      this.delimiterBytes = Buffer.from(toBytes(this.delimiter));
    }
    return this.delimiterBytes;
  }

  private findDelimiter(delimiter: Buffer): number {
    if (this.scannedFor !== delimiter) {
      this.scannedFor = delimiter;
      this.scanned = 0;
    }
    const from = Math.max(0, this.scanned - delimiter.length + 1);
    const at = this.buffer.indexOf(delimiter, from);
    this.scanned = at === -1 ? this.buffer.length : 0;
    return at;
  }

  private resetScan(): void {
    this.scanned = 0;
  }
}

/**
 * A faster line receiver without raw mode, pausing or re-entrancy guard:
 * each `dataReceived` splits the buffer into lines and delivers them.
 *
 * - Lines after one that made `transport.disconnecting` true are dropped.
 * - A line longer than `MAX_LENGTH` calls `lineLengthExceeded(line)` and
 *   drops the rest of the chunk; an unterminated remainder longer than
 *   `MAX_LENGTH` calls `lineLengthExceeded(remainder)`. In both cases the
 *   buffer is emptied (Twisted keeps it; emptying keeps memory bounded when
 *   an override does not disconnect). The default closes the connection.
 * - `sendLine` writes the line and the delimiter with one `writeSequence`.
 */
export abstract class LineOnlyReceiver extends Protocol {
  /** What ends a line (a string is encoded as UTF-8). */
  delimiter: Uint8Array | string = '\r\n';
  /** The longest line accepted, in bytes, delimiter excluded. */
  MAX_LENGTH = 16384;

  private buffer: Buffer = Buffer.alloc(0);

  /** A complete line arrived (without its delimiter). */
  abstract lineReceived(line: Buffer): void;

  /** A line exceeded `MAX_LENGTH`; the default closes the connection. */
  lineLengthExceeded(line: Buffer): void {
    this.transport.loseConnection();
  }

  /** Write `line` and the delimiter (a string is encoded as UTF-8). */
  sendLine(line: Uint8Array | string): void {
    this.transport.writeSequence([toBytes(line), toBytes(this.delimiter)]);
  }

  /** Deliver every line `data` completes (see the class documentation for when it stops). */
  override dataReceived(data: Uint8Array): void {
    const delimiter = toBytes(this.delimiter);
    const all = this.buffer.length === 0 ? Buffer.from(data) : Buffer.concat([this.buffer, data]);
    let start = 0;
    for (;;) {
      const at = all.indexOf(delimiter, start);
      if (at === -1) break;
      if (this.transport?.disconnecting) {
        this.buffer = Buffer.alloc(0);
        return;
      }
      const line = all.subarray(start, at);
      start = at + delimiter.length;
      if (line.length > this.MAX_LENGTH) {
        this.buffer = Buffer.alloc(0);
        this.lineLengthExceeded(line);
        return;
      }
      this.lineReceived(line);
    }
    // Copied so the (possibly large) chunk is not retained by a small remainder.
    this.buffer = Buffer.from(all.subarray(start));
    if (this.buffer.length > this.MAX_LENGTH) {
      const rest = this.buffer;
      this.buffer = Buffer.alloc(0);
      this.lineLengthExceeded(rest);
    }
  }
}

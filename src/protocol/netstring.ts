/**
 * Netstrings (http://cr.yp.to/proto/netstrings.txt): `<length>:<payload>,`,
 * e.g. `5:hello,` — with Twisted's NetstringReceiver semantics.
 */
import { ByteQueue, toBytes } from './byteQueue.js';
import { Protocol } from './protocol.js';

const COLON = 0x3a;
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * A protocol that sends and receives netstrings.
 *
 * The grammar is strict: the length is decimal ASCII with no sign, no
 * spaces and no leading zeros (`0:` is the empty string; `007:` is refused),
 * followed by `:`, exactly that many payload bytes, and `,`.
 *
 * A peer that breaks the grammar — no length, a non-digit where the length
 * or its colon belongs, a leading zero, a length above `MAX_LENGTH` (99999
 * by default; also caught from the number of digits alone, so an absurd
 * length never overflows), or a payload not followed by a comma — is a
 * *broken peer*: `transport.loseConnection()` is called, `brokenPeer` is set,
 * and every later byte is ignored. The error is detected at the first byte
 * that makes it certain, however the input is split.
 *
 * Payloads are delivered to `stringReceived` as fresh `Buffer`s. Like
 * Twisted's, it keeps delivering the strings of a chunk after a callback
 * calls `loseConnection`. It is re-entrancy safe (a `dataReceived` from a
 * callback only buffers).
 *
 * @example
 * ```ts
 * class Echo extends NetstringReceiver {
 *   override stringReceived(s: Buffer): void { this.sendString(s); }
 * }
 * // the peer sends "5:hello," and gets "5:hello," back
 * ```
 */
export abstract class NetstringReceiver extends Protocol {
  /** The longest payload accepted, in bytes. */
  MAX_LENGTH = 99999;
  /** True once the peer broke the grammar (the connection is being closed). */
  brokenPeer = false;
  /** Why the peer was declared broken, or null. */
  brokenReason: string | null = null;

  private readonly buffer = new ByteQueue();
  private busyReceiving = false;
  // The payload length being read (+1 for the comma), or -1 while reading a length.
  private expected = -1;

  /** A complete netstring arrived: its payload. */
  abstract stringReceived(data: Buffer): void;

  /** Write `data` as a netstring: `sendString('xy')` writes `2:xy,` (a string is encoded as UTF-8). */
  sendString(data: Uint8Array | string): void {
    const payload = toBytes(data);
    this.transport.write(Buffer.concat([Buffer.from(`${payload.length}:`, 'latin1'), payload, Buffer.from(',')]));
  }

  /** Buffer `data` and deliver every netstring it completes (ignored once the peer broke). */
  override dataReceived(data: Uint8Array): void {
    if (this.brokenPeer) return;
    this.buffer.push(data);
    if (this.busyReceiving) return;
    this.busyReceiving = true;
    try {
      this.consume();
    } finally {
      this.busyReceiving = false;
    }
  }

  private consume(): void {
    const buffer = this.buffer;
    while (buffer.length > 0 && !this.brokenPeer) {
      if (this.expected === -1) {
        const length = this.parseLength();
        if (length === null) return;
        this.expected = length + 1;
      }
      if (buffer.length < this.expected) return;
      if (buffer.at(this.expected - 1) !== COMMA) {
        this.broken('The received netstring is not terminated by a comma.');
        return;
      }
      const payload = buffer.take(this.expected - 1);
      buffer.skip(1);
      this.expected = -1;
      this.stringReceived(payload);
    }
  }

  /**
   * Read `<digits>:` off the front of the buffer. Returns the length (the
   * prefix consumed), or null when more bytes are needed or the peer broke
   * the grammar (then `brokenPeer` is set).
   */
  private parseLength(): number | null {
    const buffer = this.buffer;
    const maxDigits = String(this.MAX_LENGTH).length;
    let length = 0;
    let i = 0;
    for (; i < buffer.length; i++) {
      const c = buffer.at(i)!;
      if (c === COLON) break;
      if (c < ZERO || c > NINE) {
        this.broken(
          i === 0
            ? 'The received netstring does not start with a length specification.'
            : 'The length specification of the received netstring is not followed by a colon.',
        );
        return null;
      }
      if (i === 1 && buffer.at(0) === ZERO) {
        this.broken('The length specification of the received netstring has a leading zero.');
        return null;
      }
      if (i + 1 > maxDigits) {
        this.broken(`The received netstring is longer than the maximum ${this.MAX_LENGTH} specified by MAX_LENGTH`);
        return null;
      }
      length = length * 10 + (c - ZERO);
      if (length > this.MAX_LENGTH) {
        this.broken(`The received netstring is longer than the maximum ${this.MAX_LENGTH} specified by MAX_LENGTH`);
        return null;
      }
    }
    if (i === buffer.length) return null; // no colon yet
    if (i === 0) {
      this.broken('The received netstring does not start with a length specification.');
      return null;
    }
    buffer.skip(i + 1);
    return length;
  }

  private broken(reason: string): void {
    this.brokenPeer = true;
    this.brokenReason = reason;
    this.buffer.clear();
    this.transport.loseConnection();
  }
}

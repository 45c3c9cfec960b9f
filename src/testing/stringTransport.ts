/**
 * StringTransport: a transport that records what is written, for testing a
 * protocol without I/O.
 */
import { Failure } from '../defer/failure.js';
import { IPv4Address, type Address } from '../reactor/address.js';
import { ConnectionDone } from '../reactor/errors.js';
import { assertBytes, deliverConnectionLost } from '../reactor/glue.js';
import type { IProducer, IProtocol, ITransport } from '../reactor/interfaces.js';
import { assertWritableString, type WriteStringEncoding } from '../reactor/writeString.js';

/** The state of a StringTransport seen as a push producer (the reading side). */
export type ProducerState = 'producing' | 'paused' | 'stopped';

/**
 * A transport that keeps every byte written, in memory.
 *
 * - `value()` is everything written since `clear()` (with `write`,
 *   `writeSequence` or `writeString`).
 * - `loseConnection()` only sets `disconnecting`; it never calls the
 *   protocol's `connectionLost` (the test does that, or use
 *   {@link StringTransportWithDisconnection}).
 * - As a consumer it records the registered `producer` and whether it is
 *   `streaming`, and refuses a second one; as a producer (the read side) it
 *   tracks `producerState` and refuses to resume after `loseConnection`
 *   (unless `lenient`) or once stopped.
 *
 * @example
 * ```ts
 * const t = new StringTransport();
 * const p = new Echo();
 * p.makeConnection(t);
 * p.dataReceived(Buffer.from('hi'));
 * expect(t.value().toString()).toBe('hi');
 * ```
 */
export class StringTransport implements ITransport {
  /** True once `loseConnection` or `abortConnection` was called. */
  disconnecting = false;
  /** True once `abortConnection` was called. */
  disconnected = false;
  /** The registered producer, or null. */
  producer: IProducer | null = null;
  /** Whether the registered producer is streaming (push), or null. */
  streaming: boolean | null = null;
  /** The read side's state as a push producer. */
  producerState: ProducerState = 'producing';
  private chunks: Uint8Array[] = [];

  constructor(
    readonly hostAddress: Address = new IPv4Address('TCP', '10.0.0.1', 12345),
    readonly peerAddress: Address = new IPv4Address('TCP', '192.168.1.1', 54321),
    private readonly lenient = false,
  ) {}

  /** Everything written since the last `clear()`. */
  value(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    const only = this.chunks[0]!;
    return Buffer.isBuffer(only) ? only : Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  }

  /** Forget what was written. */
  clear(): void {
    this.chunks = [];
  }

  write(data: Uint8Array): void {
    assertBytes(data);
    // Copied: the protocol may reuse its buffer after writing it.
    this.chunks.push(Buffer.from(data));
  }

  /**
   * Record `data` encoded as `encoding`: `value()` shows the same bytes as
   * after `write(Buffer.from(data, encoding))`.
   * @throws TypeError when `data` is not a string or `encoding` is neither 'latin1' nor 'utf8'.
   */
  writeString(data: string, encoding: WriteStringEncoding): void {
    assertWritableString(data, encoding);
    this.chunks.push(Buffer.from(data, encoding));
  }

  writeSequence(data: readonly Uint8Array[]): void {
    for (const chunk of data) this.write(chunk);
  }

  loseConnection(): void {
    this.disconnecting = true;
  }

  abortConnection(): void {
    this.disconnected = true;
    this.disconnecting = true;
  }

  getPeer(): Address {
    return this.peerAddress;
  }

  getHost(): Address {
    return this.hostAddress;
  }

  /** @throws Error when a producer is already registered. */
  registerProducer(producer: IProducer, streaming: boolean): void {
    if (this.producer !== null) throw new Error('Cannot register two producers');
    this.producer = producer;
    this.streaming = streaming;
  }

  /** @throws Error when no producer is registered. */
  unregisterProducer(): void {
    if (this.producer === null) throw new Error('Cannot unregister a producer unless one is registered');
    this.producer = null;
    this.streaming = null;
  }

  pauseProducing(): void {
    this.checkState();
    this.producerState = 'paused';
  }

  resumeProducing(): void {
    this.checkState();
    this.producerState = 'producing';
  }

  stopProducing(): void {
    this.producerState = 'stopped';
  }

  private checkState(): void {
    if (this.disconnecting && !this.lenient) throw new Error('Cannot resume producing after loseConnection');
    if (this.producerState === 'stopped') throw new Error('Cannot resume a stopped producer');
  }
}

/**
 * A StringTransport whose `loseConnection` also tells the protocol: it calls
 * `protocol.connectionLost` with ConnectionDone (once). Set `protocol` first.
 */
export class StringTransportWithDisconnection extends StringTransport {
  /** The protocol to tell. */
  protocol: IProtocol | null = null;
  /** False once disconnected. */
  connected = true;

  override loseConnection(): void {
    super.loseConnection();
    if (this.connected) {
      this.connected = false;
      if (this.protocol !== null) deliverConnectionLost(this.protocol, new Failure(new ConnectionDone('Bye.')));
    }
  }
}

/**
 * The sans-IO frame serializer: messages and control payloads in, wire bytes out
 * (RFC 6455 §5.2). Stateless; the connection decides what may be sent when.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, Opcode, isValidCloseCode } from './constants.js';
import { applyMask, defaultMaskSource, type MaskSource } from './mask.js';

/** Options of {@link encodeFrame} and friends. */
export interface FrameOptions {
  /** FIN bit: `false` for every frame of a fragmented message but the last. Default `true`. */
  fin?: boolean;
  /** RSV1 bit: set on the first frame of a permessage-deflate compressed message. Default `false`. */
  rsv1?: boolean;
  /**
   * Mask the frame (clients must, servers must not). `true` draws keys from the shared random
   * pool ({@link defaultMaskSource}); a {@link MaskSource} supplies them explicitly. Default `false`.
   */
  mask?: boolean | MaskSource;
}

/** Unmasked payloads up to this size are merged with their header into one buffer. */
export const MERGE_THRESHOLD = 256;

/**
 * Bytes of header (including the 4-byte masking key when `masked`) for a payload of `length`
 * bytes: 2, 4 or 10, plus 4 if masked. Lengths always use the minimal encoding.
 */
export function frameHeaderLength(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Write a frame header for a `length`-byte payload into `target` at `offset` and return the
 * header length. With `maskSource`, a fresh 4-byte key is written after the length (the caller
 * must then mask the payload with it).
 *
 * @throws RangeError for a length outside 0 … 2^53−1 or an opcode outside 0 … 15.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  length: number,
  fin: boolean,
  rsv1: boolean,
  maskSource: MaskSource | null,
): number {
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 15) throw new RangeError(`invalid opcode ${opcode}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid payload length ${length}`);
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = maskSource !== null ? 0x80 : 0;
  let o = offset + 2;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
  } else if (length < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target[o++] = length >>> 8;
    target[o++] = length & 0xff;
  } else {
    target[offset + 1] = maskBit | 127;
    const hi = Math.floor(length / 0x100000000);
    const lo = length >>> 0;
    target[o++] = 0;
    target[o++] = 0;
    target[o++] = (hi >>> 8) & 0xff;
    target[o++] = hi & 0xff;
    target[o++] = lo >>> 24;
    target[o++] = (lo >>> 16) & 0xff;
    target[o++] = (lo >>> 8) & 0xff;
    target[o++] = lo & 0xff;
  }
  if (maskSource !== null) {
    maskSource.fill(target, o);
    o += 4;
  }
  return o - offset;
}

function resolveMask(mask: boolean | MaskSource | undefined): MaskSource | null {
  if (mask === undefined || mask === false) return null;
  return mask === true ? defaultMaskSource() : mask;
}

/**
 * Encode one frame and return the buffers to write, in order, **without concatenating a large
 * payload**: an unmasked binary payload over {@link MERGE_THRESHOLD} bytes comes back as
 * `[header, payload]` (the caller's buffer itself, never modified — write both with one
 * `writev`/cork). Everything else comes back as a single buffer: small payloads are merged, a
 * string is encoded straight after its header, and a masked frame is always a new buffer so the
 * caller's payload is never mutated.
 *
 * Only well-formed frames come out: data opcodes (0–2) with any length, control opcodes (8–10)
 * final and ≤ 125 bytes (prefer {@link encodeControlFrame} / {@link encodeCloseFrame}, which also
 * validate close codes). To build deliberately malformed frames (a conformance tester), use
 * {@link writeFrameHeader}, which checks only that the fields fit.
 *
 * @example
 * ```ts
 * encodeFrame(Opcode.Text, 'Hello');               // [<81 05 48 65 6c 6c 6f>]
 * encodeFrame(Opcode.Binary, big);                 // [<82 7f …>, big]
 * encodeFrame(Opcode.Text, 'Hi', { mask: true });  // [<81 82 key… masked…>]
 * ```
 * @throws RangeError for a reserved opcode, or a control frame that is fragmented or over 125 bytes.
 */
export function encodeFrame(opcode: number, payload: Uint8Array | string, options: FrameOptions = {}): Buffer[] {
  const fin = options.fin !== false;
  const rsv1 = options.rsv1 === true;
  const maskSource = resolveMask(options.mask);
  const masked = maskSource !== null;
  if (opcode > Opcode.Binary && opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong) {
    throw new RangeError(`reserved opcode ${opcode}`);
  }
  if (typeof payload === 'string') {
    const length = Buffer.byteLength(payload, 'utf8');
    if (opcode >= 8) checkControl(length, fin);
    return [encodeStringFrame(opcode, payload, length, fin, rsv1, maskSource)];
  }
  const length = payload.length;
  if (opcode >= 8) checkControl(length, fin);
  const headerLength = frameHeaderLength(length, masked);
  if (masked) {
    const out = Buffer.allocUnsafe(headerLength + length);
    writeFrameHeader(out, 0, opcode, length, fin, rsv1, maskSource);
    applyMask(payload, 0, out, headerLength, length, out, headerLength - 4, 0);
    return [out];
  }
  if (length <= MERGE_THRESHOLD) {
    const out = Buffer.allocUnsafe(headerLength + length);
    writeFrameHeader(out, 0, opcode, length, fin, rsv1, null);
    out.set(payload, headerLength);
    return [out];
  }
  const header = Buffer.allocUnsafe(headerLength);
  writeFrameHeader(header, 0, opcode, length, fin, rsv1, null);
  return [header, Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)];
}

/**
 * One frame for a string payload of `length` bytes of UTF-8, as a single buffer: the header,
 * then the string encoded straight after it (and masked in place when `maskSource` is given).
 * The caller has checked the opcode and, for a control frame, the length.
 *
 * @internal
 */
export function encodeStringFrame(
  opcode: number,
  payload: string,
  length: number,
  fin: boolean,
  rsv1: boolean,
  maskSource: MaskSource | null,
): Buffer {
  const headerLength = frameHeaderLength(length, maskSource !== null);
  const out = Buffer.allocUnsafe(headerLength + length);
  writeFrameHeader(out, 0, opcode, length, fin, rsv1, maskSource);
  out.write(payload, headerLength, 'utf8');
  if (maskSource !== null) applyMask(out, headerLength, out, headerLength, length, out, headerLength - 4, 0);
  return out;
}

// The headers of whole, unmasked text frames of 0–125 bytes, made on first use (each is
// one short constant string).
const TEXT_HEADERS: Array<string | undefined> = [];

/**
 * The header of an unmasked frame as a Latin-1 string (one char per byte): with an ASCII
 * payload appended, a whole frame that a transport's `writeString(…, 'latin1')` encodes
 * without a Buffer of ours. The caller has checked the opcode.
 *
 * @internal
 */
export function frameHeaderString(opcode: number, length: number, fin: boolean, rsv1: boolean): string {
  const b0 = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (length < 126) {
    if (b0 === 0x81) return (TEXT_HEADERS[length] ??= String.fromCharCode(0x81, length));
    return String.fromCharCode(b0, length);
  }
  if (length < 0x10000) return String.fromCharCode(b0, 126, length >>> 8, length & 0xff);
  const hi = Math.floor(length / 0x100000000);
  const lo = length >>> 0;
  return String.fromCharCode(b0, 127, 0, 0, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
}

function checkControl(length: number, fin: boolean): void {
  if (!fin) throw new RangeError('control frames cannot be fragmented');
  if (length > MAX_CONTROL_PAYLOAD) throw new RangeError(`control frame payload of ${length} bytes exceeds 125`);
}

/**
 * Encode a ping or pong frame (always final, never compressed) as one buffer.
 *
 * @throws RangeError if `opcode` is not Ping or Pong or the payload exceeds 125 bytes.
 */
export function encodeControlFrame(
  opcode: typeof Opcode.Ping | typeof Opcode.Pong,
  payload: Uint8Array | string = '',
  mask: boolean | MaskSource = false,
): Buffer {
  if (opcode !== Opcode.Ping && opcode !== Opcode.Pong) throw new RangeError('encodeControlFrame encodes pings and pongs');
  const length = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
  if (length > MAX_CONTROL_PAYLOAD) throw new RangeError(`control frame payload of ${length} bytes exceeds 125`);
  return encodeFrame(opcode, payload, { mask })[0]!;
}

/**
 * Encode a close frame as one buffer. With no `code` the payload is empty (the peer sees 1005).
 *
 * @example
 * ```ts
 * encodeCloseFrame(1000, 'bye'); // <88 05 03 e8 62 79 65>
 * encodeCloseFrame();            // <88 00>
 * ```
 * @throws RangeError if `code` may not be sent (see {@link isValidCloseCode}), if a reason is
 *   given without a code, or if the reason exceeds 123 bytes of UTF-8.
 */
export function encodeCloseFrame(code?: number, reason = '', mask: boolean | MaskSource = false): Buffer {
  if (code === undefined) {
    if (reason !== '') throw new RangeError('a close reason needs a close code');
    return encodeFrame(Opcode.Close, EMPTY_PAYLOAD, { mask })[0]!;
  }
  if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
  const reasonLength = Buffer.byteLength(reason, 'utf8');
  if (reasonLength > MAX_CLOSE_REASON_BYTES) throw new RangeError(`close reason of ${reasonLength} bytes exceeds 123`);
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.write(reason, 2, 'utf8');
  return encodeFrame(Opcode.Close, payload, { mask })[0]!;
}

const EMPTY_PAYLOAD = new Uint8Array(0);

/**
 * A complete, unmasked message frame encoded once, to be written as-is to any number of
 * **server-side** connections (server frames are never masked, so the bytes are identical for
 * every peer). Produce it with {@link prepareMessage}; send it with
 * `WebSocketConnection.sendPrepared` or write {@link PreparedMessage.data} directly.
 */
export class PreparedMessage {
  /** Header and payload in one buffer. Do not mutate. */
  readonly data: Buffer;
  /** Whether it is a text message. */
  readonly isText: boolean;
  /** Whether RSV1 (permessage-deflate) is set: only send to peers that negotiated it. */
  readonly compressed: boolean;

  /** @internal use {@link prepareMessage}. */
  constructor(data: Buffer, isText: boolean, compressed: boolean) {
    this.data = data;
    this.isText = isText;
    this.compressed = compressed;
  }
}

/**
 * Frame a broadcast message once: one buffer holding header and payload, reusable for every
 * server-side connection. Strings are sent as text; bytes as binary unless `isText` says
 * otherwise (the caller then vouches that they are valid UTF-8). Set `compressed` when `data`
 * is already a permessage-deflate payload.
 *
 * @example
 * ```ts
 * const frame = prepareMessage(JSON.stringify(update));
 * for (const conn of room) conn.sendPrepared(frame);
 * ```
 */
export function prepareMessage(
  data: Uint8Array | string,
  options: { isText?: boolean; compressed?: boolean } = {},
): PreparedMessage {
  const isText = options.isText ?? typeof data === 'string';
  const compressed = options.compressed === true;
  const opcode = isText ? Opcode.Text : Opcode.Binary;
  const parts = encodeFrame(opcode, data, { rsv1: compressed });
  const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return new PreparedMessage(bytes, isText, compressed);
}

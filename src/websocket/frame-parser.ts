/**
 * The sans-IO frame parser: bytes in, message / control events out (RFC 6455 §5).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import {
  CloseCode,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_MESSAGE_SIZE,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  isValidCloseCode,
} from './constants.js';
import { WebSocketProtocolError, type WebSocketErrorCode } from './errors.js';
import { applyMask, LITTLE_ENDIAN, maskWord } from './mask.js';
import { Utf8Validator, isValidUtf8 } from './utf8.js';

/** Which end of the connection this is: servers receive masked frames, clients unmasked ones. */
export type WebSocketRole = 'server' | 'client';

/**
 * Receives what a {@link FrameParser} decodes. Calls happen synchronously inside
 * {@link FrameParser.receiveData}, in wire order, so a valid message that precedes a bad frame is
 * delivered before the error.
 *
 * Buffers handed out are views into the chunks given to `receiveData` (or, for a message that
 * spanned several chunks, one freshly concatenated buffer); they stay valid after the call.
 *
 * A handler must not throw; if it does, the exception propagates out of `receiveData` and the
 * parser is left terminated (the rest of that chunk is not parsed).
 */
export interface FrameHandler {
  /**
   * A complete data message (`delivery: 'message'`, the default). Text has already been
   * validated as UTF-8 unless `compressed` is true, in which case `data` is the raw
   * permessage-deflate payload (without the `00 00 ff ff` tail) and the caller must inflate it,
   * validate it (see {@link Utf8Validator}) and cap its inflated size.
   */
  onMessage?(data: Buffer, isText: boolean, compressed: boolean): void;
  /**
   * Optional, `delivery: 'message'` only: when present, every uncompressed text message comes
   * here instead of `onMessage`, validated and already decoded. The parser decodes it straight
   * from the received bytes (no intermediate Buffer view), and as Latin-1 — a plain byte copy,
   * the same string — when every byte was ASCII.
   */
  onText?(text: string): void;
  /** `delivery: 'stream'`: a data message begins (its first frame header was accepted). */
  onMessageStart?(isText: boolean, compressed: boolean): void;
  /**
   * `delivery: 'stream'`: the next payload bytes of the current message, as they arrive (any
   * split, possibly mid code point; uncompressed text has been validated up to here).
   */
  onMessageData?(chunk: Buffer): void;
  /** `delivery: 'stream'`: the current message is complete (and, if text, valid UTF-8). */
  onMessageEnd?(): void;
  /** A ping (0–125 bytes). The parser does not answer it; see `WebSocketConnection`. */
  onPing(payload: Buffer): void;
  /** A pong (0–125 bytes), solicited or not. */
  onPong(payload: Buffer): void;
  /**
   * A valid close frame. `code` is 1005 (`NoStatus`) when the frame had no payload.
   * The parser is terminated before this call: later bytes are ignored.
   */
  onClose(code: number, reason: string): void;
  /**
   * The peer broke the protocol or a limit; the connection must be failed with
   * `error.closeCode`. The parser is terminated before this call.
   */
  onError(error: WebSocketProtocolError): void;
}

/** Options of a {@link FrameParser}. */
export interface FrameParserOptions {
  /** `'server'` requires every frame masked, `'client'` requires none masked. */
  role: WebSocketRole;
  /**
   * Whether permessage-deflate was negotiated: allows RSV1 on the first frame of a data
   * message (never on continuations or control frames). Default `false`: any RSV bit → 1002.
   */
  perMessageDeflate?: boolean;
  /**
   * Largest message accepted, in payload bytes summed over its frames (compressed bytes for a
   * compressed message). Checked against each frame header **before** its payload is read;
   * exceeding it → 1009. Default {@link DEFAULT_MAX_MESSAGE_SIZE} (16 MiB); `Infinity` disables.
   */
  maxMessageSize?: number;
  /** Largest number of frames in one message; exceeding it → 1008. Default 131072. */
  maxFragments?: number;
  /**
   * Largest number of separate buffers retained while reassembling one message (after
   * coalescing small slices into 16 KiB blocks); exceeding it → 1008. Default 65536.
   */
  maxBufferedChunks?: number;
  /**
   * `'message'` (default): deliver each data message whole through `onMessage`.
   * `'stream'`: deliver `onMessageStart` / `onMessageData` / `onMessageEnd` as bytes arrive,
   * buffering nothing.
   */
  delivery?: 'message' | 'stream';
}

// Parser states.
const HEAD0 = 0;
const HEAD1 = 1;
const EXT_LENGTH = 2;
const MASK_KEY = 3;
const PAYLOAD = 4;
const DONE = 5;

const EMPTY = Buffer.alloc(0);
// Slices at least this long that fill at least half of their backing store are kept as views;
// smaller ones are copied into a coalescing block, so a message never pins much more memory
// than its own size however the peer slices it.
const KEEP_SLICE_MIN = 1024;
const COALESCE_BLOCK = 16 * 1024;
// The masking key is kept in four small-integer fields rather than a Uint8Array of its own
// (a typed array and its buffer cost ~180 bytes per connection); it is copied here right before
// each unmask, which runs to completion before any other parser can use this scratch.
const MASK_SCRATCH = new Uint8Array(4);
// Payloads shorter than this are unmasked by a byte loop here (applyMask's word loop needs a
// typed-array view per call, which costs more than it saves on small frames).
const SMALL_UNMASK = 64;
// Text chunks shorter than this are scanned for ASCII here: pure-ASCII text skips the UTF-8
// state machine and decodes as Latin-1. Longer ones go to the validator's native check.
const ASCII_SCAN_MAX = 256;

// Borrowed chunks (`receiveBorrowed`: a reader's buffer, reused for every read) are unmasked
// four bytes at a time through a word view of their memory, made once per buffer: byte access
// to a typed array costs several times what the XOR does, and a view per call would cost more
// than it saves on a small frame.
let wordsOf: Buffer | null = null;
let words: Uint32Array = new Uint32Array(0);
/** `wordsOf.byteOffset`: where its bytes start in `words`' memory. */
let wordsBase = 0;

/** Make `words` the word view of `buf`'s whole ArrayBuffer (see `wordsOf`). */
function viewWords(buf: Buffer): void {
  const ab = buf.buffer;
  words = new Uint32Array(ab, 0, ab.byteLength >>> 2);
  wordsBase = buf.byteOffset;
  wordsOf = buf;
}

// Buffer's own decoders, what `toString(encoding, start, end)` ends up calling: called directly
// they skip its argument handling and encoding lookup. Node has had them on Buffer.prototype
// for a long time, but they are not documented: checked once, `toString` otherwise.
type SliceDecoders = { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };
const SLICES =
  typeof (Buffer.prototype as unknown as Partial<SliceDecoders>).latin1Slice === 'function' &&
  typeof (Buffer.prototype as unknown as Partial<SliceDecoders>).utf8Slice === 'function';

/** `buf[start:end]` decoded as Latin-1 (all ASCII, the same string) or as UTF-8 (validated already). */
function decode(buf: Buffer, ascii: boolean, start: number, end: number): string {
  if (!SLICES) return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
  const b = buf as unknown as SliceDecoders;
  return ascii ? b.latin1Slice(start, end) : b.utf8Slice(start, end);
}

/** An owned copy of `buf[start:end]`. */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

/** The index of the first byte in `buf[pos:end]` that is not ASCII, or `end`. */
function asciiPrefix(buf: Buffer, pos: number, end: number): number {
  let i = pos;
  for (; i + 4 <= end; i += 4) {
    if (((buf[i]! | buf[i + 1]! | buf[i + 2]! | buf[i + 3]!) & 0x80) !== 0) break;
  }
  while (i < end && buf[i]! < 0x80) i++;
  return i;
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A role-aware, incremental WebSocket frame parser that never touches I/O.
 *
 * Feed it bytes with {@link FrameParser.receiveData} in any split; it calls the
 * {@link FrameHandler} synchronously for each event. It enforces every framing rule of RFC 6455:
 * masking per role, RSV bits (RSV1 only with permessage-deflate, only on a message's first
 * frame), reserved opcodes, control frames ≤ 125 bytes and unfragmented, continuation
 * sequencing, minimal length encodings and a clear top bit on 64-bit lengths, close payload
 * and code validity (all → 1002); UTF-8 of text messages and close reasons, checked as the bytes
 * arrive, even mid-frame (→ 1007); and the size/count limits of {@link FrameParserOptions}
 * (→ 1009 / 1008).
 *
 * Ownership: `receiveData` takes the chunk. Masked payload bytes are unmasked **in place** and
 * delivered payloads are views into it, so do not reuse or mutate a chunk after handing it over.
 * Copies happen only to reassemble a message that spans chunks or frames.
 *
 * After an error or a close frame the parser is terminated and ignores further input.
 *
 * @example
 * ```ts
 * const parser = new FrameParser({ role: 'client' }, {
 *   onMessage: (data, isText) => console.log(isText ? data.toString() : data),
 *   onPing: () => {}, onPong: () => {},
 *   onClose: (code, reason) => console.log('close', code, reason),
 *   onError: (err) => console.log('fail with', err.closeCode),
 * });
 * parser.receiveData(Buffer.from('810548656c6c6f', 'hex')); // logs "Hello"
 * ```
 */
export class FrameParser {
  private readonly handler: FrameHandler;
  private readonly expectMask: boolean;
  private readonly deflate: boolean;
  private readonly maxMessageSize: number;
  private readonly maxFragments: number;
  private readonly maxBufferedChunks: number;
  private readonly stream: boolean;

  private state = HEAD0;
  // Current frame.
  private fin = false;
  private rsv1 = false;
  private opcode = 0;
  private masked = false;
  private frameLength = 0;
  private extNeeded = 0;
  private extGot = 0;
  private m0 = 0;
  private m1 = 0;
  private m2 = 0;
  private m3 = 0;
  private maskGot = 0;
  private payloadDone = 0;
  private control: Buffer | null = null;
  // Current data message.
  private inMessage = false;
  private messageText = false;
  private messageCompressed = false;
  private messageLength = 0;
  private messageFrames = 0;
  private validateText = false;
  /** Every byte of the current text message so far was ASCII (and the validator is idle). */
  private messageAscii = false;
  private readonly utf8 = new Utf8Validator();
  // A message whose payload is all in one received chunk is kept as that chunk and a range,
  // so that text can be decoded without making a view first.
  private first: Buffer | null = null;
  private firstStart = 0;
  private firstEnd = 0;
  private parts: Buffer[] = [];
  private tail: Buffer | null = null;
  private tailStart = 0;
  private tailEnd = 0;
  /** The chunk of the `receiveBorrowed` call in progress (only lent for the call), or null. */
  private borrowed: Buffer | null = null;

  /**
   * @throws RangeError if a limit is not a positive number or the handler lacks the callbacks
   *   its delivery mode needs.
   */
  constructor(options: FrameParserOptions, handler: FrameHandler) {
    this.handler = handler;
    this.expectMask = options.role === 'server';
    this.deflate = options.perMessageDeflate === true;
    this.maxMessageSize = checkLimit('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    this.maxFragments = checkLimit('maxFragments', options.maxFragments, DEFAULT_MAX_FRAGMENTS);
    this.maxBufferedChunks = checkLimit('maxBufferedChunks', options.maxBufferedChunks, DEFAULT_MAX_BUFFERED_CHUNKS);
    this.stream = options.delivery === 'stream';
    if (this.stream) {
      if (!handler.onMessageStart || !handler.onMessageData || !handler.onMessageEnd) {
        throw new RangeError("delivery 'stream' needs onMessageStart, onMessageData and onMessageEnd");
      }
    } else if (!handler.onMessage) {
      throw new RangeError("delivery 'message' needs onMessage");
    }
  }

  /** Whether the parser has stopped (after a close frame, an error or a throwing handler). */
  get terminated(): boolean {
    return this.state === DONE;
  }

  /** Whether a fragmented data message is in progress (its final frame not yet seen). */
  get messageInProgress(): boolean {
    return this.inMessage;
  }

  /**
   * Parse `data`, calling the handler for every complete event it contains. Bytes of an
   * incomplete header or payload are carried over to the next call. Ignored once terminated.
   */
  receiveData(data: Uint8Array): void {
    if (this.state === DONE || data.length === 0) return;
    const buf = toBuffer(data);
    try {
      this.parse(buf, buf.length);
    } catch (err) {
      this.state = DONE;
      this.releaseMessage();
      throw err;
    }
  }

  /**
   * @internal Parse `buffer[0:end]` as {@link FrameParser.receiveData} would, except that the
   * bytes are only lent for the duration of the call (a reader's buffer, overwritten by its next
   * read): they are unmasked in place and read where they are, and whatever outlives the call is
   * copied first — the part received so far of a message that continues in a later chunk, a
   * binary (or compressed) message, a control payload. Text decoded in the call costs no copy.
   * With `delivery: 'stream'` the chunk is copied and handed to `receiveData`.
   */
  receiveBorrowed(buffer: Buffer, end: number): void {
    if (this.state === DONE || end === 0) return;
    if (this.stream) return this.receiveData(copyOf(buffer, 0, end));
    const outer = this.borrowed;
    this.borrowed = buffer;
    try {
      this.parse(buffer, end);
      if (this.first === buffer) {
        // The current message continues in a later chunk: keep its bytes so far.
        this.first = copyOf(buffer, this.firstStart, this.firstEnd);
        this.firstEnd -= this.firstStart;
        this.firstStart = 0;
      }
    } catch (err) {
      this.state = DONE;
      this.releaseMessage();
      throw err;
    } finally {
      this.borrowed = outer;
    }
  }

  private parse(buf: Buffer, len: number): void {
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case HEAD0:
          if (len - pos >= 3 && !this.stream) {
            const next = this.wholeFrame(buf, pos, len);
            if (next >= 0) {
              pos = next;
              break;
            }
          }
          this.header0(buf[pos++]!);
          break;
        case HEAD1:
          this.header1(buf[pos++]!);
          break;
        case EXT_LENGTH:
          if (this.extGot === 0 && len - pos >= this.extNeeded) {
            // Whole extended length in this chunk.
            for (let k = 0; k < this.extNeeded; k++) {
              if (!this.lengthByte(buf[pos++]!)) break;
            }
          } else {
            this.lengthByte(buf[pos++]!);
          }
          break;
        case MASK_KEY:
          if (this.maskGot === 0 && len - pos >= 4) {
            this.m0 = buf[pos]!;
            this.m1 = buf[pos + 1]!;
            this.m2 = buf[pos + 2]!;
            this.m3 = buf[pos + 3]!;
            pos += 4;
            this.maskGot = 4;
          } else {
            this.maskByte(buf[pos++]!);
          }
          if (this.maskGot === 4) this.beginPayload();
          break;
        case PAYLOAD: {
          const n = Math.min(this.frameLength - this.payloadDone, len - pos);
          if (this.opcode >= 8) this.controlPayload(buf, pos, n);
          else this.dataPayload(buf, pos, n);
          pos += n;
          break;
        }
        default:
          return; // DONE
      }
    }
  }

  /**
   * The common case in one step: a whole data frame at `buf[pos]` — final, no RSV bit, a payload
   * of 1–125 bytes (within `maxMessageSize`), masked as the role requires, all of it before
   * `len` — while no message is in progress. It is checked, unmasked, validated and delivered
   * as the state machine would (same events, same errors), without going through its states;
   * returns the position after the frame. Anything else returns -1 having done nothing, and the
   * state machine takes the frame, errors included.
   */
  private wholeFrame(buf: Buffer, pos: number, len: number): number {
    const b0 = buf[pos]!;
    if ((b0 !== 0x81 && b0 !== 0x82) || this.inMessage) return -1;
    const b1 = buf[pos + 1]!;
    const n = b1 & 0x7f;
    const masked = this.expectMask;
    if ((b1 & 0x80) !== (masked ? 0x80 : 0) || n === 0 || n > 125) return -1;
    const start = pos + (masked ? 6 : 2);
    const end = start + n;
    if (end > len || n > this.maxMessageSize || this.maxFragments < 1) return -1;
    this.opcode = b0 & 0x0f;
    this.fin = true;
    this.rsv1 = false;
    this.masked = masked;
    this.frameLength = n;
    this.payloadDone = 0;
    let seen = 0xff;
    if (masked) {
      this.m0 = buf[pos + 2]!;
      this.m1 = buf[pos + 3]!;
      this.m2 = buf[pos + 4]!;
      this.m3 = buf[pos + 5]!;
      seen = this.unmask(buf, start, n);
    }
    const handler = this.handler;
    if (b0 === 0x82) {
      handler.onMessage!(this.handOut(buf, start, end), false, false);
      return end;
    }
    const ascii = seen < 0x80 || asciiPrefix(buf, start, end) === end;
    if (!ascii) {
      const utf8 = this.utf8;
      utf8.reset();
      if (utf8.write(buf, start, end) !== -1) {
        this.failInvalidText();
        return end;
      }
      if (!utf8.end()) {
        this.failTruncatedText();
        return end;
      }
    }
    if (handler.onText !== undefined) handler.onText(decode(buf, ascii, start, end));
    else handler.onMessage!(this.handOut(buf, start, end), true, false);
    return end;
  }

  private header0(b: number): void {
    const fin = (b & 0x80) !== 0;
    const rsv1 = (b & 0x40) !== 0;
    const opcode = b & 0x0f;
    if ((b & 0x30) !== 0) return this.fail('WS_ERR_UNEXPECTED_RSV', CloseCode.ProtocolError, 'RSV2 and RSV3 must be clear');
    if (opcode >= 8) {
      if (opcode > Opcode.Pong) return this.fail('WS_ERR_INVALID_OPCODE', CloseCode.ProtocolError, `reserved opcode ${opcode}`);
      if (!fin) return this.fail('WS_ERR_FRAGMENTED_CONTROL', CloseCode.ProtocolError, 'control frames must not be fragmented');
      if (rsv1) return this.fail('WS_ERR_UNEXPECTED_RSV', CloseCode.ProtocolError, 'RSV1 must be clear on control frames');
    } else if (opcode === Opcode.Continuation) {
      if (!this.inMessage) return this.fail('WS_ERR_UNEXPECTED_CONTINUATION', CloseCode.ProtocolError, 'continuation frame with no message to continue');
      if (rsv1) return this.fail('WS_ERR_UNEXPECTED_RSV', CloseCode.ProtocolError, 'RSV1 must be clear on continuation frames');
    } else if (opcode <= Opcode.Binary) {
      if (this.inMessage) return this.fail('WS_ERR_EXPECTED_CONTINUATION', CloseCode.ProtocolError, 'new data frame inside a fragmented message');
      if (rsv1 && !this.deflate) return this.fail('WS_ERR_UNEXPECTED_RSV', CloseCode.ProtocolError, 'RSV1 must be clear without permessage-deflate');
    } else {
      return this.fail('WS_ERR_INVALID_OPCODE', CloseCode.ProtocolError, `reserved opcode ${opcode}`);
    }
    this.fin = fin;
    this.rsv1 = rsv1;
    this.opcode = opcode;
    this.state = HEAD1;
  }

  private header1(b: number): void {
    const masked = (b & 0x80) !== 0;
    const len7 = b & 0x7f;
    if (masked !== this.expectMask) {
      return masked
        ? this.fail('WS_ERR_UNEXPECTED_MASK', CloseCode.ProtocolError, 'frames from a server must not be masked')
        : this.fail('WS_ERR_EXPECTED_MASK', CloseCode.ProtocolError, 'frames from a client must be masked');
    }
    if (this.opcode >= 8) {
      if (len7 > MAX_CONTROL_PAYLOAD) return this.fail('WS_ERR_CONTROL_TOO_LONG', CloseCode.ProtocolError, 'control frame payload over 125 bytes');
      if (this.opcode === Opcode.Close && len7 === 1) return this.fail('WS_ERR_INVALID_CLOSE_PAYLOAD', CloseCode.ProtocolError, 'close payload of one byte');
    }
    this.masked = masked;
    if (len7 < 126) {
      this.frameLength = len7;
      this.lengthKnown();
    } else {
      this.frameLength = 0;
      this.extNeeded = len7 === 126 ? 2 : 8;
      this.extGot = 0;
      this.state = EXT_LENGTH;
    }
  }

  /** Accumulate one byte of a 16- or 64-bit length; false once the parser has failed. */
  private lengthByte(b: number): boolean {
    if (this.extGot === 0 && this.extNeeded === 8 && b >= 0x80) {
      this.fail('WS_ERR_INVALID_LENGTH', CloseCode.ProtocolError, 'most significant bit of a 64-bit length must be 0');
      return false;
    }
    // Exact below 2^53; anything larger fails the checks below anyway.
    this.frameLength = this.frameLength * 256 + b;
    if (++this.extGot < this.extNeeded) return true;
    const min = this.extNeeded === 2 ? 126 : 0x10000;
    if (this.frameLength < min) {
      this.fail('WS_ERR_NON_MINIMAL_LENGTH', CloseCode.ProtocolError, 'payload length not in its minimal encoding');
      return false;
    }
    if (this.frameLength > Number.MAX_SAFE_INTEGER) {
      this.fail('WS_ERR_MESSAGE_TOO_BIG', CloseCode.MessageTooBig, 'payload length over 2^53 - 1');
      return false;
    }
    this.lengthKnown();
    return this.state !== DONE;
  }

  private lengthKnown(): void {
    if (this.opcode < 8) {
      if (this.opcode !== Opcode.Continuation) {
        this.inMessage = true;
        this.messageText = this.opcode === Opcode.Text;
        this.messageCompressed = this.rsv1;
        this.messageLength = 0;
        this.messageFrames = 0;
        this.validateText = this.messageText && !this.rsv1;
        this.messageAscii = this.validateText;
        if (this.validateText) this.utf8.reset();
      }
      if (this.frameLength > this.maxMessageSize - this.messageLength) {
        return this.fail('WS_ERR_MESSAGE_TOO_BIG', CloseCode.MessageTooBig, `message over ${this.maxMessageSize} bytes`);
      }
      if (++this.messageFrames > this.maxFragments) {
        return this.fail('WS_ERR_TOO_MANY_FRAGMENTS', CloseCode.PolicyViolation, `message in more than ${this.maxFragments} frames`);
      }
      this.messageLength += this.frameLength;
      if (this.stream && this.opcode !== Opcode.Continuation) this.handler.onMessageStart!(this.messageText, this.messageCompressed);
    }
    if (this.masked) {
      this.maskGot = 0;
      this.state = MASK_KEY;
    } else {
      this.beginPayload();
    }
  }

  private beginPayload(): void {
    this.payloadDone = 0;
    if (this.frameLength > 0) {
      this.state = PAYLOAD;
      return;
    }
    this.state = HEAD0;
    if (this.opcode >= 8) this.controlFrame(EMPTY);
    else if (this.fin) this.endMessage();
  }

  private controlPayload(buf: Buffer, pos: number, n: number): void {
    if (this.masked) this.unmask(buf, pos, n);
    if (this.payloadDone === 0 && n === this.frameLength) {
      // Whole control frame in this chunk: no copy (unless the chunk is only lent).
      this.state = HEAD0;
      return this.controlFrame(this.handOut(buf, pos, pos + n));
    }
    // Spans chunks: every byte of this allocation gets written before it is handed out.
    if (this.payloadDone === 0) this.control = Buffer.allocUnsafe(this.frameLength);
    buf.copy(this.control!, this.payloadDone, pos, pos + n);
    this.payloadDone += n;
    if (this.payloadDone === this.frameLength) {
      const payload = this.control!;
      this.control = null;
      this.state = HEAD0;
      this.controlFrame(payload);
    }
  }

  /** One byte of a masking key that arrives split across chunks. */
  private maskByte(b: number): void {
    const i = this.maskGot++;
    if (i === 0) this.m0 = b;
    else if (i === 1) this.m1 = b;
    else if (i === 2) this.m2 = b;
    else this.m3 = b;
  }

  /**
   * Unmask `n` payload bytes at `pos` in place, continuing the key where the frame is. Returns
   * the bitwise OR of the unmasked bytes when it saw each of them (small payloads: below 0x80
   * means all ASCII, which spares text a second pass), else 0xff.
   */
  private unmask(buf: Buffer, pos: number, n: number): number {
    if (buf === this.borrowed && LITTLE_ENDIAN) {
      const seen = this.unmaskWords(buf, pos, n);
      if (seen >= 0) return seen;
    }
    if (n < SMALL_UNMASK) {
      const end = pos + n;
      let i = pos;
      let seen = 0;
      // Finish the key's current turn, then four bytes at a time.
      for (let p = this.payloadDone & 3; p !== 0 && i < end; p = (p + 1) & 3, i++) {
        const b = buf[i]! ^ (p === 1 ? this.m1 : p === 2 ? this.m2 : this.m3);
        buf[i] = b;
        seen |= b;
      }
      const m0 = this.m0, m1 = this.m1, m2 = this.m2, m3 = this.m3;
      for (; i + 4 <= end; i += 4) {
        const b0 = buf[i]! ^ m0, b1 = buf[i + 1]! ^ m1, b2 = buf[i + 2]! ^ m2, b3 = buf[i + 3]! ^ m3;
        buf[i] = b0;
        buf[i + 1] = b1;
        buf[i + 2] = b2;
        buf[i + 3] = b3;
        seen |= b0 | b1 | b2 | b3;
      }
      for (let m = 0; i < end; i++, m++) {
        const b = buf[i]! ^ (m === 0 ? m0 : m === 1 ? m1 : m2);
        buf[i] = b;
        seen |= b;
      }
      return seen;
    }
    const key = MASK_SCRATCH;
    key[0] = this.m0;
    key[1] = this.m1;
    key[2] = this.m2;
    key[3] = this.m3;
    applyMask(buf, pos, buf, pos, n, key, 0, this.payloadDone);
    return 0xff;
  }

  /**
   * `unmask` for a borrowed chunk (little-endian machines): every word of the chunk's memory
   * that holds payload bytes is XORed once through the chunk's word view (see `wordsOf`), with
   * the key's bytes zeroed where the first and last words hold bytes that are not this payload's
   * (XOR with 0 leaves them as they are). Returns the OR of the unmasked bytes, as `unmask` does,
   * or -1 (nothing done) when the view does not reach the payload's last byte (a buffer whose
   * length is not a whole number of words).
   */
  private unmaskWords(buf: Buffer, pos: number, n: number): number {
    if (wordsOf !== buf) viewWords(buf);
    const view = words;
    const start = wordsBase + pos;
    const end = start + n;
    let k = start >>> 2;
    const last = (end - 1) >>> 2;
    if (last >= view.length) return -1;
    // The phase of the key at the first word's first byte (which may precede the payload).
    const w = maskWord(this.m0, this.m1, this.m2, this.m3, (this.payloadDone - start) & 3);
    const headMask = -1 << ((start & 3) << 3);
    const tailMask = (end & 3) === 0 ? -1 : -1 >>> ((4 - (end & 3)) << 3);
    let all: number;
    if (k === last) {
      const m = headMask & tailMask;
      const v = view[k]! ^ (w & m);
      view[k] = v;
      all = v & m;
    } else {
      let v = view[k]! ^ (w & headMask);
      view[k] = v;
      all = v & headMask;
      for (k++; k < last; k++) {
        v = view[k]! ^ w;
        view[k] = v;
        all |= v;
      }
      v = view[k]! ^ (w & tailMask);
      view[k] = v;
      all |= v & tailMask;
    }
    return (all | (all >>> 8) | (all >>> 16) | (all >>> 24)) & 0xff;
  }

  private controlFrame(payload: Buffer): void {
    switch (this.opcode) {
      case Opcode.Ping:
        return this.handler.onPing(payload);
      case Opcode.Pong:
        return this.handler.onPong(payload);
      default: {
        let code: number = CloseCode.NoStatus;
        let reason = '';
        if (payload.length >= 2) {
          code = (payload[0]! << 8) | payload[1]!;
          if (!isValidCloseCode(code)) {
            return this.fail('WS_ERR_INVALID_CLOSE_CODE', CloseCode.ProtocolError, `invalid close code ${code}`);
          }
          if (payload.length > 2) {
            if (!isValidUtf8(payload, 2)) {
              return this.fail('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'close reason is not valid UTF-8');
            }
            reason = payload.toString('utf8', 2);
          }
        }
        this.state = DONE;
        this.releaseMessage();
        this.handler.onClose(code, reason);
      }
    }
  }

  private dataPayload(buf: Buffer, pos: number, n: number): void {
    const end = pos + n;
    const seen = this.masked ? this.unmask(buf, pos, n) : 0xff;
    if (this.validateText) {
      let from = pos;
      if (this.messageAscii) {
        // While the text is all ASCII the validator has nothing to carry: skip it.
        from = seen < 0x80 ? end : n < ASCII_SCAN_MAX ? asciiPrefix(buf, pos, end) : pos;
        if (from < end) this.messageAscii = false;
      }
      if (from < end && this.utf8.write(buf, from, end) !== -1) return this.failInvalidText();
    }
    this.payloadDone += n;
    const frameDone = this.payloadDone === this.frameLength;
    if (frameDone) this.state = HEAD0;
    if (this.stream) {
      this.handler.onMessageData!(buf.subarray(pos, end));
    } else if (this.first === null && this.parts.length === 0 && this.tail === null) {
      this.first = buf;
      this.firstStart = pos;
      this.firstEnd = end;
    } else {
      if (this.first !== null) {
        const f = this.first;
        this.first = null;
        this.retain(f, this.firstStart, this.firstEnd);
      }
      this.retain(buf, pos, end);
      if (this.state === DONE) return;
    }
    if (frameDone && this.fin) this.endMessage();
  }

  /** Keep `buf[start:end]` for the message being reassembled (a copy when `buf` is only lent). */
  private retain(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    const lent = buf === this.borrowed;
    if (n >= KEEP_SLICE_MIN && (lent || n * 2 >= buf.buffer.byteLength)) {
      this.flushTail();
      this.parts.push(lent ? copyOf(buf, start, end) : buf.subarray(start, end));
    } else {
      if (this.tail === null || this.tail.length - this.tailEnd < n) {
        this.flushTail();
        // Zero-filled: a block may be handed out as a view, and its unused bytes must not leak.
        this.tail = Buffer.alloc(Math.max(COALESCE_BLOCK, n));
        this.tailStart = this.tailEnd = 0;
      }
      buf.copy(this.tail, this.tailEnd, start, end);
      this.tailEnd += n;
    }
    if (this.parts.length > this.maxBufferedChunks) {
      this.fail('WS_ERR_TOO_MANY_CHUNKS', CloseCode.PolicyViolation, `message retained in more than ${this.maxBufferedChunks} buffers`);
    }
  }

  private flushTail(): void {
    if (this.tail !== null && this.tailEnd > this.tailStart) {
      this.parts.push(this.tail.subarray(this.tailStart, this.tailEnd));
      this.tailStart = this.tailEnd;
    }
  }

  private endMessage(): void {
    if (this.validateText && !this.utf8.end()) return this.failTruncatedText();
    this.inMessage = false;
    if (this.stream) return this.handler.onMessageEnd!();
    const handler = this.handler;
    const first = this.first;
    if (first !== null && this.validateText && handler.onText !== undefined) {
      // The common case, decoded straight from the chunk it arrived in.
      const text = decode(first, this.messageAscii, this.firstStart, this.firstEnd);
      this.releaseMessage();
      return handler.onText(text);
    }
    let data: Buffer;
    if (first !== null) {
      data = this.handOut(first, this.firstStart, this.firstEnd);
    } else {
      this.flushTail();
      const parts = this.parts;
      data = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.messageLength);
    }
    this.releaseMessage();
    if (this.validateText && handler.onText !== undefined) handler.onText(data.toString(this.messageAscii ? 'latin1' : 'utf8'));
    else handler.onMessage!(data, this.messageText, this.messageCompressed);
  }

  private releaseMessage(): void {
    this.first = null;
    if (this.parts.length > 0) this.parts = [];
    this.tail = null;
    this.control = null;
  }

  /**
   * `buf[start:end]` for the handler to keep: a view, or a copy when `buf` is the chunk of a
   * `receiveBorrowed` call (only lent for the call).
   */
  private handOut(buf: Buffer, start: number, end: number): Buffer {
    return buf === this.borrowed ? copyOf(buf, start, end) : buf.subarray(start, end);
  }

  private failInvalidText(): void {
    this.fail('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'text message is not valid UTF-8');
  }

  private failTruncatedText(): void {
    this.fail('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'text message ends inside a UTF-8 sequence');
  }

  private fail(code: WebSocketErrorCode, closeCode: number, message: string): void {
    this.state = DONE;
    this.inMessage = false;
    this.releaseMessage();
    this.handler.onError(new WebSocketProtocolError(code, closeCode, message));
  }
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0)) throw new RangeError(`${name} must be a positive number`);
  return value;
}

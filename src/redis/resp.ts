/**
 * RESP, the Redis serialization protocol, as a sans-IO codec: {@link RespParser} turns reply
 * bytes into values, {@link encodeCommand} / {@link encodeCommands} turn commands into bytes.
 * No sockets, no timers: a client protocol glues them to a transport.
 *
 * Replies are RESP2 (what every Redis speaks) and RESP3 (after `HELLO 3`). Commands are always
 * sent as RESP arrays of bulk strings, the one form both versions accept.
 *
 * @module
 */
import { RedisReplyError, RespProtocolError, type RespProtocolErrorCode } from './respErrors.js';

/**
 * A decoded reply. How each RESP type maps:
 *
 * | RESP | value |
 * | --- | --- |
 * | `+` simple string | `string` (UTF-8) |
 * | `-` error, `!` bulk error | {@link RedisReplyError} (a value, never thrown by the parser) |
 * | `:` integer | `number`, or `bigint` beyond ±2^53 |
 * | `$` bulk string, `=` verbatim string | `Buffer` (a `string` with `decodeUtf8`); verbatim strings lose their `txt:`/`mkd:` prefix |
 * | `$-1`, `*-1`, `_` | `null` |
 * | `#` boolean | `boolean` |
 * | `,` double | `number` (`inf`, `-inf`, `nan` included) |
 * | `(` big number | `bigint` (always, however small) |
 * | `*` array | `RespValue[]` |
 * | `~` set | `Set<RespValue>` (Buffers are not deduplicated: they compare by identity) |
 * | `%` map | `Map<RespValue, RespValue>` in wire order (with `decodeUtf8`, string keys look up) |
 * | `\|` attribute | skipped: the value it annotates is returned alone |
 * | `>` push | a separate `'push'` event, see {@link RespEvent} |
 */
export type RespValue =
  | string
  | Buffer
  | number
  | bigint
  | boolean
  | null
  | RedisReplyError
  | RespValue[]
  | Map<RespValue, RespValue>
  | Set<RespValue>;

/**
 * What {@link RespParser.nextEvent} hands out: a reply (the answer to the oldest command in
 * flight) or, in RESP3, a push (out-of-band data such as a pub/sub `message`, answering no
 * command). In RESP2, pub/sub messages arrive as ordinary `'reply'` arrays.
 */
export type RespEvent =
  | { readonly type: 'reply'; readonly value: RespValue }
  | { readonly type: 'push'; readonly value: RespValue[] };

/**
 * Options of a {@link RespParser}. Each limit is checked as soon as the header that announces a
 * size is read, before waiting for what it announces; a line is refused as soon as it is longer
 * than allowed, before its CRLF arrives.
 */
export interface RespParserOptions {
  /**
   * Return bulk and verbatim strings as `string`s (decoded as UTF-8; invalid sequences become
   * U+FFFD) instead of `Buffer`s. Default `false`: binary-safe Buffers.
   */
  decodeUtf8?: boolean;
  /**
   * Largest bulk string, bulk error or verbatim string accepted, in bytes. A longer length
   * header → `BULK_TOO_LONG`. Default {@link DEFAULT_RESP_MAX_BULK_LENGTH} (512 MiB, Redis's own
   * `proto-max-bulk-len`).
   */
  maxBulkLength?: number;
  /**
   * Largest element count of an array, set, push or attribute, and largest pair count of a map.
   * More → `ARRAY_TOO_LONG`. Default {@link DEFAULT_RESP_MAX_ARRAY_LENGTH} (2^32 − 1).
   */
  maxArrayLength?: number;
  /**
   * Largest type line (simple string, simple error, number, double, big number, length
   * header), in bytes before its CRLF. Longer → `LINE_TOO_LONG`.
   * Default {@link DEFAULT_RESP_MAX_LINE_LENGTH} (64 KiB).
   */
  maxLineLength?: number;
  /** Deepest nesting of aggregates; deeper → `TOO_DEEP`. Default {@link DEFAULT_RESP_MAX_DEPTH} (100). */
  maxDepth?: number;
}

/** Default `maxBulkLength`: 512 MiB. */
export const DEFAULT_RESP_MAX_BULK_LENGTH = 512 * 1024 * 1024;
/** Default `maxArrayLength`: 2^32 − 1 elements (as hiredis). */
export const DEFAULT_RESP_MAX_ARRAY_LENGTH = 2 ** 32 - 1;
/** Default `maxLineLength`: 64 KiB. */
export const DEFAULT_RESP_MAX_LINE_LENGTH = 64 * 1024;
/** Default `maxDepth`: 100 nested aggregates. */
export const DEFAULT_RESP_MAX_DEPTH = 100;

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

// Aggregate kinds on the parse stack.
const K_ARRAY = 0;
const K_SET = 1;
const K_MAP = 2;
const K_ATTRIBUTE = 3;
const K_PUSH = 4;

interface Frame {
  kind: number;
  /** Elements still to read (a map counts keys and values). */
  remaining: number;
  /** Elements read so far (nothing is kept for an attribute). */
  items: RespValue[];
}

// The spec's grammar: integral digits, then optionally a dot and digits, then an exponent.
const DOUBLE = /^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const INFINITY = /^([+-]?)inf(?:inity)?$/i;
// Redis before 7.2 printed NaN however libc did: "nan", "-nan", "NAN", "nan(0x…)".
const NAN = /^[+-]?nan(?:\(.*\))?$/i;
const BIG_NUMBER = /^[+-]?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) throw new RangeError(`${name} must be a non-negative number, not ${String(value)}`);
  return value;
}

/**
 * An incremental RESP2/RESP3 reply parser that never touches I/O.
 *
 * Feed it bytes with {@link RespParser.receiveData} in any split, then pull events with
 * {@link RespParser.nextEvent} until it returns `null` (more bytes needed). Replies come out in
 * wire order, which is command order. However the input is cut, down to one byte at a time, the
 * events are the same.
 *
 * Strict and bounded: a bare LF or CR, a length that is not digits, a bulk payload not followed
 * by CRLF, a bulk string over `maxBulkLength`, an aggregate over `maxArrayLength`, a line over
 * `maxLineLength` or nesting over `maxDepth` makes `nextEvent` throw a
 * {@link RespProtocolError}. The parser is then terminal: later input is ignored and every
 * later `nextEvent` throws the same error. Events completed before the bad bytes are returned
 * first. Nothing is parsed twice: a reply that arrives in pieces resumes where it stopped.
 *
 * Ownership: bulk strings are `Buffer` views into the chunks given to `receiveData` whenever a
 * payload arrived whole in one chunk (copies only when it spanned chunks), so do not reuse or
 * mutate a chunk after handing it over; copy a small value you keep for long if the chunk it
 * pins is big.
 *
 * Drain `nextEvent` after each `receiveData`: bytes of complete replies stay buffered until
 * pulled.
 *
 * @example
 * ```ts
 * const parser = new RespParser();
 * parser.receiveData(Buffer.from('+OK\r\n$5\r\nhel'));
 * parser.nextEvent(); // { type: 'reply', value: 'OK' }
 * parser.nextEvent(); // null: the bulk string is not complete
 * parser.receiveData(Buffer.from('lo\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n'));
 * parser.nextEvent(); // { type: 'reply', value: <Buffer 68 65 6c 6c 6f> }
 * parser.nextEvent(); // { type: 'push', value: [<Buffer message>, <Buffer ch>, <Buffer hi>] }
 * ```
 */
export class RespParser {
  private readonly decodeUtf8: boolean;
  private readonly maxBulkLength: number;
  private readonly maxArrayLength: number;
  private readonly maxLineLength: number;
  private readonly maxDepth: number;

  // Unconsumed input is buf[pos, len). buf is either the caller's last chunk (borrowed) or a
  // store of our own (owned) where later chunks are appended after len.
  private buf: Buffer = EMPTY;
  private pos = 0;
  private len = 0;
  private owned = false;
  // A view into the owned store was handed out: never compact it (that would overwrite it).
  private lent = false;
  // Stream offset of buf[0], for error messages.
  private base = 0;
  // Bytes of the current line already scanned for its CRLF.
  private scanned = 0;
  // Type byte of the bulk whose payload is awaited (0: none) and its length.
  private bulkType = 0;
  private bulkLength = 0;
  private readonly stack: Frame[] = [];
  private failure: RespProtocolError | null = null;

  /** @throws RangeError if a limit is negative or not a number. */
  constructor(options: RespParserOptions = {}) {
    this.decodeUtf8 = options.decodeUtf8 === true;
    this.maxBulkLength = checkLimit('maxBulkLength', options.maxBulkLength, DEFAULT_RESP_MAX_BULK_LENGTH);
    this.maxArrayLength = checkLimit('maxArrayLength', options.maxArrayLength, DEFAULT_RESP_MAX_ARRAY_LENGTH);
    this.maxLineLength = checkLimit('maxLineLength', options.maxLineLength, DEFAULT_RESP_MAX_LINE_LENGTH);
    this.maxDepth = checkLimit('maxDepth', options.maxDepth, DEFAULT_RESP_MAX_DEPTH);
  }

  /** The protocol error that terminated the parser, or `null` while it is healthy. */
  get error(): RespProtocolError | null {
    return this.failure;
  }

  /**
   * Whether a reply has begun but not ended (or unparsed bytes are buffered): if the
   * connection closes now, a reply was cut short.
   */
  get partial(): boolean {
    return this.len > this.pos || this.bulkType !== 0 || this.stack.length > 0;
  }

  /**
   * Hand the parser the next bytes of the stream. Parses nothing by itself: call
   * {@link RespParser.nextEvent} until it returns `null`. Ignored once the parser failed.
   *
   * @throws TypeError if `data` is not a Uint8Array.
   */
  receiveData(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError(`RespParser takes bytes (a Uint8Array or Buffer), not ${typeof data}`);
    const n = data.byteLength;
    if (this.failure !== null || n === 0) return;
    const chunk = asBuffer(data);
    const rest = this.len - this.pos;
    if (rest === 0) {
      // Nothing pending: parse straight from the caller's chunk, no copy.
      this.base += this.len;
      this.buf = chunk;
      this.pos = 0;
      this.len = n;
      this.owned = false;
      this.lent = false;
      return;
    }
    if (this.owned && this.len + n <= this.buf.length) {
      chunk.copy(this.buf, this.len);
      this.len += n;
      return;
    }
    if (this.owned && !this.lent && rest + n <= this.buf.length && this.pos >= rest) {
      // Compact in place; the move is no larger than what was consumed, so copying stays linear.
      this.buf.copy(this.buf, 0, this.pos, this.len);
      chunk.copy(this.buf, rest);
      this.base += this.pos;
      this.pos = 0;
      this.len = rest + n;
      return;
    }
    // A new store, doubling so that a reply arriving in many pieces is copied a bounded number
    // of times. While a bulk payload is awaited the store never outgrows what it needs, so the
    // value handed out later does not pin a store twice its size.
    const used = rest + n;
    let capacity = Math.max(256, 2 * used);
    if (this.bulkType !== 0) capacity = Math.max(used, Math.min(capacity, this.bulkLength + 2));
    const store = Buffer.allocUnsafe(capacity);
    this.buf.copy(store, 0, this.pos, this.len);
    chunk.copy(store, rest);
    this.base += this.pos;
    this.buf = store;
    this.pos = 0;
    this.len = used;
    this.owned = true;
    this.lent = false;
  }

  /**
   * The next complete reply or push, or `null` when more bytes are needed.
   *
   * @throws RespProtocolError when the stream is not valid RESP or breaks a limit; the parser is
   *   terminal from then on and every later call throws the same error.
   */
  nextEvent(): RespEvent | null {
    if (this.failure !== null) throw this.failure;
    const stack = this.stack;
    parse: for (;;) {
      let value: RespValue;
      if (this.bulkType !== 0) {
        const start = this.pos;
        const end = start + this.bulkLength;
        if (this.len < end + 2) return null;
        if (this.buf[end] !== CR || this.buf[end + 1] !== LF) {
          this.fail('MISSING_CRLF', 'bulk payload not followed by CRLF', end);
        }
        value = this.bulkValue(start, end);
        this.pos = end + 2;
        this.bulkType = 0;
      } else {
        const end = this.findLineEnd();
        if (end < 0) return null;
        const buf = this.buf;
        const start = this.pos;
        const type = end > start ? buf[start]! : 0;
        const s = start + 1;
        this.pos = end + 2;
        switch (type) {
          case 0x2b: // + simple string
            value = buf.toString('utf8', s, end);
            break;
          case 0x2d: // - simple error
            value = new RedisReplyError(buf.toString('utf8', s, end));
            break;
          case 0x3a: // : integer
            value = this.integer(s, end, start);
            break;
          case 0x24: // $ bulk string
          case 0x21: // ! bulk error
          case 0x3d: {
            // = verbatim string
            const n = this.count(s, end, start, type === 0x24);
            if (n < 0) {
              value = null;
              break;
            }
            if (n > this.maxBulkLength) this.fail('BULK_TOO_LONG', `bulk length ${n} over the limit of ${this.maxBulkLength}`, start);
            this.bulkType = type;
            this.bulkLength = n;
            continue parse;
          }
          case 0x2a: // * array
          case 0x7e: // ~ set
          case 0x25: // % map
          case 0x7c: // | attribute
          case 0x3e: {
            // > push
            const n = this.count(s, end, start, type === 0x2a);
            if (n < 0) {
              value = null;
              break;
            }
            if (n > this.maxArrayLength) this.fail('ARRAY_TOO_LONG', `aggregate of ${n} elements over the limit of ${this.maxArrayLength}`, start);
            if (type === 0x3e && stack.length > 0) this.fail('NESTED_PUSH', 'a push inside an aggregate', start);
            const kind = type === 0x2a ? K_ARRAY : type === 0x7e ? K_SET : type === 0x25 ? K_MAP : type === 0x7c ? K_ATTRIBUTE : K_PUSH;
            if (n === 0) {
              if (kind === K_ATTRIBUTE) continue parse;
              if (kind === K_PUSH) return { type: 'push', value: [] };
              value = kind === K_ARRAY ? [] : kind === K_SET ? new Set() : new Map();
              break;
            }
            if (stack.length >= this.maxDepth) this.fail('TOO_DEEP', `aggregates nested deeper than ${this.maxDepth}`, start);
            stack.push({ kind, remaining: kind === K_MAP || kind === K_ATTRIBUTE ? 2 * n : n, items: [] });
            continue parse;
          }
          case 0x5f: // _ null
            if (end !== s) this.fail('INVALID_NULL', 'a null with trailing bytes', start);
            value = null;
            break;
          case 0x23: // # boolean
            if (end === s + 1 && buf[s] === 0x74) value = true;
            else if (end === s + 1 && buf[s] === 0x66) value = false;
            else this.fail('INVALID_BOOLEAN', 'a boolean other than #t or #f', start);
            break;
          case 0x2c: // , double
            value = this.double(buf.toString('latin1', s, end), start);
            break;
          case 0x28: {
            // ( big number
            const text = buf.toString('latin1', s, end);
            if (!BIG_NUMBER.test(text)) this.fail('INVALID_BIG_NUMBER', 'a big number that is not a decimal integer', start);
            value = BigInt(text);
            break;
          }
          case 0x3b: // ; streamed string chunk
          case 0x2e: // . end of a streamed aggregate
            this.fail('UNSUPPORTED_TYPE', 'RESP3 streamed types are not supported', start);
          default:
            this.fail('INVALID_TYPE', end === start ? 'an empty line' : `no RESP type starts with byte 0x${type.toString(16)}`, start);
        }
      }
      // Hand the value up through the aggregates it completes.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return { type: 'reply', value };
        if (top.kind !== K_ATTRIBUTE) top.items.push(value);
        if (--top.remaining > 0) continue parse;
        stack.pop();
        switch (top.kind) {
          case K_ARRAY:
            value = top.items;
            break;
          case K_SET:
            value = new Set(top.items);
            break;
          case K_MAP: {
            const map = new Map<RespValue, RespValue>();
            const items = top.items;
            for (let i = 0; i < items.length; i += 2) map.set(items[i]!, items[i + 1]!);
            value = map;
            break;
          }
          case K_ATTRIBUTE:
            // Auxiliary data: the value it annotates comes next, for the same parent.
            continue parse;
          default:
            return { type: 'push', value: top.items };
        }
      }
    }
  }

  /** Where the current line's CRLF is (the index of its CR), or -1 when it has not arrived. */
  private findLineEnd(): number {
    const buf = this.buf;
    const start = this.pos;
    const len = this.len;
    // Never look further than one byte past the longest line allowed.
    const stop = Math.min(len, start + this.maxLineLength + 1);
    for (let i = start + this.scanned; i < stop; i++) {
      const c = buf[i];
      if (c === CR) {
        if (i + 1 >= len) {
          this.scanned = i - start;
          return -1;
        }
        if (buf[i + 1] !== LF) this.fail('BARE_CR', 'a CR not followed by LF', i);
        this.scanned = 0;
        return i;
      }
      if (c === LF) this.fail('BARE_LF', 'a LF not preceded by CR', i);
    }
    if (stop < len) this.fail('LINE_TOO_LONG', `a line longer than ${this.maxLineLength} bytes`, start);
    this.scanned = stop - start;
    return -1;
  }

  /** A length or count: a run of digits, or -1 when `nullable` (→ -1). */
  private count(s: number, end: number, lineStart: number, nullable: boolean): number {
    const buf = this.buf;
    if (end === s + 2 && buf[s] === 0x2d && buf[s + 1] === 0x31 && nullable) return -1;
    if (buf[s] === 0x3f && end === s + 1) this.fail('UNSUPPORTED_TYPE', 'RESP3 streamed types are not supported', lineStart);
    if (end === s) this.fail('INVALID_LENGTH', 'an empty length', lineStart);
    let n = 0;
    for (let i = s; i < end; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) this.fail('INVALID_LENGTH', `a length that is not a decimal count: ${JSON.stringify(buf.toString('latin1', s, end))}`, lineStart);
      n = n * 10 + d;
    }
    return n;
  }

  private integer(s: number, end: number, lineStart: number): number | bigint {
    const buf = this.buf;
    const negative = buf[s] === 0x2d;
    const first = negative ? s + 1 : s;
    const digits = end - first;
    if (digits === 0 || digits > 19) this.fail('INVALID_INTEGER', 'an integer out of the signed 64-bit range or empty', lineStart);
    let n = 0;
    for (let i = first; i < end; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) this.fail('INVALID_INTEGER', 'an integer with a non-digit', lineStart);
      n = n * 10 + d;
    }
    // Fifteen digits are exact in a double; beyond, count again in bigint.
    if (digits <= 15) return negative ? 0 - n : n;
    const big = BigInt(buf.toString('latin1', s, end));
    if (big < INT64_MIN || big > INT64_MAX) this.fail('INVALID_INTEGER', 'an integer out of the signed 64-bit range', lineStart);
    return big >= -(2n ** 53n) && big <= 2n ** 53n ? Number(big) : big;
  }

  private double(text: string, lineStart: number): number {
    if (DOUBLE.test(text)) return Number(text);
    const inf = INFINITY.exec(text);
    if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity;
    if (NAN.test(text)) return NaN;
    return this.fail('INVALID_DOUBLE', `not a double: ${JSON.stringify(text)}`, lineStart);
  }

  private bulkValue(start: number, end: number): RespValue {
    const buf = this.buf;
    if (this.bulkType === 0x21) return new RedisReplyError(buf.toString('utf8', start, end));
    if (this.bulkType === 0x3d) {
      // "txt:" or "mkd:" first: a three-byte format and a colon.
      if (end - start < 4 || buf[start + 3] !== 0x3a) this.fail('INVALID_VERBATIM', 'a verbatim string without its format prefix', start);
      start += 4;
    }
    if (this.decodeUtf8) return buf.toString('utf8', start, end);
    if (this.owned) this.lent = true;
    return buf.subarray(start, end);
  }

  private fail(code: RespProtocolErrorCode, message: string, index: number): never {
    const error = new RespProtocolError(code, message, this.base + index);
    this.failure = error;
    // Let go of the input: nothing more will be parsed.
    this.buf = EMPTY;
    this.pos = this.len = 0;
    this.stack.length = 0;
    this.bulkType = 0;
    throw error;
  }
}

/**
 * One argument of a command. Strings are sent as UTF-8; bytes as they are; numbers in decimal
 * (`1.5`, `-3`, `1e+21`), with `Infinity` as `+inf` and `-Infinity` as `-inf` (what Redis
 * expects for scores); bigints in decimal.
 */
export type RespArg = string | Uint8Array | number | bigint;

function argBytes(arg: RespArg): string | Uint8Array {
  switch (typeof arg) {
    case 'string':
      return arg;
    case 'number':
      if (Number.isNaN(arg)) throw new RangeError('cannot send NaN as a Redis argument');
      if (arg === Infinity) return '+inf';
      if (arg === -Infinity) return '-inf';
      return String(arg);
    case 'bigint':
      return arg.toString();
    default:
      if (arg instanceof Uint8Array) return arg;
      throw new TypeError(`a Redis argument is a string, bytes, a number or a bigint, not ${arg === null ? 'null' : typeof arg}`);
  }
}

function decimalLength(n: number): number {
  let len = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    len++;
  }
  return len;
}

// Write a non-negative integer in decimal, no string in between.
function writeDecimal(out: Buffer, offset: number, n: number): number {
  const end = offset + decimalLength(n);
  let i = end;
  do {
    out[--i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return end;
}

/**
 * Encode several commands into one Buffer, back to back: a pipeline, written with one
 * `transport.write` and answered by as many replies, in order.
 *
 * @throws RangeError for an empty command (or an empty list of commands) or a NaN argument;
 *   TypeError for an argument that is not a string, bytes, a number or a bigint. Nothing is
 *   encoded then.
 *
 * @example
 * ```ts
 * transport.write(encodeCommands([['MULTI'], ['INCR', 'n'], ['EXPIRE', 'n', 60], ['EXEC']]));
 * ```
 */
export function encodeCommands(commands: ReadonlyArray<ReadonlyArray<RespArg>>): Buffer {
  if (commands.length === 0) throw new RangeError('no command to encode');
  // First pass: sizes, so the output is allocated once and written without concatenation.
  const parts: Array<string | Uint8Array> = [];
  const lengths: number[] = [];
  let total = 0;
  for (const args of commands) {
    if (args.length === 0) throw new RangeError('a command needs at least its name');
    total += 3 + decimalLength(args.length);
    for (const arg of args) {
      const part = argBytes(arg);
      const n = typeof part === 'string' ? Buffer.byteLength(part, 'utf8') : part.byteLength;
      parts.push(part);
      lengths.push(n);
      total += 5 + decimalLength(n) + n;
    }
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  let k = 0;
  for (const args of commands) {
    out[offset++] = 0x2a; // *
    offset = writeDecimal(out, offset, args.length);
    out[offset++] = CR;
    out[offset++] = LF;
    for (let i = 0; i < args.length; i++, k++) {
      const part = parts[k]!;
      const n = lengths[k]!;
      out[offset++] = 0x24; // $
      offset = writeDecimal(out, offset, n);
      out[offset++] = CR;
      out[offset++] = LF;
      if (typeof part === 'string') out.write(part, offset, n, 'utf8');
      else out.set(part, offset);
      offset += n;
      out[offset++] = CR;
      out[offset++] = LF;
    }
  }
  return out;
}

/**
 * Encode one command as a RESP array of bulk strings (`*N\r\n$len\r\narg\r\n…`), in one Buffer.
 * Byte arguments are copied once, into the output, never through a string.
 *
 * @throws RangeError for an empty command or a NaN argument; TypeError for an argument of
 *   another type.
 *
 * @example
 * ```ts
 * encodeCommand(['SET', 'greeting', Buffer.from([0xff, 0x00]), 'EX', 60]);
 * // *5\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$2\r\n\xff\x00\r\n$2\r\nEX\r\n$2\r\n60\r\n
 * ```
 */
export function encodeCommand(args: ReadonlyArray<RespArg>): Buffer {
  return encodeCommands([args]);
}

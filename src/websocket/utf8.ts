/**
 * Incremental UTF-8 validation (RFC 3629), used for text messages and close reasons.
 *
 * @module
 */
import { isUtf8 } from 'node:buffer';

// DFA states. Each non-accepting state says which range the next byte must fall in:
// CONT1..3 = 1..3 more bytes in 80..BF; the others constrain the first continuation byte so
// that overlongs (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points above
// U+10FFFF (F4 90..BF) are rejected at the byte that makes them so.
const ACCEPT = 0;
const CONT1 = 1;
const CONT2 = 2;
const CONT3 = 3;
const AFTER_E0 = 4; // A0..BF
const AFTER_ED = 5; // 80..9F
const AFTER_F0 = 6; // 90..BF
const AFTER_F4 = 7; // 80..8F
const REJECT = 8;

// Below this length the byte loop beats the native call plus the subarray it needs.
const NATIVE_MIN = 48;

function step(state: number, byte: number): number {
  switch (state) {
    case ACCEPT:
      if (byte < 0x80) return ACCEPT;
      if (byte < 0xc2) return REJECT; // lone continuation or overlong 2-byte lead C0/C1
      if (byte < 0xe0) return CONT1;
      if (byte === 0xe0) return AFTER_E0;
      if (byte === 0xed) return AFTER_ED;
      if (byte < 0xf0) return CONT2;
      if (byte === 0xf0) return AFTER_F0;
      if (byte < 0xf4) return CONT3;
      if (byte === 0xf4) return AFTER_F4;
      return REJECT; // F5..FF never appear in UTF-8
    case CONT1:
      return (byte & 0xc0) === 0x80 ? ACCEPT : REJECT;
    case CONT2:
      return (byte & 0xc0) === 0x80 ? CONT1 : REJECT;
    case CONT3:
      return (byte & 0xc0) === 0x80 ? CONT2 : REJECT;
    case AFTER_E0:
      return byte >= 0xa0 && byte <= 0xbf ? CONT1 : REJECT;
    case AFTER_ED:
      return byte >= 0x80 && byte <= 0x9f ? CONT1 : REJECT;
    case AFTER_F0:
      return byte >= 0x90 && byte <= 0xbf ? CONT2 : REJECT;
    case AFTER_F4:
      return byte >= 0x80 && byte <= 0x8f ? CONT2 : REJECT;
    default:
      return REJECT;
  }
}

/**
 * A streaming UTF-8 validator: feed it bytes in any split (across TCP chunks, frames or
 * inflated blocks) and it reports the **first byte** at which the input stops being a prefix of
 * valid UTF-8 — an overlong form, a surrogate (U+D800–U+DFFF), a code point above U+10FFFF, a
 * byte that can never occur (C0, C1, F5–FF) or a missing continuation byte. Call
 * {@link Utf8Validator.end} when the text is complete to reject a truncated final sequence.
 *
 * Once it has rejected, it stays rejected until {@link Utf8Validator.reset}.
 * Non-characters (U+FFFE, U+FFFF, …) are valid, as in RFC 3629 and `TextDecoder`.
 *
 * @example
 * ```ts
 * const v = new Utf8Validator();
 * v.write(Uint8Array.of(0xce, 0xba, 0xf4)); // -1: still a valid prefix
 * v.write(Uint8Array.of(0x90));            // 0: F4 90 is above U+10FFFF, rejected at this byte
 * ```
 */
export class Utf8Validator {
  private state = ACCEPT;

  /**
   * Validate `data[start:end]` as the continuation of everything written so far.
   *
   * @returns `-1` if the bytes keep the text a valid prefix, otherwise the index (into `data`) of
   *   the first offending byte. After a rejection every later call returns `start`.
   */
  write(data: Uint8Array, start = 0, end: number = data.length): number {
    let s = this.state;
    let i = start;
    if (s === REJECT) return start;
    // Finish a sequence left open by the previous write.
    while (s !== ACCEPT && i < end) {
      s = step(s, data[i]!);
      if (s === REJECT) {
        this.state = REJECT;
        return i;
      }
      i++;
    }
    if (end - i >= NATIVE_MIN) {
      // Hand the longest prefix that cannot end mid-sequence to the native validator; the
      // (at most 3-byte) incomplete tail goes through the DFA so that state carries over.
      let boundary = end;
      let j = end - 1;
      const limit = Math.max(i, end - 4);
      while (j > limit && (data[j]! & 0xc0) === 0x80) j--;
      const lead = data[j]!;
      if (lead >= 0xc0) {
        const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (end - j < need) boundary = j;
      }
      if (isUtf8(data.subarray(i, boundary))) i = boundary;
      // On failure fall through: the byte loop below finds the exact offending index.
    }
    for (; i < end; i++) {
      const c = data[i]!;
      if (s === ACCEPT && c < 0x80) continue;
      s = step(s, c);
      if (s === REJECT) {
        this.state = REJECT;
        return i;
      }
    }
    this.state = s;
    return -1;
  }

  /**
   * Whether the text written so far is complete, valid UTF-8 (no sequence left open).
   * Does not reset the validator.
   */
  end(): boolean {
    return this.state === ACCEPT;
  }

  /** Whether an invalid byte has been seen. */
  get failed(): boolean {
    return this.state === REJECT;
  }

  /** Forget everything written; ready for a new text. */
  reset(): void {
    this.state = ACCEPT;
  }
}

/**
 * Whether `data` (or `data[start:end]`) is complete, valid UTF-8 under the same rules as
 * {@link Utf8Validator}.
 *
 * @example
 * ```ts
 * isValidUtf8(Buffer.from('κόσμε')); // true
 * isValidUtf8(Uint8Array.of(0xed, 0xa0, 0x80)); // false: a surrogate
 * ```
 */
export function isValidUtf8(data: Uint8Array, start = 0, end: number = data.length): boolean {
  if (end - start >= NATIVE_MIN) {
    return isUtf8(start === 0 && end === data.length ? data : data.subarray(start, end));
  }
  let s = ACCEPT;
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    if (s === ACCEPT && c < 0x80) continue;
    s = step(s, c);
    if (s === REJECT) return false;
  }
  return s === ACCEPT;
}

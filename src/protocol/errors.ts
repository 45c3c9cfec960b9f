/**
 * Errors of the protocol layer.
 */

/**
 * `sendString` of a length-prefixed protocol was given more bytes than its
 * prefix can count: `length >= 2 ** (8 * prefixLength)` (256 for
 * Int8StringReceiver, 65536 for Int16StringReceiver, 2**32 for
 * Int32StringReceiver). Nothing was written.
 */
export class StringTooLongError extends Error {
  override name = 'StringTooLongError';
  constructor(
    /** Bytes that were to be sent. */
    readonly length: number,
    /** The first length the prefix cannot represent. */
    readonly limit: number,
  ) {
    super(`Try to send ${length} bytes whereas maximum is ${limit}`);
  }
}

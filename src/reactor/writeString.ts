/**
 * The argument rules of `ITransport.writeString`, shared by the socket
 * transport and the test doubles so they refuse the same input.
 */

/** The encodings `writeString` takes. */
export type WriteStringEncoding = 'latin1' | 'utf8';

/** Throw the TypeError a transport's `writeString` gives for a non-string or another encoding. */
export function assertWritableString(data: unknown, encoding: unknown): asserts data is string {
  if (typeof data !== 'string') {
    throw new TypeError(`writeString writes a string, not ${data === null ? 'null' : typeof data}`);
  }
  if (encoding !== 'latin1' && encoding !== 'utf8') {
    throw new TypeError(`writeString encodes as 'latin1' or 'utf8', not ${JSON.stringify(encoding) ?? String(encoding)}`);
  }
}

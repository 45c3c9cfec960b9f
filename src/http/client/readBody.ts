/**
 * `readBody`: a whole response body as one Buffer, with a size limit.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { Deferred } from '../../defer/deferred.js';
import type { Failure } from '../../defer/failure.js';
import type { IPushProducer } from '../../reactor/interfaces.js';
import { ResponseBodyTooLarge, ResponseDone } from './errors.js';
import type { Response } from './response.js';

/** The default `maxSize` of {@link readBody} and of the Response conveniences: 64 MiB. */
export const DEFAULT_MAX_RESPONSE_BODY_SIZE = 64 * 1024 * 1024;

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /**
   * The most body bytes accepted (default {@link DEFAULT_MAX_RESPONSE_BODY_SIZE};
   * `Infinity` for no limit). A longer body — or a Content-Length that
   * announces one — fails with {@link ResponseBodyTooLarge} and aborts the
   * connection.
   */
  maxSize?: number;
}

/**
 * Read the whole body of `response` (Twisted's `readBody`).
 *
 * Fires with the body once it is complete (ResponseDone). Fails with
 * {@link ResponseBodyTooLarge} past `maxSize` (the connection is aborted),
 * or with the reason the body ended early (`ResponseFailed` carrying
 * `ConnectionLost` or an `HttpParseError`, a `TimeoutError`,
 * `DecompressedBodyTooLarge`...). Cancelling it aborts the connection and
 * fails it with `CancelledError`.
 *
 * @throws Error when the body was already read (see `Response.deliverBody`);
 *   RangeError for a negative or NaN `maxSize`.
 *
 * @example
 * ```ts
 * const response = await agent.request('GET', url);
 * const body = await readBody(response, { maxSize: 1024 * 1024 });
 * console.log(body.toString('utf8'));
 * ```
 */
export function readBody(response: Response, options: ReadBodyOptions = {}): Deferred<Buffer> {
  const maxSize = options.maxSize ?? DEFAULT_MAX_RESPONSE_BODY_SIZE;
  if (!(maxSize >= 0)) throw new RangeError(`maxSize must be a number >= 0, not ${maxSize}`);
  let producer: IPushProducer | null = null;
  let done = false;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const d = new Deferred<Buffer>(() => {
    // Cancelled: nobody wants the rest, so the connection cannot be reused.
    done = true;
    producer?.stopProducing();
  });
  const tooLarge = (): void => {
    done = true;
    chunks.length = 0;
    producer?.stopProducing();
    d.errback(new ResponseBodyTooLarge(maxSize));
  };
  response.deliverBody({
    makeConnection(p: IPushProducer): void {
      producer = p;
      if (response.length !== null && response.length > maxSize) tooLarge();
    },
    dataReceived(data: Uint8Array): void {
      if (done) return;
      size += data.length;
      if (size > maxSize) tooLarge();
      else chunks.push(data);
    },
    connectionLost(reason: Failure): void {
      if (done) return;
      done = true;
      if (reason.check(ResponseDone) !== null) d.callback(Buffer.concat(chunks, size));
      else d.errback(reason);
    },
  });
  return d;
}

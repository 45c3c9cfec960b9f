/**
 * The errors of the HTTP client (Twisted's `twisted.web._newclient` names
 * where Twisted has one).
 *
 * How a request can end, and what the caller sees:
 *
 * - the request Deferred fails with {@link RequestNotSent} (the connection
 *   was already closed), {@link RequestGenerationFailed} (the body source
 *   failed), {@link RequestTransmissionFailed} (the connection was lost
 *   while the body was being sent), {@link ResponseNeverReceived} (the
 *   connection ended before any byte of the response) or
 *   {@link ResponseFailed} (it ended, or the peer sent invalid HTTP, while
 *   the response head was arriving); a connect error (`ConnectError`
 *   family) or a `TimeoutError` when a timeout ran out;
 * - a body ends with {@link ResponseDone} (complete), or a Failure of
 *   {@link ResponseFailed}, {@link ResponseBodyTooLarge},
 *   {@link DecompressedBodyTooLarge}, {@link ContentDecodingError} or
 *   `TimeoutError`.
 *
 * @module
 */
import type { Failure } from '../../defer/failure.js';
import type { HeaderList } from '../headers.js';
import type { Response } from './response.js';

/** Messages of the failures inside a wrapper error, for its own message. */
function describe(reasons: readonly Failure[]): string {
  return reasons.map((f) => `${f.value.name}: ${f.value.message}`).join('; ');
}

/**
 * Base of the errors that wrap one or more underlying failures (Twisted's
 * `_WrapperException`): `reasons` says what actually happened (a
 * `ConnectionLost`, an `HttpParseError`, a `CancelledError`...).
 */
export class WrapperError extends Error {
  override name = 'WrapperError';
  constructor(
    /** The underlying failures, most significant first. */
    readonly reasons: readonly Failure[],
    message?: string,
  ) {
    super(message ?? describe(reasons), reasons.length > 0 ? { cause: reasons[0]!.value } : undefined);
  }
}

/**
 * A response body was received completely: the reason a body protocol's
 * `connectionLost` receives when all is well (Twisted's `ResponseDone`).
 */
export class ResponseDone extends Error {
  override name = 'ResponseDone';
  constructor(message = 'the response body was received completely') {
    super(message);
  }
}

/**
 * The response could not be received: the connection ended or the server
 * sent invalid HTTP (an `HttpParseError` among `reasons`). Given to a
 * request Deferred while the head was arriving, or to a body protocol while
 * the body was.
 */
export class ResponseFailed extends WrapperError {
  override name = 'ResponseFailed';
}

/**
 * The connection ended before a single byte of the response arrived. On a
 * connection reused from the pool this is what a stale connection looks
 * like, and an idempotent request is retried once on a new connection.
 */
export class ResponseNeverReceived extends ResponseFailed {
  override name = 'ResponseNeverReceived';
}

/** The request was not sent at all: the connection was already closed or closing. */
export class RequestNotSent extends Error {
  override name = 'RequestNotSent';
  constructor(message = 'the request was not sent: the connection is closed') {
    super(message);
  }
}

/** The request body could not be produced: the async iterable threw, the producer failed, or it gave a wrong length. */
export class RequestGenerationFailed extends WrapperError {
  override name = 'RequestGenerationFailed';
}

/** The connection was lost while the request (its body) was being sent. */
export class RequestTransmissionFailed extends WrapperError {
  override name = 'RequestTransmissionFailed';
}

/** We closed the connection ourselves (cancel, `stopProducing`, a size limit, a timeout): the reason inside a ResponseFailed. */
export class ConnectionAborted extends Error {
  override name = 'ConnectionAborted';
  constructor(message = 'the connection was aborted by the client') {
    super(message);
  }
}

/** A body was longer than the `maxSize` allowed to `readBody` (or `text()`, `json()`...); the connection was aborted. */
export class ResponseBodyTooLarge extends Error {
  override name = 'ResponseBodyTooLarge';
  constructor(
    /** The limit, in bytes. */
    readonly maxSize: number,
  ) {
    super(`the response body is larger than the maximum of ${maxSize} bytes`);
  }
}

/** A compressed body inflated past `maxDecodedSize` (a decompression bomb); the connection was aborted. */
export class DecompressedBodyTooLarge extends Error {
  override name = 'DecompressedBodyTooLarge';
  constructor(
    /** The limit on decoded bytes. */
    readonly maxSize: number,
  ) {
    super(`the decoded response body is larger than the maximum of ${maxSize} bytes (decompression bomb?)`);
  }
}

/** A body declared as `gzip`/`deflate`/`br` could not be decoded (corrupt or truncated data). */
export class ContentDecodingError extends Error {
  override name = 'ContentDecodingError';
  constructor(
    /** The content coding that failed. */
    readonly coding: string,
    cause: unknown,
  ) {
    super(`the response body is not valid ${coding} data: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/**
 * A URL whose scheme is not `http:` or `https:` (Twisted's
 * `SchemeNotSupported`). A `TypeError`, like every validation error of
 * `Agent.request`.
 */
export class SchemeNotSupported extends TypeError {
  override name = 'SchemeNotSupported';
  constructor(readonly scheme: string) {
    super(`unsupported URL scheme ${JSON.stringify(scheme)}: only http: and https: are supported`);
  }
}

/**
 * A redirect that was not followed. `response` is the redirect response
 * (its body already discarded), `history` every response of the chain, in
 * order, ending with `response`.
 */
export class RedirectError extends Error {
  override name = 'RedirectError';
  constructor(
    message: string,
    /** The last redirect response. */
    readonly response: Response,
    /** Every response received, first to last. */
    readonly history: readonly Response[],
  ) {
    super(message);
  }
}

/** More redirects than `maxRedirects` (Twisted's `InfiniteRedirection`). */
export class InfiniteRedirection extends RedirectError {
  override name = 'InfiniteRedirection';
}

/** A 307/308 redirect of a request whose body is a stream: it cannot be sent twice. */
export class RedirectBodyNotReplayable extends RedirectError {
  override name = 'RedirectBodyNotReplayable';
}

/**
 * A non-2xx answer where a convenience function (`getJSON`) wanted
 * success; carries the status, the headers and the body received.
 */
export class HTTPStatusError extends Error {
  override name = 'HTTPStatusError';
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly headers: HeaderList,
    /** The body of the error response (possibly truncated to the size limit). */
    readonly body: Buffer,
    readonly url: string,
  ) {
    super(`${url} answered ${status}${statusText === '' ? '' : ` ${statusText}`}`);
  }
}

/**
 * Content decoding for the HTTP client (Twisted's `ContentDecoderAgent`):
 * `gzip`, `deflate` (and `br`) bodies inflated as they stream, with a cap
 * on the decoded size.
 *
 * Transfer codings (`chunked`) are the parser's business; this is about
 * `Content-Encoding`, the representation the server chose.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Deferred } from '../../defer/deferred.js';
import { Failure } from '../../defer/failure.js';
import type { IPushProducer } from '../../reactor/interfaces.js';
import { HeaderList } from '../headers.js';
import { normalizeHeaders, type IAgent, type RequestHeaders } from './agent.js';
import {
  ConnectionAborted,
  ContentDecodingError,
  DecompressedBodyTooLarge,
  ResponseDone,
  ResponseFailed,
} from './errors.js';
import type { RequestBody } from './protocol.js';
import { DEFAULT_MAX_RESPONSE_BODY_SIZE } from './readBody.js';
import { Response, type IBodyProtocol } from './response.js';

/** The content codings this module decodes. `x-gzip` is accepted as `gzip`. */
export type ContentCoding = 'gzip' | 'deflate' | 'br';

/** Options of {@link ContentDecoderAgent} and {@link decodeResponse}. */
export interface ContentDecoderOptions {
  /**
   * The most decoded bytes accepted per body (default 64 MiB). Past it the
   * body fails with {@link DecompressedBodyTooLarge} and the connection is
   * aborted: a few KiB of gzip can inflate to gigabytes.
   */
  maxDecodedSize?: number;
}

const KNOWN: ReadonlySet<string> = new Set(['gzip', 'deflate', 'br']);

function canonical(coding: string): string {
  return coding === 'x-gzip' ? 'gzip' : coding;
}

/**
 * Wraps an agent to ask for compressed responses and decode them
 * (Twisted's `ContentDecoderAgent`).
 *
 * Every request gets `Accept-Encoding` listing `codings` (replacing one you
 * gave). A response whose `Content-Encoding` ends with codings we decode is
 * replaced by a Response with the decoded body: those codings are removed
 * from `Content-Encoding` (the field disappears when none is left),
 * `Content-Length` is removed and `length` is null. Decoding streams with
 * backpressure; corrupt or truncated data fails the body with
 * {@link ContentDecodingError}; more than `maxDecodedSize` decoded bytes
 * with {@link DecompressedBodyTooLarge}. `deflate` accepts both the zlib
 * format (RFC 9110) and the raw deflate some servers send.
 *
 * @example
 * ```ts
 * const agent = new ContentDecoderAgent(new Agent(reactor), ['gzip', 'deflate'], { maxDecodedSize: 8 << 20 });
 * const response = await agent.request('GET', url);
 * const text = await response.text();  // inflated
 * ```
 */
export class ContentDecoderAgent implements IAgent {
  readonly codings: readonly ContentCoding[];
  readonly maxDecodedSize: number;
  private readonly acceptEncoding: string;

  /** @throws TypeError for an unknown coding; RangeError for a negative `maxDecodedSize`. */
  constructor(
    readonly agent: IAgent,
    codings: readonly ContentCoding[] = ['gzip', 'deflate'],
    options: ContentDecoderOptions = {},
  ) {
    for (const c of codings) if (!KNOWN.has(c)) throw new TypeError(`unknown content coding ${JSON.stringify(c)}`);
    if (codings.length === 0) throw new TypeError('give at least one content coding');
    this.codings = [...codings];
    this.maxDecodedSize = options.maxDecodedSize ?? DEFAULT_MAX_RESPONSE_BODY_SIZE;
    if (!(this.maxDecodedSize >= 0)) throw new RangeError('maxDecodedSize must be >= 0');
    this.acceptEncoding = this.codings.join(', ');
  }

  /**
   * Send the request with `Accept-Encoding`; decode the response.
   *
   * @throws TypeError as `Agent.request` does, before anything is sent.
   */
  request(method: string, url: string | URL, headers?: RequestHeaders | null, body?: RequestBody | null): Deferred<Response> {
    const fields = normalizeHeaders(headers).filter(([name]) => name.toLowerCase() !== 'accept-encoding');
    fields.push(['Accept-Encoding', this.acceptEncoding]);
    return this.agent
      .request(method, url, fields, body)
      .addCallback((response) => decodeResponse(response, this.codings, { maxDecodedSize: this.maxDecodedSize }));
  }
}

/**
 * `response` with its `Content-Encoding` decoded, as {@link ContentDecoderAgent}
 * does; `response` itself when it is not encoded with `codings` (or its
 * body was already read). The original body is consumed by the decoder.
 */
export function decodeResponse(
  response: Response,
  codings: readonly ContentCoding[] = ['gzip', 'deflate'],
  options: ContentDecoderOptions = {},
): Response {
  const header = response.headers.getCombined('content-encoding');
  if (header === undefined || response.bodyUsed) return response;
  const supported = new Set<string>(codings);
  const listed = header
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'identity');
  const toDecode: string[] = [];
  while (listed.length > 0 && supported.has(canonical(listed[listed.length - 1]!))) {
    toDecode.push(canonical(listed.pop()!));
  }
  if (toDecode.length === 0) return response;
  const raw: string[] = [];
  for (const [name, value] of response.headers) {
    const lower = name.toLowerCase();
    if (lower === 'content-encoding' || lower === 'content-length') continue;
    raw.push(name, value);
  }
  if (listed.length > 0) raw.push('Content-Encoding', listed.join(', '));
  const decoder = new Decoder(toDecode, options.maxDecodedSize ?? DEFAULT_MAX_RESPONSE_BODY_SIZE);
  const decoded = new Response(
    {
      status: response.status,
      statusText: response.statusText,
      headers: new HeaderList(raw),
      version: response.version,
      length: null,
      url: response.url,
      request: response.request,
    },
    decoder,
  );
  decoded.previousResponse = response.previousResponse;
  decoder.attach(response, decoded);
  return decoded;
}

/** Whether two bytes start a zlib stream (RFC 1950): deflate method, header checksum. */
function isZlibHeader(b0: number, b1: number): boolean {
  return (b0 & 0x0f) === 8 && ((b0 << 8) | b1) % 31 === 0;
}

/**
 * Consumes the encoded body (as its body protocol) and produces the decoded
 * one (as the decoded Response's source), through a chain of zlib streams.
 */
class Decoder implements IBodyProtocol, IPushProducer {
  private producer: IPushProducer | null = null;
  private decoded: Response | null = null;
  private streams: Transform[] = [];
  private finished = false;
  private decodedBytes = 0;
  private rawBytes = 0;
  private consumerPaused = false;
  private waitingForDrain = false;
  /** The first bytes of a deflate body, held until we can tell zlib from raw deflate. */
  private pending: Uint8Array | null = null;

  /**
   * @param codings - outermost first (the reverse of their order in Content-Encoding).
   * @param maxSize - cap on decoded bytes.
   */
  constructor(
    private readonly codings: readonly string[],
    private readonly maxSize: number,
  ) {}

  attach(raw: Response, decoded: Response): void {
    this.decoded = decoded;
    raw.deliverBody(this);
  }

  // ------------------------------------------------------------ the encoded body

  makeConnection(producer: IPushProducer): void {
    this.producer = producer;
  }

  dataReceived(data: Uint8Array): void {
    if (this.finished) return;
    this.rawBytes += data.length;
    if (this.streams.length === 0) {
      if (this.codings[0] === 'deflate') {
        // Tell zlib from raw deflate by the first two bytes (which may come one at a time).
        const have = this.pending === null ? data : Buffer.concat([this.pending, data]);
        if (have.length < 2) {
          this.pending = have;
          return;
        }
        this.pending = null;
        this.build(isZlibHeader(have[0]!, have[1]!));
        this.write(have);
        return;
      }
      this.build(true);
    }
    this.write(data);
  }

  connectionLost(reason: Failure): void {
    if (this.finished) return;
    if (reason.check(ResponseDone) === null) {
      this.end(reason);
      return;
    }
    if (this.rawBytes === 0) {
      // No body at all (HEAD, 204, 304...): nothing to decode.
      this.end(reason);
      return;
    }
    if (this.streams.length === 0) this.build(true); // one byte of deflate: let zlib judge it
    if (this.pending !== null) {
      const p = this.pending;
      this.pending = null;
      this.write(p);
    }
    this.streams[0]!.end();
  }

  // ------------------------------------------------------------ the decoded body

  pauseProducing(): void {
    if (this.finished || this.consumerPaused) return;
    this.consumerPaused = true;
    this.last()?.pause();
    this.producer?.pauseProducing();
  }

  resumeProducing(): void {
    if (this.finished || !this.consumerPaused) return;
    this.consumerPaused = false;
    this.last()?.resume();
    if (!this.waitingForDrain) this.producer?.resumeProducing();
  }

  stopProducing(): void {
    if (this.finished) return;
    this.end(new Failure(new ResponseFailed([new Failure(new ConnectionAborted())])));
    this.producer?.stopProducing();
  }

  // ------------------------------------------------------------ internals

  private last(): Transform | undefined {
    return this.streams[this.streams.length - 1];
  }

  /** Make the chain of inflaters; `zlibFormat` tells how the outermost deflate is wrapped. */
  private build(zlibFormat: boolean): void {
    this.streams = this.codings.map((coding, i) => {
      switch (coding) {
        case 'gzip':
          return zlib.createGunzip();
        case 'br':
          return zlib.createBrotliDecompress();
        default:
          return i === 0 && !zlibFormat ? zlib.createInflateRaw() : zlib.createInflate();
      }
    });
    this.streams.forEach((stream, i) => {
      const coding = this.codings[i]!;
      stream.on('error', (err: Error) => this.fail(new ContentDecodingError(coding, err)));
      const next = this.streams[i + 1];
      if (next !== undefined) stream.pipe(next);
    });
    const last = this.last()!;
    last.on('data', (chunk: Buffer) => this.decodedData(chunk));
    last.on('end', () => this.end(new Failure(new ResponseDone())));
    if (this.consumerPaused) last.pause();
  }

  private write(data: Uint8Array): void {
    const first = this.streams[0]!;
    if (first.write(data) || this.waitingForDrain) return;
    // The inflater is full: stop reading the connection until it drains.
    this.waitingForDrain = true;
    this.producer?.pauseProducing();
    first.once('drain', () => {
      this.waitingForDrain = false;
      if (!this.finished && !this.consumerPaused) this.producer?.resumeProducing();
    });
  }

  private decodedData(chunk: Buffer): void {
    if (this.finished) return;
    this.decodedBytes += chunk.length;
    if (this.decodedBytes > this.maxSize) {
      this.fail(new DecompressedBodyTooLarge(this.maxSize));
      return;
    }
    this.decoded!._bodyDataReceived(chunk);
  }

  /** Decoding failed: abort the connection (unless its body was complete) and fail the decoded body. */
  private fail(error: Error): void {
    if (this.finished) return;
    // Ours first: stopping the encoded body reports its own (less telling) failure back to us.
    this.end(new Failure(error));
    this.producer?.stopProducing();
  }

  private end(reason: Failure): void {
    if (this.finished) return;
    this.finished = true;
    for (const s of this.streams) {
      s.removeAllListeners('data');
      s.destroy();
    }
    this.decoded!._bodyDataFinished(reason);
  }
}

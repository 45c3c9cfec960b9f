/**
 * Drivers for the server tests: a channel on a StringTransport with a
 * Clock, input fed whole / split / one byte at a time, and the output
 * parsed back into responses with the sans-IO response parser.
 */
import { Buffer } from 'node:buffer';
import { Failure } from '../../src/defer/failure.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import {
  HTTPFactory,
  ResponseParser,
  type HTTPChannel,
  type HTTPFactoryOptions,
  type HeaderList,
  type Request,
  type RequestHandler,
} from '../../src/http/index.js';
import { Clock } from '../../src/testing/clock.js';
import { StringTransport } from '../../src/testing/stringTransport.js';

export function wire(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A StringTransport that counts write calls (`write`, `writeString`, `writeSequence`) and remembers each one. */
export class CountingTransport extends StringTransport {
  writes: Buffer[] = [];
  sequences = 0;
  /** How many of the writes were `writeString` calls. */
  stringWrites = 0;
  override write(data: Uint8Array): void {
    this.writes.push(Buffer.from(data));
    super.write(data);
  }
  override writeString(data: string, encoding: 'latin1' | 'utf8'): void {
    this.stringWrites++;
    this.writes.push(Buffer.from(data, encoding));
    super.writeString(data, encoding);
  }
  override writeSequence(data: readonly Uint8Array[]): void {
    this.sequences++;
    // One logical write.
    this.writes.push(Buffer.concat(data));
    for (const d of data) StringTransport.prototype.write.call(this, d);
  }
}

/** A CountingTransport without `writeString` (a transport that only takes bytes). */
export class BytesOnlyTransport extends CountingTransport {
  constructor() {
    super();
    Object.defineProperty(this, 'writeString', { value: undefined });
  }
}

export interface Conn {
  factory: HTTPFactory;
  channel: HTTPChannel;
  transport: CountingTransport;
  clock: Clock;
  requests: Request[];
  /** Feed bytes in the given split. */
  send(data: string | Buffer, split?: Split): void;
  /** The responses written so far. */
  responses(methods?: string[]): ParsedResponse[];
  /** Everything written, as latin1. */
  out(): string;
  /** Tell the channel the connection is gone. */
  lose(clean?: boolean): void;
}

/** Resolves once the current turn's microtasks and process.nextTick callbacks have run (a channel's held batch is written by then). */
export function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export type Split = 'whole' | 'bytes' | 'halves' | number;
export const SPLITS: Split[] = ['whole', 'halves', 'bytes'];

export function feed(channel: HTTPChannel, data: Buffer, split: Split = 'whole'): void {
  if (split === 'whole') {
    channel.dataReceived(data);
  } else if (split === 'bytes') {
    for (let i = 0; i < data.length; i++) channel.dataReceived(data.subarray(i, i + 1));
  } else if (split === 'halves') {
    const mid = data.length >> 1;
    channel.dataReceived(data.subarray(0, mid));
    channel.dataReceived(data.subarray(mid));
  } else {
    for (let i = 0; i < data.length; i += split) channel.dataReceived(data.subarray(i, i + split));
  }
}

/** A channel whose handler records each request and then calls `handler` (default: nothing). */
export function connect(handler: RequestHandler = () => undefined, options: HTTPFactoryOptions = {}, transport = new CountingTransport()): Conn {
  const clock = (options.reactor as Clock | undefined) ?? new Clock();
  const requests: Request[] = [];
  const factory = new HTTPFactory(
    (request) => {
      requests.push(request);
      return handler(request);
    },
    { ...options, reactor: clock },
  );
  const channel = factory.buildProtocol(transport.getPeer());
  channel.makeConnection(transport);
  return {
    factory,
    channel,
    transport,
    clock,
    requests,
    send: (data, split = 'whole') => feed(channel, typeof data === 'string' ? wire(data) : data, split),
    responses: (methods) => parseResponses(transport.value(), methods ?? requests.map((r) => r.method)),
    out: () => transport.value().toString('latin1'),
    lose: (clean = false) => channel.connectionLost(new Failure(clean ? new ConnectionDone() : new ConnectionLost())),
  };
}

export interface ParsedResponse {
  status: number;
  reason: string;
  headers: HeaderList;
  body: string;
  informational: number[];
  complete: boolean;
}

/** Parse every response in `bytes` (methods in request order decide framing; default GET). */
export function parseResponses(bytes: Buffer, methods: string[] = []): ParsedResponse[] {
  const parser = new ResponseParser();
  const n = Math.max(methods.length, 1000);
  for (let i = 0; i < n; i++) parser.expectResponse(methods[i] ?? 'GET');
  const out: ParsedResponse[] = [];
  let cur: ParsedResponse | null = null;
  let info: number[] = [];
  const handler = {
    onHead(h: { status: number; reason: string; headers: HeaderList }) {
      cur = { status: h.status, reason: h.reason, headers: h.headers, body: '', informational: info, complete: false };
      info = [];
      out.push(cur);
    },
    onInformational(i: { status: number }) {
      info.push(i.status);
    },
    onData(d: Uint8Array) {
      cur!.body += Buffer.from(d).toString('latin1');
    },
    onEnd() {
      cur!.complete = true;
    },
  };
  parser.feed(bytes, handler);
  if (cur !== null && !(cur as ParsedResponse).complete && parser.state === 'body') {
    try {
      parser.receiveEOF();
      parser.feed(new Uint8Array(0), handler);
    } catch {
      // truncated: left incomplete
    }
  }
  return out;
}

/** `GET <path> HTTP/1.1` with a Host. */
export function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
}

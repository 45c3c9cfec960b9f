/**
 * Write batching of responses that finish asynchronously (an application
 * answering in later microtasks, as an ASGI app does): pipelined responses
 * finished within one turn go out as one transport write, in order; a slow
 * response holds the later ones; a lone response is never held; the hold
 * ends when the pipeline runs dry, at the end of the turn, past 64 KiB, on
 * a close, a producer or a disconnect; reading still stops when pipelined
 * bytes pile up. Also: `writeString` transports get the same bytes as
 * byte-only ones.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import type { Request, RequestHandler } from '../../src/http/index.js';
import type { IPushProducer } from '../../src/reactor/interfaces.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { BytesOnlyTransport, CountingTransport, SPLITS, connect, endOfTurn, get, type Split } from './channel-helpers.js';

function batch(n: number, path = (i: number) => `/${i}`): string {
  let out = '';
  for (let i = 0; i < n; i++) out += get(path(i));
  return out;
}

/** A handler that answers every request a few microtasks later, logging each dispatch with whether every earlier response was finished. */
function asyncHandler(log: string[], body = (r: Request) => `r${r.path}`): RequestHandler {
  const seen: Request[] = [];
  return async (r) => {
    log.push(`dispatch ${r.path}${seen.every((x) => x.finished) ? '' : ' before an earlier response finished!'}`);
    seen.push(r);
    await Promise.resolve();
    await Promise.resolve();
    r.finish(body(r));
  };
}

/** Requests whose path starts with /gate wait for the next gate; the others answer in a microtask. */
function gated() {
  const gates: Deferred<void>[] = [];
  const handler: RequestHandler = (r) => {
    if (r.path.startsWith('/gate')) {
      const d = new Deferred<void>();
      gates.push(d);
      d.addCallback(() => r.finish(`done ${r.path}`));
      return undefined;
    }
    return Promise.resolve().then(() => r.finish(`done ${r.path}`));
  };
  return { gates, handler };
}

describe('responses finished asynchronously, pipelined', () => {
  for (const split of [...SPLITS, 7] as Split[]) {
    it(`go out as one write, in order, each request dispatched after the previous response (${split})`, async () => {
      const log: string[] = [];
      const conn = connect(asyncHandler(log));
      conn.send(batch(16), split);
      expect(conn.transport.writes).toHaveLength(0);
      await endOfTurn();
      expect(conn.transport.writes).toHaveLength(1);
      expect(conn.responses().map((r) => r.body)).toEqual(Array.from({ length: 16 }, (_, i) => `r/${i}`));
      expect(log).toEqual(Array.from({ length: 16 }, (_, i) => `dispatch /${i}`));
    });
  }

  it('a slow first response holds the later ones: nothing before it, then all in order in one write', async () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate') + batch(8));
    await endOfTurn();
    expect(conn.requests).toHaveLength(1);
    expect(conn.transport.writes).toHaveLength(0);
    gates[0]!.callback(undefined);
    await endOfTurn();
    expect(conn.requests).toHaveLength(9);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate', ...Array.from({ length: 8 }, (_, i) => `done /${i}`)]);
  });

  it('a slow response in the middle: what came before is written at the end of its turn, the rest after it', async () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(batch(3) + get('/gate') + batch(3, (i) => `/b${i}`));
    await endOfTurn();
    expect(conn.responses().map((r) => r.body)).toEqual(['done /0', 'done /1', 'done /2']);
    expect(conn.transport.writes).toHaveLength(1);
    gates[0]!.callback(undefined);
    await endOfTurn();
    expect(conn.transport.writes).toHaveLength(2);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /0', 'done /1', 'done /2', 'done /gate', 'done /b0', 'done /b1', 'done /b2']);
  });

  it('a lone keep-alive response finished later is written at once, not held', () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate'));
    gates[0]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate']);
  });

  it('a response whose next request has not fully arrived is written at once', () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate') + get('/next').slice(0, 10));
    gates[0]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(1);
    conn.send(get('/next').slice(10));
    expect(conn.requests.map((r) => r.path)).toEqual(['/gate', '/next']);
  });

  it('the pipeline running dry writes what is held at once', () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate1') + get('/gate2'));
    gates[0]!.callback(undefined);
    // Request 2 is in flight: response 1 waits for it (or for the end of the turn).
    expect(conn.transport.writes).toHaveLength(0);
    expect(conn.requests).toHaveLength(2);
    gates[1]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate1', 'done /gate2']);
  });

  it('what is held goes out at the end of the turn when the next response takes longer', async () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate1') + get('/gate2'));
    gates[0]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(0);
    await endOfTurn();
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate1']);
    gates[1]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(2);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate1', 'done /gate2']);
  });

  it('held bytes past 64 KiB are written without waiting for the turn to end', () => {
    const big = 'x'.repeat(40 * 1024);
    const gates: Deferred<void>[] = [];
    const conn = connect((r) => {
      const d = new Deferred<void>();
      gates.push(d);
      d.addCallback(() => r.finish(big));
    });
    conn.send(batch(3));
    gates[0]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(0); // 40 KiB held
    gates[1]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(1); // 80 KiB: out, though request 3 is in flight
    expect(conn.responses()).toHaveLength(2);
    gates[2]!.callback(undefined);
    expect(conn.responses().map((r) => r.body.length)).toEqual([big.length, big.length, big.length]);
  });

  it('a streamed response behind a held one keeps the order', async () => {
    const conn = connect(async (r) => {
      await Promise.resolve();
      if (r.path === '/stream') {
        r.write('a');
        await Promise.resolve();
        r.write('b');
        await Promise.resolve();
        r.finish('c');
      } else {
        r.finish(`done ${r.path}`);
      }
    });
    conn.send(get('/0') + get('/stream') + get('/2'));
    await endOfTurn();
    expect(conn.responses().map((r) => r.body)).toEqual(['done /0', 'abc', 'done /2']);
    // Response 1 went out when the streamed one started (which may yet be aborted), not with it.
    expect(conn.transport.writes[0]!.toString('latin1').endsWith('done /0')).toBe(true);
  });

  it('a producer registered by the next response writes after what is held', async () => {
    const { gates, handler } = gated();
    let producerRequest: Request | null = null;
    const conn = connect((r) => {
      if (r.path !== '/produce') return handler(r);
      producerRequest = r;
      const producer: IPushProducer = { pauseProducing() {}, resumeProducing() {}, stopProducing() {} };
      r.registerProducer(producer, true);
      r.write('streamed');
      return undefined;
    });
    conn.send(get('/gate') + get('/produce'));
    gates[0]!.callback(undefined);
    // Registering the producer wrote the held response first; its own writes go straight out.
    expect(conn.transport.producer).not.toBe(null);
    const out = conn.out();
    expect(out.indexOf('done /gate')).toBeGreaterThan(0);
    expect(out.indexOf('streamed')).toBeGreaterThan(out.indexOf('done /gate'));
    producerRequest!.finish();
    await endOfTurn();
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate', 'streamed']);
  });

  it('a response that closes the connection: the held bytes, then the close', () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    const events: string[] = [];
    const t = conn.transport;
    const write = t.writeString.bind(t);
    t.writeString = (data, encoding) => {
      events.push('write');
      write(data, encoding);
    };
    const lose = t.loseConnection.bind(t);
    t.loseConnection = () => {
      events.push('close');
      lose();
    };
    conn.send(get('/gate1') + get('/gate2', 'Connection: close\r\n') + get('/never'));
    gates[0]!.callback(undefined);
    expect(events).toEqual([]);
    gates[1]!.callback(undefined);
    expect(events).toEqual(['write', 'close']);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate1', 'done /gate2']);
    expect(conn.requests).toHaveLength(2);
  });

  it('the client going away while output is held: nothing is written, nothing breaks', async () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate1') + get('/gate2'));
    gates[0]!.callback(undefined);
    conn.lose();
    await endOfTurn();
    gates[1]!.callback(undefined);
    await endOfTurn();
    expect(conn.transport.writes).toHaveLength(0);
  });

  for (const when of ['at once', 'a microtask later'] as const) {
    it(`a streamed response aborted behind a held one (writing ${when}): the complete response is written first`, async () => {
      const { gates, handler } = gated();
      const conn = connect(async (r) => {
        if (r.path !== '/fail') return handler(r);
        if (when !== 'at once') await Promise.resolve();
        r.write('partial');
        await Promise.resolve();
        r.processingFailed(new Error('late failure'));
        return undefined;
      });
      conn.send(get('/gate') + get('/fail') + get('/never'));
      gates[0]!.callback(undefined);
      await endOfTurn();
      expect(conn.transport.disconnected).toBe(true);
      expect(conn.requests).toHaveLength(2);
      const out = conn.out();
      expect(out).toMatch(/\r\n\r\ndone \/gateHTTP\/1\.1 200 OK\r\n.*\r\npartial\r\n$/s);
      expect(flushLoggedErrors(Error)).toHaveLength(1);
    });
  }

  it('an abort through the request while whole responses are held writes them first', () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate1') + get('/gate2'));
    gates[0]!.callback(undefined);
    expect(conn.transport.writes).toHaveLength(0);
    conn.requests[1]!._abortResponse('test');
    expect(conn.transport.disconnected).toBe(true);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate1']);
  });

  it('reading still stops when pipelined bytes pile up behind a held response, and resumes', async () => {
    const { gates, handler } = gated();
    const conn = connect(handler, { maxBufferedBytes: 200 });
    conn.send(get('/gate1') + get('/gate2') + batch(20));
    expect(conn.transport.producerState).toBe('paused');
    gates[0]!.callback(undefined);
    expect(conn.transport.producerState).toBe('paused');
    await endOfTurn();
    expect(conn.transport.producerState).toBe('paused');
    gates[1]!.callback(undefined);
    await endOfTurn();
    expect(conn.transport.producerState).toBe('producing');
    expect(conn.responses()).toHaveLength(22);
  });

  it('drain() while output is held: the response, then the close', async () => {
    const { gates, handler } = gated();
    const conn = connect(handler);
    conn.send(get('/gate1') + get('/gate2'));
    gates[0]!.callback(undefined);
    const drained = conn.factory.drain();
    gates[1]!.callback(undefined);
    expect(conn.transport.disconnecting).toBe(true);
    expect(conn.responses().map((r) => r.body)).toEqual(['done /gate1', 'done /gate2']);
    conn.lose(true);
    await drained;
  });
});

describe('writeString', () => {
  const scenarios: Array<{ name: string; handler: RequestHandler; input: string; async?: boolean }> = [
    { name: 'one text response', handler: (r) => r.finish('hello'), input: get('/') },
    { name: 'a pipelined batch of text responses', handler: (r) => r.finish(`r${r.path}`), input: batch(16) },
    {
      name: 'a batch mixing text, UTF-8 and byte bodies',
      handler: (r) => r.finish(r.path === '/1' ? 'ü€' : r.path === '/2' ? Buffer.from([0, 255, 10]) : 'plain'),
      input: batch(4),
    },
    { name: 'a batch over 64 KiB', handler: (r) => r.finish('y'.repeat(20000)), input: batch(5) },
    { name: 'async answers, pipelined', handler: asyncHandler([]), input: batch(8), async: true },
    {
      name: 'an application Content-Length and byte bodies, async',
      handler: async (r) => {
        await Promise.resolve();
        r.setHeader('content-type', 'text/plain');
        r.setHeader('content-length', '5');
        r.finish(Buffer.from('hello'));
      },
      input: batch(4),
      async: true,
    },
    {
      name: 'a response written under a producer',
      handler: (r) => {
        r.registerProducer({ pauseProducing() {}, resumeProducing() {}, stopProducing() {} }, true);
        r.finish('produced');
      },
      input: batch(2),
    },
    { name: 'a streamed response', handler: (r) => (r.write('a'), r.write('bc'), r.finish()), input: batch(2) },
    { name: 'a parse error', handler: (r) => r.finish('x'), input: get('/') + 'BAD\r\n\r\n' },
  ];
  for (const s of scenarios) {
    it(`a transport with writeString gets the same bytes as one without: ${s.name}`, async () => {
      const withString = connect(s.handler, {}, new CountingTransport());
      const bytesOnly = connect(s.handler, {}, new BytesOnlyTransport());
      withString.send(s.input);
      bytesOnly.send(s.input);
      if (s.async === true) await endOfTurn();
      expect(withString.out().length).toBeGreaterThan(0);
      expect(withString.out()).toBe(bytesOnly.out());
      expect(withString.transport.writes.length).toBe(bytesOnly.transport.writes.length);
      expect(bytesOnly.transport.stringWrites).toBe(0);
    });
  }

  it('is used for text batches', () => {
    const conn = connect((r) => r.finish(`r${r.path}`));
    conn.send(batch(4));
    expect(conn.transport.stringWrites).toBe(1);
    expect(conn.transport.writes).toHaveLength(1);
  });
});

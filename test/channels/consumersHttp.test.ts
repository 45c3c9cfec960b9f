import { afterEach, describe, expect, it } from 'vitest';
import { AsyncHttpConsumer } from '../../src/channels/consumers/httpConsumer.js';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { HttpCommunicator } from '../../src/channels/testing/httpCommunicator.js';
import type { ASGIEvent } from '../../src/channels/types.js';
import { Clock } from '../../src/testing/clock.js';
import { assertNoResult } from '../../src/testing/results.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let clock = new Clock();
let layer = new InMemoryChannelLayer({ reactor: clock });
const open: HttpCommunicator[] = [];

function request(app: ReturnType<typeof AsyncHttpConsumer.asApp>, method = 'GET', path = '/', body?: string): HttpCommunicator {
  const comm = new HttpCommunicator(app, method, path, { clock, channelLayer: layer, ...(body !== undefined ? { body } : {}) });
  open.push(comm);
  return comm;
}

afterEach(async () => {
  for (const c of open.splice(0)) await c.stop({ exceptions: false });
  await layer.close();
  clock = new Clock();
  layer = new InMemoryChannelLayer({ reactor: clock });
});

class Upper extends AsyncHttpConsumer {
  static disconnects = 0;
  override async handle(body: Uint8Array): Promise<void> {
    await this.sendResponse(200, text(body).toUpperCase(), { headers: { 'Content-Type': 'text/plain' } });
  }
  override disconnect(): void {
    Upper.disconnects++;
  }
}

describe('AsyncHttpConsumer', () => {
  it('answers a full response from the whole body, then calls disconnect() once', async () => {
    Upper.disconnects = 0;
    const comm = request(Upper.asApp(), 'POST', '/upper', 'shout');
    const r = await comm.getResponse();
    expect(r).toEqual({ status: 200, headers: [['content-type', 'text/plain']], body: bytes('SHOUT') });
    await comm.wait();
    expect(Upper.disconnects).toBe(1);
  });

  it('collects a body sent in chunks before handle()', async () => {
    const comm = request(Upper.asApp(), 'POST');
    for (const part of ['a', 'b', 'c']) await comm.sendInput({ type: 'http.request', body: bytes(part), more_body: true });
    await comm.sendInput({ type: 'http.request', body: bytes('d') });
    const r = await comm.getResponse();
    expect(text(r.body)).toBe('ABCD');
  });

  it('streams with sendHeaders and sendBody({ moreBody })', async () => {
    class Stream extends AsyncHttpConsumer {
      override async handle(): Promise<void> {
        await this.sendHeaders({ status: 206, headers: [['x-part', '1']] });
        for (const p of ['one ', 'two ']) await this.sendBody(p, { moreBody: true });
        await this.sendBody(bytes('three'));
      }
    }
    const r = await request(Stream.asApp()).getResponse();
    expect(r).toEqual({ status: 206, headers: [['x-part', '1']], body: bytes('one two three') });
  });

  it('lets the server answer 500 when handle() does not respond', async () => {
    class Silent extends AsyncHttpConsumer {
      override handle(): void {}
    }
    const r = await request(Silent.asApp()).getResponse();
    expect(r.status).toBe(500);
  });

  it('re-raises an exception from handle(), after calling disconnect()', async () => {
    let disconnected = false;
    class Broken extends AsyncHttpConsumer {
      override handle(): void {
        throw new ReferenceError('oops');
      }
      override disconnect(): void {
        disconnected = true;
      }
    }
    await expect(request(Broken.asApp()).getResponse()).rejects.toBeInstanceOf(ReferenceError);
    expect(disconnected).toBe(true);
  });

  it('needs handle() to be implemented', async () => {
    class Nothing extends AsyncHttpConsumer {}
    await expect(request(Nothing.asApp()).getResponse()).rejects.toThrow(/must implement handle/);
  });

  it('answers 413 past maxBodySize', async () => {
    class Small extends Upper {
      static override maxBodySize = 4;
    }
    const r = await request(Small.asApp(), 'POST', '/', 'too long').getResponse();
    expect(r.status).toBe(413);
  });

  it('fails on a protocol error in its own response (a second start)', async () => {
    class Twice extends AsyncHttpConsumer {
      override async handle(): Promise<void> {
        await this.sendHeaders();
        await this.sendResponse(200, 'again');
      }
    }
    await expect(request(Twice.asApp()).getResponse()).rejects.toThrow(/sent twice/);
  });
});

describe('AsyncHttpConsumer: responses fed by the channel layer', () => {
  /** Server-sent events: one event per `news.item` message on the `news` group. */
  class News extends AsyncHttpConsumer {
    static override groups = ['news'];
    static disconnects = 0;
    static channel = '';
    override async handle(): Promise<void> {
      News.channel = this.channelName;
      await this.sendHeaders({ headers: { 'content-type': 'text/event-stream' } });
      await this.sendBody('', { moreBody: true });
    }
    async news_item(message: ASGIEvent): Promise<void> {
      await this.sendBody(`data: ${String(message.text)}\n\n`, { moreBody: true });
    }
    override disconnect(): void {
      News.disconnects++;
    }
  }

  it('streams server-sent events from layer messages until the client leaves', async () => {
    News.disconnects = 0;
    const comm = request(News.asApp(), 'GET', '/events');
    await comm.sendInput({ type: 'http.request' });
    expect(await comm.receiveOutput()).toMatchObject({
      type: 'http.response.start',
      status: 200,
      headers: [['content-type', 'text/event-stream']],
    });
    expect(await comm.receiveOutput()).toMatchObject({ body: bytes(''), more_body: true });
    for (const item of ['first', 'second']) {
      await layer.groupSend('news', { type: 'news.item', text: item });
      expect(await comm.receiveOutput()).toMatchObject({ body: bytes(`data: ${item}\n\n`), more_body: true });
    }
    await comm.sendInput({ type: 'http.disconnect' });
    await comm.wait();
    expect(News.disconnects).toBe(1);
    // Its membership went with it.
    await layer.groupSend('news', { type: 'news.item', text: 'nobody' });
    const d = layer.receive(News.channel);
    assertNoResult(d);
    d.cancel();
    d.addErrback(() => undefined);
  });

  it('answers a long-poll with the next layer message, then stops', async () => {
    class Poll extends AsyncHttpConsumer {
      static channel = '';
      override async handle(): Promise<void> {
        Poll.channel = this.channelName;
        await this.sendHeaders({ headers: { 'content-type': 'application/json' } });
        await this.sendBody('', { moreBody: true });
      }
      async chat_message(message: ASGIEvent): Promise<void> {
        await this.sendBody(JSON.stringify({ text: message.text }));
      }
    }
    const comm = request(Poll.asApp(), 'GET', '/poll');
    const response = comm.getResponse();
    await settle();
    assertNoResult(response);
    await layer.send(Poll.channel, { type: 'chat.message', text: 'you have mail' });
    const r = await response;
    expect(JSON.parse(text(r.body))).toEqual({ text: 'you have mail' });
    await comm.wait(); // the consumer stopped once the response was complete
  });
});

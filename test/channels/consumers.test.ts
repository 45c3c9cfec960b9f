import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { ApplicationCloseTimeoutError } from '../../src/channels/asgi/errors.js';
import { AsyncConsumer } from '../../src/channels/consumers/asyncConsumer.js';
import { handlerName, resolveHandler } from '../../src/channels/consumers/dispatch.js';
import { AcceptConnection, DenyConnection, DispatchError, InvalidChannelLayerError, StopConsumer } from '../../src/channels/consumers/exceptions.js';
import { AsyncWebsocketConsumer, JsonWebsocketConsumer, type ReceivedData } from '../../src/channels/consumers/websocketConsumer.js';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { WebsocketCommunicator } from '../../src/channels/testing/websocketCommunicator.js';
import type { ASGIEvent } from '../../src/channels/types.js';
import { clock, connectTo, layer, track } from './consumerFixture.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { assertNoResult } from '../../src/testing/results.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));


/** Whether a message to `channel` would sit unread (the channel is in no group that got it). */
function nothingFor(channel: string): void {
  const d = layer.receive(channel);
  assertNoResult(d);
  d.cancel();
  d.addErrback(() => undefined);
}

class Echo extends AsyncWebsocketConsumer {
  static disconnects: number[] = [];
  override async receive({ text, bytes: data }: ReceivedData): Promise<void> {
    if (text === 'close') await this.close(4321, 'bye');
    else await this.send(text !== undefined ? { text } : { bytes: data! });
  }
  override disconnect(code: number): void {
    Echo.disconnects.push(code);
  }
}

describe('AsyncWebsocketConsumer', () => {
  it('echoes text and bytes, and gets disconnect(code)', async () => {
    Echo.disconnects = [];
    const comm = connectTo(Echo.asApp());
    expect(await comm.connect()).toEqual([true, null]);
    await comm.sendTo({ text: 'hello' });
    expect(await comm.receiveFrom()).toEqual({ text: 'hello' });
    await comm.sendTo({ bytes: bytes('\x01\x02') });
    expect(await comm.receiveFrom()).toEqual({ bytes: bytes('\x01\x02') });
    await comm.disconnect(1001);
    expect(Echo.disconnects).toEqual([1001]);
  });

  it('closes with a code and a reason', async () => {
    const comm = connectTo(Echo.asApp());
    await comm.connect();
    await comm.sendTo({ text: 'close' });
    expect(await comm.receiveOutput()).toEqual({ type: 'websocket.close', code: 4321, reason: 'bye' });
    await comm.disconnect(4321);
  });

  it('knows its class and makes one instance per connection', async () => {
    const instances: AsyncConsumer[] = [];
    class Counting extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        instances.push(this);
        return this.accept();
      }
    }
    const app = Counting.asApp();
    expect(app.consumerClass).toBe(Counting);
    const a = connectTo(app);
    const b = connectTo(app);
    await a.connect();
    await b.connect();
    expect(instances).toHaveLength(2);
    expect(instances[0]).not.toBe(instances[1]);
    expect(instances[0]!.scope).toBe(a.scope);
  });

  it('accepts with a subprotocol and headers', async () => {
    class Picky extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        return this.accept(this.scope.subprotocols![1]!, [['x-room', 'lobby']]);
      }
    }
    const comm = connectTo(Picky.asApp(), '/ws/', { subprotocols: ['v1', 'v2'] });
    expect(await comm.connect()).toEqual([true, 'v2']);
    expect(comm.acceptHeaders).toEqual([['x-room', 'lobby']]);
  });

  const decisions: Array<[string, () => never, [boolean, string | number | null]]> = [
    ['AcceptConnection accepts', () => {
      throw new AcceptConnection();
    }, [true, null]],
    ['DenyConnection refuses (403)', () => {
      throw new DenyConnection();
    }, [false, 1000]],
  ];
  for (const [name, connect, expected] of decisions) {
    it(`connect() throwing ${name}`, async () => {
      class Decider extends AsyncWebsocketConsumer {
        override connect(): void {
          connect();
        }
      }
      const comm = connectTo(Decider.asApp());
      expect(await comm.connect()).toEqual(expected);
      if (!expected[0]) expect(comm.rejection?.status).toBe(403);
    });
  }

  it('connect() throwing anything else crashes the consumer (server: 500)', async () => {
    class Broken extends AsyncWebsocketConsumer {
      override connect(): void {
        throw new URIError('bad');
      }
    }
    const comm = connectTo(Broken.asApp());
    await expect(comm.connect()).rejects.toBeInstanceOf(URIError);
    expect(comm.serverActions).toMatchObject([{ kind: 'deny', status: 500 }]);
  });

  it('sending before accepting fails with ASGIProtocolError; the consumer dies, the server answers 500', async () => {
    class Eager extends AsyncWebsocketConsumer {
      override async connect(): Promise<void> {
        await this.send({ text: 'too soon' });
      }
    }
    const comm = connectTo(Eager.asApp());
    await expect(comm.connect()).rejects.toThrow(/before websocket.accept/);
    expect(comm.serverActions).toMatchObject([{ kind: 'deny', status: 500 }]);
  });

  it('refuses a send with neither or both of text and bytes', async () => {
    const errors: unknown[] = [];
    class Sloppy extends AsyncWebsocketConsumer {
      override async receive(): Promise<void> {
        for (const bad of [{}, { text: 'a', bytes: bytes('b') }]) {
          await this.send(bad as { text: string }).then(undefined, (e: unknown) => errors.push(e));
        }
        await this.send({ text: 'done' });
      }
    }
    const comm = connectTo(Sloppy.asApp());
    await comm.connect();
    await comm.sendTo({ text: 'go' });
    expect(await comm.receiveFrom()).toEqual({ text: 'done' });
    expect(errors.map((e) => (e as Error).name)).toEqual(['TypeError', 'TypeError']);
  });
});

describe('JsonWebsocketConsumer', () => {
  class Json extends JsonWebsocketConsumer {
    override async receiveJson(content: unknown): Promise<void> {
      await this.sendJson({ got: content });
    }
  }

  it('receives and sends JSON values', async () => {
    const comm = connectTo(Json.asApp());
    await comm.connect();
    for (const value of [{ a: 1 }, [1, 'two'], 'text', 3.5, null, true]) {
      await comm.sendJsonTo(value);
      expect(await comm.receiveJsonFrom()).toEqual({ got: value });
    }
    await comm.disconnect();
  });

  const invalid: Array<[string, { text: string } | { bytes: Uint8Array }, string]> = [
    ['invalid JSON', { text: '{"unterminated' }, 'invalid JSON'],
    ['a binary frame', { bytes: bytes('{}') }, 'binary frames are not accepted'],
  ];
  for (const [name, frame, reason] of invalid) {
    it(`closes with 1003 on ${name}, without crashing`, async () => {
      const comm = connectTo(Json.asApp());
      await comm.connect();
      await comm.sendTo(frame);
      expect(await comm.receiveOutput()).toEqual({ type: 'websocket.close', code: 1003, reason });
      await comm.disconnect(1003);
      expect(flushLoggedErrors()).toEqual([]);
    });
  }

  it('fails sendJson for a value with no JSON form', async () => {
    const errors: unknown[] = [];
    class Bad extends JsonWebsocketConsumer {
      override async receiveJson(): Promise<void> {
        await this.sendJson(undefined).then(undefined, (e: unknown) => errors.push(e));
        await this.sendJson('ok');
      }
    }
    const comm = connectTo(Bad.asApp());
    await comm.connect();
    await comm.sendJsonTo(1);
    expect(await comm.receiveJsonFrom()).toBe('ok');
    expect(errors[0]).toBeInstanceOf(TypeError);
  });
});

/** A room: joins `lobby` (static) and the room named in the path (dynamic); relays chat messages. */
class Room extends JsonWebsocketConsumer {
  static override groups = ['lobby'];
  static channels: string[] = [];
  override async connect(): Promise<void> {
    Room.channels.push(this.channelName);
    await this.channelLayer.groupAdd('room-1', this.channelName);
    await this.accept();
  }
  override async receiveJson(content: unknown): Promise<void> {
    const c = content as { text?: string; crash?: boolean; group?: string };
    if (c.crash) throw new Error('consumer crashed');
    await this.channelLayer.groupSend(c.group ?? 'lobby', { type: 'chat.message', text: c.text });
  }
  async chat_message(event: ASGIEvent): Promise<void> {
    await this.sendJson({ text: event.text });
  }
}

describe('groups through the channel layer', () => {
  it('delivers a groupSend to every member, dispatched by type (chat.message → chat_message)', async () => {
    Room.channels = [];
    const a = connectTo(Room.asApp());
    const b = connectTo(Room.asApp());
    await a.connect();
    await b.connect();
    await a.sendJsonTo({ text: 'hi all' });
    expect(await a.receiveJsonFrom()).toEqual({ text: 'hi all' });
    expect(await b.receiveJsonFrom()).toEqual({ text: 'hi all' });
    await b.sendJsonTo({ text: 'to the room', group: 'room-1' });
    expect(await a.receiveJsonFrom()).toEqual({ text: 'to the room' });
    expect(await b.receiveJsonFrom()).toEqual({ text: 'to the room' });
    await a.disconnect();
    await b.disconnect();
  });

  const endings: Array<[string, (c: WebsocketCommunicator) => Promise<void>]> = [
    ['after a disconnect', async (c) => c.disconnect()],
    ['after the consumer crashed', async (c) => {
      await c.sendJsonTo({ crash: true });
      await expect(c.wait()).rejects.toThrow(/consumer crashed/);
    }],
    ['after the communicator stopped it', async (c) => c.stop()],
  ];
  for (const [name, end] of endings) {
    it(`discards every membership (static and dynamic) ${name}`, async () => {
      Room.channels = [];
      const gone = connectTo(Room.asApp());
      const stays = connectTo(Room.asApp());
      await gone.connect();
      await stays.connect();
      const [goneChannel] = Room.channels;
      await end(gone);
      await settle();
      await layer.groupSend('lobby', { type: 'chat.message', text: 'still here?' });
      await layer.groupSend('room-1', { type: 'chat.message', text: 'and here?' });
      nothingFor(goneChannel!);
      expect(await stays.receiveJsonFrom()).toEqual({ text: 'still here?' });
      expect(await stays.receiveJsonFrom()).toEqual({ text: 'and here?' });
    });
  }

  it('discards memberships when the close timeout kills a consumer stuck in a handler', async () => {
    Room.channels = [];
    class Stuck extends Room {
      override async chat_message(): Promise<void> {
        await new Deferred<void>(); // never returns
      }
    }
    const comm = connectTo(Stuck.asApp());
    await comm.connect();
    const [channel] = Room.channels;
    await layer.groupSend('lobby', { type: 'chat.message', text: 'block' });
    await settle();
    const gone = comm.disconnect(1000, '', 60);
    await settle();
    clock.advance(10);
    await settle();
    await expect(gone).rejects.toBeInstanceOf(ApplicationCloseTimeoutError);
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
    await layer.groupSend('lobby', { type: 'chat.message', text: 'anyone?' });
    nothingFor(channel!);
  });

  it('needs a channel layer for groups', async () => {
    const comm = track(new WebsocketCommunicator(Room.asApp(), '/', { clock }));
    await expect(comm.connect()).rejects.toBeInstanceOf(InvalidChannelLayerError);
  });

  it('takes the layer from asApp options before the scope; null runs without one', async () => {
    const other = new InMemoryChannelLayer({ reactor: clock });
    const seen: boolean[] = [];
    class Probe extends AsyncWebsocketConsumer {
      override connect(): PromiseLike<void> {
        seen.push(this.hasChannelLayer);
        if (this.hasChannelLayer) seen.push((this.channelLayer as unknown as { inner: unknown }).inner === other);
        else expect(() => this.channelName).toThrow(InvalidChannelLayerError);
        return this.accept();
      }
    }
    await connectTo(Probe.asApp({ channelLayer: other })).connect();
    await connectTo(Probe.asApp({ channelLayer: null })).connect();
    expect(seen).toEqual([true, true, false]);
    await other.close();
  });
});

describe('dispatch', () => {
  it('maps types to method names: dots become underscores', () => {
    const table: Array<[string, string]> = [
      ['chat.message', 'chat_message'],
      ['websocket.connect', 'websocket_connect'],
      ['a.b.c', 'a_b_c'],
      ['plain', 'plain'],
      ['already_underscored', 'already_underscored'],
    ];
    for (const [type, name] of table) expect(handlerName(type)).toBe(name);
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ['no type', { text: 'x' }, /no 'type'/],
    ['a non-string type', { type: 5 }, /no 'type'/],
    ['a leading underscore', { type: '_private' }, /underscore/],
    ['a leading dot (becomes an underscore)', { type: '.hidden' }, /underscore/],
    ['an unknown type', { type: 'no.handler' }, /No handler for message type "no.handler" \(method no_handler\)/],
    ['an API method', { type: 'send' }, /part of the consumer's API/],
    ['another API method', { type: 'close' }, /part of the consumer's API/],
    ['constructor', { type: 'constructor' }, /part of the consumer's API/],
    ['an Object.prototype member', { type: 'toString' }, /part of the consumer's API/],
    ['a non-function property', { type: 'scope' }, /No handler/],
  ];
  for (const [name, message, error] of refused) {
    it(`refuses ${name}`, () => {
      const consumer = new Room();
      let caught: unknown;
      try {
        resolveHandler(consumer, message);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(DispatchError);
      expect((caught as Error).message).toMatch(error);
    });
  }

  it('allows a user method without underscores that is not API', () => {
    class Pinger extends AsyncConsumer {
      ping(): void {}
    }
    expect(resolveHandler(new Pinger(), { type: 'ping' })).toBe(Pinger.prototype.ping);
  });

  it('kills the consumer on a layer message without a handler, naming the type', async () => {
    Room.channels = [];
    const comm = connectTo(Room.asApp());
    await comm.connect();
    await layer.send(Room.channels[0]!, { type: 'no.handler' });
    await expect(comm.receiveFrom()).rejects.toThrow(/No handler for message type "no.handler"/);
    expect(comm.serverActions[comm.serverActions.length - 1]).toEqual({ kind: 'close', code: 1011, reason: '' });
  });

  it('refuses a layer message aimed at a private method', async () => {
    Room.channels = [];
    const comm = connectTo(Room.asApp());
    await comm.connect();
    await layer.send(Room.channels[0]!, { type: '_secret' });
    await expect(comm.receiveFrom()).rejects.toBeInstanceOf(DispatchError);
  });

  it('ends cleanly when a handler throws StopConsumer', async () => {
    class Quitter extends AsyncWebsocketConsumer {
      static channel = '';
      override connect(): PromiseLike<void> {
        Quitter.channel = this.channelName;
        return this.accept();
      }
      app_quit(): void {
        throw new StopConsumer();
      }
    }
    const comm = connectTo(Quitter.asApp());
    await comm.connect();
    await layer.send(Quitter.channel, { type: 'app.quit' });
    await comm.wait();
    expect(comm.serverActions[comm.serverActions.length - 1]).toEqual({ kind: 'close', code: 1000, reason: '' });
  });
});

describe('handler concurrency', () => {
  function worker(concurrency: number) {
    const log: string[] = [];
    const gates = new Map<number, Deferred<void>>();
    const gate = (n: number): Deferred<void> => {
      let g = gates.get(n);
      if (g === undefined) gates.set(n, (g = new Deferred<void>()));
      return g;
    };
    let channel = '';
    class Worker extends AsyncWebsocketConsumer {
      static override concurrency = concurrency;
      override connect(): PromiseLike<void> {
        channel = this.channelName;
        return this.accept();
      }
      override receive({ text }: ReceivedData): void {
        log.push(`client ${String(text)}`);
      }
      async job_run(m: ASGIEvent): Promise<void> {
        log.push(`start ${String(m.n)}`);
        await gate(m.n as number);
        log.push(`end ${String(m.n)}`);
      }
    }
    return { Worker, log, gate, channel: () => channel };
  }

  it('runs handlers one at a time by default, in arrival order', async () => {
    const { Worker, log, gate, channel } = worker(1);
    const comm = connectTo(Worker.asApp());
    await comm.connect();
    for (const n of [1, 2, 3]) await layer.send(channel(), { type: 'job.run', n });
    await settle();
    expect(log).toEqual(['start 1']);
    gate(2).callback(undefined); // finishing out of order changes nothing: 2 has not started
    await settle();
    expect(log).toEqual(['start 1']);
    gate(1).callback(undefined);
    await settle();
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3']);
    gate(3).callback(undefined);
    await settle();
    await comm.disconnect();
  });

  it('runs up to `concurrency` handlers at once', async () => {
    const { Worker, log, gate, channel } = worker(2);
    const comm = connectTo(Worker.asApp());
    await comm.connect();
    for (const n of [1, 2, 3]) await layer.send(channel(), { type: 'job.run', n });
    await settle();
    expect(log).toEqual(['start 1', 'start 2']);
    gate(2).callback(undefined);
    await settle();
    expect(log).toEqual(['start 1', 'start 2', 'end 2', 'start 3']);
    // A client message while both slots are busy waits for a free slot…
    await comm.sendTo({ text: 'first' });
    await settle();
    expect(log).toEqual(['start 1', 'start 2', 'end 2', 'start 3']);
    gate(3).callback(undefined);
    await settle();
    expect(log).toEqual(['start 1', 'start 2', 'end 2', 'start 3', 'end 3', 'client first']);
    for (const n of [4, 5]) await layer.send(channel(), { type: 'job.run', n });
    await settle();
    expect(log.slice(-2)).toEqual(['client first', 'start 4']); // 1 and 4 busy: 5 waits
    // …but a disconnect does not wait behind the busy handlers, even after another message.
    await comm.sendTo({ text: 'second' });
    await comm.sendInput({ type: 'websocket.disconnect', code: 1000 });
    await comm.wait();
    expect(log).not.toContain('client second'); // the connection is gone: dropped
    for (const n of [1, 4, 5]) gate(n).callback(undefined);
    await settle();
    expect(flushLoggedErrors()).toEqual([]);
  });

  it('client messages held while every slot is busy run in order once one frees, past the read-ahead limit too', async () => {
    const { Worker, log, gate, channel } = worker(2);
    const comm = connectTo(Worker.asApp());
    await comm.connect();
    for (const n of [1, 2]) await layer.send(channel(), { type: 'job.run', n });
    await settle();
    // More than the 16 messages read ahead while busy: the rest wait in the client's queue.
    for (let i = 1; i <= 20; i++) await comm.sendTo({ text: `m${i}` });
    await settle();
    expect(log).toEqual(['start 1', 'start 2']);
    gate(1).callback(undefined);
    await settle();
    const texts = Array.from({ length: 20 }, (_, i) => `client m${i + 1}`);
    expect(log).toEqual(['start 1', 'start 2', 'end 1', ...texts]);
    // Held again, and freed again: the second round is kept in order as well.
    for (let i = 21; i <= 23; i++) await comm.sendTo({ text: `m${i}` });
    await settle();
    expect(log.slice(-3)).toEqual(['client m21', 'client m22', 'client m23']);
    gate(2).callback(undefined);
    await settle();
    await comm.disconnect();
    expect(flushLoggedErrors()).toEqual([]);
  });

  it('refuses a concurrency that is not a positive integer', async () => {
    const { Worker } = worker(0);
    const comm = connectTo(Worker.asApp());
    await expect(comm.connect()).rejects.toBeInstanceOf(RangeError);
  });
});

// Handler lookup (dispatch.ts `resolveHandler`), which remembers the type it resolved last (a
// broadcast hands the same type to every member in a row): it must find exactly what
// `consumer[name]` finds, every time — no stale answer after a handler is replaced, none carried
// from one consumer class to another.
import { describe, expect, it } from 'vitest';
import { AsyncConsumer } from '../../src/channels/consumers/asyncConsumer.js';
import { resolveHandler } from '../../src/channels/consumers/dispatch.js';
import { DispatchError } from '../../src/channels/consumers/exceptions.js';
import { AsyncWebsocketConsumer } from '../../src/channels/consumers/websocketConsumer.js';
import type { ASGIEvent } from '../../src/channels/types.js';
import { connectTo, layer } from './consumerFixture.js';

const EV: ASGIEvent = { type: 'any' };

describe('handler lookup', () => {
  it('sees a handler replaced on the instance or on the prototype, at once', () => {
    class Swap extends AsyncConsumer {
      swap_me(_m: ASGIEvent): string {
        return 'prototype';
      }
    }
    const a = new Swap();
    const b = new Swap();
    const message = { type: 'swap.me' };
    expect(resolveHandler(a, message).call(a, message)).toBe('prototype');
    const own = (): string => 'own';
    (a as unknown as Record<string, unknown>)['swap_me'] = own;
    expect(resolveHandler(a, message)).toBe(own);
    expect(resolveHandler(b, message).call(b, message)).toBe('prototype');
    const replaced = (): string => 'replaced';
    Swap.prototype.swap_me = replaced;
    expect(resolveHandler(b, message)).toBe(replaced);
    expect(resolveHandler(a, message)).toBe(own); // the own property still wins
    delete (a as unknown as Record<string, unknown>)['swap_me'];
    expect(resolveHandler(a, message)).toBe(replaced);
    delete (Swap.prototype as unknown as Record<string, unknown>)['swap_me'];
    expect(() => resolveHandler(a, message)).toThrow(DispatchError);
  });

  it('answers per consumer class, for types dispatched in any order', () => {
    class One extends AsyncConsumer {
      shared_type(): string {
        return 'one';
      }
      only_one(): string {
        return 'only one';
      }
    }
    class Two extends AsyncConsumer {
      shared_type(): string {
        return 'two';
      }
    }
    const one = new One();
    const two = new Two();
    for (let i = 0; i < 50; i++) {
      expect(resolveHandler(one, { type: 'shared.type' }).call(one, EV)).toBe('one');
      expect(resolveHandler(two, { type: 'shared.type' }).call(two, EV)).toBe('two');
      expect(resolveHandler(one, { type: 'only.one' }).call(one, EV)).toBe('only one');
      expect(() => resolveHandler(two, { type: 'only.one' })).toThrow(/No handler for message type "only.one"/);
    }
  });

  it('dispatches a broadcast to members of different classes (end to end)', async () => {
    const seen: string[] = [];
    class Red extends AsyncWebsocketConsumer {
      static override groups = ['colours'];
      async paint_it(event: ASGIEvent): Promise<void> {
        seen.push(`red ${String(event.n)}`);
        await this.send({ text: `red ${String(event.n)}` });
      }
    }
    class Blue extends AsyncWebsocketConsumer {
      static override groups = ['colours'];
      async paint_it(event: ASGIEvent): Promise<void> {
        seen.push(`blue ${String(event.n)}`);
        await this.send({ text: `blue ${String(event.n)}` });
      }
    }
    const red = connectTo(Red.asApp());
    const blue = connectTo(Blue.asApp());
    await red.connect();
    await blue.connect();
    for (let n = 0; n < 3; n++) await layer.groupSend('colours', { type: 'paint.it', n });
    for (let n = 0; n < 3; n++) {
      expect(await red.receiveFrom()).toEqual({ text: `red ${n}` });
      expect(await blue.receiveFrom()).toEqual({ text: `blue ${n}` });
    }
    expect(seen).toHaveLength(6);
  });
});

import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../src/protocol/byteQueue.js';

/** A seeded uniform generator (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ByteQueue (the framings’ receive buffer)', () => {
  it('behaves like a naive concatenated buffer under random pushes and takes', () => {
    const random = seeded(7);
    const q = new ByteQueue();
    let model = Buffer.alloc(0);
    let counter = 0;
    for (let step = 0; step < 5000; step++) {
      const r = random();
      if (r < 0.5) {
        const n = Math.floor(random() * (random() < 0.1 ? 70_000 : 300));
        const chunk = Buffer.alloc(n);
        for (let i = 0; i < n; i++) chunk[i] = counter++ & 0xff;
        q.push(chunk);
        model = Buffer.concat([model, chunk]);
      } else if (r < 0.8) {
        const n = Math.floor(random() * (model.length + 1));
        expect(q.take(n).equals(model.subarray(0, n))).toBe(true);
        model = model.subarray(n);
      } else if (r < 0.95) {
        const n = Math.floor(random() * (model.length + 1));
        q.skip(n);
        model = model.subarray(n);
      } else {
        expect(q.takeAll().equals(model)).toBe(true);
        model = Buffer.alloc(0);
      }
      expect(q.length).toBe(model.length);
      if (model.length > 0) {
        const i = Math.floor(random() * model.length);
        expect(q.at(i)).toBe(model[i]);
        const needle = model.subarray(i, i + 3);
        expect(q.indexOf(needle)).toBe(model.indexOf(needle));
      }
    }
  });

  it('taken bytes are copies: later pushes do not change them', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('abc'));
    const a = q.take(2);
    q.push(Buffer.from('zzzzzzzz'));
    expect(a.toString()).toBe('ab');
    expect(q.takeAll().toString()).toBe('czzzzzzzz');
  });

  it('pushing copies: the caller may reuse its buffer', () => {
    const q = new ByteQueue();
    const input = Buffer.from('hello');
    q.push(input);
    input.fill(0);
    expect(q.takeAll().toString()).toBe('hello');
  });

  it('at() past the end is undefined; clear() empties', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('x'));
    expect(q.at(1)).toBeUndefined();
    q.clear();
    expect(q.length).toBe(0);
  });
});

/**
 * ResourceGroup: many resources tracked as one (the open connections of a reactor), with the
 * reactor's own semantics — tracked while not empty, every member closed at shutdown, a member
 * that fails to close logged without stopping the others.
 */
import { describe, expect, it } from 'vitest';
import { ResourceGroup, type ReactorResource, type ResourceTracker } from '../../src/reactor/resources.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

/** A tracker that records what is tracked, like the Node reactor's set. */
class Tracker implements ResourceTracker {
  readonly tracked = new Set<ReactorResource>();
  tracks = 0;
  track(resource: ReactorResource): () => void {
    this.tracks++;
    this.tracked.add(resource);
    return () => {
      this.tracked.delete(resource);
    };
  }
  /** What the reactor does at shutdown: take everything tracked, clear, shut each down. */
  sweep(): void {
    const all = [...this.tracked];
    this.tracked.clear();
    for (const r of all) void r.shutdown();
  }
}

class Member {
  closed = 0;
  constructor(private readonly onShutdown: () => void = () => {}) {}
  shutdown(): void {
    this.closed++;
    this.onShutdown();
  }
}

describe('ResourceGroup', () => {
  it('is tracked once while it has members and untracked when the last one leaves', () => {
    const tracker = new Tracker();
    const group = new ResourceGroup<Member>(tracker);
    const [a, b] = [new Member(), new Member()];
    group.add(a);
    group.add(b);
    expect(tracker.tracks).toBe(1);
    expect([...tracker.tracked]).toEqual([group]);
    group.delete(a);
    expect(tracker.tracked.size).toBe(1);
    group.delete(a); // not a member any more: no effect
    group.delete(b);
    expect(tracker.tracked.size).toBe(0);
    expect(group.size).toBe(0);
    group.add(a);
    expect(tracker.tracks).toBe(2);
    expect(tracker.tracked.has(group)).toBe(true);
  });

  it('closes every member at shutdown; one that throws is logged and the others still close', () => {
    const tracker = new Tracker();
    const group = new ResourceGroup<Member>(tracker);
    const members = [
      new Member(),
      new Member(() => {
        throw new RangeError('cannot close');
      }),
      new Member(),
    ];
    for (const m of members) group.add(m);
    tracker.sweep();
    expect(members.map((m) => m.closed)).toEqual([1, 1, 1]);
    expect(group.size).toBe(0);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('tracks itself again for a member added while shutting down (the next sweep closes it)', () => {
    const tracker = new Tracker();
    const group = new ResourceGroup<Member>(tracker);
    const late = new Member();
    // Closing the first member opens another one (a client reconnecting at once).
    const first = new Member(() => group.add(late));
    group.add(first);
    tracker.sweep();
    expect(first.closed).toBe(1);
    expect(late.closed).toBe(0);
    expect(tracker.tracked.has(group)).toBe(true);
    tracker.sweep();
    expect(late.closed).toBe(1);
    expect(tracker.tracked.size).toBe(0);
  });

  it('lets members remove themselves while it shuts them down', () => {
    const tracker = new Tracker();
    const group = new ResourceGroup<Member>(tracker);
    const members: Member[] = [];
    for (let i = 0; i < 3; i++) {
      const m: Member = new Member(() => group.delete(m));
      members.push(m);
      group.add(m);
    }
    tracker.sweep();
    expect(members.map((m) => m.closed)).toEqual([1, 1, 1]);
    expect(tracker.tracked.size).toBe(0);
  });
});

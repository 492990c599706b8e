// Table tests for the group-aware scheduler: order per group, one out per group, round-robin, retries.
import { Scheduler } from '../../core/scheduler';

/** Adds `spec` ("a1 a2 b1") as items named by group letter and sequence. */
function load(spec: string): Scheduler<string> {
  const s = new Scheduler<string>();
  for (const item of spec.split(' ').filter(Boolean)) s.add(item[0], item);
  return s;
}

/** Takes until nothing is eligible, returning the items in the order handed out. */
function takeAll(s: Scheduler<string>, now = 0): string[] {
  const out: string[] = [];
  for (let t = s.take(now); t; t = s.take(now)) out.push(t.item);
  return out;
}

describe('Scheduler', () => {
  it.each([
    ['one group hands out only its head', 'a1 a2 a3', ['a1']],
    ['three groups hand out one head each', 'a1 a2 b1 b2 c1', ['a1', 'b1', 'c1']],
    ['groups are served in the order they arrived', 'c1 a1 b1', ['c1', 'a1', 'b1']],
  ])('%s', (_name, spec, expected) => {
    expect(takeAll(load(spec))).toEqual(expected);
  });

  it('keeps per-group order when every head completes', () => {
    const s = load('a1 a2 a3 b1 b2');
    const sent: string[] = [];
    for (let i = 0; i < 10 && s.held > 0; i++) {
      const t = s.take(0);
      if (!t) break;
      sent.push(t.item);
      s.finish(t.group, 'done');
    }
    expect(sent).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
    expect(s.held).toBe(0);
    expect(s.groupCount).toBe(0);
  });

  it('serves a quiet group within one slot while another group has a backlog', () => {
    const s = load('a1 a2 a3 a4 a5 a6');
    const first = s.take(0)!;
    s.finish(first.group, 'done');
    s.add('q', 'q1');
    const next: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t = s.take(0)!;
      next.push(t.item);
      s.finish(t.group, 'done');
    }
    expect(next.indexOf('q1')).toBeLessThanOrEqual(1);
  });

  it('rotates fairly: each of three busy groups gets every third slot', () => {
    const s = load('a1 a2 a3 b1 b2 b3 c1 c2 c3');
    const sent: string[] = [];
    for (let i = 0; i < 9; i++) {
      const t = s.take(0)!;
      sent.push(t.item);
      s.finish(t.group, 'done');
    }
    expect(sent.map((x) => x[0]).join('')).toBe('abcabcabc');
  });

  it('keeps a retried head at the head and holds its group until notBefore', () => {
    const s = load('a1 a2 b1');
    const a = s.take(0)!;
    s.finish(a.group, 'retry', 1_000);
    expect(takeAll(s, 500)).toEqual(['b1']);
    expect(s.nextWakeAt(500)).toBe(1_000);
    expect(s.take(1_000)?.item).toBe('a1');
  });

  it('forgets a backoff once the group is taken again, drained or emptied', () => {
    const s = load('a1 a2');
    s.take(0);
    s.finish('a', 'retry', 1_000);
    expect(s.nextWakeAt(0)).toBe(1_000);
    expect(s.take(1_000)?.item).toBe('a1');
    expect(s.nextWakeAt(0)).toBeUndefined();
    s.finish('a', 'retry', 2_000);
    expect(s.drain()).toEqual(['a1', 'a2']);
    expect(s.nextWakeAt(0)).toBeUndefined();
    s.add('a', 'a9');
    expect(s.take(0)?.item).toBe('a9');
  });

  it('never hands out a second item of a group while its head is out', () => {
    const s = load('a1 a2');
    s.take(0);
    expect(s.take(0)).toBeUndefined();
    expect(s.inFlight).toBe(1);
  });

  it('respects a window: takes stop when the caller stops asking', () => {
    const s = load('a1 b1 c1 d1');
    const window = 2;
    const out: string[] = [];
    while (s.inFlight < window) out.push(s.take(0)!.item);
    expect(out).toEqual(['a1', 'b1']);
    expect(s.hasReady(0)).toBe(true);
  });

  it('waits for a head that is not ready yet without passing it', () => {
    const s = new Scheduler<string>();
    s.add('a', 'a1', false);
    s.add('a', 'a2');
    s.add('b', 'b1');
    expect(takeAll(s)).toEqual(['b1']);
    s.markReady('a1');
    expect(s.take(0)?.item).toBe('a1');
  });

  it('removes an item that is not out, keeping the rest in order', () => {
    const s = load('a1 a2 a3');
    expect(s.remove('a', 'a2')).toBe(true);
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t = s.take(0);
      if (!t) break;
      order.push(t.item);
      s.finish(t.group, 'done');
    }
    expect(order).toEqual(['a1', 'a3']);
  });

  it('refuses to remove the head while it is out', () => {
    const s = load('a1');
    s.take(0);
    expect(s.remove('a', 'a1')).toBe(false);
  });

  it('drains everything that is not out and keeps the heads that are', () => {
    const s = load('a1 a2 b1 b2');
    s.take(0);
    expect(s.drain().sort()).toEqual(['a2', 'b1', 'b2']);
    expect(s.held).toBe(1);
    expect([...s.items()]).toEqual(['a1']);
  });

  it('skips heads the caller does not accept and serves the next group', () => {
    const s = load('a1 b1');
    expect(s.take(0, (item) => item !== 'a1')?.item).toBe('b1');
  });

  it('throws when finishing a group that has nothing out', () => {
    expect(() => load('a1').finish('a', 'done')).toThrow(/nothing out/);
  });
});

// Unit tests for the answer-order test: pairing each answer with the next answer of another request, and the
// verdict over a closed loop of requests against a FIFO worker pool.
import { lognormal, seeded } from '../../bench/pacing/random';
import {
  type AnswerOrder,
  emptyOrder,
  observeAnswer,
  orderCorrelation,
  orderVerdict,
} from '../../core/answer-order';

describe('observeAnswer', () => {
  it('pairs a round trip with the gap from its send to the next answer of another request', () => {
    let order = emptyOrder(0);
    // Sent at 0 and 10 with two in flight; answered at 40 and 100.
    order = observeAnswer(order, 40, { rttMs: 40, level: 2 }, 2);
    // The first answer came before any other after its send: it waits for the next one.
    expect(order.n).toBe(0);
    expect(order.pending).toEqual([{ sentAt: 0, rttMs: 40, level: 2 }]);
    order = observeAnswer(order, 100, { rttMs: 90, level: 2 }, 2);
    // Its pair: 40 ms, next answer 100 ms after its send. The second's: 90 ms, next answer (at 40) 30 ms after.
    expect(order).toMatchObject({ n: 2, r: 130, g: 130, rg: 40 * 100 + 90 * 30, pending: [] });
    expect(order.answers).toEqual([40, 100]);
  });

  it('counts only requests that left at the window in force, and starts over when it changes', () => {
    let order = emptyOrder(0);
    order = observeAnswer(order, 10, { rttMs: 10, level: 3 }, 3);
    order = observeAnswer(order, 20, { rttMs: 15, level: 2 }, 3);
    order = observeAnswer(order, 30, { rttMs: 12, level: 3 }, 3);
    // The pending first answer (level 3) and the third (level 3) count; the level-2 one does not.
    expect(order.n).toBe(2);
    order = observeAnswer(order, 40, { rttMs: 12, level: 2 }, 2);
    expect(order).toMatchObject({ window: 2, n: 1, dof: 0 });
  });

  it('pairs nothing sent before it started, nor a 4xx, which still counts as an answer for others', () => {
    let order = emptyOrder(1_000);
    order = observeAnswer(order, 1_020, { rttMs: 50, level: 2 }, 2);
    expect(order).toMatchObject({ n: 0, pending: [] });
    // A 4xx has no level: not paired, but it is the next answer after the send of the one below.
    order = observeAnswer(order, 1_030, { rttMs: 5 }, 2);
    order = observeAnswer(order, 1_060, { rttMs: 35, level: 2 }, 2);
    expect(order).toMatchObject({ n: 1, r: 35, g: 5 });
  });

  it('does not pair a request that outlived more answers than are remembered', () => {
    let order = emptyOrder(0);
    for (let t = 1; t <= 100; t += 1) order = observeAnswer(order, t, { rttMs: 1 }, 4);
    expect(order.answers).toHaveLength(64);
    // Sent at 0: its next answer (at 1) has dropped out of memory.
    order = observeAnswer(order, 101, { rttMs: 101, level: 4 }, 4);
    expect(order.n).toBe(0);
    // Sent at 50: its next answer (at 51) is remembered.
    order = observeAnswer(order, 102, { rttMs: 52, level: 4 }, 4);
    expect(order).toMatchObject({ n: 1, g: 1 });
  });
});

/**
 * `window` requests kept in flight against `workers` FIFO workers (each answer sends the next request at once),
 * service times drawn by `serviceMs(t)`. Returns the verdict after every 20 answers.
 */
function closedLoop(
  workers: number,
  window: number,
  serviceMs: (t: number) => number,
  answers: number,
): { verdicts: string[]; order: AnswerOrder } {
  const free = new Array<number>(workers).fill(0);
  const flights: { sentAt: number; doneAt: number }[] = [];
  const send = (t: number) => {
    let i = 0;
    for (let k = 1; k < workers; k += 1) if (free[k] < free[i]) i = k;
    const doneAt = Math.max(t, free[i]) + serviceMs(t);
    free[i] = doneAt;
    flights.push({ sentAt: t, doneAt });
  };
  for (let k = 0; k < window; k += 1) send(0);
  let order = emptyOrder(0);
  const verdicts: string[] = [];
  for (let n = 1; n <= answers; n += 1) {
    flights.sort((a, b) => a.doneAt - b.doneAt);
    const done = flights.shift()!;
    order = observeAnswer(order, done.doneAt, { rttMs: done.doneAt - done.sentAt, level: window }, window);
    send(done.doneAt);
    if (n % 20 === 0) verdicts.push(orderVerdict(order, window));
  }
  return { verdicts, order };
}

describe('orderVerdict', () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  const share = (verdicts: string[], v: string) => verdicts.filter((x) => x === v).length / verdicts.length;

  it.each([2, 4, 5])('finds a queue one request over %d workers within 600 answers', (workers) => {
    // Lognormal service times with cv 0.5. One over 8 workers adds too little for the test to be sure (it is
    // for 4 of 8 seeds within 1,000 answers): the ratio tests of the window cover large windows.
    let all: string[] = [];
    for (const seed of seeds) {
      const random = seeded(seed);
      const { verdicts } = closedLoop(workers, workers + 1, () => lognormal(100, 0.5, random), 1_000);
      const first = verdicts.indexOf('queue');
      expect(first).toBeGreaterThanOrEqual(0);
      expect(first).toBeLessThan(30);
      all = all.concat(verdicts);
    }
    expect(share(all, 'no queue')).toBeLessThanOrEqual(0.02);
  });

  it.each([2, 4, 5, 8])('finds none with the window at %d workers, nor one under', (workers) => {
    let all: string[] = [];
    for (const seed of seeds) {
      for (const window of [workers, workers - 1]) {
        if (window < 2) continue;
        const random = seeded(seed);
        const { verdicts, order } = closedLoop(workers, window, () => lognormal(100, 0.5, random), 1_000);
        expect(Math.abs(orderCorrelation(order).correlation)).toBeLessThan(0.2);
        all = all.concat(verdicts);
      }
    }
    expect(share(all, 'queue')).toBeLessThanOrEqual(0.005);
    expect(share(all, 'no queue')).toBeGreaterThanOrEqual(0.8);
  });

  it('takes an app that slows down for what it is, not for a queue', () => {
    // 4 workers, window 4, service 80 → 200 → 50 ms: round trips and gaps rise and fall together between
    // blocks, which a correlation over all answers would read as a queue.
    for (const seed of seeds) {
      const random = seeded(seed);
      const service = (t: number) => lognormal(t < 8_000 ? 80 : t < 20_000 ? 200 : 50, 0.5, random);
      const { verdicts } = closedLoop(4, 4, service, 1_500);
      expect(verdicts).not.toContain('queue');
    }
  });

  it('says nothing before a block is complete, for a request alone in flight, or when nothing varies', () => {
    const few = closedLoop(4, 5, () => 100, 10);
    expect(orderVerdict(few.order, 5)).toBe('too few');
    // One in flight: no other answer to wait for, so nothing is paired.
    const random = seeded(1);
    const alone = closedLoop(2, 1, () => lognormal(100, 0.5, random), 400);
    expect(alone.verdicts.every((v) => v === 'too few')).toBe(true);
    // Constant service: no spread to correlate.
    const flat = closedLoop(4, 4, () => 100, 400);
    expect(flat.verdicts.every((v) => v === 'too few')).toBe(true);
    // Asked about another window than the sums are about.
    expect(orderVerdict(flat.order, 3)).toBe('too few');
  });
});

// Unit tests for the pacer's explanation of its pace (explainPace) and its wording (core/pace-text.ts).
import { describeMakeUp, describeRate, describeWindow, paceTag } from '../../core/pace-text';
import {
  createPacer,
  earliestSend,
  explainPace,
  loadedPacer,
  onSend,
  onSignal,
  type PaceExplanation,
  type PacerOptions,
  type PacerState,
  ratePerSecond,
  type Signal,
  savedPacer,
  windowSize,
} from '../../core/pacer';

const OPTIONS: PacerOptions = {
  floorPerSecond: 1,
  ceilingPerSecond: 500,
  maxWindow: 8,
  initialRatePerSecond: 20,
};

/** Sends one request at `t` and feeds its answer back `rttMs` later. */
function exchange(state: PacerState, t: number, signal: Signal, rttMs = 10): PacerState {
  return onSignal(onSend(state, t), signal, t + rttMs);
}

/** `n` requests answered 2xx `rttMs` after they left, one every `everyMs` from `t0`, each at the level given. */
function served(
  state: PacerState,
  t0: number,
  n: number,
  everyMs: number,
  level = 1,
  rttMs = 10,
): PacerState {
  let s = state;
  for (let i = 0; i < n; i += 1) s = exchange(s, t0 + i * everyMs, { kind: 'accepted', rttMs, level }, rttMs);
  return s;
}

/**
 * Drives a window-limited paced sender for `durationMs` against a FIFO pool of `workers` workers with a fixed
 * service time and an unbounded waiting room; checks at every second that the explanation matches the pacer.
 */
function againstPool(workers: number, serviceMs: number, durationMs: number): PacerState {
  let state = createPacer(OPTIONS, 0);
  const free = new Array<number>(workers).fill(0);
  const due: { at: number; rttMs: number }[] = [];
  for (let t = 0; t < durationMs; t += 1) {
    for (let i = due.length - 1; i >= 0; i -= 1) {
      if (due[i].at <= t) {
        state = onSignal(state, { kind: 'accepted', rttMs: due[i].rttMs }, t);
        due.splice(i, 1);
      }
    }
    if (t % 1000 === 0) {
      const e = explainPace(state, t);
      expect(e.ratePerSecond).toBe(ratePerSecond(state, t));
      expect(e.window).toBe(windowSize(state, t));
    }
    if (due.length < windowSize(state, t) && earliestSend(state, t) <= t) {
      state = onSend(state, t);
      const k = free.indexOf(Math.min(...free));
      const end = Math.max(t, free[k]) + serviceMs;
      free[k] = end;
      due.push({ at: end, rttMs: end - t });
    }
  }
  return state;
}

describe('explainPace', () => {
  it('says start-up before the first overload, and the window follows the rate', () => {
    const s = served(createPacer(OPTIONS, 0), 0, 5, 50);
    const e = explainPace(s, 300);
    expect(e.rateBound).toBe('startup');
    expect(e.learnedLimitPerSecond).toBeUndefined();
    expect(e.windowBound).toBe('rate');
    expect(e.ratePerSecond).toBe(ratePerSecond(s, 300));
    expect(e.window).toBe(windowSize(s, 300));
  });

  it('says the learned limit after an overload, with the time to the next probe, then probing', () => {
    let s = served(createPacer(OPTIONS, 0), 0, 40, 25);
    s = exchange(s, 1_000, { kind: 'overload', rttMs: 10 });
    const just = explainPace(s, 1_010);
    expect(just.rateBound).toBe('learned');
    expect(just.learnedLimitPerSecond).toBe(s.wMax);
    expect(just.learnedLimitPerSecond).toBeGreaterThan(0);
    expect(just.lastCutMsAgo).toBe(0);
    expect(just.probeInMs).toBe(s.holdMs);
    // Read 500 ms after it was saved: the bounds as of the save, the times from the reading.
    const read = explainPace(s, 1_010, 1_510);
    expect(read).toMatchObject({ rateBound: 'learned', lastCutMsAgo: 500, probeInMs: s.holdMs - 500 });
    expect(explainPace(s, 1_010, 1_010 + s.holdMs + 1).probeInMs).toBeUndefined();
    // Answered at the learned rate until the hold is over: then the curve climbs past it.
    const after = served(s, 1_020, Math.ceil(s.holdMs / 50) + 20, 50);
    const at = 1_010 + s.holdMs + 500;
    const later = explainPace(after, at);
    expect(later.rateBound).toBe('probing');
    expect(later.probeInMs).toBeUndefined();
    expect(later.lastCutMsAgo).toBe(s.holdMs + 500);
  });

  it("says the app's Retry-After while a pause lasts", () => {
    let s = served(createPacer(OPTIONS, 0), 0, 20, 25);
    s = exchange(s, 600, { kind: 'overload', rttMs: 10, retryAfterMs: 2_000 });
    const e = explainPace(s, 1_110);
    expect(e.rateBound).toBe('retry-after');
    expect(e.pauseLeftMs).toBe(1_500);
    expect(explainPace(s, 2_700).rateBound).not.toBe('retry-after');
  });

  it('says the operator ceiling when the curve is above it, and the floor when it is below', () => {
    const capped = createPacer({ ...OPTIONS, ceilingPerSecond: 10 }, 0);
    expect(explainPace(capped, 0)).toMatchObject({ rateBound: 'ceiling', ratePerSecond: 10 });
    let s = createPacer({ ...OPTIONS, floorPerSecond: 15 }, 0);
    // Overloads at a low accepted rate pull the curve under the floor.
    s = served(s, 0, 4, 250);
    s = exchange(s, 1_000, { kind: 'overload', rttMs: 10 });
    expect(ratePerSecond(s, 1_010)).toBe(15);
    expect(explainPace(s, 1_010).rateBound).toBe('floor');
  });

  it("says the app's announced quota, with its rate", () => {
    const s = exchange(createPacer(OPTIONS, 0), 0, {
      kind: 'accepted',
      rttMs: 10,
      rateLimit: { limit: 8, windowMs: 1_000, remaining: 7 },
    });
    // The curve sits on the quota and may not probe above it; after the hold it would, so the quota holds it.
    const e = explainPace(s, 5_000);
    expect(e.rateBound).toBe('quota');
    expect(e.quotaPerSecond).toBeCloseTo(0.97 * 8, 6);
    expect(e.ratePerSecond).toBeCloseTo(0.97 * 8, 6);
  });

  it('says outage after overloads in a row without an answer', () => {
    let s = served(createPacer(OPTIONS, 0), 0, 10, 50);
    for (let i = 0; i < 3; i += 1) s = exchange(s, 600 + i * 100, { kind: 'overload' }, 50);
    expect(explainPace(s, 1_000).rateBound).toBe('outage');
  });

  it('says the answers hold the rate when nothing has been answered for a while after the hold', () => {
    let s = served(createPacer(OPTIONS, 0), 0, 40, 25);
    s = exchange(s, 1_000, { kind: 'overload', rttMs: 10 });
    // Ten seconds on, the convex curve is far above the limit, but nothing was answered: the rate stays at it.
    const e = explainPace(s, 1_010 + s.holdMs + 10_000);
    expect(e.rateBound).toBe('answers');
    expect(e.ratePerSecond).toBe(s.wMax);
  });

  it('says refusals when the app served one level and refused the next', () => {
    // 100 ms round trips: Little's law alone would allow more than two in flight at this rate.
    let s = served(createPacer({ ...OPTIONS, initialRatePerSecond: 40 }, 0), 0, 20, 25, 2, 100);
    s = onSignal(onSend(s, 600), { kind: 'overload', rttMs: 2, retryAfterMs: 1_000, refusedAtLevel: 3 }, 602);
    const e = explainPace(s, 2_000);
    expect(e.windowBound).toBe('refusals');
    expect(e.window).toBe(2);
    expect(describeWindow(e)).toBe('your app refused request 3 in flight and served 2');
  });

  it('says latency when round trips cap the window at a pool that queues, with the unloaded round trip', () => {
    // Three workers at 100 ms (30/s): more than three in flight only queue.
    const s = againstPool(3, 100, 30_000);
    const e = explainPace(s, 30_000);
    expect(e.windowBound).toBe('latency');
    expect(e.window).toBeGreaterThanOrEqual(3);
    expect(e.window).toBeLessThanOrEqual(4);
    // The window's own estimate, whatever its error (BENCHMARKS.md, the delay window's base).
    expect(e.unloadedRttMs).toBe(s.baseRttMs);
    expect(e.unloadedRttMs).toBeGreaterThanOrEqual(100);
  });

  it('gives the delay window and the rule that last changed it, none for a fresh or restored pacer', () => {
    const fresh = createPacer(OPTIONS, 0);
    expect(explainPace(fresh, 0).windowRule).toBeUndefined();
    expect(explainPace(fresh, 0).delayWindow).toBe(Math.floor(fresh.delayWindow));
    // Three workers at 100 ms: the round trips stepped the window down from its maximum, by a named rule.
    const s = againstPool(3, 100, 30_000);
    const e = explainPace(s, 30_000);
    expect(e.delayWindow).toBe(Math.floor(s.delayWindow));
    expect(e.delayWindow).toBeLessThan(OPTIONS.maxWindow);
    expect(e.windowRule).toBe(s.windowRule);
    expect(e.windowRule).not.toBe('start');
    expect(explainPace(loadedPacer(savedPacer(s)), 30_000).windowRule).toBeUndefined();
  });

  it('says the configured maximum when the window is at maxInFlight', () => {
    const s = againstPool(100, 100, 15_000);
    expect(explainPace(s, 15_000)).toMatchObject({ windowBound: 'max', window: OPTIONS.maxWindow });
  });

  it('says whether the app banks work only once the pacer knows', () => {
    const s = createPacer(OPTIONS, 0);
    expect(explainPace(s, 0).queuesWork).toBeUndefined();
    expect(explainPace({ ...s, banksWork: 1 }, 0).queuesWork).toBe(true);
    expect(explainPace({ ...s, banksWork: -1 }, 0).queuesWork).toBe(false);
    // A state saved before the field existed (sluice status reads it as stored).
    const { banksWork: _, ...older } = s;
    expect(explainPace(older as PacerState, 0).queuesWork).toBeUndefined();
  });
});

describe('pace text', () => {
  const base: PaceExplanation = {
    ratePerSecond: 40,
    rateBound: 'learned',
    window: 5,
    windowBound: 'rate',
    delayWindow: 8,
  };

  it('names the learned limit, when it was learned and when the next probe comes', () => {
    const text = describeRate({
      ...base,
      learnedLimitPerSecond: 42.4,
      lastCutMsAgo: 125_000,
      probeInMs: 8_000,
    });
    expect(text).toBe(
      "the limit learned from your app's 429/5xx/timeouts (42/s, last overload 2 min ago); next probe above it in 8 s",
    );
  });

  it('counts down a Retry-After, and says when it is over', () => {
    expect(describeRate({ ...base, rateBound: 'retry-after', pauseLeftMs: 400 })).toBe(
      "your app's Retry-After (under a second left)",
    );
    expect(describeRate({ ...base, rateBound: 'retry-after', pauseLeftMs: 30_000 })).toBe(
      "your app's Retry-After (30 s left)",
    );
    expect(describeRate({ ...base, rateBound: 'retry-after', pauseLeftMs: 0 })).toBe(
      "your app's Retry-After (over by now)",
    );
  });

  it('gives the quota and small rates with a decimal', () => {
    expect(describeRate({ ...base, rateBound: 'quota', quotaPerSecond: 1.94 })).toContain('(1.9/s)');
  });

  it('gives the unloaded round trip when latency caps the window', () => {
    expect(describeWindow({ ...base, windowBound: 'latency', unloadedRttMs: 96.4 })).toBe(
      'round trips: more than 5 in flight queue at your app, unloaded 96 ms',
    );
  });

  it('says nothing about make-ups until the app is judged', () => {
    expect(describeMakeUp(base)).toBeUndefined();
    expect(describeMakeUp({ ...base, queuesWork: true })).toContain('short pauses are made up');
    expect(describeMakeUp({ ...base, queuesWork: false })).toContain('not made up');
  });

  it('tags a status line with what limits the pace, naming the window when it is the limit', () => {
    expect(paceTag(base)).toBe('learned limit');
    expect(paceTag({ ...base, rateBound: 'answers', windowBound: 'latency' })).toBe('window: latency');
    expect(paceTag({ ...base, rateBound: 'answers', windowBound: 'rate' })).toBe('app speed');
  });
});

// Unit tests for the pacer's use of announced rate limits (RateLimit / X-RateLimit headers), on a simulated clock.
import {
  createPacer,
  earliestSend,
  onSend,
  onSignal,
  type PacerOptions,
  type PacerState,
  pausedUntil,
  ratePerSecond,
  type Signal,
} from '../../core/pacer';
import type { RateLimitInfo } from '../../core/rate-limit';

const OPTIONS: PacerOptions = { floorPerSecond: 1, ceilingPerSecond: 500, maxWindow: 1 };

/** A token bucket (burst 0.1·C) that announces its refill rate as a 1 s policy on every answer, like scenario G. */
function announcedBucket(capacity: (t: number) => number, announce = true) {
  let tokens = 0.1 * capacity(0);
  let last = 0;
  return (t: number): Signal => {
    const c = capacity(t);
    tokens = Math.min(Math.max(1, 0.1 * c), tokens + ((t - last) * c) / 1000);
    last = t;
    const ok = tokens >= 1;
    if (ok) tokens -= 1;
    const rateLimit: RateLimitInfo = { limit: c, windowMs: 1_000, remaining: Math.floor(ok ? tokens : 0) };
    const quota = announce ? { rateLimit } : {};
    return ok
      ? { kind: 'accepted', rttMs: 10, ...quota }
      : { kind: 'overload', rttMs: 10, retryAfterMs: 1_000, ...quota };
  };
}

/** Serial sender (one in flight), 1 ms steps, answers 10 ms after the send. */
function run(app: (t: number) => Signal, durationMs: number, start?: PacerState) {
  let state = start ?? createPacer(OPTIONS, 0);
  const acceptedPerSecond = new Array<number>(Math.ceil(durationMs / 1000)).fill(0);
  const rates: number[] = [];
  let overloads = 0;
  let pending: { at: number; signal: Signal } | undefined;
  for (let t = 0; t < durationMs; t += 1) {
    if (pending && pending.at <= t) {
      state = onSignal(state, pending.signal, t);
      if (pending.signal.kind === 'accepted') acceptedPerSecond[Math.floor(t / 1000)] += 1;
      else overloads += 1;
      pending = undefined;
    }
    if (t % 1000 === 0) rates.push(ratePerSecond(state, t));
    if (!pending && earliestSend(state, t) <= t) {
      state = onSend(state, t);
      pending = { at: t + 10, signal: app(t) };
    }
  }
  return { state, acceptedPerSecond, rates, overloads };
}

const accepted = (rateLimit?: RateLimitInfo): Signal =>
  rateLimit ? { kind: 'accepted', rttMs: 10, rateLimit } : { kind: 'accepted', rttMs: 10 };

describe('pacer with announced rate limits', () => {
  it('jumps to just under an announced short-window quota on the first answer', () => {
    let state = createPacer(OPTIONS, 0);
    state = onSend(state, 0);
    state = onSignal(state, accepted({ limit: 50, windowMs: 1_000 }), 10);
    expect(ratePerSecond(state, 10)).toBeGreaterThan(0.95 * 50);
    expect(ratePerSecond(state, 10)).toBeLessThan(50);
  });

  it('follows capacity steps announced by the app without a single overload', () => {
    const capacity = (t: number) => (t < 10_000 ? 50 : t < 20_000 ? 20 : 80);
    const { acceptedPerSecond, rates, overloads } = run(announcedBucket(capacity), 30_000);
    expect(overloads).toBe(0);
    // Every second after the first of each phase delivers at least 90% of its capacity, none above it.
    for (let s = 1; s < 30; s += 1) {
      if (s % 10 === 0) continue;
      expect(acceptedPerSecond[s]).toBeGreaterThanOrEqual(0.9 * capacity(s * 1000));
      expect(acceptedPerSecond[s]).toBeLessThanOrEqual(capacity(s * 1000) + 1);
    }
    expect(rates[11]).toBeLessThan(20);
    expect(rates[21]).toBeGreaterThan(0.95 * 80);
  });

  it('needs failed probes to find the same steps when the app announces nothing', () => {
    const capacity = (t: number) => (t < 10_000 ? 50 : t < 20_000 ? 20 : 80);
    const { overloads } = run(announcedBucket(capacity, false), 30_000);
    expect(overloads).toBeGreaterThan(0);
  });

  it('leaves the pacer exactly as without headers when the quota has a long window (a budget)', () => {
    const fast = (quota?: RateLimitInfo) => () => accepted(quota);
    const plain = run(fast(), 5_000);
    const budget = run(
      fast({ limit: 1_000, windowMs: 3_600_000, remaining: 900, resetMs: 3_000_000 }),
      5_000,
    );
    expect(budget.rates).toEqual(plain.rates);
    expect(budget.acceptedPerSecond).toEqual(plain.acceptedPerSecond);
    expect(budget.rates.at(-1)).toBeGreaterThan(50);
  });

  it('pauses until the reset when the remaining quota is 0, on a 2xx too', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ remaining: 0, resetMs: 5_000 }), 10);
    expect(pausedUntil(state)).toBe(5_010);
    expect(earliestSend(state, 10)).toBeGreaterThanOrEqual(5_010);
  });

  it('keeps the longer of an announced Retry-After and an exhausted quota', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    const rateLimit = { remaining: 0, resetMs: 3_000 };
    state = onSignal(state, { kind: 'overload', rttMs: 10, retryAfterMs: 1_000, rateLimit }, 10);
    expect(pausedUntil(state)).toBe(3_010);
  });

  it('does not pause on an exhausted quota without a reset', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ remaining: 0 }), 10);
    expect(pausedUntil(state)).toBe(0);
  });

  it('spreads the remaining quota over a reset of a few seconds, then lifts the cap', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ limit: 100, windowMs: 1_000 }), 10);
    state = onSend(state, 20);
    state = onSignal(state, accepted({ remaining: 10, resetMs: 5_000 }), 30);
    expect(ratePerSecond(state, 30)).toBeCloseTo(2);
    expect(ratePerSecond(state, 5_030)).toBeGreaterThan(90);
  });

  it.each([
    ['a one-second reset (whole seconds: no rate in it)', { remaining: 3, resetMs: 1_000 }],
    ['an hour-long reset (a budget)', { remaining: 100, resetMs: 3_600_000 }],
  ])('does not spread the remaining quota over %s', (_name, rateLimit) => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ limit: 100, windowMs: 1_000 }), 10);
    const before = ratePerSecond(state, 30);
    state = onSend(state, 20);
    state = onSignal(state, accepted(rateLimit), 30);
    expect(ratePerSecond(state, 30)).toBeCloseTo(before);
  });

  it('still cuts below an announced quota on overload', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ limit: 100, windowMs: 1_000 }), 10);
    for (let t = 20; t < 2_000; t += 20) {
      state = onSend(state, t);
      state = onSignal(state, accepted({ limit: 100, windowMs: 1_000 }), t + 10);
    }
    state = onSend(state, 2_000);
    state = onSignal(
      state,
      { kind: 'overload', rttMs: 10, rateLimit: { limit: 100, windowMs: 1_000 } },
      2_010,
    );
    expect(ratePerSecond(state, 2_010)).toBeLessThan(0.9 * 97);
  });

  it('keeps an overload cut when the quota moves while the rate sits below it', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ limit: 100, windowMs: 1_000 }), 10);
    for (let t = 20; t < 2_000; t += 20) {
      state = onSend(state, t);
      state = onSignal(state, accepted({ limit: 100, windowMs: 1_000 }), t + 10);
    }
    state = onSend(state, 2_000);
    state = onSignal(state, { kind: 'overload', rttMs: 10 }, 2_010);
    const cut = ratePerSecond(state, 2_010);
    state = onSend(state, 2_020);
    state = onSignal(state, accepted({ limit: 120, windowMs: 1_000 }), 2_030);
    expect(ratePerSecond(state, 2_030)).toBeLessThan(cut + 5);
  });

  it('lets an announced quota lapse 30 s after the last answer that carried it', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ limit: 10, windowMs: 1_000 }), 10);
    expect(ratePerSecond(state, 29_000)).toBeLessThan(10);
    // The app dropped its headers: from 30 s on, answers without them let the rate grow past the old quota.
    for (let t = 30_000; t < 33_000; t = Math.max(t + 10, earliestSend(state, t))) {
      state = onSignal(onSend(state, t), accepted(), t + 5);
    }
    expect(ratePerSecond(state, 33_000)).toBeGreaterThan(15);
  });

  it('keeps an announced quota across a restore, and restores states saved before quotas existed', () => {
    let state = onSend(createPacer(OPTIONS, 0), 0);
    state = onSignal(state, accepted({ limit: 10, windowMs: 1_000 }), 10);
    const restored = createPacer(
      { ...OPTIONS, ceilingPerSecond: 500 },
      1_000,
      JSON.parse(JSON.stringify(state)),
    );
    expect(ratePerSecond(restored, 1_000)).toBeLessThan(10);
    const { quotaRate: _q, quotaSeenAt: _s, spreadRate: _r, spreadUntil: _u, ...old } = state;
    const legacy = createPacer(OPTIONS, 1_000, old as PacerState);
    expect(legacy.quotaRate).toBe(0);
    expect(Number.isFinite(ratePerSecond(legacy, 1_000))).toBe(true);
  });
});

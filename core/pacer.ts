// Adaptive pacer: explicit-signal CUBIC on a pacing rate with a Little's-law window (research/pacing.md §5).

/** Operator limits and the starting point of a pacer. */
export interface PacerOptions {
  /** Operator floor, requests/s (> 0). */
  floorPerSecond: number;
  /** Operator ceiling, requests/s. */
  ceilingPerSecond: number;
  /** Cap on requests in flight (the window). */
  maxWindow: number;
  /** Rate to start from when nothing is persisted. */
  initialRatePerSecond?: number;
}

/**
 * The whole pacer, JSON-serialisable; persisted in DynamoDB between Lambda runs.
 * Times are epoch ms, rates requests/s, durations ms.
 */
export interface PacerState {
  readonly version: 1;
  /** Operator limits, copied in so the pure functions below need nothing else. */
  readonly floor: number;
  readonly ceiling: number;
  readonly maxWindow: number;
  /** `startup`: exponential growth until the first overload; `cubic`: the CUBIC curve around `wMax`. */
  readonly mode: 'startup' | 'cubic';
  /** Startup curve: rate `startRate` at `startAt`, doubling every `STARTUP_DOUBLING_MS`. */
  readonly startRate: number;
  readonly startAt: number;
  /** Last known limit (the plateau of the CUBIC curve). */
  readonly wMax: number;
  /** When the last cut happened and the rate it restarted from. */
  readonly cutAt: number;
  readonly cutRate: number;
  /** Length of the concave return to `wMax`; grows while cuts keep landing at the same level. */
  readonly holdMs: number;
  /** Consecutive cuts at the same level (drives `holdMs`). */
  readonly sameLevelCuts: number;
  /** Smoothed RTT of answered requests, ms (0 = not measured yet). */
  readonly srttMs: number;
  /** End of an announced Retry-After wait (0 = none). */
  readonly pauseUntil: number;
  /** When the last pause ended (or the pacer started), and answers counted since then. */
  readonly activeSince: number;
  readonly answeredSinceActive: number;
  /** Sliding-window counter of answered requests: current and previous bucket. */
  readonly bucketStart: number;
  readonly bucketCount: number;
  readonly prevBucketCount: number;
  /** When the last request left (0 = never). */
  readonly lastSendAt: number;
  /** Consecutive overload signals without an answer in between (an outage detector). */
  readonly failStreak: number;
  /** Rate that was being accepted before the current failure streak (recovery target). */
  readonly lastGoodRate: number;
}

/** What the downstream said about one request. */
export type Signal =
  /** 2xx. */
  | { kind: 'accepted'; rttMs: number }
  /** 429, 503, other 5xx, timeout, connection error. */
  | { kind: 'overload'; rttMs?: number; retryAfterMs?: number }
  /** Permanent 4xx: the app answered; not an overload signal. */
  | { kind: 'rejected'; rttMs: number };

// Cut to this share of the measured accepted rate (pacing.md §5.1, β).
const BETA = 0.85;
// Cut depth when the overload hits at the level already learned: the limit is known, a deep cut only wastes capacity.
const BETA_SAME_LEVEL = 0.95;
// Concave return time after a cut at a new level, and its cap after repeated cuts at the same level.
// Each probe of a 429 + Retry-After app costs a pause, so probing less often is what lifts utilization (§4.3).
const HOLD_MIN_MS = 2_000;
const HOLD_MAX_MS = 12_000;
// A cut is "at the same level" when the new limit is within this share of the old one.
const SAME_LEVEL_TOLERANCE = 0.1;
const SAME_LEVEL_CREEP = 0.97;
// Convex probing above wMax: relative gain per s³ plus an absolute term so tiny rates still grow.
const PROBE_GAIN = 0.15;
const PROBE_ABS = 0.4;
const STARTUP_DOUBLING_MS = 500;
const SRTT_GAIN = 0.2;
const MIN_CUT_SPACING_MS = 100;
const BUCKET_MS = 1_000;
// The accepted rate since a pause ended is trusted only after this much sending.
const MIN_MEASURE_MS = 300;
const DEFAULT_INITIAL_RATE = 5;
const DEFAULT_SRTT_MS = 100;
// After this many overloads in a row the downstream is treated as down (recovery uses startup growth).
const OUTAGE_STREAK = 3;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function validate(options: PacerOptions): void {
  const { floorPerSecond, ceilingPerSecond, maxWindow } = options;
  if (!(floorPerSecond > 0) || !Number.isFinite(floorPerSecond)) {
    throw new RangeError(`floorPerSecond must be a finite number > 0, got ${floorPerSecond}`);
  }
  if (!(ceilingPerSecond >= floorPerSecond) || !Number.isFinite(ceilingPerSecond)) {
    throw new RangeError(
      `ceilingPerSecond must be finite and >= floorPerSecond (${floorPerSecond}), got ${ceilingPerSecond}`,
    );
  }
  if (!Number.isInteger(maxWindow) || maxWindow < 1) {
    throw new RangeError(`maxWindow must be an integer >= 1, got ${maxWindow}`);
  }
}

/**
 * Creates a pacer, or restores one from persisted state. A restored pacer resumes at the rate it had
 * learned (on the plateau of its curve), with operator limits taken from `options`.
 */
export function createPacer(options: PacerOptions, now: number, persisted?: PacerState): PacerState {
  validate(options);
  const floor = options.floorPerSecond;
  const ceiling = options.ceilingPerSecond;
  const base = {
    version: 1 as const,
    floor,
    ceiling,
    maxWindow: options.maxWindow,
    activeSince: now,
    answeredSinceActive: 0,
    bucketStart: now,
    bucketCount: 0,
    prevBucketCount: 0,
    lastSendAt: 0,
    failStreak: 0,
  };
  if (persisted && persisted.version === 1) {
    // Resume on the plateau: the learned limit is the best guess after a gap; probing restarts from there.
    const learned = clamp(
      persisted.mode === 'cubic' ? persisted.wMax : Math.max(persisted.lastGoodRate, persisted.startRate),
      floor,
      ceiling,
    );
    const holdMs = clamp(persisted.holdMs, HOLD_MIN_MS, HOLD_MAX_MS);
    return {
      ...base,
      mode: 'cubic',
      startRate: learned,
      startAt: now,
      wMax: learned,
      cutAt: now - holdMs,
      cutRate: learned,
      holdMs,
      sameLevelCuts: persisted.sameLevelCuts,
      srttMs: persisted.srttMs,
      pauseUntil: persisted.pauseUntil > now ? persisted.pauseUntil : 0,
      lastGoodRate: learned,
    };
  }
  const start = clamp(options.initialRatePerSecond ?? Math.max(floor, DEFAULT_INITIAL_RATE), floor, ceiling);
  return {
    ...base,
    mode: 'startup',
    startRate: start,
    startAt: now,
    wMax: 0,
    cutAt: now,
    cutRate: start,
    holdMs: HOLD_MIN_MS,
    sameLevelCuts: 0,
    srttMs: 0,
    pauseUntil: 0,
    lastGoodRate: start,
  };
}

/** Applies new operator limits at run time; the learned state is kept and clamped. */
export function configure(state: PacerState, options: PacerOptions, now: number): PacerState {
  validate(options);
  const next: PacerState = {
    ...state,
    floor: options.floorPerSecond,
    ceiling: options.ceilingPerSecond,
    maxWindow: options.maxWindow,
  };
  const raw = curveRate(next, now);
  if (raw >= next.floor && raw <= next.ceiling) {
    return state.mode === 'cubic' ? { ...next, wMax: clamp(next.wMax, next.floor, next.ceiling) } : next;
  }
  const r = clamp(raw, next.floor, next.ceiling);
  // The curve ran past the new limits: re-anchor it on the plateau at the clamped rate, so raising the
  // ceiling later resumes probing from there instead of jumping to wherever the curve had got to.
  return { ...next, mode: 'cubic', wMax: r, cutAt: now - next.holdMs, cutRate: r };
}

/** Rolls the sliding-window counter forward to `now`. */
function rollBuckets(state: PacerState, now: number): PacerState {
  const elapsed = now - state.bucketStart;
  if (elapsed < BUCKET_MS) return state;
  if (elapsed < 2 * BUCKET_MS) {
    return {
      ...state,
      bucketStart: state.bucketStart + BUCKET_MS,
      prevBucketCount: state.bucketCount,
      bucketCount: 0,
    };
  }
  return { ...state, bucketStart: now, prevBucketCount: 0, bucketCount: 0 };
}

/** Answered requests per second over roughly the last second. */
function answeredRate(state: PacerState, now: number): number {
  const s = rollBuckets(state, now);
  const frac = clamp((now - s.bucketStart) / BUCKET_MS, 0, 1);
  const count = s.prevBucketCount * (1 - frac) + s.bucketCount;
  // Measure over the time actually spent sending, so a Retry-After pause does not read as low capacity.
  const span = Math.min(BUCKET_MS, now - s.activeSince);
  if (span < MIN_MEASURE_MS) return Number.NaN;
  return (count * 1000) / span;
}

/** The uncapped curve: startup growth, or CUBIC around wMax. */
function curveRate(state: PacerState, now: number): number {
  if (state.mode === 'startup') {
    return state.startRate * 2 ** (Math.max(0, now - state.startAt) / STARTUP_DOUBLING_MS);
  }
  const tau = Math.max(0, now - state.cutAt);
  const k = state.holdMs;
  if (tau < k) {
    // Concave: fast at first, flattening out at the last known limit.
    return state.wMax - (state.wMax - state.cutRate) * ((k - tau) / k) ** 3;
  }
  const x = (tau - k) / 1000;
  // Convex: slow just above the old limit, then fast, to find new capacity.
  return state.wMax * (1 + PROBE_GAIN * x ** 3) + PROBE_ABS * x ** 3;
}

/** The pacing rate at `now`, requests/s, within the operator floor and ceiling. */
export function ratePerSecond(state: PacerState, now: number): number {
  let r = curveRate(state, now);
  // No run-away while the app or the window limits throughput: growth beyond the learned limit must be earned.
  const measured = answeredRate(state, now);
  const earned = Math.max(2 * (Number.isNaN(measured) ? 0 : measured) + 5, state.wMax, state.startRate);
  r = Math.min(r, earned);
  return clamp(r, state.floor, state.ceiling);
}

/** Requests allowed in flight: W = min(maxWindow, ⌈1.5·r·srtt⌉ + 1), at least 1. */
export function windowSize(state: PacerState, now: number): number {
  const srtt = state.srttMs > 0 ? state.srttMs : DEFAULT_SRTT_MS;
  const littles = Math.ceil((1.5 * ratePerSecond(state, now) * srtt) / 1000) + 1;
  return Math.max(1, Math.min(state.maxWindow, littles));
}

/** End of an announced Retry-After wait, epoch ms (0 if none). */
export function pausedUntil(state: PacerState): number {
  return state.pauseUntil;
}

/** Epoch ms when the next request may leave: never inside a Retry-After pause, and 1/r after the last send. */
export function earliestSend(state: PacerState, now: number): number {
  const spacing = state.lastSendAt > 0 ? state.lastSendAt + 1000 / ratePerSecond(state, now) : 0;
  return Math.max(state.pauseUntil, spacing);
}

/** Records that a request left at `now`. */
export function onSend(state: PacerState, now: number): PacerState {
  return { ...settlePause(state, now), lastSendAt: now };
}

/** When a pause has ended, restart the "accepted since the pause" measurement. */
function settlePause(state: PacerState, now: number): PacerState {
  if (state.pauseUntil === 0 || now < state.pauseUntil) return state;
  return { ...state, pauseUntil: 0, activeSince: state.pauseUntil, answeredSinceActive: 0 };
}

function recordAnswer(state: PacerState, now: number, rttMs: number): PacerState {
  const s = rollBuckets(settlePause(state, now), now);
  const srttMs = s.srttMs > 0 ? s.srttMs + SRTT_GAIN * (rttMs - s.srttMs) : rttMs;
  return {
    ...s,
    srttMs,
    bucketCount: s.bucketCount + 1,
    answeredSinceActive: s.answeredSinceActive + 1,
  };
}

/** Feeds one downstream answer (or its absence) into the pacer. */
export function onSignal(state: PacerState, signal: Signal, now: number): PacerState {
  if (signal.kind === 'accepted' || signal.kind === 'rejected') {
    let s = recordAnswer(state, now, Math.max(0, signal.rttMs));
    if (signal.kind === 'accepted' && s.failStreak >= OUTAGE_STREAK) {
      // First answer after an outage: climb back exponentially towards the rate that worked before.
      const from = Math.max(s.floor, ratePerSecond(s, now));
      s = {
        ...s,
        mode: 'cubic',
        wMax: Math.max(s.lastGoodRate, from),
        cutAt: now,
        cutRate: from,
        holdMs: HOLD_MIN_MS,
        sameLevelCuts: 0,
      };
    }
    return signal.kind === 'accepted' ? { ...s, failStreak: 0 } : s;
  }
  return onOverload(state, signal, now);
}

function onOverload(
  state: PacerState,
  signal: { rttMs?: number; retryAfterMs?: number },
  now: number,
): PacerState {
  let s = rollBuckets(settlePause(state, now), now);
  if (s.failStreak === 0) {
    const measured = answeredRate(s, now);
    s = { ...s, lastGoodRate: Number.isNaN(measured) ? ratePerSecond(s, now) : Math.max(s.floor, measured) };
  }
  s = { ...s, failStreak: s.failStreak + 1 };
  const retryAfter = signal.retryAfterMs !== undefined && signal.retryAfterMs > 0 ? signal.retryAfterMs : 0;
  const wasPaused = s.pauseUntil > now;
  if (retryAfter > 0) s = { ...s, pauseUntil: Math.max(s.pauseUntil, now + retryAfter) };
  // One cut per round trip: the answers to requests already in flight describe the same overload.
  const spacing = Math.max(s.srttMs, MIN_CUT_SPACING_MS);
  if (wasPaused || (s.mode === 'cubic' && now - s.cutAt < spacing)) return s;

  const r = ratePerSecond(s, now);
  const measured = acceptedForCut(s, now);
  const probing = s.mode === 'cubic' && now - s.cutAt >= s.holdMs;
  let wMax: number;
  let sameLevel = false;
  if (
    s.mode === 'cubic' &&
    !Number.isNaN(measured) &&
    measured >= (1 - SAME_LEVEL_TOLERANCE) * s.wMax &&
    measured <= (1 + SAME_LEVEL_TOLERANCE) * s.wMax &&
    r <= (1 + 3 * SAME_LEVEL_TOLERANCE) * s.wMax &&
    s.failStreak === 1
  ) {
    // The overload came at the level we already knew: the limit has not moved. Creep down a little,
    // because the plateau itself may sit a burst above the sustainable rate; a later probe lifts it back.
    wMax = SAME_LEVEL_CREEP * s.wMax;
    sameLevel = true;
  } else if (probing && !Number.isNaN(measured) && measured > 0) {
    // The probe climbed above the old limit before failing; the 1 s average lags that climb, so split the difference.
    wMax = Math.min(r, Math.max(measured, s.wMax + 0.5 * (r - s.wMax)));
  } else if (!Number.isNaN(measured) && measured > 0) {
    wMax = Math.min(r, measured);
  } else {
    wMax = 0.8 * r;
  }
  wMax = clamp(wMax, s.floor, s.ceiling);
  const sameLevelCuts = sameLevel ? s.sameLevelCuts + 1 : 0;
  const holdMs = sameLevel ? Math.min(HOLD_MAX_MS, s.holdMs * 2) : HOLD_MIN_MS;
  return {
    ...s,
    mode: 'cubic',
    wMax,
    cutAt: now,
    cutRate: clamp((sameLevel ? BETA_SAME_LEVEL : BETA) * wMax, s.floor, s.ceiling),
    holdMs,
    sameLevelCuts,
  };
}

/** The accepted rate to cut to: since the last pause ended if that is recent, else the last second. */
function acceptedForCut(state: PacerState, now: number): number {
  const sinceActive = now - state.activeSince;
  if (sinceActive >= MIN_MEASURE_MS && sinceActive < 2 * BUCKET_MS) {
    return (state.answeredSinceActive * 1000) / sinceActive;
  }
  return answeredRate(state, now);
}

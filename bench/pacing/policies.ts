// Pacing policies compared by the benchmark: the baselines of research/pacing.md §4.4 and Sluice's pacer.
import {
  createPacer,
  earliestSend,
  onSend,
  onSignal,
  type PacerState,
  ratePerSecond,
  type Signal,
  windowSize,
} from '../../core/pacer';

/** What a flow saw for one attempt. */
export interface Outcome {
  /** HTTP status, or undefined for a timeout / connection error. */
  readonly status?: number;
  readonly rttMs: number;
  readonly retryAfterMs?: number;
}

/** A policy drives one flow's sender: how many in flight, when the next may leave, and what to learn. */
export interface Policy {
  readonly name: string;
  /** Independent worker loops (the faucet's topology); 0 = one paced dispatcher with a window. */
  readonly workers: number;
  window(now: number): number;
  nextSendAt(now: number): number;
  onSend(now: number): void;
  /** Returns the delay before the same worker sends again (worker policies only). */
  onOutcome(outcome: Outcome, now: number): number;
  /** Whether a failed message is skipped rather than retried (the faucet gives up after 10 attempts). */
  readonly gaveUp?: boolean;
  snapshot(now: number): { rate: number; window: number };
}

/** Maps an HTTP outcome to a pacer signal, as the drainer's classifier does. */
export function toSignal(outcome: Outcome): Signal {
  const { status, rttMs, retryAfterMs } = outcome;
  if (status !== undefined && status >= 200 && status < 300) return { kind: 'accepted', rttMs };
  if (status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 408) {
    return { kind: 'rejected', rttMs };
  }
  return { kind: 'overload', rttMs: status === undefined ? undefined : rttMs, retryAfterMs };
}

const isOk = (o: Outcome): boolean => o.status !== undefined && o.status >= 200 && o.status < 300;

/** A static rate and window, honouring Retry-After: how EventBridge API destinations, Hookdeck, Convoy are set. */
export function staticRate(ratePerSecond: number, maxInFlight: number): Policy {
  let last = 0;
  let pauseUntil = 0;
  return {
    name: `static ${ratePerSecond} rps`,
    workers: 0,
    window: () => maxInFlight,
    nextSendAt: () => Math.max(pauseUntil, last + 1000 / ratePerSecond),
    onSend(now) {
      last = now;
    },
    onOutcome(o, now) {
      if (o.retryAfterMs !== undefined) pauseUntil = Math.max(pauseUntil, now + o.retryAfterMs);
      return 0;
    },
    snapshot: () => ({ rate: ratePerSecond, window: maxInFlight }),
  };
}

/** webhook-faucet's adaptive delay (pacing.md §1.1), shared by `workers` serial loops; Retry-After ignored. */
export function faucet(workers: number): Policy {
  let rttMin = Number.POSITIVE_INFINITY;
  let rttMax = 0;
  let rttPrev = 0;
  let lastDelay = 0;
  const fib = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55];
  let failures = 0;
  return {
    name: workers === 1 ? 'faucet (serial)' : `faucet (${workers} workers)`,
    workers,
    window: () => workers,
    nextSendAt: () => 0,
    onSend() {},
    onOutcome(o) {
      // The formula works in µs on every attempt, successful or not.
      const r = o.rttMs * 1000;
      rttMin = Math.min(rttMin, r);
      rttMax = Math.max(rttMax, r);
      const e = r - 0.9 * rttMin;
      const w = rttMax > rttMin ? e / (rttMax - rttMin) : Number.POSITIVE_INFINITY;
      const g = r > rttPrev ? 1 / (1 - 0.75 * w ** 4) : 1 / (1.5 - 0.5 * w ** 0.25);
      rttPrev = r;
      const delayUs = Math.max(0, e * g);
      lastDelay = Number.isFinite(delayUs) ? delayUs / 1000 : 0;
      if (isOk(o)) {
        failures = 0;
        return lastDelay;
      }
      // Fibonacci retry of the same message (0.5 s × fib), at most 10 attempts.
      const wait = 500 * fib[Math.min(failures, fib.length - 1)];
      failures = (failures + 1) % 10;
      return wait;
    },
    snapshot: () => ({ rate: lastDelay > 0 ? 1000 / lastDelay : 0, window: workers }),
  };
}

/** Netflix concurrency-limits AIMDLimit (backoff 0.9, +1 when at least half used), min lowered to 1. */
export function netflixAimd(maxInFlight: number): Policy {
  let limit = 20;
  let inflight = 0;
  return {
    name: 'Netflix AIMD (min 1)',
    workers: 0,
    window: () => Math.min(maxInFlight, Math.floor(limit)),
    nextSendAt: () => 0,
    onSend() {
      inflight += 1;
    },
    onOutcome(o) {
      const drop = !isOk(o) || o.rttMs > 5_000;
      if (drop) limit = Math.max(1, Math.floor(limit * 0.9));
      else if (inflight * 2 >= limit) limit = Math.min(200, limit + 1);
      inflight -= 1;
      return 0;
    },
    snapshot: () => ({ rate: 0, window: Math.min(maxInFlight, Math.floor(limit)) }),
  };
}

/** Sluice's pacer driven by a plain sender loop (used until the drainer core runs the Sluice flows). */
export function sluicePacer(maxInFlight: number, now: number): Policy & { state(): PacerState } {
  let state = createPacer({ floorPerSecond: 1, ceilingPerSecond: 1_000, maxWindow: maxInFlight }, now);
  return {
    name: 'Sluice pacer',
    workers: 0,
    window: (t) => windowSize(state, t),
    nextSendAt: (t) => earliestSend(state, t),
    onSend(t) {
      state = onSend(state, t);
    },
    onOutcome(o, t) {
      state = onSignal(state, toSignal(o), t);
      return 0;
    },
    snapshot: (t) => ({ rate: ratePerSecond(state, t), window: windowSize(state, t) }),
    state: () => state,
  };
}

// Benchmark scenarios: the downstream models of issue 6 and their hidden capacity schedules.

/** Downstream model kinds the simulator implements. */
export type ModelKind = 'tokenBucket' | 'workers' | 'async';

/** One phase of a scenario: from `startS` (seconds after t0) the downstream has `capacity` requests/s. */
export interface Phase {
  readonly startS: number;
  readonly capacity: number;
  /** Worker count (worker-pool models). */
  readonly workers?: number;
  /** Mean service time, ms. */
  readonly serviceMs: number;
  /** True while the downstream is down: requests hang (the client times out). */
  readonly outage?: boolean;
}

/** A scenario: a model, its phases, how it signals overload and how many requests a flow may hold. */
export interface Scenario {
  readonly id: 'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J';
  readonly name: string;
  readonly description: string;
  readonly model: ModelKind;
  readonly phases: readonly Phase[];
  readonly durationS: number;
  /** Coefficient of variation of the (lognormal) service time. */
  readonly serviceCv: number;
  /** Status for overload answers. */
  readonly overloadStatus: 429 | 503;
  /** Retry-After seconds sent with overload answers (undefined: none). */
  readonly retryAfterS?: number;
  /** True: every answer announces the token bucket in the IETF draft's fields (bucketHeaders). */
  readonly rateLimitHeaders?: boolean;
  /** True: every 2xx of a worker-pool model announces its time in a worker (serverTimingHeader). */
  readonly serverTiming?: boolean;
  /** Waiting room of a worker-pool model, as a multiple of the worker count (default 2; 0 = none). */
  readonly roomPerWorker?: number;
  /** Requests a flow may hold in flight: 1 = one FIFO message group (strictly serial). */
  readonly maxInFlight: number;
  /** False for a scenario outside issue 6 (H): measured and plotted, but no target is checked. */
  readonly issue6?: false;
  /** Sluice targets (issue 6). */
  readonly targets: {
    readonly steadyUtilization?: number;
    readonly p50Inflation?: number;
    readonly recoveryS?: number;
  };
}

const PHASE_S = 25;
const STEPS = [50, 20, 80] as const;

function steps(serviceMs: (capacity: number) => number, workers?: (capacity: number) => number): Phase[] {
  return STEPS.map((capacity, i) => ({
    startS: i * PHASE_S,
    capacity,
    serviceMs: serviceMs(capacity),
    ...(workers ? { workers: workers(capacity) } : {}),
  }));
}

/** B: a worker pool with a waiting room; H is the same pool without one, I is B announcing its service time. */
const B: Scenario = {
  id: 'B',
  name: 'workers',
  description: 'c = 0.1·C workers (5/2/8), 100 ms service, waiting room 2c, 503 + Retry-After: 1',
  model: 'workers',
  phases: steps(
    () => 100,
    (c) => c / 10,
  ),
  durationS: 3 * PHASE_S,
  serviceCv: 0.5,
  overloadStatus: 503,
  retryAfterS: 1,
  maxInFlight: 8,
  targets: { steadyUtilization: 0.95, p50Inflation: 1.3 },
};

/** C: four workers whose service time steps; J is C announcing it. */
const C: Scenario = {
  id: 'C',
  name: 'slowdown',
  description: '4 workers, service 80 → 200 → 50 ms, waiting room 8, 503 + Retry-After: 1',
  model: 'workers',
  phases: steps(
    (c) => 4000 / c,
    () => 4,
  ),
  durationS: 3 * PHASE_S,
  serviceCv: 0.5,
  overloadStatus: 503,
  retryAfterS: 1,
  maxInFlight: 8,
  targets: { steadyUtilization: 0.95, p50Inflation: 1.3 },
};

/**
 * The six scenarios of issue 6, G (A with announced limits), H (B without a waiting room), and I and J (B and C
 * announcing each request's service time in Server-Timing), each stepping capacity down and back up.
 */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'A',
    name: 'ratelimit',
    description: 'token bucket (burst 0.1·C), 429 + Retry-After: 1, strictly serial (one group)',
    model: 'tokenBucket',
    phases: steps(() => 10),
    durationS: 3 * PHASE_S,
    serviceCv: 0.3,
    overloadStatus: 429,
    retryAfterS: 1,
    maxInFlight: 1,
    targets: { steadyUtilization: 0.9 },
  },
  B,
  C,
  {
    id: 'D',
    name: 'async',
    description:
      'fast 2xx (5 ms) while a job backlog (drained at C) grows; 503 + Retry-After: 1 beyond 1 s of backlog',
    model: 'async',
    phases: steps(() => 5),
    durationS: 3 * PHASE_S,
    serviceCv: 0.3,
    overloadStatus: 503,
    retryAfterS: 1,
    maxInFlight: 8,
    targets: { steadyUtilization: 0.95 },
  },
  {
    id: 'E',
    name: 'outage',
    description: '5 workers at 100 ms; down for 10 s (requests hang, client times out after 2 s), then back',
    model: 'workers',
    phases: [
      { startS: 0, capacity: 50, workers: 5, serviceMs: 100 },
      { startS: PHASE_S, capacity: 0, workers: 5, serviceMs: 100, outage: true },
      { startS: PHASE_S + 10, capacity: 50, workers: 5, serviceMs: 100 },
    ],
    durationS: 3 * PHASE_S,
    serviceCv: 0.5,
    overloadStatus: 503,
    retryAfterS: 1,
    maxInFlight: 8,
    targets: { recoveryS: 5 },
  },
  {
    id: 'F',
    name: 'noRA',
    description: 'token bucket (burst 0.1·C), 429 without Retry-After, many groups',
    model: 'tokenBucket',
    phases: steps(() => 10),
    durationS: 3 * PHASE_S,
    serviceCv: 0.3,
    overloadStatus: 429,
    maxInFlight: 8,
    targets: { steadyUtilization: 0.9 },
  },
  {
    id: 'G',
    name: 'announced',
    description:
      'as A, and every answer announces the bucket in the IETF draft fields (RateLimit-Policy: "bucket";q=C;w=1, ' +
      'RateLimit: "bucket";r=<whole tokens left>), 429 + Retry-After: 1, strictly serial (one group)',
    model: 'tokenBucket',
    phases: steps(() => 10),
    durationS: 3 * PHASE_S,
    serviceCv: 0.3,
    overloadStatus: 429,
    retryAfterS: 1,
    rateLimitHeaders: true,
    maxInFlight: 1,
    targets: { steadyUtilization: 0.9 },
  },
  {
    ...B,
    id: 'H',
    name: 'noRoom',
    description:
      'as B without a waiting room: c = 0.1·C workers (5/2/8), 100 ms service, 503 + Retry-After: 1 when all are busy',
    roomPerWorker: 0,
    // Not an issue-6 scenario: measured beside the others, no target checked (BENCHMARKS.md, H).
    issue6: false,
    targets: {},
  },
  {
    ...B,
    id: 'I',
    name: 'workersTimed',
    description:
      'as B, and every 2xx announces its time in a worker (Server-Timing: app;dur=<ms>): c = 0.1·C workers ' +
      '(5/2/8), 100 ms service, waiting room 2c, 503 + Retry-After: 1',
    serverTiming: true,
  },
  {
    ...C,
    id: 'J',
    name: 'slowdownTimed',
    description:
      'as C, and every 2xx announces its time in a worker (Server-Timing: app;dur=<ms>): 4 workers, ' +
      'service 80 → 200 → 50 ms, waiting room 8, 503 + Retry-After: 1',
    serverTiming: true,
  },
];

/**
 * Scenario G's rate-limit headers for one answer of a token bucket refilling at `capacity`/s, with `tokens`
 * left after it (draft-ietf-httpapi-ratelimit-headers-11 §3–4): the policy is the refill rate per 1 s window,
 * `r` the whole tokens left (0 on a 429). `t` is left out, as the draft allows: it is whole seconds, and a
 * bucket that refills a token every 12–50 ms cannot state a wait in whole seconds without telling a
 * conforming client (which must not exceed r within t) to idle 20–80 times too long.
 */
export function bucketHeaders(capacity: number, tokens: number): Record<string, string> {
  return {
    'ratelimit-policy': `"bucket";q=${capacity};w=1`,
    ratelimit: `"bucket";r=${Math.max(0, Math.floor(tokens))}`,
  };
}

/**
 * Scenarios I and J's `Server-Timing` for one 2xx (W3C Server Timing): `serviceMs`, the time the request spent
 * in a worker (not in the waiting room), in ms with one decimal, as metric `app`.
 */
export function serverTimingHeader(serviceMs: number): Record<string, string> {
  return { 'server-timing': `app;dur=${serviceMs.toFixed(1)}` };
}

/** The phase in force `tS` seconds after t0 (of a scenario, or of one read back from a saved run). */
export function phaseAt<P extends { readonly startS: number } = Phase>(
  scenario: { readonly phases: readonly P[] },
  tS: number,
): P {
  let current = scenario.phases[0];
  for (const p of scenario.phases) if (p.startS <= tS) current = p;
  return current;
}

/** Median of a lognormal with this mean and cv: the unloaded p50 service time. */
export function lognormalMedian(mean: number, cv: number): number {
  return mean / Math.sqrt(1 + cv * cv);
}

/** Client timeout for every flow, ms. */
export const CLIENT_TIMEOUT_MS = 2_000;

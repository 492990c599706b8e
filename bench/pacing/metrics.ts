// Benchmark metrics (research/pacing.md §3): utilization, rejections, Retry-After violations, settling, latency.
import type { FlowLog } from './flows';
import { lognormalMedian, type Scenario } from './scenarios';

/** Seconds excluded from "steady" at the start of each phase. */
const STEADY_SKIP_S = 10;

/** One phase of one flow. */
export interface PhaseMetrics {
  readonly capacity: number;
  readonly utilization: number;
  readonly steadyUtilization: number;
  readonly attempts: number;
  readonly rejectedPct: number;
  readonly retryAfterViolations: number;
  /** Seconds from the start of the phase until settled (§3); null when it never settles. */
  readonly settleS: number | null;
  readonly p50Ms: number;
  readonly p50Inflation: number;
  /**
   * Worker-pool phases of a flow that may hold more than one request: the share of the steady part's controller
   * snapshots (every 250 ms) with the window over and under the app's worker count. The delay window's errors,
   * which utilization and p50 only show summed up: one request under loses 1/c of the throughput, one over adds
   * 1/c to every round trip.
   */
  readonly window?: { readonly workers: number; readonly over: number; readonly under: number };
}

/** The whole run of one flow. */
export interface FlowMetrics {
  readonly phases: PhaseMetrics[];
  readonly utilization: number;
  readonly rejectedPct: number;
  readonly retryAfterViolations: number;
  /** Scenario E: attempts while the app was down, and seconds until a second with goodput ≥ 0.9·C ended. */
  readonly outageAttempts?: number;
  readonly recoveryS?: number | null;
  /** Per-second goodput (2xx completions). */
  readonly goodputPerSecond: number[];
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const isOk = (status: number): boolean => status >= 200 && status < 300;

/**
 * First second (relative to `startS`) from which every forward 3 s window until `endS` has goodput
 * ≥ `share`·C and a rejected share ≤ 10%.
 */
function settle(
  good: number[],
  bad: number[],
  capacity: number,
  startS: number,
  endS: number,
  share: number,
): number | null {
  const ok = (t: number): boolean => {
    const g = good[t] + good[t + 1] + good[t + 2];
    const b = bad[t] + bad[t + 1] + bad[t + 2];
    return g / 3 >= share * capacity && b <= 0.1 * (g + b);
  };
  let settledAt: number | null = null;
  for (let t = endS - 3; t >= startS; t -= 1) {
    if (!ok(t)) break;
    settledAt = t;
  }
  return settledAt === null ? null : settledAt - startS;
}

/** Merges announced pauses into disjoint intervals; returns a test "is t strictly inside one?". */
function pauseIndex(pauses: readonly [number, number][]): (t: number) => boolean {
  const sorted = [...pauses].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [from, until] of sorted) {
    const last = merged.at(-1);
    if (last && from <= last[1]) last[1] = Math.max(last[1], until);
    else merged.push([from, until]);
  }
  return (t) => {
    let lo = 0;
    let hi = merged.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (merged[mid][1] <= t) lo = mid + 1;
      else if (merged[mid][0] >= t) hi = mid - 1;
      else return true;
    }
    return false;
  };
}

/** The window's share of snapshots over and under `workers` in [fromS, toS); undefined when it cannot say. */
function windowShares(
  log: FlowLog,
  workers: number | undefined,
  fromS: number,
  toS: number,
  maxInFlight: number,
): PhaseMetrics['window'] {
  if (workers === undefined || maxInFlight <= 1) return undefined;
  const windows = log.snapshots.filter((x) => x.t >= fromS * 1000 && x.t < toS * 1000).map((x) => x.window);
  if (windows.length === 0) return undefined;
  const share = (pick: (w: number) => boolean): number => windows.filter(pick).length / windows.length;
  return { workers, over: share((w) => w > workers), under: share((w) => w < workers) };
}

/** Computes per-phase and whole-run metrics of one flow. */
export function flowMetrics(scenario: Scenario, log: FlowLog): FlowMetrics {
  const n = scenario.durationS;
  const good = new Array<number>(n + 3).fill(0);
  const bad = new Array<number>(n + 3).fill(0);
  for (let i = 0; i < log.doneAt.length; i += 1) {
    const s = Math.floor(log.doneAt[i] / 1000);
    if (!(s >= 0 && s < n)) continue;
    if (isOk(log.status[i])) good[s] += 1;
    else bad[s] += 1;
  }
  const inPause = pauseIndex(log.pauses);
  const phases: PhaseMetrics[] = scenario.phases.map((phase, i) => {
    const startS = phase.startS;
    const endS = i + 1 < scenario.phases.length ? scenario.phases[i + 1].startS : n;
    const c = phase.capacity;
    const sum = (from: number, to: number): number => good.slice(from, to).reduce((a, b) => a + b, 0);
    const steadyFrom = Math.min(endS - 1, startS + STEADY_SKIP_S);
    let attempts = 0;
    let rejected = 0;
    let violations = 0;
    const rtts: number[] = [];
    for (let k = 0; k < log.sendAt.length; k += 1) {
      const sent = log.sendAt[k] / 1000;
      if (sent < startS || sent >= endS) continue;
      attempts += 1;
      if (!isOk(log.status[k])) rejected += 1;
      if (inPause(log.sendAt[k])) violations += 1;
      if (sent >= steadyFrom && isOk(log.status[k])) rtts.push(log.rttMs[k]);
    }
    const p50 = median(rtts);
    // An outage has no worker count to be over or under.
    const workers = phase.outage ? undefined : phase.workers;
    const window = windowShares(log, workers, steadyFrom, endS, scenario.maxInFlight);
    return {
      capacity: c,
      utilization: c > 0 ? sum(startS, endS) / (c * (endS - startS)) : Number.NaN,
      steadyUtilization: c > 0 ? sum(steadyFrom, endS) / (c * (endS - steadyFrom)) : Number.NaN,
      attempts,
      rejectedPct: attempts ? (100 * rejected) / attempts : 0,
      retryAfterViolations: violations,
      settleS: c > 0 ? settle(good, bad, c, startS, endS, 0.8) : null,
      p50Ms: p50,
      p50Inflation: p50 / lognormalMedian(phase.serviceMs, scenario.serviceCv),
      ...(window ? { window } : {}),
    };
  });
  const capacityTotal = scenario.phases.reduce((acc, p, i) => {
    const endS = i + 1 < scenario.phases.length ? scenario.phases[i + 1].startS : n;
    return acc + p.capacity * (endS - p.startS);
  }, 0);
  const attempts = phases.reduce((a, p) => a + p.attempts, 0);
  const rejected = phases.reduce((a, p) => a + (p.rejectedPct * p.attempts) / 100, 0);
  const metrics: FlowMetrics = {
    phases,
    utilization: good.slice(0, n).reduce((a, b) => a + b, 0) / capacityTotal,
    rejectedPct: attempts ? (100 * rejected) / attempts : 0,
    retryAfterViolations: phases.reduce((a, p) => a + p.retryAfterViolations, 0),
    goodputPerSecond: good.slice(0, n),
  };
  const outageIndex = scenario.phases.findIndex((p) => p.outage);
  if (outageIndex > 0 && outageIndex + 1 < scenario.phases.length) {
    const after = scenario.phases[outageIndex + 1];
    const endS = outageIndex + 2 < scenario.phases.length ? scenario.phases[outageIndex + 2].startS : n;
    // "Back to ≥ 0.9": the end of the first second after the outage with goodput ≥ 0.9·C.
    let recoveryS: number | null = null;
    for (let t = after.startS; t < endS; t += 1) {
      if (good[t] >= 0.9 * after.capacity) {
        recoveryS = t + 1 - after.startS;
        break;
      }
    }
    return { ...metrics, outageAttempts: phases[outageIndex].attempts, recoveryS };
  }
  return metrics;
}

/** One target check for a Sluice flow. */
export interface TargetCheck {
  readonly target: string;
  readonly pass: boolean;
  readonly measured: string;
}

/** Checks a Sluice flow against the issue-6 targets of its scenario. */
export function checkTargets(scenario: Scenario, m: FlowMetrics): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const live = m.phases.filter((p) => p.capacity > 0);
  const fmt = (xs: number[], digits = 2): string => xs.map((x) => x.toFixed(digits)).join('/');
  const { steadyUtilization, p50Inflation, recoveryS } = scenario.targets;
  if (steadyUtilization !== undefined) {
    const u = live.map((p) => p.steadyUtilization);
    checks.push({
      target: `steady util ≥ ${steadyUtilization}`,
      pass: u.every((x) => x >= steadyUtilization),
      measured: fmt(u),
    });
  }
  checks.push({
    target: 'rejected ≤ 1%',
    pass: m.rejectedPct <= 1,
    measured: `${m.rejectedPct.toFixed(2)}%`,
  });
  checks.push({
    target: 'no send in Retry-After',
    pass: m.retryAfterViolations === 0,
    measured: String(m.retryAfterViolations),
  });
  const steps = m.phases.slice(1).filter((p) => p.capacity > 0 && !scenario.phases.some((q) => q.outage));
  if (steps.length > 0) {
    const s = steps.map((p) => p.settleS);
    checks.push({
      target: 'settled ≤ 5 s after each step',
      pass: s.every((x) => x !== null && x <= 5),
      measured: s.map((x) => (x === null ? 'never' : `${x}s`)).join('/'),
    });
  }
  if (p50Inflation !== undefined) {
    const inf = live.map((p) => p.p50Inflation);
    checks.push({
      target: `p50 ≤ ${p50Inflation}× unloaded`,
      pass: inf.every((x) => x <= p50Inflation),
      measured: fmt(inf),
    });
  }
  if (recoveryS !== undefined) {
    const r = m.recoveryS ?? null;
    checks.push({
      target: `≥ 0.9 within ${recoveryS} s after outage`,
      pass: r !== null && r <= recoveryS,
      measured: r === null ? 'never' : `${r}s`,
    });
    const before = m.phases[0].capacity;
    const outage = m.outageAttempts ?? 0;
    checks.push({
      target: 'no retry storm (outage attempts ≤ 0.1·C·10 s)',
      pass: outage <= 0.1 * before * 10,
      measured: String(outage),
    });
  }
  return checks;
}

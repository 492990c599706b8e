// Simulated-clock twin of the pacing benchmark: the same scenarios and metrics in seconds, for tuning the pacer.
//
//   npx tsx bench/pacing/sim.ts            # every scenario once, Sluice's pacer only
//   RUNS=10 SCENARIOS=B,C npx tsx bench/pacing/sim.ts   # averages over 10 seeds-worth of runs
//   SEED=0 RUNS=100 SCENARIOS=B,C npx tsx bench/pacing/sim.ts   # reproducible: run i of every invocation
//                                                              # draws the same service times (paired A/B)
//   ORACLE=1 SEED=0 RUNS=40 SCENARIOS=B,C npx tsx bench/pacing/sim.ts   # the window held at the app's worker
//                                                              # count: what a perfect window estimator scores
//   ORACLE_BASE=0.95 SEED=0 RUNS=40 SCENARIOS=B,C npx tsx bench/pacing/sim.ts   # the delay window's unloaded
//                                                              # base held at 0.95 × the app's mean service time
//   ORACLE_BASE=0.95 ORACLE_BASE_SPREAD=0.05 …   # that base off by a factor of cv 0.05, drawn per run and
//                                                              # phase: how exact a base must be to pay
//   … ORACLE_BASE_EVERY_MS=2000 …   # that factor redrawn every 2 s instead of per phase
//   BASE_STATS=1 SEED=12 RUNS=40 SCENARIOS=B,C npx tsx bench/pacing/sim.ts   # the pacer's base ÷ the service
//                                                              # time, with the window at/over/under the workers
//   SHIFT=12 SEED=0 RUNS=24 TRACE=5 SCENARIOS=D npx tsx bench/pacing/sim.ts   # the first two phases 0…12 s
//                                                              # longer across runs; run 5's per-second trace
//   CEILING=1000 SHIFT=12 SEED=0 RUNS=24 SCENARIOS=D npx tsx bench/pacing/sim.ts   # the pacer's ceiling as in
//                                                              # the real benchmark (default: 200/s, as deployed)
//   EVENTS=1 SEED=0 RUNS=40 SCENARIOS=B,C npx tsx bench/pacing/sim.ts   # per capacity step, the rules that
//                                                              # stepped the window down (windowRule) after it
//
// It drives `core/pacer.ts` directly (no drainer, no HTTP) against the models of `downstream.ts`, on a 1 ms
// simulated clock. Useful to compare constants quickly; the real benchmark remains the reference.
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
import { parseRateLimit } from '../../core/rate-limit';
import { type BaseSample, baseSpread, baseSpreadLine, changeList, stepRuleLines } from './events';
import { emptyLog, type FlowLog } from './flows';
import { checkTargets, type FlowMetrics, flowMetrics } from './metrics';
import { lognormal, seeded } from './random';
import { bucketHeaders, CLIENT_TIMEOUT_MS, phaseAt, SCENARIOS, type Scenario } from './scenarios';

// As `CATCH_UP_MS` in core/drainer.ts: how late a send may be booked after its pacing slot.
const CATCH_UP_MS = 10;
// The pacer's ceiling, requests/s: the deployed default (the real benchmark runs at 1000/s; CEILING=… sets it).
const DEFAULT_CEILING = 200;

/** An answer due at `at` for the request with log index `index`; `frees` releases a worker. */
interface Pending {
  readonly at: number;
  readonly status: number;
  readonly retryAfterS?: number;
  readonly index: number;
  readonly frees: boolean;
  /** Rate-limit headers the app sent with the answer (scenario G). */
  readonly headers?: Record<string, string>;
  /** The time the request spent in a worker, ms, as the app announced it in `Server-Timing` (scenarios I, J). */
  readonly serviceMs?: number;
}

/** The app models of `downstream.ts`, on the simulated clock. */
interface SimApp {
  arrive(index: number, t: number): void;
  /** An answer left the app at `t`; a worker that served it takes the next waiting request. */
  answered(p: Pending, t: number): void;
}

function createApp(scenario: Scenario, reply: (p: Pending) => void): SimApp {
  let tokens = 0.1 * scenario.phases[0].capacity;
  let last = 0;
  let backlog = 0;
  let busy = 0;
  const room: { index: number; at: number }[] = [];
  const overloaded = (index: number, at: number): Pending => ({
    at,
    status: scenario.overloadStatus,
    retryAfterS: scenario.retryAfterS,
    index,
    frees: false,
  });
  const serving = (index: number, t: number, serviceMs: number): Pending => {
    busy += 1;
    const service = lognormal(serviceMs, scenario.serviceCv);
    // Announced with one decimal, as the header states it.
    const announced = scenario.serverTiming ? { serviceMs: Math.round(service * 10) / 10 } : {};
    return { at: t + service, status: 200, index, frees: true, ...announced };
  };
  const startNext = (t: number): void => {
    const phase = phaseAt(scenario, t / 1000);
    while (busy < (phase.workers ?? 1) && room.length > 0) {
      const next = room.shift()!;
      reply(t - next.at > 1_000 ? overloaded(next.index, t) : serving(next.index, t, phase.serviceMs));
    }
  };
  /** The app's answer to a request arriving at `t`, or undefined when it waits for a worker. */
  const answer = (index: number, t: number): Pending | undefined => {
    const phase = phaseAt(scenario, t / 1000);
    const service = lognormal(phase.serviceMs, scenario.serviceCv);
    const ok: Pending = { at: t + service, status: 200, index, frees: false };
    if (scenario.model === 'tokenBucket') {
      const burst = Math.max(1, 0.1 * phase.capacity);
      tokens = Math.min(burst, tokens + ((t - last) * phase.capacity) / 1000);
      last = t;
      const accepted = tokens >= 1;
      if (accepted) tokens -= 1;
      const answer = accepted ? ok : overloaded(index, t + service);
      if (!scenario.rateLimitHeaders) return answer;
      return { ...answer, headers: bucketHeaders(phase.capacity, accepted ? tokens : 0) };
    }
    if (scenario.model === 'async') {
      backlog = Math.max(0, backlog - ((t - last) * phase.capacity) / 1000);
      last = t;
      if (backlog + 1 > phase.capacity) return overloaded(index, t + service);
      backlog += 1;
      return ok;
    }
    if (phase.outage) {
      const end = (scenario.phases.find((p) => p.startS > phase.startS)?.startS ?? scenario.durationS) * 1000;
      const timeoutAt = t + CLIENT_TIMEOUT_MS;
      return { at: Math.min(end, timeoutAt), status: timeoutAt <= end ? 0 : 503, index, frees: false };
    }
    const workers = phase.workers ?? 1;
    if (busy < workers && room.length === 0) return serving(index, t, phase.serviceMs);
    if (room.length >= (scenario.roomPerWorker ?? 2) * workers) return overloaded(index, t + 2);
    room.push({ index, at: t });
    return undefined;
  };
  const arrive = (index: number, t: number): void => {
    const p = answer(index, t);
    if (p) reply(p);
    startNext(t);
  };
  return {
    arrive,
    answered(p, t) {
      if (!p.frees) return;
      busy -= 1;
      startNext(t);
    },
  };
}

/**
 * An oracle base with an error: shares of the true mean service time, one per phase (`everyMs` 0) or one per
 * `everyMs` of the run (ORACLE_BASE_SPREAD, ORACLE_BASE_EVERY_MS).
 */
export interface OracleBase {
  readonly shares: readonly number[];
  readonly everyMs: number;
}

/** One simulated run of Sluice's pacer (one message group when `serial`) against `scenario`. */
export function simulate(
  scenario: Scenario,
  serial: boolean,
  oracle = false,
  oracleBase?: number | OracleBase,
  ceilingPerSecond = DEFAULT_CEILING,
): { log: FlowLog; metrics: FlowMetrics; bases: BaseSample[] } {
  const bases: BaseSample[] = [];
  const maxWindow = serial ? 1 : scenario.maxInFlight;
  let state: PacerState = createPacer({ floorPerSecond: 1, ceilingPerSecond, maxWindow }, 0);
  const log = emptyLog();
  const pending: Pending[] = [];
  const app = createApp(scenario, (p) => pending.push(p));
  let inFlight = 0;
  // Requests in flight when each left, itself included (the drainer passes the same to the pacer).
  const levels: number[] = [];
  for (let t = 0; t < scenario.durationS * 1000; t += 1) {
    const due = pending.filter((p) => p.at <= t);
    if (due.length > 0) {
      for (const p of due) pending.splice(pending.indexOf(p), 1);
      for (const p of due) {
        app.answered(p, t);
        inFlight -= 1;
        const rttMs = t - log.sendAt[p.index];
        log.doneAt[p.index] = t;
        log.status[p.index] = p.status;
        log.rttMs[p.index] = rttMs;
        let signal: Signal;
        const level = levels[p.index];
        // As the drainer does with `serviceTimeMetric`: an announced service time rides on the accepted signal.
        const announced = p.serviceMs === undefined ? {} : { serviceMs: p.serviceMs };
        if (p.status === 200) signal = { kind: 'accepted', rttMs, level, ...announced };
        else if (p.status === 0) signal = { kind: 'overload', rttMs };
        else {
          const retryAfterMs = p.retryAfterS === undefined ? undefined : p.retryAfterS * 1000;
          signal = { kind: 'overload', rttMs, retryAfterMs, refusedAtLevel: level };
          if (retryAfterMs !== undefined) log.pauses.push([t, t + retryAfterMs]);
        }
        // As the drainer's classifier does: the announced quota rides on the signal; `remaining = 0` is a wait.
        const rateLimit = p.headers ? parseRateLimit(p.headers, t) : undefined;
        if (rateLimit) {
          signal = { ...signal, rateLimit };
          if (rateLimit.remaining === 0 && rateLimit.resetMs) log.pauses.push([t, t + rateLimit.resetMs]);
        }
        const from = Math.floor(state.delayWindow);
        state = onSignal(state, signal, t);
        const to = Math.floor(state.delayWindow);
        if (to !== from)
          log.windowChanges.push({ t, from, to, rule: state.windowRule, baseRttMs: state.baseRttMs });
        // ORACLE_BASE: the base the delay window compares rounds with, held at a share of the true mean service
        // time once the pacer has one (what the window's other rules score with a base that neither drifts
        // nor jumps).
        if (oracleBase !== undefined && state.baseRttMs > 0) {
          const phase = phaseAt(scenario, t / 1000);
          const share =
            typeof oracleBase === 'number'
              ? oracleBase
              : oracleBase.shares[
                  oracleBase.everyMs > 0
                    ? Math.floor(t / oracleBase.everyMs) % oracleBase.shares.length
                    : scenario.phases.indexOf(phase)
                ];
          state = { ...state, baseRttMs: share * phase.serviceMs };
        }
      }
    }
    // ORACLE: a window that knows the app's worker count (the ceiling any window estimator can reach).
    const workers = oracle ? phaseAt(scenario, t / 1000).workers : undefined;
    const window = workers ?? windowSize(state, t);
    if (t % 250 === 0) {
      log.snapshots.push({ t, rate: ratePerSecond(state, t), window });
      const phase = phaseAt(scenario, t / 1000);
      if (phase.workers !== undefined && state.baseRttMs > 0) {
        bases.push({
          share: state.baseRttMs / phase.serviceMs,
          vsWorkers: Math.sign(window - phase.workers) as -1 | 0 | 1,
          intoPhaseS: t / 1000 - phase.startS,
        });
      }
    }
    for (let k = 0; k < 20 && inFlight < window && earliestSend(state, t) <= t; k += 1) {
      // Booked at its slot, at most CATCH_UP_MS late, as the drainer books it (core/drainer.ts): a window-bound
      // flow then does not lose the pacing gap after every answer.
      state = onSend(state, Math.max(earliestSend(state, t), t - CATCH_UP_MS));
      inFlight += 1;
      const index = log.sendAt.length;
      levels[index] = inFlight;
      log.sendAt.push(t);
      log.doneAt.push(Number.NaN);
      log.status.push(0);
      log.rttMs.push(Number.NaN);
      app.arrive(index, t);
    }
  }
  return { log, metrics: flowMetrics(scenario, log), bases };
}

/** Per-second goodput, rejections and the pacer's rate and window (TRACE=1), to see what a run did. */
function printTrace({ log, metrics }: { log: FlowLog; metrics: FlowMetrics }): void {
  const bad = new Array<number>(metrics.goodputPerSecond.length).fill(0);
  for (let i = 0; i < log.doneAt.length; i += 1) {
    const s = Math.floor(log.doneAt[i] / 1000);
    if (s >= 0 && s < bad.length && (log.status[i] < 200 || log.status[i] >= 300)) bad[s] += 1;
  }
  const rows = metrics.goodputPerSecond.map((g, s) => {
    const snap = log.snapshots.find((x) => x.t >= s * 1000 + 500);
    return `${s}:${g}${bad[s] ? `(-${bad[s]})` : ''}@${snap ? `${snap.rate.toFixed(0)}w${snap.window}` : ''}`;
  });
  console.log(rows.join(' '));
}

/** The scenario with its first phase `firstS` and its second `secondS` seconds longer (later steps move). */
function shifted(scenario: Scenario, firstS: number, secondS: number): Scenario {
  if (firstS === 0 && secondS === 0) return scenario;
  const extra = (i: number): number => (i >= 1 ? firstS : 0) + (i >= 2 ? secondS : 0);
  return {
    ...scenario,
    durationS: scenario.durationS + firstS + secondS,
    phases: scenario.phases.map((p, i) => ({ ...p, startS: p.startS + extra(i) })),
  };
}

/**
 * I and J draw B's and C's random numbers (SEED=…): a pacer that ignores the announced service time scores them
 * exactly as B and C, and the difference is what the announcement is worth, paired run by run.
 */
const SEEDED_AS: Partial<Record<Scenario['id'], Scenario['id']>> = { I: 'B', J: 'C' };

/** How `runs` runs of a scenario are drawn: seeded (the same service times for every pacer version) and shifted. */
export interface RunPlan {
  readonly runs: number;
  /** Seeds Math.random per run (SEED); undefined: unseeded. */
  readonly seed?: number;
  /** Each run makes the first and the second phase 0…shiftS seconds longer, spread over the runs (SHIFT). */
  readonly shiftS: number;
  readonly serial: boolean;
  readonly oracle?: boolean;
  readonly oracleBase?: number;
  /**
   * With oracleBase: each phase's base off by a factor drawn per run and phase (lognormal, mean 1, this cv),
   * from a stream of its own, so the app's draws stay paired with other runs (ORACLE_BASE_SPREAD).
   */
  readonly oracleBaseSpread?: number;
  /** With oracleBaseSpread: a factor per this many ms instead of per phase (ORACLE_BASE_EVERY_MS). */
  readonly oracleBaseEveryMs?: number;
  readonly ceilingPerSecond?: number;
}

/**
 * Run `i`'s oracle base, as shares of the mean service time: `plan.oracleBase` in every phase, or with
 * `oracleBaseSpread` each phase's (or with `oracleBaseEveryMs` each such stretch's) off by its own factor
 * (lognormal, mean 1), drawn from a seeded stream of its own (the app's draws stay as they were). Undefined
 * without an oracle base.
 */
export function oracleShares(scenario: Scenario, i: number, plan: RunPlan): OracleBase | undefined {
  const share = plan.oracleBase;
  if (share === undefined) return undefined;
  const spread = plan.oracleBaseSpread ?? 0;
  const everyMs = spread > 0 ? (plan.oracleBaseEveryMs ?? 0) : 0;
  const count = everyMs > 0 ? Math.ceil((scenario.durationS * 1000) / everyMs) : scenario.phases.length;
  const random = seeded(104_729 * (i + 1) + 31 * (plan.seed ?? 0) + scenario.id.charCodeAt(0));
  const shares = Array.from({ length: count }, () =>
    spread > 0 ? share * lognormal(1, spread, random) : share,
  );
  return { shares, everyMs };
}

/** Run `i` (0-based) of `plan`. Seeding replaces Math.random: callers that share the process restore it. */
export function simulateRun(
  scenario: Scenario,
  i: number,
  plan: RunPlan,
): { log: FlowLog; metrics: FlowMetrics; bases: BaseSample[] } {
  // The app models draw from Math.random; seeding it per run makes runs comparable across pacer versions.
  if (plan.seed !== undefined) {
    const id = SEEDED_AS[scenario.id] ?? scenario.id;
    Math.random = seeded(1000 * (i + 1) + id.charCodeAt(0) + 7919 * plan.seed);
  }
  const { runs, shiftS } = plan;
  const oracleBase = oracleShares(scenario, i, plan);
  const first = shiftS > 0 ? Math.round(((i + 0.5) / runs) * shiftS) : 0;
  const second = shiftS > 0 ? Math.round((((i * 7 + 3) % runs) / runs) * shiftS) : 0;
  return simulate(
    shifted(scenario, first, second),
    plan.serial,
    plan.oracle ?? false,
    oracleBase,
    plan.ceilingPerSecond,
  );
}

/** EVENTS=1: per capacity step, the rules that stepped the window down after it; TRACE=k: run k's changes. */
function printWindowRules(
  scenario: Scenario,
  sims: readonly { log: FlowLog; metrics: FlowMetrics }[],
  traced?: number,
): void {
  if (traced !== undefined) console.log(changeList(sims[traced - 1].log.windowChanges));
  const runs = sims.map(({ log, metrics }) => ({
    settleS: metrics.phases.map((p) => p.settleS),
    changes: log.windowChanges,
  }));
  for (const line of stepRuleLines(
    scenario.phases.map((p) => p.startS),
    runs,
  ))
    console.log(line);
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function main(): void {
  const only = process.env.SCENARIOS?.split(',').map((x) => x.trim().toUpperCase());
  const runs = Math.max(1, Math.min(200, Number(process.env.RUNS ?? '1') || 1));
  const seed = process.env.SEED === undefined ? undefined : Number(process.env.SEED) || 0;
  for (const scenario of SCENARIOS) {
    if (only && !only.includes(scenario.id)) continue;
    const serial = scenario.maxInFlight === 1 || process.env.SERIAL === '1';
    // SHIFT=s: each run makes the first and the second phase 0…s seconds longer (spread over the runs), so the
    // steps land at different moments of the pacer's probing cycle: the app models are nearly deterministic,
    // and one fixed schedule rewards lucky timing.
    const shiftS = Math.max(0, Number(process.env.SHIFT ?? '0') || 0);
    const oracleBase = process.env.ORACLE_BASE ? Number(process.env.ORACLE_BASE) : undefined;
    if (oracleBase !== undefined && !(oracleBase > 0 && oracleBase <= 2)) {
      throw new RangeError(
        `ORACLE_BASE must be a share of the mean service time in (0, 2], got ${process.env.ORACLE_BASE}`,
      );
    }
    const oracleBaseSpread = Number(process.env.ORACLE_BASE_SPREAD ?? 0);
    if (
      !(oracleBaseSpread >= 0 && oracleBaseSpread < 1) ||
      (oracleBaseSpread > 0 && oracleBase === undefined)
    ) {
      throw new RangeError(
        `ORACLE_BASE_SPREAD must be a cv in [0, 1) and needs ORACLE_BASE, got ${process.env.ORACLE_BASE_SPREAD}`,
      );
    }
    const ceilingPerSecond = Number(process.env.CEILING ?? DEFAULT_CEILING) || DEFAULT_CEILING;
    const plan: RunPlan = {
      runs,
      seed,
      shiftS,
      serial,
      oracle: process.env.ORACLE === '1',
      oracleBase,
      oracleBaseSpread,
      oracleBaseEveryMs: Math.max(0, Number(process.env.ORACLE_BASE_EVERY_MS ?? 0) || 0),
      ceilingPerSecond,
    };
    const sims = Array.from({ length: runs }, (_, i) => simulateRun(scenario, i, plan));
    const results = sims.map((x) => x.metrics);
    // TRACE=k prints the per-second trace of run k (1-based).
    if (process.env.TRACE) printTrace(sims[Math.min(runs, Math.max(1, Number(process.env.TRACE) || 1)) - 1]);
    if (process.env.BASE_STATS === '1') {
      const line = baseSpreadLine(baseSpread(sims.flatMap((x) => x.bases)));
      console.log(`${scenario.id} base ÷ service time, from 5 s into each phase, window vs workers: ${line}`);
    }
    const live = (m: FlowMetrics) => m.phases.filter((p) => p.capacity > 0);
    const perPhase = (pick: (p: FlowMetrics['phases'][number]) => number): string =>
      live(results[0])
        .map((_, i) => mean(results.map((m) => pick(live(m)[i]))).toFixed(2))
        .join(' / ');
    const failed = new Map<string, number>();
    for (const m of results) {
      for (const c of checkTargets(scenario, m))
        if (!c.pass) failed.set(c.target, (failed.get(c.target) ?? 0) + 1);
    }
    // Runs in which every issue-6 target of the scenario passed (the per-target counts below overlap).
    const allPass = results.filter((m) => checkTargets(scenario, m).every((c) => c.pass)).length;
    const settles = results
      .map((m) =>
        m.phases
          .slice(1)
          .map((p) => (p.settleS === null ? '–' : String(p.settleS)))
          .join('/'),
      )
      .join(' ');
    // The window against the worker count (pool scenarios): mean share of steady snapshots over and under it.
    const pools = live(results[0]).some((p) => p.window);
    const windowShares = pools
      ? `window over ${perPhase((p) => p.window?.over ?? Number.NaN)}, under ${perPhase((p) => p.window?.under ?? Number.NaN)}, `
      : '';
    console.log(
      `${scenario.id} ${scenario.name} (${runs} run${runs > 1 ? 's' : ''}): steady util ${perPhase((p) => p.steadyUtilization)}, ` +
        `settle ${settles}, ${windowShares}` +
        `p50× ${perPhase((p) => p.p50Inflation)}, rejected ${mean(results.map((m) => m.rejectedPct)).toFixed(2)}%, ` +
        `all targets ${allPass}/${runs}, missed: ${[...failed].map(([t, n]) => `${t} (${n}/${runs})`).join('; ') || 'none'}`,
    );
    if (process.env.EVENTS === '1') {
      const traced = process.env.TRACE
        ? Math.min(runs, Math.max(1, Number(process.env.TRACE) || 1))
        : undefined;
      printWindowRules(scenario, sims, traced);
    }
  }
}

if (require.main === module) main();

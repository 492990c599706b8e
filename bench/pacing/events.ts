// The rules that moved Sluice's delay window after each capacity step (`WindowRule`, core/pacer.ts), from the
// simulator (`EVENTS=1 npx tsx bench/pacing/sim.ts`) or from saved real runs:
//
//   cp bench/results/pacing.json /tmp/run1.json   # after each `npm run bench:pacing`
//   npx tsx bench/pacing/events.ts /tmp/run1.json /tmp/run2.json …   # per scenario and Sluice flow
//   TRACE=1 npx tsx bench/pacing/events.ts /tmp/run*.json   # and each run's changes in the 12 s after each step
//   ROUND_TRIPS=1 npx tsx bench/pacing/events.ts /tmp/run1.json   # round trip ÷ service time by phase and
//     requests in flight, from a run saved with PACING_REQUESTS=1 npm run bench:pacing
//   BASES=1 npx tsx bench/pacing/events.ts /tmp/run*.json   # the base ÷ service time at each window change
//     (from 5 s into each phase), with the window it left at, over and under the workers (the simulator:
//     BASE_STATS=1)
//
// Where a flow settles late after a step, this says which rules stepped its window down in the seconds after
// it, and with TRACE when: what to look at before changing a rule.
import { readFileSync } from 'node:fs';
import type { WindowRule } from '../../core/pacer';
import type { WindowChange } from './flows';
import { phaseAt } from './scenarios';

/** Seconds after a capacity step in which the window's steps down are counted. */
export const EVENTS_AFTER_STEP_S = 12;
/** Issue 6's target: settled within 5 s of each step (metrics.ts, checkTargets). */
const SETTLE_LIMIT_S = 5;

/** One run of one flow: its settling time per phase (null: never) and its window's changes. */
export interface RunEvents {
  readonly settleS: readonly (number | null)[];
  readonly changes: readonly WindowChange[];
}

const inStep = (c: WindowChange, startS: number): boolean =>
  c.t >= startS * 1000 && c.t < (startS + EVENTS_AFTER_STEP_S) * 1000;

/**
 * Per capacity step: how many runs settled later than SETTLE_LIMIT_S, and the rules that stepped the window
 * down in the EVENTS_AFTER_STEP_S seconds after it, counted over all runs and over the runs that missed.
 */
export function stepRuleLines(phaseStarts: readonly number[], runs: readonly RunEvents[]): string[] {
  return phaseStarts.slice(1).map((startS, k) => {
    const all = new Map<WindowRule, number>();
    const missed = new Map<WindowRule, number>();
    let missedRuns = 0;
    for (const { settleS, changes } of runs) {
      const settle = settleS[k + 1];
      const miss = settle === null || settle === undefined || settle > SETTLE_LIMIT_S;
      if (miss) missedRuns += 1;
      for (const c of changes) {
        if (c.to >= c.from || !inStep(c, startS)) continue;
        all.set(c.rule, (all.get(c.rule) ?? 0) + 1);
        if (miss) missed.set(c.rule, (missed.get(c.rule) ?? 0) + 1);
      }
    }
    const rules = [...all]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([r, n]) => `${r} ${n} (${missed.get(r) ?? 0})`);
    return (
      `  step ${k + 1} at ${startS} s: ${missedRuns}/${runs.length} runs settle later than ${SETTLE_LIMIT_S} s; ` +
      `steps down in the next ${EVENTS_AFTER_STEP_S} s by rule, all runs (runs that missed): ${rules.join(', ') || 'none'}`
    );
  });
}

/**
 * A run's window changes as `12.34s 5→3 halving (base 96)`, all of them or those in the seconds after each step:
 * the base is the unloaded round trip (ms) the window's rules compare rounds with, after the change (none in
 * files saved before it was logged).
 */
export function changeList(changes: readonly WindowChange[], phaseStarts?: readonly number[]): string {
  const shown = phaseStarts ? changes.filter((c) => phaseStarts.slice(1).some((s) => inStep(c, s))) : changes;
  const base = (c: WindowChange): string => (c.baseRttMs > 0 ? ` (base ${Math.round(c.baseRttMs)})` : '');
  return (
    shown.map((c) => `${(c.t / 1000).toFixed(2)}s ${c.from}→${c.to} ${c.rule}${base(c)}`).join(', ') ||
    'no changes'
  );
}

/** One request of a Sluice flow as `PACING_REQUESTS=1` saves it: [sent ms, answered ms or null, status]. */
export type SavedRequest = readonly [number, number | null, number];

/**
 * Mean round trip of the 2xx a flow's requests got, as a multiple of the app model's mean service time in the
 * phase each left in, per phase and per requests in flight when it left (itself included). At or under a
 * worker pool's worker count nothing queues, so there the ratio is what the harness and HTTP add on top of
 * the app (the simulator adds nothing). Returns `phase/in flight: ratio (answers)` for groups of ≥ `minCount`.
 */
export function roundTripRatios(
  requests: readonly SavedRequest[],
  phases: readonly { readonly startS: number; readonly serviceMs: number }[],
  minCount = 10,
): string[] {
  const sorted = [...requests].sort((a, b) => a[0] - b[0]);
  const groups = new Map<string, { phase: number; level: number; sum: number; count: number }>();
  sorted.forEach(([sent, done, status], i) => {
    if (done === null || status < 200 || status >= 300) return;
    // In flight when it left: it, and those sent before it that were not answered yet.
    let level = 1;
    for (let j = 0; j < i; j += 1) {
      const other = sorted[j][1];
      if (other === null || other > sent) level += 1;
    }
    const phase = phases.indexOf(phaseAt({ phases }, sent / 1000));
    const key = `${phase}/${level}`;
    const g = groups.get(key) ?? { phase, level, sum: 0, count: 0 };
    g.sum += (done - sent) / phases[phase].serviceMs;
    g.count += 1;
    groups.set(key, g);
  });
  return [...groups.values()]
    .filter((g) => g.count >= minCount)
    .sort((a, b) => a.phase - b.phase || a.level - b.level)
    .map((g) => `${g.phase + 1}/${g.level}: ${(g.sum / g.count).toFixed(2)} (${g.count})`);
}

/**
 * The pacer's base as a share of the app's mean service time, with the window against the app's worker count
 * (−1 under, 0 at, 1 over) and the seconds into the phase: sampled every 250 ms by the simulator (BASE_STATS=1),
 * at each window change of a real run (BASES=1; the window the change left).
 */
export interface BaseSample {
  readonly share: number;
  readonly vsWorkers: -1 | 0 | 1;
  readonly intoPhaseS: number;
}

/**
 * Mean and standard deviation of the base (share of the service time) from `fromS` into each phase, with the
 * window at, over and under the workers, and in all.
 */
export function baseSpread(
  samples: readonly BaseSample[],
  fromS = 5,
): Record<'at' | 'over' | 'under' | 'all', { mean: number; sd: number; n: number }> {
  const summary = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length));
    return { mean: m, sd, n: xs.length };
  };
  const kept = samples.filter((x) => x.intoPhaseS >= fromS);
  const pick = (v: -1 | 0 | 1) => kept.filter((x) => x.vsWorkers === v).map((x) => x.share);
  return {
    at: summary(pick(0)),
    over: summary(pick(1)),
    under: summary(pick(-1)),
    all: summary(kept.map((x) => x.share)),
  };
}

/** One line of baseSpread: `at 0.940 ± 0.053 (6762), over …, under …; all …`. */
export function baseSpreadLine(spread: ReturnType<typeof baseSpread>): string {
  const cell = (k: keyof typeof spread) =>
    `${k} ${spread[k].mean.toFixed(3)} ± ${spread[k].sd.toFixed(3)} (${spread[k].n})`;
  return `${cell('at')}, ${cell('over')}, ${cell('under')}; ${cell('all')}`;
}

/** A real run's base at each window change (the window it left), for phases with a worker count. */
export function basesAtChanges(
  changes: readonly WindowChange[],
  phases: readonly { readonly startS: number; readonly serviceMs: number; readonly workers?: number }[],
): BaseSample[] {
  return changes.flatMap((c) => {
    const phase = phaseAt({ phases }, c.t / 1000);
    if (phase.workers === undefined || !(c.baseRttMs > 0)) return [];
    return [
      {
        share: c.baseRttMs / phase.serviceMs,
        vsWorkers: Math.sign(c.from - phase.workers) as -1 | 0 | 1,
        intoPhaseS: c.t / 1000 - phase.startS,
      },
    ];
  });
}

/** The parts of `bench/results/pacing.json` this reads. */
interface SavedRun {
  readonly generatedAt: string;
  readonly scenarios: readonly {
    readonly id: string;
    readonly phases: readonly {
      readonly startS: number;
      readonly serviceMs: number;
      readonly workers?: number;
    }[];
    readonly flows: readonly {
      readonly label: string;
      readonly sluice: boolean;
      readonly metrics: { readonly phases: readonly { readonly settleS: number | null }[] };
      /** [t ms, from, to, rule, base RTT ms] per change (runs before the field have none, older ones no base). */
      readonly windowChanges?: readonly [number, number, number, WindowRule, number?][];
      /** Saved only by `PACING_REQUESTS=1 npm run bench:pacing`. */
      readonly requests?: readonly SavedRequest[];
    }[];
  }[];
}

function main(files: readonly string[]): void {
  if (files.length === 0) {
    console.error('usage: npx tsx bench/pacing/events.ts <pacing.json> …');
    process.exitCode = 2;
    return;
  }
  const runs = files.map((f) => {
    const run = JSON.parse(readFileSync(f, 'utf8')) as SavedRun;
    if (typeof run.generatedAt !== 'string' || !Array.isArray(run.scenarios)) {
      throw new Error(`${f} is not a pacing.json written by npm run bench:pacing`);
    }
    return run;
  });
  const flows = new Map<string, { starts: number[]; runs: (RunEvents & { at: string })[] }>();
  for (const run of runs) {
    for (const scenario of run.scenarios) {
      for (const flow of scenario.flows) {
        if (!flow.sluice || !flow.windowChanges) continue;
        const key = `${scenario.id} ${flow.label}`;
        const entry = flows.get(key) ?? { starts: scenario.phases.map((p) => p.startS), runs: [] };
        entry.runs.push({
          at: run.generatedAt.slice(11, 19),
          settleS: flow.metrics.phases.map((p) => p.settleS),
          changes: flow.windowChanges.map(([t, from, to, rule, base]) => ({
            t,
            from,
            to,
            rule,
            baseRttMs: base ?? 0,
          })),
        });
        flows.set(key, entry);
      }
    }
  }
  if (process.env.ROUND_TRIPS === '1') {
    // Round trips against the app's service time, by phase and requests in flight (needs PACING_REQUESTS=1).
    for (const run of runs) {
      for (const scenario of run.scenarios) {
        for (const flow of scenario.flows) {
          if (!flow.sluice || !flow.requests) continue;
          const lines = roundTripRatios(flow.requests, scenario.phases);
          console.log(
            `${run.generatedAt.slice(11, 19)} UTC ${scenario.id} ${flow.label}: ${lines.join(', ')}`,
          );
        }
      }
    }
    return;
  }
  if (process.env.BASES === '1') {
    // The base at each window change against the service time, over all the files' runs per Sluice flow.
    for (const [key, { runs: flowRuns }] of flows) {
      const scenario = runs.flatMap((r) => r.scenarios).find((x) => key.startsWith(`${x.id} `));
      if (!scenario) continue;
      const samples = flowRuns.flatMap((r) => basesAtChanges(r.changes, scenario.phases));
      if (samples.length > 0)
        console.log(`${key}: base ÷ service time, ${baseSpreadLine(baseSpread(samples))}`);
    }
    return;
  }
  if (flows.size === 0) console.log('no window changes saved in these files (runs before the field?)');
  for (const [key, { starts, runs: flowRuns }] of flows) {
    console.log(`${key} (${flowRuns.length} run${flowRuns.length > 1 ? 's' : ''})`);
    for (const line of stepRuleLines(starts, flowRuns)) console.log(line);
    if (process.env.TRACE === '1') {
      for (const r of flowRuns) {
        console.log(
          `    ${r.at} UTC, settled ${r.settleS
            .slice(1)
            .map((s) => s ?? '–')
            .join('/')}: ${changeList(r.changes, starts)}`,
        );
      }
    }
  }
}

if (require.main === module) main(process.argv.slice(2));

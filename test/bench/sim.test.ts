// The pacing benchmark's simulated twin drives the real pacer: regression checks on its seeded, shifted runs.
import { checkTargets } from '../../bench/pacing/metrics';
import { SCENARIOS } from '../../bench/pacing/scenarios';
import { simulateRun } from '../../bench/pacing/sim';

const random = Math.random;
afterEach(() => {
  Math.random = random;
});

const D = SCENARIOS.find((s) => s.id === 'D')!;

describe('pacing simulator', () => {
  it('D (an app that queues its work) meets every target over 24 shifted schedules at the benchmark’s ceiling', () => {
    // Seed 0, the steps 0–12 s later across the runs (SHIFT=12 SEED=0 RUNS=24 CEILING=1000 SCENARIOS=D). The
    // pause made up after each Retry-After finds the step up; a plateau under a fast probe's measurement (it
    // overstates a job queue's rate) avoids the second failure that broke settling in runs 4 and 19.
    const plan = { runs: 24, seed: 0, shiftS: 12, serial: false, ceilingPerSecond: 1_000 };
    const failed = Array.from({ length: plan.runs }, (_, i) => simulateRun(D, i, plan))
      .map(({ metrics }, i) => ({ i, missed: checkTargets(D, metrics).filter((c) => !c.pass) }))
      .filter((r) => r.missed.length > 0)
      .map((r) => `run ${r.i + 1}: ${r.missed.map((c) => `${c.target} (${c.measured})`).join(', ')}`);
    expect(failed).toEqual([]);
  });
});

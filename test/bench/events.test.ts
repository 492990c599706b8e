// The window-rule counts of the pacing benchmark (bench/pacing/events.ts): which rules stepped Sluice's window
// down after each capacity step, in all runs and in the runs that settled late.
import {
  baseSpread,
  baseSpreadLine,
  basesAtChanges,
  changeList,
  roundTripRatios,
  stepRuleLines,
} from '../../bench/pacing/events';
import type { WindowChange } from '../../bench/pacing/flows';

const change = (
  tS: number,
  from: number,
  to: number,
  rule: WindowChange['rule'],
  baseRttMs = 0,
): WindowChange => ({
  t: tS * 1000,
  from,
  to,
  rule,
  baseRttMs,
});

describe('window rules after each capacity step', () => {
  const starts = [0, 25, 50];
  const onTime = {
    settleS: [0, 2, 1],
    changes: [
      change(3, 8, 5, 'halving'),
      change(26, 5, 3, 'halving'),
      change(27, 3, 2, 'step-down'),
      change(52, 2, 3, 'growth'),
    ],
  };
  const late = {
    settleS: [0, 7, null],
    changes: [
      change(31, 8, 4, 'halving'),
      change(36.9, 4, 2, 'halving-again'),
      change(37, 2, 1, 'step-down'),
    ],
  };

  it('counts the steps down in the 12 s after each step, and those of the runs that settled late', () => {
    const [first, second] = stepRuleLines(starts, [onTime, late]);
    // Step 1 (25 s): both runs stepped down by halving; only the late run by halving-again; 37 s is past 12 s.
    expect(first).toContain('step 1 at 25 s: 1/2 runs settle later than 5 s');
    expect(first).toContain('halving 2 (1), halving-again 1 (1), step-down 1 (0)');
    expect(first).not.toContain('step-down 2');
    // Step 2 (50 s): only a growth, which is not a step down; the late run never settled.
    expect(second).toContain('step 2 at 50 s: 1/2 runs settle later than 5 s');
    expect(second).toMatch(/none$/);
  });

  it('lists a run’s changes, all or only those after a step', () => {
    expect(changeList(onTime.changes)).toBe(
      '3.00s 8→5 halving, 26.00s 5→3 halving, 27.00s 3→2 step-down, 52.00s 2→3 growth',
    );
    expect(changeList(onTime.changes, starts)).toBe(
      '26.00s 5→3 halving, 27.00s 3→2 step-down, 52.00s 2→3 growth',
    );
    expect(changeList([], starts)).toBe('no changes');
  });

  it('shows the base each change left, where the run logged it', () => {
    expect(changeList([change(3, 8, 5, 'halving', 96.4), change(4, 5, 6, 'growth', 101.6)])).toBe(
      '3.00s 8→5 halving (base 96), 4.00s 5→6 growth (base 102)',
    );
  });

  it('reads round trips against the service time, by phase and requests in flight', () => {
    const phases = [
      { startS: 0, serviceMs: 100 },
      { startS: 1, serviceMs: 50 },
    ];
    const ratios = roundTripRatios(
      [
        [0, 110, 200], // alone: 1.1
        [10, 130, 200], // the first still out: 2 in flight, 1.2
        [500, 590, 200], // alone again: 0.9
        [520, 560, 503], // a refusal: not a round trip of the app's
        [540, null, 0], // no answer
        [1_000, 1_060, 200], // the second phase: 60 ms against 50, 1.2 (the unanswered one still counts)
      ],
      phases,
      1,
    );
    expect(ratios).toEqual(['1/1: 1.00 (2)', '1/2: 1.20 (1)', '2/2: 1.20 (1)']);
  });

  it("reads a real run's base at each window change against the service time, by the window it left (BASES=1)", () => {
    // B's phases: 5, 2, 8 workers at 100 ms.
    const phases = [
      { startS: 0, serviceMs: 100, workers: 5 },
      { startS: 25, serviceMs: 100, workers: 2 },
      { startS: 50, serviceMs: 100, workers: 8 },
    ];
    const samples = basesAtChanges(
      [
        change(3, 8, 4, 'halving', 90),
        change(10, 5, 6, 'growth', 95),
        change(11, 6, 5, 'growth-undone', 105),
        change(30, 2, 3, 'growth', 80),
        change(60, 4, 5, 'growth', 0), // no base saved: left out
      ],
      phases,
    );
    expect(samples).toEqual([
      { share: 0.9, vsWorkers: 1, intoPhaseS: 3 },
      { share: 0.95, vsWorkers: 0, intoPhaseS: 10 },
      { share: 1.05, vsWorkers: 1, intoPhaseS: 11 },
      { share: 0.8, vsWorkers: 0, intoPhaseS: 5 },
    ]);
    // From 5 s into each phase: the first change is left out.
    expect(baseSpreadLine(baseSpread(samples))).toBe(
      'at 0.875 ± 0.075 (2), over 1.050 ± 0.000 (1), under 0.000 ± 0.000 (0); all 0.933 ± 0.103 (3)',
    );
    // A model without workers (a rate limiter) gives no samples.
    expect(basesAtChanges([change(10, 1, 2, 'growth', 90)], [{ startS: 0, serviceMs: 5 }])).toEqual([]);
  });
});

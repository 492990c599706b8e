// The pacing benchmark's window diagnostic: how much of each steady part the window sat over or under the workers.
import { emptyLog, type FlowLog } from '../../bench/pacing/flows';
import { flowMetrics } from '../../bench/pacing/metrics';
import { SCENARIOS, type Scenario } from '../../bench/pacing/scenarios';

const byId = (id: string): Scenario => {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  return scenario;
};

/** A log whose controller snapshots (every 250 ms) hold the window `windowAt(t)`, t in seconds. */
function logWith(scenario: Scenario, windowAt: (tS: number) => number): FlowLog {
  const log = emptyLog();
  for (let t = 0; t < scenario.durationS * 1000; t += 250) {
    log.snapshots.push({ t, rate: 10, window: windowAt(t / 1000) });
  }
  return log;
}

describe('flowMetrics: the window against the worker count', () => {
  it('counts only the steady part of each phase, over and under apart', () => {
    const b = byId('B');
    expect(b.phases.map((p) => p.workers)).toEqual([5, 2, 8]);
    const log = logWith(b, (t) => {
      if (t < 10) return 1; // the first 10 s of a phase are not steady: ignored
      if (t < 25) return t < 16 ? 7 : 5; // 6 s of 15 over, the rest at the worker count
      if (t < 35) return 8;
      if (t < 50) return t < 47 ? 2 : 1; // 3 s of 15 under
      return 8;
    });

    const windows = flowMetrics(b, log).phases.map((p) => p.window);

    expect(windows).toEqual([
      { workers: 5, over: 0.4, under: 0 },
      { workers: 2, over: 0, under: 0.2 },
      { workers: 8, over: 0, under: 0 },
    ]);
  });

  it('says nothing where there is no pool, a single group, no snapshot or an outage', () => {
    const windows = (id: string, log?: FlowLog) => {
      const scenario = byId(id);
      return flowMetrics(scenario, log ?? logWith(scenario, () => 8)).phases.map((p) => p.window?.workers);
    };
    expect(windows('D')).toEqual([undefined, undefined, undefined]);
    expect(windows('A')).toEqual([undefined, undefined, undefined]);
    expect(windows('C', emptyLog())).toEqual([undefined, undefined, undefined]);
    expect(windows('E')).toEqual([5, undefined, 5]);
  });
});

// The pacing benchmark's spread table: one row per Sluice target, one column per run, and a verdict.
import { spreadTable } from '../../bench/pacing/spread';

function run(at: string, util: { pass: boolean; measured: string }, withF: boolean) {
  const flow = (label: string, sluice: boolean) => ({
    label,
    sluice,
    targets: [{ target: 'steady util ≥ 0.9', ...util }],
  });
  return {
    generatedAt: `2026-11-25T${at}:00.000Z`,
    machine: '2 × CPU, Node v20, linux, load average 1.0 before, 0.6 after',
    scenarios: [
      { id: 'A', flows: [flow('static 50 rps', false), flow('Sluice (one group)', true)] },
      ...(withF ? [{ id: 'F', flows: [flow('Sluice (one group)', true)] }] : []),
    ],
  };
}

describe('spreadTable', () => {
  it('lines runs up per target, marks misses and counts passes, skipping baselines', () => {
    const table = spreadTable([
      run('14:57', { pass: true, measured: '0.93' }, true),
      run('15:04', { pass: false, measured: '0.86' }, false),
    ]).split('\n');

    expect(table[0]).toBe(
      '| Scenario | Flow | Target | 14:57 UTC (load 1.0→0.6) | 15:04 UTC (load 1.0→0.6) | Pass |',
    );
    expect(table).toContain('| A | (one group) | steady util ≥ 0.9 | 0.93 | 0.86 ✗ | 1/2 |');
    // A scenario missing from a run shows "–" there and is judged on the runs that had it.
    expect(table).toContain('| F | (one group) | steady util ≥ 0.9 | 0.93 | – | pass |');
    expect(table.some((line) => line.includes('static'))).toBe(false);
  });

  it("heads a run's column with the cores other processes kept busy during it, where the run measured them", () => {
    const measured = {
      ...run('15:10', { pass: true, measured: '0.95' }, false),
      machine:
        '2 × CPU, Node v20, linux, load average 0.3 before, 0.9 after; other processes 0.02 cores before, 0.41 during',
    };
    const header = spreadTable([run('14:57', { pass: true, measured: '0.93' }, false), measured]).split(
      '\n',
    )[0];
    expect(header).toBe(
      '| Scenario | Flow | Target | 14:57 UTC (load 1.0→0.6) | 15:10 UTC (load 0.3→0.9, others 0.41) | Pass |',
    );
  });
});

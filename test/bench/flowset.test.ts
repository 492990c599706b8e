import { flowsFor, shardPlan } from '../../bench/pacing/flowset';
import { SCENARIOS } from '../../bench/pacing/scenarios';

const byId = (id: string) => {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  return scenario;
};

describe('flowsFor', () => {
  it('puts the three baselines beside the Sluice flows each scenario is measured with', () => {
    expect(flowsFor(byId('A'), 0).map((f) => f.key)).toEqual(['static', 'faucet', 'aimd', 'sluice-serial']);
    expect(flowsFor(byId('B'), 0).map((f) => f.key)).toEqual(['static', 'faucet', 'aimd', 'sluice-groups']);
    expect(flowsFor(byId('F'), 0).map((f) => f.key)).toEqual([
      'static',
      'faucet',
      'aimd',
      'sluice-groups',
      'sluice-serial',
    ]);
    expect(flowsFor(byId('F'), 0).filter((f) => f.sluice)).toHaveLength(2);
  });
});

describe('shardPlan', () => {
  const weight = (id: string): number => flowsFor(byId(id), 0).length * byId(id).maxInFlight;

  it('gives every scenario, with all its flows, to exactly one harness process', () => {
    for (const count of [1, 2, 3, 4]) {
      const plan = shardPlan(SCENARIOS, count);
      expect(plan).toHaveLength(count);
      for (const shard of plan) expect(shard.length).toBeGreaterThan(0);
      expect(
        plan
          .flat()
          .map((s) => s.id)
          .sort(),
      ).toEqual(SCENARIOS.map((s) => s.id).sort());
    }
  });

  it('balances the processes: their loads differ by no more than the heaviest scenario', () => {
    const plan = shardPlan(SCENARIOS, 2);
    const loads = plan.map((shard) => shard.reduce((a, s) => a + weight(s.id), 0));
    const heaviest = Math.max(...SCENARIOS.map((s) => weight(s.id)));
    expect(Math.abs(loads[0] - loads[1])).toBeLessThanOrEqual(heaviest);
  });

  it('starts no more processes than there are scenarios', () => {
    expect(shardPlan([byId('B'), byId('C')], 8)).toHaveLength(2);
    expect(shardPlan([byId('B')], 2)).toEqual([[byId('B')]]);
  });
});

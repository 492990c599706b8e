// The flows of the pacing benchmark: every policy of a scenario, each against its own instance of the scenario's
// downstream. `run.ts` builds them to label its results; `shard.ts` builds and runs them.
import { emptyLog, type FlowLog, runFlow } from './flows';
import { faucet, netflixAimd, type Policy, sluicePacer, staticRate } from './policies';
import type { Scenario } from './scenarios';
import { type OrderCheck, runSluiceFlow, SLUICE_FLOWS } from './sluice';

/** A flow is one policy against its own instance of a scenario's downstream. */
export interface Flow {
  readonly scenario: Scenario;
  readonly key: string;
  readonly label: string;
  readonly sluice: boolean;
  readonly log: FlowLog;
  /** Sluice flows: per-group order as the app saw it. */
  readonly order?: OrderCheck;
  run(url: string, t0: number, endAt: number): Promise<void>;
}

function policyFlow(scenario: Scenario, key: string, policy: Policy): Flow {
  const log = emptyLog();
  return {
    scenario,
    key,
    label: policy.name,
    sluice: false,
    log,
    run: (url, t0, endAt) => runFlow(policy, url, scenario.maxInFlight, t0, endAt, log),
  };
}

export function flowsFor(scenario: Scenario, t0: number): Flow[] {
  const lmax = scenario.maxInFlight;
  const flows: Flow[] = [
    policyFlow(scenario, 'static', staticRate(50, lmax)),
    policyFlow(scenario, 'faucet', faucet(lmax)),
    policyFlow(scenario, 'aimd', netflixAimd(lmax)),
  ];
  for (const variant of SLUICE_FLOWS) {
    if (variant.groups > 1 && lmax === 1) continue;
    if (variant.groups === 1 && lmax > 1 && !variant.alsoConcurrent.includes(scenario.id)) continue;
    const log = emptyLog();
    const order: OrderCheck = { delivered: 0, outOfOrder: 0, deadLettered: 0 };
    flows.push({
      scenario,
      key: `sluice-${variant.key}`,
      label: variant.label,
      sluice: true,
      log,
      order,
      run: async (url, start, endAt) => {
        await runSluiceFlow(variant, scenario, url, start, endAt, log, order);
      },
    });
  }
  if (process.env.SLUICE_LOOP === '1') {
    flows.push(
      policyFlow(scenario, 'sluice-loop', { ...sluicePacer(lmax, t0), name: 'Sluice pacer (plain loop)' }),
    );
  }
  return flows;
}

/** Scenarios per shard, balanced by their flows' requests in flight at most (a rough share of the work). */
export function shardPlan(scenarios: readonly Scenario[], count: number): Scenario[][] {
  const weight = (s: Scenario): number => flowsFor(s, 0).length * s.maxInFlight;
  const plan: Scenario[][] = Array.from({ length: Math.max(1, Math.min(count, scenarios.length)) }, () => []);
  const load = plan.map(() => 0);
  for (const s of [...scenarios].sort((a, b) => weight(b) - weight(a))) {
    const i = load.indexOf(Math.min(...load));
    plan[i].push(s);
    load[i] += weight(s);
  }
  return plan;
}

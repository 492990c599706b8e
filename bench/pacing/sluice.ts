// Sluice flows of the benchmark: the pacer driving deliveries of many message groups, or of one.
import { type FlowLog, runFlow } from './flows';
import { sluicePacer } from './policies';
import type { Scenario } from './scenarios';

/** A Sluice flow variant. */
export interface SluiceVariant {
  readonly key: string;
  readonly label: string;
  /** Message groups in the backlog; 1 = strictly serial (per-group order allows one in flight). */
  readonly groups: number;
  /** Scenarios with Lmax > 1 where the one-group variant runs too. */
  readonly alsoConcurrent: readonly string[];
}

export const SLUICE_FLOWS: readonly SluiceVariant[] = [
  { key: 'groups', label: 'Sluice (many groups)', groups: 64, alsoConcurrent: [] },
  { key: 'serial', label: 'Sluice (one group)', groups: 1, alsoConcurrent: ['F'] },
];

/** Runs one Sluice flow against `url` until `endAt`. */
export async function runSluiceFlow(
  variant: SluiceVariant,
  scenario: Scenario,
  url: string,
  t0: number,
  endAt: number,
  log: FlowLog,
): Promise<void> {
  const lmax = variant.groups === 1 ? 1 : scenario.maxInFlight;
  const policy = { ...sluicePacer(lmax, Date.now()), name: variant.label };
  await runFlow(policy, url, lmax, t0, endAt, log);
}

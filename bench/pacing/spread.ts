// Spread of Sluice's targets over several saved runs of `npm run bench:pacing` (one Markdown table).
//
//   cp bench/results/pacing.json /tmp/run1.json   # after each run
//   npx tsx bench/pacing/spread.ts /tmp/run1.json /tmp/run2.json …
//
// One run is no verdict on a target that sits near its threshold on a shared, noisy machine: this lines the
// runs up per scenario, flow and target, marks each miss, and says in how many runs each target passed.
import { readFileSync } from 'node:fs';

/** The parts of `bench/results/pacing.json` this reads. */
interface SavedRun {
  readonly generatedAt: string;
  readonly machine: string;
  readonly scenarios: readonly {
    readonly id: string;
    readonly flows: readonly {
      readonly label: string;
      readonly sluice: boolean;
      readonly targets: readonly {
        readonly target: string;
        readonly pass: boolean;
        readonly measured: string;
      }[];
    }[];
  }[];
}

function load(path: string): SavedRun {
  const run = JSON.parse(readFileSync(path, 'utf8')) as SavedRun;
  if (typeof run.generatedAt !== 'string' || !Array.isArray(run.scenarios)) {
    throw new Error(`${path} is not a pacing.json written by npm run bench:pacing`);
  }
  return run;
}

/**
 * "14:57 UTC (load 1.1→0.8, others 0.04)" from a run's time and machine line: the load average before and
 * after, and the cores other processes kept busy during the run (runs saved before it was measured lack it).
 */
function columnOf(run: SavedRun): string {
  const time = run.generatedAt.slice(11, 16);
  const load = /load average ([\d.]+) before, ([\d.]+) after/.exec(run.machine);
  const others = /other processes [\d.]+ cores before, ([\d.]+) during/.exec(run.machine);
  const parts = [load ? `load ${load[1]}→${load[2]}` : '', others ? `others ${others[1]}` : ''].filter(
    Boolean,
  );
  return parts.length > 0 ? `${time} UTC (${parts.join(', ')})` : `${time} UTC`;
}

/** The Markdown spread table of Sluice's target checks over `runs`. */
export function spreadTable(runs: readonly SavedRun[]): string {
  const rows = new Map<
    string,
    { scenario: string; flow: string; target: string; cells: (string | undefined)[] }
  >();
  runs.forEach((run, i) => {
    for (const scenario of run.scenarios) {
      for (const flow of scenario.flows) {
        if (!flow.sluice) continue;
        for (const check of flow.targets) {
          const key = `${scenario.id}\u0000${flow.label}\u0000${check.target}`;
          const row = rows.get(key) ?? {
            scenario: scenario.id,
            flow: flow.label.replace(/^Sluice /, ''),
            target: check.target,
            cells: new Array<string | undefined>(runs.length).fill(undefined),
          };
          row.cells[i] = check.pass ? check.measured : `${check.measured} ✗`;
          rows.set(key, row);
        }
      }
    }
  });
  const header = ['Scenario', 'Flow', 'Target', ...runs.map(columnOf), 'Pass'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of [...rows.values()].sort((a, b) => a.scenario.localeCompare(b.scenario))) {
    const ran = row.cells.filter((c) => c !== undefined);
    const passed = ran.filter((c) => !c.endsWith('✗')).length;
    const verdict = passed === ran.length ? 'pass' : passed === 0 ? '**fail**' : `${passed}/${ran.length}`;
    lines.push(
      `| ${row.scenario} | ${row.flow} | ${row.target} | ${row.cells.map((c) => c ?? '–').join(' | ')} | ${verdict} |`,
    );
  }
  return lines.join('\n');
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: npx tsx bench/pacing/spread.ts <pacing.json> [<pacing.json> …]');
    process.exit(2);
  }
  console.log(spreadTable(files.map(load)));
}

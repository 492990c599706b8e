// `npm run bench:pacing`: runs every scenario × policy in parallel against the loopback simulator and reports.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { type Flow, flowsFor, shardPlan } from './flowset';
import { IDLE_MAX_CORES, machineBusyMs, otherCores, waitForIdle } from './machine';
import { checkTargets, type FlowMetrics, flowMetrics, type TargetCheck } from './metrics';
import { SCENARIOS } from './scenarios';
import type { ShardMessage, ShardWork } from './shard';

const ROOT = join(__dirname, '..', '..');
const RESULTS = join(ROOT, 'bench', 'results');

function startSimulator(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(__dirname, 'downstream.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`the simulator exited (${code ?? signal}) on start`)),
    );
    child.once('message', (m: unknown) => {
      const port = typeof m === 'object' && m !== null && 'port' in m ? Number(m.port) : Number.NaN;
      if (Number.isNaN(port)) reject(new Error(`simulator sent ${JSON.stringify(m)}`));
      else resolve({ child, port });
    });
  });
}

/** The simulator's CPU time so far, ms (NaN if it does not answer within a second). */
function childCpuMs(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      resolve(Number.NaN);
    }, 1000);
    const onMessage = (m: unknown): void => {
      if (typeof m !== 'object' || m === null || !('cpuMs' in m)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(Number(m.cpuMs));
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

/**
 * PACING_WAIT_IDLE=s: wait up to s seconds for other processes to leave the cores idle, and refuse to run if
 * they do not. Unset: one sample, and a warning if the machine is busy.
 */
async function checkIdle(): Promise<number> {
  const raw = process.env.PACING_WAIT_IDLE;
  const waitS = raw === undefined || raw === '' ? 0 : Number(raw);
  if (!Number.isFinite(waitS) || waitS < 0) {
    throw new Error(`PACING_WAIT_IDLE must be a number of seconds ≥ 0, got "${raw}"`);
  }
  if (waitS > 0) console.log(`waiting up to ${waitS} s for an idle machine…`);
  const { cores, idle } = await waitForIdle(waitS);
  if (idle) return cores;
  const busy = `other processes keep ${cores.toFixed(2)} cores busy (idle: < ${IDLE_MAX_CORES})`;
  if (waitS > 0)
    throw new Error(`${busy} after waiting ${waitS} s: not running (round trips would read high)`);
  console.warn(
    `warning: ${busy}. Round trips read high on a busy machine: compare runs only with runs as busy ` +
      '(PACING_WAIT_IDLE=600 waits for an idle machine).',
  );
  return cores;
}

const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const cell = (xs: (number | null)[], fmt: (x: number) => string): string =>
  xs.map((x) => (x === null || !Number.isFinite(x) ? '–' : fmt(x))).join(' / ');

/** Markdown tables: one per scenario, one row per flow, then Sluice's targets. */
function tables(results: { flow: Flow; metrics: FlowMetrics; checks: TargetCheck[] }[]): string {
  const out: string[] = [];
  for (const scenario of SCENARIOS) {
    const rows = results.filter((r) => r.flow.scenario === scenario);
    if (rows.length === 0) continue;
    const caps = scenario.phases.map((p) => p.capacity).join(' → ');
    out.push(`### ${scenario.id} — ${scenario.name}: ${scenario.description}; C = ${caps} rps`, '');
    out.push(
      '| Policy | Util. | Steady util. per phase | Rej% | RA viol. | Settle s per phase | p50× unloaded per phase | Targets |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const { flow, metrics, checks } of rows) {
      const live = metrics.phases;
      const extra =
        metrics.outageAttempts !== undefined
          ? ` (outage attempts ${metrics.outageAttempts}, recovery ${metrics.recoveryS ?? 'never'} s)`
          : '';
      const targets = flow.sluice
        ? flow.scenario.issue6 === false
          ? 'not an issue-6 scenario'
          : checks.every((c) => c.pass)
            ? '**pass**'
            : `**fail**: ${checks
                .filter((c) => !c.pass)
                .map((c) => `${c.target} (${c.measured})`)
                .join('; ')}`
        : '';
      out.push(
        `| ${flow.sluice ? `**${flow.label}**` : flow.label} | ${f2(metrics.utilization)} | ${cell(
          live.map((p) => p.steadyUtilization),
          f2,
        )} | ${metrics.rejectedPct.toFixed(1)} | ${metrics.retryAfterViolations} | ${cell(
          live.map((p) => p.settleS),
          (x) => x.toFixed(0),
        )}${extra} | ${cell(
          live.map((p) => p.p50Inflation),
          f2,
        )} | ${targets} |`,
      );
    }
    out.push('');
  }
  const sluice = results.filter((r) => r.flow.sluice);
  const order = sluice
    .map(
      (r) =>
        `${r.flow.scenario.id} ${r.flow.label}: ${r.flow.order?.delivered ?? 0} delivered, ${r.flow.order?.outOfOrder ?? 0} out of order, ${r.flow.order?.deadLettered ?? 0} dead-lettered`,
    )
    .join('; ');
  out.push(`Per-group order as the app saw it (Sluice flows run the real drainer core): ${order}.`, '');
  out.push(
    '### Sluice against the issue-6 targets',
    '',
    '| Scenario | Flow | Target | Measured | Pass |',
    '|---|---|---|---|---|',
  );
  for (const { flow, checks } of sluice) {
    for (const c of checks) {
      out.push(
        `| ${flow.scenario.id} | ${flow.label} | ${c.target} | ${c.measured} | ${c.pass ? 'pass' : '**FAIL**'} |`,
      );
    }
  }
  const pools = sluice.filter((r) => r.metrics.phases.some((p) => p.window));
  if (pools.length > 0) {
    out.push(
      '',
      "### Sluice's window against the app's worker count",
      '',
      'Share of the steady part of each phase (controller snapshots every 250 ms) with the window over and under',
      'the worker count.',
      '',
      '| Scenario | Flow | Workers | Window over | Window under |',
      '|---|---|---|---|---|',
    );
    const pct = (x: number): string => `${Math.round(100 * x)}%`;
    for (const { flow, metrics } of pools) {
      const w = metrics.phases.map((p) => p.window);
      const cells = (pick: (x: NonNullable<(typeof w)[number]>) => string): string =>
        w.map((x) => (x ? pick(x) : '–')).join(' / ');
      out.push(
        `| ${flow.scenario.id} | ${flow.label} | ${cells((x) => String(x.workers))} | ${cells((x) => pct(x.over))} | ${cells((x) => pct(x.under))} |`,
      );
    }
  }
  return out.join('\n');
}

async function plots(results: { flow: Flow; metrics: FlowMetrics }[]): Promise<string[]> {
  const { renderPlot } = await import('./plot.mjs');
  const files: string[] = [];
  for (const scenario of SCENARIOS) {
    const rows = results.filter((r) => r.flow.scenario === scenario);
    if (rows.length === 0) continue;
    const points: { series: string; t: number; value: number }[] = [];
    for (const p of scenario.phases) points.push({ series: 'capacity', t: p.startS, value: p.capacity });
    points.push({ series: 'capacity', t: scenario.durationS, value: scenario.phases.at(-1)?.capacity ?? 0 });
    for (const { flow, metrics } of rows) {
      metrics.goodputPerSecond.forEach((g, s) => {
        points.push({ series: `${flow.label} goodput`, t: s + 0.5, value: g });
      });
      if (flow.sluice) {
        for (const snap of flow.log.snapshots) {
          if (snap.t >= 0 && snap.t <= scenario.durationS * 1000) {
            points.push({
              series: `${flow.label} pacing rate`,
              t: snap.t / 1000,
              value: Math.min(snap.rate, 2 * Math.max(...scenario.phases.map((p) => p.capacity))),
            });
          }
        }
      }
    }
    const svg = await renderPlot(
      `${scenario.id} — ${scenario.name}: goodput and pacing rate vs capacity`,
      points,
    );
    const file = `pacing-${scenario.id}-${scenario.name}.svg`;
    writeFileSync(join(RESULTS, file), svg);
    files.push(file);
  }
  return files;
}

/**
 * Event-loop delay p99 (the worst harness process's) over which a run is flagged: the last idle AMD run read
 * 4.6 ms, the starved one-process runs on a 2-core Intel VM 8.3–12.2 ms (BENCHMARKS.md, "The machine matters").
 */
const LAGGED_P99_MS = 5;
/** How long past the end of the longest scenario the flows may still run before the run is stopped. */
const OVERDUE_MS = 60_000;

/**
 * Harness processes: PACING_SHARDS, else one per core (at most one per scenario). The flows of one scenario stay
 * together, so every baseline runs beside the Sluice flows it is compared with.
 */
function shardCount(): number {
  const raw = process.env.PACING_SHARDS;
  if (raw === undefined || raw === '') return cpus().length;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PACING_SHARDS must be an integer ≥ 1, got "${raw}"`);
  return n;
}

function startShard(): Promise<ChildProcess> {
  const shard = fork(join(__dirname, 'shard.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Structured clone: logs hold NaN (a request never answered), which JSON would turn into null.
    serialization: 'advanced',
  });
  return new Promise((resolve, reject) => {
    shard.once('error', reject);
    shard.once('disconnect', () => reject(new Error('a harness shard ended before it was ready')));
    shard.once('message', () => resolve(shard));
  });
}

function runShard(
  shard: ChildProcess,
  work: ShardWork,
  onProgress: (sends: number) => void,
): Promise<Extract<ShardMessage, { kind: 'done' }>> {
  return new Promise((resolve, reject) => {
    shard.removeAllListeners('disconnect');
    shard.on('message', (m: ShardMessage) => {
      if (m.kind === 'progress') onProgress(m.sends);
      else if (m.kind === 'done') resolve(m);
      else if (m.kind === 'error') reject(new Error(`a harness shard failed: ${m.message}`));
    });
    // Messages the shard sent before its channel closed are all read before 'disconnect' (unlike 'exit').
    shard.once('disconnect', () => reject(new Error('a harness shard ended before its flows did')));
    shard.send(work);
  });
}

async function main(): Promise<void> {
  const only = process.env.SCENARIOS?.split(',').map((s) => s.trim().toUpperCase());
  const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.id));
  const started = Date.now();
  // The machine may be shared: other processes' load skews every latency and pacing measurement.
  const loadBefore = loadavg()[0];
  const plan = shardPlan(scenarios, shardCount());
  const othersBefore = await checkIdle();
  const { child, port } = await startSimulator();
  let shards: ChildProcess[] = [];
  let ticker: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    const launched = await Promise.allSettled(plan.map(() => startShard()));
    shards = launched.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = launched.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    // CPU times first (the simulator's answer may take up to a second), then t0, leaving 500 ms for the work to
    // reach the shards.
    const childBefore = await childCpuMs(child);
    const cpuBefore = process.cpuUsage();
    const machineBefore = machineBusyMs();
    const runStart = performance.now();
    const t0 = Date.now() + 500;
    await fetch(`http://127.0.0.1:${port}/start?t0=${t0}`, { method: 'POST' });
    const flows = scenarios.flatMap((s) => flowsFor(s, t0));
    console.log(
      `${flows.length} flows, ${scenarios.length} scenarios in ${shards.length} ${shards.length === 1 ? 'process' : 'processes'}, simulator on 127.0.0.1:${port}`,
    );
    const progress = shards.map(() => 0);
    ticker = setInterval(() => {
      const sends = progress.reduce((a, b) => a + b, 0);
      console.log(`t=${((Date.now() - t0) / 1000).toFixed(0)} s, ${sends} attempts`);
    }, 10_000);
    // A simulator gone mid-run would leave every flow failing against a closed port: the run stops instead.
    const simulatorGone = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`the simulator exited (${code ?? signal}) mid-run`)),
      );
    });
    simulatorGone.catch(() => undefined);
    // Every flow ends by its scenario's end (a Sluice flow RUN_ON_MS later, a request at its client timeout): a
    // run still going well past that has a flow stuck, and is stopped rather than left to hang.
    const longestMs = Math.max(...scenarios.map((s) => s.durationS * 1000));
    const overdue = new Promise<never>((_, reject) => {
      deadline = setTimeout(
        () => reject(new Error(`the flows were still running ${OVERDUE_MS / 1000} s after their end`)),
        t0 - Date.now() + longestMs + OVERDUE_MS,
      );
    });
    overdue.catch(() => undefined);
    const done = await Promise.race([
      Promise.all(
        shards.map((shard, i) =>
          runShard(shard, { scenarios: plan[i].map((s) => s.id), port, t0 }, (sends) => {
            progress[i] = sends;
          }),
        ),
      ),
      simulatorGone,
      overdue,
    ]);
    clearInterval(ticker);
    const filled = new Set<Flow>();
    for (const d of done) {
      for (const got of d.flows) {
        const flow = flows.find((f) => f.scenario.id === got.scenario && f.key === got.key);
        if (!flow) throw new Error(`a shard sent flow ${got.scenario}/${got.key} unasked`);
        if (filled.has(flow)) throw new Error(`flow ${got.scenario}/${got.key} came back twice`);
        filled.add(flow);
        Object.assign(flow.log, got.log);
        if (flow.order && got.order) Object.assign(flow.order, got.order);
      }
    }
    const missing = flows.filter((f) => !filled.has(f));
    if (missing.length > 0) {
      throw new Error(`no shard ran ${missing.map((f) => `${f.scenario.id}/${f.key}`).join(', ')}`);
    }
    // Every Sluice flow's round trips include its shard's event-loop delay (a CPU-starved run reads as an app
    // that queues): the worst shard's is reported.
    const loopDelayMs = {
      p50: Math.max(...done.map((d) => d.loopDelayMs.p50)),
      p99: Math.max(...done.map((d) => d.loopDelayMs.p99)),
      max: Math.max(...done.map((d) => d.loopDelayMs.max)),
    };
    const cpu = process.cpuUsage(cpuBefore);
    const shardsMs = done.reduce((a, d) => a + d.cpuMs, 0);
    const ownMs = (cpu.user + cpu.system) / 1000 + shardsMs + ((await childCpuMs(child)) - childBefore);
    const othersDuring = otherCores(machineBusyMs() - machineBefore, ownMs, performance.now() - runStart);
    const wallS = (Date.now() - t0) / 1000;
    const results = flows.map((flow) => {
      const metrics = flowMetrics(flow.scenario, flow.log);
      const checked = flow.sluice && flow.scenario.issue6 !== false;
      return { flow, metrics, checks: checked ? checkTargets(flow.scenario, metrics) : [] };
    });
    const md = tables(results);
    console.log(md);
    mkdirSync(RESULTS, { recursive: true });
    const harnessCpu = ((cpu.user + cpu.system) / 1000 + shardsMs) / 1000 / wallS;
    const others = `other processes ${othersBefore.toFixed(2)} cores before, ${f2(othersDuring)} during`;
    const load = `load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after; ${others}`;
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${process.platform}, ${load}`;
    const files = await plots(results);
    writeFileSync(
      join(RESULTS, 'pacing.json'),
      `${JSON.stringify(
        {
          generatedAt: new Date().toISOString(),
          machine,
          command: 'npm run bench:pacing',
          wallSeconds: (Date.now() - started) / 1000,
          harnessCpuCores: harnessCpu,
          harnessEventLoopDelayMs: loopDelayMs,
          // Cores other processes kept busy in the 3 s before the run and during it (null: unknown).
          otherCpuCores: {
            before: Number(othersBefore.toFixed(3)),
            during: Number.isFinite(othersDuring) ? Number(othersDuring.toFixed(3)) : null,
          },
          scenarios: scenarios.map((s) => ({
            ...s,
            flows: results
              .filter((r) => r.flow.scenario === s)
              .map((r) => ({
                key: r.flow.key,
                label: r.flow.label,
                sluice: r.flow.sluice,
                metrics: r.metrics,
                targets: r.checks,
                order: r.flow.order,
                pacingRate: r.flow.sluice
                  ? r.flow.log.snapshots.map((x) => [x.t, Number(x.rate.toFixed(2)), x.window])
                  : undefined,
                windowChanges: r.flow.sluice
                  ? r.flow.log.windowChanges.map((c) => [c.t, c.from, c.to, c.rule, Math.round(c.baseRttMs)])
                  : undefined,
                // PACING_REQUESTS=1: each request of a Sluice flow as [sent ms, answered ms or null, status]
                // (status 0: no answer), to read round trips against what was in flight (not saved by default:
                // ~40,000 rows a run).
                requests:
                  r.flow.sluice && process.env.PACING_REQUESTS === '1'
                    ? r.flow.log.sendAt.map((t, i) => [
                        t,
                        Number.isNaN(r.flow.log.doneAt[i]) ? null : r.flow.log.doneAt[i],
                        r.flow.log.status[i],
                      ])
                    : undefined,
              })),
          })),
        },
        null,
        1,
      )}\n`,
    );
    writeFileSync(join(RESULTS, 'pacing.md'), `${md}\n`);
    const harness = `harness ${harnessCpu.toFixed(2)} cores, its event-loop delay p50 ${loopDelayMs.p50.toFixed(1)} ms, p99 ${loopDelayMs.p99.toFixed(1)} ms, max ${loopDelayMs.max.toFixed(0)} ms`;
    updateBenchmarksMd(md, files, machine, (Date.now() - started) / 1000, harness);
    console.log(`\nwall ${((Date.now() - started) / 1000).toFixed(0)} s, ${harness}`);
    if (loopDelayMs.p99 > LAGGED_P99_MS) {
      console.warn(
        `warning: a harness process lagged (event-loop delay p99 ${loopDelayMs.p99.toFixed(1)} ms > ${LAGGED_P99_MS} ms). ` +
          'Every round trip includes that lag, and the strictly serial 80 rps flows (A, F one group, G) have 2.5 ms ' +
          'to spare per request: their last phase reads low. Compare only with runs that lagged as much ' +
          '(PACING_SHARDS=n runs the flows in n processes).',
      );
    }
  } finally {
    clearInterval(ticker);
    clearTimeout(deadline);
    for (const shard of shards) if (shard.exitCode === null && shard.signalCode === null) shard.kill();
    if (child.connected) {
      child.send('stop');
      child.disconnect();
    }
  }
}

/** Replaces the generated part of BENCHMARKS.md, leaving the hand-written prose alone. */
function updateBenchmarksMd(
  md: string,
  files: string[],
  machine: string,
  wallS: number,
  harness: string,
): void {
  const path = join(ROOT, 'BENCHMARKS.md');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  const start = '<!-- pacing:results:start -->';
  const end = '<!-- pacing:results:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return;
  const generated = [
    start,
    '',
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine}; wall ${wallS.toFixed(0)} s, ${harness}.`,
    '',
    md,
    '',
    ...files.map((f) => `![${f}](bench/results/${f})`),
    '',
  ].join('\n');
  writeFileSync(path, text.slice(0, i) + generated + text.slice(j));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

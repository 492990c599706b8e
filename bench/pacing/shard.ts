// One share of the pacing benchmark's flows, in its own process. A full run holds 41 flows, and one Node thread
// running all of them was 93% busy in the 80 rps phase on a 2-core Intel Xeon VM: its event-loop lag went into
// every round trip and cost the strictly serial flows their last phase (BENCHMARKS.md, "The machine matters").
// `run.ts` forks one shard per core; each runs the flows of its scenarios against the shared simulator and sends
// their logs back, with its own CPU time and event-loop delay.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FlowLog } from './flows';
import { flowsFor } from './flowset';
import { SCENARIOS } from './scenarios';
import type { OrderCheck } from './sluice';

/** What `run.ts` sends a shard: its scenarios, the simulator's port and the common t0. */
export interface ShardWork {
  readonly scenarios: readonly string[];
  readonly port: number;
  readonly t0: number;
}

/** What a shard sends: that it is loaded, attempts so far every PROGRESS_MS, then its flows' logs. */
export type ShardMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'progress'; readonly sends: number }
  | {
      readonly kind: 'done';
      readonly flows: readonly {
        readonly scenario: string;
        readonly key: string;
        readonly log: FlowLog;
        readonly order?: OrderCheck;
      }[];
      /** The shard's CPU time over its flows, ms. */
      readonly cpuMs: number;
      /** Its event-loop delay over its flows, ms. */
      readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
    }
  | { readonly kind: 'error'; readonly message: string };

/** Sampling interval of the event-loop delay, ms. */
const LOOP_SAMPLE_MS = 1;
const PROGRESS_MS = 10_000;

async function runShard(work: ShardWork): Promise<ShardMessage> {
  const scenarios = work.scenarios.map((id) => {
    const scenario = SCENARIOS.find((s) => s.id === id);
    if (!scenario) throw new Error(`no scenario ${id}`);
    return scenario;
  });
  const flows = scenarios.flatMap((s) => flowsFor(s, work.t0));
  const cpuBefore = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  loopDelay.enable();
  const progress = setInterval(() => {
    const sends = flows.reduce((a, f) => a + f.log.sendAt.length, 0);
    send({ kind: 'progress', sends });
  }, PROGRESS_MS);
  try {
    await Promise.all(
      flows.map((flow) => {
        const url = `http://127.0.0.1:${work.port}/${flow.scenario.id}/${flow.key}`;
        return flow.run(url, work.t0, work.t0 + flow.scenario.durationS * 1000);
      }),
    );
  } finally {
    clearInterval(progress);
    loopDelay.disable();
  }
  const cpu = process.cpuUsage(cpuBefore);
  // The histogram holds whole sampling intervals: the delay is what exceeds the interval.
  const late = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_SAMPLE_MS);
  return {
    kind: 'done',
    flows: flows.map((f) => ({ scenario: f.scenario.id, key: f.key, log: f.log, order: f.order })),
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopDelayMs: {
      p50: late(loopDelay.percentile(50)),
      p99: late(loopDelay.percentile(99)),
      max: late(loopDelay.max),
    },
  };
}

function send(message: ShardMessage, then?: () => void): void {
  process.send?.(message, undefined, undefined, () => then?.());
}

// The parent gone (killed, or exited without its cleanup), or our own channel closed once the results are
// written: either way this shard's work is over.
process.on('disconnect', () => process.exit(0));

process.once('message', (work: ShardWork) => {
  runShard(work)
    .catch((err: unknown): ShardMessage => ({ kind: 'error', message: String((err as Error)?.stack ?? err) }))
    .then((message) => {
      // Closing the channel once the message is written lets the parent read it before the channel ends.
      send(message, () => process.disconnect?.());
    });
});
send({ kind: 'ready' });

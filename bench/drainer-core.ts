// Throughput ceiling of the drainer core alone: real clock, in-memory SQS FIFO model, an instant app.
// Run: npx tsx bench/drainer-core.ts [seconds=20] [groups=500] [window=64]
import { systemClock } from '../adapters/clock';
import { encode } from '../core/contract';
import { createDrainer } from '../core/drainer';
import type { DeliveryResult, DownstreamPort } from '../core/ports';
import { MemoryQueue, MemoryState, RecordingMetrics } from '../test/helpers/fakes';
import { QUEUE_SECRET, webhook } from '../test/helpers/queue';

const seconds = Number(process.argv[2] ?? 20);
const groups = Number(process.argv[3] ?? 500);
const maxWindow = Number(process.argv[4] ?? 64);

async function main(): Promise<void> {
  const queue = new MemoryQueue({ clock: systemClock });
  const state = new MemoryState();
  let answered = 0;
  const instant: DownstreamPort = {
    post: async (): Promise<DeliveryResult> => {
      answered++;
      return { kind: 'response', status: 200, headers: {}, snippet: '', rttMs: 0 };
    },
  };
  // Keep the queue topped up so the drainer never starves: 2 000 messages per refill.
  let next = 0;
  const refill = (): void => {
    while (queue.size < 20_000) {
      const i = next++;
      const { envelope, body } = webhook({ webhookId: `w${i}`, shop: `shop-${i % groups}.myshopify.com` });
      queue.send(encode(envelope, body, 'shop'));
    }
  };
  refill();
  const timer = setInterval(refill, 200);
  const t0 = Date.now();
  const drainer = createDrainer(
    { queue, state, downstream: instant, clock: systemClock, metrics: new RecordingMetrics() },
    {
      owner: 'bench',
      downstreamUrl: 'http://127.0.0.1:1',
      secrets: [QUEUE_SECRET],
      pacer: { floorPerSecond: 1, ceilingPerSecond: 1_000_000, maxWindow, initialRatePerSecond: 1_000 },
      maxAttempts: 10,
      maxRetryMs: 60_000,
      downstreamTimeoutMs: 1_000,
      stopAt: t0 + seconds * 1000,
      deadline: t0 + seconds * 1000 + 5_000,
      receiveWaitSeconds: 1,
    },
  );
  const run = drainer.run();
  // Measure the second half only: the pacer's startup ramp is not the ceiling.
  await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
  const a0 = answered;
  const c0 = process.cpuUsage();
  const w0 = Date.now();
  await new Promise((r) => setTimeout(r, (seconds * 1000) / 2 - 200));
  const cpu = process.cpuUsage(c0);
  const mid = drainer.status();
  const n = answered - a0;
  const wall = (Date.now() - w0) / 1000;
  await run;
  clearInterval(timer);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log('| groups | window | msgs/s | CPU µs/msg (core + fakes) | pacing rate | window |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(
    `| ${groups} | ${maxWindow} | ${Math.round(n / wall)} | ${((cpuMs * 1000) / n).toFixed(0)} | ${Math.round(mid.ratePerSecond)} | ${mid.window} |`,
  );
}

void main();

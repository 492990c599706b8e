// Drainer scenarios on the simulated clock: in-memory SQS FIFO model, in-memory state, scripted app.
import { encode } from '../../core/contract';
import { createDrainer, type DrainerOptions } from '../../core/drainer';
import {
  type AppScript,
  FakeApp,
  FakeClock,
  MemoryQueue,
  MemoryState,
  RecordingMetrics,
} from '../helpers/fakes';
import { QUEUE_SECRET, type WebhookSpec, webhook } from '../helpers/queue';

function harness(script?: AppScript, opts: Partial<DrainerOptions> = {}) {
  const clock = new FakeClock();
  const queue = new MemoryQueue({ clock });
  const state = new MemoryState();
  const app = new FakeApp(clock, script);
  const metrics = new RecordingMetrics();
  const t0 = clock.now();
  const options: DrainerOptions = {
    owner: 'run-1',
    downstreamUrl: 'https://app.example.com',
    secrets: [QUEUE_SECRET],
    pacer: { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 8, initialRatePerSecond: 20 },
    maxAttempts: 20,
    maxRetryMs: 600_000,
    downstreamTimeoutMs: 5_000,
    stopAt: t0 + 60_000,
    deadline: t0 + 70_000,
    receiveWaitSeconds: 1,
    ...opts,
  };
  const enqueue = (specs: readonly WebhookSpec[]) => {
    for (const s of specs) {
      const { envelope, body } = webhook(s);
      queue.send(encode(envelope, body, 'shop'));
    }
  };
  const drainer = () => createDrainer({ queue, state, downstream: app, clock, metrics }, options);
  return { clock, queue, state, app, metrics, options, enqueue, drainer };
}

describe('drainer', () => {
  it('delivers every message once when the app accepts everything', async () => {
    const h = harness();
    h.enqueue(
      Array.from({ length: 30 }, (_, i) => ({ webhookId: `w${i}`, shop: `s${i % 3}.myshopify.com` })),
    );
    const summary = await h.drainer().run();
    expect(summary.outcome).toBe('stopped');
    expect(h.app.requests.map((r) => r.webhookId).sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => `w${i}`).sort(),
    );
    expect(h.queue.size).toBe(0);
  });
});

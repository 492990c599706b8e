// Drainer on the simulated clock against an app that announces its rate limit in response headers.
import { encode } from '../../core/contract';
import { createDrainer } from '../../core/drainer';
import {
  type AppScript,
  FakeApp,
  FakeClock,
  MemoryQueue,
  MemoryState,
  RecordingMetrics,
} from '../helpers/fakes';
import { QUEUE_SECRET, webhook } from '../helpers/queue';

/** A drainer over `n` queued webhooks (10 shops) and a scripted app, all on one fake clock. */
function world(script: AppScript, n: number) {
  const clock = new FakeClock();
  const queue = new MemoryQueue({ clock, maxPerGroupPerReceive: 10 });
  const app = new FakeApp(clock, script);
  for (let i = 0; i < n; i += 1) {
    const { envelope, body } = webhook({ webhookId: `w${i}`, shop: `shop-${i % 10}.myshopify.com` });
    queue.send(encode(envelope, body, 'shop'));
  }
  const t0 = clock.now();
  const drainer = createDrainer(
    { queue, state: new MemoryState(), downstream: app, clock, metrics: new RecordingMetrics() },
    {
      owner: 'run-1',
      downstreamUrl: 'https://app.example.com',
      secrets: [QUEUE_SECRET],
      pacer: { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 8, initialRatePerSecond: 20 },
      maxAttempts: 50,
      maxRetryMs: 600_000,
      downstreamTimeoutMs: 2_000,
      stopAt: t0 + 120_000,
      deadline: t0 + 130_000,
      receiveWaitSeconds: 1,
      idleExitMs: 2_000,
    },
  );
  return { app, drainer };
}

const delivered = (app: FakeApp): number => app.answers.filter((a) => a.status === 200).length;

describe('drainer with announced rate limits', () => {
  it('sends nothing between an answer announcing remaining 0 and its reset, 2xx included', async () => {
    const { app, drainer } = world(
      (_r, n) =>
        n % 9 === 0
          ? { status: 200, headers: { ratelimit: '"default";r=0;t=2' }, rttMs: 15 }
          : { status: 200, headers: { ratelimit: '"default";r=5;t=2' }, rttMs: 15 },
      60,
    );

    await drainer.run();

    const exhausted = new Set(app.requests.filter((_r, i) => (i + 1) % 9 === 0));
    const waits = app.answers
      .filter((a) => exhausted.has(a.request))
      .map((a) => ({ from: a.at, to: a.at + 2_000 }));
    expect(waits.length).toBeGreaterThan(4);
    for (const r of app.requests) {
      for (const w of waits) expect(r.at > w.from && r.at < w.to).toBe(false);
    }
    expect(delivered(app)).toBe(60);
  });

  it('paces just under an announced quota instead of probing for it', async () => {
    const { app, drainer } = world(
      () => ({ status: 200, headers: { 'ratelimit-policy': '"q";q=10;w=1' }, rttMs: 5 }),
      80,
    );

    await drainer.run();

    // After the first answer, the rate is 9.7/s: 70 sends take at least 7 s, and no gap is much shorter.
    const at = app.requests.map((r) => r.at).slice(5);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    expect((at[at.length - 1] - at[0]) / gaps.length).toBeGreaterThanOrEqual(1000 / 10);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000 / 9.7 - 10);
    expect(delivered(app)).toBe(80);
  });
});

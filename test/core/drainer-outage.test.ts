/**
 * A long app outage, run by run as the Lambda schedule runs the drainer (one run a minute), against SQS's
 * receive limit: webhooks wait for the app for up to `maxRetryMinutes` in their groups' order, and neither an
 * app that is down for everyone nor SQS's own redrive (1000 receives) dead-letters them before that.
 */

import { DEFAULTS } from '../../core/config';
import { encode } from '../../core/contract';
import { createDrainer, type DrainerOptions } from '../../core/drainer';
import { QUEUE } from '../../core/resources';
import {
  type AppScript,
  FakeApp,
  FakeClock,
  MemoryQueue,
  MemoryRetries,
  MemoryState,
  RecordingMetrics,
} from '../helpers/fakes';
import { QUEUE_SECRET, webhook } from '../helpers/queue';

const HOUR = 3_600_000;
const SHOPS = ['a.myshopify.com', 'b.myshopify.com', 'c.myshopify.com'];

function setup(
  script: AppScript,
  perShop: number,
  maxAttempts: number = DEFAULTS.maxAttempts,
  maxRetryMinutes: number = DEFAULTS.maxRetryMinutes,
  shops: readonly string[] = SHOPS,
) {
  const clock = new FakeClock();
  const queue = new MemoryQueue({ clock, maxReceiveCount: QUEUE.maxReceiveCount });
  const state = new MemoryState();
  const retries = new MemoryRetries();
  const app = new FakeApp(clock, script);
  // The most times any message was received: SQS moves it to the DLQ itself past QUEUE.maxReceiveCount.
  let most = 0;
  const receive = queue.receive.bind(queue);
  queue.receive = async (...args) => {
    const got = await receive(...args);
    for (const m of got) most = Math.max(most, m.receiveCount);
    return got;
  };
  for (let i = 0; i < perShop; i++) {
    for (const [s, shop] of shops.entries()) {
      const { envelope, body } = webhook({ webhookId: `s${s}-${i}`, shop });
      queue.send(encode(envelope, body, 'shop'));
    }
  }
  const options = (owner: string, tick: number): DrainerOptions => ({
    owner,
    downstreamUrl: 'https://app.example.com',
    secrets: [QUEUE_SECRET],
    pacer: { floorPerSecond: 1, ceilingPerSecond: 50, maxWindow: 8 },
    maxAttempts,
    maxRetryMs: maxRetryMinutes * 60_000,
    downstreamTimeoutMs: 10_000,
    // As lambda/drainer.ts budgets a run started each minute.
    stopAt: tick + 45_000,
    deadline: tick + 57_000,
  });
  /** Runs the drainer once a minute for `hours`, or until the queue is empty. */
  const runFor = async (hours: number): Promise<void> => {
    const t0 = clock.now();
    for (let run = 0; run < Math.round(hours * 60) && queue.size > 0; run++) {
      const tick = t0 + run * 60_000;
      await clock.sleep(Math.max(0, tick - clock.now()));
      await createDrainer(
        { queue, state, downstream: app, clock, metrics: new RecordingMetrics(), retries },
        options(`run-${run}`, tick),
      ).run();
    }
  };
  return { clock, queue, app, runFor, maxReceives: () => most };
}

const delivered = (app: FakeApp): string[] =>
  app.answers.filter((a) => a.status === 200).map((a) => a.request.webhookId);

describe('drainer through a long app outage (one run a minute)', () => {
  it('holds every webhook through a 20-hour outage and delivers them in order once the app is back', async () => {
    let outageEnds = Number.POSITIVE_INFINITY;
    const h = setup((r) => (r.at < outageEnds ? { error: 'ECONNREFUSED' } : { status: 200 }), 4);
    outageEnds = h.clock.now() + 20 * HOUR;

    await h.runFor(22);

    // Nothing went to the DLQ: not as exhausted (the app was down for everyone, so no attempt blamed a
    // webhook), and not by SQS's redrive at 1000 receives (failing heads are released invisible for a while).
    expect(h.queue.dlq.map((d) => d.info?.reason ?? 'receive-limit')).toEqual([]);
    const ok = delivered(h.app);
    expect(ok).toHaveLength(12);
    for (const s of SHOPS.keys()) {
      expect(ok.filter((id) => id.startsWith(`s${s}-`))).toEqual([0, 1, 2, 3].map((i) => `s${s}-${i}`));
    }
    // Delivery resumed within a tenth of the outage, at most 5 minutes, plus a run's spacing.
    const firstAfter = Math.min(...h.app.answers.filter((a) => a.status === 200).map((a) => a.at));
    expect(firstAfter - outageEnds).toBeLessThanOrEqual(6 * 60_000);
    // The app was tried all through the outage (every hour), and no message came near SQS's receive limit.
    const start = h.app.requests[0]!.at;
    const hours = new Set(
      h.app.requests.filter((r) => r.at < outageEnds).map((r) => Math.floor((r.at - start) / HOUR)),
    );
    expect(hours.size).toBe(20);
    expect(h.maxReceives()).toBeLessThan(QUEUE.maxReceiveCount / 2);
  }, 60_000);

  it('stays under the receive limit through a 3-day outage when maxRetryMinutes allows 4 days', async () => {
    let outageEnds = Number.POSITIVE_INFINITY;
    const h = setup(
      (r) => (r.at < outageEnds ? { error: 'ECONNREFUSED' } : { status: 200 }),
      1,
      undefined,
      4 * 1440,
    );
    outageEnds = h.clock.now() + 72 * HOUR;

    await h.runFor(73);

    expect(h.queue.dlq).toEqual([]);
    expect(delivered(h.app)).toHaveLength(3);
    expect(h.maxReceives()).toBeLessThan(QUEUE.maxReceiveCount / 2);
  }, 120_000);

  it('dead-letters a group head that has failed for maxRetryMinutes, with the reason', async () => {
    const h = setup(() => ({ status: 503 }), 1);

    await h.runFor(DEFAULTS.maxRetryMinutes / 60 + 1);

    expect(h.queue.dlq.map((d) => d.info?.reason)).toEqual(['exhausted', 'exhausted', 'exhausted']);
    expect(h.queue.dlq.map((d) => d.info?.status)).toEqual([503, 503, 503]);
  }, 60_000);

  it('counts timeouts against a webhook while other webhooks are delivered (a poison message)', async () => {
    // s0-0 times out every time; the other shops' webhooks take 2 s each, so deliveries go on meanwhile.
    const h = setup(
      (r) => (r.webhookId === 's0-0' ? { timeout: true } : { status: 200, rttMs: 2_000 }),
      40,
      4,
    );

    await h.runFor(1);

    expect(h.queue.dlq.map((d) => [d.message.attributes.WebhookId?.StringValue, d.info?.reason])).toEqual([
      ['s0-0', 'exhausted'],
    ]);
    expect(h.queue.dlq[0]?.info?.attempts).toBe(4);
    // Its group moved on, in order.
    expect(delivered(h.app).filter((id) => id.startsWith('s0-'))).toEqual(
      Array.from({ length: 39 }, (_, i) => `s0-${i + 1}`),
    );
  }, 60_000);

  it('dead-letters after maxAttempts a webhook no request can be built from, with nothing else delivered', async () => {
    const h = setup(() => ({ error: 'UND_ERR_INVALID_ARG' }), 1, 4);

    await h.runFor(1);

    expect(h.queue.dlq.map((d) => [d.info?.reason, d.info?.attempts])).toEqual([
      ['exhausted', 4],
      ['exhausted', 4],
      ['exhausted', 4],
    ]);
  }, 60_000);

  it('stays under the receive limit through 20 hours of 503 with Retry-After: 60 across many groups', async () => {
    // Each run may try one webhook or none, so most of what it holds is never tried: those wait as the failing
    // ones do, or each would be received every minute and SQS would dead-letter them all at 1000 receives.
    let upAt = Number.POSITIVE_INFINITY;
    const shops = Array.from({ length: 15 }, (_, i) => `shop-${i}.myshopify.com`);
    const h = setup(
      (r) => (r.at < upAt ? { status: 503, headers: { 'retry-after': '60' } } : { status: 200 }),
      2,
      undefined,
      undefined,
      shops,
    );
    upAt = h.clock.now() + 20 * HOUR;

    await h.runFor(21);

    expect(h.queue.dlq.map((d) => d.info?.reason ?? 'receive-limit')).toEqual([]);
    const ok = delivered(h.app);
    expect(ok).toHaveLength(30);
    for (const s of shops.keys())
      expect(ok.filter((id) => id.startsWith(`s${s}-`))).toEqual([`s${s}-0`, `s${s}-1`]);
    expect(h.maxReceives()).toBeLessThan(QUEUE.maxReceiveCount / 2);
  }, 120_000);

  it('does not count the time the drainer was not running as time a webhook spent failing', async () => {
    // Failing with 500 for a few minutes, then no run for two days (paused, or broken): on the first run after,
    // the app is still warming up (503 for its first minute). A webhook 50 h past its first failure is not
    // dead-lettered for one app-wide failure: it failed for minutes, not for maxRetryMinutes (24 h).
    let phase: 'failing' | 'warming' = 'failing';
    let upAt = Number.POSITIVE_INFINITY;
    const h = setup(
      (r) => (phase === 'failing' ? { status: 500 } : r.at < upAt ? { status: 503 } : { status: 200 }),
      1,
    );

    await h.runFor(3 / 60);
    expect(h.app.requests.length).toBeGreaterThan(3);
    await h.clock.sleep(48 * HOUR);
    phase = 'warming';
    upAt = h.clock.now() + 60_000;
    await h.runFor(1);

    expect(h.queue.dlq).toEqual([]);
    expect(delivered(h.app)).toEqual(['s0-0', 's1-0', 's2-0']);
  }, 60_000);

  it('dead-letters a failing webhook before the queue would delete it for its age, whatever maxRetryMinutes', async () => {
    // Sent 13.5 days ago (its age, not its failures, is what SQS's 14-day retention counts), failing since.
    let upAt = Number.POSITIVE_INFINITY;
    const h = setup((r) => (r.at < upAt ? { status: 503 } : { status: 200 }), 1, undefined, 14 * 1440);
    await h.clock.sleep(13 * 24 * HOUR);
    upAt = h.clock.now() + 24 * HOUR;

    await h.runFor(24);

    // Dead-lettered, with the app's answer, 12 h before SQS's retention (14 days) would have removed them unseen.
    expect(h.queue.dlq.map((d) => [d.info?.reason, d.info?.status])).toEqual([
      ['exhausted', 503],
      ['exhausted', 503],
      ['exhausted', 503],
    ]);
    for (const d of h.queue.dlq) {
      const age = d.info!.failedAt - d.message.sentAt;
      expect(age).toBeGreaterThanOrEqual(13.5 * 24 * HOUR);
      expect(age).toBeLessThan(14 * 24 * HOUR - 11 * HOUR);
    }
  }, 60_000);

  it('delivers an old webhook after a passing 429, in order: the retention guard acts only on what it releases', async () => {
    // 13.6 days in the queue (the secret was unset, say), then the app is rate-limiting for a few seconds.
    let calm = Number.POSITIVE_INFINITY;
    const h = setup(
      (r) => (r.at < calm ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }),
      2,
    );
    await h.clock.sleep(13.6 * 24 * HOUR);
    calm = h.clock.now() + 5_000;

    await h.runFor(1 / 60);

    expect(h.queue.dlq).toEqual([]);
    for (const s of SHOPS.keys()) {
      expect(delivered(h.app).filter((id) => id.startsWith(`s${s}-`))).toEqual([`s${s}-0`, `s${s}-1`]);
    }
  }, 60_000);

  it('does not count an app-wide failure against a webhook when nothing else was delivered', async () => {
    // Every head gets 503 for 10 minutes: nothing can be delivered (the app is full or down for everyone).
    let upAt = Number.POSITIVE_INFINITY;
    const h = setup((r) => (r.at < upAt ? { status: 503 } : { status: 200 }), 3, 4);
    upAt = h.clock.now() + 10 * 60_000;

    await h.runFor(1);

    expect(h.queue.dlq).toEqual([]);
    expect(delivered(h.app)).toHaveLength(9);
    expect(h.app.requests.filter((r) => r.webhookId === 's0-0' && r.at < upAt).length).toBeGreaterThan(4);
  }, 60_000);
});

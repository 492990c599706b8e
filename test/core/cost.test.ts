// Unit tests for the cost model and `sluice cost`.

import { seeded } from '../../bench/pacing/random';
import { encode } from '../../core/contract';
import {
  awakeDrainerOf,
  CostInputError,
  type CostReport,
  DEFAULT_ASSUMPTIONS,
  estimateCost,
  idleDrainerOf,
} from '../../core/cost';
import { createDrainer } from '../../core/drainer';
import { PRICES, PRICES_AS_OF } from '../../core/prices';
import { SCHEDULE_PERIOD_MS, stopOffsetMs, TICK_MARGIN_MS } from '../../core/schedule';
import { type CliRun, sluice } from '../helpers/cli';
import { FakeApp, FakeClock, MemoryQueue, MemoryState, RecordingMetrics } from '../helpers/fakes';
import { QUEUE_SECRET, webhook } from '../helpers/queue';

const line = (r: ReturnType<typeof estimateCost>, service: string, item: RegExp) =>
  r.lines.find((l) => l.service === service && item.test(l.item));

describe('estimateCost', () => {
  it('itemises every service the stack uses and sums the lines into the totals', () => {
    const r = estimateCost();
    expect(new Set(r.lines.map((l) => l.service))).toEqual(
      new Set([
        'API Gateway HTTP API',
        'Lambda: authorizer',
        'SQS FIFO',
        'Lambda: drainer',
        'DynamoDB',
        'CloudWatch',
        'Secrets Manager',
        'S3 claim checks',
        'Data transfer',
        'EventBridge schedule',
      ]),
    );
    const per = r.lines.reduce((s, l) => s + l.perMillionUsd, 0);
    const fixed = r.lines.reduce((s, l) => s + l.monthlyFixedUsd, 0);
    expect(r.perMillionUsd).toBeCloseTo(per, 10);
    expect(r.monthlyFixedUsd).toBeCloseTo(fixed, 10);
    expect(r.monthlyTotalUsd).toBeCloseTo(fixed + per, 10);
  });

  it('prices the edge at $1.00 per million HTTP API requests and one FIFO send per webhook of a few KB', () => {
    const r = estimateCost({ avgBodyKb: 8 });
    expect(line(r, 'API Gateway HTTP API', /requests/)?.perMillionUsd).toBeCloseTo(1.0, 10);
    expect(line(r, 'SQS FIFO', /SendMessage/)?.perMillionUsd).toBeCloseTo(0.5, 10);
  });

  it('bills one SQS request per 64 KB chunk when bodies are large', () => {
    const r = estimateCost({ avgBodyKb: 200 });
    // 200 KB + ~1.5 KB of attributes = 4 chunks.
    expect(line(r, 'SQS FIFO', /SendMessage/)?.perMillionUsd).toBeCloseTo(4 * 0.5, 10);
    // A receive of one 101.5 KB message is 2 chunks, not 101.5 / 64 = 1.6.
    expect(line(estimateCost({ avgBodyKb: 100 }), 'SQS FIFO', /ReceiveMessage/)?.perMillionUsd).toBeCloseTo(
      2 * 0.5,
      10,
    );
    // Ten 9.5 KB messages a receive: 95 KB, 2 chunks for the ten.
    expect(line(estimateCost({ receiveBatch: 10 }), 'SQS FIFO', /ReceiveMessage/)?.perMillionUsd).toBeCloseTo(
      0.2 * 0.5,
      10,
    );
  });

  it('adds the verify Lambda and S3 only for the share of webhooks that takes the verified route', () => {
    const none = estimateCost();
    expect(none.lines.some((l) => l.service === 'Lambda: verify')).toBe(false);
    const half = estimateCost({ verifiedShare: 0.5, claimCheckShare: 0.1 });
    expect(line(half, 'Lambda: verify', /50%/)?.perMillionUsd).toBeGreaterThan(0.1);
    expect(line(half, 'Lambda: authorizer', /50%/)?.perMillionUsd).toBeCloseTo(
      line(none, 'Lambda: authorizer', /100%/)!.perMillionUsd / 2,
      10,
    );
    expect(line(half, 'S3 claim checks', /10%/)?.perMillionUsd).toBeCloseTo(
      1e5 * (PRICES.s3Put.usd + PRICES.s3Get.usd),
      10,
    );
  });

  it('counts an always-polling drainer as a fixed cost and busy time only when it is not always on', () => {
    // Polling all month, a run is billed until its stopAt (47 s of each minute) anyway; busy, it goes on through
    // the other 13 s (1 M webhooks at 20/s = 50,000 s, 13/60 of it, × 0.5 GB).
    const always = estimateCost({ drainerIdleHours: 730 });
    expect(line(always, 'Lambda: drainer', /busy/)?.perMillionUsd).toBeCloseTo(
      ((50_000 * 13) / 60) * 0.5 * PRICES.lambdaGbSecondArm.usd,
      8,
    );
    const onDemand = estimateCost({ drainerIdleHours: 10, deliveryRatePerSecond: 50, drainerMemoryMb: 1024 });
    // 1 M webhooks at 50/s = 20,000 s × 1 GB × the arm64 GB-s price.
    expect(line(onDemand, 'Lambda: drainer', /busy/)?.perMillionUsd).toBeCloseTo(
      20_000 * PRICES.lambdaGbSecondArm.usd,
      8,
    );
  });

  it('bills an idle drainer with an idle exit for the idle wait plus start-up, not the whole minute', () => {
    // A quiet month: no webhook keeps a run awake.
    const always = estimateCost({ webhooksPerMonth: 1 });
    const exit20 = estimateCost({ webhooksPerMonth: 1, idleExitSeconds: 20 });
    const gbMonth = (hours: number) => hours * 3600 * 0.5 * PRICES.lambdaGbSecondArm.usd;
    const invocations = 43_800 * PRICES.lambdaRequest.usd;
    // Without an idle exit an idle run ends when it stops taking work: 45 s after its tick (+2 s overhead).
    expect(idleDrainerOf(always.assumptions).billedHours).toBeCloseTo((730 * 47) / 60, 8);
    expect(line(always, 'Lambda: drainer', /runs of 45 \+ 2 s/)?.monthlyFixedUsd).toBeCloseTo(
      gbMonth((730 * 47) / 60) + invocations,
      8,
    );
    // 730 h × (20 s + 2 s overhead) / 60 s.
    expect(idleDrainerOf(exit20.assumptions).billedHours).toBeCloseTo((730 * 22) / 60, 8);
    expect(line(exit20, 'Lambda: drainer', /idle runs of 20 \+ 2 s/)?.monthlyFixedUsd).toBeCloseTo(
      gbMonth((730 * 22) / 60) + invocations,
      8,
    );
    // One empty poll per idle run instead of one per 20 s all hour; the state item is read and written less.
    expect(line(exit20, 'SQS FIFO', /idle long polls/)?.monthlyFixedUsd).toBeCloseTo(
      43_800 * PRICES.sqsFifoRequest.usd,
      10,
    );
    expect(line(exit20, 'DynamoDB', /state item/)?.monthlyFixedUsd).toBeCloseTo(
      (line(always, 'DynamoDB', /state item/)?.monthlyFixedUsd ?? 0) * (22 / 47),
      5,
    );
    expect(exit20.monthlyFixedUsd).toBeLessThan(always.monthlyFixedUsd - 7);
    expect(exit20.notes.join('\n')).toMatch(
      /730 h × \(20 s \+ 2 s start-up and shutdown\) \/ 60 s = 267\.7 h/,
    );
  });

  it('bills a run without an idle exit until it stops taking work: earlier with a longer downstream timeout', () => {
    const gbMonth = (hours: number) => hours * 3600 * 0.5 * PRICES.lambdaGbSecondArm.usd;
    const invocations = 43_800 * PRICES.lambdaRequest.usd;
    const t15 = estimateCost({ downstreamTimeoutMs: 15_000 });
    // 60 s − 3 s − 15 s − 2 s = 40 s after its tick (+2 s overhead), instead of 45 s with the default 10 s.
    expect(idleDrainerOf(t15.assumptions).billedHours).toBeCloseTo((730 * 42) / 60, 8);
    expect(line(t15, 'Lambda: drainer', /runs of 40 \+ 2 s/)?.monthlyFixedUsd).toBeCloseTo(
      gbMonth((730 * 42) / 60) + invocations,
      8,
    );
    expect(t15.notes.join('\n')).toMatch(
      /40 s after its tick \(60 s − 3 s − the downstream timeout of 15 s − 2 s\)/,
    );
    // The longest timeout allowed, 18 s, takes the longest wind-down, 20 s: the run stops 37 s after its tick.
    const t18 = estimateCost({ downstreamTimeoutMs: 18_000 });
    expect(idleDrainerOf(t18.assumptions).billedHours).toBeCloseTo((730 * 39) / 60, 8);
    expect(t18.notes.join('\n')).toMatch(
      /37 s after its tick \(60 s − 3 s − the downstream timeout of 18 s − 2 s\)/,
    );
    expect(() => estimateCost({ downstreamTimeoutMs: 30_000 })).toThrow(/from 100 to 18000/);
    // With an idle exit an idle run ends on its idle wait, whatever the timeout.
    expect(
      estimateCost({ webhooksPerMonth: 1, idleExitSeconds: 20, downstreamTimeoutMs: 15_000 }).monthlyFixedUsd,
    ).toBeCloseTo(estimateCost({ webhooksPerMonth: 1, idleExitSeconds: 20 }).monthlyFixedUsd, 10);
  });

  it('bills the runs that webhooks spread over the month keep awake: an idle exit then saves little', () => {
    const gbHour = 3600 * 0.5 * PRICES.lambdaGbSecondArm.usd;
    // A million a month is 0.38/s: 98% of runs have a webhook in their last 10 s and go on through the minute.
    const always = estimateCost();
    const awake = awakeDrainerOf(always.assumptions);
    expect(awake.extendedShare).toBeCloseTo(1 - Math.exp(-3.805), 3);
    expect(awake.billedHours).toBeCloseTo((730 * (47 + awake.extendedShare * 13)) / 60, 6);
    expect(line(always, 'Lambda: drainer', /kept awake/)?.monthlyFixedUsd).toBeCloseTo(
      (awake.billedHours - idleDrainerOf(always.assumptions).billedHours) * gbHour -
        (line(always, 'Lambda: drainer', /busy/)?.perMillionUsd ?? 0),
      6,
    );
    // The runs seldom find 20 quiet seconds: the idle exit saves under a dollar a month…
    const exit20 = estimateCost({ idleExitSeconds: 20 });
    expect(Math.abs(exit20.monthlyTotalUsd - always.monthlyTotalUsd)).toBeLessThan(1);
    // …where at 100,000 a month (one every 26 s) it saves a third of the drainer.
    const quieter = estimateCost({ webhooksPerMonth: 100_000 });
    const quieterExit = estimateCost({ webhooksPerMonth: 100_000, idleExitSeconds: 20 });
    expect(quieter.monthlyTotalUsd - quieterExit.monthlyTotalUsd).toBeGreaterThan(4);
  });

  it('bills busy time on top of the idle runs once the drainer no longer runs all minute', () => {
    const exit20 = estimateCost({ idleExitSeconds: 20, deliveryRatePerSecond: 50 });
    // 1 M webhooks at 50/s = 20,000 s × 0.5 GB.
    expect(line(exit20, 'Lambda: drainer', /busy/)?.perMillionUsd).toBeCloseTo(
      20_000 * 0.5 * PRICES.lambdaGbSecondArm.usd,
      8,
    );
  });

  it('bills an idle exit longer than a run takes work as no idle exit', () => {
    // 50 s of quiet never come in a run that stops taking work 45 s after its tick.
    const idle50 = idleDrainerOf({ ...DEFAULT_ASSUMPTIONS, idleExitSeconds: 50 });
    expect(idle50.billedHours).toBeCloseTo(idleDrainerOf(DEFAULT_ASSUMPTIONS).billedHours, 8);
    expect(
      awakeDrainerOf({ ...DEFAULT_ASSUMPTIONS, webhooksPerMonth: 1, idleExitSeconds: 50 }).billedHours,
    ).toBeCloseTo(idle50.billedHours, 2);
  });

  it('counts the polls of a long idle exit: a full 20 s poll, then one cut to the idle time', () => {
    expect(idleDrainerOf({ ...DEFAULT_ASSUMPTIONS, idleExitSeconds: 30 }).receives).toBe(43_800 * 2);
    expect(idleDrainerOf({ ...DEFAULT_ASSUMPTIONS, idleExitSeconds: 5 }).receives).toBe(43_800);
  });

  it('prices x86_64 above arm64', () => {
    expect(estimateCost({ architecture: 'x86_64' }).monthlyFixedUsd).toBeGreaterThan(
      estimateCost({ architecture: 'arm64' }).monthlyFixedUsd,
    );
  });

  it('compares with the EventBridge partner source at $1.20 per million plus the same data transfer', () => {
    const eb = estimateCost({ egressPerGbUsd: 0 }).alternatives.find((a) => /EventBridge/.test(a.name));
    expect(eb?.perMillionUsd).toBeCloseTo(1.2, 10);
  });

  // Every webhook goes to the app once: 9.5 KB a webhook (8 KB body, ~1.5 KB of headers) at $0.09/GB.
  it('prices sending each webhook to the app, and drops it for an app priced at 0 per GB', () => {
    const r = estimateCost();
    const egress = (1e6 * 9.5 * 1024 * 0.09) / 1024 ** 3;
    expect(line(r, 'Data transfer', /to your app/)?.perMillionUsd).toBeCloseTo(egress, 10);
    const local = estimateCost({ egressPerGbUsd: 0 });
    expect(r.perMillionUsd - local.perMillionUsd).toBeCloseTo(egress, 10);
    // The alternatives send the same bytes.
    expect(r.alternatives[0]!.perMillionUsd - local.alternatives[0]!.perMillionUsd).toBeCloseTo(egress, 10);
  });

  it('names its prices, date and assumptions', () => {
    const r = estimateCost();
    expect(r.pricesAsOf).toBe(PRICES_AS_OF);
    expect(r.region).toBe('us-east-1');
    expect(r.notes.join('\n')).toMatch(/free tiers ignored/);
    for (const p of Object.values(PRICES)) expect(p.source).toMatch(/^https:\/\/aws\.amazon\.com\//);
  });

  it('rejects an assumption outside its range with the field, value and allowed range', () => {
    expect(() => estimateCost({ verifiedShare: 1.5 })).toThrow(CostInputError);
    expect(() => estimateCost({ verifiedShare: 1.5 })).toThrow(
      /verifiedShare = 1\.5; allowed: a number from 0 to 1/,
    );
    expect(() => estimateCost({ verifiedShare: 0.1, claimCheckShare: 0.2 })).toThrow(/at most verifiedShare/);
    expect(() => estimateCost({ receiveBatch: 11 })).toThrow(/receiveBatch/);
    expect(() => estimateCost({ receiveBatch: 2.5 })).toThrow(/receiveBatch = 2\.5; allowed: a whole number/);
    // 100 M a month at 20/s would take 1,389 h: a month has 730.
    expect(() => estimateCost({ webhooksPerMonth: 1e8, deliveryRatePerSecond: 20 })).toThrow(
      /webhooksPerMonth = 100000000; allowed: at most 52,560,000: .* raise the delivery rate to 38\.06\/s/,
    );
    expect(() => estimateCost({ webhooksPerMonth: 5e7, deliveryRatePerSecond: 20 })).not.toThrow();
    expect(() => estimateCost({ idleExitSeconds: 51 })).toThrow(
      /idleExitSeconds = 51; allowed: a number from 0 to 50/,
    );
    expect(() => estimateCost({ downstreamTimeoutMs: 99 })).toThrow(
      /downstreamTimeoutMs = 99; allowed: a number from 100 to 18000/,
    );
  });

  it('keeps the defaults in range', () => {
    expect(() => estimateCost(DEFAULT_ASSUMPTIONS)).not.toThrow();
  });
});

describe('sluice cost', () => {
  it('prints the itemised table, the assumptions and the alternatives', async () => {
    const run = await sluice(['cost', '--webhooks-per-month', '5000000']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SERVICE\s+ITEM\s+PER MILLION\s+PER MONTH/);
    expect(run.stdout).toMatch(/At 5,000,000 webhooks\/month/);
    expect(run.stdout).toMatch(/Assumptions:/);
    expect(run.stdout).toMatch(/EventBridge partner source → API destination\s+\$2\.02/);
  });

  it('prints JSON that parses, with the options applied', async () => {
    const run = await sluice(['cost', '--avg-body-kb', '100', '--verified-share', '0.2', '--x86', '--json']);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.assumptions).toMatchObject({ avgBodyKb: 100, verifiedShare: 0.2, architecture: 'x86_64' });
    expect(r.perMillionUsd).toBeGreaterThan(0);
  });

  it('prints the price table with sources', async () => {
    const run = await sluice(['cost', '--prices']);
    // Plain decimals, not 5e-7 (nor 2.0000000000000002e-7 for a price made by a multiplication).
    expect(run.stdout).toMatch(/sqsFifoRequest\s+0\.0000005\s+FIFO request/);
    expect(run.stdout).toMatch(/lambdaRequest\s+0\.0000002\s+invocation/);
  });

  it('applies --idle-exit-seconds to the fixed cost and rejects a value the config would not allow', async () => {
    const base = JSON.parse((await sluice(['cost', '--json'])).stdout);
    const run = await sluice(['cost', '--idle-exit-seconds', '20', '--json']);
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.assumptions.idleExitSeconds).toBe(20);
    expect(r.monthlyFixedUsd).toBeLessThan(base.monthlyFixedUsd);
    const bad = await sluice(['cost', '--idle-exit-seconds', '2.5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--idle-exit-seconds <n>.*invalid.*an integer from 0 to 50/);
  });

  it('applies --downstream-timeout-ms to the run without an idle exit and rejects a value the config would not allow', async () => {
    const report = (run: CliRun): CostReport => JSON.parse(run.stdout) as CostReport;
    const drainerFixed = (r: CostReport): number =>
      r.lines.find((l) => l.service === 'Lambda: drainer' && /runs of/.test(l.item))?.monthlyFixedUsd ?? 0;
    const base = report(await sluice(['cost', '--json']));
    expect(base.assumptions.downstreamTimeoutMs).toBe(10_000);
    const run = await sluice(['cost', '--downstream-timeout-ms', '15000', '--json']);
    expect(run.code).toBe(0);
    const r = report(run);
    expect(r.assumptions.downstreamTimeoutMs).toBe(15_000);
    // A longer timeout stops each idle run earlier (40 s after its tick instead of 45 s): less fixed drainer time.
    expect(r.lines.some((l) => /runs of 40 \+ 2 s/.test(l.item))).toBe(true);
    expect(drainerFixed(r)).toBeGreaterThan(0);
    expect(drainerFixed(r)).toBeLessThan(drainerFixed(base));
    expect(r.monthlyFixedUsd).toBeLessThan(base.monthlyFixedUsd);
    const text = await sluice(['cost', '--downstream-timeout-ms', '15000']);
    expect(text.stdout).toMatch(/the downstream timeout of 15 s/);
    for (const value of ['99', '18001', '1500.5', 'slow']) {
      const bad = await sluice(['cost', '--downstream-timeout-ms', value]);
      expect({ value, code: bad.code }).toEqual({ value, code: 2 });
      expect(bad.stderr).toMatch(/--downstream-timeout-ms <n>.*invalid.*an integer from 100 to 18000/);
    }
  });

  it('exits 2 on a share above 1', async () => {
    const run = await sluice(['cost', '--verified-share', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--verified-share <s>.*invalid.*from 0 to 1/);
  });
});

describe('the model against what the drainer does', () => {
  it('charges the SQS calls the drainer makes per webhook in a trickle (a million a month is 0.4/s)', async () => {
    const clock = new FakeClock();
    const queue = new MemoryQueue({ clock });
    const app = new FakeApp(clock, () => ({ status: 200, rttMs: 80 }));
    const t0 = clock.now();
    const count = 16;
    const feeding = (async () => {
      for (let i = 0; i < count; i++) {
        await clock.sleep(2_500);
        const { envelope, body } = webhook({ webhookId: `t${i}`, shop: `s${i % 3}.myshopify.com` });
        queue.send(encode(envelope, body, 'shop'));
      }
    })();

    await createDrainer(
      { queue, state: new MemoryState(), downstream: app, clock, metrics: new RecordingMetrics() },
      {
        owner: 'cost',
        downstreamUrl: 'https://app.example.com',
        secrets: [QUEUE_SECRET],
        pacer: { floorPerSecond: 1, ceilingPerSecond: 50, maxWindow: 8 },
        maxAttempts: 100,
        maxRetryMs: 86_400_000,
        downstreamTimeoutMs: 10_000,
        stopAt: t0 + 45_000,
        deadline: t0 + 57_000,
      },
    ).run();
    await feeding;

    const delivered = app.answers.filter((a) => a.status === 200).length;
    expect(delivered).toBe(count);
    const a = DEFAULT_ASSUMPTIONS;
    // One delete per webhook, as charged (each follows its own delivered record).
    expect(queue.calls.deleteMessages / delivered).toBeCloseTo(a.deletesPerWebhook, 1);
    // A receive per webhook, as charged, besides the idle long polls charged on their own line (3 a run).
    expect(queue.calls.receive).toBeGreaterThanOrEqual(delivered / a.receiveBatch);
    expect(queue.calls.receive).toBeLessThanOrEqual(delivered / a.receiveBatch + 3);
  });

  /**
   * Webhooks arriving at random (a Poisson stream of `perSecond`) for `minutes`, with the schedule as deployed:
   * a run each minute tick the function is free for, budgeted and extended as lambda/drainer.ts does. Returns
   * the drainer's billed seconds: the runs' lengths plus the model's start-up and shutdown per run.
   */
  async function billedSeconds(perSecond: number, idleExitSeconds: number, minutes: number): Promise<number> {
    const clock = new FakeClock();
    const queue = new MemoryQueue({ clock });
    const state = new MemoryState();
    const app = new FakeApp(clock, () => ({ status: 200, rttMs: 80 }));
    const random = seeded(7);
    const t0 = clock.now();
    const end = t0 + minutes * SCHEDULE_PERIOD_MS;
    let sent = 0;
    const feeding = (async () => {
      for (;;) {
        await clock.sleep(-Math.log(1 - random()) * (1000 / perSecond));
        if (clock.now() >= end) return;
        const { envelope, body } = webhook({ webhookId: `p${sent}`, shop: `s${sent % 5}.myshopify.com` });
        queue.send(encode(envelope, body, 'shop'));
        sent++;
      }
    })();
    let seconds = 0;
    for (let k = 0; k < minutes; k++) {
      const tick = t0 + k * SCHEDULE_PERIOD_MS;
      if (clock.now() > tick) continue; // throttled: the run before is still going (reserved concurrency 1)
      await clock.sleep(tick - clock.now());
      await createDrainer(
        { queue, state, downstream: app, clock, metrics: new RecordingMetrics() },
        {
          owner: `run-${k}`,
          downstreamUrl: 'https://app.example.com',
          secrets: [QUEUE_SECRET],
          pacer: { floorPerSecond: 1, ceilingPerSecond: 50, maxWindow: 8 },
          maxAttempts: 100,
          maxRetryMs: 86_400_000,
          downstreamTimeoutMs: DEFAULT_ASSUMPTIONS.downstreamTimeoutMs,
          stopAt: tick + stopOffsetMs(DEFAULT_ASSUMPTIONS.downstreamTimeoutMs),
          deadline: tick + SCHEDULE_PERIOD_MS - TICK_MARGIN_MS,
          // As lambda/drainer.ts configures an idle exit: polls no longer than the idle wait.
          ...(idleExitSeconds > 0
            ? { idleExitMs: idleExitSeconds * 1000, receiveWaitSeconds: Math.min(20, idleExitSeconds) }
            : {}),
          extension: { stepMs: SCHEDULE_PERIOD_MS, latestDeadline: tick + 15 * SCHEDULE_PERIOD_MS - 5_000 },
        },
      ).run();
      seconds += (clock.now() - tick) / 1000 + DEFAULT_ASSUMPTIONS.idleRunOverheadSeconds;
    }
    await feeding;
    return seconds;
  }

  // The model once took the month's webhooks to come in bursts only, and billed 79% of the month (38% with an
  // idle exit) where a million webhooks spread over it keep the drainer on nearly all the time.
  it.each([
    [0.38, 0],
    [0.38, 20],
    [0.03, 20],
    // Where runs end either way: some at a quiet spell, some at their stop.
    [0.08, 20],
    [0.1, 20],
    [0.2, 10],
  ])(
    'bills the drainer time of webhooks arriving at random at %s/s (idle exit %s s) as the drainer runs it',
    async (perSecond, idleExitSeconds) => {
      const minutes = 300;
      const measured = await billedSeconds(perSecond, idleExitSeconds, minutes);
      const modelled =
        awakeDrainerOf({
          ...DEFAULT_ASSUMPTIONS,
          webhooksPerMonth: perSecond * 730 * 3600,
          drainerIdleHours: minutes / 60,
          idleExitSeconds,
        }).billedHours * 3600;
      expect(modelled / measured).toBeGreaterThan(0.93);
      expect(modelled / measured).toBeLessThan(1.07);
    },
    60_000,
  );
});

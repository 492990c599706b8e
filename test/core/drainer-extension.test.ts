/**
 * A run that is delivering through a backlog keeps going past its budget a minute at a time (`extension`), as the
 * Lambda handler configures it, instead of leaving the app idle for each minute's wind-down; an idle, paused or
 * failing run ends on its budget as before.
 */

import { encode } from '../../core/contract';
import { createDrainer, type DrainerOptions } from '../../core/drainer';
import { METRICS } from '../../core/resources';
import { SCHEDULE_PERIOD_MS, stopOffsetMs, TICK_MARGIN_MS } from '../../core/schedule';
import {
  type AppScript,
  FakeApp,
  FakeClock,
  MemoryQueue,
  MemoryState,
  RecordingMetrics,
} from '../helpers/fakes';
import { QUEUE_SECRET, webhook } from '../helpers/queue';

const MINUTE = SCHEDULE_PERIOD_MS;
/** The pacer's ceiling: the app is never the limit, so a minute delivers at most this × 60. */
const CEILING = 20;

function setup(backlog: number, script?: AppScript) {
  const clock = new FakeClock();
  const queue = new MemoryQueue({ clock });
  const state = new MemoryState();
  const app = new FakeApp(clock, script);
  for (let i = 0; i < backlog; i++) {
    const { envelope, body } = webhook({ webhookId: `w-${i}`, shop: `shop-${i % 40}.myshopify.com` });
    queue.send(encode(envelope, body, 'shop'));
  }
  const options = (
    owner: string,
    tick: number,
    extended: boolean,
    timeoutMs = 15 * MINUTE,
  ): DrainerOptions => ({
    owner,
    downstreamUrl: 'https://app.example.com',
    secrets: [QUEUE_SECRET],
    pacer: { floorPerSecond: 1, ceilingPerSecond: CEILING, maxWindow: 8, initialRatePerSecond: CEILING },
    maxAttempts: 100,
    maxRetryMs: 24 * 60 * MINUTE,
    downstreamTimeoutMs: 10_000,
    // As lambda/drainer.ts budgets a run started at its tick.
    stopAt: tick + stopOffsetMs(10_000),
    deadline: tick + MINUTE - TICK_MARGIN_MS,
    ...(extended ? { extension: { stepMs: MINUTE, latestDeadline: tick + timeoutMs - 5_000 } } : {}),
  });
  /**
   * The schedule: a run at each minute tick the function is free for (reserved concurrency 1: a tick that
   * finds the last run still going is throttled, and dropped), for `minutes`.
   */
  const schedule = async (minutes: number, extended: boolean): Promise<number[]> => {
    const t0 = clock.now();
    const runEnds: number[] = [];
    for (let k = 0; k < minutes; k++) {
      const tick = t0 + k * MINUTE;
      if (clock.now() > tick) continue; // throttled: the run before is still going
      await clock.sleep(tick - clock.now());
      await createDrainer(
        { queue, state, downstream: app, clock, metrics: new RecordingMetrics() },
        options(`run-${k}`, tick, extended),
      ).run();
      runEnds.push(clock.now() - t0);
    }
    return runEnds;
  };
  /** One extended run started now, as the Lambda budgets it; resolves with how long it ran, ms. */
  const runOnce = async (timeoutMs = 15 * MINUTE, metrics = new RecordingMetrics()): Promise<number> => {
    const start = clock.now();
    await createDrainer(
      { queue, state: new MemoryState(), downstream: app, clock, metrics },
      options('run', start, true, timeoutMs),
    ).run();
    return clock.now() - start;
  };
  const t0 = clock.now();
  /** Webhooks delivered in the first `ms` since setup. */
  const deliveredIn = (ms: number) => app.answers.filter((a) => a.status === 200 && a.at - t0 <= ms).length;
  return { clock, queue, app, schedule, runOnce, deliveredIn };
}

describe('drainer budget extension while busy', () => {
  it('delivers through a backlog with the app busy nearly all the time, not three quarters of it', async () => {
    const without = setup(20_000);
    await without.schedule(10, false);
    const extended = setup(20_000);
    const runEnds = await extended.schedule(20, true);

    const capacity = CEILING * 10 * 60;
    // Each minute's run stops taking work 45 s after its tick, then the app waits for the next tick.
    expect(without.deliveredIn(10 * MINUTE) / capacity).toBeLessThan(0.8);
    expect(extended.deliveredIn(10 * MINUTE) / capacity).toBeGreaterThan(0.95);
    // One run went on while busy (the ticks meanwhile throttled), up to the function's timeout, and every run
    // returned by 3 s before a tick, so the tick after it starts the next one on time.
    expect(runEnds[0]).toBeGreaterThan(13 * MINUTE);
    for (const end of runEnds) expect(end % MINUTE).toBeLessThanOrEqual(MINUTE - TICK_MARGIN_MS);
    expect(extended.queue.size).toBe(0);
  }, 60_000);

  it('counts one heartbeat a minute (DrainerRuns) through a long run, as minute-long runs would', async () => {
    const h = setup(20_000);
    const t0 = h.clock.now();
    const metrics = new RecordingMetrics();
    const beats: number[] = [];
    const add = metrics.add.bind(metrics);
    metrics.add = (name, unit, value, dimensions) => {
      if (name === METRICS.drainerRuns) beats.push(h.clock.now());
      add(name, unit, value, dimensions);
    };

    const ranMinutes = Math.ceil((await h.runOnce(undefined, metrics)) / MINUTE);
    expect(ranMinutes).toBeGreaterThan(10);
    // Per CloudWatch minute (from the tick), as the dashboard sums them: one each, none missing.
    const perMinute = new Array<number>(ranMinutes).fill(0);
    for (const at of beats) perMinute[Math.floor((at - t0) / MINUTE)]! += 1;
    expect(perMinute).toEqual(new Array<number>(ranMinutes).fill(1));
  }, 60_000);

  it('never runs past the latest deadline the function timeout allows', async () => {
    const h = setup(20_000);
    const ranMs = await h.runOnce(3 * MINUTE);

    // Deadlines at 57 s and 117 s fit under 3 min − 5 s; 177 s does not.
    expect(ranMs).toBeLessThanOrEqual(2 * MINUTE - TICK_MARGIN_MS);
    expect(ranMs).toBeGreaterThan(MINUTE + 40_000);
  }, 60_000);

  it('ends an idle run on its budget', async () => {
    const h = setup(0);
    expect(await h.runOnce()).toBeLessThanOrEqual(MINUTE - TICK_MARGIN_MS);
  }, 60_000);

  it('ends a run on its budget while the app fails for everyone, releasing what it holds as before', async () => {
    const h = setup(200, () => ({ status: 503 }));
    expect(await h.runOnce()).toBeLessThanOrEqual(MINUTE - TICK_MARGIN_MS);
    expect(h.queue.size).toBe(200);
  }, 60_000);
});

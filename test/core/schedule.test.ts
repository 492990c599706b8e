// The run budget shared by the drainer Lambda and the cost model.
import { MAX_WIND_DOWN_MS, SCHEDULE_PERIOD_MS, stopOffsetMs, windDownMs } from '../../core/schedule';
import { budgetOf } from '../../lambda/drainer';

describe('schedule', () => {
  it('stops taking work one downstream timeout + 2 s before the end, 3 s ahead of the next tick', () => {
    expect(stopOffsetMs(10_000)).toBe(45_000);
    expect(stopOffsetMs(1_000)).toBe(54_000);
    // The wind-down is capped, so a long downstream timeout does not eat the whole minute.
    expect(windDownMs(60_000)).toBe(MAX_WIND_DOWN_MS);
    expect(stopOffsetMs(60_000)).toBe(SCHEDULE_PERIOD_MS - 3_000 - MAX_WIND_DOWN_MS);
  });

  it('is what the Lambda budget uses: a run started at its tick stops at stopOffsetMs', () => {
    const tick = Date.parse('2026-11-25T14:00:00Z');
    for (const timeout of [1_000, 10_000, 30_000]) {
      const b = budgetOf('2026-11-25T14:00:00Z', tick + 200, 90_000, timeout);
      expect(b.stopAt - tick).toBe(stopOffsetMs(timeout));
    }
  });
});

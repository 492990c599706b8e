// How busy the rest of the machine is around a pacing run: the arithmetic, and the wait for an idle machine.
import { IDLE_MAX_CORES, machineBusyMs, otherCores, ownCpuMs, waitForIdle } from '../../bench/pacing/machine';

describe('otherCores', () => {
  it("is the machine's busy time less the benchmark's own, per wall-clock ms", () => {
    // 2 cores over 10 s: 12 s busy in all, 9 s of it the harness and the simulator.
    expect(otherCores(12_000, 9_000, 10_000)).toBeCloseTo(0.3);
    // The kernel's counters tick coarser than the processes': a slightly negative difference is none.
    expect(otherCores(8_990, 9_000, 10_000)).toBe(0);
  });

  it('says unknown (NaN) when the own CPU time is unknown, and refuses a wall time of zero', () => {
    expect(otherCores(12_000, Number.NaN, 10_000)).toBeNaN();
    expect(() => otherCores(12_000, 9_000, 0)).toThrow(/wall time must be positive, got 0/);
  });

  it("sees this process's own CPU time in the machine's busy time", () => {
    const machine0 = machineBusyMs();
    const own0 = ownCpuMs();
    const t0 = performance.now();
    let x = 0;
    // ~200 ms of CPU, however busy the machine (bounded in wall time).
    while (ownCpuMs() - own0 < 200 && performance.now() - t0 < 10_000) x += Math.sqrt(x + 1);
    const own = ownCpuMs() - own0;
    expect(own).toBeGreaterThanOrEqual(200);
    // The per-core counters tick at 10 ms: the machine saw at least most of what this process used.
    expect(machineBusyMs() - machine0).toBeGreaterThan(0.8 * own);
  });
});

describe('waitForIdle', () => {
  it('returns the first sample under the threshold', async () => {
    const samples = [0.9, 0.6, 0.1, 0.05];
    const sample = jest.fn(async () => samples.shift() ?? 0);
    await expect(waitForIdle(60, sample)).resolves.toEqual({ cores: 0.1, idle: true });
    expect(sample).toHaveBeenCalledTimes(3);
  });

  it('takes one sample without a wait, and says busy when it is over the threshold', async () => {
    const sample = jest.fn(async () => IDLE_MAX_CORES + 0.5);
    await expect(waitForIdle(0, sample)).resolves.toEqual({ cores: IDLE_MAX_CORES + 0.5, idle: false });
    expect(sample).toHaveBeenCalledTimes(1);
  });

  it('gives up once the wait is over', async () => {
    // Each sample takes 20 ms of a clock the test keeps: samples end at 20, 40 and 60 ms, past the 50 ms wait.
    let t = 0;
    const sample = jest.fn(async () => {
      t += 20;
      return 1.5;
    });
    await expect(waitForIdle(0.05, sample, () => t)).resolves.toEqual({ cores: 1.5, idle: false });
    expect(sample).toHaveBeenCalledTimes(3);
  });
});

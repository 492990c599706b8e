// What else runs on the machine beside the pacing benchmark. Every Sluice flow's round trips include the
// harness's own delays, and other processes' CPU lengthens them: beside the test suite (load 1.2–2.6) a window
// that cannot queue read 1.06–1.11× the service time, against 1.00–1.02× on an idle machine (BENCHMARKS.md).
// So a run says how busy the rest of the machine kept its cores, and can wait for it to be idle first.
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** Above this many cores kept busy by other processes a run's round trips read high: the run warns. */
export const IDLE_MAX_CORES = 0.25;
/** Length of the sample taken before a run, ms. */
const SAMPLE_MS = 3_000;

/** CPU time all cores have spent busy so far, ms (idle and I/O wait excluded). */
export function machineBusyMs(): number {
  return cpus().reduce((sum, c) => sum + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
}

/** This process's CPU time so far, ms. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Cores kept busy by other processes over `wallMs`: the machine's busy time less the benchmark's own
 * (`ownMs`, its processes' CPU time over the same span). Never negative: the kernel's per-core counters tick
 * at 10 ms, the processes' at 1 µs.
 */
export function otherCores(machineMs: number, ownMs: number, wallMs: number): number {
  if (!(wallMs > 0)) throw new Error(`otherCores: wall time must be positive, got ${wallMs}`);
  return Math.max(0, (machineMs - ownMs) / wallMs);
}

/** Cores other processes keep busy now, sampled over `ms` while this process waits. */
export async function sampleOtherCores(ms = SAMPLE_MS): Promise<number> {
  const machine0 = machineBusyMs();
  const own0 = ownCpuMs();
  const t0 = performance.now();
  await sleep(ms);
  return otherCores(machineBusyMs() - machine0, ownCpuMs() - own0, performance.now() - t0);
}

/**
 * Waits until other processes keep fewer than IDLE_MAX_CORES busy, for at most `waitS` seconds (0: one sample).
 * Resolves with the last sample and whether the machine was idle then.
 */
export async function waitForIdle(
  waitS: number,
  sample: () => Promise<number> = sampleOtherCores,
  now: () => number = Date.now,
): Promise<{ cores: number; idle: boolean }> {
  const deadline = now() + waitS * 1000;
  for (;;) {
    const cores = await sample();
    if (cores < IDLE_MAX_CORES) return { cores, idle: true };
    if (now() >= deadline) return { cores, idle: false };
  }
}

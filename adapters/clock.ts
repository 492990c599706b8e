/** The system clock for the drainer core: wall-clock time and a sleep that an AbortSignal cuts short. */
import type { Clock } from '../core/ports';

/**
 * Resolves after `ms`, or at once when `signal` aborts (never rejects: the core checks the signal itself
 * after waking, so an abort is a normal way out of a wait, not an error).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The real clock: `Date.now()` and timer-based sleeps. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep,
};

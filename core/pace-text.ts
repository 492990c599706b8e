// The pacer's explanation of its pace (explainPace) in words: `sluice status` and local mode's status line.
import { formatAge } from './format';
import type { PaceExplanation } from './pacer';

/** A time still to come: `under a second`, `4 s`, `3 min`. */
const within = (ms: number): string => (ms < 1_000 ? 'under a second' : formatAge(ms));

const rate = (r: number): string => `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}/s`;

/** What sets the rate, for `sluice status` (one clause, no trailing period). */
export function describeRate(e: PaceExplanation): string {
  const learned =
    e.learnedLimitPerSecond !== undefined && e.lastCutMsAgo !== undefined
      ? `${rate(e.learnedLimitPerSecond)}, last overload ${formatAge(e.lastCutMsAgo)} ago`
      : undefined;
  switch (e.rateBound) {
    case 'retry-after':
      return (e.pauseLeftMs ?? 0) > 0
        ? `your app's Retry-After (${within(e.pauseLeftMs ?? 0)} left)`
        : "your app's Retry-After (over by now)";
    case 'outage':
      return 'your app keeps failing (overloads or timeouts in a row): the rate drops towards the floor until it answers, then climbs straight back';
    case 'ceiling':
      return 'the rate ceiling (configuration or sluice rate --ceiling)';
    case 'floor':
      return 'the rate floor: the pacer would go slower (configuration or sluice rate --floor)';
    case 'quota':
      return `the quota your app announces in its rate-limit headers (${rate(e.quotaPerSecond ?? e.ratePerSecond)})`;
    case 'startup':
      return 'start-up: the rate doubles until your app first pushes back';
    case 'learned': {
      const next = e.probeInMs !== undefined ? `; next probe above it in ${within(e.probeInMs)}` : '';
      return `the limit learned from your app's 429/5xx/timeouts (${learned})${next}`;
    }
    case 'probing':
      return `probing above the limit learned from your app's 429/5xx/timeouts (${learned})`;
    case 'answers':
      return 'what your app answers: the window below, or your app’s speed, holds the rate';
  }
}

/** What sets the window, for `sluice status` (one clause, no trailing period). */
export function describeWindow(e: PaceExplanation): string {
  switch (e.windowBound) {
    case 'max':
      return `maxInFlight (${e.window})`;
    case 'rate':
      return `the rate (${e.window} in flight carry it)`;
    case 'latency': {
      const base = e.unloadedRttMs !== undefined ? `, unloaded ${Math.round(e.unloadedRttMs)} ms` : '';
      return `round trips: more than ${e.window} in flight queue at your app${base}`;
    }
    case 'refusals':
      return `your app refused request ${e.window + 1} in flight and served ${e.window}`;
  }
}

/** Whether pauses are made up, for `sluice status`; undefined while the pacer has not learned it. */
export function describeMakeUp(e: PaceExplanation): string | undefined {
  if (e.queuesWork === undefined) return undefined;
  return e.queuesWork
    ? 'your app keeps working through a Retry-After pause (a job queue): short pauses are made up'
    : 'your app does not bank work through a pause: pauses are not made up';
}

/** A few words for a status line: what limits the pace now. */
export function paceTag(e: PaceExplanation): string {
  switch (e.rateBound) {
    case 'retry-after':
      return 'Retry-After';
    case 'outage':
      return 'app down';
    case 'ceiling':
      return 'ceiling';
    case 'floor':
      return 'floor';
    case 'quota':
      return 'app quota';
    case 'startup':
      return 'start-up';
    case 'learned':
      return 'learned limit';
    case 'probing':
      return 'probing';
    case 'answers':
      return e.windowBound === 'latency' || e.windowBound === 'refusals'
        ? `window: ${e.windowBound}`
        : 'app speed';
  }
}

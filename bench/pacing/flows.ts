// Flow harness: drives one policy against its own downstream instance with its own undici connection pool.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { WindowChange as DrainerWindowChange } from '../../core/drainer';
import { parseRateLimit } from '../../core/rate-limit';
import { parseRetryAfter } from '../../core/retry-after';
import type { Outcome, Policy } from './policies';
import { CLIENT_TIMEOUT_MS } from './scenarios';

/** Everything a flow observed; times are ms since the benchmark's t0. */
export interface FlowLog {
  readonly sendAt: number[];
  readonly doneAt: number[];
  /** HTTP status, 0 for a timeout or connection error. */
  readonly status: number[];
  readonly rttMs: number[];
  /** Announced Retry-After windows as [receivedAt, until] pairs. */
  readonly pauses: [number, number][];
  /** Controller snapshots every 250 ms. */
  readonly snapshots: { t: number; rate: number; window: number }[];
  /** Sluice's flows: every change of the pacer's delay window, with the rule that made it. */
  readonly windowChanges: WindowChange[];
}

/** A change of Sluice's delay window (the drainer's `WindowChange`), timed in ms after t0 like the rest of a log. */
export interface WindowChange extends Omit<DrainerWindowChange, 'at'> {
  readonly t: number;
}

export function emptyLog(): FlowLog {
  return { sendAt: [], doneAt: [], status: [], rttMs: [], pauses: [], snapshots: [], windowChanges: [] };
}

/** undici's header record with repeated fields joined, as the drainer's downstream adapter hands them over. */
export function flatHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.join(', ');
  }
  return out;
}

/** A keep-alive pool just big enough for the flow, so requests never queue client-side (pacing.md §4.1). */
export function flowAgent(maxInFlight: number): Agent {
  return new Agent({ connections: maxInFlight + 2, keepAliveTimeout: 30_000, pipelining: 1 });
}

/** Opens the log entry of a request that left at `sent` (epoch ms); returns its index. */
export function logSend(log: FlowLog, t0: number, sent: number): number {
  log.sendAt.push(sent - t0);
  log.doneAt.push(Number.NaN);
  log.status.push(0);
  log.rttMs.push(Number.NaN);
  return log.sendAt.length - 1;
}

/** Closes entry `i` with its answer (status 0: timeout or connection error). */
export function logAnswer(log: FlowLog, t0: number, i: number, status: number, rttMs: number): void {
  log.doneAt[i] = Date.now() - t0;
  log.status[i] = status;
  log.rttMs[i] = rttMs;
}

/**
 * Records the waits an answer announced at `now`: `Retry-After`, and a rate-limit `remaining = 0` with a
 * reset (scenario G). Sends inside either count as violations. Returns the Retry-After wait, ms.
 */
export function logWaits(
  log: FlowLog,
  t0: number,
  headers: Record<string, string>,
  now: number,
): number | undefined {
  const retryAfterMs = parseRetryAfter(headers['retry-after'], now);
  if (retryAfterMs !== undefined) log.pauses.push([now - t0, now - t0 + retryAfterMs]);
  const quota = parseRateLimit(headers, now);
  if (quota?.remaining === 0 && quota.resetMs) log.pauses.push([now - t0, now - t0 + quota.resetMs]);
  return retryAfterMs;
}

/** Posts one webhook-sized body and records the outcome in `log`. */
export async function post(url: string, agent: Agent, log: FlowLog, t0: number): Promise<Outcome> {
  const sent = Date.now();
  const i = logSend(log, t0, sent);
  let outcome: Outcome;
  try {
    const res = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: '{"id":1,"topic":"orders/create"}',
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    await res.body.dump();
    const now = Date.now();
    // Baselines may ignore what the app announces, but they are measured against it.
    const retryAfterMs = logWaits(log, t0, flatHeaders(res.headers), now);
    outcome = { status: res.statusCode, rttMs: now - sent, retryAfterMs };
  } catch {
    outcome = { rttMs: Date.now() - sent };
  }
  logAnswer(log, t0, i, outcome.status ?? 0, outcome.rttMs);
  return outcome;
}

/** Runs `policy` until `endAt` (epoch ms), then waits for what is in flight. */
export async function runFlow(
  policy: Policy,
  url: string,
  maxInFlight: number,
  t0: number,
  endAt: number,
  log: FlowLog,
): Promise<void> {
  const agent = flowAgent(maxInFlight);
  const snap = setInterval(() => {
    const now = Date.now();
    log.snapshots.push({ t: now - t0, ...policy.snapshot(now) });
  }, 250);
  try {
    if (policy.workers > 0) {
      await Promise.all(
        Array.from({ length: policy.workers }, async () => {
          while (Date.now() < endAt) {
            policy.onSend(Date.now());
            const outcome = await post(url, agent, log, t0);
            const delay = policy.onOutcome(outcome, Date.now());
            if (delay > 0) await sleep(Math.min(delay, Math.max(0, endAt - Date.now())));
          }
        }),
      );
      return;
    }
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const pending = new Set<Promise<void>>();
    while (Date.now() < endAt) {
      const now = Date.now();
      if (inFlight < Math.min(maxInFlight, policy.window(now))) {
        const at = policy.nextSendAt(now);
        if (at <= now) {
          inFlight += 1;
          policy.onSend(now);
          const p = post(url, agent, log, t0).then((outcome) => {
            inFlight -= 1;
            policy.onOutcome(outcome, Date.now());
            wake?.();
          });
          pending.add(p);
          void p.finally(() => pending.delete(p));
          continue;
        }
        // Sleep until the pacer allows the next send, or until an answer changes its mind.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(at - now, 100));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      } else {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      wake = undefined;
    }
    await Promise.all(pending);
  } finally {
    clearInterval(snap);
    await agent.close();
  }
}

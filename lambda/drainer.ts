/** The drainer Lambda: one scheduled run of the drainer core over the real adapters, within a time budget. */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { buildDrainerDeps, DRAINER_SDK_CLIENT_CONFIG, type DrainerAdapters, EmfMetrics } from '../adapters';
import { configFromEnv, type SluiceConfig } from '../core/config';
import { createDrainer, type Drainer, type DrainerLog, type RunOutcome } from '../core/drainer';
import type { Clock } from '../core/ports';
import { SCHEDULE_PERIOD_MS, TICK_MARGIN_MS, TIMEOUT_MARGIN_MS, windDownMs } from '../core/schedule';
import { once } from './shared/once';
import { cachedSecrets } from './shared/secrets';

export { SCHEDULE_PERIOD_MS } from '../core/schedule';

/** SQS's longest long poll, the core's default receive wait. */
const MAX_RECEIVE_WAIT_S = 20;

/**
 * The run's first budget. Reserved concurrency is 1 and the schedule fires every minute, so a run that is
 * still going at the next tick gets that tick throttled. So a run ends before a tick: `deadline` = next tick
 * − 3 s (and never past Lambda's own timeout), and `stopAt` comes earlier by one downstream timeout (+2 s, at
 * most 20 s), so requests already sent can be answered rather than abandoned. A run that is delivering moves
 * both a minute later at a time (the handler's `extension`), throttling the ticks meanwhile on purpose; an idle
 * one ends at the first. Late events (a delayed or retried tick) aim at the tick after `now`.
 */
export function budgetOf(
  eventTime: string | undefined,
  now: number,
  remainingMs: number,
  downstreamTimeoutMs: number,
): { readonly stopAt: number; readonly deadline: number } {
  const scheduled = eventTime ? Date.parse(eventTime) : Number.NaN;
  const base = Number.isFinite(scheduled) && scheduled <= now ? scheduled : now;
  const nextTick = base + SCHEDULE_PERIOD_MS * Math.max(1, Math.ceil((now - base + 1) / SCHEDULE_PERIOD_MS));
  const deadline = Math.max(now, Math.min(nextTick - TICK_MARGIN_MS, now + remainingMs - TIMEOUT_MARGIN_MS));
  return { stopAt: Math.max(now, deadline - windDownMs(downstreamTimeoutMs)), deadline };
}

export interface DrainerHandlerDeps {
  readonly adapters: DrainerAdapters;
  readonly config: SluiceConfig;
  /** The Shopify secrets (`"new,old"` split); empty until the user sets the secret. */
  readonly secrets: () => Promise<readonly string[]>;
  readonly log: DrainerLog;
  /** @default Date.now */
  readonly now?: () => number;
  /** How long reading the secret may take before the invocation fails, ms. @default 15000 */
  readonly secretsTimeoutMs?: number;
}

/** The drainer's Secrets Manager client: bounded calls (the SDK's default has no timeout), one retry. */
export const SECRETS_CLIENT_CONFIG = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
} as const;

/** Thrown when reading the secret outlasts `secretsTimeoutMs`: a hung call must not hold every tick. */
export class SecretsTimeoutError extends Error {
  readonly code = 'secrets-timeout';
  constructor(ms: number) {
    super(`reading the Shopify secret took longer than ${ms} ms; nothing was received`);
    this.name = 'SecretsTimeoutError';
  }
}

/**
 * How long past its deadline a run may take over its closing calls (releases, pacer, lease) before the handler
 * returns without them: a call to our own infrastructure that hangs must not hold the function, and with it
 * every tick, until its 15-minute timeout. Short of the 3 s to the next tick, so that tick starts the next run.
 * What the run held reappears after its visibility timeout, and its lease runs out within 30 s.
 */
export const OVERRUN_GRACE_MS = TICK_MARGIN_MS - 500;

/** A run whose closing calls hung past its deadline (OVERRUN_GRACE_MS): the invocation fails with it. */
export class DrainerOverrunError extends Error {
  readonly code = 'drainer-overrun';
  constructor(readonly detail: Readonly<Record<string, unknown>>) {
    super(`drainer run overran its deadline: ${JSON.stringify(detail)}`);
    this.name = 'DrainerOverrunError';
  }
}

/**
 * `work`, or undefined once the drainer's deadline (which moves while a busy run is extended) is
 * OVERRUN_GRACE_MS past, or `latest` comes.
 */
async function withinDeadline<T>(
  work: Promise<T>,
  drainer: Pick<Drainer, 'deadlineAt'>,
  clock: Clock,
  latest: number,
): Promise<T | undefined> {
  const cutOff = new AbortController();
  const hardStop = async (): Promise<undefined> => {
    for (;;) {
      const at = Math.min(drainer.deadlineAt() + OVERRUN_GRACE_MS, latest);
      if (clock.now() >= at || cutOff.signal.aborted) return undefined;
      await clock.sleep(at - clock.now(), cutOff.signal);
    }
  };
  try {
    return await Promise.race([work, hardStop()]);
  } finally {
    cutOff.abort();
  }
}

/** The outcome of one invocation; `secret-unset` leaves every message queued. */
export interface DrainerInvocationResult {
  readonly outcome: RunOutcome | 'secret-unset' | 'no-budget';
  readonly delivered: number;
  readonly deadLettered: number;
}

/**
 * A handler over its dependencies. Normal outcomes (including `lease-held`) resolve; a broken setup throws, and so
 * does a run whose closing calls hung past its deadline (OVERRUN_GRACE_MS).
 */
export function makeDrainerHandler(
  deps: DrainerHandlerDeps,
): (
  event: { readonly time?: string } | undefined,
  context: Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'>,
) => Promise<DrainerInvocationResult> {
  const now = deps.now ?? Date.now;
  const secretsTimeoutMs = deps.secretsTimeoutMs ?? 15_000;
  return async (event, context) => {
    let timer: NodeJS.Timeout | undefined;
    const secrets = await Promise.race([
      deps.secrets(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SecretsTimeoutError(secretsTimeoutMs)), secretsTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (secrets.length === 0) {
      // Verifying against nothing would dead-letter every webhook as forged: keep them queued instead.
      deps.log('error', 'the Shopify secret is not set; nothing is delivered until it is', {});
      return { outcome: 'secret-unset', delivered: 0, deadLettered: 0 };
    }
    const start = now();
    const c = deps.config;
    const remainingMs = context.getRemainingTimeInMillis();
    // Too little time left to run and close (something before took nearly all of it): nothing to do, cleanly.
    if (remainingMs < TIMEOUT_MARGIN_MS + OVERRUN_GRACE_MS) {
      deps.log('warn', 'too little time left to run; the next tick will', { remainingMs });
      return { outcome: 'no-budget', delivered: 0, deadLettered: 0 };
    }
    const { stopAt, deadline } = budgetOf(event?.time, start, remainingMs, c.downstreamTimeoutMs);
    // The core's own lines (each dead letter, the pace, lease and chore failures) go to the function's log,
    // where the dashboard's "Why this pace" widget and an operator look for them.
    const drainer = createDrainer(
      { ...deps.adapters, log: deps.log },
      {
        owner: context.awsRequestId,
        downstreamUrl: c.downstreamUrl,
        secrets,
        pacer: {
          floorPerSecond: c.rateFloorPerSecond,
          ceilingPerSecond: c.rateCeilingPerSecond,
          maxWindow: c.maxInFlight,
        },
        maxAttempts: c.maxAttempts,
        maxRetryMs: c.maxRetryMinutes * 60_000,
        downstreamTimeoutMs: c.downstreamTimeoutMs,
        stopAt,
        deadline,
        // A busy run goes on a minute at a time, ending 3 s before a later tick, up to the function's timeout:
        // through a backlog the app is not left idle for each minute's wind-down (a quarter of every minute).
        // The ticks meanwhile are throttled by the reserved concurrency of 1, and dropped after a minute.
        extension: { stepMs: SCHEDULE_PERIOD_MS, latestDeadline: start + remainingMs - TIMEOUT_MARGIN_MS },
        // With an idle exit the first empty poll lasts no longer than it: a run on an empty queue then
        // costs about idleExitSeconds, not a full 20 s poll.
        ...(c.idleExitSeconds > 0
          ? {
              idleExitMs: c.idleExitSeconds * 1000,
              receiveWaitSeconds: Math.min(MAX_RECEIVE_WAIT_S, c.idleExitSeconds),
            }
          : {}),
        ...(c.serviceTimeMetric ? { serviceTimeMetric: c.serviceTimeMetric } : {}),
      },
    );
    const work = (async () => {
      try {
        return await drainer.run();
      } finally {
        // A long poll the run abandoned (its lease lost) hands back what it brings before Lambda freezes the
        // process; frozen, those webhooks would stay invisible for a whole visibility timeout. Polls end by stopAt.
        await deps.adapters.settle();
      }
    })();
    const summary = await withinDeadline(
      work,
      drainer,
      deps.adapters.clock,
      start + remainingMs - TIMEOUT_MARGIN_MS / 2,
    );
    deps.adapters.metrics.flush();
    if (summary === undefined) {
      const s = drainer.status();
      const detail = {
        deadline: new Date(drainer.deadlineAt()).toISOString(),
        delivered: s.delivered,
        deadLettered: s.deadLettered,
        lastError: s.lastError,
      };
      deps.log('error', 'drainer run overran its deadline; returning without its closing calls', detail);
      // A failed invocation, so that the dashboard's Errors widget shows it (not retried: retryAttempts 0).
      throw new DrainerOverrunError(detail);
    }
    deps.log('info', 'drainer run ended', { ...summary });
    return { outcome: summary.outcome, delivered: summary.delivered, deadLettered: summary.deadLettered };
  };
}

const fromEnv = once(() => {
  const env = process.env;
  const required = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`environment variable ${name} is not set`);
    return v;
  };
  const config = configFromEnv(env);
  const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sluice' });
  return makeDrainerHandler({
    adapters: buildDrainerDeps({
      sqs: new SQSClient(DRAINER_SDK_CLIENT_CONFIG),
      dynamo: new DynamoDBClient(DRAINER_SDK_CLIENT_CONFIG),
      s3: new S3Client(DRAINER_SDK_CLIENT_CONFIG),
      queueUrl: required('QUEUE_URL'),
      dlqUrl: required('DLQ_URL'),
      tableName: required('TABLE_NAME'),
      bucketName: env.BUCKET_NAME || undefined,
      metrics: new EmfMetrics({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'sluice' }),
    }),
    config,
    secrets: cachedSecrets(new SecretsManagerClient(SECRETS_CLIENT_CONFIG), required('SECRET_ARN')),
    log: (level, msg, data) => logger[level](msg, { ...data }),
  });
});

/** The Lambda entry point (EventBridge scheduled event); configuration from `configToEnv` plus resource names. */
export const handler = (
  event: { readonly time?: string } | undefined,
  context: Context,
): Promise<DrainerInvocationResult> => fromEnv()(event, context);

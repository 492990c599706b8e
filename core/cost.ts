// The cost model behind `sluice cost`: per-million and fixed monthly cost of the stack, itemised, with alternatives.
import { DEFAULTS, DOWNSTREAM_TIMEOUT_MS, MAX_IDLE_EXIT_SECONDS } from './config';
import { PRICE_REGION, PRICES, PRICES_AS_OF } from './prices';
import { stopOffsetMs } from './schedule';

/** What the estimate assumes. Every field has a default that matches the stack as configured by default. */
export interface CostAssumptions {
  /** Webhooks per month; fixed costs are spread over them for the all-in figure. */
  readonly webhooksPerMonth: number;
  /** Average body size, KB. Drives the 64 KB SQS chunks and the 512 KB API Gateway metering. */
  readonly avgBodyKb: number;
  /** Share (0–1) of webhooks sent to the verified route (verify-and-enqueue Lambda instead of the authorizer). */
  readonly verifiedShare: number;
  /** Share (0–1) of webhooks whose body goes to S3 (claim check; verified route, bodies over 1 MiB). */
  readonly claimCheckShare: number;
  /** Lambda architecture of the functions. */
  readonly architecture: 'arm64' | 'x86_64';
  readonly authorizerMemoryMb: number;
  /** Billed ms per authorizer call (it screens headers only). */
  readonly authorizerMs: number;
  readonly verifyMemoryMb: number;
  readonly verifyMs: number;
  readonly drainerMemoryMb: number;
  /** Hours per month the drainer runs even with nothing to deliver (730 = always polling). */
  readonly drainerIdleHours: number;
  /**
   * The drainer's idle exit (config `idleExitSeconds`): an idle run ends after this many seconds of empty
   * queue instead of lasting the minute. 0 = no idle exit.
   */
  readonly idleExitSeconds: number;
  /** Billed seconds of an idle run besides its idle wait: start-up, lease and state read, shutdown. */
  readonly idleRunOverheadSeconds: number;
  /**
   * Config `downstreamTimeoutMs`: without an idle exit, an idle run ends when it stops taking work, one
   * downstream timeout (+2 s) before its end 3 s ahead of the next tick (core/schedule.ts): 45 s of 60.
   */
  readonly downstreamTimeoutMs: number;
  /** Average delivery rate while draining, webhooks/s (drainer busy time when it is not always on). */
  readonly deliveryRatePerSecond: number;
  /**
   * Average messages per ReceiveMessage (≤ 10). A long poll returns as soon as one message is there, so
   * webhooks that trickle in (1 M a month is 0.4/s) cost a receive each; a backlog drains at up to 10 a call.
   */
  readonly receiveBatch: number;
  /**
   * DeleteMessageBatch calls per webhook: each delivered record is written within 20 ms of its answer and its
   * delete follows that write (core/drainer.ts, MARK_LINGER_MS), so deletes share a call only above ~50/s.
   */
  readonly deletesPerWebhook: number;
  /** ChangeMessageVisibility requests per webhook (extensions of held messages, retries in place). */
  readonly visibilityCallsPerWebhook: number;
  /** Seconds of each idle long poll (20 is SQS's maximum). */
  readonly idlePollSeconds: number;
  /** Drainer invocations per month: the schedule starts one run a minute, each ends before the next tick. */
  readonly drainerInvocationsPerMonth: number;
  /** Secret reads per month (each warm function re-reads it every 5 minutes). */
  readonly secretReadsPerMonth: number;
  /** Writes of the drainer's state item per running minute (lease renewal every 10 s, pacer save every 5 s). */
  readonly stateWritesPerMinute: number;
  /** Write units per state-item write: the item (lease, pacer state, controls) is over 1 KB. */
  readonly stateWriteUnits: number;
  /** Reads of the state item per running minute (operator controls re-read every 2 s). */
  readonly stateReadsPerMinute: number;
  /** Log bytes per webhook: API access log, authorizer platform lines. */
  readonly logBytesPerWebhook: number;
  /**
   * USD per GB of webhooks sent to the app (body and headers): AWS's internet egress by default; about 0.01 to
   * a public address in the same AWS region.
   */
  readonly egressPerGbUsd: number;
  /** Log bytes per drainer run, whatever it delivers: start and stop lines, EMF flushes every 5 s. */
  readonly drainerLogBytesPerRun: number;
  /** Custom EMF metrics (name × dimension combinations) the functions emit. */
  readonly customMetrics: number;
  /** Metrics watched by the stack's alarms (a metric-math alarm pays for each metric it reads). */
  readonly alarmMetrics: number;
  readonly dashboards: number;
  readonly secrets: number;
}

/** The stack's defaults (see lib/ and core/config.ts). */
export const DEFAULT_ASSUMPTIONS: CostAssumptions = {
  webhooksPerMonth: 1_000_000,
  avgBodyKb: 8,
  verifiedShare: 0,
  claimCheckShare: 0,
  architecture: 'arm64',
  authorizerMemoryMb: 256,
  authorizerMs: 3,
  verifyMemoryMb: 512,
  verifyMs: 30,
  drainerMemoryMb: 512,
  drainerIdleHours: 730,
  idleExitSeconds: 0,
  idleRunOverheadSeconds: 2,
  downstreamTimeoutMs: DEFAULTS.downstreamTimeoutMs,
  deliveryRatePerSecond: 20,
  receiveBatch: 1,
  deletesPerWebhook: 1,
  visibilityCallsPerWebhook: 0.01,
  idlePollSeconds: 20,
  drainerInvocationsPerMonth: 43_800,
  secretReadsPerMonth: 8_760,
  stateWritesPerMinute: 18,
  stateWriteUnits: 2,
  stateReadsPerMinute: 30,
  logBytesPerWebhook: 650,
  egressPerGbUsd: PRICES.dataTransferOutGb.usd,
  drainerLogBytesPerRun: 5_000,
  customMetrics: 24,
  alarmMetrics: 7,
  dashboards: 1,
  secrets: 1,
};

export type Service =
  | 'API Gateway HTTP API'
  | 'Lambda: authorizer'
  | 'Lambda: verify'
  | 'SQS FIFO'
  | 'Lambda: drainer'
  | 'DynamoDB'
  | 'CloudWatch'
  | 'Secrets Manager'
  | 'S3 claim checks'
  | 'Data transfer'
  | 'EventBridge schedule';

/** One itemised line: a variable part per million webhooks and a fixed part per month. */
export interface CostLine {
  readonly service: Service;
  readonly item: string;
  readonly perMillionUsd: number;
  readonly monthlyFixedUsd: number;
}

/** Another way to buffer Shopify webhooks on AWS, priced with the same table. */
export interface Alternative {
  readonly name: string;
  readonly perMillionUsd: number;
  readonly how: string;
  readonly tradeOff: string;
}

export interface CostReport {
  readonly region: string;
  readonly pricesAsOf: string;
  readonly assumptions: CostAssumptions;
  readonly lines: readonly CostLine[];
  /** Variable cost per million webhooks. */
  readonly perMillionUsd: number;
  /** Cost per month that does not depend on volume. */
  readonly monthlyFixedUsd: number;
  /** Fixed + variable at `webhooksPerMonth`. */
  readonly monthlyTotalUsd: number;
  /** `monthlyTotalUsd` per million webhooks at that volume. */
  readonly allInPerMillionUsd: number;
  /** Assumptions in words, printed with the estimate. */
  readonly notes: readonly string[];
  readonly alternatives: readonly Alternative[];
}

/** An assumption outside its allowed range (the CLI maps it to a usage error). */
export class CostInputError extends Error {
  readonly code = 'cost-input';
  constructor(
    readonly field: keyof CostAssumptions,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`${field} = ${JSON.stringify(value)}; allowed: ${allowed}`);
    this.name = 'CostInputError';
  }
}

const MILLION = 1e6;
const HOURS_PER_MONTH = 730;
/** The schedule's period: one drainer run starts every minute. */
const RUN_PERIOD_SECONDS = 60;
const gb = (mb: number): number => mb / 1024;
const gbSecondOf = (a: CostAssumptions): number =>
  a.architecture === 'arm64' ? PRICES.lambdaGbSecondArm.usd : PRICES.lambdaGbSecondX86.usd;

/** Seconds of each minute an idle run without an idle exit polls: until it stops taking work (core/schedule.ts). */
function activeSecondsOf(a: CostAssumptions): number {
  return stopOffsetMs(a.downstreamTimeoutMs) / 1000;
}

/** Billed seconds of one run that never exits idle: its active time plus the run's overhead, within the minute. */
function fullRunSecondsOf(a: CostAssumptions): number {
  return Math.min(RUN_PERIOD_SECONDS, activeSecondsOf(a) + a.idleRunOverheadSeconds);
}

/**
 * What the idle hours cost in drainer time and long polls. Each idle minute's run lasts until it stops taking
 * work plus the run's overhead: without an idle exit that is `stopOffsetMs` after its tick (45 s with the
 * default downstream timeout), its polls full 20 s ones cut at that point; with one, it is the idle wait, its
 * first poll cut to the idle wait (lambda/drainer.ts), later ones full polls cut to end at the idle time
 * (core/drainer.ts).
 */
export function idleDrainerOf(a: CostAssumptions): {
  /** Billed drainer hours per month for the idle hours. */
  readonly billedHours: number;
  /** ReceiveMessage calls per month that come back empty. */
  readonly receives: number;
} {
  const runs = (a.drainerIdleHours * 3600) / RUN_PERIOD_SECONDS;
  const poll = Math.max(1, a.idlePollSeconds);
  if (a.idleExitSeconds === 0) {
    return {
      billedHours: (runs * fullRunSecondsOf(a)) / 3600,
      receives: runs * Math.ceil(activeSecondsOf(a) / poll),
    };
  }
  // An idle exit longer than the run's active time never comes: the run stops taking work first.
  const runSeconds = Math.min(fullRunSecondsOf(a), a.idleExitSeconds + a.idleRunOverheadSeconds);
  const pollsPerRun = Math.ceil(a.idleExitSeconds / Math.min(poll, a.idleExitSeconds));
  return { billedHours: (runs * runSeconds) / 3600, receives: runs * pollsPerRun };
}

/** As `BUSY_MS` in core/drainer.ts: a run that delivered within this long before its stop goes on a minute. */
const BUSY_SECONDS = 10;

/** Time step of the idle-exit computation in awakeDrainerOf, seconds. */
const QUIET_STEP_SECONDS = 0.1;

/**
 * For webhooks arriving at random at `lambda`/s, a run that exits after `quiet` s without one, and stops taking
 * work `active` s in: the expected time it runs before either, and the chance it reaches its stop. Stepped
 * through the age of the last arrival (time since it), so it holds in the band where runs end either way.
 */
function quietExit(
  lambda: number,
  quiet: number,
  active: number,
): { meanSeconds: number; reachesStop: number; extendedShare: number } {
  const steps = Math.round(quiet / QUIET_STEP_SECONDS);
  const arrival = -Math.expm1(-lambda * QUIET_STEP_SECONDS);
  // ages[i]: chance the run is going and its last arrival (or its start) was i steps ago.
  let ages = new Float64Array(steps);
  ages[0] = 1;
  let running = 1;
  let meanSeconds = 0;
  for (let t = 0; t < active; t += QUIET_STEP_SECONDS) {
    meanSeconds += running * QUIET_STEP_SECONDS;
    const next = new Float64Array(steps);
    next[0] = running * arrival;
    for (let i = 0; i + 1 < steps; i++) next[i + 1] = (ages[i] ?? 0) * (1 - arrival);
    running = next.reduce((s, x) => s + x, 0);
    ages = next;
  }
  // Reaching its stop with a webhook in its last BUSY_SECONDS, a run is extended: the two go together.
  const recent = Math.min(steps, Math.round(BUSY_SECONDS / QUIET_STEP_SECONDS));
  let extendedShare = 0;
  for (let i = 0; i < recent; i++) extendedShare += ages[i] ?? 0;
  return { meanSeconds, reachesStop: running, extendedShare };
}

/**
 * Billed drainer hours when the month's webhooks arrive spread evenly (a Poisson stream): the reading that keeps
 * the drainer awake longest. A run is extended to its whole minute when a webhook arrived in its last
 * BUSY_SECONDS (probability 1 − e^(−λ·10 s): 98% at a million a month); with an idle exit, a run ends at the
 * first quiet spell that long (quietExit), or runs to its stop and may be extended.
 */
export function awakeDrainerOf(a: CostAssumptions): {
  readonly billedHours: number;
  /** Share of runs extended to their whole minute. */
  readonly extendedShare: number;
} {
  const runs = (a.drainerIdleHours * 3600) / RUN_PERIOD_SECONDS;
  const lambda = a.webhooksPerMonth / (HOURS_PER_MONTH * 3600);
  const extended = 1 - Math.exp(-lambda * BUSY_SECONDS);
  const full = fullRunSecondsOf(a);
  const toStop = full + extended * (RUN_PERIOD_SECONDS - full);
  if (a.idleExitSeconds === 0 || lambda === 0) {
    const perRun =
      a.idleExitSeconds === 0 ? toStop : Math.min(full, a.idleExitSeconds + a.idleRunOverheadSeconds);
    return { billedHours: (runs * perRun) / 3600, extendedShare: a.idleExitSeconds === 0 ? extended : 0 };
  }
  const q = quietExit(lambda, a.idleExitSeconds, activeSecondsOf(a));
  const perRun = q.meanSeconds + a.idleRunOverheadSeconds + q.extendedShare * (RUN_PERIOD_SECONDS - full);
  return { billedHours: (runs * perRun) / 3600, extendedShare: q.extendedShare };
}

function check(a: CostAssumptions): void {
  const range = (field: keyof CostAssumptions, min: number, max: number): void => {
    const v = a[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new CostInputError(field, v, `a number from ${min} to ${max}`);
    }
  };
  range('webhooksPerMonth', 1, 1e12);
  range('avgBodyKb', 0.01, 1024);
  range('verifiedShare', 0, 1);
  range('claimCheckShare', 0, 1);
  range('receiveBatch', 1, 10);
  range('deletesPerWebhook', 0.1, 1);
  range('stateWriteUnits', 1, 400);
  range('deliveryRatePerSecond', 0.01, 100_000);
  range('drainerIdleHours', 0, HOURS_PER_MONTH);
  range('idleExitSeconds', 0, MAX_IDLE_EXIT_SECONDS);
  range('downstreamTimeoutMs', DOWNSTREAM_TIMEOUT_MS.min, DOWNSTREAM_TIMEOUT_MS.max);
  range('idleRunOverheadSeconds', 0, 10);
  for (const f of [
    'authorizerMemoryMb',
    'authorizerMs',
    'verifyMemoryMb',
    'verifyMs',
    'drainerMemoryMb',
    'visibilityCallsPerWebhook',
    'idlePollSeconds',
    'drainerInvocationsPerMonth',
    'secretReadsPerMonth',
    'stateWritesPerMinute',
    'stateReadsPerMinute',
    'logBytesPerWebhook',
    'egressPerGbUsd',
    'drainerLogBytesPerRun',
    'customMetrics',
    'alarmMetrics',
    'dashboards',
    'secrets',
  ] as const) {
    range(f, 0, 1e12);
  }
  if (a.claimCheckShare > a.verifiedShare) {
    throw new CostInputError(
      'claimCheckShare',
      a.claimCheckShare,
      `at most verifiedShare (${a.verifiedShare}): only the verified route stores bodies in S3`,
    );
  }
  if (a.architecture !== 'arm64' && a.architecture !== 'x86_64') {
    throw new CostInputError('architecture', a.architecture, 'arm64 or x86_64');
  }
  if (!Number.isInteger(a.receiveBatch)) {
    throw new CostInputError('receiveBatch', a.receiveBatch, 'a whole number of messages from 1 to 10');
  }
  // One drainer delivers at most deliveryRatePerSecond all month: more webhooks than that is a backlog that
  // grows without end (and passes the queue's 14 days), not a cost.
  const most = a.deliveryRatePerSecond * HOURS_PER_MONTH * 3600;
  if (a.webhooksPerMonth > most) {
    throw new CostInputError(
      'webhooksPerMonth',
      a.webhooksPerMonth,
      `at most ${Math.floor(most).toLocaleString('en-US')}: the drainer delivers ${a.deliveryRatePerSecond}/s (deliveryRatePerSecond), so more never drains; raise the delivery rate to ${Math.ceil((a.webhooksPerMonth / (HOURS_PER_MONTH * 3600)) * 100) / 100}/s or more`,
    );
  }
}

/** SQS bills each 64 KB chunk of a request's payload as one request. */
const sqsChunks = (kb: number): number => Math.max(1, Math.ceil(kb / 64));

/** Estimates the stack's cost. Pure: the same assumptions always give the same report. */
export function estimateCost(overrides: Partial<CostAssumptions> = {}): CostReport {
  const a: CostAssumptions = { ...DEFAULT_ASSUMPTIONS, ...overrides };
  check(a);
  const gbSecond = gbSecondOf(a);
  const sqs = PRICES.sqsFifoRequest.usd;
  // The message carries ~1.5 KB of attributes besides the body (contract.ts: headers JSON, signature, ids).
  const messageKb = a.avgBodyKb + 1.5;
  const inlineShare = 1 - a.claimCheckShare;
  const lines: CostLine[] = [];
  const add = (service: Service, item: string, perMillionUsd: number, monthlyFixedUsd = 0): void => {
    lines.push({ service, item, perMillionUsd, monthlyFixedUsd });
  };

  // Ingress.
  add(
    'API Gateway HTTP API',
    `requests, metered per 512 KB (${Math.max(1, Math.ceil(a.avgBodyKb / 512))} per webhook)`,
    MILLION * Math.max(1, Math.ceil(a.avgBodyKb / 512)) * PRICES.httpApiRequest.usd,
  );
  const direct = 1 - a.verifiedShare;
  add(
    'Lambda: authorizer',
    `${Math.round(direct * 100)}% of webhooks × (invocation + ${a.authorizerMemoryMb} MB × ${a.authorizerMs} ms)`,
    MILLION *
      direct *
      (PRICES.lambdaRequest.usd + gb(a.authorizerMemoryMb) * (a.authorizerMs / 1000) * gbSecond),
  );
  if (a.verifiedShare > 0) {
    add(
      'Lambda: verify',
      `${Math.round(a.verifiedShare * 100)}% of webhooks × (invocation + ${a.verifyMemoryMb} MB × ${a.verifyMs} ms)`,
      MILLION *
        a.verifiedShare *
        (PRICES.lambdaRequest.usd + gb(a.verifyMemoryMb) * (a.verifyMs / 1000) * gbSecond),
    );
  }

  // The queue: one send per 64 KB chunk; the drainer's receives and deletes are batched.
  const sendChunks = inlineShare * sqsChunks(messageKb) + a.claimCheckShare;
  add(
    'SQS FIFO',
    `SendMessage: ${round(sendChunks, 2)} billed request(s) per webhook (64 KB chunks)`,
    MILLION * sendChunks * sqs,
  );
  // A receive is billed per 64 KB chunk of all it returns: ceil(batch × size / 64) requests per batch (for
  // inline bodies and claim-check pointers apart, as SendMessage is).
  const perBatch = (kb: number): number => Math.ceil((a.receiveBatch * kb) / 64) / a.receiveBatch;
  const receivePerWebhook = inlineShare * perBatch(messageKb) + a.claimCheckShare * perBatch(1.5);
  add(
    'SQS FIFO',
    `ReceiveMessage: ${a.receiveBatch} message(s) per call, 64 KB chunks`,
    MILLION * receivePerWebhook * sqs,
  );
  add(
    'SQS FIFO',
    `DeleteMessageBatch: ${a.deletesPerWebhook} call(s) per webhook (after its delivered record)`,
    MILLION * a.deletesPerWebhook * sqs,
  );
  add(
    'SQS FIFO',
    `ChangeMessageVisibility: ${a.visibilityCallsPerWebhook} per webhook`,
    MILLION * a.visibilityCallsPerWebhook * sqs,
  );
  const idle = idleDrainerOf(a);
  add(
    'SQS FIFO',
    a.idleExitSeconds === 0
      ? `idle long polls (${round(idle.receives / (a.drainerIdleHours * 60 || 1), 2)} per idle run of up to ${a.idlePollSeconds} s, over ${a.drainerIdleHours} h)`
      : `idle long polls (${round(idle.receives / (a.drainerIdleHours * 60 || 1), 2)} per idle run, idle exit after ${a.idleExitSeconds} s)`,
    0,
    idle.receives * sqs,
  );

  // The drainer: one long-running function. Its idle time is fixed; busy time adds beyond it.
  const drainerGb = gb(a.drainerMemoryMb);
  const busyHours = a.webhooksPerMonth / a.deliveryRatePerSecond / 3600;
  // Busy time is billed beyond the idle hours, up to a drainer that never stops. Without an idle exit, a run
  // scheduled all month is billed until its stopAt anyway, and busy, it goes on through the rest of its minute
  // too (lambda/drainer.ts extension): only that rest is extra. With an idle exit, the time a run spends
  // delivering keeps it from exiting.
  const covered =
    a.idleExitSeconds === 0 && a.drainerIdleHours >= HOURS_PER_MONTH
      ? fullRunSecondsOf(a) / RUN_PERIOD_SECONDS
      : 0;
  const totalHours = Math.min(HOURS_PER_MONTH, idle.billedHours + busyHours * (1 - covered));
  const extraBusySeconds = Math.max(0, totalHours - idle.billedHours) * 3600;
  // The same webhooks spread evenly over the month wake (and extend) most runs instead: the larger reading
  // is billed, the rest of it as a monthly line, since it grows with volume only until the drainer is on.
  const awake = awakeDrainerOf(a);
  const awakeExtraHours = Math.max(0, awake.billedHours - totalHours);
  add(
    'Lambda: drainer',
    a.idleExitSeconds === 0
      ? `${a.drainerMemoryMb} MB, runs of ${round(activeSecondsOf(a), 1)} + ${a.idleRunOverheadSeconds} s a minute (${round(idle.billedHours, 1)} h of ${a.drainerIdleHours} h) + ${a.drainerInvocationsPerMonth} invocations`
      : `${a.drainerMemoryMb} MB, idle runs of ${a.idleExitSeconds} + ${a.idleRunOverheadSeconds} s a minute (${round(idle.billedHours, 1)} h of ${a.drainerIdleHours} h) + ${a.drainerInvocationsPerMonth} invocations`,
    0,
    idle.billedHours * 3600 * drainerGb * gbSecond + a.drainerInvocationsPerMonth * PRICES.lambdaRequest.usd,
  );
  add(
    'Lambda: drainer',
    `busy time beyond the idle hours at ${a.deliveryRatePerSecond} webhooks/s`,
    ((extraBusySeconds * drainerGb * gbSecond) / a.webhooksPerMonth) * MILLION,
  );
  add(
    'Lambda: drainer',
    `runs kept awake by ${a.webhooksPerMonth.toLocaleString('en-US')} webhooks/month spread evenly (${Math.round(awake.extendedShare * 100)}% extended to the whole minute): +${round(awakeExtraHours, 1)} h`,
    0,
    awakeExtraHours * 3600 * drainerGb * gbSecond,
  );

  // DynamoDB: per webhook a dedup read and a delivered record; per running minute the state item.
  add(
    'DynamoDB',
    'dedup check (1 RRU) + delivered record (1 WRU) per webhook',
    MILLION * (PRICES.dynamoRead.usd + PRICES.dynamoWrite.usd),
  );
  add(
    'DynamoDB',
    `state item (over 1 KB): ${a.stateWritesPerMinute} writes × ${a.stateWriteUnits} WRU + ${a.stateReadsPerMinute} reads per running minute`,
    0,
    (idle.billedHours + awakeExtraHours) *
      60 *
      (a.stateWritesPerMinute * a.stateWriteUnits * PRICES.dynamoWrite.usd +
        a.stateReadsPerMinute * PRICES.dynamoRead.usd),
  );

  // Every webhook goes out once more, to the app (its retries are not counted).
  add(
    'Data transfer',
    `to your app: ${round(a.avgBodyKb + 1.5, 1)} KB per webhook (body and headers) at $${a.egressPerGbUsd}/GB`,
    egressPerMillionOf(a),
  );

  // CloudWatch.
  add(
    'CloudWatch',
    `logs: ${a.logBytesPerWebhook} bytes per webhook`,
    ((MILLION * a.logBytesPerWebhook) / 1024 ** 3) * PRICES.logsIngestGb.usd,
  );
  add(
    'CloudWatch',
    `drainer logs: ${a.drainerLogBytesPerRun} bytes per run`,
    0,
    ((a.drainerInvocationsPerMonth * a.drainerLogBytesPerRun) / 1024 ** 3) * PRICES.logsIngestGb.usd,
  );
  add(
    'CloudWatch',
    `${a.customMetrics} custom metrics (EMF; at most: a metric is billed only in hours it is emitted)`,
    0,
    a.customMetrics * PRICES.customMetricMonth.usd,
  );
  add('CloudWatch', `${a.dashboards} dashboard`, 0, a.dashboards * PRICES.dashboardMonth.usd);
  add(
    'CloudWatch',
    `alarms reading ${a.alarmMetrics} metrics`,
    0,
    a.alarmMetrics * PRICES.alarmMetricMonth.usd,
  );

  add(
    'Secrets Manager',
    `${a.secrets} secret + ${a.secretReadsPerMonth} reads (cached 5 min per warm function)`,
    0,
    a.secrets * PRICES.secretMonth.usd + a.secretReadsPerMonth * PRICES.secretApiCall.usd,
  );
  add(
    'S3 claim checks',
    `${Math.round(a.claimCheckShare * 100)}% of webhooks: PUT + GET`,
    MILLION * a.claimCheckShare * (PRICES.s3Put.usd + PRICES.s3Get.usd),
  );
  add(
    'EventBridge schedule',
    `rate(1 minute) rule: ${a.drainerInvocationsPerMonth} ticks (scheduled rules are free)`,
    0,
    a.drainerInvocationsPerMonth * PRICES.eventBridgeScheduledRule.usd,
  );

  const perMillionUsd = sum(lines.map((l) => l.perMillionUsd));
  const monthlyFixedUsd = sum(lines.map((l) => l.monthlyFixedUsd));
  const monthlyTotalUsd = monthlyFixedUsd + (perMillionUsd * a.webhooksPerMonth) / MILLION;
  return {
    region: PRICE_REGION,
    pricesAsOf: PRICES_AS_OF,
    assumptions: a,
    lines,
    perMillionUsd,
    monthlyFixedUsd,
    monthlyTotalUsd,
    allInPerMillionUsd: (monthlyTotalUsd / a.webhooksPerMonth) * MILLION,
    notes: notesOf(a),
    alternatives: alternatives(a, gbSecond),
  };
}

/** Why a run without an idle exit stops taking work when it does, in words. */
function stopText(a: CostAssumptions): string {
  return `60 s − 3 s − the downstream timeout of ${round(a.downstreamTimeoutMs / 1000, 1)} s − 2 s`;
}

function notesOf(a: CostAssumptions): string[] {
  const idle = idleDrainerOf(a);
  return [
    `Prices: ${PRICE_REGION}, list prices as of ${PRICES_AS_OF} (core/prices.ts names each source); free tiers ignored.`,
    `Average body ${a.avgBodyKb} KB plus ~1.5 KB of message attributes; ${Math.round(a.verifiedShare * 100)}% via the verified route, ${Math.round(a.claimCheckShare * 100)}% claim-checked to S3.`,
    `Lambda ${a.architecture}; authorizer ${a.authorizerMemoryMb} MB × ${a.authorizerMs} ms; drainer ${a.drainerMemoryMb} MB, idle ${a.drainerIdleHours} h/month, draining at ${a.deliveryRatePerSecond}/s.`,
    `${a.receiveBatch} message(s) per receive (a backlog drains at up to 10: --receive-batch) and ${a.deletesPerWebhook} delete call(s) per webhook; pacing waits cost no extra: one function holds many requests in flight.`,
    a.idleExitSeconds === 0
      ? `No idle exit: each minute's run polls until it stops taking work, ${round(activeSecondsOf(a), 1)} s after its tick (${stopText(a)}), + ${a.idleRunOverheadSeconds} s start-up and shutdown: ${round(idle.billedHours, 1)} h/month; a run that is delivering goes on through the rest of its minute (the busy line); --idle-exit-seconds N models idleExitSeconds, --downstream-timeout-ms N downstreamTimeoutMs.`
      : `Idle exit after ${a.idleExitSeconds} s: idle drainer time = ${a.drainerIdleHours} h × (${a.idleExitSeconds} s + ${a.idleRunOverheadSeconds} s start-up and shutdown) / 60 s = ${round(idle.billedHours, 1)} h/month, with ${Math.round(idle.receives).toLocaleString('en-US')} empty polls; busy time is billed on top. A webhook that arrives after a run's idle exit waits for the next minute's run (up to ~${60 - a.idleExitSeconds} s more).`,
    `Drainer time is the larger of two readings of the same volume: in bursts drained at ${a.deliveryRatePerSecond}/s (the busy line, per million), or spread evenly over the month, when most runs are woken and a run that delivered in its last ${BUSY_SECONDS} s goes on through its minute (the "kept awake" line, monthly: it stops growing once the drainer is always on, $${round(HOURS_PER_MONTH * gb(a.drainerMemoryMb) * 3600 * gbSecondOf(a), 2)}/month at ${a.drainerMemoryMb} MB).`,
    'Not counted: DLQ traffic, retries of failing deliveries, DynamoDB storage (delivered records, ~160 bytes each, are kept 15 days: about $0.02 a month per million webhooks a month), S3 storage of claim-checked bodies (kept 28 days; at the S3 Standard price of ~$0.023 per GB-month, ~$30 per million claim-checked 1.5 MB bodies).',
  ];
}

/** Sending a million webhooks to the app: body plus ~1.5 KB of headers each, at `egressPerGbUsd`. */
function egressPerMillionOf(a: CostAssumptions): number {
  return ((MILLION * (a.avgBodyKb + 1.5) * 1024) / 1024 ** 3) * a.egressPerGbUsd;
}

/** The AWS alternatives, priced per million webhooks with the same table and body size. */
function alternatives(a: CostAssumptions, gbSecond: number): Alternative[] {
  // Every path sends the webhook to the app once: the same egress on each.
  const egress = egressPerMillionOf(a);
  const chunks64 = sqsChunks(a.avgBodyKb);
  const logs = ((MILLION * a.logBytesPerWebhook) / 1024 ** 3) * PRICES.logsIngestGb.usd;
  const sqsChunks3 = (2 * sqsChunks(a.avgBodyKb + 1.5) + 1) * PRICES.sqsFifoRequest.usd * MILLION;
  // Plain SQS event-source mapping consumer: batch 1, the function waits on the app.
  const consumer = MILLION * (PRICES.lambdaRequest.usd + gb(256) * 0.4 * gbSecond);
  const dynamo = MILLION * (PRICES.dynamoRead.usd + 3 * PRICES.dynamoWrite.usd);
  return [
    {
      name: 'Shopify → EventBridge partner source → API destination',
      perMillionUsd:
        MILLION * chunks64 * (PRICES.eventBridgePartnerEvent.usd + PRICES.eventBridgeApiDestination.usd) +
        egress,
      how: '$1.00/M partner events + $0.20/M API-destination invocations (64 KB chunks) + data transfer to the app',
      tradeOff:
        'no public endpoint and no HMAC; but a fixed rate limit (not adaptive), no per-shop order, and the app must accept the EventBridge envelope instead of the Shopify request',
    },
    {
      name: 'HTTP API → Lambda proxy (HMAC + SendMessage) → SQS FIFO → event-source-mapping Lambda',
      perMillionUsd:
        MILLION * PRICES.httpApiRequest.usd +
        MILLION * (PRICES.lambdaRequest.usd + gb(128) * 0.03 * gbSecond) +
        sqsChunks3 +
        consumer +
        dynamo +
        logs +
        egress,
      how: 'HTTP API $1 + proxy 128 MB × 30 ms + 3 SQS requests + consumer 256 MB × 400 ms (batch 1) + pacing state and idempotency in DynamoDB + logs',
      tradeOff:
        'verifies before enqueueing; but reserved concurrency 1 with many groups throttles into the DLQ, and the consumer pays for every wait on the app',
    },
    {
      name: 'HTTP API → SQS FIFO (direct) → event-source-mapping Lambda (the common setup)',
      perMillionUsd:
        MILLION * PRICES.httpApiRequest.usd +
        MILLION * (PRICES.lambdaRequest.usd + gb(128) * 0.01 * gbSecond) +
        sqsChunks3 +
        consumer +
        dynamo +
        logs +
        egress,
      how: 'same as Sluice at the edge; the consumer is a batch-1 event-source mapping',
      tradeOff:
        'drain-per-batch costs 30–45% of the app capacity and a slow app pushes valid messages to the DLQ',
    },
    {
      name: 'REST API instead of HTTP API: extra on either path above',
      perMillionUsd: MILLION * (PRICES.restApiRequest.usd - PRICES.httpApiRequest.usd),
      how: 'extra per million over the HTTP API line ($3.50 vs $1.00)',
      tradeOff: 'WAF, usage plans and request validation; 3.5× the request price',
    },
  ];
}

function sum(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0);
}

/** Rounds for display. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

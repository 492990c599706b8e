// `sluice status`: queue depth and age, DLQ, pacing, lease, pause and recent failures in one reading.
import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { readDrainerState } from '../adapters/dynamo-state';
import { ATTR } from '../core/contract';
import { describeMakeUp, describeRate, describeWindow } from '../core/pace-text';
import { explainPace, type PaceExplanation, pausedUntil } from '../core/pacer';
import { DEAD_LETTER_REASONS, type DeadLetterReason, METRICS } from '../core/resources';
import { secretsOf } from '../core/verify';
import { inspectQueue } from '../local/snapshot';
import { type CliIo, emit, formatAge, type GlobalOptions } from './io';
import { resolveTarget, type Target } from './target';

/** Everything `sluice status` reports. Absent fields are unknown (e.g. CloudWatch figures in local mode). */
export interface Status {
  readonly target: string;
  readonly kind: Target['kind'];
  readonly queue: {
    readonly visible: number;
    readonly inFlight: number;
    readonly delayed: number;
    readonly oldestAgeSeconds?: number;
  };
  readonly dlq: { readonly depth: number };
  readonly pacing?: {
    readonly ratePerSecond: number;
    readonly window: number;
    readonly savedAt: number;
    readonly retryAfterUntil?: number;
    /** What sets the rate and the window, as of `savedAt`. */
    readonly explanation: PaceExplanation;
  };
  readonly lease?: { readonly owner: string; readonly expiresAt: number };
  readonly controls: {
    readonly paused: boolean;
    readonly floorPerSecond?: number;
    readonly ceilingPerSecond?: number;
  };
  /** From CloudWatch, deployed stacks only. */
  readonly recent?: RecentMetrics;
  /** Why `recent` is missing for a deployed stack (CloudWatch refused or failed): the rest still stands. */
  readonly metricsError?: string;
  readonly dashboardUrl?: string;
  /**
   * Deployed stacks: whether the Shopify secret holds a key (`unset`: the stack's placeholder or nothing, and the
   * drainer delivers nothing), or why that is not known. Never what it holds.
   */
  readonly secret?: { readonly state: 'set' | 'unset' } | { readonly state: 'unknown'; readonly why: string };
}

/** CloudWatch figures over the last hour (deliveries over the last 5 minutes). */
export interface RecentMetrics {
  readonly deliveredPerSecond5m?: number;
  readonly drainerErrors1h?: number;
  /** Responses of the app by status class, last hour. */
  readonly responses1h: Readonly<Record<string, number>>;
  readonly deadLettered1h: Readonly<Partial<Record<DeadLetterReason, number>>>;
  readonly signatureFailures1h?: number;
}

const STATUS_CLASSES = ['2xx', '3xx', '4xx', '429', '5xx', 'timeout', 'error'] as const;
const REASONS: readonly DeadLetterReason[] = DEAD_LETTER_REASONS;

async function queueAttributes(sqs: SQSClient, url: string): Promise<Record<string, string>> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return out.Attributes ?? {};
}

/** Reads SQS, the DynamoDB state item and (for a deployed stack) CloudWatch. */
export async function collectStatus(t: Target, now: number, serviceName = 'sluice'): Promise<Status> {
  const [q, d, state, secret] = await Promise.all([
    queueAttributes(t.sqs, t.queueUrl),
    queueAttributes(t.sqs, t.dlqUrl),
    readDrainerState(t.dynamo, t.tableName, now),
    t.secret ? secretState(t.secret.client, t.secret.secretId) : undefined,
  ]);
  const n = (a: Record<string, string>, k: string): number => Number(a[k] ?? 0);
  // CloudWatch is the one optional reading: without cloudwatch:GetMetricData (or with CloudWatch failing) the
  // queue, the DLQ, the pacing and the lease are still worth showing.
  let cw: Awaited<ReturnType<typeof recentMetrics>> | undefined;
  let metricsError: string | undefined;
  if (t.cloudwatch) {
    try {
      cw = await recentMetrics(t.cloudwatch, t, serviceName, now);
    } catch (err) {
      metricsError = err instanceof Error ? err.message : String(err);
    }
  }
  const oldestAgeSeconds =
    cw?.oldestAgeSeconds ??
    (t.sqsEndpoint ? await localOldestAge(t.sqsEndpoint, t.queueName, now) : undefined);
  const retryAfter = state.pacer ? pausedUntil(state.pacer.state) : 0;
  // As of the last save, like the rate and window it explains; the times it reports count from now.
  const explanation = state.pacer ? explainPace(state.pacer.state, state.pacer.savedAt, now) : undefined;
  return {
    target: t.label,
    kind: t.kind,
    queue: {
      visible: n(q, 'ApproximateNumberOfMessages'),
      inFlight: n(q, 'ApproximateNumberOfMessagesNotVisible'),
      delayed: n(q, 'ApproximateNumberOfMessagesDelayed'),
      ...(oldestAgeSeconds !== undefined ? { oldestAgeSeconds } : {}),
    },
    dlq: { depth: n(d, 'ApproximateNumberOfMessages') + n(d, 'ApproximateNumberOfMessagesNotVisible') },
    ...(state.pacer && explanation
      ? {
          pacing: {
            ratePerSecond: state.pacer.ratePerSecond,
            window: state.pacer.windowSize,
            savedAt: state.pacer.savedAt,
            ...(retryAfter > now ? { retryAfterUntil: retryAfter } : {}),
            explanation,
          },
        }
      : {}),
    ...(state.lease ? { lease: state.lease } : {}),
    controls: state.controls,
    ...(cw ? { recent: cw.recent } : {}),
    ...(metricsError !== undefined ? { metricsError } : {}),
    ...(t.dashboardUrl ? { dashboardUrl: t.dashboardUrl } : {}),
    ...(secret ? { secret } : {}),
  };
}

/**
 * Whether the secret holds a key, read the way the drainer reads it (`secretsOf`): a stack whose secret still
 * holds its placeholder accepts webhooks and delivers none, which nothing else in `status` would show.
 */
async function secretState(
  client: SecretsManagerClient,
  secretId: string,
): Promise<NonNullable<Status['secret']>> {
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return { state: secretsOf(out.SecretString).length > 0 ? 'set' : 'unset' };
  } catch (err) {
    return { state: 'unknown', why: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Local mode has no CloudWatch: the age of the oldest webhook comes from the emulator's inspection API (it
 * lists messages without receiving them) and their `ReceivedAt` attribute. Undefined when the queue is empty.
 */
async function localOldestAge(
  sqsEndpoint: string,
  queueName: string,
  now: number,
): Promise<number | undefined> {
  const messages = await inspectQueue(sqsEndpoint, queueName);
  const times = messages
    .map((m) => Number(m.attributes[ATTR.receivedAt]?.StringValue))
    .filter((x) => Number.isFinite(x));
  return times.length === 0 ? undefined : Math.max(0, (now - Math.min(...times)) / 1000);
}

/** One GetMetricData call for every CloudWatch figure `status` shows. */
export async function recentMetrics(
  cw: CloudWatchClient,
  t: Pick<Target, 'queueName' | 'drainerFunctionName'>,
  serviceName: string,
  now: number,
): Promise<{ oldestAgeSeconds?: number; recent: RecentMetrics }> {
  const sluice = (
    id: string,
    name: string,
    extra: Record<string, string>,
    period: number,
  ): MetricDataQuery => ({
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: METRICS.namespace,
        MetricName: name,
        Dimensions: [
          { Name: METRICS.serviceDimension, Value: serviceName },
          ...Object.entries(extra).map(([Name, Value]) => ({ Name, Value })),
        ],
      },
      Period: period,
      Stat: 'Sum',
    },
  });
  const queries: MetricDataQuery[] = [
    {
      Id: 'oldest',
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: t.queueName }],
        },
        Period: 60,
        Stat: 'Maximum',
      },
    },
    sluice('delivered', METRICS.delivered, {}, 300),
    sluice('sigfail', METRICS.signatureFailures, {}, 3600),
    ...STATUS_CLASSES.map((c, i) => sluice(`resp${i}`, METRICS.responses, { StatusClass: c }, 3600)),
    ...REASONS.map((r, i) => sluice(`dead${i}`, METRICS.deadLettered, { Reason: r }, 3600)),
    ...(t.drainerFunctionName
      ? [
          {
            Id: 'errors',
            MetricStat: {
              Metric: {
                Namespace: 'AWS/Lambda',
                MetricName: 'Errors',
                Dimensions: [{ Name: 'FunctionName', Value: t.drainerFunctionName }],
              },
              Period: 3600,
              Stat: 'Sum',
            },
          },
        ]
      : []),
  ];
  const end = new Date(Math.floor(now / 60_000) * 60_000);
  const out = await cw.send(
    new GetMetricDataCommand({
      MetricDataQueries: queries,
      StartTime: new Date(end.getTime() - 3_600_000),
      EndTime: end,
      ScanBy: 'TimestampDescending',
    }),
  );
  const series = new Map(
    (out.MetricDataResults ?? []).map((r) => [
      r.Id ?? '',
      { values: r.Values ?? [], times: r.Timestamps ?? [] },
    ]),
  );
  const results = new Map([...series].map(([id, r]) => [id, r.values]));
  /**
   * Newest value (ScanBy TimestampDescending puts it first), if it is recent: within two of its periods of the
   * query's end. A metric with no data point since is not at its last value: a Sum that stopped (nothing
   * delivered during an outage) is 0, which is what the dashboard's FILL shows too.
   */
  const latest = (id: string, periodS: number): number | undefined => {
    const r = series.get(id);
    const at = r?.times[0]?.getTime();
    if (!r || r.values.length === 0 || at === undefined) return undefined;
    return at >= end.getTime() - 2 * periodS * 1000 ? r.values[0] : undefined;
  };
  const total = (id: string): number | undefined => {
    const v = results.get(id);
    return v && v.length > 0 ? v.reduce((s, x) => s + x, 0) : undefined;
  };
  const responses: Record<string, number> = {};
  STATUS_CLASSES.forEach((c, i) => {
    const v = total(`resp${i}`);
    if (v !== undefined) responses[c] = v;
  });
  const dead: Partial<Record<DeadLetterReason, number>> = {};
  REASONS.forEach((r, i) => {
    const v = total(`dead${i}`);
    if (v !== undefined) dead[r] = v;
  });
  // Delivered is a Sum every 5 minutes: its query answered and no recent point means none delivered.
  const delivered = latest('delivered', 300) ?? (series.has('delivered') ? 0 : undefined);
  const oldest = latest('oldest', 60);
  const errors = total('errors');
  const sig = total('sigfail');
  return {
    ...(oldest !== undefined ? { oldestAgeSeconds: oldest } : {}),
    recent: {
      ...(delivered !== undefined ? { deliveredPerSecond5m: delivered / 300 } : {}),
      ...(errors !== undefined ? { drainerErrors1h: errors } : {}),
      ...(sig !== undefined ? { signatureFailures1h: sig } : {}),
      responses1h: responses,
      deadLettered1h: dead,
    },
  };
}

/** The human reading. */
export function statusText(s: Status, now: number): string {
  const lines: [string, string][] = [];
  const add = (k: string, v: string): void => {
    lines.push([k, v]);
  };
  add('target', `${s.target} (${s.kind === 'stack' ? 'deployed stack' : 'local mode'})`);
  add(
    'queue',
    `${s.queue.visible} waiting, ${s.queue.inFlight} in flight${s.queue.delayed > 0 ? `, ${s.queue.delayed} delayed` : ''}`,
  );
  add(
    'oldest',
    s.queue.oldestAgeSeconds !== undefined
      ? formatAge(s.queue.oldestAgeSeconds * 1000)
      : s.queue.visible + s.queue.inFlight + s.queue.delayed > 0
        ? '? (not known: no recent CloudWatch reading)'
        : '- (empty)',
  );
  add('DLQ', `${s.dlq.depth}${s.dlq.depth > 0 ? '  (sluice dlq list)' : ''}`);
  const secret = s.secret;
  if (secret) {
    add(
      'shopify secret',
      secret.state === 'unknown'
        ? `? (cannot read it: ${secret.why})`
        : secret.state === 'set'
          ? 'set'
          : 'NOT SET: it holds no key (the placeholder, or empty: README "Deploy", step 2)',
    );
  }
  add(
    'delivery',
    s.secret?.state === 'unset'
      ? 'HELD: nothing is delivered until the Shopify secret is set'
      : s.controls.paused
        ? 'PAUSED by an operator (sluice resume)'
        : s.pacing?.retryAfterUntil
          ? `waiting out the app's Retry-After for ${formatAge(s.pacing.retryAfterUntil - now)}`
          : 'running',
  );
  add(
    'pacing',
    s.pacing
      ? `${s.pacing.ratePerSecond.toFixed(1)}/s, window ${s.pacing.window} (saved ${formatAge(now - s.pacing.savedAt)} ago)`
      : '- (no drainer run yet)',
  );
  if (s.pacing) {
    add('rate set by', describeRate(s.pacing.explanation));
    add('window set by', describeWindow(s.pacing.explanation));
    const makeUp = describeMakeUp(s.pacing.explanation);
    if (makeUp) add('pauses', makeUp);
  }
  const bounds = [
    s.controls.floorPerSecond !== undefined ? `floor ${s.controls.floorPerSecond}/s` : undefined,
    s.controls.ceilingPerSecond !== undefined ? `ceiling ${s.controls.ceilingPerSecond}/s` : undefined,
  ].filter((x) => x !== undefined);
  add('rate limits', bounds.length > 0 ? `${bounds.join(', ')} (operator)` : 'from the configuration');
  add(
    'drainer',
    s.lease
      ? `${s.lease.owner}, lease until ${new Date(s.lease.expiresAt).toISOString()}`
      : 'not running (no lease)',
  );
  if (s.recent) {
    const r = s.recent;
    add(
      'delivered',
      r.deliveredPerSecond5m !== undefined ? `${r.deliveredPerSecond5m.toFixed(1)}/s (last 5 min)` : '-',
    );
    const mix = STATUS_CLASSES.flatMap((c) =>
      r.responses1h[c] === undefined ? [] : [`${c} ${r.responses1h[c]}`],
    );
    add('responses 1h', mix.length > 0 ? mix.join(', ') : '-');
    const dead = Object.entries(r.deadLettered1h).map(([k, v]) => `${k} ${v}`);
    add('dead-lettered 1h', dead.length > 0 ? dead.join(', ') : 'none');
    add('signature fails 1h', String(r.signatureFailures1h ?? 0));
    add('drainer errors 1h', String(r.drainerErrors1h ?? 0));
  }
  if (s.metricsError !== undefined) add('metrics', `not read from CloudWatch: ${s.metricsError}`);
  if (s.dashboardUrl) add('dashboard', s.dashboardUrl);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** Registers `status`. */
export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status')
    .description(
      'queue depth and age, in flight, DLQ, pacing rate and window, lease holder, pause, recent failures',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const t = await resolveTarget(g, io.env);
      const now = io.now();
      const s = await collectStatus(t, now, t.serviceName);
      emit(io, g, s, (v) => statusText(v, now));
    });
}

/**
 * The drainer's integration harness: the real core over the real adapters, against fauxqs and dynalite
 * in-process and a scripted app on loopback. Also used by the child process of the kill test and the bench.
 */
import { buildDrainerDeps, CountingMetrics } from '../../adapters';
import {
  createDrainer,
  type Drainer,
  type DrainerLog,
  type DrainerOptions,
  type RunSummary,
} from '../../core/drainer';
import type { DeliveryRequest, DeliveryResult, DownstreamPort } from '../../core/ports';
import type { LocalClients, LocalResources } from '../../local/emulators';
import { QUEUE_SECRET } from '../helpers/queue';

/** One request as the drainer sent it and what came back, timed on the drainer's side. */
export interface Send {
  readonly webhookId: string;
  readonly sentAt: number;
  readonly doneAt: number;
  readonly result: DeliveryResult;
  /** The Retry-After the app announced, ms. */
  readonly retryAfterMs?: number;
}

/** Wraps the real HTTP downstream to time every send where the drainer makes it. */
export class TimedDownstream implements DownstreamPort {
  readonly sends: Send[] = [];
  /** Called just before each request leaves (e.g. to sample the drainer's status). */
  onSend?: () => void;

  constructor(private readonly inner: DownstreamPort) {}

  async post(request: DeliveryRequest, timeoutMs: number): Promise<DeliveryResult> {
    this.onSend?.();
    const sentAt = Date.now();
    const result = await this.inner.post(request, timeoutMs);
    const doneAt = Date.now();
    const ra = result.kind === 'response' ? result.headers['retry-after'] : undefined;
    const retryAfterMs = ra !== undefined && /^\d+$/.test(ra) ? Number(ra) * 1000 : undefined;
    this.sends.push({
      webhookId: request.headers['x-shopify-webhook-id'] ?? '',
      sentAt,
      doneAt,
      result,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
    return result;
  }
}

/**
 * Options of one run; the defaults keep runs short: 1 s receive waits, idle exit after 1.5 s, a 3 s lease and
 * 6 s visibility (so a killed run's messages come back quickly).
 */
export type RunOptions = Partial<Omit<DrainerOptions, 'stopAt' | 'deadline'>> & {
  /** Run at most this long, ms. @default 40000 */
  readonly budgetMs?: number;
  /** Wind-down between stopAt and deadline, ms. @default 5000 */
  readonly windDownMs?: number;
  readonly log?: DrainerLog;
  /** Called with the drainer before it runs (to sample status, or to abort it). */
  readonly onStart?: (drainer: Drainer, downstream: TimedDownstream) => void;
};

export interface RunResult {
  readonly summary: RunSummary;
  readonly metrics: CountingMetrics;
  readonly sends: readonly Send[];
}

/** One drainer run, composed exactly as Lambda and local mode compose it (`buildDrainerDeps`). */
export async function runDrainer(
  clients: LocalClients,
  resources: LocalResources,
  downstreamUrl: string,
  options: RunOptions = {},
): Promise<RunResult> {
  const metrics = new CountingMetrics();
  const { budgetMs, windDownMs, log, onStart, ...drainerOptions } = options;
  const adapters = buildDrainerDeps({
    sqs: clients.sqs,
    dynamo: clients.dynamo,
    s3: clients.s3,
    queueUrl: resources.queueUrl,
    dlqUrl: resources.dlqUrl,
    tableName: resources.tableName,
    bucketName: resources.bucketName,
    metrics,
  });
  const downstream = new TimedDownstream(adapters.downstream);
  const now = Date.now();
  const stopAt = now + (budgetMs ?? 40_000);
  const drainer = createDrainer(
    { ...adapters, downstream, ...(log ? { log } : {}) },
    {
      owner: `run-${now}-${Math.random().toString(36).slice(2, 8)}`,
      downstreamUrl,
      secrets: [QUEUE_SECRET],
      pacer: { floorPerSecond: 1, ceilingPerSecond: 5_000, maxWindow: 32, initialRatePerSecond: 50 },
      maxAttempts: 100,
      maxRetryMs: 10 * 60_000,
      downstreamTimeoutMs: 2_000,
      leaseTtlMs: 3_000,
      receiveWaitSeconds: 1,
      visibilitySeconds: 6,
      idleExitMs: 1_500,
      controlsRefreshMs: 500,
      ...drainerOptions,
      stopAt,
      deadline: stopAt + (windDownMs ?? 5_000),
    },
  );
  onStart?.(drainer, downstream);
  try {
    const summary = await drainer.run();
    return { summary, metrics, sends: downstream.sends };
  } finally {
    await adapters.close();
  }
}

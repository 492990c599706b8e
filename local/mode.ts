/**
 * Local mode (DESIGN §5): the whole pipeline in one process on loopback — emulators, the API, the real
 * drainer core through its real adapters in restarted runs, and optionally the demo app — plus the live
 * status and on-disk state. `bin/local.ts` only turns flags and environment into these options.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { buildDrainerDeps, CountingMetrics, type DrainerAdapters } from '../adapters';
import type { SluiceConfig } from '../core/config';
import { createDrainer, type Drainer, type DrainerLog, type DrainerStatus } from '../core/drainer';
import { paceTag } from '../core/pace-text';
import type { DeliveryResult, DownstreamPort } from '../core/ports';
import { LOCAL_STATE_FILE, type LocalEndpoints, METRICS, ROUTES } from '../core/resources';
import { rulesOf } from '../core/screening';
import { makeAuthorizer } from '../lambda/authorizer';
import { makeVerifyHandler } from '../lambda/verify';
import { type LocalApi, startLocalApi } from './api';
import { type DemoApp, startDemoApp } from './demo-app';
import {
  createResources,
  type Emulators,
  LOCAL_REGION,
  type LocalResources,
  localClients,
  startEmulators,
} from './emulators';
import { readSnapshot, restoreSnapshot, takeSnapshot, writeSnapshot } from './snapshot';
import { formatStatus, type StatusOutput, StatusPrinter, type StatusSample } from './status';

/** The built-in demo app's capacity. */
export interface DemoSettings {
  /** @default 50 */
  readonly ratePerSecond?: number;
  /** @default 4 */
  readonly concurrency?: number;
}

export interface LocalModeOptions {
  /** Pacing, ordering, retry and screening settings; `downstreamUrl` is ignored when `demo` is set. */
  readonly config: SluiceConfig;
  /** Shopify client secrets (current first). */
  readonly secrets: readonly string[];
  /** Deliver to the built-in demo app instead of `config.downstreamUrl`. */
  readonly demo?: DemoSettings;
  /** API port on 127.0.0.1; 0 picks a free one. @default 3000 */
  readonly port?: number;
  /** Directory for on-disk state (DynamoDB files, queue snapshot). @default in memory */
  readonly stateDir?: string;
  /** Where the endpoints file for `sluice --local` goes. @default LOCAL_STATE_FILE */
  readonly endpointsFile: string;
  /** Length of one drainer run, like the Lambda's timeout. @default 15 minutes */
  readonly runMs?: number;
  /** Status and messages. @default process.stdout */
  readonly out?: StatusOutput;
  /** Print the drainer's info lines too. @default false */
  readonly verbose?: boolean;
  /** The public development secret, named as such in the banner when it is the one in use. */
  readonly devSecret?: string;
}

export interface LocalMode {
  readonly apiUrl: string;
  readonly downstreamUrl: string;
  readonly endpoints: LocalEndpoints;
  /** Graceful stop: intake, drainer (releases what it holds), snapshot, emulators. Idempotent. */
  stop(): Promise<void>;
}

/** Files inside the state directory. */
export const STATE_FILES = { dynamo: 'dynamodb', snapshot: 'queues.json', lock: 'sluice.pid' } as const;

/** Another local mode uses the state directory (its database files take one process at a time). */
export class StateDirInUseError extends Error {
  readonly code = 'state-in-use';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `state directory ${dir} is in use by another local Sluice (pid ${pid}); stop it or choose another --state`,
    );
    this.name = 'StateDirInUseError';
  }
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent died too can stay a zombie where no init reaps it (containers):
  // signal 0 still reaches it, but it holds no files. Linux tells the state in /proc.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
};

/** Claims the state directory for this process; a lock left by a process that is gone is taken over. */
/**
 * The banner's example command, runnable as printed from another terminal: `npm run send` finds the API through
 * the endpoints file and signs with SHOPIFY_CLIENT_SECRET, else the dev secret. So a custom file or secret must
 * be named, or every webhook it sends would miss the API or be forged.
 */
export function tryCommand(endpointsFile: string, devSecret: boolean): string {
  const env = [
    ...(endpointsFile !== LOCAL_STATE_FILE ? [`SLUICE_LOCAL_FILE=${endpointsFile}`] : []),
    ...(devSecret ? [] : ['SHOPIFY_CLIENT_SECRET=<the same secret>']),
  ];
  return [...env, 'npm run send -- --count 2000'].join(' ');
}

/** Another local Sluice, still running, wrote the endpoints file this one would use. */
export class EndpointsFileInUseError extends Error {
  readonly code = 'endpoints-in-use';
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(
      `${file} belongs to another local Sluice (pid ${pid}) that is still running: stop it, or give this one ` +
        'its own file with SLUICE_LOCAL_FILE=… (npm run send and sluice --local then need the same variable)',
    );
    this.name = 'EndpointsFileInUseError';
  }
}

/**
 * Refuses to take over an endpoints file whose local mode still runs: writing over it would hide that one from
 * `sluice --local` and `npm run send`, and this one's exit would delete it. A file left by a crash is fine.
 */
async function claimEndpointsFile(file: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '');
  if (text === '') return;
  let pid = 0;
  try {
    pid = Number((JSON.parse(text) as { pid?: unknown }).pid);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
    throw new EndpointsFileInUseError(file, pid);
  }
}

async function lockStateDir(dir: string): Promise<void> {
  const file = join(dir, STATE_FILES.lock);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
      throw new StateDirInUseError(dir, holder);
    }
    await rm(file, { force: true });
  }
  throw new StateDirInUseError(dir, 0);
}

// A run ends this long before its deadline takes effect, like the Lambda handler keeps a margin.
const STOP_MARGIN_MS = 10_000;
// Between runs when a run returned at once (lease held elsewhere, error): wait, do not spin.
const RESTART_PAUSE_MS = 1_000;
const STATUS_EVERY_MS = 1_000;
const SNAPSHOT_EVERY_MS = 5_000;
const REFUSAL_WINDOW_MS = 10_000;
const REFUSALS_PER_WINDOW = 10;
const LOCAL_LEASE_TTL_MS = 5_000;
const LOCAL_RECEIVE_WAIT_S = 2;

// Errors that mean nothing is listening at the app's address, or nothing that speaks what we asked for there
// (https to an http server, a certificate this machine does not trust).
const UNREACHABLE =
  /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|UND_ERR_SOCKET|ERR_SSL|CERT|SELF_SIGNED|EPROTO/;
// A connection error is printed once per code in this long: it says what is wrong where the status line cannot.
const ERROR_REPEAT_MS = 60_000;

/** Watches delivery results so the status line can say "downstream unreachable", and says why once. */
class DownstreamWatch implements DownstreamPort {
  private last?: { kind: 'ok' | 'overloaded' | 'unreachable'; at: number };
  private readonly told = new Map<string, number>();
  constructor(
    private readonly inner: DownstreamPort,
    private readonly tell: (line: string) => void = () => {},
  ) {}

  async post(request: Parameters<DownstreamPort['post']>[0], timeoutMs: number): Promise<DeliveryResult> {
    const result = await this.inner.post(request, timeoutMs);
    const at = Date.now();
    if (result.kind === 'error') {
      if (at - (this.told.get(result.code) ?? Number.NEGATIVE_INFINITY) >= ERROR_REPEAT_MS) {
        this.told.set(result.code, at);
        const hint = /ERR_SSL|EPROTO/.test(result.code)
          ? ' (is DOWNSTREAM_URL http or https?)'
          : /CERT|SELF_SIGNED/.test(`${result.code} ${result.message}`)
            ? ' (a certificate Node does not trust: NODE_EXTRA_CA_CERTS, or use http locally)'
            : '';
        this.tell(`[downstream] ${result.code} at ${new URL(request.url).origin}: ${result.message}${hint}`);
      }
      this.last = {
        kind: UNREACHABLE.test(`${result.code} ${result.message}`) ? 'unreachable' : 'overloaded',
        at,
      };
    } else if (result.kind === 'timeout' || result.status === 429 || result.status >= 500) {
      this.last = { kind: 'overloaded', at };
    } else {
      this.last = { kind: 'ok', at };
    }
    return result;
  }

  state(now: number): StatusSample['downstream'] {
    if (!this.last) return 'idle';
    // An overload shows for a few seconds; unreachable stays until an answer comes.
    if (this.last.kind === 'overloaded' && now - this.last.at > 5_000) return 'ok';
    return this.last.kind;
  }
}

async function queueCounts(
  sqs: ReturnType<typeof localClients>['sqs'],
  queueUrl: string,
): Promise<{ visible: number; inFlight: number }> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

const maskSecret = (s: string): string =>
  s.length <= 6 ? '******' : `${s.slice(0, 3)}…${s.slice(-2)} (${s.length} chars)`;

/** Starts local mode. Everything started is stopped again if a later step fails. */
export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const devSecret = options.devSecret;
  const out = options.out ?? process.stdout;
  const printer = new StatusPrinter(out);
  const config = options.config;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  };

  try {
    await claimEndpointsFile(options.endpointsFile);
    const stateDir = options.stateDir;
    const snapshotFile = stateDir ? join(stateDir, STATE_FILES.snapshot) : undefined;
    if (stateDir) {
      await mkdir(join(stateDir, STATE_FILES.dynamo), { recursive: true });
      await lockStateDir(stateDir);
      cleanups.push(() => rm(join(stateDir, STATE_FILES.lock), { force: true }));
    }
    const emulators: Emulators = await startEmulators(
      stateDir ? { dynamoPath: join(stateDir, STATE_FILES.dynamo) } : {},
    );
    cleanups.push(() => emulators.stop());
    const clients = localClients(emulators);
    const resources: LocalResources = await createResources(clients);

    if (snapshotFile) {
      const snapshot = await readSnapshot(snapshotFile);
      if (snapshot) {
        // The file stays until the next snapshot replaces it: a crash before then restores the same set again
        // into an empty queue, and the DynamoDB delivered records skip whatever was delivered meanwhile.
        const restored = await restoreSnapshot(clients.sqs, resources, snapshot);
        printer.log(
          `Restored ${restored.queued} queued webhook(s) and ${restored.deadLetters} dead letter(s) from ${snapshotFile}`,
        );
      }
    }

    let demo: DemoApp | undefined;
    if (options.demo) {
      demo = await startDemoApp({
        secrets: options.secrets,
        ...(options.demo.ratePerSecond !== undefined ? { ratePerSecond: options.demo.ratePerSecond } : {}),
        ...(options.demo.concurrency !== undefined ? { concurrency: options.demo.concurrency } : {}),
      });
      const d = demo;
      cleanups.push(() => d.close());
    }
    const downstreamUrl = demo?.url ?? config.downstreamUrl;

    // The drainer: the real core over the real adapters, restarted run after run like the schedule does.
    const metrics = new CountingMetrics();
    const adapters: DrainerAdapters = buildDrainerDeps({
      sqs: clients.sqs,
      dynamo: clients.dynamo,
      s3: clients.s3,
      queueUrl: resources.queueUrl,
      dlqUrl: resources.dlqUrl,
      tableName: resources.tableName,
      bucketName: resources.bucketName,
      metrics,
    });
    cleanups.push(() => adapters.close());
    const downstream = new DownstreamWatch(adapters.downstream, (line) => printer.log(line));
    const log: DrainerLog = (level, msg, data) => {
      if (level === 'info' && !options.verbose) return;
      printer.log(`[drainer ${level}] ${msg}${data ? ` ${JSON.stringify(data)}` : ''}`);
    };
    const stopDrainer = new AbortController();
    let current: Drainer | undefined;
    let lastStatus: DrainerStatus | undefined;
    let waitingForLease = false;
    const runMs = options.runMs ?? 15 * 60_000;
    const loop = (async () => {
      for (let run = 1; !stopDrainer.signal.aborted; run++) {
        const t0 = Date.now();
        const drainer = createDrainer(
          { ...adapters, downstream, log },
          {
            owner: `local-${process.pid}-${run}`,
            downstreamUrl,
            secrets: options.secrets,
            pacer: {
              floorPerSecond: config.rateFloorPerSecond,
              ceilingPerSecond: config.rateCeilingPerSecond,
              maxWindow: config.maxInFlight,
            },
            maxAttempts: config.maxAttempts,
            maxRetryMs: config.maxRetryMinutes * 60_000,
            downstreamTimeoutMs: config.downstreamTimeoutMs,
            ...(config.serviceTimeMetric ? { serviceTimeMetric: config.serviceTimeMetric } : {}),
            stopAt: t0 + runMs - Math.min(STOP_MARGIN_MS, runMs / 5),
            deadline: t0 + runMs,
            // Only a crashed predecessor can hold the lease here (LevelDB locks the state directory to one
            // process), so a short lease lets a restart after a hard kill resume within seconds.
            leaseTtlMs: LOCAL_LEASE_TTL_MS,
            // A stop waits for a long poll cut short to finish (the adapters hand back what it brings), so
            // short polls keep Ctrl-C quick; against the local emulator they cost nothing.
            receiveWaitSeconds: LOCAL_RECEIVE_WAIT_S,
            signal: stopDrainer.signal,
          },
        );
        current = drainer;
        try {
          const summary = await drainer.run();
          lastStatus = summary;
          waitingForLease = summary.outcome === 'lease-held';
          if (summary.outcome === 'lease-held' || Date.now() - t0 < RESTART_PAUSE_MS) {
            await adapters.clock.sleep(RESTART_PAUSE_MS, stopDrainer.signal);
          }
        } catch (err) {
          printer.log(
            `[drainer error] run ${run} failed: ${err instanceof Error ? err.message : String(err)}`,
          );
          await adapters.clock.sleep(RESTART_PAUSE_MS, stopDrainer.signal);
        }
      }
    })();
    cleanups.push(async () => {
      stopDrainer.abort();
      await loop;
    });

    // Intake: the API, with the real authorizer and verify handlers.
    const counts = { received: 0, refused: 0 };
    const rules = rulesOf(config);
    // Why requests are refused, printed above the status line; a flood of bad requests prints a few per
    // interval and a count of the rest, not one line each.
    let noted = 0;
    let suppressed = 0;
    let windowStart = 0;
    const note = (line: string) => {
      const now = Date.now();
      if (now - windowStart > REFUSAL_WINDOW_MS) {
        if (suppressed > 0) printer.log(`[api] … and ${suppressed} more refusal line(s) not shown`);
        windowStart = now;
        noted = 0;
        suppressed = 0;
      }
      if (noted < REFUSALS_PER_WINDOW) {
        noted++;
        printer.log(line);
      } else {
        suppressed++;
      }
    };
    const fields = (entry: Readonly<Record<string, string | number>>) =>
      Object.entries(entry)
        .filter(([k]) => k !== 'level' && k !== 'message')
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
    const api: LocalApi = await startLocalApi({
      sqs: clients.sqs,
      queueUrl: resources.queueUrl,
      port: options.port ?? 3000,
      verifyAllRoutes: config.verifyAllRoutes,
      authorizer: makeAuthorizer(rules, {
        ordering: config.orderingKey,
        log: (entry) => note(`[authorizer] ${entry.message ?? ''}: ${fields(entry)}`),
      }),
      verify: makeVerifyHandler({
        sqs: clients.sqs,
        s3: clients.s3,
        queueUrl: resources.queueUrl,
        bucketName: resources.bucketName,
        secrets: async () => options.secrets,
        rules,
        ordering: config.orderingKey,
        log: (entry) => note(`[verify] ${entry.message ?? ''}: ${fields(entry)}`),
      }),
      onResult: (route, status, request, why) => {
        if (status >= 200 && status < 300) {
          counts.received++;
          return;
        }
        counts.refused++;
        // An SQS refusal on the direct route is over 1 MiB, or characters the emulator cannot store (README).
        const hint =
          why && route === 'direct' ? ' (over 1 MiB, or emoji fauxqs cannot store? use /verified/…)' : '';
        note(
          `[api] ${status} ${request.method} ${request.path}${route === 'none' ? '' : ` (${route} route)`}${why ? `: ${why}${hint}` : ''}`,
        );
      },
    });
    cleanups.push(() => api.close());

    const endpoints: LocalEndpoints = {
      apiUrl: api.url,
      sqsEndpoint: emulators.sqsEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      dynamoEndpoint: emulators.dynamoEndpoint,
      region: LOCAL_REGION,
      queueUrl: resources.queueUrl,
      dlqUrl: resources.dlqUrl,
      tableName: resources.tableName,
      bucketName: resources.bucketName,
      pid: process.pid,
    };
    await mkdir(dirname(options.endpointsFile), { recursive: true });
    await writeFile(options.endpointsFile, `${JSON.stringify(endpoints, null, 2)}\n`, 'utf8');
    cleanups.push(async () => {
      // Only our own file: another local mode may have started since.
      const text = await readFile(options.endpointsFile, 'utf8').catch(() => '');
      if (text.includes(`"pid": ${process.pid}`)) await rm(options.endpointsFile, { force: true });
    });

    const secretNote =
      devSecret !== undefined && options.secrets[0] === devSecret
        ? `${devSecret}  (dev secret: set SHOPIFY_CLIENT_SECRET for your app's)`
        : `${options.secrets.map(maskSecret).join(', ')}  (from SHOPIFY_CLIENT_SECRET)`;
    // AWS_DEFAULT_REGION as well: version 1 of the AWS CLI reads only that one.
    const awsEnv =
      'AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1';
    printer.log(
      [
        'Sluice local mode',
        `  Webhook URL   ${api.url}/webhooks   (POST any path; forwarded to the same path)`,
        `  Verified URL  ${api.url}${ROUTES.verifiedPrefix}/webhooks   (401 on a bad signature)`,
        `  Delivering to ${downstreamUrl}${
          demo
            ? `   (built-in demo app: ${options.demo?.ratePerSecond ?? 50} req/s, ${options.demo?.concurrency ?? 4} at once)`
            : ''
        }`,
        `  Secret        ${secretNote}`,
        `  SQS           ${emulators.sqsEndpoint}   queue ${resources.queueUrl}`,
        `                DLQ ${resources.dlqUrl}`,
        `  DynamoDB      ${emulators.dynamoEndpoint}   table ${resources.tableName}`,
        `  State         ${stateDir ? `${stateDir} (kept across restarts)` : 'in memory (--state <dir> keeps it)'}`,
        `  Endpoints     ${options.endpointsFile}`,
        // Runs restart back to back here, not on a minute schedule: an idle exit would save nothing.
        ...(config.idleExitSeconds > 0
          ? [
              `  Idle exit     not applied locally (idleExitSeconds ${config.idleExitSeconds}): the drainer polls continuously`,
            ]
          : []),
        ...(config.serviceTimeMetric
          ? [`  Service time  read from your app's Server-Timing metric ${config.serviceTimeMetric}`]
          : []),
        `  Try           ${tryCommand(options.endpointsFile, devSecret !== undefined && options.secrets[0] === devSecret)}`,
        `  Inspect       ${awsEnv} aws --endpoint-url ${emulators.sqsEndpoint} sqs get-queue-attributes --queue-url ${resources.queueUrl} --attribute-names All`,
        'Ctrl-C stops gracefully (twice forces).',
      ].join('\n'),
    );

    // Live status, about once a second.
    let prevDelivered = 0;
    let prevAt = Date.now();
    let ticking = false;
    const tick = async () => {
      if (ticking) return;
      ticking = true;
      try {
        const [main, dlq] = await Promise.all([
          queueCounts(clients.sqs, resources.queueUrl),
          queueCounts(clients.sqs, resources.dlqUrl),
        ]);
        const now = Date.now();
        const delivered = metrics.total(METRICS.delivered);
        const perSecond = ((delivered - prevDelivered) * 1000) / Math.max(1, now - prevAt);
        prevDelivered = delivered;
        prevAt = now;
        const s = current?.status() ?? lastStatus;
        const paused = s?.operatorPaused
          ? 'operator'
          : s && s.pausedUntil > now
            ? `Retry-After ${((s.pausedUntil - now) / 1000).toFixed(1)}s`
            : waitingForLease
              ? 'waiting for the previous drainer’s lease'
              : undefined;
        printer.show(
          formatStatus({
            received: counts.received,
            refused: counts.refused,
            queued: main.visible,
            inFlight: main.inFlight,
            delivered,
            deliveredPerSecond: perSecond,
            ...(s ? { ratePerSecond: s.ratePerSecond, window: s.window } : {}),
            ...(s?.pace ? { paceSetBy: paceTag(s.pace) } : {}),
            deadLetters: dlq.visible + dlq.inFlight,
            ...(paused ? { paused } : {}),
            downstream:
              s?.refusingSince !== undefined && downstream.state(now) !== 'unreachable'
                ? 'refusing'
                : downstream.state(now),
          }),
        );
      } catch {
        // The emulators are stopping; the next tick (if any) tries again.
      } finally {
        ticking = false;
      }
    };
    const timer = setInterval(() => void tick(), STATUS_EVERY_MS);
    cleanups.push(async () => clearInterval(timer));

    // Periodic snapshots bound what a hard kill (SIGKILL, power loss) can lose to the last few seconds of
    // intake; Ctrl-C writes a final one. Inspection does not receive, so the drainer is not disturbed.
    let periodic: Promise<void> = Promise.resolve();
    let periodicTimer: NodeJS.Timeout | undefined;
    let periodicOn = snapshotFile !== undefined;
    const schedule = (delayMs: number) => {
      if (!periodicOn) return;
      periodicTimer = setTimeout(() => {
        periodic = (async () => {
          const t0 = Date.now();
          try {
            await writeSnapshot(snapshotFile!, await takeSnapshot(emulators.sqsEndpoint, resources));
          } catch (err) {
            printer.log(`[state] snapshot failed: ${err instanceof Error ? err.message : String(err)}`);
          }
          // A big queue is costly to copy: space the copies out so they take at most ~5% of the time.
          schedule(Math.max(SNAPSHOT_EVERY_MS, 20 * (Date.now() - t0)));
        })();
      }, delayMs);
    };
    schedule(SNAPSHOT_EVERY_MS);

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        clearInterval(timer);
        periodicOn = false;
        clearTimeout(periodicTimer);
        printer.done();
        if (suppressed > 0) printer.log(`[api] … and ${suppressed} more refusal line(s) not shown`);
        printer.log('Stopping: intake closed, drainer releasing what it holds…');
        await api.close();
        stopDrainer.abort();
        await loop;
        await adapters.close();
        await periodic;
        let failure: unknown;
        if (snapshotFile) {
          try {
            const snapshot = await takeSnapshot(emulators.sqsEndpoint, resources);
            await writeSnapshot(snapshotFile, snapshot);
            printer.log(
              `Saved ${snapshot.queue.length} queued webhook(s) and ${snapshot.deadLetters.length} dead letter(s) to ${snapshotFile}`,
            );
          } catch (err) {
            failure = err;
          }
        } else {
          const [main, dlq] = await Promise.all([
            queueCounts(clients.sqs, resources.queueUrl),
            queueCounts(clients.sqs, resources.dlqUrl),
          ]);
          const left = main.visible + main.inFlight;
          const dead = dlq.visible + dlq.inFlight;
          if (left + dead > 0) {
            printer.log(
              `Discarding ${left} queued webhook(s) and ${dead} dead letter(s) kept in memory (use --state <dir> to keep them).`,
            );
          }
        }
        await cleanup();
        if (failure !== undefined) {
          throw new Error(
            `could not save the queue snapshot: ${failure instanceof Error ? failure.message : String(failure)}`,
          );
        }
        printer.log(`Stopped. Delivered ${metrics.total(METRICS.delivered)} webhook(s) in this session.`);
      })();
      return stopping;
    };
    return { apiUrl: api.url, downstreamUrl, endpoints, stop };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

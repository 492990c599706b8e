// Throughput ceiling of the drainer with its real adapters (SQS, DynamoDB, undici) behind fauxqs + dynalite
// and an instant app, all on 127.0.0.1. The emulators and the app run in a child process, so
// `process.cpuUsage()` here is the drainer's own CPU (core + adapters + SDK clients).
// Run: npm run bench:drainer [-- messages=5000 groups=50,500 window=64]; BENCH_TRACE=1 prints status each second.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { buildDrainerDeps, CountingMetrics, DRAINER_SDK_CLIENT_CONFIG } from '../adapters';
import { createDrainer } from '../core/drainer';
import { METRICS } from '../core/resources';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalResources } from '../local/emulators';
import { enqueue, QUEUE_SECRET } from '../test/helpers/queue';

interface Env {
  readonly sqsEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  readonly resources: LocalResources;
  readonly appUrl: string;
}

interface Row {
  readonly messages: number;
  readonly groups: number;
  readonly maxWindow: number;
  readonly delivered: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  readonly cpuMsPerMessage: number;
  readonly cpuShare: number;
  readonly finalRatePerSecond: number;
  readonly finalWindow: number;
  readonly appAnswered: number;
}

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? fallback;

/** Starts the environment child and returns its endpoints plus a line reader and a stop function. */
async function startEnv(): Promise<{ env: Env; ask: () => Promise<number>; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'drainer-env.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  lines.on('line', (line) => {
    if (!line.startsWith('{')) return;
    const w = waiters.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const next = (): Promise<string> =>
    new Promise((resolve) => {
      const line = queue.shift();
      if (line !== undefined) resolve(line);
      else waiters.push(resolve);
    });
  const env = JSON.parse(await next()) as Env;
  return {
    env,
    ask: async () => {
      child.stdin!.write('count\n');
      return (JSON.parse(await next()) as { answered: number }).answered;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

async function measure(
  env: Env,
  messages: number,
  groups: number,
  maxWindow: number,
  runId: number,
): Promise<Row> {
  // The drainer Lambda's client settings (the enqueue below shares the SQS client; it is not measured).
  const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, ...DRAINER_SDK_CLIENT_CONFIG };
  const sqs = new SQSClient({ ...base, endpoint: env.sqsEndpoint });
  const dynamo = new DynamoDBClient({ ...base, endpoint: env.dynamoEndpoint });
  const s3 = new S3Client({ ...base, endpoint: env.s3Endpoint, forcePathStyle: true });
  await enqueue(
    sqs,
    env.resources.queueUrl,
    Array.from({ length: messages }, (_, i) => ({
      webhookId: `bench-${runId}-${i}`,
      shop: `bench-${runId}-shop-${i % groups}.myshopify.com`,
    })),
  );
  const metrics = new CountingMetrics();
  const adapters = buildDrainerDeps({
    sqs,
    dynamo,
    s3,
    queueUrl: env.resources.queueUrl,
    dlqUrl: env.resources.dlqUrl,
    tableName: env.resources.tableName,
    bucketName: env.resources.bucketName,
    metrics,
  });
  let firstSend = 0;
  let lastAnswer = 0;
  const downstream = {
    post: async (...args: Parameters<typeof adapters.downstream.post>) => {
      firstSend ||= performance.now();
      const result = await adapters.downstream.post(...args);
      lastAnswer = performance.now();
      return result;
    },
  };
  const now = Date.now();
  const drainer = createDrainer(
    { ...adapters, downstream },
    {
      owner: `bench-${runId}`,
      downstreamUrl: env.appUrl,
      secrets: [QUEUE_SECRET],
      // The ceiling is out of reach and the start is high: this measures the drainer, not the pacer's climb.
      pacer: { floorPerSecond: 1, ceilingPerSecond: 10_000, maxWindow, initialRatePerSecond: 5_000 },
      maxAttempts: 100,
      maxRetryMs: 600_000,
      downstreamTimeoutMs: 5_000,
      stopAt: now + 120_000,
      deadline: now + 125_000,
      receiveWaitSeconds: 1,
      idleExitMs: 1_000,
    },
  );
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const trace = process.env.BENCH_TRACE
    ? setInterval(() => console.error(JSON.stringify(drainer.status())), 1_000)
    : undefined;
  const summary = await drainer.run();
  if (trace) clearInterval(trace);
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  await adapters.close();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const seconds = (lastAnswer - firstSend) / 1000;
  // CPU is counted over the whole run, including the idle second before it exits: an upper bound.
  return {
    messages,
    groups,
    maxWindow,
    delivered: summary.delivered,
    seconds: Math.round(seconds * 100) / 100,
    messagesPerSecond: Math.round(summary.delivered / seconds),
    cpuMsPerMessage: Math.round((cpuMs / Math.max(1, summary.delivered)) * 1000) / 1000,
    cpuShare: Math.round((cpuMs / wall) * 100) / 100,
    finalRatePerSecond: Math.round(metrics.get(METRICS.pacingRate).last),
    finalWindow: metrics.get(METRICS.pacingWindow).last,
    appAnswered: 0,
  };
}

async function main(): Promise<void> {
  const messages = Number(arg('messages', '5000'));
  const groupsList = arg('groups', '50,500').split(',').map(Number);
  const maxWindow = Number(arg('window', '64'));
  const { env, ask, stop } = await startEnv();
  const rows: Row[] = [];
  try {
    let run = 0;
    for (const groups of groupsList) {
      const before = await ask();
      const row = await measure(env, messages, groups, maxWindow, run++);
      rows.push({ ...row, appAnswered: (await ask()) - before });
    }
  } finally {
    await stop();
  }
  console.log('\nDrainer throughput ceiling: real adapters, fauxqs + dynalite, instant app on loopback');
  console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);
  console.table(
    rows.map((r) => ({
      messages: r.messages,
      groups: r.groups,
      'max window': r.maxWindow,
      delivered: r.delivered,
      's (1st send→last answer)': r.seconds,
      'messages/s': r.messagesPerSecond,
      'CPU ms/message': r.cpuMsPerMessage,
      'CPU share': r.cpuShare,
      'final rate/s': r.finalRatePerSecond,
      'final window': r.finalWindow,
    })),
  );
  const out = path.join(__dirname, 'results', 'drainer.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ bench: 'drainer', node: process.version, at: new Date().toISOString(), rows }, null, 2)}\n`,
  );
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
  const bad = rows.filter((r) => r.delivered !== r.messages || r.appAnswered !== r.messages);
  if (bad.length > 0) {
    console.error('not every message was delivered exactly once', bad);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/** The verified route: checks the HMAC over the raw body, answers 401 to forgeries, enqueues the same message. */
import { Metrics, type MetricUnit } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { configFromEnv } from '../core/config';
import type { OrderingKey } from '../core/contract';
import { normalizeHeaders } from '../core/headers';
import type { MetricsPort } from '../core/ports';
import { METRICS, ROUTES } from '../core/resources';
import { rulesOf, type ScreeningRules } from '../core/screening';
import { planVerified } from '../core/verify';
import { once } from './shared/once';
import { cachedSecrets } from './shared/secrets';

export interface VerifyDeps {
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly s3: Pick<S3Client, 'send'>;
  readonly queueUrl: string;
  readonly bucketName: string;
  /** The Shopify secrets to try (`"new,old"` split). Empty means not configured yet. */
  readonly secrets: () => Promise<readonly string[]>;
  readonly rules: ScreeningRules;
  readonly ordering: OrderingKey;
  /** Receive time when the event carries none, epoch ms. @default Date.now */
  readonly now?: () => number;
  /** @default no metrics */
  readonly metrics?: MetricsPort;
  /** @default one JSON line on stdout */
  readonly log?: (entry: Readonly<Record<string, string | number>>) => void;
  /**
   * Answer 503 if storing takes longer than this, ms: Shopify counts a webhook unanswered after 5 s as failed,
   * so a slow or hung AWS call must not keep it waiting. @default 4500
   */
  readonly answerWithinMs?: number;
}

/**
 * Every AWS call of the verify function is bounded: connect in 1 s, done in 2 s (3.5 s for a large body to S3),
 * one retry. The SDK's default is no timeout at all: a hung connection held Shopify past its 5 s.
 */
const bounded = (requestTimeout: number) =>
  ({
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1_000, requestTimeout, throwOnRequestTimeout: true },
  }) as const;

const json = (
  statusCode: number,
  body: Readonly<Record<string, unknown>>,
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...(statusCode === 405 ? { allow: 'POST' } : {}) },
  body: JSON.stringify(body),
});

/** A verify handler over its clients; 200 only once the message (and any claim-checked body) is stored. */
export function makeVerifyHandler(
  deps: VerifyDeps,
): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? ((entry) => console.log(JSON.stringify(entry)));
  const answerWithinMs = deps.answerWithinMs ?? 4_500;
  const handle = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const method = event.requestContext?.http?.method ?? 'POST';
    let secrets: readonly string[] = [];
    try {
      if (method === 'POST') secrets = await deps.secrets();
    } catch (err) {
      log({ level: 'ERROR', message: 'cannot read the Shopify secret', error: String(err) });
      return json(503, { error: 'secret-unavailable', message: 'Try again later.' });
    }
    const plan = planVerified({
      method,
      headers: normalizeHeaders(event.headers ?? {}),
      path: event.rawPath,
      query: event.rawQueryString,
      body: Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8'),
      receivedAt: event.requestContext?.timeEpoch ?? now(),
      secrets,
      rules: deps.rules,
      ordering: deps.ordering,
      stripPrefix: ROUTES.verifiedPrefix,
    });
    if (plan.kind === 'reject') {
      if (plan.error === 'signature') deps.metrics?.add(METRICS.signatureFailures, 'Count', 1);
      log({ level: 'WARN', message: 'webhook rejected', status: plan.status, error: plan.error });
      deps.metrics?.flush();
      return json(plan.status, { error: plan.error, message: plan.message });
    }
    try {
      if (plan.claimCheck) {
        await deps.s3.send(
          new PutObjectCommand({
            Bucket: deps.bucketName,
            Key: plan.claimCheck.key,
            Body: plan.claimCheck.bytes,
          }),
        );
        deps.metrics?.add(METRICS.claimChecked, 'Count', 1);
      }
      const attributes: Record<string, MessageAttributeValue> = {};
      for (const [name, value] of Object.entries(plan.message.attributes))
        attributes[name] = { DataType: 'String', StringValue: value };
      await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: deps.queueUrl,
          MessageBody: plan.message.body,
          MessageGroupId: plan.message.groupId,
          MessageDeduplicationId: plan.message.dedupId,
          MessageAttributes: attributes,
        }),
      );
    } catch (err) {
      // Not stored: 5xx makes Shopify retry the same delivery (same webhook id, so no duplicate).
      log({
        level: 'ERROR',
        message: 'enqueue failed',
        webhookId: plan.envelope.webhookId,
        error: String(err),
      });
      deps.metrics?.flush();
      return json(503, { error: 'enqueue-failed', message: 'Try again later.' });
    }
    deps.metrics?.add(METRICS.verifiedAccepted, 'Count', 1);
    deps.metrics?.flush();
    return json(200, { ok: true });
  };
  return async (event) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<APIGatewayProxyStructuredResultV2>((resolve) => {
      timer = setTimeout(() => {
        // Shopify retries a 503; if the store completes after all, the retry is the same webhook (same
        // dedup id within 5 minutes, the drainer's delivered record after).
        log({ level: 'ERROR', message: 'storing took too long; answered 503', afterMs: answerWithinMs });
        resolve(json(503, { error: 'store-slow', message: 'Try again later.' }));
      }, answerWithinMs);
    });
    try {
      return await Promise.race([handle(event), late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Powertools EMF behind the MetricsPort (namespace and service from POWERTOOLS_* env set by the stack). */
function powertoolsMetrics(): MetricsPort {
  const metrics = new Metrics({ namespace: METRICS.namespace });
  return {
    add: (name, unit, value) =>
      metrics.addMetric(name, unit as (typeof MetricUnit)[keyof typeof MetricUnit], value),
    flush: () => metrics.publishStoredMetrics(),
  };
}

const fromEnv = once(() => {
  const env = process.env;
  const config = configFromEnv(env);
  const required = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`environment variable ${name} is not set`);
    return v;
  };
  return makeVerifyHandler({
    sqs: new SQSClient(bounded(2_000)),
    s3: new S3Client(bounded(3_500)),
    queueUrl: required('QUEUE_URL'),
    bucketName: required('BUCKET_NAME'),
    secrets: cachedSecrets(new SecretsManagerClient(bounded(2_000)), required('SECRET_ARN')),
    rules: rulesOf(config),
    ordering: config.orderingKey,
    metrics: powertoolsMetrics(),
  });
});

/** The Lambda entry point; configuration comes from the environment (`configToEnv` plus the resource names). */
export const handler = (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> =>
  fromEnv()(event);

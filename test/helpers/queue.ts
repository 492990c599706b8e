/** Factories for queued webhooks: encode as the ingress does, send to a queue, read a queue back. */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type Envelope, encode, type OrderingKey } from '../../core/contract';
import { sign } from '../../core/signature';

export const QUEUE_SECRET = 'queue-secret';

export interface WebhookSpec {
  readonly webhookId: string;
  readonly shop?: string;
  readonly topic?: string;
  readonly body?: string;
  /** Original path and query. @default '/webhooks' */
  readonly target?: string;
  /** @default QUEUE_SECRET */
  readonly secret?: string;
  /** Signature header to send instead of the real one (a forgery). */
  readonly hmac?: string;
  readonly receivedAt?: number;
  readonly claimCheck?: string;
}

/** The envelope and body of a signed Shopify-style webhook. */
export function webhook(spec: WebhookSpec): { envelope: Envelope; body: string } {
  const body =
    spec.body ?? `{"id":${spec.webhookId.length}0000000000000001,"note":"a\\/b ü ${spec.webhookId}"}`;
  const shop = spec.shop ?? 'shop-1.myshopify.com';
  const topic = spec.topic ?? 'products/update';
  const hmac = spec.hmac ?? sign(spec.secret ?? QUEUE_SECRET, body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-shopify-hmac-sha256': hmac,
    'x-shopify-topic': topic,
    'x-shopify-shop-domain': shop,
    'x-shopify-api-version': '2026-01',
    'x-shopify-webhook-id': spec.webhookId,
    'x-shopify-triggered-at': '2026-11-25T13:00:00.000Z',
  };
  return {
    envelope: {
      hmac,
      topic,
      shop,
      webhookId: spec.webhookId,
      apiVersion: '2026-01',
      target: spec.target ?? '/webhooks',
      receivedAt: spec.receivedAt ?? 1_764_000_000_000,
      headers,
      ...(spec.claimCheck ? { claimCheck: spec.claimCheck } : {}),
    },
    body,
  };
}

const toSqsAttributes = (attrs: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]));

/** Sends webhooks as the ingress would (contract `encode`), in batches of 10, keeping their order. */
export async function enqueue(
  sqs: SQSClient,
  queueUrl: string,
  specs: readonly WebhookSpec[],
  options: { readonly ordering?: OrderingKey; readonly dedupSuffix?: string } = {},
): Promise<void> {
  const messages = specs.map((s) => {
    const { envelope, body } = webhook(s);
    return encode(envelope, body, options.ordering ?? 'shop');
  });
  // Batches are sent one after the other: order within a group is the send order.
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({
          Id: String(j),
          MessageBody: m.body,
          MessageGroupId: m.groupId,
          MessageDeduplicationId: `${m.dedupId}${options.dedupSuffix ?? ''}`,
          MessageAttributes: toSqsAttributes(m.attributes),
        })),
      }),
    );
    if (out.Failed && out.Failed.length > 0) throw new Error(`enqueue failed: ${JSON.stringify(out.Failed)}`);
  }
}

/** Sends one raw message (for malformed-contract cases). */
export async function sendRaw(
  sqs: SQSClient,
  queueUrl: string,
  body: string,
  groupId: string,
  dedupId: string,
  attributes: Readonly<Record<string, string>> = {},
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageGroupId: groupId,
      MessageDeduplicationId: dedupId,
      MessageAttributes: toSqsAttributes(attributes),
    }),
  );
}

/** Receives and deletes everything visible in a queue (bounded: at most `max` messages, 50 empty polls). */
export async function drainAll(sqs: SQSClient, queueUrl: string, max = 10_000): Promise<Message[]> {
  const out: Message[] = [];
  for (let empty = 0, i = 0; empty < 2 && out.length < max && i < max; i++) {
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const msgs = got.Messages ?? [];
    if (msgs.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    out.push(...msgs);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: msgs.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return out;
}

/** QueuePort over SQS (AWS SDK v3): receive with system attributes, batched deletes and visibility changes, DLQ moves. */
import {
  type BatchResultErrorEntry,
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  DeadLetterNotDeletedError,
  type DeadLetterReceipt,
  type QueuedMessage,
  type QueuePort,
} from '../core/ports';
import { type DeadLetterInfo, FAILURE_ATTRIBUTE, QUEUE } from '../core/resources';
import { sleep } from './clock';

/** SQS's per-request batch limit. */
const BATCH = 10;
/** SQS's per-message attribute limit. */
const MAX_ATTRIBUTES = 10;
/** Body of a dead-lettered message that had none (SQS rejects empty bodies). */
const NO_BODY = '(no body)';

/** Entries of a batch call that still failed after the retries. Retryable when no entry was the caller's fault. */
export class QueueBatchError extends Error {
  readonly code = 'queue-batch';
  constructor(
    readonly operation: 'delete' | 'change-visibility',
    readonly failed: readonly BatchResultErrorEntry[],
  ) {
    super(
      `SQS ${operation} failed for ${failed.length} message(s): ${failed
        .slice(0, 3)
        .map((f) => `${f.Code}${f.Message ? ` (${f.Message})` : ''}`)
        .join('; ')}`,
    );
    this.name = 'QueueBatchError';
  }
  /** Server-side failures may pass on a later call; a stale receipt handle never will. */
  get retryable(): boolean {
    return this.failed.every((f) => !f.SenderFault);
  }
}

/** A message could not be moved to the DLQ; it stays in the main queue, so nothing is lost. */
export class DeadLetterError extends Error {
  readonly code = 'dead-letter';
  constructor(
    readonly messageId: string,
    readonly cause: unknown,
  ) {
    super(
      `could not move message ${messageId} to the DLQ: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'DeadLetterError';
  }
}

export interface SqsQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Attempts per batch call, counting the first; only failed entries are sent again. @default 3 */
  readonly batchAttempts?: number;
  /** Pause before re-sending failed entries, ms (doubles per attempt). @default 50 */
  readonly retryDelayMs?: number;
}

/** A received attribute, with the type SQS needs to send it again. */
type ReceivedAttribute = Pick<MessageAttributeValue, 'DataType' | 'StringValue' | 'BinaryValue'>;

/** The webhook queue as the drainer core sees it. */
export class SqsQueue implements QueuePort {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly dlqUrl: string;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly background = new Set<Promise<void>>();

  constructor(options: SqsQueueOptions) {
    this.client = options.client;
    this.queueUrl = options.queueUrl;
    this.dlqUrl = options.deadLetterQueueUrl;
    this.attempts = Math.max(1, options.batchAttempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? 50;
  }

  /**
   * Long-polls for messages. An abort returns [] at once but does not cut the HTTP request: a long poll
   * whose connection is dropped can still be handed messages by SQS (and by fauxqs), which would then sit
   * invisible, unseen, for a whole visibility timeout. The poll finishes in the background instead, and
   * whatever it brings is handed straight back (visibility 0). `settle()` waits for such polls.
   */
  async receive(
    maxMessages: number,
    waitSeconds: number,
    visibilitySeconds: number,
    signal?: AbortSignal,
  ): Promise<QueuedMessage[]> {
    if (signal?.aborted) return [];
    const request = this.client
      .send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.min(BATCH, Math.max(1, Math.floor(maxMessages))),
          WaitTimeSeconds: Math.min(20, Math.max(0, Math.floor(waitSeconds))),
          VisibilityTimeout: Math.max(0, Math.ceil(visibilitySeconds)),
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
          MessageAttributeNames: ['All'],
        }),
      )
      .then((out) => (out.Messages ?? []).map(toQueued));
    if (!signal) return request;
    return new Promise<QueuedMessage[]>((resolve, reject) => {
      let detached = false;
      const onAbort = (): void => {
        detached = true;
        resolve([]);
        const background = request
          .then((late) => (late.length > 0 ? this.release(late) : undefined))
          .catch(() => undefined)
          .finally(() => this.background.delete(background));
        this.background.add(background);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      request.then(
        (messages) => {
          signal.removeEventListener('abort', onAbort);
          if (!detached) resolve(messages);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (!detached) reject(err);
        },
      );
    });
  }

  /** Waits for long polls abandoned by an abort to finish and hand back what they received. */
  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Hands messages nobody will work on back to the queue at once. */
  private async release(messages: readonly QueuedMessage[]): Promise<void> {
    await this.changeVisibility(
      messages.map((m) => m.receiptHandle),
      0,
    );
  }

  async deleteMessages(receiptHandles: readonly string[]): Promise<void> {
    await this.batched('delete', receiptHandles, (entries) =>
      this.client.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries })),
    );
  }

  async changeVisibility(receiptHandles: readonly string[], seconds: number): Promise<void> {
    const timeout = Math.max(0, Math.min(43_200, Math.ceil(seconds)));
    await this.batched('change-visibility', receiptHandles, (entries) =>
      this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: entries.map((e) => ({ ...e, VisibilityTimeout: timeout })),
        }),
      ),
    );
  }

  /**
   * Sends the message to the DLQ as it was (same body, attributes and group, so it can be replayed), with
   * `Failure` attached, then deletes it from the queue. The dedup id is the queue's message id, so a move
   * repeated after a crash between the two calls lands in the DLQ once (SQS then answers with the first
   * copy's message id). Returns where it landed, for the dead-letter index.
   */
  async deadLetter(message: QueuedMessage, info: DeadLetterInfo): Promise<DeadLetterReceipt> {
    const body = message.body === undefined || message.body === '' ? NO_BODY : message.body;
    const attributes = dlqAttributes(message.attributes, info);
    if (messageBytes(body, attributes) > QUEUE.deadLetterMaxMessageBytes) {
      // The response snippet is the only part that can go: the webhook itself must be kept whole.
      const { detail: _dropped, ...slim } = info;
      attributes[FAILURE_ATTRIBUTE] = { DataType: 'String', StringValue: JSON.stringify(slim) };
    }
    let sent: { MessageId?: string | undefined; SequenceNumber?: string | undefined };
    try {
      sent = await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.dlqUrl,
          MessageBody: body,
          MessageGroupId: message.groupId,
          MessageDeduplicationId: dedupIdOf(message.messageId),
          MessageAttributes: attributes,
        }),
      );
    } catch (err) {
      throw new DeadLetterError(message.messageId, err);
    }
    const receipt = {
      ...(sent.MessageId ? { dlqMessageId: sent.MessageId } : {}),
      ...(sent.SequenceNumber ? { sequenceNumber: sent.SequenceNumber } : {}),
    };
    try {
      await this.deleteMessages([message.receiptHandle]);
    } catch (err) {
      throw new DeadLetterNotDeletedError(message.messageId, receipt, err);
    }
    return receipt;
  }

  /** Runs a batch call in chunks of 10, re-sending only the failed entries that may still pass. */
  private async batched(
    operation: 'delete' | 'change-visibility',
    receiptHandles: readonly string[],
    call: (
      entries: { Id: string; ReceiptHandle: string }[],
    ) => Promise<{ Failed?: BatchResultErrorEntry[] | undefined }>,
  ): Promise<void> {
    const failed: BatchResultErrorEntry[] = [];
    const chunks: string[][] = [];
    for (let i = 0; i < receiptHandles.length; i += BATCH) chunks.push(receiptHandles.slice(i, i + BATCH));
    await Promise.all(
      chunks.map(async (chunk) => {
        let pending = chunk.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle }));
        for (let attempt = 1; pending.length > 0; attempt++) {
          const out = await call(pending);
          const errors = out.Failed ?? [];
          const retry = new Set(errors.filter((e) => !e.SenderFault).map((e) => e.Id));
          const final = errors.filter((e) => e.SenderFault || attempt >= this.attempts);
          if (final.length > 0) {
            failed.push(...final);
            for (const e of final) retry.delete(e.Id);
          }
          pending = pending.filter((e) => retry.has(e.Id));
          if (pending.length > 0) await sleep(this.retryDelayMs * 2 ** (attempt - 1));
        }
      }),
    );
    if (failed.length > 0) throw new QueueBatchError(operation, failed);
  }
}

function toQueued(m: Message): QueuedMessage {
  const sys = m.Attributes ?? {};
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    groupId: sys.MessageGroupId ?? '',
    body: m.Body,
    attributes: m.MessageAttributes ?? {},
    receiveCount: Number(sys.ApproximateReceiveCount ?? '1'),
    sentAt: Number(sys.SentTimestamp ?? '0'),
  };
}

/** The original attributes with their SQS types, plus `Failure`; within SQS's limit of 10. */
function dlqAttributes(
  original: QueuedMessage['attributes'],
  info: DeadLetterInfo,
): Record<string, ReceivedAttribute> {
  const out: Record<string, ReceivedAttribute> = {};
  const overflow: string[] = [];
  for (const [name, value] of Object.entries(original)) {
    if (name === FAILURE_ATTRIBUTE) continue;
    const v = value as ReceivedAttribute;
    const typed: ReceivedAttribute = {
      DataType: v.DataType ?? 'String',
      ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
    };
    if (typed.StringValue === undefined && typed.BinaryValue === undefined) continue;
    // The contract uses at most 9; a foreign message with 10 keeps 9, and the names of the rest are noted.
    if (Object.keys(out).length < MAX_ATTRIBUTES - 1) out[name] = typed;
    else overflow.push(name);
  }
  const failure = overflow.length > 0 ? { ...info, droppedAttributes: overflow } : info;
  out[FAILURE_ATTRIBUTE] = { DataType: 'String', StringValue: JSON.stringify(failure) };
  return out;
}

/** Message size as SQS counts it: body, plus each attribute's name, type and value. */
function messageBytes(body: string, attributes: Record<string, ReceivedAttribute>): number {
  let n = Buffer.byteLength(body, 'utf8');
  for (const [name, v] of Object.entries(attributes)) {
    n += Buffer.byteLength(name) + Buffer.byteLength(v.DataType ?? '');
    n += v.StringValue !== undefined ? Buffer.byteLength(v.StringValue) : (v.BinaryValue?.byteLength ?? 0);
  }
  return n;
}

/** SQS dedup ids allow 128 characters of [!-~]; message ids are UUIDs, but stay safe for any emulator. */
const dedupIdOf = (messageId: string): string => messageId.replace(/[^!-~]/g, '_').slice(0, 128) || 'unknown';

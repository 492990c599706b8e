// `sluice dlq list|show|redrive|purge`: read the dead-letter queue, and return its webhooks to the queue in order.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import {
  type DeadLetterFind,
  DeadLetterIndexError,
  type DeadLetterListing,
  deadLetterRecordKeys,
  deleteDeadLetterRecordKeys,
  deleteDeadLetterRecords,
  findDeadLetterRecord,
  listDeadLetterRecords,
  moveDeadLetterRecord,
  readDrainerState,
} from '../adapters/dynamo-state';
import { ATTR } from '../core/contract';
import type { DeadLetterRecord } from '../core/ports';
import {
  DEAD_LETTER_REASONS,
  type DeadLetterInfo,
  type DeadLetterReason,
  FAILURE_ATTRIBUTE,
  QUEUE,
} from '../core/resources';
import {
  type CliIo,
  emit,
  formatAge,
  type GlobalOptions,
  numberIn,
  OperationError,
  parseTime,
  table,
  UsageError,
} from './io';
import { resolveTarget, type Target } from './target';

/** Reason shown for a message SQS moved itself (its redrive policy) rather than the drainer: no `Failure`. */
export const RECEIVE_LIMIT = 'receive-limit';
export type ListedReason = DeadLetterReason | typeof RECEIVE_LIMIT;
const REASONS: readonly ListedReason[] = [...DEAD_LETTER_REASONS, RECEIVE_LIMIT];

/** One dead-lettered webhook as the CLI shows it. */
export interface DlqEntry {
  readonly messageId: string;
  readonly groupId: string;
  readonly reason: ListedReason;
  readonly status?: number;
  readonly detail?: string;
  readonly attempts?: number;
  /** When it failed (the drainer's `failedAt`, else when SQS moved it), epoch ms. */
  readonly failedAt: number;
  readonly topic?: string;
  readonly shop?: string;
  readonly webhookId?: string;
  readonly target?: string;
  /** The message id it had in the webhook queue. */
  readonly queueMessageId?: string;
  /** Known when read from the DLQ itself, not from the index. */
  readonly bodyBytes?: number;
}

/** Bounds of one pass over the DLQ; every loop here ends by count or by time. */
export interface PassLimits {
  /** Most messages handled. */
  readonly limit: number;
  /** Wall-clock budget, ms. */
  readonly budgetMs: number;
  readonly now: () => number;
}

const BATCH = 10;
/** Long enough for one pass to finish; a crashed CLI hands everything back after this anyway. */
const PEEK_VISIBILITY_S = 30;
/** Redrive holds messages it skips or cannot send for the whole pass, so FIFO keeps their groups behind them. */
const HOLD_VISIBILITY_S = 300;

function str(m: Message, name: string): string | undefined {
  return m.MessageAttributes?.[name]?.StringValue;
}

/** Reads the `Failure` attribute; undefined when SQS (not the drainer) moved the message. */
export function failureOf(m: Message): DeadLetterInfo | undefined {
  const raw = str(m, FAILURE_ATTRIBUTE);
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.reason !== 'string') return undefined;
    return {
      reason: o.reason as DeadLetterReason,
      attempts: typeof o.attempts === 'number' ? o.attempts : 0,
      failedAt: typeof o.failedAt === 'number' ? o.failedAt : 0,
      messageId: typeof o.messageId === 'string' ? o.messageId : '',
      ...(typeof o.status === 'number' ? { status: o.status } : {}),
      ...(typeof o.detail === 'string' ? { detail: o.detail } : {}),
    };
  } catch {
    return undefined;
  }
}

/** The listing view of a received DLQ message. */
export function entryOf(m: Message): DlqEntry {
  const failure = failureOf(m);
  const sentAt = Number(m.Attributes?.SentTimestamp);
  const opt = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
  return {
    messageId: m.MessageId ?? '',
    groupId: m.Attributes?.MessageGroupId ?? '',
    reason: failure?.reason ?? RECEIVE_LIMIT,
    failedAt: failure?.failedAt || (Number.isFinite(sentAt) ? sentAt : 0),
    bodyBytes: Buffer.byteLength(m.Body ?? '', 'utf8'),
    ...opt('status', failure?.status),
    ...opt('detail', failure?.detail),
    ...opt('attempts', failure?.attempts),
    ...opt('topic', str(m, ATTR.topic)),
    ...opt('shop', str(m, ATTR.shop)),
    ...opt('webhookId', str(m, ATTR.webhookId)),
    ...opt('target', str(m, ATTR.target)),
    ...opt('queueMessageId', failure?.messageId || undefined),
  };
}

/** The listing view of a dead-letter index record (no body: the index does not keep it). */
export function entryOfRecord(r: DeadLetterRecord): DlqEntry {
  return {
    messageId: r.dlqMessageId ?? r.messageId,
    groupId: r.groupId,
    reason: r.reason,
    failedAt: r.failedAt,
    attempts: r.attempts,
    queueMessageId: r.messageId,
    ...(r.status !== undefined ? { status: r.status } : {}),
    ...(r.detail !== undefined ? { detail: r.detail } : {}),
    ...(r.topic !== undefined ? { topic: r.topic } : {}),
    ...(r.shop !== undefined ? { shop: r.shop } : {}),
    ...(r.webhookId !== undefined ? { webhookId: r.webhookId } : {}),
    ...(r.target !== undefined ? { target: r.target } : {}),
  };
}

async function receive(
  sqs: SQSClient,
  queueUrl: string,
  visibilityS: number,
  max: number,
): Promise<Message[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(BATCH, Math.max(1, max)),
      // A short long-poll: SQS then asks every server, where a 0 s poll may miss messages that exist.
      WaitTimeSeconds: 1,
      VisibilityTimeout: visibilityS,
      MessageSystemAttributeNames: ['MessageGroupId', 'SentTimestamp', 'ApproximateReceiveCount'],
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

/** Makes received messages visible again at once. */
async function release(sqs: SQSClient, queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += BATCH) {
    const chunk = messages.slice(i, i + BATCH);
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({
          Id: String(j),
          ReceiptHandle: m.ReceiptHandle!,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

/**
 * Looks at the DLQ without changing it: receives with a short visibility until nothing new comes back, then
 * hands every message back. FIFO returns a message group's later messages only after its earlier ones are
 * gone, so a peek sees the head of each group; `total` says how many there are.
 */
export async function peekDlq(
  sqs: SQSClient,
  dlqUrl: string,
  limits: PassLimits,
): Promise<{ entries: DlqEntry[]; messages: Message[]; total: number }> {
  const deadline = limits.now() + limits.budgetMs;
  const seen = new Map<string, Message>();
  try {
    while (seen.size < limits.limit && limits.now() < deadline) {
      const got = await receive(sqs, dlqUrl, PEEK_VISIBILITY_S, limits.limit - seen.size);
      const fresh = got.filter((m) => !seen.has(m.MessageId ?? ''));
      for (const m of got) seen.set(m.MessageId ?? '', m);
      if (fresh.length === 0) break;
    }
  } finally {
    await release(sqs, dlqUrl, [...seen.values()]);
  }
  const messages = [...seen.values()];
  return { entries: messages.map(entryOf), messages, total: await depth(sqs, dlqUrl) };
}

/** What `dlq list` shows: from the dead-letter index (every dead letter), or a peek (each group's head). */
export type DlqListing =
  | {
      readonly source: 'index';
      readonly entries: DlqEntry[];
      /** Unexpired records in the index (a lower bound when `indexComplete` is false). */
      readonly indexed: number;
      readonly indexComplete: boolean;
      /** Approximate DLQ depth (visible + in flight), from SQS. */
      readonly total: number;
    }
  | {
      readonly source: 'peek';
      readonly entries: DlqEntry[];
      readonly total: number;
      /** Why the index was not used, when it was asked for. */
      readonly indexError?: string;
    };

/**
 * Lists the DLQ from the dead-letter index, oldest first, with SQS's own count beside it; falls back to a
 * peek, saying why, when the index cannot be read (a table from before it, or no `dynamodb:Query`).
 */
export async function listDlq(
  sqs: SQSClient,
  dynamo: DynamoDBClient,
  target: Pick<Target, 'dlqUrl' | 'tableName'>,
  limits: PassLimits,
): Promise<DlqListing> {
  let listing: DeadLetterListing;
  try {
    listing = await listDeadLetterRecords(dynamo, target.tableName, {
      limit: limits.limit,
      now: limits.now(),
    });
  } catch (err) {
    if (!(err instanceof DeadLetterIndexError)) throw err;
    const peek = await peekDlq(sqs, target.dlqUrl, limits);
    return { source: 'peek', entries: peek.entries, total: peek.total, indexError: err.message };
  }
  return {
    source: 'index',
    entries: listing.records.map(entryOfRecord),
    indexed: listing.count,
    indexComplete: listing.complete,
    total: await depth(sqs, target.dlqUrl),
  };
}

/** Visible + in-flight messages of a queue. */
export async function depth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const a = out.Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** Which dead-lettered webhooks a redrive takes. */
export interface RedriveFilter {
  readonly reason?: ListedReason;
  /** Failed at or after, epoch ms. */
  readonly since?: number;
  /** Failed before, epoch ms. */
  readonly until?: number;
}

const matches = (e: DlqEntry, f: RedriveFilter): boolean =>
  (f.reason === undefined || e.reason === f.reason) &&
  (f.since === undefined || e.failedAt >= f.since) &&
  (f.until === undefined || e.failedAt < f.until);

/** What went back to the queue, what stayed, and what could not be moved. */
export interface RedriveResult {
  readonly redriven: DlqEntry[];
  /** Messages left in the DLQ because they did not match the filter. */
  readonly kept: number;
  readonly failed: { readonly messageId: string; readonly error: string }[];
  /** Approximate DLQ depth after the pass. */
  readonly remaining: number;
  /** Index records of redriven webhooks deleted, and index updates that failed (best effort). */
  readonly index: { readonly removed: number; readonly failed: number; readonly error?: string };
  /**
   * Groups this pass left out of order in the DLQ: a message it could neither send nor move to the back after
   * others of its group, or a group it could not finish going round within one more budget.
   */
  readonly disordered: string[];
}

/**
 * The dead-letter index as redrive and purge keep it in step with the DLQ: best effort, called only after
 * SQS did its part, so a failure here leaves a stale record (which `dlq list` reports), never a lost webhook.
 */
export interface DeadLetterIndexCleanup {
  /** Deletes the records of these dead letters (queue message ids); resolves with how many are left. */
  remove(queueMessageIds: readonly string[]): Promise<number>;
  /** A kept dead letter now has this DLQ message id (it was moved to the back of the DLQ). */
  moved(queueMessageId: string, dlqMessageId: string): Promise<void>;
}

/** The cleanup over the stack's state table. */
export function indexCleanup(dynamo: DynamoDBClient, tableName: string): DeadLetterIndexCleanup {
  return {
    remove: (ids) => deleteDeadLetterRecords(dynamo, tableName, ids),
    moved: async (id, dlqMessageId) => {
      await moveDeadLetterRecord(dynamo, tableName, id, dlqMessageId);
    },
  };
}

/** Index deletes are sent once this many are waiting (one BatchWriteItem), and at the end of the pass. */
const INDEX_BATCH = 25;

/** The message's attributes as SQS needs them to send it again, without `Failure`. */
export function resendAttributes(m: Message, keepFailure: boolean): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    if (name === FAILURE_ATTRIBUTE && !keepFailure) continue;
    out[name] = {
      DataType: v.DataType ?? 'String',
      ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
    };
  }
  // One SQS moved itself carries no Failure: its reason and time were read from its SentTimestamp, which a
  // move to the back of the DLQ would reset. Written down, they survive the move.
  const sentAt = Number(m.Attributes?.SentTimestamp);
  if (keepFailure && !out[FAILURE_ATTRIBUTE] && Object.keys(out).length < 10 && Number.isFinite(sentAt)) {
    out[FAILURE_ATTRIBUTE] = {
      DataType: 'String',
      StringValue: JSON.stringify({
        reason: RECEIVE_LIMIT,
        attempts: 0,
        failedAt: sentAt,
        messageId: '',
        detail: "moved by SQS after the queue's receive limit",
      }),
    };
  }
  return out;
}

/**
 * Moves dead-lettered webhooks back to the webhook queue, each group in its original order, with the original
 * group id, body and attributes (without `Failure`). The dedup id is new per DLQ message (`redrive-<id>`), so
 * SQS's 5-minute dedup window does not swallow a webhook sent before, while a repeated pass after a crash
 * between send and delete still lands once. A message is deleted from the DLQ only after its send succeeded.
 *
 * With a filter, a message that does not match is moved to the back of the DLQ (sent again, then deleted),
 * because FIFO hides the rest of its group behind it; the pass stops a group when it meets one it moved, so
 * the kept messages stay in their order. A group it has begun to move is finished whatever the limit or the
 * time left (up to one more budget): stopped halfway, its moved messages would sit behind its later ones.
 * A message of such a group it cannot send is moved to the back too, for the same reason.
 */
export async function redrive(
  sqs: SQSClient,
  target: Pick<Target, 'queueUrl' | 'dlqUrl'>,
  filter: RedriveFilter,
  limits: PassLimits,
  index?: DeadLetterIndexCleanup,
): Promise<RedriveResult> {
  let indexRemoved = 0;
  let indexFailed = 0;
  let indexError: string | undefined;
  let toRemove: string[] = [];
  const indexFailure = (err: unknown, count: number): void => {
    indexFailed += count;
    indexError ??= err instanceof Error ? err.message : String(err);
  };
  const flushIndex = async (): Promise<void> => {
    const ids = toRemove;
    toRemove = [];
    if (!index || ids.length === 0) return;
    try {
      const left = await index.remove(ids);
      indexRemoved += ids.length - left;
      if (left > 0) indexFailure(new Error(`${left} index record(s) stayed after retries`), left);
    } catch (err) {
      indexFailure(err, ids.length);
    }
  };
  const deadline = limits.now() + limits.budgetMs;
  /** Finishing the groups begun may take up to one more budget (at least a minute). */
  const hardDeadline = deadline + Math.max(60_000, limits.budgetMs);
  const moved = new Set<string>();
  /** Groups with a message moved to the back and not yet met again: the pass must go round them. */
  const rotating = new Set<string>();
  const disordered = new Set<string>();
  // `--limit` counts webhooks sent back: a pass that only moves non-matching ones round is bounded by time.
  const overLimits = (): boolean => redriven.length >= limits.limit || limits.now() >= deadline;
  /**
   * What this pass sent back to the webhook queue: queue message ids, and webhook ids. A running drainer that
   * dead-letters one again puts a new DLQ message in, which this pass must not redrive again (a webhook your
   * app keeps refusing would otherwise go round until the limit: 5 forged ones made 10,000 redrives).
   */
  const sentBack = new Set<string>();
  const redrivenWebhooks = new Set<string>();
  const cameBack = (e: DlqEntry): boolean =>
    (e.queueMessageId !== undefined && sentBack.has(e.queueMessageId)) ||
    (e.webhookId !== undefined && redrivenWebhooks.has(e.webhookId));
  /** Messages kept invisible until the pass ends (their groups stay blocked behind them), by message id. */
  const held = new Map<string, Message>();
  const blockedGroups = new Set<string>();
  const redriven: DlqEntry[] = [];
  const failed: { messageId: string; error: string }[] = [];
  let kept = 0;
  const hold = (m: Message): void => {
    held.set(m.MessageId ?? '', m);
  };
  /** Sends `m` to the webhook queue (`take`) or to the back of the DLQ, then deletes it from the DLQ. */
  /** Whether the last `send` failure came after its SendMessage succeeded (the delete failed). */
  let sentThenFailed = false;
  const send = async (m: Message, entry: DlqEntry, take: boolean): Promise<void> => {
    sentThenFailed = false;
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: take ? target.queueUrl : target.dlqUrl,
        MessageBody: m.Body ?? '',
        MessageGroupId: entry.groupId,
        MessageDeduplicationId: `${take ? 'redrive' : 'requeue'}-${entry.messageId}`,
        MessageAttributes: resendAttributes(m, !take),
      }),
    );
    try {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: target.dlqUrl, ReceiptHandle: m.ReceiptHandle! }));
    } catch (err) {
      sentThenFailed = true;
      throw err;
    }
    if (take) {
      redriven.push(entry);
      if (sent.MessageId) sentBack.add(sent.MessageId);
      if (entry.webhookId) redrivenWebhooks.add(entry.webhookId);
      if (entry.queueMessageId) toRemove.push(entry.queueMessageId);
      return;
    }
    kept++;
    rotating.add(entry.groupId);
    if (sent.MessageId) moved.add(sent.MessageId);
    if (index && sent.MessageId && entry.queueMessageId) {
      await index.moved(entry.queueMessageId, sent.MessageId).catch((err: unknown) => {
        indexFailure(err, 1);
      });
    }
  };
  // Held messages stay hidden until the pass can last no longer (finishing its groups included).
  // At most an hour: a pass that crashes leaves them hidden that long.
  const holdS = Math.min(
    3_600,
    Math.max(HOLD_VISIBILITY_S, Math.ceil((hardDeadline - limits.now()) / 1000) + 60),
  );
  try {
    while ((!overLimits() || rotating.size > 0) && limits.now() < hardDeadline) {
      const got = await receive(sqs, target.dlqUrl, holdS, BATCH);
      // Nothing new: the rest is held (a held message's visibility can run out during a long pass).
      if (got.every((m) => held.has(m.MessageId ?? ''))) break;
      for (const m of got) {
        const entry = entryOf(m);
        // Back to a message it moved: the group went round.
        if (moved.has(entry.messageId)) rotating.delete(entry.groupId);
        // Behind a held message of its group (leave it where it is, in order), or past the pass's limits in a
        // group it has not begun to move.
        if (
          blockedGroups.has(entry.groupId) ||
          moved.has(entry.messageId) ||
          held.has(entry.messageId) ||
          cameBack(entry) ||
          (overLimits() && !rotating.has(entry.groupId))
        ) {
          // Held in front of what this pass moved to the back of its group: that group is out of order.
          if (rotating.has(entry.groupId) && !moved.has(entry.messageId)) disordered.add(entry.groupId);
          blockedGroups.add(entry.groupId);
          rotating.delete(entry.groupId);
          hold(m);
          continue;
        }
        // Past the pass's limits, a group is only being finished: what matches waits at the back for the next
        // pass, so the limits hold for what is sent.
        const take = matches(entry, filter) && !overLimits();
        try {
          await send(m, entry, take);
        } catch (err) {
          failed.push({
            messageId: entry.messageId,
            error: err instanceof Error ? err.message : String(err),
          });
          if (rotating.has(entry.groupId) && !sentThenFailed) {
            // Its group has moved ones at the back: held here, it would stay in front of them. Moved too, it
            // stays in order (and in the DLQ).
            try {
              await send(m, entry, false);
              continue;
            } catch {
              disordered.add(entry.groupId);
            }
          }
          // Not sent (or sent and not deleted): keep it and its group where they are for this pass. In front of
          // ones this pass moved to the back, its group is out of order (said, and the command fails).
          if (rotating.has(entry.groupId)) disordered.add(entry.groupId);
          blockedGroups.add(entry.groupId);
          rotating.delete(entry.groupId);
          hold(m);
        }
        if (toRemove.length >= INDEX_BATCH) await flushIndex();
      }
    }
    for (const g of rotating) disordered.add(g);
  } finally {
    await release(sqs, target.dlqUrl, [...held.values()]);
    await flushIndex();
  }
  return {
    redriven,
    kept,
    failed,
    remaining: await depth(sqs, target.dlqUrl),
    index: { removed: indexRemoved, failed: indexFailed, ...(indexError ? { error: indexError } : {}) },
    disordered: [...disordered],
  };
}

// ---------------------------------------------------------------------------------------------- commands

function listText(r: DlqListing, now: number, dlqName: string): string {
  if (r.total === 0 && r.entries.length === 0 && (r.source === 'peek' || r.indexed === 0)) {
    return `${dlqName} is empty.`;
  }
  const rows = r.entries.map((e) => [
    e.messageId,
    e.reason,
    e.status === undefined ? '-' : String(e.status),
    formatAge(now - e.failedAt),
    e.topic ?? '-',
    e.shop ?? '-',
  ]);
  const lines = [table(['ID', 'REASON', 'STATUS', 'AGE', 'TOPIC', 'SHOP'], rows)];
  if (r.source === 'peek') {
    if (r.indexError) lines.push(`Peeked at the DLQ instead of reading the index (${r.indexError}).`);
    lines.push(`${r.entries.length} dead-lettered webhook(s) seen in ${dlqName}.`);
    if (r.total > r.entries.length) {
      lines.push(
        `Showing ${r.entries.length} of ~${r.total}: FIFO shows a message group's later webhooks only after its earlier ones leave (redrive or purge).`,
      );
    }
    return lines.join('\n');
  }
  const indexed = `${r.indexed}${r.indexComplete ? '' : '+'}`;
  lines.push(
    r.entries.length < r.indexed
      ? `Showing the oldest ${r.entries.length} of ${indexed} dead-lettered webhook(s) (--limit to see more).`
      : `${r.entries.length} dead-lettered webhook(s), oldest first.`,
  );
  lines.push(`index: ${indexed}, DLQ: ~${r.total}`);
  const why = mismatch(r.indexed, r.total, r.indexComplete);
  if (why) lines.push(why);
  return lines.join('\n');
}

/** Why the index and SQS's count differ, in words; empty when they agree. */
function mismatch(indexed: number, total: number, complete: boolean): string {
  if (indexed === total || (!complete && indexed < total)) return '';
  if (total > indexed) {
    return (
      `${total - indexed} in the DLQ without an index record: dead letters from before the index, moved by SQS ` +
      'itself after 1000 receives, or a missed index write. `dlq list --peek` shows the head of each group.'
    );
  }
  return (
    `${indexed - total} index record(s) without a DLQ message: removed outside \`sluice dlq\`, a missed index ` +
    `delete, or SQS's count lagging (it is approximate for about a minute). Stale records expire ${QUEUE.retentionSeconds / 86_400} days after the failure.`
  );
}

/** The forwarded headers a dead letter carries (its `Headers` attribute), or none when absent or unreadable. */
function headersOf(attributes: Readonly<Record<string, string>>): [string, string][] {
  try {
    const parsed: unknown = JSON.parse(attributes[ATTR.headers] ?? '');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return [];
    return Object.entries(parsed).filter((kv): kv is [string, string] => typeof kv[1] === 'string');
  } catch {
    return [];
  }
}

function showText(e: DlqEntry, body: string, now: number, headers: [string, string][] = []): string {
  const lines: [string, string][] = [
    ['id', e.messageId],
    ['reason', e.reason],
    ['status', e.status === undefined ? '-' : String(e.status)],
    ['failed', `${new Date(e.failedAt).toISOString()} (${formatAge(now - e.failedAt)} ago)`],
    ['attempts', e.attempts === undefined ? '-' : String(e.attempts)],
    ['topic', e.topic ?? '-'],
    ['shop', e.shop ?? '-'],
    ['webhook id', e.webhookId ?? '-'],
    ['target', e.target ?? '-'],
    ['group', e.groupId],
    ['queue msg', e.queueMessageId ?? '-'],
    ['detail', e.detail ?? '-'],
    ['body', e.bodyBytes === undefined ? '-' : `${e.bodyBytes} bytes`],
  ];
  const w = Math.max(...lines.map(([k]) => k.length));
  const head = headers.length > 0 ? `\n\n${headers.map(([k, v]) => `${k}: ${v}`).join('\n')}` : '';
  return `${lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}${head}\n\n${body}`;
}

function reasonArg(raw: string): ListedReason {
  if (!(REASONS as readonly string[]).includes(raw)) {
    throw new UsageError(`--reason ${JSON.stringify(raw)} is not a reason; allowed: ${REASONS.join(', ')}`);
  }
  return raw as ListedReason;
}

function timeArg(flag: string, raw: string | undefined, now: number): number | undefined {
  if (raw === undefined) return undefined;
  const t = parseTime(raw, now);
  if (t === undefined) {
    throw new UsageError(
      `${flag} ${JSON.stringify(raw)} is not a time; use an ISO date, epoch ms or an age like 30m, 2h, 7d`,
    );
  }
  return t;
}

/** Registers `dlq` and its subcommands. */
export function registerDlq(program: Command, io: CliIo): void {
  const dlq = program
    .command('dlq')
    .description('inspect the dead-letter queue and send its webhooks back for delivery');
  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();
  const limits = (limit: number, budgetS: number): PassLimits => ({
    limit,
    budgetMs: budgetS * 1000,
    now: io.now,
  });

  dlq
    .command('list')
    .description(
      'list dead-lettered webhooks, oldest first: reason, status, age, topic, shop (from the dead-letter index)',
    )
    .option('--limit <n>', 'most webhooks to show', numberIn(1, 10_000, true), 100)
    .option('--peek', 'peek at the DLQ instead of the index: the head of each message group only')
    .action(async (opts: { limit: number; peek?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const t = await resolveTarget(g, io.env);
      const passLimits = limits(opts.limit, 20);
      const r: DlqListing = opts.peek
        ? { source: 'peek', ...(await peekDlq(t.sqs, t.dlqUrl, passLimits)) }
        : await listDlq(t.sqs, t.dynamo, t, passLimits);
      const { source, entries, total } = r;
      const json =
        r.source === 'index'
          ? { dlq: t.dlqName, source, total, indexed: r.indexed, indexComplete: r.indexComplete, entries }
          : { dlq: t.dlqName, source, total, entries, ...(r.indexError ? { indexError: r.indexError } : {}) };
      emit(io, g, json, () => listText(r, io.now(), t.dlqName));
    });

  dlq
    .command('show')
    .description('show one dead-lettered webhook: failure, headers and body')
    .argument('<id>', 'the DLQ message id (from `dlq list`), or the queue message id it had')
    .option(
      '--limit <n>',
      'most DLQ messages to peek at for its body (the dead-letter index is searched whole)',
      numberIn(1, 10_000, true),
      1000,
    )
    .action(async (id: string, opts: { limit: number }, cmd: Command) => {
      const g = globals(cmd);
      const t = await resolveTarget(g, io.env);
      const r = await peekDlq(t.sqs, t.dlqUrl, limits(opts.limit, 30));
      const m = r.messages.find((x) => x.MessageId === id || failureOf(x)?.messageId === id);
      if (!m) {
        // Behind the head of its group (FIFO hides it): the index still has its failure, without the body. Read
        // by key for a queue message id; searched for through the whole index (bounded) for a DLQ message id.
        const visible = `no message ${id} among the ${r.entries.length} visible in ${t.dlqName}`;
        let found: DeadLetterFind;
        try {
          found = await findDeadLetterRecord(t.dynamo, t.tableName, id, { now: io.now() });
        } catch (err) {
          if (!(err instanceof DeadLetterIndexError)) throw err;
          throw new OperationError(
            'not-found',
            `${visible}, and the dead-letter index could not be read (${err.message})`,
          );
        }
        if (found.record === undefined) {
          throw new OperationError(
            'not-found',
            found.complete
              ? `${visible}, nor in the dead-letter index`
              : `${visible}, nor among the oldest ${found.searched} records of the dead-letter index, where the search stops; ` +
                  'give its queue message id (`queueMessageId` in `dlq list --json`): that is looked up directly',
          );
        }
        const entry = entryOfRecord(found.record);
        // Its message would be its group's head if it failed before the head seen, or if the DLQ is empty: then
        // the message is gone (deleted by hand, or purged) and only the record stayed.
        const head = r.entries.find((e) => e.groupId === entry.groupId);
        const gone = r.total === 0 || (head !== undefined && entry.failedAt < head.failedAt);
        const note = gone
          ? `(its DLQ message is gone: this index record is stale; \`dlq purge\` clears such records)`
          : `(body not shown: FIFO hands out message group ${entry.groupId}'s later webhooks only after its earlier ones leave the DLQ)`;
        emit(io, g, { ...entry, body: null, note }, () => showText(entry, note, io.now()));
        return;
      }
      const entry = entryOf(m);
      const attributes = Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
      );
      emit(io, g, { ...entry, attributes, body: m.Body ?? '' }, (v) =>
        showText(entry, v.body, io.now(), headersOf(attributes)),
      );
    });

  dlq
    .command('redrive')
    .description(
      'send dead-lettered webhooks back to the queue, each group in order, original group, body and headers',
    )
    .option('--reason <reason>', `only this reason (${REASONS.join(', ')})`)
    .option('--since <time>', 'only failures at or after: ISO date, epoch ms, or an age like 2h')
    .option('--until <time>', 'only failures before: ISO date, epoch ms, or an age like 30m')
    .option('--limit <n>', 'most webhooks to send back in this pass', numberIn(1, 1_000_000, true), 10_000)
    .option('--max-seconds <s>', 'time budget of this pass', numberIn(1, 3_600, true), 240)
    .action(
      async (
        opts: { reason?: string; since?: string; until?: string; limit: number; maxSeconds: number },
        cmd: Command,
      ) => {
        const g = globals(cmd);
        const now = io.now();
        const filter: RedriveFilter = {
          ...(opts.reason !== undefined ? { reason: reasonArg(opts.reason) } : {}),
          ...(opts.since !== undefined ? { since: timeArg('--since', opts.since, now) } : {}),
          ...(opts.until !== undefined ? { until: timeArg('--until', opts.until, now) } : {}),
        };
        const t = await resolveTarget(g, io.env);
        // A filtered pass moves what it keeps to the back of the DLQ: a webhook the drainer dead-letters into
        // the same group meanwhile lands between them. Said below unless delivery is paused.
        const filtered = Object.keys(filter).length > 0;
        const paused =
          filtered &&
          (await readDrainerState(t.dynamo, t.tableName, now).then(
            (s) => s.controls.paused,
            () => false,
          ));
        const r = await redrive(
          t.sqs,
          t,
          filter,
          limits(opts.limit, opts.maxSeconds),
          indexCleanup(t.dynamo, t.tableName),
        );
        emit(
          io,
          g,
          { queue: t.queueName, dlq: t.dlqName, ...r, ...(filtered ? { deliveryPaused: paused } : {}) },
          (v) =>
            `Redrove ${v.redriven.length} webhook(s) to ${t.queueName}; kept ${v.kept} in ${t.dlqName} (not matching, or past the limits); ${v.failed.length} failed; ~${v.remaining} left in ${t.dlqName}.` +
            v.failed.map((f) => `\n  failed ${f.messageId}: ${f.error}`).join('') +
            (v.index.failed > 0
              ? `\nThe dead-letter index was not updated for ${v.index.failed} webhook(s) (${v.index.error ?? 'unknown error'}); \`dlq list\` will show the index and the DLQ apart.`
              : '') +
            (v.disordered.length > 0
              ? `\nLeft out of order in ${t.dlqName}: message group(s) ${v.disordered.join(', ')} (a webhook could not be moved behind the others of its group, or the pass ran out of time going round it); check them with \`dlq list\` before redriving them.`
              : '') +
            (filtered && v.kept > 0 && !paused
              ? '\nDelivery was not paused: a webhook the drainer dead-lettered into a group during the pass may sit between the ones kept (`sluice pause` before a filtered redrive keeps the DLQ in order).'
              : ''),
        );
        if (r.failed.length > 0)
          throw new OperationError('redrive-partial', `${r.failed.length} webhook(s) could not be redriven`);
        if (r.disordered.length > 0)
          throw new OperationError(
            'redrive-disordered',
            `message group(s) ${r.disordered.join(', ')} left out of order in ${t.dlqName}`,
          );
      },
    );

  dlq
    .command('purge')
    .description('delete every message in the dead-letter queue (asks first)')
    .option('-y, --yes', 'do not ask (required without a terminal)')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const t = await resolveTarget(g, io.env);
      if (!opts.yes) {
        if (!io.interactive)
          throw new UsageError('refusing to purge without a terminal to confirm on; pass --yes');
        const n = await depth(t.sqs, t.dlqUrl);
        if (
          !(await io.confirm(
            `Delete all ~${n} message(s) in ${t.dlqName} (${t.label})? This cannot be undone.`,
          ))
        ) {
          throw new OperationError('cancelled', 'purge cancelled; nothing was deleted');
        }
      }
      const startedAt = io.now();
      // AWS: messages sent while the purge runs (up to 60 s) may be deleted too. A dead letter the drainer
      // writes in that minute could go unseen: said below, unless delivery is paused.
      const paused = await readDrainerState(t.dynamo, t.tableName, startedAt).then(
        (s) => s.controls.paused,
        () => false,
      );
      // PurgeQueue removes the messages sent before the call: the index records read before it are theirs.
      // Read first, deleted after, by key: no clock of this machine compared with the drainer's.
      let keys: string[] = [];
      let readError: string | undefined;
      try {
        keys = await deadLetterRecordKeys(t.dynamo, t.tableName);
      } catch (err) {
        readError = err instanceof Error ? err.message : String(err);
      }
      await t.sqs.send(new PurgeQueueCommand({ QueueUrl: t.dlqUrl }));
      let index: { readonly removed: number; readonly left: number; readonly error?: string };
      try {
        if (readError !== undefined) throw new Error(readError);
        const d = await deleteDeadLetterRecordKeys(t.dynamo, t.tableName, keys);
        index = { removed: d.deleted, left: d.left };
      } catch (err) {
        index = { removed: 0, left: keys.length, error: err instanceof Error ? err.message : String(err) };
      }
      emit(
        io,
        g,
        { purged: t.dlqName, index, deliveryPaused: paused },
        (v) =>
          `Purged ${t.dlqName}; removed ${v.index.removed} dead-letter index record(s).` +
          (v.index.error || v.index.left > 0
            ? `\nThe dead-letter index was not fully cleared (${v.index.error ?? `${v.index.left} record(s) left`}); \`dlq list\` will show the index and the DLQ apart.`
            : '') +
          (v.deliveryPaused
            ? ''
            : '\nDelivery was not paused: SQS may also delete what the drainer dead-letters during the purge (up to ' +
              'a minute). Such a webhook keeps its index record, so `dlq list` shows it missing from the DLQ; ' +
              '`sluice pause` first rules this out.'),
      );
    });
}

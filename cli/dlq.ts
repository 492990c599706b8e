// `sluice dlq list|show|redrive|purge`: read the dead-letter queue, and return its webhooks to the queue in order.
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
import { ATTR } from '../core/contract';
import {
  DEAD_LETTER_REASONS,
  type DeadLetterInfo,
  type DeadLetterReason,
  FAILURE_ATTRIBUTE,
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
  readonly bodyBytes: number;
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
}

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
 * the kept messages stay in their order.
 */
export async function redrive(
  sqs: SQSClient,
  target: Pick<Target, 'queueUrl' | 'dlqUrl'>,
  filter: RedriveFilter,
  limits: PassLimits,
): Promise<RedriveResult> {
  const deadline = limits.now() + limits.budgetMs;
  const moved = new Set<string>();
  /** Messages kept invisible until the pass ends (their groups stay blocked behind them), by message id. */
  const held = new Map<string, Message>();
  const blockedGroups = new Set<string>();
  const redriven: DlqEntry[] = [];
  const failed: { messageId: string; error: string }[] = [];
  let kept = 0;
  let handled = 0;
  const hold = (m: Message): void => {
    held.set(m.MessageId ?? '', m);
  };
  try {
    while (handled < limits.limit && limits.now() < deadline) {
      const got = await receive(sqs, target.dlqUrl, HOLD_VISIBILITY_S, limits.limit - handled);
      // Nothing new: the rest is held (a held message's visibility can run out during a long pass).
      if (got.every((m) => held.has(m.MessageId ?? ''))) break;
      for (const m of got) {
        const entry = entryOf(m);
        // Behind a held message of its group: leave it where it is, in order.
        if (blockedGroups.has(entry.groupId) || moved.has(entry.messageId) || held.has(entry.messageId)) {
          blockedGroups.add(entry.groupId);
          hold(m);
          continue;
        }
        handled++;
        const take = matches(entry, filter);
        try {
          const sent = await sqs.send(
            new SendMessageCommand({
              QueueUrl: take ? target.queueUrl : target.dlqUrl,
              MessageBody: m.Body ?? '',
              MessageGroupId: entry.groupId,
              MessageDeduplicationId: `${take ? 'redrive' : 'requeue'}-${entry.messageId}`,
              MessageAttributes: resendAttributes(m, !take),
            }),
          );
          await sqs.send(
            new DeleteMessageCommand({ QueueUrl: target.dlqUrl, ReceiptHandle: m.ReceiptHandle! }),
          );
          if (take) redriven.push(entry);
          else {
            kept++;
            if (sent.MessageId) moved.add(sent.MessageId);
          }
        } catch (err) {
          // Not sent (or sent and not deleted): keep it and its group where they are for this pass.
          failed.push({
            messageId: entry.messageId,
            error: err instanceof Error ? err.message : String(err),
          });
          blockedGroups.add(entry.groupId);
          hold(m);
        }
      }
    }
  } finally {
    await release(sqs, target.dlqUrl, [...held.values()]);
  }
  return { redriven, kept, failed, remaining: await depth(sqs, target.dlqUrl) };
}

// ---------------------------------------------------------------------------------------------- commands

function listText(r: { entries: DlqEntry[]; total: number }, now: number, dlqName: string): string {
  if (r.total === 0 && r.entries.length === 0) return `${dlqName} is empty.`;
  const rows = r.entries.map((e) => [
    e.messageId,
    e.reason,
    e.status === undefined ? '-' : String(e.status),
    formatAge(now - e.failedAt),
    e.topic ?? '-',
    e.shop ?? '-',
  ]);
  const more =
    r.total > r.entries.length
      ? `\nShowing ${r.entries.length} of ~${r.total}: FIFO shows a message group's later webhooks only after its earlier ones leave (redrive or purge).`
      : '';
  return `${table(['ID', 'REASON', 'STATUS', 'AGE', 'TOPIC', 'SHOP'], rows)}\n${r.entries.length} dead-lettered webhook(s) in ${dlqName}.${more}`;
}

function showText(e: DlqEntry, body: string, now: number): string {
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
    ['body', `${e.bodyBytes} bytes`],
  ];
  const w = Math.max(...lines.map(([k]) => k.length));
  return `${lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n\n${body}`;
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
      'list dead-lettered webhooks: reason, status, age, topic, shop (peeks, then hands them back)',
    )
    .option('--limit <n>', 'most webhooks to show', numberIn(1, 10_000, true), 100)
    .action(async (opts: { limit: number }, cmd: Command) => {
      const g = globals(cmd);
      const t = await resolveTarget(g, io.env);
      const r = await peekDlq(t.sqs, t.dlqUrl, limits(opts.limit, 20));
      emit(io, g, { dlq: t.dlqName, total: r.total, entries: r.entries }, (v) =>
        listText(v, io.now(), t.dlqName),
      );
    });

  dlq
    .command('show')
    .description('show one dead-lettered webhook: failure, headers and body')
    .argument('<id>', 'the DLQ message id (from `dlq list`)')
    .option('--limit <n>', 'most webhooks to look through', numberIn(1, 10_000, true), 1000)
    .action(async (id: string, opts: { limit: number }, cmd: Command) => {
      const g = globals(cmd);
      const t = await resolveTarget(g, io.env);
      const r = await peekDlq(t.sqs, t.dlqUrl, limits(opts.limit, 30));
      const m = r.messages.find((x) => x.MessageId === id);
      if (!m) {
        throw new OperationError(
          'not-found',
          `no message ${id} among the ${r.entries.length} visible in ${t.dlqName}`,
        );
      }
      const entry = entryOf(m);
      const attributes = Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
      );
      emit(io, g, { ...entry, attributes, body: m.Body ?? '' }, (v) => showText(entry, v.body, io.now()));
    });

  dlq
    .command('redrive')
    .description(
      'send dead-lettered webhooks back to the queue, each group in order, original group, body and headers',
    )
    .option('--reason <reason>', `only this reason (${REASONS.join(', ')})`)
    .option('--since <time>', 'only failures at or after: ISO date, epoch ms, or an age like 2h')
    .option('--until <time>', 'only failures before: ISO date, epoch ms, or an age like 30m')
    .option('--limit <n>', 'most webhooks to handle in this pass', numberIn(1, 1_000_000, true), 10_000)
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
        const r = await redrive(t.sqs, t, filter, limits(opts.limit, opts.maxSeconds));
        emit(
          io,
          g,
          { queue: t.queueName, dlq: t.dlqName, ...r },
          (v) =>
            `Redrove ${v.redriven.length} webhook(s) to ${t.queueName}; kept ${v.kept} that did not match; ${v.failed.length} failed; ~${v.remaining} left in ${t.dlqName}.` +
            v.failed.map((f) => `\n  failed ${f.messageId}: ${f.error}`).join(''),
        );
        if (r.failed.length > 0)
          throw new OperationError('redrive-partial', `${r.failed.length} webhook(s) could not be redriven`);
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
      await t.sqs.send(new PurgeQueueCommand({ QueueUrl: t.dlqUrl }));
      emit(io, g, { purged: t.dlqName }, () => `Purged ${t.dlqName}.`);
    });
}

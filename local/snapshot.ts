/**
 * On-disk state for local mode's queues. fauxqs 1.9.2 keeps messages in memory only, so a graceful
 * shutdown writes what is still queued (and in the DLQ) to a file, and the next start sends it back in
 * order: byte-exact bodies, every attribute, the same group and deduplication ids.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type MessageAttributeValue, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** One queued message as it must be sent again. */
export interface SnapshotMessage {
  readonly body: string;
  readonly groupId: string;
  readonly dedupId: string;
  /** Message attributes; binary values base64. */
  readonly attributes: Readonly<
    Record<
      string,
      { readonly DataType: string; readonly StringValue?: string; readonly BinaryValue?: string }
    >
  >;
  /** The queue's sequence number at snapshot time: the order to restore in. */
  readonly sequenceNumber: string;
}

/** The file's content. */
export interface Snapshot {
  readonly version: 1;
  readonly takenAt: number;
  readonly queue: readonly SnapshotMessage[];
  readonly deadLetters: readonly SnapshotMessage[];
}

/** Raised when a snapshot file or the emulator's answer is not what this module wrote or expects. */
export class SnapshotError extends Error {
  readonly code = 'snapshot';
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new SnapshotError(`${what} is not a string`);
  return v;
};

function parseAttributes(v: unknown): SnapshotMessage['attributes'] {
  if (v === undefined) return {};
  if (!isRecord(v)) throw new SnapshotError('message attributes are not an object');
  const out: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }> = {};
  for (const [name, a] of Object.entries(v)) {
    if (!isRecord(a)) throw new SnapshotError(`attribute ${name} is not an object`);
    out[name] = {
      DataType: str(a.DataType, `attribute ${name} DataType`),
      ...(a.StringValue !== undefined ? { StringValue: str(a.StringValue, `attribute ${name}`) } : {}),
      ...(a.BinaryValue !== undefined ? { BinaryValue: str(a.BinaryValue, `attribute ${name}`) } : {}),
    };
  }
  return out;
}

// fauxqs's inspection shape (`SqsMessage`): camel-cased fields.
function fromInspected(v: unknown): SnapshotMessage {
  if (!isRecord(v)) throw new SnapshotError('inspected message is not an object');
  return {
    body: str(v.body, 'body'),
    groupId: str(v.messageGroupId, 'messageGroupId'),
    dedupId: str(v.messageDeduplicationId, 'messageDeduplicationId'),
    attributes: parseAttributes(v.messageAttributes),
    sequenceNumber: str(v.sequenceNumber, 'sequenceNumber'),
  };
}

/**
 * Every message of a FIFO queue — ready, delayed and in flight — in sequence order, without receiving
 * anything (fauxqs's inspection endpoint), so it works whatever the drainer holds.
 */
export async function inspectQueue(sqsEndpoint: string, queueName: string): Promise<SnapshotMessage[]> {
  const res = await fetch(`${sqsEndpoint}/_fauxqs/queues/${encodeURIComponent(queueName)}`);
  if (!res.ok) throw new SnapshotError(`cannot inspect queue ${queueName}: HTTP ${res.status}`);
  const data: unknown = await res.json();
  if (!isRecord(data) || !isRecord(data.messages)) throw new SnapshotError('unexpected inspection answer');
  const { ready, delayed, inflight } = data.messages;
  const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
  const messages = [
    ...list(ready),
    ...list(delayed),
    ...list(inflight).map((e) => (isRecord(e) ? e.message : e)),
  ].map(fromInspected);
  // Fixed-width sequence numbers: string order is arrival order.
  return messages.sort((a, b) =>
    a.sequenceNumber < b.sequenceNumber ? -1 : a.sequenceNumber > b.sequenceNumber ? 1 : 0,
  );
}

/** A snapshot of the webhook queue and its DLQ. */
export async function takeSnapshot(
  sqsEndpoint: string,
  names: { readonly queueName: string; readonly dlqName: string },
  now: number = Date.now(),
): Promise<Snapshot> {
  return {
    version: 1,
    takenAt: now,
    queue: await inspectQueue(sqsEndpoint, names.queueName),
    deadLetters: await inspectQueue(sqsEndpoint, names.dlqName),
  };
}

/** Writes the snapshot atomically (temp file + rename): a crash mid-write leaves the previous file intact. */
export async function writeSnapshot(file: string, snapshot: Snapshot): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(snapshot), 'utf8');
  await rename(tmp, file);
}

/** Reads a snapshot file; undefined when there is none. */
export async function readSnapshot(file: string): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new SnapshotError(`${file} is not JSON`);
  }
  if (
    !isRecord(data) ||
    data.version !== 1 ||
    !Array.isArray(data.queue) ||
    !Array.isArray(data.deadLetters)
  ) {
    throw new SnapshotError(`${file} is not a Sluice queue snapshot (version 1)`);
  }
  const parseStored = (v: unknown): SnapshotMessage => {
    if (!isRecord(v)) throw new SnapshotError('stored message is not an object');
    return {
      body: str(v.body, 'body'),
      groupId: str(v.groupId, 'groupId'),
      dedupId: str(v.dedupId, 'dedupId'),
      attributes: parseAttributes(v.attributes),
      sequenceNumber: str(v.sequenceNumber, 'sequenceNumber'),
    };
  };
  return {
    version: 1,
    takenAt: typeof data.takenAt === 'number' ? data.takenAt : 0,
    queue: data.queue.map(parseStored),
    deadLetters: data.deadLetters.map(parseStored),
  };
}

function toSqsAttributes(attributes: SnapshotMessage['attributes']): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, a] of Object.entries(attributes)) {
    out[name] = {
      DataType: a.DataType,
      ...(a.StringValue !== undefined ? { StringValue: a.StringValue } : {}),
      ...(a.BinaryValue !== undefined ? { BinaryValue: Buffer.from(a.BinaryValue, 'base64') } : {}),
    };
  }
  return out;
}

// SQS caps a batch at 10 entries and 1 MiB in total; stay a little below the byte cap.
const BATCH_ENTRIES = 10;
const BATCH_BYTES = 1_000_000;

const sizeOf = (m: SnapshotMessage): number => {
  let n = Buffer.byteLength(m.body, 'utf8');
  for (const [name, a] of Object.entries(m.attributes)) {
    n +=
      Buffer.byteLength(name) + a.DataType.length + Buffer.byteLength(a.StringValue ?? a.BinaryValue ?? '');
  }
  return n;
};

/** Consecutive runs of messages that fit one SendMessageBatch, in order. */
function batches(messages: readonly SnapshotMessage[]): SnapshotMessage[][] {
  const out: SnapshotMessage[][] = [];
  let current: SnapshotMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = sizeOf(m);
    if (current.length === BATCH_ENTRIES || (current.length > 0 && bytes + size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Sends a snapshot's messages back in their order, in batches (a FIFO batch keeps its entries' order within
 * each group). Throws SnapshotError naming the first entry SQS refused.
 */
export async function restoreSnapshot(
  sqs: SQSClient,
  urls: { readonly queueUrl: string; readonly dlqUrl: string },
  snapshot: Snapshot,
): Promise<{ readonly queued: number; readonly deadLetters: number }> {
  const send = async (queueUrl: string, messages: readonly SnapshotMessage[]) => {
    for (const batch of batches(messages)) {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((m, i) => ({
            Id: String(i),
            MessageBody: m.body,
            MessageGroupId: m.groupId,
            MessageDeduplicationId: m.dedupId,
            MessageAttributes: toSqsAttributes(m.attributes),
          })),
        }),
      );
      const failed = out.Failed?.[0];
      if (failed) {
        const m = batch[Number(failed.Id)];
        throw new SnapshotError(
          `SQS refused restored message ${m?.dedupId}: ${failed.Code} ${failed.Message}`,
        );
      }
    }
  };
  await send(urls.queueUrl, snapshot.queue);
  await send(urls.dlqUrl, snapshot.deadLetters);
  return { queued: snapshot.queue.length, deadLetters: snapshot.deadLetters.length };
}

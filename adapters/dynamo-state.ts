/**
 * StatePort over DynamoDB: the single-drainer lease, the persisted pacer, operator controls and the 24 h
 * delivered-webhook records, plus the operator functions the CLI calls. Every write that depends on who
 * holds the lease is conditional; a failed condition becomes a domain outcome, never a raw SDK error.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { RetryMemoryPort, RetryRecord } from '../core/drainer';
import {
  loadedPacer,
  type PacerState,
  ratePerSecond,
  type SavedPacer,
  savedPacer,
  windowSize,
} from '../core/pacer';
import type { DeadLetterRecord, OperatorControls, StatePort } from '../core/ports';
import { DEAD_LETTER_REASONS, QUEUE, TABLE } from '../core/resources';
import { sleep } from './clock';

/** DynamoDB's per-request limits: BatchGetItem reads 100 keys, BatchWriteItem writes 25 items. */
const GET_BATCH = 100;
const WRITE_BATCH = 25;

/** Attribute names of the state item, aliased in every expression (`#owner` …) so reserved words never bite. */
const NAMES = {
  '#pk': TABLE.partitionKey,
  '#owner': 'leaseOwner',
  '#leaseExpiresAt': 'leaseExpiresAt',
  '#pacer': 'pacer',
  '#pacerSavedAt': 'pacerSavedAt',
  '#paused': 'paused',
  '#floor': 'floorPerSecond',
  '#ceiling': 'ceilingPerSecond',
  '#controlsUpdatedAt': 'controlsUpdatedAt',
  '#updatedAt': 'updatedAt',
  '#ttl': TABLE.ttlAttribute,
  '#deliveredAt': 'deliveredAt',
  '#deadIndex': TABLE.deadLetterIndexPartition,
  '#deadOrder': TABLE.deadLetterIndexSort,
  '#dlqMessageId': 'dlqMessageId',
} as const;
type Alias = keyof typeof NAMES;

/** Named condition fragments: each says one thing about the lease, and they compose with AND / OR. */
const CONDITIONS = {
  leaseFree: 'attribute_not_exists(#owner)',
  leaseExpired: '#leaseExpiresAt < :now',
  heldByMe: '#owner = :owner',
} as const;

/** Only the aliases an expression uses (DynamoDB rejects unused ones). */
function namesFor(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  const out: Record<string, string> = {};
  for (const [alias, name] of Object.entries(NAMES)) {
    if (new RegExp(`${alias}\\b`).test(text)) out[alias] = name;
  }
  return out;
}

const S = (v: string): AttributeValue => ({ S: v });
const N = (v: number): AttributeValue => ({ N: String(v) });

const isConditionFailed = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException ||
  (err instanceof Error && err.name === 'ConditionalCheckFailedException');

/** The drainer does not hold the lease any more: another run took it after it expired. */
export class LeaseLostError extends Error {
  readonly code = 'lease-lost';
  constructor(readonly owner: string) {
    super(`drainer ${owner} no longer holds the lease`);
    this.name = 'LeaseLostError';
  }
}

/**
 * A batch read or write left items unprocessed (throttling) after every retry. Retryable: the drainer calls
 * again later, and the writes are idempotent puts.
 */
export class StateBatchError extends Error {
  readonly code = 'state-batch';
  readonly retryable = true;
  constructor(
    readonly operation: 'get' | 'write',
    readonly unprocessed: number,
  ) {
    super(`DynamoDB batch ${operation} left ${unprocessed} item(s) unprocessed after retries`);
    this.name = 'StateBatchError';
  }
}

/** Operator input outside what the pacer accepts. */
export class ControlsError extends Error {
  readonly code = 'controls';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`Invalid drainer control: ${field} = ${JSON.stringify(value)}; ${allowed}.`);
    this.name = 'ControlsError';
  }
}

export interface DynamoStateOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** How long a delivered webhook id is remembered, s. @default TABLE.deliveredTtlSeconds (15 days) */
  readonly deliveredTtlSeconds?: number;
  /** Calls per batch chunk, counting the first; only unprocessed items are sent again. @default 4 */
  readonly batchAttempts?: number;
  /** Pause before re-sending unprocessed items, ms (doubles per attempt). @default 25 */
  readonly retryDelayMs?: number;
}

/** The drainer's state in the stack's table. */
export class DynamoState implements StatePort {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly ttlSeconds: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly key = { [TABLE.partitionKey]: S(TABLE.stateKey) };

  constructor(options: DynamoStateOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.ttlSeconds = options.deliveredTtlSeconds ?? TABLE.deliveredTtlSeconds;
    this.attempts = Math.max(1, options.batchAttempts ?? 4);
    this.retryDelayMs = options.retryDelayMs ?? 25;
  }

  async acquireLease(owner: string, now: number, ttlMs: number): Promise<boolean> {
    // Re-acquiring one's own lease is allowed, so a retried call after a lost response is harmless.
    const condition = `${CONDITIONS.leaseFree} OR ${CONDITIONS.leaseExpired} OR ${CONDITIONS.heldByMe}`;
    return this.leaseUpdate(owner, now, ttlMs, condition);
  }

  async renewLease(owner: string, now: number, ttlMs: number): Promise<boolean> {
    // Held by me, even if it expired meanwhile: nobody else took it, so nobody else is delivering.
    return this.leaseUpdate(owner, now, ttlMs, CONDITIONS.heldByMe);
  }

  async releaseLease(owner: string): Promise<void> {
    // Not ours any more (condition failed): the next holder's lease must stay untouched, and there is nothing to release.
    await this.updateIf('REMOVE #owner, #leaseExpiresAt', CONDITIONS.heldByMe, { ':owner': S(owner) });
  }

  async load(): Promise<{ readonly pacer?: PacerState; readonly controls: OperatorControls }> {
    const item = await this.getState();
    const pacer = parsePacer(item?.pacer?.S);
    return { ...(pacer ? { pacer } : {}), controls: controlsOf(item) };
  }

  /** Throws LeaseLostError when another drainer holds the lease: its pacer state is not ours to overwrite. */
  async savePacer(owner: string, pacer: PacerState, now: number): Promise<void> {
    const saved = await this.updateIf(
      'SET #pacer = :pacer, #pacerSavedAt = :now, #updatedAt = :now',
      CONDITIONS.heldByMe,
      { ':pacer': S(JSON.stringify(savedPacer(pacer))), ':now': N(now), ':owner': S(owner) },
    );
    if (!saved) throw new LeaseLostError(owner);
  }

  async wasDelivered(webhookId: string, now: number): Promise<boolean> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { [TABLE.partitionKey]: S(deliveredKey(webhookId)) },
        ProjectionExpression: '#ttl',
        ExpressionAttributeNames: namesFor('#ttl'),
        ConsistentRead: true,
      }),
    );
    const expiresAt = Number(out.Item?.[TABLE.ttlAttribute]?.N);
    // DynamoDB deletes expired items only eventually (emulators never): an expired record is absent.
    return Number.isFinite(expiresAt) && expiresAt * 1000 > now;
  }

  async markDelivered(webhookId: string, now: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({ TableName: this.table, Item: this.deliveredItem(webhookId, now) }),
    );
  }

  /**
   * One BatchGetItem per 100 ids (strongly consistent), re-asking for unprocessed keys; throws
   * StateBatchError when some stay unprocessed, so no id is ever reported as new without having been read.
   */
  async wasDeliveredMany(webhookIds: readonly string[], now: number): Promise<ReadonlySet<string>> {
    const found = new Set<string>();
    const ids = [...new Set(webhookIds)]; // DynamoDB rejects a request that names a key twice
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += GET_BATCH) chunks.push(ids.slice(i, i + GET_BATCH));
    await Promise.all(
      chunks.map(async (chunk) => {
        let keys: Record<string, AttributeValue>[] = chunk.map((id) => ({
          [TABLE.partitionKey]: S(deliveredKey(id)),
        }));
        for (let attempt = 1; keys.length > 0; attempt++) {
          const out = await this.client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [this.table]: {
                  Keys: keys,
                  ProjectionExpression: '#pk, #ttl',
                  ExpressionAttributeNames: namesFor('#pk', '#ttl'),
                  ConsistentRead: true,
                },
              },
            }),
          );
          for (const item of out.Responses?.[this.table] ?? []) {
            const key = item[TABLE.partitionKey]?.S;
            const expiresAt = Number(item[TABLE.ttlAttribute]?.N);
            // An expired record lingers until DynamoDB deletes it (emulators never do): it counts as absent.
            if (key !== undefined && Number.isFinite(expiresAt) && expiresAt * 1000 > now) {
              found.add(key.slice(TABLE.deliveredPrefix.length));
            }
          }
          keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
          if (keys.length === 0) break;
          if (attempt >= this.attempts) throw new StateBatchError('get', keys.length);
          await sleep(this.retryDelayMs * 2 ** (attempt - 1));
        }
      }),
    );
    return found;
  }

  /**
   * One BatchWriteItem per 25 ids, re-sending unprocessed items; resolves only once every record is written
   * (the caller deletes the messages after that), else throws StateBatchError. Puts are idempotent.
   */
  async markDeliveredMany(webhookIds: readonly string[], now: number): Promise<void> {
    const ids = [...new Set(webhookIds)]; // DynamoDB rejects a batch that writes a key twice
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += WRITE_BATCH) chunks.push(ids.slice(i, i + WRITE_BATCH));
    await Promise.all(
      chunks.map(async (chunk) => {
        let requests = chunk.map((id) => ({ PutRequest: { Item: this.deliveredItem(id, now) } }));
        for (let attempt = 1; requests.length > 0; attempt++) {
          const out = await this.client.send(
            new BatchWriteItemCommand({ RequestItems: { [this.table]: requests } }),
          );
          const left = out.UnprocessedItems?.[this.table] ?? [];
          requests = left.flatMap((r) =>
            r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
          );
          if (requests.length === 0) break;
          if (attempt >= this.attempts) throw new StateBatchError('write', requests.length);
          await sleep(this.retryDelayMs * 2 ** (attempt - 1));
        }
      }),
    );
  }

  /**
   * Writes the dead letter's index record (`dead#<queue message id>`), in the sparse index `dlq list` reads,
   * with the DLQ's retention as its TTL. A put: a move repeated after a crash overwrites the same record.
   */
  async recordDeadLetter(record: DeadLetterRecord): Promise<void> {
    await this.client.send(new PutItemCommand({ TableName: this.table, Item: deadLetterItem(record) }));
  }

  private deliveredItem(webhookId: string, now: number): Record<string, AttributeValue> {
    return {
      [TABLE.partitionKey]: S(deliveredKey(webhookId)),
      [TABLE.ttlAttribute]: N(Math.ceil(now / 1000) + this.ttlSeconds),
      deliveredAt: N(now),
    };
  }

  private leaseUpdate(owner: string, now: number, ttlMs: number, condition: string): Promise<boolean> {
    return this.updateIf('SET #owner = :owner, #leaseExpiresAt = :expiresAt, #updatedAt = :now', condition, {
      ':owner': S(owner),
      ':expiresAt': N(now + ttlMs),
      ':now': N(now),
    });
  }

  /** One conditional update of the state item: false when the condition failed, other errors thrown. */
  private async updateIf(
    update: string,
    condition: string,
    values: Record<string, AttributeValue>,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key,
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: namesFor(update, condition),
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  private async getState(): Promise<Record<string, AttributeValue> | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: this.key, ConsistentRead: true }),
    );
    return out.Item;
  }
}

const deliveredKey = (webhookId: string): string => `${TABLE.deliveredPrefix}${webhookId}`;

/** Prefix of the retry-progress items (`retry#<SQS message id>`). */
export const RETRY_PREFIX = 'retry#';

/**
 * Retry progress across runs, one item per failing message: every run releases what it holds at its budget,
 * so without this `maxAttempts` and `maxRetryMinutes` would restart each minute. The TTL is the queue's
 * retention: by then the message is gone from the queue anyway.
 */
export class DynamoRetries implements RetryMemoryPort {
  private readonly client: DynamoDBClient;
  private readonly table: string;

  constructor(options: Pick<DynamoStateOptions, 'client' | 'tableName'>) {
    this.client = options.client;
    this.table = options.tableName;
  }

  async get(messageId: string): Promise<RetryRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { [TABLE.partitionKey]: S(`${RETRY_PREFIX}${messageId}`) },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    const attempts = Number(item?.attempts?.N);
    const firstFailureAt = Number(item?.firstFailureAt?.N);
    const expiresAt = Number(item?.[TABLE.ttlAttribute]?.N);
    if (!Number.isFinite(attempts) || !Number.isFinite(firstFailureAt)) return undefined;
    // Expired items linger until DynamoDB deletes them (emulators never do).
    if (Number.isFinite(expiresAt) && expiresAt * 1000 <= Date.now()) return undefined;
    // Records written before strikes were kept count every attempt as one.
    const strikes = Number(item?.strikes?.N);
    const dueAt = Number(item?.dueAt?.N);
    const bodyFailingSince = Number(item?.bodyFailingSince?.N);
    const bodyFailedAt = Number(item?.bodyFailedAt?.N);
    const deadLetteredAt = Number(item?.deadLetteredAt?.N);
    return {
      attempts,
      firstFailureAt,
      ...(Number.isFinite(strikes) ? { strikes } : {}),
      ...(Number.isFinite(dueAt) ? { dueAt } : {}),
      ...(Number.isFinite(bodyFailingSince) ? { bodyFailingSince } : {}),
      ...(Number.isFinite(bodyFailedAt) ? { bodyFailedAt } : {}),
      ...(Number.isFinite(deadLetteredAt) ? { deadLetteredAt } : {}),
    };
  }

  async put(messageId: string, record: RetryRecord, now: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          [TABLE.partitionKey]: S(`${RETRY_PREFIX}${messageId}`),
          attempts: N(record.attempts),
          ...(record.strikes !== undefined ? { strikes: N(record.strikes) } : {}),
          firstFailureAt: N(record.firstFailureAt),
          ...(record.dueAt !== undefined ? { dueAt: N(record.dueAt) } : {}),
          ...(record.bodyFailingSince !== undefined ? { bodyFailingSince: N(record.bodyFailingSince) } : {}),
          ...(record.bodyFailedAt !== undefined ? { bodyFailedAt: N(record.bodyFailedAt) } : {}),
          ...(record.deadLetteredAt !== undefined ? { deadLetteredAt: N(record.deadLetteredAt) } : {}),
          [TABLE.ttlAttribute]: N(Math.ceil(now / 1000) + QUEUE.retentionSeconds),
        },
      }),
    );
  }
}

// ---------------------------------------------------------------------------------- dead-letter index

/** The one partition of the dead-letter index: every record carries it, no other item does. */
const DEAD_INDEX_PARTITION = 'dead';
/** Widest epoch ms (year 33658) and widest SQS sequence number (128 bits: 39 digits), zero-padded to sort as text. */
const TIME_DIGITS = 15;
const SEQUENCE_DIGITS = 40;

const deadLetterKey = (queueMessageId: string): string => `${TABLE.deadLetterPrefix}${queueMessageId}`;

/** Sort key in the index: failure time, then the DLQ sequence number (which grows within a group). */
const deadOrder = (failedAt: number, sequenceNumber?: string): string =>
  `${String(Math.max(0, Math.floor(failedAt))).padStart(TIME_DIGITS, '0')}#${(sequenceNumber ?? '').padStart(SEQUENCE_DIGITS, '0')}`;

function deadLetterItem(r: DeadLetterRecord): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    [TABLE.partitionKey]: S(deadLetterKey(r.messageId)),
    [TABLE.deadLetterIndexPartition]: S(DEAD_INDEX_PARTITION),
    [TABLE.deadLetterIndexSort]: S(deadOrder(r.failedAt, r.sequenceNumber)),
    // Counted from the failure: the drainer sends the DLQ message then, and SQS keeps it this long.
    [TABLE.ttlAttribute]: N(Math.ceil(r.failedAt / 1000) + QUEUE.retentionSeconds),
    reason: S(r.reason),
    attempts: N(r.attempts),
    failedAt: N(r.failedAt),
    messageId: S(r.messageId),
    groupId: S(r.groupId),
  };
  const text: [string, string | undefined][] = [
    ['detail', r.detail],
    ['topic', r.topic],
    ['shop', r.shop],
    ['webhookId', r.webhookId],
    ['target', r.target],
    ['dlqMessageId', r.dlqMessageId],
    ['sequenceNumber', r.sequenceNumber],
  ];
  // DynamoDB refuses empty key attributes only, but an empty string says nothing: leave it out.
  for (const [name, value] of text) if (value) item[name] = S(value);
  if (r.status !== undefined) item.status = N(r.status);
  return item;
}

/** A record read back from the index; `undefined` for an item that is not one (never written by Sluice). */
function deadLetterOf(item: Record<string, AttributeValue>): DeadLetterRecord | undefined {
  const reason = DEAD_LETTER_REASONS.find((r) => r === item.reason?.S);
  const messageId = item.messageId?.S;
  const groupId = item.groupId?.S;
  const failedAt = Number(item.failedAt?.N);
  if (!reason || messageId === undefined || groupId === undefined || !Number.isFinite(failedAt)) {
    return undefined;
  }
  const attempts = Number(item.attempts?.N);
  const status = item.status?.N === undefined ? Number.NaN : Number(item.status.N);
  const text = <K extends string>(name: K): { [P in K]?: string } => {
    const v = item[name]?.S;
    return (v === undefined ? {} : { [name]: v }) as { [P in K]?: string };
  };
  return {
    reason,
    attempts: Number.isFinite(attempts) ? attempts : 0,
    failedAt,
    messageId,
    groupId,
    ...(Number.isFinite(status) ? { status } : {}),
    ...text('detail'),
    ...text('topic'),
    ...text('shop'),
    ...text('webhookId'),
    ...text('target'),
    ...text('dlqMessageId'),
    ...text('sequenceNumber'),
  };
}

/** An index record past its TTL that DynamoDB has not deleted yet (emulators never do): it counts as absent. */
const expired = (item: Record<string, AttributeValue>, now: number): boolean => {
  const expiresAt = Number(item[TABLE.ttlAttribute]?.N);
  return Number.isFinite(expiresAt) && expiresAt * 1000 <= now;
};

/** Bounds of a read of the index; each Query page reads at most 1 MB. */
export interface DeadLetterReadLimits {
  /** Most records returned. */
  readonly limit: number;
  /** Most Query pages read (the count pages too). @default 1000 */
  readonly maxPages?: number;
  readonly now: number;
}

/** The oldest records of the index, and how many it holds. */
export interface DeadLetterListing {
  /** Oldest first (failure time, then order within the group). */
  readonly records: readonly DeadLetterRecord[];
  /** Every unexpired record in the index; a lower bound when `complete` is false. */
  readonly count: number;
  /** False when `maxPages` ran out before the count was done. */
  readonly complete: boolean;
}

/** The index is missing (a table created before it) or unreadable: `dlq list` says so and peeks instead. */
export class DeadLetterIndexError extends Error {
  readonly code = 'dead-letter-index';
  constructor(readonly cause: unknown) {
    super(
      `cannot read the dead-letter index ${TABLE.deadLetterIndex}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'DeadLetterIndexError';
  }
}

async function queryIndex(
  client: DynamoDBClient,
  tableName: string,
  input: {
    readonly condition: string;
    readonly values: Record<string, AttributeValue>;
    readonly limit?: number;
    readonly select?: 'COUNT';
    readonly projection?: string;
    /** Applied after the page is read: `limit` and the 1 MB page size count the records before it. */
    readonly filter?: string;
    readonly startKey: Record<string, AttributeValue> | undefined;
  },
): Promise<{
  items: Record<string, AttributeValue>[];
  count: number;
  /** Records the page read, before the filter. */
  scanned: number;
  next?: Record<string, AttributeValue>;
}> {
  const names = namesFor(input.condition, input.projection ?? '', input.filter ?? '');
  try {
    const out = await client.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: TABLE.deadLetterIndex,
        KeyConditionExpression: input.condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: input.values,
        ScanIndexForward: true,
        ...(input.limit !== undefined ? { Limit: input.limit } : {}),
        ...(input.select ? { Select: input.select } : {}),
        ...(input.projection ? { ProjectionExpression: input.projection } : {}),
        ...(input.filter ? { FilterExpression: input.filter } : {}),
        ...(input.startKey ? { ExclusiveStartKey: input.startKey } : {}),
      }),
    );
    return {
      items: out.Items ?? [],
      count: out.Count ?? 0,
      scanned: out.ScannedCount ?? out.Count ?? 0,
      ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
    };
  } catch (err) {
    throw new DeadLetterIndexError(err);
  }
}

/**
 * Reads the dead-letter index, oldest first: Query pages over its one partition until `limit` records, then
 * a count of the rest. Query, not Scan: the table's only key is `pk`, so a Scan would read every delivered
 * record (a day of traffic) to find the few dead letters and could not return them in order; the sparse
 * index holds the dead letters alone, sorted. Expired records are skipped. Throws DeadLetterIndexError when
 * the index cannot be read (absent on a table from before it, or no permission).
 */
export async function listDeadLetterRecords(
  client: DynamoDBClient,
  tableName: string,
  limits: DeadLetterReadLimits,
): Promise<DeadLetterListing> {
  const maxPages = limits.maxPages ?? 1000;
  const condition = '#deadIndex = :dead';
  const values = { ':dead': S(DEAD_INDEX_PARTITION) };
  const records: DeadLetterRecord[] = [];
  let count = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  let pages = 0;
  // Records first, then a COUNT query from where they stopped (no items returned, so pages stay cheap).
  while (records.length < limits.limit && pages < maxPages) {
    const page = await queryIndex(client, tableName, {
      condition,
      values,
      limit: Math.min(1000, limits.limit - records.length),
      startKey,
    });
    pages++;
    for (const item of page.items) {
      if (expired(item, limits.now)) continue;
      const r = deadLetterOf(item);
      if (r !== undefined) records.push(r);
    }
    startKey = page.next;
    if (!startKey) break;
  }
  count = records.length;
  const ttlFilter = { ':now': N(Math.floor(limits.now / 1000)) };
  while (startKey && pages < maxPages) {
    // A COUNT query with a filter counts the items left after it; expired ones are skipped here too.
    const names = namesFor(condition, '#ttl');
    let out: { Count?: number | undefined; LastEvaluatedKey?: Record<string, AttributeValue> | undefined };
    try {
      out = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: TABLE.deadLetterIndex,
          KeyConditionExpression: condition,
          FilterExpression: 'attribute_not_exists(#ttl) OR #ttl > :now',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ...ttlFilter },
          Select: 'COUNT',
          ExclusiveStartKey: startKey,
        }),
      );
    } catch (err) {
      throw new DeadLetterIndexError(err);
    }
    pages++;
    count += out.Count ?? 0;
    startKey = out.LastEvaluatedKey;
  }
  return { records, count, complete: startKey === undefined };
}

/** Bounds of a search of the index for one dead letter. */
export interface DeadLetterFindLimits {
  /** Most index records read when the id is not a queue message id. @default 100_000 */
  readonly maxRecords?: number;
  /** Records per Query page. @default 1000 */
  readonly pageSize?: number;
  readonly now: number;
}

/** One dead letter looked up in the index. */
export interface DeadLetterFind {
  /** Undefined when the index has no unexpired record of it (within `maxRecords` when `complete` is false). */
  readonly record?: DeadLetterRecord;
  /** Index records read by the search (0 when the id was a queue message id: its record is read by key). */
  readonly searched: number;
  /** False when the search stopped at `maxRecords` with more of the index left unread. */
  readonly complete: boolean;
}

/** Default bound of `findDeadLetterRecord`: 100 Query pages of 1000 records. */
const FIND_MAX_RECORDS = 100_000;

/**
 * Finds one dead letter's index record by its queue message id or its DLQ message id (the id `dlq list`
 * shows). The record's key is `dead#<queue message id>`, so a queue message id is one GetItem. A DLQ message
 * id is not in the key: the index is then read oldest first, page after page, with a filter on
 * `dlqMessageId`, until the record turns up, the index ends, or `maxRecords` records have been read (not
 * only the oldest few). Throws DeadLetterIndexError when the table or the index cannot be read.
 */
export async function findDeadLetterRecord(
  client: DynamoDBClient,
  tableName: string,
  id: string,
  limits: DeadLetterFindLimits,
): Promise<DeadLetterFind> {
  let direct: Record<string, AttributeValue> | undefined;
  try {
    const out = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { [TABLE.partitionKey]: S(deadLetterKey(id)) } }),
    );
    direct = out.Item;
  } catch (err) {
    throw new DeadLetterIndexError(err);
  }
  const keyed = direct === undefined ? undefined : deadLetterOf(direct);
  if (direct !== undefined && keyed !== undefined) {
    // A queue message id: this is its record, present unless expired. No record has it as its DLQ message id.
    return expired(direct, limits.now)
      ? { searched: 0, complete: true }
      : { record: keyed, searched: 0, complete: true };
  }
  const maxRecords = Math.max(1, limits.maxRecords ?? FIND_MAX_RECORDS);
  const pageSize = Math.max(1, limits.pageSize ?? 1000);
  let searched = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  // A page reads one record at least, so `searched` bounds the loop; the page count bounds it should one not.
  for (let pages = 0; searched < maxRecords && pages < maxRecords; pages++) {
    const page = await queryIndex(client, tableName, {
      condition: '#deadIndex = :dead',
      values: { ':dead': S(DEAD_INDEX_PARTITION), ':id': S(id) },
      filter: '#dlqMessageId = :id',
      limit: Math.min(pageSize, maxRecords - searched),
      startKey,
    });
    searched += page.scanned;
    for (const item of page.items) {
      if (expired(item, limits.now)) continue;
      const record = deadLetterOf(item);
      if (record !== undefined) return { record, searched, complete: true };
    }
    startKey = page.next;
    if (!startKey) return { searched, complete: true };
  }
  return { searched, complete: false };
}

/**
 * Deletes the index records of these dead letters (by their queue message id, the `messageId` of their
 * `Failure`), 25 per BatchWriteItem, re-sending unprocessed ones; returns how many are left undeleted.
 */
export async function deleteDeadLetterRecords(
  client: DynamoDBClient,
  tableName: string,
  queueMessageIds: readonly string[],
  options: { readonly attempts?: number; readonly retryDelayMs?: number } = {},
): Promise<number> {
  const keys = [...new Set(queueMessageIds)].map(deadLetterKey);
  return batchDelete(client, tableName, keys, options.attempts ?? 4, options.retryDelayMs ?? 25);
}

/**
 * The keys of the dead-letter index records (all of them, or those of failures before `before`). `dlq purge`
 * reads them before it purges and deletes exactly those after: a time bound compares the drainer's clock with
 * the operator's, and a laptop a minute behind kept every record of the last minute's dead letters.
 */
export async function deadLetterRecordKeys(
  client: DynamoDBClient,
  tableName: string,
  options: { readonly maxPages?: number; readonly before?: number } = {},
): Promise<string[]> {
  const maxPages = options.maxPages ?? 1000;
  const keys: string[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  for (let pages = 0; pages < maxPages; pages++) {
    const page = await queryIndex(client, tableName, {
      condition:
        options.before === undefined ? '#deadIndex = :dead' : '#deadIndex = :dead AND #deadOrder < :before',
      values: {
        ':dead': S(DEAD_INDEX_PARTITION),
        ...(options.before === undefined ? {} : { ':before': S(deadOrder(options.before)) }),
      },
      projection: '#pk',
      startKey,
    });
    for (const item of page.items) {
      const key = item[TABLE.partitionKey]?.S;
      if (key !== undefined) keys.push(key);
    }
    startKey = page.next;
    if (!startKey) break;
  }
  return keys;
}

/** Deletes index records by their keys (as `deadLetterRecordKeys` returns them). */
export async function deleteDeadLetterRecordKeys(
  client: DynamoDBClient,
  tableName: string,
  keys: readonly string[],
): Promise<{ readonly deleted: number; readonly left: number }> {
  const left = await batchDelete(client, tableName, [...keys], 4, 25);
  return { deleted: keys.length - left, left };
}

/**
 * Notes a dead letter's new DLQ message id (a filtered redrive moves the ones it keeps to the back of the
 * DLQ, as new messages). False when there is no record for it.
 */
export async function moveDeadLetterRecord(
  client: DynamoDBClient,
  tableName: string,
  queueMessageId: string,
  dlqMessageId: string,
): Promise<boolean> {
  try {
    await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [TABLE.partitionKey]: S(deadLetterKey(queueMessageId)) },
        UpdateExpression: 'SET #dlqMessageId = :id',
        ConditionExpression: 'attribute_exists(#pk)',
        ExpressionAttributeNames: namesFor('#dlqMessageId', '#pk'),
        ExpressionAttributeValues: { ':id': S(dlqMessageId) },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/** BatchWriteItem deletes of these keys; returns how many stayed unprocessed after `attempts` calls per chunk. */
async function batchDelete(
  client: DynamoDBClient,
  tableName: string,
  keys: readonly string[],
  attempts: number,
  retryDelayMs: number,
): Promise<number> {
  let left = 0;
  for (let i = 0; i < keys.length; i += WRITE_BATCH) {
    let requests: { DeleteRequest: { Key: Record<string, AttributeValue> } }[] = keys
      .slice(i, i + WRITE_BATCH)
      .map((k) => ({ DeleteRequest: { Key: { [TABLE.partitionKey]: S(k) } } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }));
      requests = (out.UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
        r.DeleteRequest?.Key ? [{ DeleteRequest: { Key: r.DeleteRequest.Key } }] : [],
      );
      if (requests.length === 0) break;
      if (attempt >= Math.max(1, attempts)) {
        left += requests.length;
        break;
      }
      await sleep(retryDelayMs * 2 ** (attempt - 1));
    }
  }
  return left;
}

function controlsOf(item: Record<string, AttributeValue> | undefined): OperatorControls {
  const num = (name: string): number | undefined => {
    const v = Number(item?.[name]?.N);
    return item?.[name]?.N !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const floor = num(NAMES['#floor']);
  const ceiling = num(NAMES['#ceiling']);
  return {
    paused: item?.[NAMES['#paused']]?.BOOL === true,
    ...(floor !== undefined ? { floorPerSecond: floor } : {}),
    ...(ceiling !== undefined ? { ceilingPerSecond: ceiling } : {}),
  };
}

/** The persisted pacer, or undefined when absent or not a state this version understands (a fresh start). */
function parsePacer(json: string | undefined): PacerState | undefined {
  if (json === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  // The answer-order test and the window's last rule are not saved (savedPacer); if saved anyway they are
  // dropped, as a run starts them over.
  const { order: _order, windowRule: _rule, ...v } = value as Record<string, unknown>;
  if (v.version !== 1 || (v.mode !== 'startup' && v.mode !== 'cubic')) return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (k !== 'version' && k !== 'mode' && (typeof x !== 'number' || !Number.isFinite(x))) return undefined;
  }
  return loadedPacer(v as unknown as SavedPacer);
}

/** What `sluice status` shows about the drainer. */
export interface DrainerStateView {
  /** The current lease, when one is held and not expired. */
  readonly lease?: { readonly owner: string; readonly expiresAt: number };
  /** The last persisted pacer, with the rate and window it had when it was saved. */
  readonly pacer?: {
    readonly state: PacerState;
    readonly savedAt: number;
    readonly ratePerSecond: number;
    readonly windowSize: number;
  };
  readonly controls: OperatorControls;
  /** When the drainer or an operator last wrote the item, epoch ms. */
  readonly updatedAt?: number;
}

/** Reads the drainer's state item for the operations CLI (`sluice status`). */
export async function readDrainerState(
  client: DynamoDBClient,
  tableName: string,
  now: number = Date.now(),
): Promise<DrainerStateView> {
  const out = await client.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { [TABLE.partitionKey]: S(TABLE.stateKey) },
      ConsistentRead: true,
    }),
  );
  const item = out.Item;
  const owner = item?.[NAMES['#owner']]?.S;
  const expiresAt = Number(item?.[NAMES['#leaseExpiresAt']]?.N);
  const pacer = parsePacer(item?.[NAMES['#pacer']]?.S);
  const savedAt = Number(item?.[NAMES['#pacerSavedAt']]?.N);
  const updatedAt = Number(item?.[NAMES['#updatedAt']]?.N);
  const at = Number.isFinite(savedAt) ? savedAt : now;
  return {
    ...(owner !== undefined && Number.isFinite(expiresAt) && expiresAt >= now
      ? { lease: { owner, expiresAt } }
      : {}),
    ...(pacer
      ? {
          pacer: {
            state: pacer,
            savedAt: at,
            ratePerSecond: ratePerSecond(pacer, at),
            windowSize: windowSize(pacer, at),
          },
        }
      : {}),
    controls: controlsOf(item),
    ...(Number.isFinite(updatedAt) ? { updatedAt } : {}),
  };
}

/**
 * Changes the operator controls (`sluice pause`, `resume`, `rate --floor/--ceiling`) and returns them as
 * stored. A field absent from `patch` is left alone; a field present with the value `undefined` is cleared,
 * so the configured default applies again. The running drainer picks the change up on its next refresh.
 */
export async function setControls(
  client: DynamoDBClient,
  tableName: string,
  patch: Partial<OperatorControls>,
  now: number = Date.now(),
): Promise<OperatorControls> {
  const set: string[] = ['#controlsUpdatedAt = :now', '#updatedAt = :now'];
  const remove: string[] = [];
  const values: Record<string, AttributeValue> = { ':now': N(now) };
  if ('paused' in patch) {
    if (patch.paused === undefined) remove.push('#paused');
    else if (typeof patch.paused !== 'boolean')
      throw new ControlsError('paused', patch.paused, 'true or false');
    else {
      set.push('#paused = :paused');
      values[':paused'] = { BOOL: patch.paused };
    }
  }
  const rate = (field: 'floorPerSecond' | 'ceilingPerSecond', alias: Alias, placeholder: string): void => {
    if (!(field in patch)) return;
    const v = patch[field];
    if (v === undefined) {
      remove.push(alias);
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 10_000) {
      throw new ControlsError(field, v, 'allowed: a number of requests/s above 0 and at most 10000');
    }
    set.push(`${alias} = ${placeholder}`);
    values[placeholder] = N(v);
  };
  rate('floorPerSecond', '#floor', ':floor');
  rate('ceilingPerSecond', '#ceiling', ':ceiling');
  if (
    patch.floorPerSecond !== undefined &&
    patch.ceilingPerSecond !== undefined &&
    patch.floorPerSecond > patch.ceilingPerSecond
  ) {
    throw new ControlsError(
      'floorPerSecond',
      patch.floorPerSecond,
      `must not exceed ceilingPerSecond (${patch.ceilingPerSecond})`,
    );
  }
  const update = `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`;
  // One limit set alone must still fit the other as stored: the drainer would only clamp a floor above the
  // ceiling to it, so the change would do nothing (`rate --floor 50` under a stored `--ceiling 20`). Checked
  // in the write itself, so a concurrent change cannot slip between.
  const floorAlone = typeof patch.floorPerSecond === 'number' && !('ceilingPerSecond' in patch);
  const ceilingAlone = typeof patch.ceilingPerSecond === 'number' && !('floorPerSecond' in patch);
  const condition = floorAlone
    ? 'attribute_not_exists(#ceiling) OR #ceiling >= :floor'
    : ceilingAlone
      ? 'attribute_not_exists(#floor) OR #floor <= :ceiling'
      : undefined;
  let out: { Attributes?: Record<string, AttributeValue> | undefined };
  try {
    out = await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [TABLE.partitionKey]: S(TABLE.stateKey) },
        UpdateExpression: update,
        ...(condition ? { ConditionExpression: condition } : {}),
        ExpressionAttributeNames: namesFor(update, condition ?? ''),
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    throw floorAlone
      ? new ControlsError(
          'floorPerSecond',
          patch.floorPerSecond,
          'must not exceed the ceiling set with rate --ceiling',
        )
      : new ControlsError(
          'ceilingPerSecond',
          patch.ceilingPerSecond,
          'must not be under the floor set with rate --floor',
        );
  }
  return controlsOf(out.Attributes);
}

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
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { RetryMemoryPort, RetryRecord } from '../core/drainer';
import { type PacerState, ratePerSecond, windowSize } from '../core/pacer';
import type { OperatorControls, StatePort } from '../core/ports';
import { QUEUE, TABLE } from '../core/resources';
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
  /** How long a delivered webhook id is remembered, s. @default TABLE.deliveredTtlSeconds (24 h) */
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
      { ':pacer': S(JSON.stringify(pacer)), ':now': N(now), ':owner': S(owner) },
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
    return { attempts, firstFailureAt };
  }

  async put(messageId: string, record: RetryRecord, now: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          [TABLE.partitionKey]: S(`${RETRY_PREFIX}${messageId}`),
          attempts: N(record.attempts),
          firstFailureAt: N(record.firstFailureAt),
          [TABLE.ttlAttribute]: N(Math.ceil(now / 1000) + QUEUE.retentionSeconds),
        },
      }),
    );
  }
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
  const v = value as Record<string, unknown>;
  if (v.version !== 1 || (v.mode !== 'startup' && v.mode !== 'cubic')) return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (k !== 'version' && k !== 'mode' && (typeof x !== 'number' || !Number.isFinite(x))) return undefined;
  }
  return value as PacerState;
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
  const out = await client.send(
    new UpdateItemCommand({
      TableName: tableName,
      Key: { [TABLE.partitionKey]: S(TABLE.stateKey) },
      UpdateExpression: update,
      ExpressionAttributeNames: namesFor(update),
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }),
  );
  return controlsOf(out.Attributes);
}

import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ControlsError,
  DeadLetterIndexError,
  DynamoRetries,
  DynamoState,
  deadLetterRecordKeys,
  deleteDeadLetterRecordKeys,
  deleteDeadLetterRecords,
  findDeadLetterRecord,
  LeaseLostError,
  listDeadLetterRecords,
  moveDeadLetterRecord,
  readDrainerState,
  StateBatchError,
  setControls,
} from '../../adapters/dynamo-state';
import { emptyOrder } from '../../core/answer-order';
import { createPacer, ratePerSecond, savedPacer } from '../../core/pacer';
import type { DeadLetterRecord } from '../../core/ports';
import { QUEUE, TABLE } from '../../core/resources';
import { createResources } from '../../local/emulators';
import { useEmulators } from '../helpers/emulators';

const T0 = 1_764_000_000_000;
const PACER_OPTIONS = { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 32 };

describe('DynamoState against dynalite', () => {
  const { clients } = useEmulators();
  let n = 0;

  const fresh = async () => {
    n++;
    const r = await createResources(clients, {
      queue: `state-${n}`,
      table: `state-table-${n}`,
      bucket: `state-bucket-${n}`,
    });
    return { table: r.tableName, state: new DynamoState({ client: clients.dynamo, tableName: r.tableName }) };
  };

  it('grants the lease to one drainer and refuses a second one while it is held', async () => {
    const { state } = await fresh();

    expect(await state.acquireLease('a', T0, 10_000)).toBe(true);
    expect(await state.acquireLease('b', T0 + 1_000, 10_000)).toBe(false);
    expect(await state.acquireLease('a', T0 + 2_000, 10_000)).toBe(true);
  });

  it('lets another drainer take the lease once it expired, and then the old holder cannot renew it', async () => {
    const { state } = await fresh();
    await state.acquireLease('a', T0, 5_000);

    expect(await state.acquireLease('b', T0 + 5_001, 5_000)).toBe(true);
    expect(await state.renewLease('a', T0 + 5_002, 5_000)).toBe(false);
    expect(await state.renewLease('b', T0 + 5_003, 5_000)).toBe(true);
  });

  it('frees the lease on release, and leaves a lease held by someone else alone', async () => {
    const { state } = await fresh();
    await state.acquireLease('a', T0, 60_000);

    await state.releaseLease('b');
    expect(await state.acquireLease('c', T0 + 1, 60_000)).toBe(false);
    await state.releaseLease('a');
    expect(await state.acquireLease('c', T0 + 2, 60_000)).toBe(true);
  });

  it('persists the pacer only while holding the lease, and maps a lost lease to LeaseLostError', async () => {
    const { state } = await fresh();
    const pacer = { ...createPacer(PACER_OPTIONS, T0), windowRule: 'halving' as const };
    await state.acquireLease('a', T0, 60_000);

    await state.savePacer('a', pacer, T0 + 10);
    const err = await state.savePacer('b', pacer, T0 + 20).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(LeaseLostError);
    // All of it but the answer-order test and the window's last rule, which start over in every run.
    const loaded = (await state.load()).pacer;
    expect(loaded && savedPacer(loaded)).toEqual(savedPacer(pacer));
    expect(loaded?.order).toEqual(emptyOrder(0));
    expect(loaded?.windowRule).toBe('start');
  });

  it('loads no pacer and default controls from an empty table, and ignores a corrupt pacer', async () => {
    const { state, table } = await fresh();
    expect(await state.load()).toEqual({ controls: { paused: false } });

    await clients.dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { [TABLE.partitionKey]: { S: TABLE.stateKey }, pacer: { S: '{"version":2}' } },
      }),
    );
    expect((await state.load()).pacer).toBeUndefined();
  });

  it('remembers a delivered webhook id while a twin can still wait in the queue, then treats it as absent', async () => {
    const { state, table } = await fresh();

    await state.markDelivered('w1', T0);

    expect(await state.wasDelivered('w1', T0 + 1_000)).toBe(true);
    // A twin queued 4 h later (Shopify's retries) behind a backlog the queue keeps for its whole retention.
    const twinDue = T0 + (4 * 3600 + QUEUE.retentionSeconds) * 1000;
    expect(await state.wasDelivered('w1', twinDue)).toBe(true);
    expect(await state.wasDelivered('w2', T0 + 1_000)).toBe(false);
    expect(await state.wasDelivered('w1', T0 + (TABLE.deliveredTtlSeconds + 2) * 1000)).toBe(false);
    const item = await clients.dynamo.send(
      new GetItemCommand({
        TableName: table,
        Key: { [TABLE.partitionKey]: { S: `${TABLE.deliveredPrefix}w1` } },
      }),
    );
    expect(Number(item.Item?.[TABLE.ttlAttribute]?.N)).toBe(T0 / 1000 + TABLE.deliveredTtlSeconds);
  });

  it('marks and looks up many ids in batches, beyond the 25-write and 100-read limits, ignoring repeats', async () => {
    const { state } = await fresh();
    const ids = Array.from({ length: 130 }, (_, i) => `m${i}`);

    await state.markDeliveredMany([...ids, 'm0', 'm1'], T0);
    await state.markDeliveredMany(['old'], T0 - (TABLE.deliveredTtlSeconds + 2) * 1000);

    const asked = [...ids, 'm0', 'absent-1', 'absent-2', 'old'];
    const seen = await state.wasDeliveredMany(asked, T0 + 1_000);
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(await state.wasDelivered('m129', T0 + 1_000)).toBe(true);
    expect(await state.wasDeliveredMany([], T0)).toEqual(new Set());
  });

  it('reads ids marked one at a time and marks ids read one at a time alike', async () => {
    const { state } = await fresh();

    await state.markDelivered('single', T0);
    await state.markDeliveredMany(['batched'], T0);

    expect(await state.wasDeliveredMany(['single', 'batched', 'neither'], T0 + 1)).toEqual(
      new Set(['single', 'batched']),
    );
    expect(await state.wasDelivered('batched', T0 + 1)).toBe(true);
  });
});

describe('DynamoState batches with unprocessed items', () => {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const ddb = mockClient(client);
  const state = new DynamoState({ client, tableName: 'state', retryDelayMs: 1, batchAttempts: 3 });
  afterEach(() => ddb.reset());
  const key = (id: string) => ({ [TABLE.partitionKey]: { S: `${TABLE.deliveredPrefix}${id}` } });
  const record = (id: string) => ({
    ...key(id),
    [TABLE.ttlAttribute]: { N: String(T0 / 1000 + 3_600) },
  });

  it('re-sends only the unprocessed writes, and resolves once they are written', async () => {
    ddb
      .on(BatchWriteItemCommand)
      .resolvesOnce({ UnprocessedItems: { state: [{ PutRequest: { Item: record('b') } }] } })
      .resolves({ UnprocessedItems: {} });

    await state.markDeliveredMany(['a', 'b', 'c'], T0);

    const calls = ddb.commandCalls(BatchWriteItemCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args[0].input.RequestItems?.state).toHaveLength(3);
    expect(calls[1]!.args[0].input.RequestItems?.state).toEqual([{ PutRequest: { Item: record('b') } }]);
  });

  it('rejects with a retryable StateBatchError when writes stay unprocessed', async () => {
    ddb.on(BatchWriteItemCommand).resolves({
      UnprocessedItems: { state: [{ PutRequest: { Item: record('a') } }] },
    });

    const err = await state.markDeliveredMany(['a'], T0).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(StateBatchError);
    expect(err).toMatchObject({ code: 'state-batch', operation: 'write', unprocessed: 1, retryable: true });
    expect(ddb.commandCalls(BatchWriteItemCommand)).toHaveLength(3);
  });

  it('asks again for unprocessed keys and combines the answers', async () => {
    ddb
      .on(BatchGetItemCommand)
      .resolvesOnce({ Responses: { state: [record('a')] }, UnprocessedKeys: { state: { Keys: [key('b')] } } })
      .resolves({ Responses: { state: [record('b')] } });

    const seen = await state.wasDeliveredMany(['a', 'b', 'c'], T0);

    expect(seen).toEqual(new Set(['a', 'b']));
    const calls = ddb.commandCalls(BatchGetItemCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.RequestItems?.state?.Keys).toEqual([key('b')]);
    expect(calls[0]!.args[0].input.RequestItems?.state?.ConsistentRead).toBe(true);
  });

  it('rejects rather than report an unread id as new when keys stay unprocessed', async () => {
    ddb
      .on(BatchGetItemCommand)
      .resolves({ Responses: { state: [] }, UnprocessedKeys: { state: { Keys: [key('a')] } } });

    await expect(state.wasDeliveredMany(['a'], T0)).rejects.toMatchObject({
      code: 'state-batch',
      operation: 'get',
    });
    expect(ddb.commandCalls(BatchGetItemCommand)).toHaveLength(3);
  });
});

describe('operator functions against dynalite', () => {
  const { clients } = useEmulators();
  let table: string;

  beforeAll(async () => {
    table = (await createResources(clients)).tableName;
  });

  it('sets, reads and clears the controls the drainer loads', async () => {
    const state = new DynamoState({ client: clients.dynamo, tableName: table });

    expect(await setControls(clients.dynamo, table, { paused: true, ceilingPerSecond: 50 }, T0)).toEqual({
      paused: true,
      ceilingPerSecond: 50,
    });
    expect((await state.load()).controls).toEqual({ paused: true, ceilingPerSecond: 50 });

    await setControls(clients.dynamo, table, {
      paused: false,
      ceilingPerSecond: undefined,
      floorPerSecond: 3,
    });
    expect((await state.load()).controls).toEqual({ paused: false, floorPerSecond: 3 });
  });

  it('rejects a rate that is not a positive number, naming the field and what is allowed', async () => {
    await expect(setControls(clients.dynamo, table, { floorPerSecond: -1 })).rejects.toBeInstanceOf(
      ControlsError,
    );
    await expect(
      setControls(clients.dynamo, table, { floorPerSecond: 10, ceilingPerSecond: 5 }),
    ).rejects.toThrow(/floorPerSecond = 10; must not exceed ceilingPerSecond \(5\)/);
  });

  it('refuses one limit that would cross the other as stored, and leaves the controls as they were', async () => {
    await setControls(clients.dynamo, table, { floorPerSecond: undefined, ceilingPerSecond: 20 });

    await expect(setControls(clients.dynamo, table, { floorPerSecond: 50 })).rejects.toThrow(
      /floorPerSecond = 50; must not exceed the ceiling set with rate --ceiling/,
    );
    await setControls(clients.dynamo, table, { floorPerSecond: 5 });
    await expect(setControls(clients.dynamo, table, { ceilingPerSecond: 2 })).rejects.toThrow(
      /ceilingPerSecond = 2; must not be under the floor set with rate --floor/,
    );

    const state = new DynamoState({ client: clients.dynamo, tableName: table });
    expect((await state.load()).controls).toMatchObject({ floorPerSecond: 5, ceilingPerSecond: 20 });
    await setControls(clients.dynamo, table, { floorPerSecond: undefined, ceilingPerSecond: undefined });
  });

  it('reports the lease holder, the saved pacer with its rate and window, and the controls', async () => {
    const state = new DynamoState({ client: clients.dynamo, tableName: table });
    const now = Date.now();
    const pacer = createPacer({ ...PACER_OPTIONS, initialRatePerSecond: 40 }, now);
    await state.acquireLease('run-1', now, 60_000);
    await state.savePacer('run-1', pacer, now);

    const view = await readDrainerState(clients.dynamo, table, now + 1);

    expect(view.lease).toEqual({ owner: 'run-1', expiresAt: now + 60_000 });
    expect(view.pacer?.savedAt).toBe(now);
    expect(view.pacer?.ratePerSecond).toBeCloseTo(ratePerSecond(pacer, now));
    expect(view.pacer?.windowSize).toBeGreaterThanOrEqual(1);
    expect(view.updatedAt).toBe(now);
  });

  it('reports no lease once it expired', async () => {
    const view = await readDrainerState(clients.dynamo, table, Date.now() + 3_600_000);

    expect(view.lease).toBeUndefined();
  });
});

describe('DynamoRetries against dynalite', () => {
  const { clients } = useEmulators();
  let table: string;

  beforeAll(async () => {
    table = (await createResources(clients)).tableName;
  });

  it('remembers a message’s retry progress across runs, and knows nothing of other messages', async () => {
    const retries = new DynamoRetries({ client: clients.dynamo, tableName: table });
    const now = Date.now();

    await retries.put(
      'm-1',
      { attempts: 7, strikes: 2, firstFailureAt: now - 60_000, dueAt: now + 30_000 },
      now,
    );
    await retries.put('m-3', { attempts: 4, firstFailureAt: now - 60_000 }, now);
    await retries.put(
      'm-4',
      {
        attempts: 0,
        firstFailureAt: now - 5_000,
        bodyFailingSince: now - 5_000,
        bodyFailedAt: now - 1_000,
        deadLetteredAt: now - 500,
      },
      now,
    );

    expect(await retries.get('m-1')).toEqual({
      attempts: 7,
      strikes: 2,
      firstFailureAt: now - 60_000,
      dueAt: now + 30_000,
    });
    // A record without strikes (written before they were kept) reads without them: every attempt counts.
    expect(await retries.get('m-3')).toEqual({ attempts: 4, firstFailureAt: now - 60_000 });
    expect(await retries.get('m-2')).toBeUndefined();
    expect(await retries.get('m-4')).toEqual({
      attempts: 0,
      firstFailureAt: now - 5_000,
      bodyFailingSince: now - 5_000,
      bodyFailedAt: now - 1_000,
      deadLetteredAt: now - 500,
    });
  });

  it('treats a record past its TTL as absent', async () => {
    const retries = new DynamoRetries({ client: clients.dynamo, tableName: table });
    const longAgo = Date.now() - (QUEUE.retentionSeconds + 60) * 1000;

    await retries.put('m-old', { attempts: 3, firstFailureAt: longAgo }, longAgo);

    expect(await retries.get('m-old')).toBeUndefined();
  });
});

describe('dead-letter index against dynalite', () => {
  const { clients } = useEmulators();
  let n = 0;

  const fresh = async () => {
    n++;
    const r = await createResources(clients, {
      queue: `dead-${n}`,
      table: `dead-table-${n}`,
      bucket: `dead-bucket-${n}`,
    });
    return { table: r.tableName, state: new DynamoState({ client: clients.dynamo, tableName: r.tableName }) };
  };

  /** A dead letter of group `g` failed at T0 + `offsetMs`, queue message id `q-<id>`. */
  const dead = (id: string, offsetMs: number, extra: Partial<DeadLetterRecord> = {}): DeadLetterRecord => ({
    reason: 'rejected',
    status: 400,
    detail: 'bad request',
    attempts: 1,
    failedAt: T0 + offsetMs,
    messageId: `q-${id}`,
    groupId: 'g.myshopify.com',
    shop: 'g.myshopify.com',
    topic: 'products/update',
    webhookId: `w-${id}`,
    target: '/webhooks?x=1',
    dlqMessageId: `d-${id}`,
    sequenceNumber: String(1000 + offsetMs),
    ...extra,
  });
  const ids = (records: readonly DeadLetterRecord[]): string[] => records.map((r) => r.messageId);

  it('writes a record per dead letter with every field and the DLQ retention as its TTL', async () => {
    const { state, table } = await fresh();

    await state.recordDeadLetter(dead('a', 0));

    const item = await clients.dynamo.send(
      new GetItemCommand({
        TableName: table,
        Key: { [TABLE.partitionKey]: { S: `${TABLE.deadLetterPrefix}q-a` } },
      }),
    );
    expect(Number(item.Item?.[TABLE.ttlAttribute]?.N)).toBe(T0 / 1000 + QUEUE.retentionSeconds);
    const listed = await listDeadLetterRecords(clients.dynamo, table, { limit: 10, now: T0 + 1 });
    expect(listed).toEqual({ records: [dead('a', 0)], count: 1, complete: true });
  });

  it('lists oldest first across Query pages, bounded by the limit, and counts the rest', async () => {
    const { state, table } = await fresh();
    // Written out of order; two share a millisecond and are ordered by their DLQ sequence number.
    const records = [
      dead('c', 30),
      dead('a', 10, { sequenceNumber: '5' }),
      dead('b', 10, { sequenceNumber: '40' }),
      dead('d', 40),
      dead('e', 50),
    ];
    for (const r of records) await state.recordDeadLetter(r);

    const all = await listDeadLetterRecords(clients.dynamo, table, { limit: 100, now: T0 });
    const first2 = await listDeadLetterRecords(clients.dynamo, table, { limit: 2, now: T0 });
    const cut = await listDeadLetterRecords(clients.dynamo, table, { limit: 2, maxPages: 1, now: T0 });

    expect(ids(all.records)).toEqual(['q-a', 'q-b', 'q-c', 'q-d', 'q-e']);
    expect(all.count).toBe(5);
    expect(ids(first2.records)).toEqual(['q-a', 'q-b']);
    expect(first2).toMatchObject({ count: 5, complete: true });
    expect(cut).toMatchObject({ count: 2, complete: false });
  });

  it('leaves out expired records and items that are not dead letters', async () => {
    const { state, table } = await fresh();
    await state.recordDeadLetter(dead('old', -(QUEUE.retentionSeconds + 60) * 1000));
    await state.recordDeadLetter(dead('new', 0));
    await state.recordDeadLetter(dead('newer', 10));
    await state.markDelivered('w-new', T0);
    await clients.dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          [TABLE.partitionKey]: { S: 'dead#foreign' },
          [TABLE.deadLetterIndexPartition]: { S: 'dead' },
          [TABLE.deadLetterIndexSort]: { S: '0' },
        },
      }),
    );

    const first = await listDeadLetterRecords(clients.dynamo, table, { limit: 1, now: T0 + 1 });
    const all = await listDeadLetterRecords(clients.dynamo, table, { limit: 10, now: T0 + 1 });

    expect(ids(first.records)).toEqual(['q-new']);
    expect(first.count).toBe(2);
    expect(ids(all.records)).toEqual(['q-new', 'q-newer']);
  });

  it('deletes records by queue message id, and every record of a failure before a time (after a purge)', async () => {
    const { state, table } = await fresh();
    const records = Array.from({ length: 30 }, (_, i) => dead(`m${String(i).padStart(2, '0')}`, i * 10));
    for (const r of records) await state.recordDeadLetter(r);

    const left = await deleteDeadLetterRecords(clients.dynamo, table, [
      'q-m00',
      'q-m01',
      'q-m01',
      'q-absent',
    ]);
    const purged = await deleteDeadLetterRecordKeys(
      clients.dynamo,
      table,
      await deadLetterRecordKeys(clients.dynamo, table, { before: T0 + 250 }),
    );

    expect(left).toBe(0);
    expect(purged).toEqual({ deleted: 23, left: 0 });
    const rest = await listDeadLetterRecords(clients.dynamo, table, { limit: 100, now: T0 });
    expect(ids(rest.records)).toEqual(['q-m25', 'q-m26', 'q-m27', 'q-m28', 'q-m29']);
  });

  it('finds one record by queue message id with a key read, and by DLQ message id anywhere in the index', async () => {
    const { state, table } = await fresh();
    const records = Array.from({ length: 30 }, (_, i) => dead(`f${String(i).padStart(2, '0')}`, i * 10));
    for (const r of records) await state.recordDeadLetter(r);
    await state.recordDeadLetter(dead('gone', -(QUEUE.retentionSeconds + 60) * 1000));
    const find = (id: string, maxRecords?: number) =>
      findDeadLetterRecord(clients.dynamo, table, id, {
        now: T0 + 1,
        pageSize: 4,
        ...(maxRecords !== undefined ? { maxRecords } : {}),
      });

    // By queue message id: its key, whatever its place in the index.
    expect(await find('q-f29')).toEqual({ record: records[29], searched: 0, complete: true });
    // By DLQ message id: the newest record, found by reading the index through to its end, 4 records a page.
    const byDlqId = await find('d-f29');
    expect(byDlqId).toMatchObject({ record: records[29], complete: true });
    expect(byDlqId.searched).toBe(31);
    expect((await find('d-f05')).record).toEqual(records[5]);
    // Not there: the whole index read, and said so; an expired record counts as absent either way.
    expect(await find('d-absent')).toEqual({ searched: 31, complete: true });
    expect(await find('q-gone')).toEqual({ searched: 0, complete: true });
    expect((await find('d-gone')).record).toBeUndefined();
    // The bound: the search stops after maxRecords and says the rest is unread.
    expect(await find('d-f29', 10)).toEqual({ searched: 10, complete: false });
    expect((await find('d-f08', 10)).record).toEqual(records[8]);
  });

  it('notes a new DLQ message id for a record, and answers false when there is none', async () => {
    const { state, table } = await fresh();
    await state.recordDeadLetter(dead('a', 0));

    expect(await moveDeadLetterRecord(clients.dynamo, table, 'q-a', 'd-a2')).toBe(true);
    expect(await moveDeadLetterRecord(clients.dynamo, table, 'q-none', 'd-x')).toBe(false);

    const listed = await listDeadLetterRecords(clients.dynamo, table, { limit: 10, now: T0 });
    expect(listed.records).toEqual([{ ...dead('a', 0), dlqMessageId: 'd-a2' }]);
  });

  it('says the index cannot be read on a table created without it', async () => {
    const table = `no-index-${Date.now()}`;
    await clients.dynamo.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );

    const err = await listDeadLetterRecords(clients.dynamo, table, { limit: 10, now: T0 }).catch(
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(DeadLetterIndexError);
    expect((err as Error).message).toMatch(/dead-letter index dead-letters.*specified index/);
    const findErr = await findDeadLetterRecord(clients.dynamo, table, 'd-a', { now: T0 }).catch(
      (e: unknown) => e,
    );
    expect(findErr).toBeInstanceOf(DeadLetterIndexError);
  });

  it('rebuilds a local table kept from before the index with the index, keeping every item', async () => {
    const name = `upgrade-${Date.now()}`;
    const tableName = `${name}-state`;
    await clients.dynamo.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const before = new DynamoState({ client: clients.dynamo, tableName });
    const delivered = Array.from({ length: 60 }, (_, i) => `kept-${i}`);
    await before.markDeliveredMany(delivered, T0);
    await setControls(clients.dynamo, tableName, { paused: true }, T0);

    const r = await createResources(clients, { queue: name, table: tableName, bucket: `${name}-b` });
    const state = new DynamoState({ client: clients.dynamo, tableName: r.tableName });
    await state.recordDeadLetter(dead('a', 0));

    const listed = await listDeadLetterRecords(clients.dynamo, r.tableName, { limit: 10, now: T0 });
    expect(ids(listed.records)).toEqual(['q-a']);
    expect((await state.wasDeliveredMany(delivered, T0 + 1)).size).toBe(60);
    expect((await state.load()).controls.paused).toBe(true);
  });
});

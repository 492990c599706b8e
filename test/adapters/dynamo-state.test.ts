import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  ControlsError,
  DynamoRetries,
  DynamoState,
  LeaseLostError,
  readDrainerState,
  setControls,
} from '../../adapters/dynamo-state';
import { createPacer, ratePerSecond } from '../../core/pacer';
import { QUEUE, TABLE } from '../../core/resources';
import {
  createResources,
  type Emulators,
  type LocalClients,
  localClients,
  startEmulators,
} from '../../local/emulators';

const T0 = 1_764_000_000_000;
const PACER_OPTIONS = { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 32 };

describe('DynamoState against dynalite', () => {
  let emulators: Emulators;
  let clients: LocalClients;
  let n = 0;

  beforeAll(async () => {
    emulators = await startEmulators();
    clients = localClients(emulators);
  });
  afterAll(async () => {
    await emulators.stop();
  });

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
    const pacer = createPacer(PACER_OPTIONS, T0);
    await state.acquireLease('a', T0, 60_000);

    await state.savePacer('a', pacer, T0 + 10);
    const err = await state.savePacer('b', pacer, T0 + 20).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(LeaseLostError);
    expect((await state.load()).pacer).toEqual(pacer);
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

  it('remembers a delivered webhook id with a 24 h TTL and treats an expired record as absent', async () => {
    const { state, table } = await fresh();

    await state.markDelivered('w1', T0);

    expect(await state.wasDelivered('w1', T0 + 1_000)).toBe(true);
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
});

describe('operator functions against dynalite', () => {
  let emulators: Emulators;
  let clients: LocalClients;
  let table: string;

  beforeAll(async () => {
    emulators = await startEmulators();
    clients = localClients(emulators);
    table = (await createResources(clients)).tableName;
  });
  afterAll(async () => {
    await emulators.stop();
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
  let emulators: Emulators;
  let clients: LocalClients;
  let table: string;

  beforeAll(async () => {
    emulators = await startEmulators();
    clients = localClients(emulators);
    table = (await createResources(clients)).tableName;
  });
  afterAll(async () => {
    await emulators.stop();
  });

  it('remembers a message’s retry progress across runs, and knows nothing of other messages', async () => {
    const retries = new DynamoRetries({ client: clients.dynamo, tableName: table });
    const now = Date.now();

    await retries.put('m-1', { attempts: 7, firstFailureAt: now - 60_000 }, now);

    expect(await retries.get('m-1')).toEqual({ attempts: 7, firstFailureAt: now - 60_000 });
    expect(await retries.get('m-2')).toBeUndefined();
  });

  it('treats a record past its TTL as absent', async () => {
    const retries = new DynamoRetries({ client: clients.dynamo, tableName: table });
    const longAgo = Date.now() - (QUEUE.retentionSeconds + 60) * 1000;

    await retries.put('m-old', { attempts: 3, firstFailureAt: longAgo }, longAgo);

    expect(await retries.get('m-old')).toBeUndefined();
  });
});

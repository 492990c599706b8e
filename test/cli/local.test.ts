// The operations CLI against local mode: fauxqs + dynalite, the real drainer, and an app on loopback.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { buildDrainerDeps, CountingMetrics, type DrainerAdapters, DynamoState } from '../../adapters';
import { encode } from '../../core/contract';
import { createDrainer, type Drainer, type RunSummary } from '../../core/drainer';
import { type DeadLetterInfo, FAILURE_ATTRIBUTE, LOCAL_STATE_FILE } from '../../core/resources';
import { createResources, type LocalClients, type LocalResources } from '../../local/emulators';
import { sluice, writeStateFile } from '../helpers/cli';
import { useEmulators } from '../helpers/emulators';
import { enqueue, QUEUE_SECRET, webhook } from '../helpers/queue';
import { type Recorder, startRecorder, waitUntil } from '../helpers/recorder';

/** A drainer run in the background, as local mode runs it. */
interface Running {
  readonly drainer: Drainer;
  readonly done: Promise<RunSummary>;
  stop(): Promise<void>;
}

function startDrainer(clients: LocalClients, r: LocalResources, appUrl: string): Running {
  const adapters: DrainerAdapters = buildDrainerDeps({
    sqs: clients.sqs,
    dynamo: clients.dynamo,
    queueUrl: r.queueUrl,
    dlqUrl: r.dlqUrl,
    tableName: r.tableName,
    metrics: new CountingMetrics(),
  });
  const abort = new AbortController();
  const now = Date.now();
  const drainer = createDrainer(adapters, {
    owner: `cli-test-${now}`,
    downstreamUrl: appUrl,
    secrets: [QUEUE_SECRET],
    pacer: { floorPerSecond: 5, ceilingPerSecond: 500, maxWindow: 8, initialRatePerSecond: 100 },
    maxAttempts: 3,
    maxRetryMs: 60_000,
    downstreamTimeoutMs: 2_000,
    stopAt: now + 50_000,
    deadline: now + 55_000,
    receiveWaitSeconds: 1,
    visibilitySeconds: 30,
    controlsRefreshMs: 100,
    signal: abort.signal,
  });
  const done = drainer.run();
  return {
    drainer,
    done,
    async stop() {
      abort.abort();
      await done;
      await adapters.close();
    },
  };
}

describe('sluice CLI (local mode)', () => {
  const { emulators, clients } = useEmulators();

  /** Fresh queue, DLQ and table per test, and a state file pointing at them. */
  async function setUp(name: string): Promise<{ r: LocalResources; stateFile: string }> {
    const r = await createResources(clients, {
      queue: name,
      table: `${name}-state`,
      bucket: `${name}-bodies`,
    });
    const stateFile = writeStateFile({
      apiUrl: 'http://127.0.0.1:1',
      sqsEndpoint: emulators.sqsEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      dynamoEndpoint: emulators.dynamoEndpoint,
      region: 'us-east-1',
      queueUrl: r.queueUrl,
      dlqUrl: r.dlqUrl,
      tableName: r.tableName,
      bucketName: r.bucketName,
    });
    return { r, stateFile };
  }

  describe('pause and resume', () => {
    let app: Recorder;
    let running: Running | undefined;
    afterEach(async () => {
      await running?.stop();
      await app.close();
    });

    it('holds delivery while intake continues when paused, and drains in order on resume', async () => {
      const { r, stateFile } = await setUp('pause');
      app = await startRecorder();
      const cli = (...argv: string[]) => sluice(['--state-file', stateFile, ...argv]);

      const paused = await cli('pause', '--json');
      expect(paused.code).toBe(0);
      expect(JSON.parse(paused.stdout).controls.paused).toBe(true);

      running = startDrainer(clients, r, app.url);
      const specs = Array.from({ length: 6 }, (_, i) => ({
        webhookId: `p${i}`,
        shop: 'shop-1.myshopify.com',
      }));
      await enqueue(clients.sqs, r.queueUrl, specs);
      await waitUntil(() => running!.drainer.status().operatorPaused, 10_000, 'the drainer to see the pause');

      const status = JSON.parse((await cli('status', '--json')).stdout);
      expect(status.controls.paused).toBe(true);
      expect(status.queue.visible + status.queue.inFlight).toBe(6);
      // No CloudWatch locally: the age comes from the emulator's inspection of the queued messages.
      expect(status.queue.oldestAgeSeconds).toBeGreaterThan(0);
      expect(status.lease.owner).toMatch(/^cli-test-/);
      expect(app.attempts).toHaveLength(0);

      expect((await cli('resume')).code).toBe(0);
      await waitUntil(() => app.requests.length === 6, 20_000, 'six deliveries after resume');
      expect(app.requests.map((q) => q.headers['x-shopify-webhook-id'])).toEqual(
        specs.map((s) => s.webhookId),
      );
    });
  });

  describe('dlq', () => {
    let app: Recorder;
    let running: Running | undefined;
    afterEach(async () => {
      await running?.stop();
      await app.close();
    });

    it('lists dead-lettered webhooks and redrives one reason back to the queue, in order, where they are delivered', async () => {
      const { r, stateFile } = await setUp('redrive');
      let accept = false;
      app = await startRecorder(() => ({ status: accept ? 200 : 400 }));
      const cli = (...argv: string[]) => sluice(['--state-file', stateFile, ...argv]);
      // One forgery first in the group, then three webhooks the app rejects (400: permanent).
      await enqueue(clients.sqs, r.queueUrl, [
        { webhookId: 'forged', hmac: Buffer.alloc(32, 7).toString('base64') },
        { webhookId: 'r1' },
        { webhookId: 'r2' },
        { webhookId: 'r3' },
      ]);
      running = startDrainer(clients, r, app.url);
      await waitUntil(
        async () => JSON.parse((await cli('status', '--json')).stdout).dlq.depth === 4,
        20_000,
        'four webhooks in the DLQ',
      );

      const listed = await cli('dlq', 'list', '--json');
      expect(listed.code).toBe(0);
      const list = JSON.parse(listed.stdout);
      expect(list.total).toBe(4);
      expect(list.entries[0]).toMatchObject({
        reason: 'signature',
        webhookId: 'forged',
        shop: 'shop-1.myshopify.com',
      });
      const human = await cli('dlq', 'list');
      expect(human.stdout).toMatch(/ID\s+REASON\s+STATUS\s+AGE\s+TOPIC\s+SHOP/);

      const shown = await cli('dlq', 'show', list.entries[0].messageId, '--json');
      expect(JSON.parse(shown.stdout)).toMatchObject({ reason: 'signature', webhookId: 'forged' });
      // For people: the failure, then the headers the app would get, then the body.
      const shownText = (await cli('dlq', 'show', list.entries[0].messageId)).stdout;
      expect(shownText).toMatch(/^reason\s+signature$/m);
      expect(shownText).toMatch(/^x-shopify-webhook-id: forged$/m);
      expect(shownText).toMatch(/^x-shopify-topic: products\/update$/m);

      accept = true;
      const redriven = await cli('dlq', 'redrive', '--reason', 'rejected', '--json');
      expect(redriven.code).toBe(0);
      const result = JSON.parse(redriven.stdout);
      expect(result.redriven.map((e: { webhookId: string }) => e.webhookId)).toEqual(['r1', 'r2', 'r3']);
      expect(result.kept).toBe(1);

      await waitUntil(() => app.requests.length === 3, 20_000, 'the redriven webhooks to be delivered');
      expect(app.requests.map((q) => q.headers['x-shopify-webhook-id'])).toEqual(['r1', 'r2', 'r3']);
      // The forgery stays in the DLQ, with its reason.
      const after = JSON.parse((await cli('dlq', 'list', '--json')).stdout);
      expect(
        after.entries.map((e: { reason: string; webhookId: string }) => [e.reason, e.webhookId]),
      ).toEqual([['signature', 'forged']]);
      // Kept at the back of the DLQ as a new message: the index follows it, so `show` finds it by the listed id.
      const kept = JSON.parse((await cli('dlq', 'show', after.entries[0].messageId, '--json')).stdout);
      expect(kept).toMatchObject({ webhookId: 'forged', body: expect.any(String) });

      // Delivery runs: the purge says what SQS may take with it, and how to rule that out.
      const purge = await cli('dlq', 'purge', '--yes');
      expect(purge.code).toBe(0);
      expect(purge.stdout).toMatch(
        /Delivery was not paused: SQS may also delete what the drainer dead-letters/,
      );
      expect(JSON.parse((await cli('dlq', 'list', '--json')).stdout).total).toBe(0);
    });

    it('redrives each dead letter once per pass, even when the drainer dead-letters it again meanwhile', async () => {
      const { r, stateFile } = await setUp('redrive-once');
      app = await startRecorder();
      const cli = (...argv: string[]) => sluice(['--state-file', stateFile, ...argv]);
      const forged = Buffer.alloc(32, 7).toString('base64');
      await enqueue(clients.sqs, r.queueUrl, [
        { webhookId: 'f1', shop: 'a.myshopify.com', hmac: forged },
        { webhookId: 'f2', shop: 'b.myshopify.com', hmac: forged },
      ]);
      running = startDrainer(clients, r, app.url);
      const depth = async () => JSON.parse((await cli('status', '--json')).stdout).dlq.depth;
      await waitUntil(async () => (await depth()) === 2, 20_000, 'two forgeries in the DLQ');

      // Still forged: the drainer sends each back to the DLQ within moments of the redrive.
      const redriven = await cli('dlq', 'redrive', '--reason', 'signature', '--limit', '50', '--json');

      expect(redriven.code).toBe(0);
      const ids = JSON.parse(redriven.stdout).redriven.map((e: { webhookId: string }) => e.webhookId);
      expect(ids.sort()).toEqual(['f1', 'f2']);
      await waitUntil(async () => (await depth()) === 2, 20_000, 'both back in the DLQ');
      expect(app.requests).toHaveLength(0);
    });
  });

  describe('dlq list from the dead-letter index', () => {
    let app: Recorder;
    let running: Running | undefined;
    afterEach(async () => {
      await running?.stop();
      await app.close();
    });

    it('lists every dead letter of one group, not only its head, says when the DLQ holds more, and redrive clears it', async () => {
      const { r, stateFile } = await setUp('dlq-index');
      let accept = false;
      app = await startRecorder(() => ({ status: accept ? 200 : 400 }));
      const cli = (...argv: string[]) => sluice(['--state-file', stateFile, ...argv]);
      const shop = 'busy.myshopify.com';
      const ids = Array.from({ length: 6 }, (_, i) => `x${i}`);
      await enqueue(
        clients.sqs,
        r.queueUrl,
        ids.map((webhookId) => ({ webhookId, shop })),
      );
      running = startDrainer(clients, r, app.url);
      const listJson = async () => JSON.parse((await cli('dlq', 'list', '--json')).stdout);
      await waitUntil(async () => (await listJson()).indexed === 6, 20_000, 'six indexed dead letters');
      await running.stop();
      running = undefined;

      const listed = await listJson();
      expect(listed).toMatchObject({ source: 'index', indexed: 6, indexComplete: true, total: 6 });
      expect(listed.entries.map((e: { webhookId: string }) => e.webhookId)).toEqual(ids);
      expect(listed.entries[5]).toMatchObject({ reason: 'rejected', status: 400, shop, groupId: shop });
      // A peek sees the group's head only: FIFO hides the rest behind it.
      const peeked = JSON.parse((await cli('dlq', 'list', '--peek', '--json')).stdout);
      expect(peeked.source).toBe('peek');
      expect(peeked.entries.length).toBeLessThan(6);
      expect(peeked.entries[0].webhookId).toBe('x0');
      // A webhook behind the head: its failure from the index, its body hidden by FIFO.
      const shown = JSON.parse((await cli('dlq', 'show', listed.entries[4].messageId, '--json')).stdout);
      expect(shown).toMatchObject({ webhookId: 'x4', reason: 'rejected', body: null });
      expect(shown.note).toMatch(/FIFO/);

      // A dead letter the index never saw (from before it): the counts differ, and the text says so.
      await enqueue(clients.sqs, r.dlqUrl, [{ webhookId: 'pre', shop: 'other.myshopify.com' }]);
      const human = await cli('dlq', 'list');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/ID\s+REASON\s+STATUS\s+AGE\s+TOPIC\s+SHOP/);
      for (const id of ids) expect(human.stdout).toContain(listed.entries[ids.indexOf(id)].messageId);
      expect(human.stdout).toMatch(/index: 6, DLQ: ~7\n1 in the DLQ without an index record/);
      const limited = await cli('dlq', 'list', '--limit', '2');
      expect(limited.stdout).toMatch(/Showing the oldest 2 of 6/);

      accept = true;
      const redriven = JSON.parse((await cli('dlq', 'redrive', '--json')).stdout);
      expect(redriven.redriven.map((e: { webhookId: string }) => e.webhookId).sort()).toEqual(
        [...ids, 'pre'].sort(),
      );
      expect(redriven.index).toEqual({ removed: 6, failed: 0 });
      const after = await listJson();
      expect(after).toMatchObject({ source: 'index', indexed: 0, entries: [] });

      running = startDrainer(clients, r, app.url);
      await waitUntil(() => app.requests.length === 7, 20_000, 'the redriven webhooks to be delivered');
      expect(
        app.requests
          .filter((q) => q.headers['x-shopify-shop-domain'] === shop)
          .map((q) => q.headers['x-shopify-webhook-id']),
      ).toEqual(ids);
    });

    it('says when the index holds records the DLQ does not, and clears the records of what a purge removed', async () => {
      const { r, stateFile } = await setUp('dlq-purge');
      app = await startRecorder(() => ({ status: 400 }));
      const cli = (...argv: string[]) => sluice(['--state-file', stateFile, ...argv]);
      await enqueue(clients.sqs, r.queueUrl, [{ webhookId: 'p0' }, { webhookId: 'p1' }, { webhookId: 'p2' }]);
      running = startDrainer(clients, r, app.url);
      const listJson = async () => JSON.parse((await cli('dlq', 'list', '--json')).stdout);
      await waitUntil(async () => (await listJson()).indexed === 3, 20_000, 'three indexed dead letters');
      // One removed behind Sluice's back: its record stays, and the list says the two disagree.
      const [head] =
        (
          await clients.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: r.dlqUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
          )
        ).Messages ?? [];
      await clients.sqs.send(
        new DeleteMessageCommand({ QueueUrl: r.dlqUrl, ReceiptHandle: head?.ReceiptHandle }),
      );
      expect((await cli('dlq', 'list')).stdout).toMatch(
        /index: 3, DLQ: ~2\n1 index record\(s\) without a DLQ message/,
      );
      // Its record says so, rather than that FIFO hides it behind its group's head.
      const shown = await cli('dlq', 'show', head?.MessageId ?? '');
      expect(shown.stdout).toContain('its DLQ message is gone: this index record is stale');

      const purged = await cli('dlq', 'purge', '--yes', '--json');

      expect(purged.code).toBe(0);
      expect(JSON.parse(purged.stdout).index).toEqual({ removed: 3, left: 0 });
      expect(JSON.parse(purged.stdout).deliveryPaused).toBe(false);
      await cli('pause');
      expect((await cli('dlq', 'purge', '--yes')).stdout).not.toMatch(/Delivery was not paused/);
      expect(await listJson()).toMatchObject({ indexed: 0, total: 0, entries: [] });
    });

    // Records were deleted up to this machine's clock: two minutes behind the drainer's, the last two minutes'
    // dead letters kept records of messages the purge had removed, for 14 days.
    it("clears the records of what a purge removed whatever this machine's clock says", async () => {
      const { r, stateFile } = await setUp('dlq-purge-skew');
      app = await startRecorder(() => ({ status: 400 }));
      await enqueue(clients.sqs, r.queueUrl, [{ webhookId: 'k0' }, { webhookId: 'k1' }]);
      running = startDrainer(clients, r, app.url);
      const cli = (...argv: string[]) =>
        sluice(['--state-file', stateFile, ...argv], { now: () => Date.now() - 120_000 });
      const listJson = async () => JSON.parse((await cli('dlq', 'list', '--json')).stdout);
      await waitUntil(async () => (await listJson()).indexed === 2, 20_000, 'two indexed dead letters');

      const purged = await cli('dlq', 'purge', '--yes', '--json');

      expect(JSON.parse(purged.stdout).index).toEqual({ removed: 2, left: 0 });
      expect(await listJson()).toMatchObject({ indexed: 0 });
    });
  });

  describe('dlq show', () => {
    it('finds a dead letter behind the head of its group that is not among the oldest --limit index records', async () => {
      const { r, stateFile } = await setUp('dlq-show');
      const cli = (...argv: string[]) => sluice(['--state-file', stateFile, ...argv]);
      const state = new DynamoState({ client: clients.dynamo, tableName: r.tableName });
      const shop = 'deep.myshopify.com';
      const now = Date.now();
      // Five dead letters of one group, in the DLQ and the index as the drainer leaves them, oldest first.
      const dlqIds: string[] = [];
      for (let i = 0; i < 5; i++) {
        const webhookId = `deep-${i}`;
        const { envelope, body } = webhook({ webhookId, shop });
        const m = encode(envelope, body, 'shop');
        const failure: DeadLetterInfo = {
          reason: 'rejected',
          status: 400,
          attempts: 1,
          failedAt: now - (5 - i) * 1000,
          messageId: `q-${webhookId}`,
        };
        const attributes = { ...m.attributes, [FAILURE_ATTRIBUTE]: JSON.stringify(failure) };
        const sent = await clients.sqs.send(
          new SendMessageCommand({
            QueueUrl: r.dlqUrl,
            MessageBody: m.body,
            MessageGroupId: m.groupId,
            MessageDeduplicationId: m.dedupId,
            MessageAttributes: Object.fromEntries(
              Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
            ),
          }),
        );
        dlqIds.push(sent.MessageId ?? '');
        await state.recordDeadLetter({
          ...failure,
          groupId: m.groupId,
          shop,
          topic: envelope.topic,
          webhookId,
          target: envelope.target,
          ...(sent.MessageId ? { dlqMessageId: sent.MessageId } : {}),
          ...(sent.SequenceNumber ? { sequenceNumber: sent.SequenceNumber } : {}),
        });
      }
      // What `dlq show --limit 2` used to search: the two oldest index records.
      const oldest = JSON.parse((await cli('dlq', 'list', '--limit', '2', '--json')).stdout);
      expect(oldest.entries.map((e: { webhookId: string }) => e.webhookId)).toEqual(['deep-0', 'deep-1']);

      // By the id `dlq list` shows (the DLQ message id): found in the index, the body hidden by FIFO.
      const byDlqId = await cli('dlq', 'show', dlqIds[4]!, '--limit', '2', '--json');
      expect(byDlqId.code).toBe(0);
      expect(JSON.parse(byDlqId.stdout)).toMatchObject({
        messageId: dlqIds[4],
        queueMessageId: 'q-deep-4',
        webhookId: 'deep-4',
        reason: 'rejected',
        status: 400,
        body: null,
      });
      const human = await cli('dlq', 'show', dlqIds[3]!, '--limit', '2');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/webhook id\s+deep-3\n/);
      expect(human.stdout).toMatch(/body not shown: FIFO/);
      // By the queue message id: its record read by key.
      const byQueueId = JSON.parse((await cli('dlq', 'show', 'q-deep-2', '--limit', '2', '--json')).stdout);
      expect(byQueueId).toMatchObject({ messageId: dlqIds[2], webhookId: 'deep-2', body: null });
      // The group's head is peeked at, by either id, with its body.
      const head = JSON.parse((await cli('dlq', 'show', 'q-deep-0', '--json')).stdout);
      expect(head).toMatchObject({
        messageId: dlqIds[0],
        webhookId: 'deep-0',
        body: expect.stringContaining('deep-0'),
      });

      const missing = await cli('dlq', 'show', 'no-such-id', '--limit', '2');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(
        /no message no-such-id among the \d+ visible in .*, nor in the dead-letter index/,
      );
    });
  });

  describe('bad arguments', () => {
    it('prints a clear error and exits non-zero', async () => {
      const { stateFile } = await setUp('args');
      const cases: [string[], RegExp][] = [
        [['rate', '--floor', 'fast'], /--floor <n>.*invalid.*number/],
        [['rate'], /give --floor <n> and\/or --ceiling <n>, or --clear/],
        [['rate', '--floor', '50', '--ceiling', '10'], /--floor 50 is above --ceiling 10/],
        [['dlq', 'redrive', '--reason', 'bored'], /not a reason; allowed: signature, rejected/],
        [['dlq', 'redrive', '--since', 'yesterday-ish'], /--since "yesterday-ish" is not a time/],
        [['dlq', 'purge'], /refusing to purge without a terminal.*--yes/],
        [['frobnicate'], /unknown command 'frobnicate'/],
      ];
      for (const [argv, message] of cases) {
        const run = await sluice(['--state-file', stateFile, ...argv]);
        expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
        expect(run.stderr).toMatch(message);
      }
    });

    it('says how to pick a target when none is given', async () => {
      const run = await sluice(['status']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/give --stack <name>.*or --local/);
    });

    /** Endpoints where nothing listens (port 1), for the process `pid`. */
    const nothingListening = (pid: number) => ({
      apiUrl: 'http://127.0.0.1:1',
      sqsEndpoint: 'http://127.0.0.1:1',
      s3Endpoint: 'http://127.0.0.1:1',
      dynamoEndpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      queueUrl: 'http://127.0.0.1:1/000000000000/q.fifo',
      dlqUrl: 'http://127.0.0.1:1/000000000000/q-dlq.fifo',
      tableName: 't',
      bucketName: 'b',
      pid,
    });

    it('says local mode is not answering when its process lives on but its emulators are gone', async () => {
      // A live process (this one), as after a pid was reused.
      const stateFile = writeStateFile(nothingListening(process.pid));
      const run = await sluice(['--state-file', stateFile, 'status']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/local mode is not answering .*is `npm start` still running\?/);
    });

    /** npm start's file in `dir`, written by a process that is gone. */
    const writeGoneStateFile = (dir: string): void => {
      mkdirSync(join(dir, '.local'));
      writeFileSync(join(dir, LOCAL_STATE_FILE), JSON.stringify(nothingListening(2_147_483_646)));
    };
    /** Runs `fn` with `dir` as the working folder. */
    const inFolder = async <T>(dir: string, fn: () => Promise<T>): Promise<T> => {
      const cwd = process.cwd();
      process.chdir(dir);
      try {
        return await fn();
      } finally {
        process.chdir(cwd);
      }
    };

    it("finds npm start's file from a folder below the project's, as run from a subfolder", async () => {
      const project = mkdtempSync(join(tmpdir(), 'sluice-up-'));
      const below = join(project, 'src', 'deep');
      mkdirSync(below, { recursive: true });
      writeGoneStateFile(project);
      try {
        const run = await inFolder(below, () => sluice(['--local', 'status'], { env: {} }));
        // Found (and read: its process is gone), not "does not exist".
        expect(run.stderr).toContain(
          `${join(realpathSync(project), LOCAL_STATE_FILE)} (pid 2147483646) is not running`,
        );
      } finally {
        rmSync(project, { recursive: true, force: true });
      }
    });

    it("stops looking at the project's own folder: another project's file above it is not taken", async () => {
      const outer = mkdtempSync(join(tmpdir(), 'sluice-outer-'));
      const project = join(outer, 'project');
      const below = join(project, 'src');
      mkdirSync(below, { recursive: true });
      writeFileSync(join(project, 'package.json'), '{}');
      writeGoneStateFile(outer);
      try {
        const run = await inFolder(below, () => sluice(['--local', 'status'], { env: {} }));
        expect(run.stderr).toMatch(/no local Sluice: .* does not exist/);
        expect(run.stderr).not.toContain(`${realpathSync(outer)}/.local`);
        expect((await sluice(['--state-file', '', 'status'], { env: {} })).stderr).toMatch(
          /--state-file needs a path/,
        );
      } finally {
        rmSync(outer, { recursive: true, force: true });
      }
    });

    it('refuses a state file whose local mode is not running', async () => {
      const stateFile = writeStateFile(nothingListening(2_147_483_646));
      const run = await sluice(['--state-file', stateFile, 'status']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/is not running; start it with `npm start`/);
    });

    it('runs as `npx sluice` through the bin shim, with --help on every command and exit 2 on bad input', async () => {
      const bin = join(__dirname, '../../bin/sluice.js');
      const run = promisify(execFile);
      const help = await run(process.execPath, [bin, 'dlq', 'redrive', '--help']);
      expect(help.stdout).toMatch(/--reason <reason>/);
      const bad = await run(process.execPath, [bin, 'rate', '--ceiling', '-3']).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(bad).toMatchObject({ code: 2 });
      expect((bad as { stderr: string }).stderr).toMatch(/--ceiling <n>.*invalid/);
    });
  });
});

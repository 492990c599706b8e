/**
 * `dlq redrive` against SQS FIFO as AWS runs it, at the SDK: one receive may return several messages of a group,
 * in order (fauxqs returns one per group, so the local tests cannot show it), and a send can fail.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { type PassLimits, type RedriveFilter, redrive } from '../../cli/dlq';
import { ATTR } from '../../core/contract';
import { FAILURE_ATTRIBUTE } from '../../core/resources';

const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/1/q.fifo';
const DLQ = 'https://sqs.eu-west-1.amazonaws.com/1/dlq.fifo';

interface Stored {
  readonly id: string;
  readonly group: string;
  readonly body: string;
  readonly attributes: Message['MessageAttributes'];
  handle?: string;
}

/**
 * A FIFO queue model: a receive returns, for each group with nothing in flight, its messages in order (up to
 * 10 in all); a received message stays in flight until deleted or handed back.
 */
class FifoModel {
  readonly queues = new Map<string, Stored[]>([
    [QUEUE, []],
    [DLQ, []],
  ]);
  readonly log: string[] = [];
  private n = 0;

  add(url: string, group: string, body: string, attributes: Message['MessageAttributes']): string {
    const id = `m-${++this.n}`;
    this.queues.get(url)!.push({ id, group, body, attributes });
    return id;
  }

  receive(url: string, max: number): Message[] {
    const q = this.queues.get(url)!;
    const busy = new Set(q.filter((m) => m.handle).map((m) => m.group));
    const out: Message[] = [];
    for (const m of q) {
      if (out.length >= max) break;
      if (m.handle || busy.has(m.group)) continue;
      // This group's messages go out together, in order, until the batch is full.
      m.handle = `h-${m.id}-${++this.n}`;
      out.push({
        MessageId: m.id,
        ReceiptHandle: m.handle,
        Body: m.body,
        Attributes: { MessageGroupId: m.group, SentTimestamp: '5000' },
        MessageAttributes: m.attributes,
      });
    }
    for (const m of out) busy.add(m.Attributes!.MessageGroupId!);
    return out;
  }

  delete(url: string, handle: string): void {
    const q = this.queues.get(url)!;
    const i = q.findIndex((m) => m.handle === handle);
    if (i < 0) throw new Error('ReceiptHandleIsInvalid');
    this.log.push(`delete ${q[i]!.body}`);
    q.splice(i, 1);
  }

  handBack(url: string, handle: string): void {
    for (const m of this.queues.get(url)!) if (m.handle === handle) m.handle = undefined;
  }
}

const sqsMock = mockClient(SQSClient);

function setup(failSendOf?: string, failQueueSendOf?: string, onSend?: () => void, failDeleteOf?: string) {
  const model = new FifoModel();
  sqsMock.reset();
  sqsMock.on(ReceiveMessageCommand).callsFake((input) => ({
    Messages: model.receive(input.QueueUrl, input.MaxNumberOfMessages ?? 1),
  }));
  sqsMock.on(SendMessageCommand).callsFake((input) => {
    if (input.MessageBody === failSendOf) throw new Error('ServiceUnavailable');
    if (input.MessageBody === failQueueSendOf && input.QueueUrl === QUEUE)
      throw new Error('ThrottlingException');
    onSend?.();
    model.log.push(`send ${input.MessageBody} to ${input.QueueUrl === QUEUE ? 'queue' : 'dlq'}`);
    return {
      MessageId: model.add(input.QueueUrl, input.MessageGroupId, input.MessageBody, input.MessageAttributes),
    };
  });
  sqsMock.on(DeleteMessageCommand).callsFake((input) => {
    const m = model.queues.get(input.QueueUrl)!.find((x) => x.handle === input.ReceiptHandle);
    if (m && m.body === failDeleteOf) throw new Error('InternalError');
    model.delete(input.QueueUrl, input.ReceiptHandle);
    return {};
  });
  sqsMock.on(ChangeMessageVisibilityBatchCommand).callsFake((input) => {
    for (const e of input.Entries) model.handBack(input.QueueUrl, e.ReceiptHandle);
    return { Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })), Failed: [] };
  });
  sqsMock.on(GetQueueAttributesCommand).callsFake((input) => ({
    Attributes: { ApproximateNumberOfMessages: String(model.queues.get(input.QueueUrl)!.length) },
  }));
  const deadLetter = (group: string, body: string, reason = 'exhausted') =>
    model.add(DLQ, group, body, {
      [ATTR.webhookId]: { DataType: 'String', StringValue: `wh-${body}` },
      [FAILURE_ATTRIBUTE]: {
        DataType: 'String',
        StringValue: JSON.stringify({
          reason,
          attempts: 3,
          failedAt: 1_000,
          messageId: `q-${body}`,
        }),
      },
    });
  const limits: PassLimits = { limit: 100, budgetMs: 60_000, now: () => 0 };
  return {
    model,
    deadLetter,
    run: (filter: RedriveFilter = {}, l: PassLimits = limits) =>
      redrive(new SQSClient({ region: 'eu-west-1' }), { queueUrl: QUEUE, dlqUrl: DLQ }, filter, l),
  };
}

describe('dlq redrive against SQS FIFO batches', () => {
  it('sends a group back in its order when one receive returns several of its messages', async () => {
    const h = setup();
    for (const b of ['a1', 'a2', 'a3']) h.deadLetter('shop-a', b);
    h.deadLetter('shop-b', 'b1');

    const result = await h.run();

    expect(result.redriven.map((e) => e.webhookId)).toEqual(['wh-a1', 'wh-a2', 'wh-a3', 'wh-b1']);
    const back = h.model.queues.get(QUEUE)!;
    expect(back.filter((m) => m.group === 'shop-a').map((m) => m.body)).toEqual(['a1', 'a2', 'a3']);
    // Without the reason it was dead-lettered for; the rest of its attributes as they were.
    for (const m of back) {
      expect(m.attributes).not.toHaveProperty(FAILURE_ATTRIBUTE);
      expect(m.attributes?.[ATTR.webhookId]?.StringValue).toBe(`wh-${m.body}`);
    }
    expect(h.model.queues.get(DLQ)).toEqual([]);
  });

  it('deletes a dead letter only after its send, and keeps the rest of its group behind one that fails', async () => {
    const h = setup('a2');
    for (const b of ['a1', 'a2', 'a3']) h.deadLetter('shop-a', b);
    h.deadLetter('shop-b', 'b1');

    const result = await h.run();

    expect(result.failed.map((f) => f.error)).toEqual(['ServiceUnavailable']);
    expect(h.model.queues.get(QUEUE)!.map((m) => m.body)).toEqual(['a1', 'b1']);
    // a2 could not be sent, so neither it nor a3 behind it left the DLQ, and both are visible again, in order.
    expect(h.model.queues.get(DLQ)!.map((m) => [m.body, m.handle])).toEqual([
      ['a2', undefined],
      ['a3', undefined],
    ]);
    expect(h.model.log.indexOf('delete a1')).toBeGreaterThan(h.model.log.indexOf('send a1 to queue'));
    expect(h.model.log).not.toContain('delete a2');
  });

  /** One group a1…a6, rejected the even ones: a filtered pass moves the odd ones to the back of the DLQ. */
  const alternating = (h: ReturnType<typeof setup>): void => {
    for (let i = 1; i <= 6; i++) h.deadLetter('shop-a', `a${i}`, i % 2 === 0 ? 'rejected' : 'exhausted');
  };
  const dlqOrder = (h: ReturnType<typeof setup>) => h.model.queues.get(DLQ)!.map((m) => m.body);
  const queueOrder = (h: ReturnType<typeof setup>) => h.model.queues.get(QUEUE)!.map((m) => m.body);

  // Stopped halfway round a group, a pass left the ones it had moved behind the ones it had not reached, and the
  // next pass sent them out of order.
  it('finishes going round a group it began to move, past its --limit, sending no more than the limit', async () => {
    const h = setup();
    alternating(h);

    const result = await h.run({ reason: 'rejected' }, { limit: 2, budgetMs: 60_000, now: () => 0 });

    // a2 and a4 sent: the limit. The rest goes round to the back, matching or not, in order.
    expect(queueOrder(h)).toEqual(['a2', 'a4']);
    expect(dlqOrder(h)).toEqual(['a1', 'a3', 'a5', 'a6']);
    expect(result.disordered).toEqual([]);
  });

  it('finishes going round a group past its time budget, across receives', async () => {
    let t = 0;
    // Each send takes a second; the budget runs out after five, halfway round the first receive's 10.
    const h = setup(undefined, undefined, () => {
      t += 1_000;
    });
    for (let i = 1; i <= 14; i++) h.deadLetter('shop-a', `a${i}`, i % 2 === 0 ? 'rejected' : 'exhausted');

    await h.run({ reason: 'rejected' }, { limit: 100, budgetMs: 5_000, now: () => t });

    // Sent while the budget lasted; then the rest went round to the back, in order.
    expect(queueOrder(h)).toEqual(['a2', 'a4']);
    expect(dlqOrder(h)).toEqual([
      'a1',
      'a3',
      'a5',
      'a6',
      'a7',
      'a8',
      'a9',
      'a10',
      'a11',
      'a12',
      'a13',
      'a14',
    ]);
  });

  // Without a Failure, its reason and time came from SentTimestamp, which the move to the back reset: it then
  // looked two seconds old to `--until` and `list --peek`.
  it('keeps the reason and time of one SQS moved itself when it moves it to the back', async () => {
    const h = setup();
    h.model.add(DLQ, 'shop-a', 'r1', { [ATTR.webhookId]: { DataType: 'String', StringValue: 'wh-r1' } });
    h.deadLetter('shop-a', 'a2', 'rejected');

    await h.run({ reason: 'rejected' });

    const [left] = h.model.queues.get(DLQ)!;
    expect(left?.body).toBe('r1');
    expect(JSON.parse(left?.attributes?.[FAILURE_ATTRIBUTE]?.StringValue ?? '{}')).toMatchObject({
      reason: 'receive-limit',
      failedAt: 5000,
    });
    expect(queueOrder(h)).toEqual(['a2']);
  });

  it('sends no more than --limit when a whole group matches after one that does not', async () => {
    const h = setup();
    h.deadLetter('shop-a', 'a1', 'exhausted');
    for (let i = 2; i <= 30; i++) h.deadLetter('shop-a', `a${i}`, 'rejected');

    await h.run({ reason: 'rejected' }, { limit: 1, budgetMs: 60_000, now: () => 0 });

    expect(queueOrder(h)).toEqual(['a2']);
    expect(dlqOrder(h)).toEqual(['a1', ...Array.from({ length: 28 }, (_, i) => `a${i + 3}`)]);
  });

  // Sent to the queue, then not deleted from the DLQ: moving it to the back as well left it in both.
  it('does not move one to the back whose send went through but whose delete failed', async () => {
    const h = setup(undefined, undefined, undefined, 'a2');
    alternating(h);

    const result = await h.run({ reason: 'rejected' });

    expect(result.failed.map((f) => f.error)).toEqual(['InternalError']);
    expect(h.model.log.filter((l) => l.startsWith('send a2'))).toEqual(['send a2 to queue']);
  });

  // Held in front of what the pass had moved to the back, the group was out of order and nothing said so.
  it('reports a group left out of order when a send went through but the delete failed', async () => {
    const h = setup(undefined, undefined, undefined, 'a4');
    alternating(h);

    const result = await h.run({ reason: 'rejected' });

    expect(result.disordered).toEqual(['shop-a']);
  });

  it('moves one it could not send to the back too, once its group has moved ones there', async () => {
    const h = setup(undefined, 'a4');
    alternating(h);

    const result = await h.run({ reason: 'rejected' });

    expect(result.failed.map((f) => f.error)).toEqual(['ThrottlingException']);
    expect(queueOrder(h)).toEqual(['a2', 'a6']);
    expect(dlqOrder(h)).toEqual(['a1', 'a3', 'a4', 'a5']);
    expect(result.disordered).toEqual([]);
  });
});

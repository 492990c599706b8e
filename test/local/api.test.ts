import { request } from 'node:http';
import { createServer } from 'node:net';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { decode } from '../../core/contract';
import { OPEN_RULES } from '../../core/screening';
import { makeAuthorizer } from '../../lambda/authorizer';
import { makeVerifyHandler } from '../../lambda/verify';
import { type LocalApi, PortInUseError, startLocalApi } from '../../local/api';
import {
  createResources,
  type Emulators,
  type LocalClients,
  localClients,
  startEmulators,
} from '../../local/emulators';
import { BODY, SECRET, shopifyHeaders } from '../helpers/webhooks';

describe('local API', () => {
  let emulators: Emulators;
  let clients: LocalClients;
  let api: LocalApi;
  let queueUrl: string;
  const verifyEvents: APIGatewayProxyEventV2[] = [];
  const results: { status: number; why?: string }[] = [];

  beforeAll(async () => {
    emulators = await startEmulators();
    clients = localClients(emulators);
    const resources = await createResources(clients, { queue: 'api-test' });
    queueUrl = resources.queueUrl;
    const verify = makeVerifyHandler({
      sqs: clients.sqs,
      s3: clients.s3,
      queueUrl,
      bucketName: resources.bucketName,
      secrets: async () => [SECRET],
      rules: OPEN_RULES,
      ordering: 'shop',
      log: () => {},
    });
    api = await startLocalApi({
      sqs: clients.sqs,
      queueUrl,
      authorizer: makeAuthorizer(OPEN_RULES, { log: () => {} }),
      onResult: (_route, status, _request, why) => results.push(why ? { status, why } : { status }),
      verify: async (event) => {
        verifyEvents.push(event);
        return verify(event);
      },
    });
  });
  afterAll(async () => {
    await api.close();
    await emulators.stop();
  });

  const post = (path: string, body: string | Buffer, headers: Record<string, string>) =>
    fetch(`${api.url}${path}`, { method: 'POST', body, headers });

  const receiveAll = async () => {
    const got = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    return got.Messages ?? [];
  };

  it('queues a well-formed webhook byte-exact through the authorizer and the shared mapping', async () => {
    const res = await post('/webhooks/products?app=1', BODY, shopifyHeaders());

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      MessageId: expect.any(String),
      SequenceNumber: expect.any(String),
    });
    const [msg] = await receiveAll();
    const { envelope, body } = decode(msg?.Body, msg?.MessageAttributes);
    expect(body).toBe(BODY);
    expect(envelope.target).toBe('/webhooks/products?app=1');
    expect(envelope.shop).toBe('my-store.myshopify.com');
    expect(msg?.Attributes).toBeUndefined();
  });

  it('joins a repeated header with a bare comma and keeps repeated forwarded ones, as API Gateway does', async () => {
    const headers: Record<string, string | string[]> = {
      // Its own shop (FIFO group): the first test's message still holds the default shop's group.
      ...shopifyHeaders(BODY, {
        'x-shopify-webhook-id': 'repeat-1',
        'x-shopify-shop-domain': 'repeat.myshopify.com',
      }),
      'x-shopify-event-id': ['a', 'b'],
      'user-agent': ['Shopify-Captain-Hook', 'proxy/1'],
    };
    const status = await new Promise<number>((resolve, reject) => {
      // Node sends an array as one header line per value (its types allow arrays only for some names).
      const req = request(`${api.url}/webhooks`, { method: 'POST', headers: headers as never }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(BODY);
    });

    expect(status).toBe(200);
    const [msg] = await receiveAll();
    const { envelope } = decode(msg?.Body, msg?.MessageAttributes);
    expect(envelope.headers['x-shopify-event-id']).toBe('a,b');
    expect(envelope.headers['user-agent']).toBe('Shopify-Captain-Hook,proxy/1');
  });

  it('answers 401 without calling the authorizer when a required header is missing', async () => {
    const res = await post('/webhooks', BODY, shopifyHeaders(BODY, { 'x-shopify-webhook-id': undefined }));

    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: 'Unauthorized' });
  });

  it('answers 403 when the authorizer denies a malformed signature', async () => {
    const res = await post(
      '/webhooks',
      BODY,
      shopifyHeaders(BODY, { 'x-shopify-hmac-sha256': 'not-base64!' }),
    );

    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ message: 'Forbidden' });
  });

  it('answers 405 from the verify function to a method other than POST, as the stack’s ANY route does', async () => {
    const res = await fetch(`${api.url}/webhooks`, { method: 'GET', headers: shopifyHeaders() });

    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers 500 when SQS refuses a body over its 1 MiB limit, as the direct integration does', async () => {
    const big = `{"pad":"${'x'.repeat(1_100_000)}"}`;

    const res = await post('/webhooks', big, shopifyHeaders(big, { 'x-shopify-webhook-id': 'big-1' }));

    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ message: 'Internal Server Error' });
    // The caller learns nothing more, as from API Gateway; the local log says why.
    expect(results.at(-1)).toEqual({ status: 500, why: expect.stringMatching(/^SQS refused it: .+/) });
  });

  it('answers 413 to a body over API Gateway’s 10 MB limit', async () => {
    const huge = Buffer.alloc(10 * 1024 * 1024 + 1, 0x61);

    const res = await post('/webhooks', huge, shopifyHeaders(huge, { 'x-shopify-webhook-id': 'huge-1' }));

    expect(res.status).toBe(413);
  });

  it('hands the verified route a v2 proxy event with the raw body and maps its result', async () => {
    const res = await post('/verified/webhooks/gdpr?x=1', BODY, shopifyHeaders());

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    const event = verifyEvents.at(-1);
    expect(event).toMatchObject({
      version: '2.0',
      rawPath: '/verified/webhooks/gdpr',
      rawQueryString: 'x=1',
      body: BODY,
      isBase64Encoded: false,
      pathParameters: { proxy: 'webhooks/gdpr' },
      requestContext: { http: { method: 'POST' }, stage: '$default' },
    });
    expect(event?.headers['x-shopify-topic']).toBe('products/update');
  });

  it('base64-encodes a body that is not UTF-8 for the verified route', async () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);

    const res = await post(
      '/verified/webhooks',
      bytes,
      shopifyHeaders(bytes, { 'x-shopify-webhook-id': 'bin-1' }),
    );

    expect(verifyEvents.at(-1)).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
    expect(res.status).toBe(200);
  });

  it('keeps a leading BOM in the body the verified route checks (it is part of the signed bytes)', async () => {
    const bytes = Buffer.from('\ufeff{"id":1}', 'utf8');

    const res = await post(
      '/verified/webhooks',
      bytes,
      shopifyHeaders(bytes, { 'x-shopify-webhook-id': 'bom-1' }),
    );

    expect(verifyEvents.at(-1)).toMatchObject({ isBase64Encoded: false, body: '\ufeff{"id":1}' });
    expect(res.status).toBe(200);
  });

  it("answers 413 on the verified route to a body the verify function could not receive (Lambda's 6 MB)", async () => {
    const body = Buffer.from(`{"pad":"${'x'.repeat(7 * 1024 * 1024)}"}`);
    const calls = verifyEvents.length;

    const res = await post(
      '/verified/webhooks',
      body,
      shopifyHeaders(body, { 'x-shopify-webhook-id': 'big-v' }),
    );

    expect(res.status).toBe(413);
    expect(verifyEvents).toHaveLength(calls);
  });

  it('rejects with PortInUseError naming the port when it is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    const started = startLocalApi({
      sqs: clients.sqs,
      queueUrl,
      port,
      authorizer: async () => ({ isAuthorized: false }),
      verify: async () => '',
    });

    await expect(started).rejects.toThrow(PortInUseError);
    await expect(started).rejects.toThrow(`port ${port} is already in use`);
    await new Promise<void>((r) => blocker.close(() => r()));
  });
});

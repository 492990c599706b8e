import * as path from 'node:path';
import { decode } from '../../core/contract';
import { integrationParameters, renderIntegration } from '../../core/mapping';
import { OPEN_RULES } from '../../core/screening';
import { makeAuthorizer } from '../../lambda/authorizer';
import { projectRoot } from '../../lib/function';
import { authorizerEvent, BODY, eventsSpelling, RECEIVED_AT, shopifyHeaders } from '../helpers/webhooks';

const quiet = { log: () => {} };

describe('makeAuthorizer', () => {
  it('authorizes a well-formed webhook with the SQS fields as its context', async () => {
    const authorize = makeAuthorizer(OPEN_RULES, quiet);

    const result = await authorize(authorizerEvent(shopifyHeaders(), '/webhooks/products', 'x=1'));

    expect(result.isAuthorized).toBe(true);
    expect(result.context).toMatchObject({
      groupId: 'my-store.myshopify.com',
      webhookId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      dedupId: expect.stringMatching(/^[0-9a-f]{64}$/),
      target: '/webhooks/products?x=1',
      receivedAt: String(RECEIVED_AT),
    });
  });

  it('produces a context that the shared mapping turns into a message the drainer can decode', async () => {
    const authorize = makeAuthorizer(OPEN_RULES, quiet);
    const { context } = await authorize(authorizerEvent());

    const sent = renderIntegration(integrationParameters('https://queue'), {
      body: BODY,
      authorizer: context,
    });
    const { envelope, body } = decode(sent.MessageBody, sent.MessageAttributes);

    expect(body).toBe(BODY);
    expect(envelope.headers['x-shopify-event-id']).toBe('98880550-7158-44d4-b7cd-2c97c8a091b5');
    expect(envelope.headers['user-agent']).toBe('Shopify-Captain-Hook');
    expect(sent.MessageGroupId).toBe('my-store.myshopify.com');
  });

  it('uses the configured ordering key for the group id', async () => {
    const authorize = makeAuthorizer(OPEN_RULES, { ...quiet, ordering: 'shop-topic' });
    const { context } = await authorize(authorizerEvent());
    expect(context.groupId).toBe('my-store.myshopify.com:products/update');
  });

  it('accepts the Events header spelling', async () => {
    const authorize = makeAuthorizer(OPEN_RULES, quiet);
    const result = await authorize(authorizerEvent(eventsSpelling(shopifyHeaders())));
    expect(result.isAuthorized).toBe(true);
  });

  it('takes the receive time from the clock when the event has none', async () => {
    const authorize = makeAuthorizer(OPEN_RULES, { ...quiet, now: () => 42 });
    const event = authorizerEvent();
    const { timeEpoch: _, ...withoutTime } = event.requestContext;
    const result = await authorize({ ...event, requestContext: withoutTime as typeof event.requestContext });
    expect(result.context.receivedAt).toBe('42');
  });

  it('denies a malformed webhook and reports the failure code', async () => {
    const entries: Array<Readonly<Record<string, string>>> = [];
    const authorize = makeAuthorizer(OPEN_RULES, { log: (e) => entries.push(e) });

    const result = await authorize(
      authorizerEvent(shopifyHeaders(undefined, { 'x-shopify-shop-domain': 'evil.example.com' })),
    );

    expect(result.isAuthorized).toBe(false);
    expect(result.context).toEqual({});
    expect(entries).toEqual([expect.objectContaining({ failure: 'malformed-shop' })]);
  });

  it('denies a shop outside the allow-list', async () => {
    const authorize = makeAuthorizer({ allowedShops: ['other.myshopify.com'], allowedTopics: [] }, quiet);
    expect((await authorize(authorizerEvent())).isAuthorized).toBe(false);
  });

  it('escapes attribute values so the rendered JSON decodes to the original path', async () => {
    const authorize = makeAuthorizer(OPEN_RULES, quiet);
    const path = '/hooks/"quoted"\\path\u2028';

    const { context } = await authorize(authorizerEvent(shopifyHeaders(), path));
    const sent = renderIntegration(integrationParameters('q'), { body: BODY, authorizer: context });

    expect(decode(sent.MessageBody, sent.MessageAttributes).envelope.target).toBe(path);
  });
});

describe('authorizer bundle', () => {
  it('contains no AWS SDK module', async () => {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(projectRoot(), 'lambda/authorizer.ts')],
      bundle: true,
      platform: 'node',
      target: 'node24',
      minify: true,
      write: false,
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.length).toBeGreaterThan(0);
    expect(inputs.filter((i) => i.includes('@aws-sdk') || i.includes('@smithy'))).toEqual([]);
  });
});

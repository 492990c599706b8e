/** Factories for Shopify-style webhook requests and the API Gateway events that carry them. */
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { sign } from '../../core/signature';

export const SECRET = 'hush';
export const BODY =
  '{"id":788032119674292922,"title":"Example T-Shirt","gid":"gid:\\/\\/shopify\\/Product\\/1"}';
export const RECEIVED_AT = 1_764_000_000_000;

/** Classic `X-Shopify-*` headers for `body` signed with `secret`; `overrides` replace or (undefined) remove. */
export function shopifyHeaders(
  body: string | Uint8Array = BODY,
  overrides: Readonly<Record<string, string | undefined>> = {},
  secret = SECRET,
): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'user-agent': 'Shopify-Captain-Hook',
    'x-shopify-hmac-sha256': sign(secret, body),
    'x-shopify-topic': 'products/update',
    'x-shopify-shop-domain': 'my-store.myshopify.com',
    'x-shopify-api-version': '2026-01',
    'x-shopify-webhook-id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    'x-shopify-triggered-at': '2026-11-25T13:00:00.000000000Z',
    'x-shopify-event-id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
    ...overrides,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v;
  return out;
}

/** The same headers in the Events spelling (`shopify-*`, no `x-`). */
export function eventsSpelling(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.replace(/^x-shopify-/, 'shopify-')] = v;
  return out;
}

const requestContext = (method: string, path: string) => ({
  accountId: '123456789012',
  apiId: 'api',
  domainName: 'api.execute-api.us-east-1.amazonaws.com',
  domainPrefix: 'api',
  http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'Shopify-Captain-Hook' },
  requestId: 'req-1',
  routeKey: `${method} /{proxy+}`,
  stage: '$default',
  time: '25/Nov/2026:13:00:00 +0000',
  timeEpoch: RECEIVED_AT,
});

/** An HTTP API REQUEST authorizer event (payload 2.0) for a webhook on `path`. */
export function authorizerEvent(
  headers: Readonly<Record<string, string>> = shopifyHeaders(),
  path = '/webhooks/products',
  query = '',
): APIGatewayRequestAuthorizerEventV2 {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:us-east-1:123456789012:api/$default/POST/webhooks/products',
    identitySource: [],
    routeKey: 'POST /{proxy+}',
    rawPath: path,
    rawQueryString: query,
    cookies: [],
    headers: { ...headers },
    requestContext: requestContext('POST', path),
  };
}

/** An HTTP API Lambda proxy event (payload 2.0) carrying `body`, base64-encoded when it is bytes. */
export function proxyEvent(
  body: string | Uint8Array = BODY,
  headers: Readonly<Record<string, string>> = shopifyHeaders(body),
  path = '/verified/webhooks/customers',
  options: { readonly method?: string; readonly query?: string; readonly base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  const method = options.method ?? 'POST';
  const base64 = options.base64 ?? typeof body !== 'string';
  return {
    version: '2.0',
    routeKey: `${method} /verified/{proxy+}`,
    rawPath: path,
    rawQueryString: options.query ?? '',
    headers: { ...headers },
    requestContext: requestContext(method, path),
    body: base64 ? Buffer.from(body).toString('base64') : String(body),
    isBase64Encoded: base64,
  };
}

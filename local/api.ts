/**
 * Local stand-in for the HTTP API: identity-source check, the real authorizer handler, the shared SQS
 * mapping (`core/mapping`) and the real verify handler, with API Gateway's answers and limits.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type {
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayRequestAuthorizerEventV2,
} from 'aws-lambda';
import { classicHeaderName, normalizeHeaders, REQUIRED_FIELDS } from '../core/headers';
import { integrationParameters, renderIntegration } from '../core/mapping';
import { ROUTES } from '../core/resources';

/** API Gateway's payload limit for HTTP APIs (10 MB); larger requests get 413 before any route runs. */
export const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
/**
 * Lambda's limit on a synchronous invocation's request (6 MB): a verified-route event over it never reaches the
 * verify function, and API Gateway answers 413 (a binary body counts base64-encoded, a third larger).
 */
export const MAX_INVOKE_BYTES = 6 * 1024 * 1024;

/** The authorizer as local mode calls it: a simple (v2) response, `context` copied into the mapping. */
export type AuthorizerFn = (
  event: APIGatewayRequestAuthorizerEventV2,
) => Promise<{ readonly isAuthorized: boolean; readonly context?: Readonly<Record<string, unknown>> }>;

/** The verify-and-enqueue function as local mode calls it. */
export type VerifyFn = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

export interface LocalApiOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly authorizer: AuthorizerFn;
  readonly verify: VerifyFn;
  /** Send every route through the verify function, as the stack does with `verifyAllRoutes`. @default false */
  readonly verifyAllRoutes?: boolean;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Called after each request with its route, final status, method and path (for the status line). */
  readonly onResult?: (
    route: 'direct' | 'verified' | 'none',
    status: number,
    request: { readonly method: string; readonly path: string },
    why?: string,
  ) => void;
}

export interface LocalApi {
  /** e.g. `http://127.0.0.1:3000` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests and waits for those in progress to finish. */
  close(): Promise<void>;
}

/** Thrown when the port is taken; the message names the port and how to choose another. */
export class PortInUseError extends Error {
  readonly code = 'port-in-use';
  constructor(readonly port: number) {
    super(`port ${port} is already in use; choose another with PORT=<n> or --port <n> (0 picks a free one)`);
    this.name = 'PortInUseError';
  }
}

interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
  /** Why it failed, for the local log only (API Gateway tells the caller nothing more). */
  readonly why?: string;
}

// API Gateway's own error bodies.
const json = (status: number, message: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ message }),
});

class TooLarge extends Error {}

// An oversized body is read on and discarded up to this much, so the client gets its 413 instead of a reset
// connection mid-upload; beyond it the connection is simply closed.
const DISCARD_LIMIT_BYTES = 8 * MAX_PAYLOAD_BYTES;

/** Reads the body as bytes, never decoding it; stops at API Gateway's limit. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = declared > MAX_PAYLOAD_BYTES;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_PAYLOAD_BYTES) tooLarge = true;
    if (tooLarge) {
      chunks.length = 0;
      if (size > DISCARD_LIMIT_BYTES) break;
      continue;
    }
    chunks.push(buf);
  }
  if (tooLarge) throw new TooLarge();
  return Buffer.concat(chunks);
}

// As API Gateway's: invalid UTF-8 is sent base64-encoded, and a leading BOM is part of the signed bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The request parts every synthesized event shares. */
interface Parsed {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQueryString: string;
  readonly headers: Record<string, string>;
  readonly cookies: string[];
  readonly query: Record<string, string> | undefined;
  readonly context: APIGatewayEventRequestContextV2;
}

function parse(req: IncomingMessage, port: number, routeKey: string): Parsed {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const rawPath = q === -1 ? raw : raw.slice(0, q);
  const rawQueryString = q === -1 ? '' : raw.slice(q + 1);
  // Payload 2.0: names lower-cased, repeated values joined with commas, cookies moved to their own list. From
  // headersDistinct, not headers: Node joins repeats with ", " and keeps only the first content-type or
  // user-agent, both of which are forwarded to the app.
  const distinct = req.headersDistinct;
  const headers: Record<string, string> = { ...normalizeHeaders(distinct) };
  const cookies = (distinct.cookie ?? []).flatMap((c) => c.split(/;\s*/)).filter((c) => c !== '');
  delete headers.cookie;
  let query: Record<string, string> | undefined;
  if (rawQueryString) {
    query = {};
    for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = query[k] ? `${query[k]},${v}` : v;
  }
  const now = Date.now();
  const method = req.method ?? 'GET';
  return {
    method,
    rawPath,
    rawQueryString,
    headers,
    cookies,
    query,
    context: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: `127.0.0.1:${port}`,
      domainPrefix: '127',
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
  };
}

/** Maps a Lambda proxy result to a reply the way HTTP API payload 2.0 does. */
function fromProxyResult(result: APIGatewayProxyResultV2): Reply {
  if (typeof result === 'string') {
    return { status: 200, headers: { 'content-type': 'application/json' }, body: result };
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  const body = result.body ?? '';
  return {
    status: result.statusCode ?? 200,
    headers,
    body: result.isBase64Encoded ? Buffer.from(body, 'base64') : body,
  };
}

/** Starts the local API on 127.0.0.1. Rejects with PortInUseError when the port is taken. */
export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const parameters = integrationParameters(options.queueUrl);
  let port = options.port ?? 0;

  const direct = async (req: IncomingMessage, body: Buffer): Promise<Reply> => {
    const p = parse(req, port, 'POST /{proxy+}');
    // Identity sources: API Gateway answers 401 itself, without calling the authorizer.
    const identity = REQUIRED_FIELDS.map((f) => p.headers[classicHeaderName(f)]);
    if (identity.some((v) => v === undefined || v === '')) return json(401, 'Unauthorized');
    const event: APIGatewayRequestAuthorizerEventV2 = {
      version: '2.0',
      type: 'REQUEST',
      routeArn: `arn:aws:execute-api:us-east-1:000000000000:local/$default/POST${p.rawPath}`,
      identitySource: identity as string[],
      routeKey: 'POST /{proxy+}',
      rawPath: p.rawPath,
      rawQueryString: p.rawQueryString,
      cookies: p.cookies,
      headers: p.headers,
      ...(p.query ? { queryStringParameters: p.query } : {}),
      requestContext: p.context,
      pathParameters: { proxy: p.rawPath.slice(1) },
    };
    const decision = await options.authorizer(event);
    if (!decision.isAuthorized) return json(403, 'Forbidden');
    const context: Record<string, string> = {};
    for (const [k, v] of Object.entries(decision.context ?? {})) context[k] = String(v);
    // `$request.body` is text; bytes that are not UTF-8 become U+FFFD, and the drainer's HMAC check then
    // sends the message to the DLQ (reason `signature`) instead of forwarding altered bytes.
    const message = renderIntegration(parameters, { body: body.toString('utf8'), authorizer: context });
    try {
      const sent = await options.sqs.send(
        new SendMessageCommand({
          QueueUrl: message.QueueUrl,
          MessageBody: message.MessageBody,
          MessageGroupId: message.MessageGroupId,
          MessageDeduplicationId: message.MessageDeduplicationId,
          MessageAttributes: message.MessageAttributes,
        }),
      );
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
          MD5OfMessageBody: sent.MD5OfMessageBody,
          MessageId: sent.MessageId,
          SequenceNumber: sent.SequenceNumber,
        }),
      };
    } catch (err) {
      // What the deployed route does when SQS refuses the message (e.g. over 1 MiB): a 500, so Shopify retries.
      return { ...json(500, 'Internal Server Error'), why: `SQS refused it: ${errorMessage(err)}` };
    }
  };

  const verified = async (req: IncomingMessage, body: Buffer, routeKey: string): Promise<Reply> => {
    const p = parse(req, port, routeKey);
    let text: string | undefined;
    try {
      text = utf8.decode(body);
    } catch {
      text = undefined;
    }
    const event: APIGatewayProxyEventV2 = {
      version: '2.0',
      routeKey,
      rawPath: p.rawPath,
      rawQueryString: p.rawQueryString,
      ...(p.cookies.length > 0 ? { cookies: p.cookies } : {}),
      headers: p.headers,
      ...(p.query ? { queryStringParameters: p.query } : {}),
      requestContext: p.context,
      pathParameters: {
        proxy: routeKey.includes(ROUTES.verifiedPrefix)
          ? p.rawPath.slice(ROUTES.verifiedPrefix.length + 1)
          : p.rawPath.slice(1),
      },
      ...(body.length > 0 ? { body: text ?? body.toString('base64') } : {}),
      isBase64Encoded: body.length > 0 && text === undefined,
      stageVariables: {},
    };
    if (Buffer.byteLength(JSON.stringify(event), 'utf8') > MAX_INVOKE_BYTES)
      return json(413, 'Request Too Long');
    return fromProxyResult(await options.verify(event));
  };

  const route = (path: string): 'direct' | 'verified' | 'none' => {
    if (path.startsWith(`${ROUTES.verifiedPrefix}/`) && path.length > ROUTES.verifiedPrefix.length + 1)
      return 'verified';
    return path.length > 1 ? 'direct' : 'none';
  };

  const handle = async (req: IncomingMessage): Promise<[Reply, 'direct' | 'verified' | 'none']> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const which = route(path);
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof TooLarge) return [json(413, 'Request Entity Too Large'), which];
      throw err;
    }
    if (which === 'none') return [json(404, 'Not Found'), which];
    // The stack routes every other method (`ANY /{proxy+}`) to the verify function, which answers 405.
    if (req.method !== 'POST') return [await verified(req, body, 'ANY /{proxy+}'), which];
    if (which === 'verified')
      return [await verified(req, body, `POST ${ROUTES.verifiedPrefix}/{proxy+}`), which];
    if (options.verifyAllRoutes) return [await verified(req, body, 'POST /{proxy+}'), which];
    return [await direct(req, body), which];
  };

  const send = (res: ServerResponse, reply: Reply) => {
    res.writeHead(reply.status, {
      ...reply.headers,
      'apigw-requestid': randomUUID(),
      ...(reply.status === 413 ? { connection: 'close' } : {}),
    });
    res.end(reply.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req)
      .then(([reply, which]) => {
        send(res, reply);
        options.onResult?.(which, reply.status, { method: req.method ?? '', path: req.url ?? '' }, reply.why);
      })
      .catch((err: unknown) => {
        // A handler that throws is a 500 from API Gateway, never a hang.
        send(res, json(500, 'Internal Server Error'));
        options.onResult?.('none', 500, { method: req.method ?? '', path: req.url ?? '' }, errorMessage(err));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

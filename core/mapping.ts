/**
 * The direct route's mapping from an HTTP request to SQS `SendMessage` (DESIGN §2). The stack deploys
 * `integrationParameters`; local mode runs `renderIntegration` over the very same strings, so the two
 * cannot drift. The authorizer computes every value (it sees all headers in either spelling) and hands
 * them over as its context; the integration only copies them.
 */
import { ATTR, type OutgoingMessage } from './contract';

/** Authorizer context keys that carry message attributes, by attribute name. */
export const ATTRIBUTE_CONTEXT_KEYS: Readonly<Record<string, string>> = {
  [ATTR.hmac]: 'hmac',
  [ATTR.topic]: 'topic',
  [ATTR.shop]: 'shop',
  [ATTR.webhookId]: 'webhookId',
  [ATTR.apiVersion]: 'apiVersion',
  [ATTR.target]: 'target',
  [ATTR.receivedAt]: 'receivedAt',
  [ATTR.headers]: 'headers',
};

/** Escapes a value for interpolation inside a JSON string literal, as the integration template needs. */
export const jsonEmbed = (value: string): string => JSON.stringify(value).slice(1, -1);

/** The authorizer's `context` for a screened webhook: group and dedup ids raw, attribute values JSON-escaped. */
export function authorizerContext(message: OutgoingMessage): Record<string, string> {
  const context: Record<string, string> = { groupId: message.groupId, dedupId: message.dedupId };
  for (const [attr, key] of Object.entries(ATTRIBUTE_CONTEXT_KEYS)) {
    const value = message.attributes[attr];
    if (value === undefined) throw new Error(`message has no ${attr} attribute`);
    context[key] = jsonEmbed(value);
  }
  return context;
}

/** `SendMessage` request parameters for the HTTP API's SQS integration (`ParameterMapping.custom`). */
export function integrationParameters(queueUrl: string): Record<string, string> {
  const attributes = Object.entries(ATTRIBUTE_CONTEXT_KEYS)
    .map(([attr, key]) => `"${attr}":{"DataType":"String","StringValue":"\${context.authorizer.${key}}"}`)
    .join(',');
  return {
    QueueUrl: queueUrl,
    MessageBody: '$request.body',
    MessageGroupId: '$context.authorizer.groupId',
    MessageDeduplicationId: '$context.authorizer.dedupId',
    MessageAttributes: `{${attributes}}`,
  };
}

/** What API Gateway sends to SQS, in the AWS SDK's shape. */
export interface RenderedSendMessage {
  readonly QueueUrl: string;
  readonly MessageBody: string;
  readonly MessageGroupId: string;
  readonly MessageDeduplicationId: string;
  readonly MessageAttributes: Record<string, { DataType: 'String'; StringValue: string }>;
}

const WHOLE = /^\$(request\.body|context\.authorizer\.([A-Za-z0-9_]+))$/;
const INTERPOLATED = /\$\{context\.authorizer\.([A-Za-z0-9_]+)\}/g;

/**
 * Evaluates the integration parameters the way API Gateway does: a value that is exactly `$request.body`
 * or `$context.authorizer.x` is replaced whole; `${context.authorizer.x}` inside a string is interpolated.
 */
export function renderIntegration(
  parameters: Readonly<Record<string, string>>,
  request: { readonly body: string; readonly authorizer: Readonly<Record<string, string>> },
): RenderedSendMessage {
  const lookup = (key: string): string => {
    const v = request.authorizer[key];
    if (v === undefined) throw new Error(`authorizer context has no ${key}`);
    return v;
  };
  const evaluate = (value: string): string => {
    const whole = WHOLE.exec(value);
    if (whole) return whole[1] === 'request.body' ? request.body : lookup(whole[2]!);
    return value.replace(INTERPOLATED, (_, key: string) => lookup(key));
  };
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parameters)) out[name] = evaluate(value);
  const attributes: unknown = JSON.parse(out.MessageAttributes ?? '{}');
  return {
    QueueUrl: out.QueueUrl ?? '',
    MessageBody: out.MessageBody ?? '',
    MessageGroupId: out.MessageGroupId ?? '',
    MessageDeduplicationId: out.MessageDeduplicationId ?? '',
    MessageAttributes: attributes as RenderedSendMessage['MessageAttributes'],
  };
}

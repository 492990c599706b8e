/** The edge authorizer: screens Shopify headers and hands the SQS message fields to the direct integration. */
import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerWithContextResult,
} from 'aws-lambda';
import { configFromEnv, DEFAULTS } from '../core/config';
import { encode, type OrderingKey } from '../core/contract';
import { normalizeHeaders } from '../core/headers';
import { authorizerContext } from '../core/mapping';
import { rulesOf, type ScreeningRules, screen } from '../core/screening';
import { once } from './shared/once';

/** The simple-response result; on a deny API Gateway answers 403 and ignores the (empty) context. */
export type AuthorizerResult = APIGatewaySimpleAuthorizerWithContextResult<Record<string, string>>;

export interface AuthorizerOptions {
  /** How webhooks are grouped for ordering. @default DEFAULTS.orderingKey ('resource') */
  readonly ordering?: OrderingKey;
  /** Receive time when the event carries none, epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Where rejections are reported. @default one JSON line on stdout */
  readonly log?: (entry: Readonly<Record<string, string>>) => void;
}

/**
 * An authorizer over `rules`. The body is invisible to authorizers, so the context carries everything but
 * the body: group and dedup ids and the message attributes, exactly as `core/mapping` expects.
 */
export function makeAuthorizer(
  rules: ScreeningRules,
  options: AuthorizerOptions = {},
): (event: APIGatewayRequestAuthorizerEventV2) => Promise<AuthorizerResult> {
  const ordering = options.ordering ?? DEFAULTS.orderingKey;
  const now = options.now ?? Date.now;
  const log = options.log ?? ((entry) => console.log(JSON.stringify(entry)));
  return async (event) => {
    const result = screen(
      {
        headers: normalizeHeaders(event.headers ?? {}),
        path: event.rawPath,
        query: event.rawQueryString,
        receivedAt: event.requestContext?.timeEpoch ?? now(),
      },
      rules,
      ordering,
    );
    if (!result.ok) {
      log({ level: 'WARN', message: 'webhook screened out', failure: result.failure, detail: result.detail });
      return { isAuthorized: false, context: {} };
    }
    return { isAuthorized: true, context: authorizerContext(encode(result.envelope, '', ordering)) };
  };
}

const fromEnv = once(() => {
  const config = configFromEnv(process.env);
  return makeAuthorizer(rulesOf(config), { ordering: config.orderingKey });
});

/** The Lambda entry point; configuration comes from the environment (`configToEnv`). */
export const handler = (event: APIGatewayRequestAuthorizerEventV2): Promise<AuthorizerResult> =>
  fromEnv()(event);

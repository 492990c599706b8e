/** The verified route's decision (DESIGN §2): signature over the raw bytes, screening, inline or claim check. */
import {
  type Envelope,
  encode,
  isSqsSafe,
  MAX_MESSAGE_BYTES,
  messageBytes,
  type OrderingKey,
  type OutgoingMessage,
} from './contract';
import { type Headers, shopifyHeader } from './headers';
import { type ScreeningFailure, type ScreeningRules, screen } from './screening';
import { parseSecrets, verify } from './signature';

/**
 * The value a stack-created secret holds until the user sets the real one. It is never a key: readers treat
 * it as "no secret configured", so webhooks are answered 503 (Shopify retries) instead of 401.
 * Never change it: it is the secret's `SecretString` in the template, and on the next `cdk deploy` after a
 * change CloudFormation would write the new placeholder over the secret users set out of band, stopping
 * delivery (test/lib/sluice.test.ts pins it).
 */
export const SECRET_PLACEHOLDER = 'REPLACE_ME_WITH_THE_SHOPIFY_CLIENT_SECRET';

/** Key names of public values stored beside a secret: the app's API key (its client id is in every install URL). */
const PUBLIC_KEY_NAME = /(api|client|app)[-_ ]?(key|id)$|^(key|id)$/i;

/**
 * The secrets to try from a Secrets Manager value (`"new,old"` or one), without the placeholder. A value stored
 * in the console's default key/value mode arrives as JSON (`{"SHOPIFY_CLIENT_SECRET":"…"}`): the values of the
 * keys named `…secret…` are the secrets, in order; with no such key, every string value but those of a public
 * key (`SHOPIFY_API_KEY`, `client_id`): each value read is a key anyone could sign with, so the app's public
 * API key must never be one. Read as one secret, the JSON text would fail every signature. A Shopify secret
 * never starts with `{`.
 */
export function secretsOf(value: string | undefined): string[] {
  let texts = [value];
  if (value?.trim().startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        const pairs = Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string');
        const named = pairs.filter(([k]) => /secret/i.test(k));
        texts = (named.length > 0 ? named : pairs.filter(([k]) => !PUBLIC_KEY_NAME.test(k))).map(
          ([, v]) => v,
        );
      }
    } catch {
      // Not JSON after all: read as it is.
    }
  }
  return texts.flatMap((t) => parseSecrets(t)).filter((s) => s !== SECRET_PLACEHOLDER);
}

/** Stable error codes of the verified route's JSON answers. */
export type VerifyError = 'method-not-allowed' | 'secret-unset' | 'signature' | ScreeningFailure;

/** A request the verify route turns away, with the status Shopify (or App Store review) sees. */
export interface VerifyRejection {
  readonly kind: 'reject';
  readonly status: 400 | 401 | 403 | 405 | 503;
  readonly error: VerifyError;
  readonly message: string;
}

/** A verified webhook, ready to send; `claimCheck` says which bytes to store under which key first. */
export interface VerifyAccept {
  readonly kind: 'enqueue';
  readonly envelope: Envelope;
  readonly message: OutgoingMessage;
  readonly claimCheck?: { readonly key: string; readonly bytes: Uint8Array };
}

export type VerifyPlan = VerifyRejection | VerifyAccept;

export interface VerifyInput {
  readonly method: string;
  readonly headers: Headers;
  readonly path: string;
  readonly query?: string;
  /** The raw body bytes, exactly as Shopify signed them. */
  readonly body: Uint8Array;
  readonly receivedAt: number;
  readonly secrets: readonly string[];
  readonly rules: ScreeningRules;
  readonly ordering: OrderingKey;
  /** Removed from the path before forwarding (`/verified/x` → `/x`). */
  readonly stripPrefix?: string;
}

const reject = (status: VerifyRejection['status'], error: VerifyError, message: string): VerifyRejection => ({
  kind: 'reject',
  status,
  error,
  message,
});

/** Prefix of every claim-checked body in the bucket (the verify function may write only there). */
export const CLAIM_CHECK_PREFIX = 'bodies/';

/** The S3 key of a claim-checked body: unique per delivery and receive time, grouped by day for browsing. */
export function claimCheckKey(env: Pick<Envelope, 'webhookId' | 'receivedAt'>): string {
  const day = new Date(env.receivedAt).toISOString().slice(0, 10);
  return `${CLAIM_CHECK_PREFIX}${day}/${env.webhookId}-${env.receivedAt}`;
}

// fatal: invalid UTF-8 must not be "repaired"; ignoreBOM: a leading BOM is part of the signed bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body as a string when it survives SQS byte-exact (valid UTF-8, XML-1.0 characters only, non-empty). */
export function inlineBody(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return isSqsSafe(text) ? text : undefined;
}

/**
 * Decides what the verified route does with a request. The signature is checked first, so a forgery is
 * answered 401 whatever else is wrong with it (App Store review sends exactly that).
 */
export function planVerified(input: VerifyInput): VerifyPlan {
  if (input.method.toUpperCase() !== 'POST') {
    return reject(405, 'method-not-allowed', 'Sluice accepts webhooks by POST only.');
  }
  if (input.secrets.length === 0) {
    return reject(503, 'secret-unset', 'The Shopify secret is not set yet; Shopify will retry.');
  }
  const hmac = shopifyHeader(input.headers, 'hmac');
  if (!hmac || !verify(input.body, hmac, input.secrets)) {
    return reject(401, 'signature', 'The HMAC signature does not match the body.');
  }
  const screened = screen(
    {
      headers: input.headers,
      path: input.path,
      ...(input.query ? { query: input.query } : {}),
      receivedAt: input.receivedAt,
    },
    input.rules,
    input.ordering,
    input.stripPrefix,
  );
  if (!screened.ok) {
    const status =
      screened.failure === 'shop-not-allowed' || screened.failure === 'topic-not-allowed' ? 403 : 400;
    return reject(status, screened.failure, screened.detail);
  }
  const envelope = screened.envelope;
  const text = inlineBody(input.body);
  if (text !== undefined) {
    const message = encode(envelope, text, input.ordering);
    if (messageBytes(message.body, message.attributes) <= MAX_MESSAGE_BYTES) {
      return { kind: 'enqueue', envelope, message };
    }
  }
  const key = claimCheckKey(envelope);
  const checked: Envelope = { ...envelope, claimCheck: key };
  return {
    kind: 'enqueue',
    envelope: checked,
    message: encode(checked, '', input.ordering),
    claimCheck: { key, bytes: input.body },
  };
}

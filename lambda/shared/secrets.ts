/** A cached Secrets Manager reader: one GetSecretValue per few minutes per warm container, not per webhook. */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { secretsOf } from '../../core/verify';

/** The one call this reader makes; a `SecretsManagerClient` fits. */
export interface SecretReader {
  send(command: GetSecretValueCommand): Promise<{ readonly SecretString?: string | undefined }>;
}

export interface CachedSecretsOptions {
  /** How long a value is reused. @default 5 minutes */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Returns the configured Shopify secrets (`"new,old"` split, placeholder removed), refreshed after `ttlMs`.
 * A failed refresh rethrows (the caller answers 5xx and Shopify retries) but keeps no stale value past its TTL,
 * so a rotated secret takes effect within one TTL.
 */
export function cachedSecrets(
  client: SecretReader,
  secretId: string,
  options: CachedSecretsOptions = {},
): () => Promise<readonly string[]> {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { readonly value: readonly string[]; readonly until: number } | undefined;
  let pending: Promise<readonly string[]> | undefined;
  return async () => {
    if (cached && now() < cached.until) return cached.value;
    // Concurrent callers in one container share one request.
    pending ??= client
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((out) => {
        const value = secretsOf(out.SecretString);
        // An unset secret is re-read soon, so setting it takes effect quickly.
        cached = { value, until: now() + (value.length > 0 ? ttlMs : Math.min(ttlMs, 10_000)) };
        return value;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

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
  /**
   * How long after its last successful read a value is still used while refreshing it fails (Secrets Manager
   * down): every verified webhook would otherwise get a 503, and the drainer would stop. @default 1 hour
   */
  readonly graceMs?: number;
  /** While in that grace, how long before the next refresh is tried. @default 30 s */
  readonly retryMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Returns the configured Shopify secrets (`"new,old"` split, placeholder removed), refreshed after `ttlMs`,
 * so a rotated secret takes effect within one TTL. A failed refresh keeps the last value for up to `graceMs`
 * after it was read (retrying every `retryMs`); with none to keep, it rethrows (the caller answers 5xx and
 * Shopify retries).
 */
export function cachedSecrets(
  client: SecretReader,
  secretId: string,
  options: CachedSecretsOptions = {},
): () => Promise<readonly string[]> {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const graceMs = options.graceMs ?? 60 * 60_000;
  const retryMs = options.retryMs ?? 30_000;
  const now = options.now ?? Date.now;
  /** `stale`: its last refresh failed, so it is served at once while the next one runs in the background. */
  let cached:
    | {
        readonly value: readonly string[];
        readonly until: number;
        readonly readAt: number;
        readonly stale?: boolean;
      }
    | undefined;
  let pending: Promise<readonly string[]> | undefined;
  // Concurrent callers in one container share one request.
  const refresh = (): Promise<readonly string[]> =>
    (pending ??= client
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((out) => {
        const value = secretsOf(out.SecretString);
        // An unset secret is re-read soon, so setting it takes effect quickly.
        const readAt = now();
        cached = { value, readAt, until: readAt + (value.length > 0 ? ttlMs : Math.min(ttlMs, 10_000)) };
        return value;
      })
      .catch((err: unknown) => {
        if (!cached || now() - cached.readAt >= graceMs) throw err;
        cached = { ...cached, until: now() + retryMs, stale: true };
        return cached.value;
      })
      .finally(() => {
        pending = undefined;
      }));
  return async () => {
    if (cached && now() < cached.until) return cached.value;
    if (cached?.stale && now() - cached.readAt < graceMs) {
      // Secrets Manager failing: no caller waits on its next (probably failing) call.
      refresh().catch(() => {});
      return cached.value;
    }
    return refresh();
  };
}

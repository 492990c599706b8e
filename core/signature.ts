/** Shopify webhook signatures: base64(HMAC-SHA256(client secret, raw body)), compared in constant time. */
import { createHmac, timingSafeEqual } from 'node:crypto';

const DIGEST_BYTES = 32;
const BASE64_DIGEST = /^[A-Za-z0-9+/]{43}=$/;

/** The `X-Shopify-Hmac-Sha256` value Shopify would send for `body` signed with `secret`. */
export function sign(secret: string, body: string | Uint8Array): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('base64');
}

/**
 * True when `header` has the shape of a Shopify signature: standard, canonical base64 of 32 bytes. Canonical:
 * the last character's two unused bits are zero, as Shopify writes them. Decoding ignores those bits, so
 * four spellings would decode to the same digest; the app's own check compares the text and refuses three.
 */
export function isWellFormedSignature(header: string): boolean {
  if (!BASE64_DIGEST.test(header)) return false;
  const digest = Buffer.from(header, 'base64');
  return digest.length === DIGEST_BYTES && digest.toString('base64') === header;
}

/**
 * True when `header` is the signature of `body` under any of `secrets` (current and previous during a
 * rotation). Compares decoded digests in constant time; a malformed header is simply invalid.
 */
export function verify(body: string | Uint8Array, header: string, secrets: readonly string[]): boolean {
  if (!isWellFormedSignature(header)) return false;
  const given = Buffer.from(header, 'base64');
  let ok = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest();
    // No early exit: every configured secret is tried, so timing does not reveal which one matched.
    if (timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

/** Splits a configured secret list (`"new,old"`) into the secrets to try, in order. */
export function parseSecrets(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

import { SECRET_PLACEHOLDER, secretsOf } from '../../core/verify';
import { cachedSecrets } from '../../lambda/shared/secrets';

/** A Secrets Manager stand-in that answers with the queued values and counts calls. */
function fakeClient(values: Array<string | Error>) {
  const calls: unknown[] = [];
  return {
    calls,
    send: async (command: unknown) => {
      calls.push(command);
      const next = values.shift();
      if (next instanceof Error) throw next;
      return { SecretString: next };
    },
  };
}

describe('secretsOf', () => {
  it.each([
    ['one secret', 'abc', ['abc']],
    ['a rotation pair', 'new, old', ['new', 'old']],
    ['the placeholder', SECRET_PLACEHOLDER, []],
    ['nothing', undefined, []],
    // The Secrets Manager console stores key/value pairs as JSON by default.
    ['a key/value pair from the console', '{"SHOPIFY_CLIENT_SECRET":"abc"}', ['abc']],
    ['key/value pairs holding a rotation', '{"current":"new","previous":"old"}', ['new', 'old']],
    ['a JSON-looking value that is not JSON', '{abc', ['{abc']],
    // The app's API key is public (every install URL carries it as client_id): never a signing key.
    [
      'the API key stored beside the secret',
      '{"SHOPIFY_API_KEY":"public-client-id","SHOPIFY_CLIENT_SECRET":"real-secret"}',
      ['real-secret'],
    ],
    [
      'a client id beside a rotation',
      '{"client_id":"public","current":"new","previous":"old"}',
      ['new', 'old'],
    ],
    [
      'secrets named as such beside other values',
      '{"apiKey":"pub","shop":"x","secret":"s1","oldSecret":"s0"}',
      ['s1', 's0'],
    ],
  ])('reads %s', (_, value, expected) => {
    expect(secretsOf(value)).toEqual(expected);
  });
});

describe('cachedSecrets', () => {
  it('reads once within the TTL and again after it', async () => {
    let now = 0;
    const client = fakeClient(['a', 'b']);
    const secrets = cachedSecrets(client, 'arn', { ttlMs: 1000, now: () => now });

    expect(await secrets()).toEqual(['a']);
    now = 999;
    expect(await secrets()).toEqual(['a']);
    now = 1000;
    expect(await secrets()).toEqual(['b']);
    expect(client.calls).toHaveLength(2);
  });

  it('shares one request between concurrent callers', async () => {
    const client = fakeClient(['a']);
    const secrets = cachedSecrets(client, 'arn');
    expect(await Promise.all([secrets(), secrets()])).toEqual([['a'], ['a']]);
    expect(client.calls).toHaveLength(1);
  });

  // Secrets Manager down for a few minutes made every verified webhook a 503 and stopped the drainer.
  it('keeps the last value through a failed refresh for an hour, trying again every 30 s', async () => {
    let now = 0;
    const client = fakeClient(['a', new Error('ServiceUnavailable'), new Error('ServiceUnavailable'), 'b']);
    const secrets = cachedSecrets(client, 'arn', { ttlMs: 1000, now: () => now });

    expect(await secrets()).toEqual(['a']);
    now = 1_000;
    expect(await secrets()).toEqual(['a']); // refresh failed: the last value
    now = 20_000;
    expect(await secrets()).toEqual(['a']); // not tried again yet
    expect(client.calls).toHaveLength(2);
    now = 31_000;
    expect(await secrets()).toEqual(['a']); // tried again (in the background), failed again
    await new Promise((r) => setImmediate(r));
    now = 62_000;
    expect(await secrets()).toEqual(['a']); // tried again: this one reads b
    await new Promise((r) => setImmediate(r));
    expect(await secrets()).toEqual(['b']);
    expect(client.calls).toHaveLength(4);
  });

  it('does not make callers wait on a refresh once one has failed: the last value at once', async () => {
    let now = 0;
    let answer: (v: { SecretString: string }) => void = () => {};
    const calls: unknown[] = [];
    const client = {
      send: async (command: unknown) => {
        calls.push(command);
        if (calls.length === 1) return { SecretString: 'a' };
        if (calls.length === 2) throw new Error('ServiceUnavailable');
        return new Promise<{ SecretString: string }>((resolve) => {
          answer = resolve;
        });
      },
    };
    const secrets = cachedSecrets(client, 'arn', { ttlMs: 1000, now: () => now });

    expect(await secrets()).toEqual(['a']);
    now = 1_000;
    expect(await secrets()).toEqual(['a']); // the refresh failed
    now = 31_000;
    // The next refresh hangs: the caller still gets the last value at once.
    expect(await secrets()).toEqual(['a']);
    expect(calls).toHaveLength(3);
    answer({ SecretString: 'b' });
    await new Promise((r) => setImmediate(r));
    expect(await secrets()).toEqual(['b']);
  });

  it('rethrows a failed refresh an hour after the last good read', async () => {
    let now = 0;
    const client = fakeClient(['a', new Error('ServiceUnavailable')]);
    const secrets = cachedSecrets(client, 'arn', { ttlMs: 1000, now: () => now });

    expect(await secrets()).toEqual(['a']);
    now = 3_600_000;
    await expect(secrets()).rejects.toThrow('ServiceUnavailable');
  });

  it('rethrows a failed read and tries again on the next call', async () => {
    const client = fakeClient([new Error('AccessDenied'), 'a']);
    const secrets = cachedSecrets(client, 'arn');
    await expect(secrets()).rejects.toThrow('AccessDenied');
    expect(await secrets()).toEqual(['a']);
  });
});

// Table tests for response classification and Retry-After parsing.
import { classify, signalOf, statusClassOf } from '../../core/classify';
import type { DeliveryResult } from '../../core/ports';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../core/retry-after';

const NOW = Date.parse('2026-11-25T13:00:00Z');

const response = (status: number, headers: Record<string, string> = {}, snippet = ''): DeliveryResult => ({
  kind: 'response',
  status,
  headers,
  snippet,
  rttMs: 12,
});

describe('classify', () => {
  it("keeps a redirect's Location in the detail", () => {
    expect(
      classify(response(301, { location: 'https://app.example.com/webhooks/' }, 'Moved'), NOW),
    ).toMatchObject({
      kind: 'permanent',
      detail: 'HTTP 301 to https://app.example.com/webhooks/: Moved',
    });
    expect(classify(response(404, { location: 'https://elsewhere' }, ''), NOW)).toMatchObject({
      detail: 'HTTP 404',
    });
  });

  it.each([
    [200, 'delivered', '2xx'],
    [201, 'delivered', '2xx'],
    [204, 'delivered', '2xx'],
    [299, 'delivered', '2xx'],
    [301, 'permanent', '3xx'],
    [302, 'permanent', '3xx'],
    [307, 'permanent', '3xx'],
    [400, 'permanent', '4xx'],
    [401, 'permanent', '4xx'],
    [403, 'permanent', '4xx'],
    [404, 'permanent', '4xx'],
    [405, 'permanent', '4xx'],
    [410, 'permanent', '4xx'],
    [413, 'permanent', '4xx'],
    [422, 'permanent', '4xx'],
    [408, 'retry', '4xx'],
    [425, 'retry', '4xx'],
    [429, 'retry', '429'],
    [500, 'retry', '5xx'],
    [502, 'retry', '5xx'],
    [503, 'retry', '5xx'],
    [504, 'retry', '5xx'],
    [599, 'retry', '5xx'],
    [100, 'retry', 'error'],
    [600, 'retry', 'error'],
  ])('classifies HTTP %i as %s (%s)', (status, kind, statusClass) => {
    const v = classify(response(status), NOW);
    expect(v.kind).toBe(kind);
    expect(v.statusClass).toBe(statusClass);
    expect(statusClassOf(status)).toBe(statusClass);
  });

  it('retries a timeout as overload', () => {
    const v = classify({ kind: 'timeout', rttMs: 10_000 }, NOW);
    expect(v).toEqual({ kind: 'retry', statusClass: 'timeout', detail: 'timeout' });
    expect(signalOf(v, 10_000)).toEqual({ kind: 'overload', rttMs: 10_000 });
  });

  it('retries a connection error with its code in the detail', () => {
    const v = classify({ kind: 'error', code: 'ECONNREFUSED', message: 'connect refused', rttMs: 1 }, NOW);
    expect(v).toMatchObject({ kind: 'retry', statusClass: 'error', detail: 'ECONNREFUSED: connect refused' });
  });

  it('marks a request that could not be built from the message as unsendable (it blames the message)', () => {
    const v = classify(
      { kind: 'error', code: 'UND_ERR_INVALID_ARG', message: 'invalid header', rttMs: 0 },
      NOW,
    );
    expect(v).toMatchObject({ kind: 'retry', statusClass: 'error', unsendable: true });
    // The app never saw it: the pacer is told only that its place in the window is free.
    expect(signalOf(v, 0, 3)).toEqual({ kind: 'unsent' });
    expect(
      classify({ kind: 'error', code: 'ECONNRESET', message: 'reset', rttMs: 1 }, NOW),
    ).not.toHaveProperty('unsendable');
  });

  it('keeps the response snippet as the detail of a permanent failure', () => {
    expect(classify(response(422, {}, '{"error":"bad"}'), NOW)).toMatchObject({
      kind: 'permanent',
      status: 422,
      detail: '{"error":"bad"}',
    });
    expect(classify(response(404), NOW)).toMatchObject({ detail: 'HTTP 404' });
  });

  it.each([
    ['429 with Retry-After seconds', 429, '7', 7_000],
    ['503 with Retry-After seconds', 503, '2', 2_000],
    ['429 with an HTTP-date', 429, 'Wed, 25 Nov 2026 13:00:30 GMT', 30_000],
    ['429 with garbage', 429, 'soon', undefined],
    ['429 without the header', 429, undefined, undefined],
    ['500 with Retry-After', 500, '1', 1_000],
  ])('reads the announced wait of a %s', (_name, status, header, expected) => {
    const v = classify(response(status, header === undefined ? {} : { 'retry-after': header }), NOW);
    expect(v.kind).toBe('retry');
    if (v.kind === 'retry') expect(v.retryAfterMs).toBe(expected);
    expect(signalOf(v, 5)).toEqual(
      expected === undefined
        ? { kind: 'overload', rttMs: 5 }
        : { kind: 'overload', rttMs: 5, retryAfterMs: expected },
    );
  });

  it('labels answers with the level the request left at; only 429 and 503 count as refusals by level', () => {
    expect(signalOf(classify(response(200), NOW), 3, 4)).toEqual({ kind: 'accepted', rttMs: 3, level: 4 });
    expect(signalOf(classify(response(503), NOW), 3, 4)).toEqual({
      kind: 'overload',
      rttMs: 3,
      refusedAtLevel: 4,
    });
    expect(signalOf(classify(response(429), NOW), 3, 2)).toEqual({
      kind: 'overload',
      rttMs: 3,
      refusedAtLevel: 2,
    });
    // An error or a timeout is not "too busy": no level.
    expect(signalOf(classify(response(500), NOW), 3, 4)).toEqual({ kind: 'overload', rttMs: 3 });
    expect(signalOf(classify({ kind: 'timeout', rttMs: 10_000 }, NOW), 10_000, 4)).toEqual({
      kind: 'overload',
      rttMs: 10_000,
    });
    expect(signalOf(classify(response(404), NOW), 3, 4)).toEqual({ kind: 'rejected', rttMs: 3 });
  });

  it('maps 2xx to accepted and permanent answers to rejected, never to overload', () => {
    expect(signalOf(classify(response(200), NOW), 3)).toEqual({ kind: 'accepted', rttMs: 3 });
    expect(signalOf(classify(response(404), NOW), 3)).toEqual({ kind: 'rejected', rttMs: 3 });
  });

  it.each([
    [200, 'accepted'],
    [429, 'overload'],
    [503, 'overload'],
    [404, 'rejected'],
  ])('carries the quota announced with an HTTP %i into the %s signal', (status, signalKind) => {
    const headers = { 'ratelimit-policy': '"default";q=100;w=10', ratelimit: '"default";r=0;t=30' };
    const expected = { limit: 100, windowMs: 10_000, remaining: 0, resetMs: 30_000 };
    const v = classify(response(status, headers), NOW);
    expect(v.rateLimit).toEqual(expected);
    expect(signalOf(v, 4)).toMatchObject({ kind: signalKind, rttMs: 4, rateLimit: expected });
  });

  it('keeps Retry-After and the announced quota side by side on a 429', () => {
    const v = classify(response(429, { 'retry-after': '1', 'x-ratelimit-remaining': '0' }), NOW);
    expect(signalOf(v, 4)).toEqual({
      kind: 'overload',
      rttMs: 4,
      retryAfterMs: 1_000,
      rateLimit: { remaining: 0 },
    });
  });

  it('adds no quota to an answer without rate-limit headers', () => {
    expect(classify(response(200, { 'retry-after': '3' }), NOW)).toEqual({
      kind: 'delivered',
      status: 200,
      statusClass: '2xx',
    });
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['delay-seconds', '120', 120_000],
    ['zero seconds', '0', 0],
    ['seconds with spaces', ' 3 ', 3_000],
    ['an IMF-fixdate in the future', 'Wed, 25 Nov 2026 13:01:00 GMT', 60_000],
    ['an obsolete RFC 850 date', 'Wednesday, 25-Nov-26 13:00:10 GMT', 10_000],
    ['a date in the past', 'Wed, 25 Nov 2026 12:00:00 GMT', 0],
    ['a huge number of seconds (clamped)', '999999999', MAX_RETRY_AFTER_MS],
    ['a far future date (clamped)', 'Fri, 01 Jan 2100 00:00:00 GMT', MAX_RETRY_AFTER_MS],
    ['a negative number', '-5', undefined],
    ['a fraction', '1.5', undefined],
    ['words', 'later please', undefined],
    ['an empty value', '', undefined],
    ['absent', undefined, undefined],
  ])('parses %s', (_name, value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it('clamps to a caller-given maximum', () => {
    expect(parseRetryAfter('600', NOW, 60_000)).toBe(60_000);
  });
});

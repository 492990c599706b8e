// Table tests for the rate-limit header parser, on header values as real servers and the drafts write them.
import { parseRateLimit, RATE_WINDOW_MAX_MS } from '../../core/rate-limit';
import { MAX_RETRY_AFTER_MS } from '../../core/retry-after';

const NOW = Date.parse('2026-11-25T13:00:00Z');
const NOW_S = NOW / 1000;

describe('parseRateLimit', () => {
  it('returns undefined when the answer carries no rate-limit header', () => {
    expect(parseRateLimit({ 'content-type': 'application/json', 'retry-after': '1' }, NOW)).toBeUndefined();
  });

  it.each([
    [
      'IETF draft -11 §3.2/§4.2: one policy and its service limit',
      { 'ratelimit-policy': '"default";q=100;w=10', ratelimit: '"default";r=50;t=30' },
      { limit: 100, windowMs: 10_000, remaining: 50, resetMs: 30_000 },
    ],
    [
      'IETF draft B.2.1: a fixed window of 100 per minute',
      { ratelimit: '"fixedwindow";r=99;t=50', 'ratelimit-policy': '"fixedwindow";q=100;w=60' },
      { limit: 100, windowMs: 60_000, remaining: 99, resetMs: 50_000 },
    ],
    [
      'IETF draft B.1.1: a service limit without a policy',
      { ratelimit: '"default";r=0;t=50' },
      { remaining: 0, resetMs: 50_000 },
    ],
    [
      'IETF draft §4.2: no effective window, a partition key',
      { ratelimit: '"default";r=999;pk=:dHJpYWwxMjEzMjM=:' },
      { remaining: 999 },
    ],
    [
      'express-rate-limit draft-8: spaces after semicolons, a partition key with padding',
      {
        'ratelimit-policy': '"100-in-1min"; q=100; w=60; pk=:ZWZjOGM0YTk0MjVm:',
        ratelimit: '"100-in-1min"; r=99; t=60',
      },
      { limit: 100, windowMs: 60_000, remaining: 99, resetMs: 60_000 },
    ],
    [
      'express-rate-limit draft-7: the policy item is the limit, RateLimit a dictionary',
      { 'ratelimit-policy': '100;w=60', ratelimit: 'limit=100, remaining=99, reset=60' },
      { limit: 100, windowMs: 60_000, remaining: 99, resetMs: 60_000 },
    ],
    [
      'express-rate-limit draft-6: four RateLimit-* fields',
      {
        'ratelimit-policy': '100;w=60',
        'ratelimit-limit': '100',
        'ratelimit-remaining': '42',
        'ratelimit-reset': '30',
      },
      { limit: 100, windowMs: 60_000, remaining: 42, resetMs: 30_000 },
    ],
    [
      'draft -03 / Envoy: policies listed in the limit field',
      { 'ratelimit-limit': '10, 10;w=1, 50;w=60', 'ratelimit-remaining': '9', 'ratelimit-reset': '1' },
      { limit: 10, windowMs: 1_000, remaining: 9, resetMs: 1_000 },
    ],
    [
      'X- family with an epoch-seconds reset (express-rate-limit legacyHeaders, GitHub)',
      {
        'x-ratelimit-limit': '5000',
        'x-ratelimit-remaining': '4999',
        'x-ratelimit-reset': String(NOW_S + 42),
      },
      { limit: 5000, remaining: 4999, resetMs: 42_000 },
    ],
    [
      'X- family with a delta-seconds reset',
      { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '30' },
      { limit: 60, remaining: 0, resetMs: 30_000 },
    ],
    [
      'X- family with an epoch-milliseconds reset',
      { 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': String(NOW + 1_500) },
      { remaining: 3, resetMs: 1_500 },
    ],
  ])('reads %s', (_name, headers, expected) => {
    expect(parseRateLimit(headers, NOW)).toEqual(expected);
  });

  it('reads an X-RateLimit-Reset date in the past as no wait', () => {
    const info = parseRateLimit(
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW_S - 5) },
      NOW,
    );
    expect(info).toEqual({ remaining: 0, resetMs: 0 });
  });

  it('clamps a reset beyond an hour to an hour', () => {
    const info = parseRateLimit({ ratelimit: '"daily";r=0;t=86400' }, NOW);
    expect(info?.resetMs).toBe(MAX_RETRY_AFTER_MS);
  });

  it('prefers a short-window policy (a rate) to a long one (a budget)', () => {
    const info = parseRateLimit({ 'ratelimit-policy': '"daily";q=1000;w=86400,"burst";q=100;w=1' }, NOW);
    expect(info).toEqual({ limit: 100, windowMs: 1_000 });
    expect(info?.windowMs).toBeLessThanOrEqual(RATE_WINDOW_MAX_MS);
  });

  it('takes the lowest rate among policies of the same kind', () => {
    const info = parseRateLimit({ 'ratelimit-policy': '"permin";q=50;w=60,"perhr";q=1000;w=3600' }, NOW);
    expect(info).toEqual({ limit: 1000, windowMs: 3_600_000 });
  });

  it('reads policies split over repeated fields (joined by the adapter)', () => {
    const info = parseRateLimit({ 'ratelimit-policy': '"a";q=100;w=1, "b";q=30;w=1' }, NOW);
    expect(info).toEqual({ limit: 30, windowMs: 1_000 });
  });

  it('takes an exhausted service limit (the longest wait) over any other', () => {
    const info = parseRateLimit({ ratelimit: '"a";r=10;t=5, "b";r=0;t=20, "c";r=0;t=3' }, NOW);
    expect(info).toEqual({ remaining: 0, resetMs: 20_000 });
  });

  it('takes the lowest remaining-per-reset among spreadable service limits', () => {
    const info = parseRateLimit({ ratelimit: '"a";r=40;t=4, "b";r=10;t=5, "c";r=5;t=3600' }, NOW);
    expect(info).toEqual({ remaining: 10, resetMs: 5_000 });
  });

  it('ignores policies and limits in units other than requests', () => {
    const info = parseRateLimit(
      {
        'ratelimit-policy': '"bytes";q=65535;qu="content-bytes";w=10, "req";q=20;w=1',
        ratelimit: '"bytes";r=0;t=10, "req";r=19;t=1',
      },
      NOW,
    );
    expect(info).toEqual({ limit: 20, windowMs: 1_000, remaining: 19, resetMs: 1_000 });
  });

  it('keeps a comma or semicolon inside a quoted policy name', () => {
    const info = parseRateLimit({ 'ratelimit-policy': '"a,b;c";q=5;w=1', ratelimit: '"a,b;c";r=4;t=1' }, NOW);
    expect(info).toEqual({ limit: 5, windowMs: 1_000, remaining: 4, resetMs: 1_000 });
  });

  it.each([
    ['an unparseable RateLimit', { ratelimit: 'lots' }],
    ['a policy without a quota', { 'ratelimit-policy': '"x";w=60' }],
    ['a negative or zero quota', { 'ratelimit-policy': '"x";q=-1;w=60, "y";q=0;w=1' }],
    ['a non-numeric remaining', { 'x-ratelimit-remaining': 'some', 'x-ratelimit-limit': 'many' }],
    ['a service limit without r', { ratelimit: '"x";t=10' }],
    ['an empty field', { 'ratelimit-policy': '', ratelimit: ' , ' }],
  ])('ignores %s', (_name, headers) => {
    expect(parseRateLimit(headers, NOW)).toBeUndefined();
  });

  it('drops a garbage window but keeps the quota', () => {
    expect(parseRateLimit({ 'ratelimit-policy': '"x";q=10;w=soon' }, NOW)).toEqual({ limit: 10 });
  });

  it('drops a garbage reset but keeps the remaining quota', () => {
    expect(parseRateLimit({ ratelimit: '"x";r=3;t=later' }, NOW)).toEqual({ remaining: 3 });
  });
});

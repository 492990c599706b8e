// Unit tests for the CLI's argument parsers and formatting.
import { formatAge, numberIn, parseTime, table } from '../../cli/io';

const NOW = Date.parse('2026-11-25T13:00:00Z');

describe('parseTime', () => {
  it.each([
    ['30m', NOW - 30 * 60_000],
    ['2h', NOW - 2 * 3_600_000],
    ['7d', NOW - 7 * 86_400_000],
    ['90s', NOW - 90_000],
    ['2026-11-25T10:00:00Z', Date.parse('2026-11-25T10:00:00Z')],
    ['1795000000000', 1_795_000_000_000],
  ])('reads %s', (raw, expected) => {
    expect(parseTime(raw, NOW)).toBe(expected);
  });

  it('returns undefined for text that is no time', () => {
    expect(parseTime('soon', NOW)).toBeUndefined();
    expect(parseTime('5w', NOW)).toBeUndefined();
  });
});

describe('numberIn', () => {
  it('accepts a number in range and rejects others with the range', () => {
    const parse = numberIn(1, 10, true);
    expect(parse('3')).toBe(3);
    for (const bad of ['0', '11', '2.5', 'x', ''])
      expect(() => parse(bad)).toThrow(/an integer from 1 to 10/);
  });
});

describe('formatAge', () => {
  it.each([
    [5_000, '5 s'],
    [95_000, '2 min'],
    [3 * 3_600_000, '3.0 h'],
    [3 * 86_400_000, '3.0 d'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});

describe('table', () => {
  it('pads columns to the widest cell', () => {
    expect(table(['A', 'BB'], [['xxx', 'y']])).toBe('A    BB\nxxx  y');
  });
});

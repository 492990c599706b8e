// Unit tests for the Server-Timing reader: the app's announced processing time of one request.
import { serviceTimeMs } from '../../core/server-timing';

describe('serviceTimeMs', () => {
  it.each([
    ['app;dur=47.2', 47.2],
    ['db;dur=53, app;dur=47.2', 47.2],
    ['cache;desc="Cache, Read; hit";dur=23.2, app;desc="x";dur=120', 120],
    ['app ; dur = 12', 12],
    ['app;dur="8.5"', 8.5],
    ['app;dur=0', 0],
    ['app;DUR=5', 5],
    ['app;dur=5, app;dur=9', 5],
  ])('reads %s as %d ms', (header, ms) => {
    expect(serviceTimeMs(header, 'app')).toBe(ms);
  });

  it.each([
    [undefined],
    [''],
    ['db;dur=53'],
    ['app'],
    ['app;desc="no duration"'],
    ['app;dur=12ms'],
    ['app;dur=-1'],
    ['app;dur=0x10'],
    ['app;dur=600001'],
    ['app;dur=x, app;dur=2'],
  ])('gives nothing for %s', (header) => {
    expect(serviceTimeMs(header, 'app')).toBeUndefined();
  });

  it('reads nothing when no metric is named', () => {
    expect(serviceTimeMs('app;dur=5', '')).toBeUndefined();
  });
});

// The pacing benchmark's Server-Timing scenarios: I and J are B and C whose app announces each 2xx's service time.
import { SCENARIOS, serverTimingHeader } from '../../bench/pacing/scenarios';
import { serviceTimeMs } from '../../core/server-timing';

const byId = (id: string) => {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  return scenario;
};

describe('Server-Timing scenarios', () => {
  it.each([
    ['I', 'B'],
    ['J', 'C'],
  ])('%s is %s with the announcement, and only they announce', (id, base) => {
    const { id: _id, name, description, serverTiming, ...rest } = byId(id);
    const { id: _baseId, name: baseName, description: baseDescription, ...baseRest } = byId(base);
    expect(serverTiming).toBe(true);
    expect(rest).toEqual(baseRest);
    expect(name).not.toBe(baseName);
    expect(description).not.toBe(baseDescription);
    expect(SCENARIOS.filter((s) => s.serverTiming).map((s) => s.id)).toEqual(['I', 'J']);
  });

  it('states the service time with one decimal, as the drainer reads it with metric `app`', () => {
    const headers = serverTimingHeader(47.24);
    expect(headers).toEqual({ 'server-timing': 'app;dur=47.2' });
    expect(serviceTimeMs(headers['server-timing'], 'app')).toBe(47.2);
  });
});

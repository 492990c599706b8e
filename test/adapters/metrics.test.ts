import { Metrics } from '@aws-lambda-powertools/metrics';
import { CountingMetrics, EmfMetrics } from '../../adapters/metrics';
import { METRICS } from '../../core/resources';

interface EmfDoc {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

/** A Powertools instance whose EMF documents are captured instead of printed. */
function capturing(): { metrics: Metrics; docs: EmfDoc[] } {
  const docs: EmfDoc[] = [];
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: 'test' });
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(function (this: Metrics) {
    if (this.hasStoredMetrics()) docs.push(this.serializeMetrics() as unknown as EmfDoc);
    this.clearMetrics();
    this.clearDimensions();
    return this;
  });
  return { metrics, docs };
}

describe('EmfMetrics', () => {
  it('sums counts into one value per metric and writes one document per dimension set when it flushes', () => {
    const { metrics, docs } = capturing();
    const m = new EmfMetrics({ metrics });

    m.add(METRICS.delivered, 'Count', 1);
    m.add(METRICS.delivered, 'Count', 1);
    m.add(METRICS.deadLettered, 'Count', 1, { Reason: 'signature' });
    m.add(METRICS.downstreamLatency, 'Milliseconds', 12);
    m.add(METRICS.downstreamLatency, 'Milliseconds', 30);
    m.flush();

    expect(docs).toHaveLength(2);
    expect(docs[0]).toMatchObject({
      [METRICS.delivered]: 2,
      [METRICS.downstreamLatency]: [12, 30],
      service: 'test',
    });
    expect(docs[0]!._aws.CloudWatchMetrics[0]!.Namespace).toBe('Sluice');
    expect(docs[1]).toMatchObject({ [METRICS.deadLettered]: 1, Reason: 'signature', service: 'test' });
    expect(docs[1]!._aws.CloudWatchMetrics[0]!.Dimensions[0]).toEqual(
      expect.arrayContaining(['service', 'Reason']),
    );
  });

  it('keeps the dimensions on every document when one metric has more than 100 samples', () => {
    const { metrics, docs } = capturing();
    const m = new EmfMetrics({ metrics });

    for (let i = 0; i < 250; i++) m.add(METRICS.downstreamLatency, 'Milliseconds', i, { StatusClass: '2xx' });
    m.flush();

    expect(docs).toHaveLength(3);
    expect(docs.every((d) => d.StatusClass === '2xx')).toBe(true);
    expect(docs.flatMap((d) => d[METRICS.downstreamLatency] as number[])).toHaveLength(250);
  });

  it('flushes by itself once the flush interval has passed', () => {
    const { metrics, docs } = capturing();
    let now = 0;
    const m = new EmfMetrics({ metrics, flushEveryMs: 1_000, now: () => now });

    m.add(METRICS.delivered, 'Count', 1);
    now = 1_000;
    m.add(METRICS.delivered, 'Count', 1);

    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ [METRICS.delivered]: 2 });
  });

  it('writes nothing when nothing was added', () => {
    const { metrics, docs } = capturing();

    new EmfMetrics({ metrics }).flush();

    expect(docs).toHaveLength(0);
  });
});

describe('CountingMetrics', () => {
  it('keeps sum, count and last value per name and dimension set', () => {
    const m = new CountingMetrics();

    m.add(METRICS.deadLettered, 'Count', 1, { Reason: 'signature' });
    m.add(METRICS.deadLettered, 'Count', 2, { Reason: 'rejected' });
    m.add(METRICS.pacingRate, 'Count/Second', 5);
    m.add(METRICS.pacingRate, 'Count/Second', 7);

    expect(m.get(METRICS.deadLettered, { Reason: 'signature' }).sum).toBe(1);
    expect(m.total(METRICS.deadLettered)).toBe(3);
    expect(m.get(METRICS.pacingRate)).toEqual({ sum: 12, count: 2, last: 7 });
    expect(Object.keys(m.snapshot())).toContain('DeadLettered{Reason=rejected}');
  });
});

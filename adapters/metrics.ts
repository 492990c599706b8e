/** MetricsPort adapters: Powertools EMF for Lambda, in-memory counters for local mode and tests. */
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricsPort } from '../core/ports';
import { METRICS } from '../core/resources';

type Unit = Parameters<MetricsPort['add']>[1];
type Dimensions = Readonly<Record<string, string>>;

interface Series {
  readonly name: string;
  readonly unit: Unit;
  readonly dimensions: Dimensions;
  /** Counts are summed into one value per flush; other units keep every sample (EMF takes arrays). */
  values: number[];
}

/** Below Powertools' 100-value auto-publish threshold. */
const EMF_VALUES_PER_DOCUMENT = 99;

const keyOf = (dimensions: Dimensions): string =>
  JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b)));

export interface EmfMetricsOptions {
  /** Value of the `service` dimension on every metric. @default 'sluice' */
  readonly serviceName?: string;
  /** Flush by itself when this much time passed since the last flush, ms. @default 60000 */
  readonly flushEveryMs?: number;
  /** Flush by itself once this many samples are buffered. @default 5000 */
  readonly maxBufferedSamples?: number;
  /** The Powertools instance to write through (tests pass their own). @default a new one */
  readonly metrics?: Metrics;
  /** Count metrics that are levels, not events: every sample is kept instead of summed. @default pacing window */
  readonly gauges?: readonly string[];
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * EMF metrics through Powertools. The drainer counts per message, so counts are aggregated in memory and
 * written as one value per metric and dimension set at each flush: one log line per dimension set, not per
 * webhook. Dimension sets stay low-cardinality (reason, status class; never the shop).
 */
export class EmfMetrics implements MetricsPort {
  private readonly metrics: Metrics;
  private readonly flushEveryMs: number;
  private readonly maxBuffered: number;
  private readonly now: () => number;
  private readonly gauges: ReadonlySet<string>;
  /** Dimension-set key → metric key → series. */
  private readonly sets = new Map<string, { dimensions: Dimensions; series: Map<string, Series> }>();
  private buffered = 0;
  private lastFlush: number;

  constructor(options: EmfMetricsOptions = {}) {
    this.metrics =
      options.metrics ??
      new Metrics({ namespace: METRICS.namespace, serviceName: options.serviceName ?? 'sluice' });
    this.flushEveryMs = options.flushEveryMs ?? 60_000;
    this.maxBuffered = options.maxBufferedSamples ?? 5_000;
    this.now = options.now ?? Date.now;
    this.gauges = new Set(options.gauges ?? [METRICS.pacingWindow]);
    this.lastFlush = this.now();
  }

  add(name: string, unit: Unit, value: number, dimensions: Dimensions = {}): void {
    if (!Number.isFinite(value)) return;
    const setKey = keyOf(dimensions);
    let set = this.sets.get(setKey);
    if (!set) {
      set = { dimensions: { ...dimensions }, series: new Map() };
      this.sets.set(setKey, set);
    }
    const seriesKey = `${name}\u0000${unit}`;
    const series = set.series.get(seriesKey);
    if (!series) {
      set.series.set(seriesKey, { name, unit, dimensions: set.dimensions, values: [value] });
      this.buffered++;
    } else if (unit === 'Count' && !this.gauges.has(name)) {
      series.values[0] = (series.values[0] ?? 0) + value;
    } else {
      series.values.push(value);
      this.buffered++;
    }
    if (this.buffered >= this.maxBuffered || this.now() - this.lastFlush >= this.flushEveryMs) this.flush();
  }

  flush(): void {
    this.lastFlush = this.now();
    this.buffered = 0;
    const sets = [...this.sets.values()];
    this.sets.clear();
    for (const set of sets) {
      const series = [...set.series.values()];
      // Powertools writes one dimension set per EMF document and publishes by itself (clearing the
      // dimensions) when a metric reaches 100 values, so each document carries at most 99 values per metric.
      for (let offset = 0; series.some((s) => s.values.length > offset); offset += EMF_VALUES_PER_DOCUMENT) {
        if (Object.keys(set.dimensions).length > 0) this.metrics.addDimensions({ ...set.dimensions });
        for (const s of series) {
          for (const v of s.values.slice(offset, offset + EMF_VALUES_PER_DOCUMENT)) {
            this.metrics.addMetric(s.name, s.unit, v);
          }
        }
        this.metrics.publishStoredMetrics();
      }
    }
  }
}

/** One counter of `CountingMetrics`. */
export interface Counter {
  /** Sum of the values added. */
  readonly sum: number;
  /** Number of values added. */
  readonly count: number;
  /** The last value added (useful for gauges such as the pacing rate). */
  readonly last: number;
}

/**
 * In-memory metrics for local mode and tests: per name and dimension set, the sum, count and last value.
 * `flush()` does nothing, so the counters grow for the life of the process.
 */
export class CountingMetrics implements MetricsPort {
  private readonly counters = new Map<string, Counter>();

  /** Key of a counter: `Name` or `Name{Dim=value,…}` with dimensions sorted by name. */
  static key(name: string, dimensions: Dimensions = {}): string {
    const dims = Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b));
    return dims.length === 0 ? name : `${name}{${dims.map(([k, v]) => `${k}=${v}`).join(',')}}`;
  }

  add(name: string, _unit: Unit, value: number, dimensions: Dimensions = {}): void {
    const key = CountingMetrics.key(name, dimensions);
    const c = this.counters.get(key) ?? { sum: 0, count: 0, last: 0 };
    this.counters.set(key, { sum: c.sum + value, count: c.count + 1, last: value });
  }

  flush(): void {}

  /** The counter of one name and dimension set (zeros when nothing was added). */
  get(name: string, dimensions: Dimensions = {}): Counter {
    return this.counters.get(CountingMetrics.key(name, dimensions)) ?? { sum: 0, count: 0, last: 0 };
  }

  /** Sum over every dimension set of `name`. */
  total(name: string): number {
    let sum = 0;
    for (const [key, c] of this.counters) if (key === name || key.startsWith(`${name}{`)) sum += c.sum;
    return sum;
  }

  /** Every counter by key. */
  snapshot(): Record<string, Counter> {
    return Object.fromEntries(this.counters);
  }
}

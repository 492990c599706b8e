// Renders one scenario's plot (goodput per policy and Sluice's pacing rate vs true capacity) to SVG, headless.
// An ES module because vega's node build uses top-level await.
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import * as vl from 'vega-lite';

/** One point of a series. */
export interface Point {
  readonly series: string;
  readonly t: number;
  readonly value: number;
}

/** Returns an SVG document plotting `points` (one line per series; "capacity" is drawn as a black step). */
export async function renderPlot(title: string, points: readonly Point[]): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 720,
    height: 300,
    background: 'white',
    data: { values: points.map((p) => ({ ...p })) },
    layer: [
      {
        transform: [{ filter: "datum.series !== 'capacity'" }],
        mark: { type: 'line', strokeWidth: 1.5, interpolate: 'linear' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'time (s)' },
          y: { field: 'value', type: 'quantitative', title: 'requests/s' },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            legend: { orient: 'bottom', columns: 2, labelLimit: 320 },
          },
          strokeDash: {
            condition: { test: "indexof(datum.series, 'pacing rate') >= 0", value: [4, 3] },
            value: [1, 0],
          },
        },
      },
      {
        transform: [{ filter: "datum.series === 'capacity'" }],
        mark: { type: 'line', interpolate: 'step-after', color: 'black', strokeWidth: 2.5, opacity: 0.6 },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          y: { field: 'value', type: 'quantitative' },
        },
      },
    ],
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

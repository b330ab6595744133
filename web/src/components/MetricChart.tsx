// One metric as a hand-drawn SVG line chart, one line per series (a run). Points arrive
// live, so scales are recomputed from the data on every render. Hovering shows, for each
// series, the point nearest the pointer (step, value, wall time).
import { useState, type MouseEvent } from 'react';
import {
  formatTick,
  formatValue,
  formatWall,
  linearTicks,
  logTicks,
  preparePoints,
  stepTicks,
  type PlotPoint,
  type SeriesPoint,
  type XAxis,
} from './metricMath';

export interface ChartSeries {
  key: string;
  label: string;
  color: string;
  points: SeriesPoint[];
}

export interface MetricChartProps {
  name: string;
  series: ChartSeries[];
  xAxis?: XAxis;
  logScale?: boolean;
  smoothing?: number;
  testId?: string;
}

const WIDTH = 480;
const HEIGHT = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 30 };
const MAX_MARKERS = 120;

function nearest(points: PlotPoint[], x: number): PlotPoint | undefined {
  let best: PlotPoint | undefined;
  for (const p of points) if (!best || Math.abs(p.x - x) < Math.abs(best.x - x)) best = p;
  return best;
}

export function MetricChart({ name, series, xAxis = 'step', logScale = false, smoothing = 0, testId = 'metric-chart' }: MetricChartProps) {
  const [hoverX, setHoverX] = useState<number | null>(null);
  const prepared = series.map((s) => ({ ...s, ...preparePoints(s.points, { xAxis, logScale, smoothing }) }));
  const drawn = prepared.reduce((n, s) => n + s.points.length, 0);
  const hiddenLog = prepared.reduce((n, s) => n + s.hiddenLog, 0);
  const hiddenWall = prepared.reduce((n, s) => n + s.hiddenWall, 0);
  const hidden = hiddenLog + hiddenWall;
  const common = { 'data-metric': name, 'data-point-count': drawn, 'data-hidden-count': hidden };
  if (drawn === 0) {
    return (
      <div className="chart-empty muted" data-testid={`${testId}-empty`} {...common}>
        <strong>{name}</strong>: {hidden > 0 ? hiddenText(hiddenLog, hiddenWall) : 'no values yet.'}
      </div>
    );
  }

  const all = prepared.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.flatMap((p) => [p.value, p.y]).filter(Number.isFinite);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const t = (v: number) => (logScale ? Math.log10(v) : v);
  let lo = t(Math.min(...ys));
  let hi = t(Math.max(...ys));
  if (lo === hi && !logScale && lo === 0) {
    hi = 1; // a metric stuck at 0 (an accuracy early on): show it on [0, 1]
  } else if (lo === hi) {
    const pad = logScale ? 0.5 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (v: number) => PAD.left + (maxX === minX ? plotW / 2 : ((v - minX) / (maxX - minX)) * plotW);
  const y = (v: number) => PAD.top + (1 - (t(v) - lo) / (hi - lo)) * plotH;
  const line = (pts: PlotPoint[], pick: (p: PlotPoint) => number) =>
    pts.map((p) => `${x(p.x).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(' ');
  const yTicks = logScale ? logTicks(10 ** lo, 10 ** hi) : linearTicks(lo, hi, 4);
  const xTicks = xAxis === 'step' ? stepTicks(minX, maxX) : linearTicks(minX, maxX, 5);
  const xLabel = (v: number) => (xAxis === 'step' ? String(Math.round(v)) : formatWall(v));

  function onMove(event: MouseEvent<SVGSVGElement>) {
    const rect = event.currentTarget.getBoundingClientRect();
    if (rect.width <= 0) return;
    const px = ((event.clientX - rect.left) / rect.width) * WIDTH;
    const frac = Math.min(Math.max((px - PAD.left) / plotW, 0), 1);
    setHoverX(minX + frac * (maxX - minX));
  }

  const hovered =
    hoverX === null
      ? []
      : prepared.flatMap((s) => {
          const p = nearest(s.points, hoverX);
          return p ? [{ series: s, point: p }] : [];
        });
  const hoverAt = hovered.length ? nearest(hovered.map((h) => h.point), hoverX ?? 0) : undefined;

  return (
    <figure className="chart metric-chart" data-testid={testId} data-series-count={series.length} {...common}>
      <div className="metric-chart-title">{name}</div>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`${name} by ${xAxis === 'step' ? 'step' : 'wall time'}${logScale ? ' (log scale)' : ''}`}
        onMouseMove={onMove}
        onMouseLeave={() => setHoverX(null)}
      >
        {yTicks.map((tick) => (
          <g key={`y${tick}`} className="chart-grid">
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} />
            <text x={PAD.left - 6} y={y(tick) + 4} textAnchor="end">
              {formatTick(tick)}
            </text>
          </g>
        ))}
        {xTicks.map((tick) => (
          // A label at the right edge ends there instead of running off the chart.
          <text
            key={`x${tick}`}
            className="chart-axis"
            x={x(tick)}
            y={HEIGHT - 10}
            textAnchor={x(tick) > WIDTH - PAD.right - 20 ? 'end' : 'middle'}
          >
            {xLabel(tick)}
          </text>
        ))}
        {prepared.map((s) => (
          <g key={s.key} data-testid="chart-series" data-series={s.key} data-point-count={s.points.length}>
            {smoothing > 0 && s.points.length > 1 && (
              <polyline className="chart-line chart-line-raw" style={{ stroke: s.color }} points={line(s.points, (p) => p.value)} />
            )}
            <polyline
              className="chart-line"
              style={{ stroke: s.color }}
              points={line(s.points, (p) => p.y)}
              data-testid="chart-line"
            />
            {s.points.length <= MAX_MARKERS &&
              s.points.map((p) => (
                <circle key={p.step} className="chart-point" style={{ fill: s.color }} cx={x(p.x)} cy={y(p.y)} r={2.5}>
                  <title>{`${s.label} · step ${p.step}: ${formatValue(p.value)}`}</title>
                </circle>
              ))}
          </g>
        ))}
        {hoverAt && (
          <line className="chart-cursor" x1={x(hoverAt.x)} x2={x(hoverAt.x)} y1={PAD.top} y2={HEIGHT - PAD.bottom} />
        )}
      </svg>
      {hovered.length > 0 && (
        <div className="chart-tooltip" data-testid="chart-tooltip">
          {hovered.map(({ series: s, point: p }) => (
            <div key={s.key}>
              <span className="swatch" style={{ background: s.color }} /> {series.length > 1 && `${s.label} · `}step{' '}
              <strong>{p.step}</strong>: <strong data-testid="tooltip-value">{formatValue(p.value)}</strong>
              {smoothing > 0 && <span className="muted"> (smoothed {formatValue(p.y)})</span>}
              {xAxis === 'wall' && <span className="muted"> at {formatWall(p.x)}</span>}
            </div>
          ))}
        </div>
      )}
      <figcaption className="muted">
        {prepared.length === 1 && prepared[0].points.length > 0 ? (
          <>
            step {prepared[0].points[prepared[0].points.length - 1].step}:{' '}
            <strong data-testid="metric-latest">{formatValue(prepared[0].points[prepared[0].points.length - 1].value)}</strong>{' '}
            ({drawn} points)
          </>
        ) : (
          `${drawn} points`
        )}
        {hidden > 0 && (
          <span data-testid="chart-hidden"> · {hiddenText(hiddenLog, hiddenWall)}</span>
        )}
      </figcaption>
    </figure>
  );
}

function hiddenText(hiddenLog: number, hiddenWall: number): string {
  const n = (k: number) => `${k} point${k === 1 ? '' : 's'}`;
  const parts = [
    hiddenLog > 0 ? `${n(hiddenLog)} ≤ 0 not shown on a log scale` : '',
    hiddenWall > 0 ? `${n(hiddenWall)} without a wall time yet` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

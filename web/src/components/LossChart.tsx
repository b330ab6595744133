// A hand-written SVG line chart: steps on x, loss on y. Points arrive live, so the
// scales are recomputed from the data on every render.
export interface ChartPoint {
  step: number;
  value: number;
}

const WIDTH = 640;
const HEIGHT = 240;
const PAD = { left: 56, right: 16, top: 16, bottom: 32 };
const MAX_MARKERS = 200;

function niceTicks(min: number, max: number, count: number): number[] {
  if (min === max) return [min];
  const step = (max - min) / (count - 1);
  return Array.from({ length: count }, (_, i) => min + step * i);
}

export function LossChart({ points, label = 'loss' }: { points: ChartPoint[]; label?: string }) {
  const finite = points.filter((p) => Number.isFinite(p.value) && Number.isFinite(p.step));
  if (finite.length === 0) {
    return (
      <div className="chart-empty muted" data-testid="loss-chart-empty">
        No {label} values yet.
      </div>
    );
  }
  const steps = finite.map((p) => p.step);
  const values = finite.map((p) => p.value);
  const minX = Math.min(...steps);
  const maxX = Math.max(...steps);
  let minY = Math.min(...values);
  let maxY = Math.max(...values);
  if (minY === maxY) {
    minY -= 0.5;
    maxY += 0.5;
  }
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (step: number) => PAD.left + (maxX === minX ? plotW / 2 : ((step - minX) / (maxX - minX)) * plotW);
  const y = (value: number) => PAD.top + (1 - (value - minY) / (maxY - minY)) * plotH;
  const coords = finite.map((p) => `${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  const last = finite[finite.length - 1];
  return (
    <figure className="chart" data-testid="loss-chart" data-point-count={finite.length}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${label} by step`}>
        {niceTicks(minY, maxY, 4).map((tick) => (
          <g key={`y${tick}`} className="chart-grid">
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} />
            <text x={PAD.left - 6} y={y(tick) + 4} textAnchor="end">
              {tick.toPrecision(3)}
            </text>
          </g>
        ))}
        {niceTicks(minX, maxX, Math.min(5, maxX - minX + 1)).map((tick) => (
          <text key={`x${tick}`} className="chart-axis" x={x(tick)} y={HEIGHT - 10} textAnchor="middle">
            {Math.round(tick)}
          </text>
        ))}
        <polyline className="chart-line" points={coords} data-testid="loss-chart-line" />
        {finite.length <= MAX_MARKERS &&
          finite.map((p) => (
            <circle key={p.step} className="chart-point" cx={x(p.step)} cy={y(p.value)} r={2.5}>
              <title>{`step ${p.step}: ${p.value}`}</title>
            </circle>
          ))}
      </svg>
      <figcaption className="muted">
        {label} at step {last.step}: <strong data-testid="loss-latest">{last.value.toPrecision(4)}</strong>{' '}
        ({finite.length} points)
      </figcaption>
    </figure>
  );
}

/** Merge new points into a series ordered by step; a repeated step keeps the newest value. */
export function mergePoints(series: ChartPoint[], incoming: ChartPoint[]): ChartPoint[] {
  if (incoming.length === 0) return series;
  const byStep = new Map(series.map((p) => [p.step, p]));
  for (const p of incoming) byStep.set(p.step, p);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

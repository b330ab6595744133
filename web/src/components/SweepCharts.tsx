// Small SVG charts of a sweep: optimisation history, intermediate-value curves (pruned trials
// marked), parallel coordinates and parameter importance. Pure functions of the sweep record.
import type { components } from '../api/schema';

export type Trial = components['schemas']['TrialOut'];
export type Sweep = components['schemas']['SweepOut'];

const W = 520;
const H = 220;
const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

export const STATE_COLORS: Record<string, string> = {
  complete: '#2f7d32',
  pruned: '#c77700',
  running: '#1f6feb',
  pending: '#8b949e',
  failed: '#cf222e',
  cancelled: '#8b949e',
};

interface Scale {
  (value: number): number;
}

function linear(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (value: number) => r0 + ((value - d0) / span) * (r1 - r0);
}

function extent(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/** Best value so far after each complete trial, in trial order (direction aware). */
export function bestSoFar(trials: Trial[], maximize: boolean): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let best: number | null = null;
  for (const trial of [...trials].sort((a, b) => a.number - b.number)) {
    if (trial.state !== 'complete' || trial.value == null) continue;
    if (best === null || (maximize ? trial.value > best : trial.value < best)) best = trial.value;
    out.push([trial.number, best]);
  }
  return out;
}

function Axes({ x, y, xLabel }: { x: [number, number]; y: [number, number]; xLabel: string }) {
  return (
    <g className="axes" fontSize="10" fill="currentColor">
      <line x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} stroke="currentColor" opacity={0.4} />
      <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={H - PAD.bottom} stroke="currentColor" opacity={0.4} />
      <text x={PAD.left - 4} y={PAD.top + 8} textAnchor="end">
        {y[1].toPrecision(3)}
      </text>
      <text x={PAD.left - 4} y={H - PAD.bottom} textAnchor="end">
        {y[0].toPrecision(3)}
      </text>
      <text x={PAD.left} y={H - 8}>
        {x[0]}
      </text>
      <text x={W - PAD.right} y={H - 8} textAnchor="end">
        {x[1]}
      </text>
      <text x={(W + PAD.left) / 2} y={H - 8} textAnchor="middle" opacity={0.7}>
        {xLabel}
      </text>
    </g>
  );
}

export function HistoryChart({ sweep }: { sweep: Sweep }) {
  const maximize = sweep.objective.direction === 'maximize';
  const done = sweep.trials.filter((t) => t.state === 'complete' && t.value != null);
  if (done.length === 0) return <p className="muted">No completed trial yet.</p>;
  const xs = extent(sweep.trials.map((t) => t.number));
  const ys = extent(done.map((t) => t.value as number));
  const sx = linear(xs, [PAD.left, W - PAD.right]);
  const sy = linear(ys, [H - PAD.bottom, PAD.top]);
  const best = bestSoFar(sweep.trials, maximize);
  const path = best.map(([n, v], i) => `${i === 0 ? 'M' : 'L'}${sx(n)},${sy(v)}`).join(' ');
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label="optimisation history" data-testid="sweep-history">
      <Axes x={xs} y={ys} xLabel="trial" />
      <path d={path} fill="none" stroke="#2f7d32" strokeWidth={1.5} data-testid="history-best" />
      {done.map((t) => (
        <circle key={t.number} cx={sx(t.number)} cy={sy(t.value as number)} r={3.5} fill={STATE_COLORS.complete} data-testid="history-point">
          <title>{`trial ${t.number}: ${t.value}`}</title>
        </circle>
      ))}
    </svg>
  );
}

export function IntermediateChart({ sweep }: { sweep: Sweep }) {
  const withValues = sweep.trials.filter((t) => t.intermediate.length > 0);
  if (withValues.length === 0)
    return <p className="muted">No mid-training evaluation yet (set eval_every_steps in the base request).</p>;
  const steps = withValues.flatMap((t) => t.intermediate.map(([s]) => s));
  const values = withValues.flatMap((t) => t.intermediate.map(([, v]) => v));
  const xs = extent(steps);
  const ys = extent(values);
  const sx = linear(xs, [PAD.left, W - PAD.right]);
  const sy = linear(ys, [H - PAD.bottom, PAD.top]);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label="intermediate values" data-testid="sweep-intermediate">
      <Axes x={xs} y={ys} xLabel="step" />
      {withValues.map((t) => {
        const color = STATE_COLORS[t.state] ?? '#888';
        const d = t.intermediate.map(([s, v], i) => `${i === 0 ? 'M' : 'L'}${sx(s)},${sy(v)}`).join(' ');
        const [lastStep, lastValue] = t.intermediate[t.intermediate.length - 1];
        return (
          <g key={t.number} data-testid="intermediate-curve" data-trial={t.number} data-state={t.state}>
            <path d={d} fill="none" stroke={color} strokeWidth={1.3} strokeDasharray={t.state === 'pruned' ? '4 3' : undefined}>
              <title>{`trial ${t.number} (${t.state})`}</title>
            </path>
            {t.state === 'pruned' && (
              <text x={sx(lastStep)} y={sy(lastValue) - 3} fontSize="12" fill={color} textAnchor="middle" data-testid="pruned-mark">
                ✕
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

function paramAxis(trials: Trial[], name: string): { label: (v: unknown) => number; ticks: string[] } {
  const values = trials.map((t) => t.params[name]);
  if (values.every((v) => typeof v === 'number')) {
    const nums = values as number[];
    const positive = nums.every((v) => v > 0);
    const logScale = positive && Math.max(...nums) / Math.min(...nums) > 50;
    const f = (v: number) => (logScale ? Math.log10(v) : v);
    const [lo, hi] = extent(nums.map(f));
    return {
      label: (v) => (f(v as number) - lo) / (hi - lo || 1),
      ticks: [String(Math.min(...nums)), String(Math.max(...nums))],
    };
  }
  const distinct = [...new Set(values.map((v) => JSON.stringify(v)))].sort();
  return {
    label: (v) => (distinct.length < 2 ? 0.5 : distinct.indexOf(JSON.stringify(v)) / (distinct.length - 1)),
    ticks: [distinct[0] ?? '', distinct[distinct.length - 1] ?? ''],
  };
}

export function ParallelCoordinates({ sweep }: { sweep: Sweep }) {
  const trials = sweep.trials.filter((t) => t.state === 'complete' && t.value != null);
  const names = Object.keys(sweep.space);
  if (trials.length === 0) return <p className="muted">No completed trial yet.</p>;
  const axes = [...names, 'objective'];
  const sx = linear([0, Math.max(axes.length - 1, 1)], [PAD.left, W - PAD.right - 20]);
  const sy = linear([0, 1], [H - PAD.bottom, PAD.top]);
  const objective = extent(trials.map((t) => t.value as number));
  const maps = names.map((name) => paramAxis(trials, name));
  const maximize = sweep.objective.direction === 'maximize';
  const norm = (v: number) => (v - objective[0]) / (objective[1] - objective[0] || 1);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label="parallel coordinates" data-testid="sweep-parallel">
      {axes.map((name, i) => (
        <g key={name} fontSize="10" fill="currentColor">
          <line x1={sx(i)} y1={PAD.top} x2={sx(i)} y2={H - PAD.bottom} stroke="currentColor" opacity={0.35} />
          <text x={sx(i)} y={H - 8} textAnchor="middle">
            {name}
          </text>
          {i < names.length && (
            <>
              <text x={sx(i) + 3} y={H - PAD.bottom - 2}>
                {maps[i].ticks[0]}
              </text>
              <text x={sx(i) + 3} y={PAD.top + 8}>
                {maps[i].ticks[1]}
              </text>
            </>
          )}
        </g>
      ))}
      {trials.map((t) => {
        const score = norm(t.value as number);
        const points = [...names.map((name, i) => [sx(i), sy(maps[i].label(t.params[name]))]), [sx(names.length), sy(score)]];
        const good = maximize ? score : 1 - score;
        return (
          <polyline
            key={t.number}
            points={points.map(([x, y]) => `${x},${y}`).join(' ')}
            fill="none"
            stroke={`hsl(${Math.round(good * 120)}, 70%, 42%)`}
            strokeWidth={1.4}
            data-testid="parallel-line"
          >
            <title>{`trial ${t.number}: ${t.value}`}</title>
          </polyline>
        );
      })}
    </svg>
  );
}

export function ImportanceBars({ importances }: { importances: Record<string, number> }) {
  const entries = Object.entries(importances).sort((a, b) => b[1] - a[1]);
  return (
    <table className="table narrow" data-testid="sweep-importance">
      <tbody>
        {entries.map(([name, value]) => (
          <tr key={name} data-testid="importance-row">
            <td>{name}</td>
            <td style={{ width: 220 }}>
              <div style={{ background: '#1f6feb', height: 10, width: `${Math.round(value * 200)}px` }} />
            </td>
            <td>{value.toFixed(3)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

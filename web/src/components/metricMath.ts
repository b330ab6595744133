// The numbers behind the metric charts: merging live points, EMA smoothing, log scale,
// grouping and axis ticks. Pure functions, so the charts' tests can pin the math.

export interface SeriesPoint {
  step: number;
  value: number;
  /** Seconds since the run first started (from the server); null for a live point not yet re-read. */
  wall_s?: number | null;
}

export type MetricSeries = Record<string, SeriesPoint[]>;
export type XAxis = 'step' | 'wall';

export interface MetricPointIn {
  name: string;
  step: number;
  value: number;
  wall_s?: number | null;
}

/** Listed first, in this order; every other train metric follows by name. */
const TRAIN_ORDER = ['loss', 'perplexity', 'kl', 'completion_length/mean', 'learning_rate', 'grad_norm', 'tokens_per_s'];
export const EVAL_PREFIX = 'eval/';
/** A GRPO run's rewards (reward/mean, reward/std, reward/<part>/mean): a group of their own. */
export const REWARD_PREFIX = 'reward/';
const REWARD_ORDER = ['reward/mean', 'reward/std'];
export const MAX_SMOOTHING = 0.99;

/** Merge points into per-metric series ordered by step; a repeated (name, step) keeps the
 * newest value, and keeps a wall time it already had when the newer point has none. */
export function mergeMetrics(series: MetricSeries, incoming: MetricPointIn[]): MetricSeries {
  if (incoming.length === 0) return series;
  const touched = new Map<string, Map<number, SeriesPoint>>();
  for (const p of incoming) {
    let byStep = touched.get(p.name);
    if (!byStep) {
      byStep = new Map((series[p.name] ?? []).map((q) => [q.step, q]));
      touched.set(p.name, byStep);
    }
    const old = byStep.get(p.step);
    const wall = p.wall_s ?? old?.wall_s ?? null;
    byStep.set(p.step, { step: p.step, value: p.value, wall_s: wall });
  }
  const out: MetricSeries = { ...series };
  for (const [name, byStep] of touched) out[name] = [...byStep.values()].sort((a, b) => a.step - b.step);
  return out;
}

/** Exponential moving average with the start-up bias removed (TensorBoard's smoothing):
 * s_i = w*s_{i-1} + (1-w)*v_i, shown as s_i / (1 - w^(i+1)). weight 0 returns the values;
 * non-finite values are skipped and do not move the average. */
export function emaSmooth(values: number[], weight: number): number[] {
  const w = Math.min(Math.max(weight, 0), MAX_SMOOTHING);
  if (w === 0) return values.slice();
  const out: number[] = [];
  let acc = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(n === 0 ? Number.NaN : acc / (1 - w ** n));
      continue;
    }
    acc = w * acc + (1 - w) * v;
    n += 1;
    out.push(acc / (1 - w ** n));
  }
  return out;
}

export interface PlotPoint {
  step: number;
  x: number;
  value: number; // raw
  y: number; // smoothed (what the line shows)
}

export interface Prepared {
  points: PlotPoint[];
  /** Points left out: non-positive under a log scale... */
  hiddenLog: number;
  /** ...or without a wall time on the wall axis. */
  hiddenWall: number;
}

/** The points one series draws: finite, with an x on the chosen axis, positive on a log
 * scale (a log axis cannot place 0 or a negative value; those are counted, not faked). */
export function preparePoints(points: SeriesPoint[], options: { xAxis: XAxis; logScale: boolean; smoothing: number }): Prepared {
  const kept: { step: number; x: number; value: number }[] = [];
  let hiddenLog = 0;
  let hiddenWall = 0;
  for (const p of points) {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.step)) continue;
    const x = options.xAxis === 'step' ? p.step : p.wall_s;
    if (x === null || x === undefined || !Number.isFinite(x)) {
      hiddenWall += 1;
      continue;
    }
    if (options.logScale && p.value <= 0) {
      hiddenLog += 1;
      continue;
    }
    kept.push({ step: p.step, x, value: p.value });
  }
  kept.sort((a, b) => a.x - b.x || a.step - b.step);
  // Smoothing happens in the space the axis shows: geometric on a log scale.
  const raw = kept.map((p) => (options.logScale ? Math.log10(p.value) : p.value));
  const smooth = emaSmooth(raw, options.smoothing);
  return {
    points: kept.map((p, i) => ({ ...p, y: options.logScale ? 10 ** smooth[i] : smooth[i] })),
    hiddenLog,
    hiddenWall,
  };
}

/** Metric names split into the reward/* group (GRPO), the train group and the eval/* group,
 * each in display order. */
export function groupMetricNames(names: Iterable<string>): { reward: string[]; train: string[]; eval: string[] } {
  const rewards: string[] = [];
  const train: string[] = [];
  const evals: string[] = [];
  for (const name of new Set(names))
    (name.startsWith(EVAL_PREFIX) ? evals : name.startsWith(REWARD_PREFIX) ? rewards : train).push(name);
  const rewardRank = (name: string) => {
    const i = REWARD_ORDER.indexOf(name);
    return i === -1 ? REWARD_ORDER.length : i;
  };
  rewards.sort((a, b) => rewardRank(a) - rewardRank(b) || a.localeCompare(b));
  const rank = (name: string) => {
    const i = TRAIN_ORDER.indexOf(name);
    return i === -1 ? TRAIN_ORDER.length : i;
  };
  train.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  // eval/exact_match and eval/format_ok first, then the per-class eval/exact_match/<class>.
  evals.sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  return { reward: rewards, train, eval: evals };
}

/** Evenly spaced ticks from min to max (count >= 2), or the one value when min == max. */
export function linearTicks(min: number, max: number, count: number): number[] {
  if (min === max || count < 2) return [min];
  const step = (max - min) / (count - 1);
  return Array.from({ length: count }, (_, i) => min + step * i);
}

/** Whole steps, evenly spaced at a round stride, inside [min, max]. */
export function stepTicks(min: number, max: number, count = 5): number[] {
  if (max <= min) return [min];
  const raw = (max - min) / (count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const stride = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw);
  const ticks: number[] = [];
  for (let t = Math.ceil(min / stride) * stride; t <= max; t += stride) ticks.push(t);
  return ticks.length ? ticks : [min, max];
}

/** Powers of ten inside [min, max] (both > 0); three ticks evenly spaced in log space when
 * the range spans less than two decades. */
export function logTicks(min: number, max: number): number[] {
  if (min === max) return [min];
  const lo = Math.ceil(Math.log10(min));
  const hi = Math.floor(Math.log10(max));
  if (hi - lo < 1) {
    const a = Math.log10(min);
    const b = Math.log10(max);
    return [a, (a + b) / 2, b].map((e) => 10 ** e);
  }
  const stride = Math.ceil((hi - lo + 1) / 6);
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += stride) ticks.push(10 ** e);
  return ticks;
}

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return value.toPrecision(4);
}

/** Axis labels: three significant digits, exponent form for very small or large values. */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs === 0) return '0';
  if (abs < 1e-2 || abs >= 1e5) return value.toExponential(1);
  return String(Number(value.toPrecision(3)));
}

export function formatWall(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}`;
}

/** One color per run, in order; distinguishable in light and dark themes. */
export const RUN_COLORS = ['#2f6feb', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a', '#0b7285', '#a07800', '#495057'];

export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length];
}

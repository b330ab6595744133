// Every recorded metric, one small chart each, grouped train/* and eval/*, with the
// controls an ML engineer expects: log scale, EMA smoothing, x by step or wall time.
// One run on the run page; several overlaid (one color each) on the compare page.
import { useState } from 'react';
import { MetricChart } from './MetricChart';
import { MAX_SMOOTHING, groupMetricNames, type MetricSeries, type XAxis } from './metricMath';

const GROUP_TITLES = { reward: 'Rewards (GRPO)', train: 'Training', eval: 'Evaluation' } as const;

export interface PanelRun {
  key: string;
  label: string;
  color: string;
  metrics: MetricSeries;
}

export function MetricsPanel({ runs, emptyText = 'No metrics recorded yet.' }: { runs: PanelRun[]; emptyText?: string }) {
  const [logScale, setLogScale] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [xAxis, setXAxis] = useState<XAxis>('step');
  const groups = groupMetricNames(runs.flatMap((r) => Object.keys(r.metrics).filter((n) => r.metrics[n].length > 0)));
  const total = groups.reward.length + groups.train.length + groups.eval.length;

  return (
    <section className="metrics-panel" data-testid="metrics-panel" data-metric-count={total}>
      <div className="row filters metrics-controls">
        <label className="inline">
          <input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} data-testid="metrics-log-scale" />
          Log scale
        </label>
        <label className="inline">
          Smoothing
          <input
            type="range"
            min={0}
            max={MAX_SMOOTHING}
            step={0.01}
            value={smoothing}
            onChange={(e) => setSmoothing(Number(e.target.value))}
            data-testid="metrics-smoothing"
            aria-valuetext={smoothing.toFixed(2)}
          />
          <span className="muted nowrap">{smoothing.toFixed(2)}</span>
        </label>
        <label className="inline">
          X axis
          <select value={xAxis} onChange={(e) => setXAxis(e.target.value as XAxis)} data-testid="metrics-x-axis">
            <option value="step">step</option>
            <option value="wall">wall time</option>
          </select>
        </label>
      </div>
      {total === 0 && (
        <div className="chart-empty muted" data-testid="metrics-empty">
          {emptyText}
        </div>
      )}
      {(['reward', 'train', 'eval'] as const).map((group) =>
        groups[group].length === 0 ? null : (
          <div key={group} className="metric-group" data-testid={`metric-group-${group}`}>
            <h4>{GROUP_TITLES[group]}</h4>
            <div className="metric-grid">
              {groups[group].map((name) => (
                <MetricChart
                  key={name}
                  name={name}
                  // The loss chart keeps the test id the browser flow has always looked for.
                  testId={name === 'loss' ? 'loss-chart' : 'metric-chart'}
                  series={runs.map((r) => ({ key: r.key, label: r.label, color: r.color, points: r.metrics[name] ?? [] }))}
                  xAxis={xAxis}
                  logScale={logScale}
                  smoothing={smoothing}
                />
              ))}
            </div>
          </div>
        ),
      )}
    </section>
  );
}

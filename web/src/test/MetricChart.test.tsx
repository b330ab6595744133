import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricChart } from '../components/MetricChart';
import { MetricsPanel } from '../components/MetricsPanel';
import { emaSmooth, formatTick, groupMetricNames, logTicks, mergeMetrics, preparePoints, stepTicks } from '../components/metricMath';

afterEach(cleanup);

const series = (points: { step: number; value: number; wall_s?: number | null }[]) => [
  { key: 'r1', label: 'r1', color: '#000', points },
];

function coords(el: Element): number[][] {
  return el
    .getAttribute('points')!
    .split(' ')
    .map((c) => c.split(',').map(Number));
}

describe('emaSmooth', () => {
  it('is the identity at weight 0 and a debiased EMA otherwise', () => {
    expect(emaSmooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
    const s = emaSmooth([1, 3], 0.5);
    // s1 = 0.5*1 / (1-0.5) = 1; s2 = (0.5*0.5 + 0.5*3) / (1-0.25) = 1.75/0.75
    expect(s[0]).toBeCloseTo(1);
    expect(s[1]).toBeCloseTo(1.75 / 0.75);
    // A constant series stays constant (no start-up bias toward 0).
    for (const v of emaSmooth([5, 5, 5, 5], 0.9)) expect(v).toBeCloseTo(5);
  });

  it('skips non-finite values without moving the average', () => {
    const s = emaSmooth([2, Number.NaN, 2], 0.6);
    expect(s[0]).toBeCloseTo(2);
    expect(s[1]).toBeCloseTo(2);
    expect(s[2]).toBeCloseTo(2);
    expect(Number.isNaN(emaSmooth([Number.NaN, 1], 0.5)[0])).toBe(true);
  });

  it('smooths a noisy series toward its mean', () => {
    const noisy = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 1 : 3));
    const s = emaSmooth(noisy, 0.9);
    expect(Math.abs(s[49] - 2)).toBeLessThan(0.2);
  });
});

describe('preparePoints', () => {
  it('hides non-positive values on a log scale and counts them', () => {
    const pts = [
      { step: 1, value: 0 },
      { step: 2, value: -1 },
      { step: 3, value: 10 },
      { step: 4, value: 100 },
    ];
    const linear = preparePoints(pts, { xAxis: 'step', logScale: false, smoothing: 0 });
    expect(linear.points.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(linear.hiddenLog).toBe(0);
    const log = preparePoints(pts, { xAxis: 'step', logScale: true, smoothing: 0.5 });
    expect(log.points.map((p) => p.step)).toEqual([3, 4]);
    expect(log.hiddenLog).toBe(2);
    // Smoothing on a log axis is geometric: debiased EMA of log10 = (1 + 2*0.5... ) -> 10^(s)
    expect(log.points[0].y).toBeCloseTo(10);
    expect(log.points[1].y).toBeCloseTo(10 ** ((0.25 * 1 + 0.5 * 2) / 0.75));
  });

  it('orders by wall time on the wall axis and leaves out points without one', () => {
    const pts = [
      { step: 1, value: 1, wall_s: 5 },
      { step: 2, value: 2, wall_s: null },
      { step: 3, value: 3, wall_s: 9 },
    ];
    const wall = preparePoints(pts, { xAxis: 'wall', logScale: false, smoothing: 0 });
    expect(wall.points.map((p) => [p.step, p.x])).toEqual([
      [1, 5],
      [3, 9],
    ]);
    expect(wall.hiddenWall).toBe(1);
  });
});

describe('metric helpers', () => {
  it('merges points by name and step, newest value winning, keeping a known wall time', () => {
    let s = mergeMetrics({}, [
      { name: 'loss', step: 2, value: 2, wall_s: 4 },
      { name: 'loss', step: 1, value: 3, wall_s: 2 },
    ]);
    s = mergeMetrics(s, [
      { name: 'loss', step: 2, value: 1.5 },
      { name: 'eval/exact_match', step: 2, value: 0.5 },
    ]);
    expect(s.loss).toEqual([
      { step: 1, value: 3, wall_s: 2 },
      { step: 2, value: 1.5, wall_s: 4 },
    ]);
    expect(s['eval/exact_match']).toEqual([{ step: 2, value: 0.5, wall_s: null }]);
  });

  it('groups train and eval metrics in display order', () => {
    expect(
      groupMetricNames(['grad_norm', 'eval/exact_match/7', 'loss', 'eval/format_ok', 'zeta', 'eval/exact_match', 'learning_rate']),
    ).toEqual({
      reward: [],
      train: ['loss', 'learning_rate', 'grad_norm', 'zeta'],
      eval: ['eval/exact_match', 'eval/format_ok', 'eval/exact_match/7'],
    });
  });

  it('puts a GRPO run\'s rewards in a group of their own, mean and std first', () => {
    const grpo = ['reward/length/mean', 'kl', 'reward/std', 'loss', 'reward/correct/mean', 'pg_clipfrac', 'reward/mean'];
    expect(groupMetricNames([...grpo, 'completion_length/mean', 'reward/format/mean', 'learning_rate'])).toEqual({
      reward: ['reward/mean', 'reward/std', 'reward/correct/mean', 'reward/format/mean', 'reward/length/mean'],
      train: ['loss', 'kl', 'completion_length/mean', 'learning_rate', 'pg_clipfrac'],
      eval: [],
    });
  });

  it('puts log ticks on powers of ten, and step ticks on round whole steps', () => {
    expect(logTicks(0.01, 100)).toEqual([0.01, 0.1, 1, 10, 100]);
    const narrow = logTicks(2, 8);
    expect(narrow).toHaveLength(3);
    expect(narrow[0]).toBeCloseTo(2);
    expect(narrow[1]).toBeCloseTo(4);
    expect(narrow[2]).toBeCloseTo(8);
    expect(stepTicks(1, 6)).toEqual([2, 4, 6]);
    expect(stepTicks(0, 300)).toEqual([0, 100, 200, 300]);
    expect(stepTicks(3, 3)).toEqual([3]);
  });

  it('labels axes compactly', () => {
    expect(formatTick(0.0028192)).toBe('2.8e-3');
    expect(formatTick(0.994)).toBe('0.994');
    expect(formatTick(532.71)).toBe('533');
    expect(formatTick(0)).toBe('0');
  });
});

describe('MetricChart', () => {
  it('draws one marker per point and a line through all of them; lower values higher up', () => {
    render(
      <MetricChart
        name="loss"
        series={series([
          { step: 1, value: 3.2 },
          { step: 2, value: 2.7 },
          { step: 3, value: 2.1 },
          { step: 4, value: 1.9 },
        ])}
      />,
    );
    const chart = screen.getByTestId('metric-chart');
    expect(chart.getAttribute('data-point-count')).toBe('4');
    expect(chart.querySelectorAll('circle')).toHaveLength(4);
    const xy = coords(screen.getByTestId('chart-line'));
    expect(xy).toHaveLength(4);
    expect(xy[0][0]).toBeLessThan(xy[3][0]);
    expect(xy[0][1]).toBeLessThan(xy[3][1]);
    expect(screen.getByTestId('metric-latest').textContent).toBe('1.900');
  });

  it('shows an empty state before the first value and skips non-finite values', () => {
    const { rerender } = render(<MetricChart name="loss" series={series([])} />);
    expect(screen.getByTestId('metric-chart-empty').textContent).toContain('no values yet');
    rerender(<MetricChart name="loss" series={series([{ step: 1, value: Number.NaN }, { step: 2, value: 1.5 }])} />);
    expect(screen.getByTestId('metric-chart').getAttribute('data-point-count')).toBe('1');
  });

  it('on a log scale leaves out values <= 0 and says so; all of them hidden is an explained empty state', () => {
    const { rerender } = render(
      <MetricChart name="lr" logScale series={series([{ step: 1, value: 0 }, { step: 2, value: 0.1 }, { step: 3, value: 0.01 }])} />,
    );
    const chart = screen.getByTestId('metric-chart');
    expect(chart.getAttribute('data-point-count')).toBe('2');
    expect(chart.getAttribute('data-hidden-count')).toBe('1');
    expect(screen.getByTestId('chart-hidden').textContent).toContain('1 point ≤ 0 not shown on a log scale');
    for (const [, y] of coords(screen.getByTestId('chart-line'))) expect(Number.isFinite(y)).toBe(true);
    rerender(<MetricChart name="lr" logScale series={series([{ step: 1, value: 0 }, { step: 2, value: -3 }])} />);
    expect(screen.getByTestId('metric-chart-empty').textContent).toContain('2 points ≤ 0 not shown');
  });

  it('draws the raw line faintly under the smoothed one', () => {
    const { container } = render(
      <MetricChart name="loss" smoothing={0.8} series={series([{ step: 1, value: 1 }, { step: 2, value: 3 }, { step: 3, value: 1 }])} />,
    );
    expect(container.querySelectorAll('.chart-line-raw')).toHaveLength(1);
    const smooth = coords(screen.getByTestId('chart-line'));
    const raw = coords(container.querySelector('.chart-line-raw')!);
    expect(smooth[1][1]).toBeGreaterThan(raw[1][1]); // the spike to 3 is damped (drawn lower)
  });

  it('hover shows the step and value of the nearest point of each series', () => {
    render(
      <MetricChart
        name="loss"
        series={[
          { key: 'a', label: 'run a', color: '#111', points: [{ step: 0, value: 4 }, { step: 10, value: 2 }] },
          { key: 'b', label: 'run b', color: '#222', points: [{ step: 0, value: 5 }, { step: 10, value: 1.25 }] },
        ]}
      />,
    );
    const svg = screen.getByRole('img');
    svg.getBoundingClientRect = () => ({ left: 0, top: 0, width: 480, height: 220, right: 480, bottom: 220, x: 0, y: 0, toJSON: () => ({}) });
    fireEvent.mouseMove(svg, { clientX: 460, clientY: 50 });
    const tip = screen.getByTestId('chart-tooltip');
    expect(tip.textContent).toContain('run a · step 10: 2');
    expect(tip.textContent).toContain('run b · step 10: 1.250');
    fireEvent.mouseLeave(svg);
    expect(screen.queryByTestId('chart-tooltip')).toBeNull();
  });
});

describe('MetricsPanel', () => {
  const metrics = {
    loss: [
      { step: 1, value: 2, wall_s: 1 },
      { step: 2, value: 1, wall_s: 2 },
    ],
    learning_rate: [
      { step: 1, value: 0, wall_s: 1 },
      { step: 2, value: 0.003, wall_s: 2 },
    ],
    'eval/exact_match': [{ step: 2, value: 0.5, wall_s: null }],
  };

  it('charts every metric, grouped, with working log-scale and x-axis controls', () => {
    render(<MetricsPanel runs={[{ key: 'r', label: 'r', color: '#000', metrics }]} />);
    expect(screen.getByTestId('metrics-panel').getAttribute('data-metric-count')).toBe('3');
    const train = screen.getByTestId('metric-group-train');
    expect([...train.querySelectorAll('[data-metric]')].map((e) => e.getAttribute('data-metric'))).toEqual(['loss', 'learning_rate']);
    expect(screen.getByTestId('metric-group-eval').querySelector('[data-metric]')!.getAttribute('data-metric')).toBe('eval/exact_match');
    expect(screen.getByTestId('loss-chart').getAttribute('data-point-count')).toBe('2');

    fireEvent.click(screen.getByTestId('metrics-log-scale'));
    const lr = document.querySelector('[data-metric="learning_rate"]')!;
    expect(lr.getAttribute('data-hidden-count')).toBe('1');

    fireEvent.click(screen.getByTestId('metrics-log-scale'));
    fireEvent.change(screen.getByTestId('metrics-x-axis'), { target: { value: 'wall' } });
    // The eval point has no wall time yet: explained, not drawn at x = 0.
    expect(screen.getByTestId('metric-chart-empty').getAttribute('data-metric')).toBe('eval/exact_match');
    fireEvent.change(screen.getByTestId('metrics-smoothing'), { target: { value: '0.5' } });
    expect(document.querySelectorAll('.chart-line-raw').length).toBeGreaterThan(0);
  });

  it('says so when nothing is recorded', () => {
    render(<MetricsPanel runs={[{ key: 'r', label: 'r', color: '#000', metrics: {} }]} emptyText="nothing here" />);
    expect(screen.getByTestId('metrics-empty').textContent).toBe('nothing here');
  });
});

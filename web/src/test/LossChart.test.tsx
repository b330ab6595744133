import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { LossChart, mergePoints } from '../components/LossChart';

afterEach(cleanup);

describe('LossChart', () => {
  it('draws one marker per point and a line through all of them', () => {
    const points = [
      { step: 1, value: 3.2 },
      { step: 2, value: 2.7 },
      { step: 3, value: 2.1 },
      { step: 4, value: 1.9 },
    ];
    render(<LossChart points={points} />);
    const chart = screen.getByTestId('loss-chart');
    expect(chart.getAttribute('data-point-count')).toBe('4');
    expect(chart.querySelectorAll('circle')).toHaveLength(4);
    const coords = screen.getByTestId('loss-chart-line').getAttribute('points')!.split(' ');
    expect(coords).toHaveLength(4);
    // x grows with the step, and a lower loss is drawn higher up (smaller y)
    const xy = coords.map((c) => c.split(',').map(Number));
    expect(xy[0][0]).toBeLessThan(xy[3][0]);
    expect(xy[0][1]).toBeLessThan(xy[3][1]);
    expect(screen.getByTestId('loss-latest').textContent).toBe('1.900');
  });

  it('shows an empty state before the first value and skips non-finite values', () => {
    const { rerender } = render(<LossChart points={[]} />);
    expect(screen.getByTestId('loss-chart-empty')).toBeTruthy();
    rerender(<LossChart points={[{ step: 1, value: Number.NaN }, { step: 2, value: 1.5 }]} />);
    expect(screen.getByTestId('loss-chart').getAttribute('data-point-count')).toBe('1');
  });

  it('merges live points by step, in step order, newest value winning', () => {
    const merged = mergePoints(
      [
        { step: 1, value: 3 },
        { step: 3, value: 2 },
      ],
      [
        { step: 2, value: 2.5 },
        { step: 3, value: 1.8 },
      ],
    );
    expect(merged).toEqual([
      { step: 1, value: 3 },
      { step: 2, value: 2.5 },
      { step: 3, value: 1.8 },
    ]);
  });
});

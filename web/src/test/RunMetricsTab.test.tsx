import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RunDetailPage } from '../pages/RunDetailPage';
import { mockFetch } from './fetchMock';
import { MockEventSource } from './mockEventSource';

const RUN = {
  run_id: 'r1',
  name: null,
  status: 'running',
  mode: 'async',
  dataset_key: 'duel-v1',
  model_id: 'tiny',
  dry_run: false,
  request: { dataset_key: 'duel-v1', max_steps: 30 },
  priority: 0,
  attempt: 1,
  max_attempts: 3,
  worker_id: 'w1',
  created_at: '2026-01-01T00:00:00Z',
  started_at: '2026-01-01T00:00:01Z',
  finished_at: null,
  duration_s: 5,
  exit_code: null,
  error: null,
  last_step: 2,
  max_steps: 30,
  log_lines: 3,
  log_dropped_lines: 0,
  stdout_tail: '',
  stderr_tail: '',
  eval: null,
  retry_of: null,
};

describe('run page metrics and parameters', () => {
  beforeEach(() => {
    MockEventSource.reset();
    vi.stubGlobal('EventSource', MockEventSource);
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('charts every stored and live metric, train and eval apart, and re-reads live points for their wall time', async () => {
    window.history.replaceState(null, '', '/runs/r1?tab=metrics');
    const fetchSpy = mockFetch([
      { path: '/api/tunix/runs/r1', body: RUN },
      { path: '/api/tunix/runs/r1/events', body: { data: [] } },
      {
        path: '/api/tunix/runs/r1/metrics',
        body: {
          data: [
            { name: 'learning_rate', step: 1, value: 0.001, wall_s: 1.5 },
            { name: 'loss', step: 1, value: 3, wall_s: 1.5 },
          ],
        },
      },
    ]);
    render(<RunDetailPage id="r1" search={new URLSearchParams('tab=metrics')} />);
    await waitFor(() => expect(screen.getByTestId('metrics-panel').getAttribute('data-metric-count')).toBe('2'));
    act(() => {
      MockEventSource.latest().emit('metric', { step: 2, values: { loss: 2.5, grad_norm: 0.7, 'eval/exact_match': 0.25 } });
    });
    const panel = screen.getByTestId('metrics-panel');
    expect(panel.getAttribute('data-metric-count')).toBe('4');
    expect(screen.getByTestId('loss-chart').getAttribute('data-point-count')).toBe('2');
    expect(screen.getByTestId('metric-group-eval').querySelector('[data-metric="eval/exact_match"]')).toBeTruthy();
    // The live point has no wall time: the stored rows are re-read from the last timed step.
    await waitFor(
      () => expect(fetchSpy.mock.calls.map((c) => String(c[0]))).toContain('/api/tunix/runs/r1/metrics?after_step=0'),
      { timeout: 4000 },
    );
  });

  it('lists the resolved parameters and where they came from', async () => {
    window.history.replaceState(null, '', '/runs/r1?tab=params');
    mockFetch([
      { path: '/api/tunix/runs/r1', body: RUN },
      { path: '/api/tunix/runs/r1/events', body: { data: [] } },
      { path: '/api/tunix/runs/r1/metrics', body: { data: [] } },
      {
        path: '/api/tunix/runs/r1/params',
        body: { source: 'request', data: { 'hyperparameters.learning_rate': 0.003, 'model.preset': 'tiny', 'evaluation.every_steps': null } },
      },
    ]);
    render(<RunDetailPage id="r1" search={new URLSearchParams('tab=params')} />);
    await waitFor(() => expect(screen.getAllByTestId('param-row')).toHaveLength(3));
    expect(screen.getByTestId('params-source').getAttribute('data-source')).toBe('request');
    const values = Object.fromEntries(
      screen.getAllByTestId('param-row').map((r) => [r.getAttribute('data-key'), r.querySelector('[data-testid=param-value]')!.textContent]),
    );
    expect(values).toEqual({ 'hyperparameters.learning_rate': '0.003', 'model.preset': 'tiny', 'evaluation.every_steps': 'null' });
  });
});

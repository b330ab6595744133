import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useLocation } from '../lib/router';
import { RunDetailPage } from '../pages/RunDetailPage';
import { mockFetch } from './fetchMock';
import { MockEventSource } from './mockEventSource';

const RUN = {
  run_id: 'r1',
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

describe('RunDetailPage', () => {
  beforeEach(() => {
    MockEventSource.reset();
    vi.stubGlobal('EventSource', MockEventSource);
    window.history.replaceState(null, '', '/runs/r1');
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('seeds the loss curve from stored metrics and grows it from live metric events', async () => {
    mockFetch([
      { path: '/api/tunix/runs/r1', body: RUN },
      { path: '/api/tunix/runs/r1/events', body: { data: [] } },
      {
        path: '/api/tunix/runs/r1/metrics',
        body: { data: [{ name: 'loss', step: 1, value: 3 }, { name: 'loss', step: 2, value: 2.5 }] },
      },
    ]);
    render(<RunDetailPage id="r1" search={new URLSearchParams()} />);
    await waitFor(() => expect(screen.getByTestId('loss-chart').getAttribute('data-point-count')).toBe('2'));
    expect(screen.getByTestId('status-badge').getAttribute('data-status')).toBe('running');
    act(() => {
      MockEventSource.latest().emit('metric', { step: 3, values: { loss: 2.0 } });
      MockEventSource.latest().emit('metric', { step: 4, values: { loss: 1.7 } });
    });
    expect(screen.getByTestId('loss-chart').getAttribute('data-point-count')).toBe('4');
    expect(screen.getByTestId('cancel-run')).toBeTruthy();
  });

  it('shows an error banner when the API is unreachable', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    render(<RunDetailPage id="r1" search={new URLSearchParams()} />);
    expect((await screen.findByTestId('error-banner')).textContent).toContain('Cannot reach the tunix-rt API');
  });

  it('moves between tabs with the arrow keys and keeps the tab in the URL', async () => {
    mockFetch([
      { path: '/api/tunix/runs/r1', body: RUN },
      { path: '/api/tunix/runs/r1/events', body: { data: [] } },
      { path: '/api/tunix/runs/r1/metrics', body: { data: [] } },
    ]);
    function Routed() {
      return <RunDetailPage id="r1" search={useLocation().search} />;
    }
    render(<Routed />);
    await screen.findByTestId('run-overview');
    fireEvent.keyDown(screen.getByTestId('tab-overview'), { key: 'ArrowRight' });
    expect(window.location.search).toBe('?tab=logs');
    expect(document.activeElement).toBe(screen.getByTestId('tab-logs'));
    fireEvent.keyDown(screen.getByTestId('tab-logs'), { key: 'ArrowLeft' });
    expect(window.location.search).toBe('');
  });
});

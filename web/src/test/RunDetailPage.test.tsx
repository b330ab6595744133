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
  const DRY_REPORT = {
    valid: true,
    train_examples: 90,
    holdout_examples: 10,
    vocab_size: 512,
    token_lengths: { min: 12, mean: 40.5, p95: 77, max: 140 },
    response_token_lengths: { min: 2, mean: 5.5, p95: 9, max: 12 },
    responses_longer_than_max_new_tokens: 0,
    max_seq_length: 128,
    padded_seq_length: 128,
    truncated_examples: 3,
    examples_without_response_tokens: 1,
    planned_steps: 20,
    epochs: 1.778,
    parameter_count: 1234567,
    estimated_memory_bytes: 52428800,
    wall_s: 1.25,
  };

  it('shows a dry run its report on the overview instead of an empty loss chart', async () => {
    const dry = { ...RUN, dry_run: true, status: 'completed', finished_at: '2026-01-01T00:00:03Z' };
    mockFetch([
      { path: '/api/tunix/runs/r1', body: dry },
      { path: '/api/tunix/runs/r1/events', body: { data: [] } },
      { path: '/api/tunix/runs/r1/metrics', body: { data: [] } },
      {
        path: '/api/tunix/runs/r1/artifacts',
        body: [
          { id: 'a0', name: 'output.log', kind: 'file', size_bytes: 10, sha256: 'x', created_at: '2026-01-01T00:00:03Z' },
          { id: 'a1', name: 'dry_run.json', kind: 'file', size_bytes: 900, sha256: 'y', created_at: '2026-01-01T00:00:03Z' },
        ],
      },
      { path: '/api/tunix/runs/r1/artifacts/a1/download', body: DRY_REPORT },
    ]);
    render(<RunDetailPage id="r1" search={new URLSearchParams()} />);
    expect((await screen.findByTestId('dry-run-token-lengths')).textContent).toBe('min 12 · mean 40.5 · p95 77 · max 140');
    expect(screen.getByTestId('dry-run-truncated').textContent).toBe('3');
    expect(screen.getByTestId('dry-run-truncation').textContent).toContain('1 lose every response token');
    expect(screen.getByTestId('dry-run-params').textContent).toBe('1,234,567');
    expect(screen.getByTestId('dry-run-memory').textContent).toBe('50.0 MiB');
    expect(screen.getByTestId('dry-run-examples').textContent).toContain('90 train / 10 held out');
    expect(screen.queryByTestId('loss-chart-empty')).toBeNull();
  });

  it('tells a dry run that has not reported yet that its report is coming', async () => {
    const dry = { ...RUN, dry_run: true, status: 'running' };
    mockFetch([
      { path: '/api/tunix/runs/r1', body: dry },
      { path: '/api/tunix/runs/r1/events', body: { data: [] } },
      { path: '/api/tunix/runs/r1/metrics', body: { data: [] } },
      { path: '/api/tunix/runs/r1/artifacts', body: [] },
    ]);
    render(<RunDetailPage id="r1" search={new URLSearchParams()} />);
    expect((await screen.findByTestId('dry-run-report-empty')).textContent).toContain('has not reported yet');
    expect(screen.queryByTestId('loss-chart-empty')).toBeNull();
  });
});

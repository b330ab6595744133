import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { mockFetch } from './fetchMock';

function entry(rank: number, overrides: Record<string, unknown> = {}) {
  return {
    rank,
    evaluation_id: `e${rank}`,
    run_id: `run-${rank}-0000-0000-0000-000000000000`,
    run_name: null,
    model: 'tiny',
    step: 30,
    split: 'holdout',
    metric: 'exact_match',
    value: 0.5,
    ci_low: 0.3,
    ci_high: 0.7,
    n: 20,
    hyperparameters: { learning_rate: 0.001, lora_rank: 8 },
    wall_s: 75,
    created_at: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

const MANIFEST = {
  dataset_key: 'duel-v1',
  name: 'duel',
  version: 'v1',
  trace_count: 10,
  train_count: 9,
  holdout_count: 1,
  holdout_fraction: 0.1,
  selection_strategy: 'all',
  seed: 0,
  limit: null,
  filters: {},
  content_hash: 'abc',
  created_at: '2026-01-01T00:00:00Z',
};

function leaderboardCalls(spy: ReturnType<typeof mockFetch>): URL[] {
  return spy.mock.calls
    .map(([input]) => new URL(String(input), 'http://localhost'))
    .filter((url) => url.pathname === '/api/leaderboard');
}

describe('LeaderboardPage', () => {
  beforeEach(() => {
    window.history.replaceState(null, '', '/datasets/duel-v1/leaderboard');
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('ranks the evaluations with run links, interval bars, n and hyper-parameters', async () => {
    mockFetch([
      { path: '/api/health', body: { status: 'ok', version: '1', database: 'sqlite' } },
      {
        path: '/api/leaderboard',
        body: {
          dataset_key: 'duel-v1',
          metric: 'exact_match',
          data: [
            entry(1, { run_name: 'lr sweep a', value: 0.8, ci_low: 0.58, ci_high: 0.92 }),
            entry(2, { value: 0.25, ci_low: 0.11, ci_high: 0.47, n: 20 }),
          ],
        },
      },
    ]);
    render(<App />);
    const rows = await screen.findAllByTestId('leaderboard-row');
    expect(rows.map((row) => row.getAttribute('data-evaluation-id'))).toEqual(['e1', 'e2']);
    const first = within(rows[0]);
    expect(first.getByTestId('leaderboard-run-link').textContent).toBe('lr sweep a');
    expect(first.getByTestId('leaderboard-run-link').getAttribute('href')).toBe(`/runs/${entry(1).run_id}`);
    expect(first.getByTestId('leaderboard-value').textContent).toContain('80.0%');
    expect(first.getByTestId('interval-range').textContent).toBe('58.0%–92.0%');
    expect(rows[0].textContent).toContain('learning_rate=0.001');
    expect(rows[0].textContent).toContain('1 min 15 s');
    // A run without a name shows its short id.
    expect(within(rows[1]).getByTestId('leaderboard-run-link').textContent).toBe('run-2-00');
    expect(within(rows[1]).getByTestId('leaderboard-n').textContent).toBe('20');
  });

  it('keeps the metric in the URL and asks the server for it', async () => {
    const spy = mockFetch([
      { path: '/api/health', body: { status: 'ok', version: '1', database: 'sqlite' } },
      { path: '/api/leaderboard', body: { dataset_key: 'duel-v1', metric: 'exact_match', data: [entry(1)] } },
    ]);
    render(<App />);
    await screen.findAllByTestId('leaderboard-row');
    expect(leaderboardCalls(spy).at(-1)?.searchParams.get('metric')).toBe('exact_match');
    expect(leaderboardCalls(spy).at(-1)?.searchParams.get('dataset_key')).toBe('duel-v1');
    fireEvent.change(screen.getByTestId('leaderboard-metric'), { target: { value: 'format_ok' } });
    expect(window.location.search).toBe('?metric=format_ok');
    await waitFor(() => expect(leaderboardCalls(spy).at(-1)?.searchParams.get('metric')).toBe('format_ok'));
    expect((screen.getByTestId('leaderboard-metric') as HTMLSelectElement).value).toBe('format_ok');
  });

  it('says so when the dataset has no evaluations', async () => {
    mockFetch([
      { path: '/api/health', body: { status: 'ok', version: '1', database: 'sqlite' } },
      { path: '/api/leaderboard', body: { dataset_key: 'duel-v1', metric: 'exact_match', data: [] } },
    ]);
    render(<App />);
    expect((await screen.findByTestId('leaderboard-empty')).textContent).toContain('No completed evaluations');
    expect(screen.queryByTestId('leaderboard-row')).toBeNull();
  });

  it('is linked from the dataset page', async () => {
    window.history.replaceState(null, '', '/datasets/duel-v1');
    mockFetch([
      { path: '/api/health', body: { status: 'ok', version: '1', database: 'sqlite' } },
      { path: '/api/datasets/duel-v1', body: MANIFEST },
      { path: '/api/leaderboard', body: { dataset_key: 'duel-v1', metric: 'exact_match', data: [entry(1)] } },
    ]);
    render(<App />);
    fireEvent.click(await screen.findByTestId('dataset-leaderboard-link'));
    expect(window.location.pathname).toBe('/datasets/duel-v1/leaderboard');
    expect(await screen.findAllByTestId('leaderboard-row')).toHaveLength(1);
  });
});

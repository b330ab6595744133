import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { bestSoFar } from '../components/SweepCharts';
import { mockFetch } from './fetchMock';

const SWEEP_ID = 'abcdef12-0000-0000-0000-000000000000';

function trial(number: number, state: string, value: number | null, lr: number, intermediate: Array<[number, number]>) {
  return {
    number,
    run_id: `run${number}0000-0000-0000-0000-000000000000`,
    params: { learning_rate: lr },
    state,
    value,
    intermediate,
    run_status: state === 'complete' ? 'completed' : state === 'pruned' ? 'cancelled' : 'running',
    pruned_step: state === 'pruned' ? 4 : null,
    best_step: null,
    duration_s: 3,
    error: null,
  };
}

const TRIALS = [
  trial(0, 'complete', 0.6, 0.001, [[2, 0.2], [4, 0.4]]),
  trial(1, 'complete', 0.95, 0.01, [[2, 0.3], [4, 0.6]]),
  trial(2, 'pruned', null, 0.0001, [[2, 0.05], [4, 0.1]]),
  trial(3, 'running', null, 0.02, [[2, 0.25]]),
];

function sweep(overrides: Record<string, unknown> = {}) {
  return {
    sweep_id: SWEEP_ID,
    name: 'lr search',
    status: 'running',
    dataset_key: 'duel-v1',
    sampler: 'tpe',
    pruner: 'median',
    objective: { metric: 'exact_match', direction: 'maximize' },
    n_trials: 6,
    max_parallel: 2,
    counts: { complete: 2, pruned: 1, running: 1 },
    best_value: 0.95,
    created_at: '2026-01-01T00:00:00Z',
    finished_at: null,
    error: null,
    seed: 3,
    space: { learning_rate: { type: 'float', low: 0.0001, high: 0.1, log: true } },
    base: { max_steps: 8, eval_every_steps: 2 },
    trials: TRIALS,
    best_trial: TRIALS[1],
    updated_at: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

const HEALTH = { path: '/api/health', body: { status: 'ok', version: '1', database: 'sqlite' } };

describe('SweepPage', () => {
  beforeEach(() => {
    window.history.replaceState(null, '', `/sweeps/${SWEEP_ID}`);
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('lists the trials linked to their runs, sorts them, and marks pruned curves', async () => {
    mockFetch([
      HEALTH,
      { path: `/api/sweeps/${SWEEP_ID}`, body: sweep() },
      {
        path: `/api/sweeps/${SWEEP_ID}/importance`,
        body: { sweep_id: SWEEP_ID, available: true, importances: { learning_rate: 1 }, completed_trials: 2 },
      },
    ]);
    render(<App />);
    const rows = await screen.findAllByTestId('trial-row');
    expect(rows.map((r) => r.getAttribute('data-state'))).toEqual(['complete', 'complete', 'pruned', 'running']);
    expect(within(rows[1]).getByRole('link').getAttribute('href')).toBe(`/runs/${TRIALS[1].run_id}`);
    expect(within(rows[2]).getByText(/at step 4/)).toBeTruthy();
    fireEvent.click(screen.getByTestId('sort-value')); // best first
    const sorted = screen.getAllByTestId('trial-row').map((r) => r.querySelector('td')?.textContent);
    expect(sorted.slice(0, 2)).toEqual(['1', '0']);
    expect(screen.getByTestId('sweep-best').textContent).toContain('trial 1');
    const curves = screen.getAllByTestId('intermediate-curve');
    expect(curves).toHaveLength(4);
    expect(screen.getAllByTestId('pruned-mark')).toHaveLength(1);
    expect(screen.getAllByTestId('parallel-line')).toHaveLength(2);
    expect(screen.getAllByTestId('history-point')).toHaveLength(2);
    expect(await screen.findAllByTestId('importance-row')).toHaveLength(1);
  });

  it('says why importance is missing and pins the best trial', async () => {
    const spy = mockFetch([
      HEALTH,
      { path: `/api/sweeps/${SWEEP_ID}`, body: sweep({ status: 'completed' }) },
      {
        path: `/api/sweeps/${SWEEP_ID}/importance`,
        body: {
          sweep_id: SWEEP_ID,
          available: false,
          importances: {},
          completed_trials: 1,
          message: 'parameter importance needs at least 2 completed trials; this sweep has 1',
        },
      },
      {
        method: 'POST',
        path: `/api/sweeps/${SWEEP_ID}/pin-best`,
        body: { sweep_id: SWEEP_ID, run_id: TRIALS[1].run_id, trial_number: 1, step: 8, reason: `sweep:${SWEEP_ID}` },
      },
    ]);
    render(<App />);
    expect((await screen.findByTestId('importance-unavailable')).textContent).toContain('at least 2 completed');
    expect(screen.queryByTestId('sweep-cancel')).toBeNull(); // not running
    fireEvent.click(screen.getByTestId('sweep-pin-best'));
    await waitFor(() => expect(screen.getByTestId('sweep-action').textContent).toContain('Pinned step 8 of trial 1'));
    expect(spy.mock.calls.some(([url, init]) => String(url).endsWith('/pin-best') && init?.method === 'POST')).toBe(true);
  });

  it('shows the API refusal of a pin', async () => {
    mockFetch([
      HEALTH,
      { path: `/api/sweeps/${SWEEP_ID}`, body: sweep({ status: 'completed', best_trial: null, trials: [] }) },
      { path: `/api/sweeps/${SWEEP_ID}/importance`, body: { sweep_id: SWEEP_ID, available: false, importances: {}, completed_trials: 0, message: 'none' } },
    ]);
    render(<App />);
    const pin = await screen.findByTestId('sweep-pin-best');
    expect((pin as HTMLButtonElement).disabled).toBe(true);
  });

  it('computes the best value so far in trial order', () => {
    expect(bestSoFar(TRIALS as never, true)).toEqual([
      [0, 0.6],
      [1, 0.95],
    ]);
    expect(bestSoFar(TRIALS as never, false)).toEqual([
      [0, 0.6],
      [1, 0.6],
    ]);
  });
});

describe('SweepsPage', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('lists sweeps with progress and links', async () => {
    window.history.replaceState(null, '', '/sweeps');
    const { trials: _t, best_trial: _b, seed: _s, space: _sp, base: _ba, updated_at: _u, ...row } = sweep();
    mockFetch([HEALTH, { path: '/api/sweeps', body: { sweeps: [row] } }]);
    render(<App />);
    const rows = await screen.findAllByTestId('sweep-row');
    expect(rows).toHaveLength(1);
    expect(rows[0].textContent).toContain('4/6');
    expect(rows[0].textContent).toContain('1 pruned');
    expect(within(rows[0]).getByRole('link').getAttribute('href')).toBe(`/sweeps/${SWEEP_ID}`);
    expect(screen.getByTestId('nav-sweeps')).toBeTruthy();
  });

  it('starts a sweep from its JSON spec and shows the API refusal', async () => {
    window.history.replaceState(null, '', '/sweeps');
    const spy = mockFetch([
      HEALTH,
      { path: '/api/sweeps', body: { sweeps: [] } },
      { method: 'POST', path: '/api/sweeps', status: 422, body: { detail: 'space: cannot search over seedz', errors: [] } },
    ]);
    render(<App />);
    const spec = await screen.findByTestId('new-sweep-spec');
    fireEvent.change(spec, { target: { value: '{"dataset_key": ' } });
    fireEvent.click(screen.getByTestId('new-sweep-submit'));
    expect((await screen.findByTestId('new-sweep-error')).textContent).toContain('not valid JSON');
    fireEvent.change(spec, { target: { value: '{"dataset_key": "d-v1", "space": {"seedz": {}}}' } });
    fireEvent.click(screen.getByTestId('new-sweep-submit'));
    await waitFor(() => expect(screen.getByTestId('new-sweep-error').textContent).toContain('cannot search over seedz'));
    const posted = spy.mock.calls.find(([, init]) => init?.method === 'POST');
    expect(JSON.parse(String(posted?.[1]?.body))).toEqual({ dataset_key: 'd-v1', space: { seedz: {} } });
  });
});

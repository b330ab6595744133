import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useLocation } from '../lib/router';
import { RunDetailPage } from '../pages/RunDetailPage';
import { mockFetch } from './fetchMock';
import { MockEventSource } from './mockEventSource';

const RUN = {
  run_id: 'r1',
  kind: 'train',
  status: 'completed',
  mode: 'async',
  name: 'Baseline',
  tags: [],
  notes: '',
  dataset_key: 'add-v1',
  model_id: 'tiny',
  dry_run: false,
  request: { dataset_key: 'add-v1', max_steps: 30 },
  priority: 0,
  attempt: 1,
  max_attempts: 3,
  worker_id: 'w1',
  created_at: '2026-01-01T00:00:00Z',
  started_at: '2026-01-01T00:00:01Z',
  finished_at: '2026-01-01T00:00:09Z',
  duration_s: 8,
  exit_code: 0,
  error: null,
  last_step: 30,
  max_steps: 30,
  log_lines: 3,
  log_dropped_lines: 0,
  stdout_tail: '',
  stderr_tail: '',
  eval: null,
  retry_of: null,
};
const GRPO_RUN = {
  ...RUN,
  status: 'running',
  request: { ...RUN.request, algorithm: 'grpo', init_from: { run_id: 'r0', checkpoint: 30 }, grpo: { num_generations: 2 } },
};
const ROLLOUT = {
  id: 'ro-1',
  step: 10,
  prompt_index: 0,
  generation: 0,
  prompt: 'What is 2 + 2?',
  expected: '4',
  completion: '<answer>4</answer>',
  answer: '4',
  correct: true,
  format_ok: true,
  rewards: { correct: 1, format: 0.2, length: 0 },
  reward: 1.2,
  advantage: 0.7,
};

const GRPO_METRICS = ['reward/std', 'loss', 'reward/correct/mean', 'kl', 'reward/mean'].flatMap((name, i) => [
  { name, step: 1, value: i, wall_s: 1 },
  { name, step: 2, value: i + 0.5, wall_s: 2 },
]);

function serve(run: unknown) {
  return mockFetch([
    { path: '/api/tunix/runs/r1', body: run },
    { path: '/api/tunix/runs/r1/events', body: { data: [] } },
    { path: '/api/tunix/runs/r1/metrics', body: { data: GRPO_METRICS } },
    { path: '/api/tunix/runs/r1/rollouts', body: { steps: [10], step: 10, total: 1, items: [ROLLOUT] } },
  ]);
}

function Routed() {
  return <RunDetailPage id="r1" search={useLocation().search} />;
}

describe('RunDetailPage, GRPO', () => {
  beforeEach(() => {
    MockEventSource.reset();
    vi.stubGlobal('EventSource', MockEventSource);
    window.history.replaceState(null, '', '/runs/r1');
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('offers "Continue with GRPO" on a completed training run, which opens the form for it', async () => {
    serve(RUN);
    render(<Routed />);
    const link = await screen.findByTestId('continue-grpo');
    expect(link.getAttribute('href')).toBe('/runs/new?grpo_from=r1');
    expect(screen.queryByTestId('tab-rollouts')).toBeNull(); // an SFT run samples nothing
  });

  it('shows a GRPO run its Rollouts tab, and no "Continue with GRPO" while it runs', async () => {
    serve(GRPO_RUN);
    render(<Routed />);
    fireEvent.click(await screen.findByTestId('tab-rollouts'));
    expect(window.location.search).toBe('?tab=rollouts');
    await waitFor(() => expect(screen.getByTestId('rollout-completion').textContent).toBe('<answer>4</answer>'));
    expect(screen.getByTestId('rollout-advantage').textContent).toBe('0.7');
    expect(screen.queryByTestId('continue-grpo')).toBeNull();
    fireEvent.click(screen.getByTestId('tab-overview'));
    expect(screen.getByTestId('run-started-from').textContent).toBe('r0, checkpoint step 30GRPO');
    expect(screen.getByTestId('run-started-from').querySelector('a')?.getAttribute('href')).toBe('/runs/r0');
    fireEvent.click(screen.getByTestId('tab-rollouts'));
    // The arrow keys reach the extra tab too.
    fireEvent.keyDown(screen.getByTestId('tab-rollouts'), { key: 'ArrowRight' });
    expect(window.location.search).toBe('');
  });

  it('charts the rewards in a group of their own on the Metrics tab', async () => {
    serve(GRPO_RUN);
    window.history.replaceState(null, '', '/runs/r1?tab=metrics');
    render(<Routed />);
    const rewards = await screen.findByTestId('metric-group-reward');
    expect(rewards.querySelector('h4')?.textContent).toBe('Rewards (GRPO)');
    expect([...rewards.querySelectorAll('[data-metric]')].map((e) => e.getAttribute('data-metric'))).toEqual([
      'reward/mean',
      'reward/std',
      'reward/correct/mean',
    ]);
    const train = screen.getByTestId('metric-group-train');
    expect([...train.querySelectorAll('[data-metric]')].map((e) => e.getAttribute('data-metric'))).toEqual(['loss', 'kl']);
  });
});

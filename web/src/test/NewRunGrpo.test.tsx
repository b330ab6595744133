import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NewRunForm, NewRunPage } from '../pages/NewRunPage';
import { mockFetch } from './fetchMock';

const SFT_RUN = {
  run_id: 'aaaabbbb-0000-4000-8000-000000000000',
  status: 'completed',
  kind: 'train',
  name: 'Baseline',
  tags: [],
  notes: '',
  dataset_key: 'add-v1',
  model_id: 'tiny',
  dry_run: false,
  last_step: 40,
  request: { dataset_key: 'add-v1', max_steps: 40 },
};
const DRY_RUN = { ...SFT_RUN, run_id: 'dry00000-0000-4000-8000-000000000000', name: 'dry', dry_run: true };
const CHECKPOINTS = {
  run_id: SFT_RUN.run_id,
  best_metric: 'eval/exact_match',
  best_mode: 'max',
  best_step: 20,
  best_value: 0.9,
  keep_checkpoints: 2,
  pruned_steps: [],
  checkpoints: [
    { step: 20, artifact_id: 'a20', size_bytes: 1, created_at: '2026-01-01T00:00:00Z', latest: false, best: true, pinned_by: [], value: 0.9 },
    { step: 40, artifact_id: 'a40', size_bytes: 1, created_at: '2026-01-01T00:00:00Z', latest: true, best: false, pinned_by: [], value: 0.8 },
  ],
};

function routes() {
  return [
    { path: '/api/datasets', body: { data: [{ dataset_key: 'dup-v1' }, { dataset_key: 'add-v1' }], pagination: {} } },
    { path: '/api/tunix/runs', body: { data: [SFT_RUN, DRY_RUN], pagination: {} } },
    { path: `/api/tunix/runs/${SFT_RUN.run_id}`, body: SFT_RUN },
    { path: `/api/tunix/runs/${SFT_RUN.run_id}/checkpoints`, body: CHECKPOINTS },
    { method: 'POST', path: '/api/tunix/run', status: 202, body: { run_id: 'grpo-1', status: 'pending' } },
  ];
}

function postedBody(spy: ReturnType<typeof mockFetch>) {
  const post = spy.mock.calls.find(([, init]) => init?.method === 'POST');
  return JSON.parse(String(post?.[1]?.body));
}

describe('New run form, GRPO', () => {
  beforeEach(() => window.history.replaceState(null, '', '/runs/new'));
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('starts from a chosen run and checkpoint with the GRPO settings, leaving the model to the start run', async () => {
    const spy = mockFetch(routes());
    render(<NewRunForm datasets={['add-v1']} />);
    expect(screen.queryByTestId('grpo-settings')).toBeNull();
    fireEvent.change(screen.getByTestId('run-algorithm'), { target: { value: 'grpo' } });
    expect((screen.getByTestId('run-grpo-num_generations') as HTMLInputElement).value).toBe('4');
    expect((screen.getByTestId('run-grpo-beta') as HTMLInputElement).value).toBe('0.04');

    // Completed training runs only; a dry run trained nothing.
    await waitFor(() => expect(screen.getByTestId('run-init-run').querySelectorAll('option')).toHaveLength(2));
    expect(screen.getByTestId('run-init-run').textContent).toContain('Baseline · tiny on add-v1 · step 40');
    const spyUrl = String(spy.mock.calls.find(([u]) => String(u).startsWith('/api/tunix/runs?'))?.[0]);
    expect(spyUrl).toContain('status=completed');
    fireEvent.change(screen.getByTestId('run-init-run'), { target: { value: SFT_RUN.run_id } });
    expect(screen.getByTestId('run-model-from-init')).toBeTruthy();
    expect((screen.getByTestId('run-max_seq_length') as HTMLInputElement).disabled).toBe(true);
    await waitFor(() => expect(screen.getByTestId('run-init-checkpoint').textContent).toContain('step 20'));
    expect(screen.getByTestId('run-init-checkpoint').textContent).toContain('best (step 20, eval/exact_match)');
    fireEvent.change(screen.getByTestId('run-init-checkpoint'), { target: { value: '20' } });
    fireEvent.change(screen.getByTestId('run-grpo-num_generations'), { target: { value: '8' } });
    fireEvent.change(screen.getByTestId('run-grpo-temperature'), { target: { value: '0.7' } });
    fireEvent.change(screen.getByTestId('run-max_steps'), { target: { value: '20' } });
    fireEvent.click(screen.getByTestId('run-submit'));

    await waitFor(() => expect(window.location.pathname).toBe('/runs/grpo-1'));
    expect(postedBody(spy)).toEqual({
      dataset_key: 'add-v1',
      dry_run: false,
      algorithm: 'grpo',
      init_from: { run_id: SFT_RUN.run_id, checkpoint: 20 },
      max_steps: 20,
      batch_size: 16,
      learning_rate: 0.003,
      seed: 0,
      save_every_steps: 100,
      grpo: {
        num_generations: 8,
        num_iterations: 1,
        beta: 0.04,
        epsilon: 0.2,
        temperature: 0.7,
        max_new_tokens: 64,
        reward_correct: 1,
        reward_format: 0.2,
        length_penalty: 0,
        rollout_every_steps: 10,
        rollout_prompts: 4,
      },
    });
  });

  it('refuses GRPO settings outside the API limits before sending, and shows the API messages for them', async () => {
    const spy = mockFetch([
      ...routes().slice(0, 4),
      {
        method: 'POST',
        path: '/api/tunix/run',
        status: 422,
        body: {
          detail: 'body.grpo.max_new_tokens: too many',
          errors: [{ field: 'body.grpo.max_new_tokens', message: 'too many' }],
        },
      },
    ]);
    render(<NewRunForm datasets={['add-v1']} />);
    fireEvent.change(screen.getByTestId('run-algorithm'), { target: { value: 'grpo' } });
    fireEvent.change(screen.getByTestId('run-grpo-num_generations'), { target: { value: '1' } });
    fireEvent.click(screen.getByTestId('run-submit'));
    expect((await screen.findByTestId('field-error-grpo.num_generations')).textContent).toBe(
      'Input should be greater than or equal to 2',
    );
    expect(spy.mock.calls.some(([, init]) => init?.method === 'POST')).toBe(false);

    fireEvent.change(screen.getByTestId('run-grpo-num_generations'), { target: { value: '2' } });
    expect(screen.queryByTestId('field-error-grpo.num_generations')).toBeNull();
    fireEvent.click(screen.getByTestId('run-submit'));
    expect((await screen.findByTestId('field-error-grpo.max_new_tokens')).textContent).toBe('too many');
  });

  it('"Continue with GRPO" opens the form prefilled from the run, and sends init_from = that run', async () => {
    window.history.replaceState(null, '', `/runs/new?grpo_from=${SFT_RUN.run_id}`);
    const spy = mockFetch(routes());
    render(<NewRunPage search={new URLSearchParams(window.location.search)} />);
    expect((await screen.findByTestId('grpo-source')).textContent).toContain('Baseline');
    expect((screen.getByTestId('run-algorithm') as HTMLSelectElement).value).toBe('grpo');
    expect((screen.getByTestId('run-dataset') as HTMLSelectElement).value).toBe('add-v1');
    expect((screen.getByTestId('run-name') as HTMLInputElement).value).toBe('Baseline (GRPO)');
    await waitFor(() => expect((screen.getByTestId('run-init-run') as HTMLSelectElement).value).toBe(SFT_RUN.run_id));
    fireEvent.click(screen.getByTestId('run-submit'));
    await waitFor(() => expect(window.location.pathname).toBe('/runs/grpo-1'));
    const body = postedBody(spy);
    expect(body.init_from).toEqual({ run_id: SFT_RUN.run_id, checkpoint: 'latest' });
    expect(body.algorithm).toBe('grpo');
    expect(body).not.toHaveProperty('model_id');
  });
});

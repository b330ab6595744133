import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NewRunForm, NewRunPage } from '../pages/NewRunPage';
import { FIELD_NAMES, type RunField } from '../pages/runFields';
import { mockFetch } from './fetchMock';

const SPECIAL_TEST_IDS: Partial<Record<RunField, string>> = {
  dataset_key: 'run-dataset',
  dry_run: 'run-dry-run',
  model_id: 'run-model-id',
  model_path: 'run-model-path',
};

function testIdOf(field: RunField): string {
  return SPECIAL_TEST_IDS[field] ?? `run-${field}`;
}

// Fields of GRPO runs (started from another run's checkpoint): the GRPO tests below.
const GRPO_ONLY = ['algorithm', 'init_from', 'grpo'] as const;
type SftField = Exclude<RunField, (typeof GRPO_ONLY)[number]>;
const SFT_FIELD_NAMES = FIELD_NAMES.filter((f): f is SftField => !(GRPO_ONLY as readonly string[]).includes(f));

// A valid value for every other RunRequest field, as typed into the form, and as the API receives it.
const EVERY_FIELD: Record<SftField, { input: string | boolean; sent: unknown }> = {
  dataset_key: { input: 'b-v2', sent: 'b-v2' },
  model_id: { input: 'gemma3-270m', sent: 'gemma3-270m' },
  model_path: { input: '/models/gemma', sent: '/models/gemma' },
  name: { input: '  lr sweep 1 ', sent: 'lr sweep 1' },
  tags: { input: 'sweep, lr:3e-3 sweep', sent: ['sweep', 'lr:3e-3'] },
  notes: { input: 'line 1\nline 2', sent: 'line 1\nline 2' },
  max_steps: { input: '40', sent: 40 },
  batch_size: { input: '8', sent: 8 },
  learning_rate: { input: '0.01', sent: 0.01 },
  max_seq_length: { input: '256', sent: 256 },
  seed: { input: '7', sent: 7 },
  save_every_steps: { input: '20', sent: 20 },
  dry_run: { input: true, sent: true },
  num_epochs: { input: '2', sent: 2 },
  warmup_fraction: { input: '0.1', sent: 0.1 },
  lora_rank: { input: '8', sent: 8 },
  lora_alpha: { input: '16', sent: 16 },
  dtype: { input: 'bfloat16', sent: 'bfloat16' },
  mesh: { input: '2x2', sent: { data: 2, model: 2 } },
  keep_checkpoints: { input: '3', sent: 3 },
  best_metric: { input: 'eval/exact_match', sent: 'eval/exact_match' },
  best_mode: { input: 'max', sent: 'max' },
  eval_every_steps: { input: '10', sent: 10 },
  eval_at_checkpoints: { input: true, sent: true },
  eval_subset_size: { input: '32', sent: 32 },
  eval_max_examples: { input: '100', sent: 100 },
  eval_max_new_tokens: { input: '16', sent: 16 },
  timeout_s: { input: '600', sent: 600 },
  priority: { input: '5', sent: 5 },
  max_attempts: { input: '2', sent: 2 },
};

const CLONED_RUN = {
  run_id: 'aaaabbbb-0000-4000-8000-000000000000',
  status: 'failed',
  mode: 'async',
  kind: 'train',
  name: 'Baseline',
  tags: ['sweep', 'lr'],
  notes: 'first try',
  dataset_key: 'b-v2',
  model_id: 'tiny',
  dry_run: false,
  request: {
    dataset_key: 'b-v2',
    model_id: 'tiny',
    dry_run: false,
    max_steps: 30,
    learning_rate: 0.005,
    eval_every_steps: 10,
    eval_subset_size: 16,
    best_metric: 'eval/exact_match',
    best_mode: 'max',
    priority: 2,
  },
};

describe('NewRunForm', () => {
  beforeEach(() => {
    window.history.replaceState(null, '', '/runs/new');
    window.localStorage.clear();
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('offers every RunRequest field of an SFT run and sends each one as the API expects', async () => {
    const fetchSpy = mockFetch([
      { method: 'POST', path: '/api/tunix/run', status: 202, body: { run_id: 'new-1', status: 'pending' } },
    ]);
    render(<NewRunForm datasets={['a-v1', 'b-v2']} />);
    fireEvent.change(screen.getByTestId('run-model'), { target: { value: 'local' } });
    expect(screen.getByTestId('run-advanced').hasAttribute('open')).toBe(false); // collapsed at first
    for (const field of SFT_FIELD_NAMES) {
      const { input } = EVERY_FIELD[field];
      const element = screen.getByTestId(testIdOf(field)) as HTMLInputElement;
      if (typeof input === 'boolean') {
        if (element.checked !== input) fireEvent.click(element);
      } else {
        fireEvent.change(element, { target: { value: input } });
      }
    }
    fireEvent.click(screen.getByTestId('run-submit'));
    await waitFor(() => expect(window.location.pathname).toBe('/runs/new-1'));
    const body = JSON.parse(String(fetchSpy.mock.calls[0][1]?.body));
    expect(Object.keys(body).sort()).toEqual([...SFT_FIELD_NAMES].sort());
    for (const field of SFT_FIELD_NAMES) expect({ field, value: body[field] }).toEqual({ field, value: EVERY_FIELD[field].sent });
  });

  it('checks values against the API limits before sending, opening the advanced section when needed', async () => {
    const fetchSpy = mockFetch([]);
    render(<NewRunForm datasets={['duel-v1']} />);
    fireEvent.change(screen.getByTestId('run-max_steps'), { target: { value: '0' } });
    fireEvent.change(screen.getByTestId('run-learning_rate'), { target: { value: '5' } });
    fireEvent.change(screen.getByTestId('run-tags'), { target: { value: 'good bad/tag' } });
    fireEvent.change(screen.getByTestId('run-max_attempts'), { target: { value: '21' } });
    fireEvent.click(screen.getByTestId('run-submit'));

    expect((await screen.findByTestId('field-error-max_steps')).textContent).toBe(
      'Input should be greater than or equal to 1',
    );
    expect(screen.getByTestId('field-error-learning_rate').textContent).toBe('Input should be less than or equal to 1');
    expect(screen.getByTestId('field-error-tags').textContent).toContain("tag 'bad/tag'");
    expect(screen.getByTestId('field-error-max_attempts').textContent).toBe('Input should be less than or equal to 20');
    expect(screen.getByTestId('run-advanced').hasAttribute('open')).toBe(true);
    expect(screen.getByTestId('run-max_steps').getAttribute('aria-invalid')).toBe('true');
    expect(fetchSpy).not.toHaveBeenCalled();

    // Fixing a field clears its message.
    fireEvent.change(screen.getByTestId('run-max_steps'), { target: { value: '10' } });
    expect(screen.queryByTestId('field-error-max_steps')).toBeNull();
  });

  it('still shows the API 422 messages next to the fields they name', async () => {
    const fetchSpy = mockFetch([
      {
        method: 'POST',
        path: '/api/tunix/run',
        status: 422,
        body: {
          detail: 'body.eval_subset_size: Value error, eval_subset_size needs eval_every_steps',
          errors: [{ field: 'body.eval_subset_size', message: 'Value error, eval_subset_size needs eval_every_steps' }],
        },
      },
    ]);
    render(<NewRunForm datasets={['duel-v1']} />);
    fireEvent.change(screen.getByTestId('run-eval_subset_size'), { target: { value: '16' } });
    fireEvent.click(screen.getByTestId('run-submit'));
    expect((await screen.findByTestId('field-error-eval_subset_size')).textContent).toContain('needs eval_every_steps');
    expect(screen.getByTestId('run-advanced').hasAttribute('open')).toBe(true);
    expect(screen.getByTestId('error-banner').textContent).toContain('HTTP 422');
    expect(window.location.pathname).toBe('/runs/new');
    const body = JSON.parse(String(fetchSpy.mock.calls[0][1]?.body));
    expect(body).toEqual({
      dataset_key: 'duel-v1',
      dry_run: false,
      model_id: 'tiny',
      max_steps: 300,
      batch_size: 16,
      learning_rate: 0.003,
      max_seq_length: 128,
      seed: 0,
      save_every_steps: 100,
      eval_subset_size: 16,
    });
  });

  it('requires model_path for a local model and shows the server message for it', async () => {
    mockFetch([
      {
        method: 'POST',
        path: '/api/tunix/run',
        status: 422,
        body: {
          detail: "body: Value error, model_path is required for model_id 'gemma3-270m'",
          errors: [{ field: 'body', message: "Value error, model_path is required for model_id 'gemma3-270m'" }],
        },
      },
    ]);
    render(<NewRunForm datasets={['duel-v1']} />);
    fireEvent.change(screen.getByTestId('run-model'), { target: { value: 'local' } });
    expect(screen.getByTestId('run-model-path')).toBeTruthy();
    fireEvent.click(screen.getByTestId('run-submit'));
    expect((await screen.findByTestId('field-error-body')).textContent).toContain('model_path is required');
  });

  it('opens the new run page after a run is accepted, with dry run and sync mode passed on', async () => {
    const fetchSpy = mockFetch([
      { method: 'POST', path: '/api/tunix/run', status: 202, body: { run_id: 'abc-123', status: 'pending' } },
    ]);
    render(<NewRunForm datasets={['a-v1', 'b-v2']} initialDataset="b-v2" />);
    fireEvent.click(screen.getByTestId('run-dry-run'));
    fireEvent.change(screen.getByTestId('run-mode'), { target: { value: 'sync' } });
    fireEvent.click(screen.getByTestId('run-submit'));
    await waitFor(() => expect(window.location.pathname).toBe('/runs/abc-123'));
    const [url, init] = fetchSpy.mock.calls[0];
    expect(url).toBe('/api/tunix/run?mode=sync');
    const body = JSON.parse(String(init?.body));
    expect(body.dataset_key).toBe('b-v2');
    expect(body.dry_run).toBe(true);
  });
});

describe('NewRunPage clone', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('prefills the form from the run named by ?clone= and submits its request with the new name', async () => {
    window.history.replaceState(null, '', `/runs/new?clone=${CLONED_RUN.run_id}`);
    const fetchSpy = mockFetch([
      { path: '/api/datasets', body: { data: [{ dataset_key: 'a-v1' }, { dataset_key: 'b-v2' }], pagination: {} } },
      { path: `/api/tunix/runs/${CLONED_RUN.run_id}`, body: CLONED_RUN },
      { method: 'POST', path: '/api/tunix/run', status: 202, body: { run_id: 'clone-1', status: 'pending' } },
    ]);
    render(<NewRunPage search={new URLSearchParams(window.location.search)} />);
    const name = (await screen.findByTestId('run-name')) as HTMLInputElement;
    expect(name.value).toBe('Baseline (clone)');
    expect((screen.getByTestId('run-tags') as HTMLInputElement).value).toBe('sweep lr');
    expect((screen.getByTestId('run-notes') as HTMLTextAreaElement).value).toBe('first try');
    expect((screen.getByTestId('run-dataset') as HTMLSelectElement).value).toBe('b-v2');
    expect((screen.getByTestId('run-max_steps') as HTMLInputElement).value).toBe('30');
    expect((screen.getByTestId('run-batch_size') as HTMLInputElement).value).toBe(''); // server default, as before
    expect((screen.getByTestId('run-eval_every_steps') as HTMLInputElement).value).toBe('10');
    expect((screen.getByTestId('run-best_mode') as HTMLSelectElement).value).toBe('max');
    expect(screen.getByTestId('run-advanced').hasAttribute('open')).toBe(true); // it holds cloned values
    expect(screen.getByTestId('clone-source').textContent).toContain('Baseline');

    fireEvent.change(screen.getByTestId('run-learning_rate'), { target: { value: '0.01' } });
    fireEvent.click(screen.getByTestId('run-submit'));
    await waitFor(() => expect(window.location.pathname).toBe('/runs/clone-1'));
    const post = fetchSpy.mock.calls.find(([, init]) => init?.method === 'POST');
    expect(JSON.parse(String(post?.[1]?.body))).toEqual({
      ...CLONED_RUN.request,
      learning_rate: 0.01,
      name: 'Baseline (clone)',
      tags: ['sweep', 'lr'],
      notes: 'first try',
    });
  });
});

import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EvalTab } from '../pages/RunTabs';

function evaluation(id: string, fields: Record<string, unknown>) {
  return {
    evaluation_id: id,
    status: 'completed',
    run_id: 'r1',
    job_id: null,
    step: 40,
    checkpoint: 'checkpoints/40',
    dataset_key: 'duel-v1',
    split: 'holdout',
    scorer_version: 'answer-v1',
    wall_s: 2,
    created_at: '2026-01-01T00:00:00Z',
    finished_at: '2026-01-01T00:00:02Z',
    summary: { exact_match: 0.5, format_ok: 1, n: 12, ci_low: 0.25, ci_high: 0.75, by_expected_answer: null },
    ...fields,
  };
}

const END_OF_RUN = evaluation('ev-end', {});
const JOB = evaluation('ev-job', {
  status: 'running',
  job_id: 'j1',
  step: 20,
  checkpoint: 'checkpoints/20',
  split: 'all',
  summary: { exact_match: null, format_ok: null, n: 0, ci_low: null, ci_high: null, by_expected_answer: null },
  created_at: '2026-01-01T00:01:00Z',
});
const CHECKPOINTS = {
  run_id: 'r1',
  best_metric: 'eval/exact_match',
  best_mode: 'max',
  best_step: 20,
  best_value: 0.6,
  keep_checkpoints: 2,
  pruned_steps: [],
  checkpoints: [
    { step: 20, artifact_id: 'a20', size_bytes: 10, created_at: '2026-01-01T00:00:00Z', latest: false, best: true, pinned_by: [], value: 0.6 },
    { step: 40, artifact_id: 'a40', size_bytes: 10, created_at: '2026-01-01T00:00:00Z', latest: true, best: false, pinned_by: [], value: 0.5 },
  ],
};

function serve(evaluations: unknown[]) {
  const posted: unknown[] = [];
  const spy = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (url.pathname === '/api/evaluations' && init?.method === 'POST') {
      const body = JSON.parse(String(init.body));
      posted.push(body);
      if (body.checkpoint === 'best' && body.split === 'train') {
        return json({ detail: 'dataset nope-v1 not found' }, 404);
      }
      return json({ evaluation_id: 'ev-new', status: 'pending', job_id: 'j2', run_id: 'r1', step: 40 }, 202);
    }
    if (url.pathname === '/api/evaluations') {
      return json({ data: evaluations, total: evaluations.length, next_offset: null });
    }
    if (url.pathname === '/api/tunix/runs/r1/checkpoints') return json(CHECKPOINTS);
    if (url.pathname.endsWith('/examples')) return json({ data: [], total: 0, next_offset: null });
    if (url.pathname.endsWith('/confusion')) return json({ detail: 'too many classes' }, 409);
    return json({ detail: `no mock for ${url}` }, 404);
  });
  vi.stubGlobal('fetch', spy);
  return { spy, posted };
}

describe('the Evaluation tab with several evaluations', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('lists every evaluation of the run and shows the chosen record', async () => {
    serve([JOB, END_OF_RUN]);
    render(<EvalTab runId="r1" version={0} />);
    const rows = await screen.findAllByTestId('run-evaluation-row');
    expect(rows.map((r) => r.getAttribute('data-evaluation-id'))).toEqual(['ev-job', 'ev-end']);
    expect(within(rows[0]).getByTestId('run-evaluation-status').textContent).toBe('running');
    expect(rows[0].textContent).toContain('job');
    expect(rows[1].textContent).toContain('end of run');
    // The completed one is shown first, not the running job.
    expect(screen.getByTestId('eval-record').getAttribute('data-evaluation-id')).toBe('ev-end');
    fireEvent.click(within(rows[0]).getByRole('button'));
    await waitFor(() =>
      expect(screen.getByTestId('eval-record').getAttribute('data-evaluation-id')).toBe('ev-job'),
    );
  });

  it('queues an evaluation of the chosen checkpoint and split, and shows refusals', async () => {
    const { posted } = serve([END_OF_RUN]);
    render(<EvalTab runId="r1" version={0} />);
    const select = (await screen.findByTestId('evaluate-checkpoint')) as HTMLSelectElement;
    expect(Array.from(select.options).map((o) => o.value)).toEqual(['latest', 'best', '20', '40']);
    expect(select.options[1].textContent).toBe('best (step 20)');
    fireEvent.change(select, { target: { value: '20' } });
    fireEvent.change(screen.getByTestId('evaluate-split'), { target: { value: 'all' } });
    fireEvent.change(screen.getByTestId('evaluate-max-examples'), { target: { value: '64' } });
    fireEvent.click(screen.getByTestId('evaluate-submit'));
    await screen.findByTestId('evaluate-queued');
    expect(posted[0]).toEqual({ run_id: 'r1', checkpoint: 20, split: 'all', max_examples: 64 });

    fireEvent.change(select, { target: { value: 'best' } });
    fireEvent.change(screen.getByTestId('evaluate-split'), { target: { value: 'train' } });
    fireEvent.change(screen.getByTestId('evaluate-dataset'), { target: { value: 'nope-v1' } });
    fireEvent.click(screen.getByTestId('evaluate-submit'));
    expect(await screen.findByText(/dataset nope-v1 not found/)).toBeTruthy();
    expect(posted[1]).toEqual({
      run_id: 'r1',
      checkpoint: 'best',
      split: 'train',
      max_examples: 64,
      dataset_key: 'nope-v1',
    });
  });
});

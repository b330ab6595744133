import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TryItPanel, splitPrompts } from '../pages/RunTryIt';

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

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** The checkpoints list, and POST .../generate answered by `answer` (each call recorded). */
function serve(answer: (body: Record<string, unknown>) => Response, checkpoints: unknown = CHECKPOINTS) {
  const posted: Record<string, unknown>[] = [];
  const spy = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    if (url.pathname === '/api/tunix/runs/r1/checkpoints') return json(checkpoints);
    if (url.pathname === '/api/tunix/runs/r1/generate' && init?.method === 'POST') {
      const body = JSON.parse(String(init.body)) as Record<string, unknown>;
      posted.push(body);
      return answer(body);
    }
    return json({ detail: `no mock for ${url.pathname}` }, 404);
  });
  vi.stubGlobal('fetch', spy);
  return posted;
}

function completions(body: Record<string, unknown>) {
  const prompts = body.prompts as string[];
  return json({
    run_id: 'r1',
    step: body.checkpoint === 20 ? 20 : 40,
    completions: prompts.map((p, i) => ({ prompt: p, text: `Reasoning: ${i}\nAnswer: ${i ? 'B' : 'A'}`, answer: i ? 'B' : null })),
    temperature: body.temperature,
    max_new_tokens: body.max_new_tokens,
    seed: body.seed ?? null,
    prompt_tokens: prompts.map(() => 30),
    load_s: 2.5,
    generate_s: 0.5,
    wall_s: 3.25,
  });
}

describe('TryItPanel', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('splits prompts on a line holding only ---', () => {
    expect(splitPrompts('one\n---\n two \n  ---  \n\n---\n')).toEqual(['one', 'two']);
    expect(splitPrompts('a --- b')).toEqual(['a --- b']);
  });

  it('sends the prompts and options and shows each completion with its answer', async () => {
    const posted = serve(completions);
    render(<TryItPanel runId="r1" version={0} />);
    await screen.findByRole('option', { name: 'step 20 (best)' });
    const generateButton = screen.getByTestId('try-generate') as HTMLButtonElement;
    expect(generateButton.disabled).toBe(true); // no prompt yet
    fireEvent.change(screen.getByTestId('try-prompt'), { target: { value: 'Who wins?\n---\nAnd now?' } });
    fireEvent.change(screen.getByTestId('try-checkpoint'), { target: { value: '20' } });
    fireEvent.change(screen.getByTestId('try-max-new-tokens'), { target: { value: '48' } });
    fireEvent.change(screen.getByTestId('try-temperature'), { target: { value: '0.7' } });
    fireEvent.change(screen.getByTestId('try-seed'), { target: { value: '3' } });
    fireEvent.click(generateButton);

    const texts = await screen.findAllByTestId('try-text');
    expect(posted).toEqual([
      { prompts: ['Who wins?', 'And now?'], checkpoint: 20, max_new_tokens: 48, temperature: 0.7, seed: 3 },
    ]);
    expect(screen.queryByTestId('error-banner')).toBeNull();
    expect(texts.map((t) => t.textContent)).toEqual(['Reasoning: 0\nAnswer: A', 'Reasoning: 1\nAnswer: B']);
    expect(screen.getAllByTestId('try-answer').map((a) => a.textContent)).toEqual(['(none extracted)', 'B']);
    expect(screen.getByTestId('try-meta').textContent).toContain('Checkpoint step 20, temperature 0.7, seed 3: 3.3 s');
  });

  it('greedy by default: no seed is sent, latest checkpoint', async () => {
    const posted = serve(completions);
    render(<TryItPanel runId="r1" version={0} />);
    await screen.findByRole('option', { name: 'step 40 (latest)' });
    expect(screen.queryByTestId('try-seed')).toBeNull();
    fireEvent.change(screen.getByTestId('try-prompt'), { target: { value: 'Who wins?' } });
    fireEvent.click(screen.getByTestId('try-generate'));
    await screen.findByTestId('try-text');
    expect(posted).toEqual([{ prompts: ['Who wins?'], checkpoint: 'latest', max_new_tokens: 64, temperature: 0 }]);
  });

  it('shows the server refusals: a missing training stack, a busy server, field errors', async () => {
    const answers = [
      json({ detail: 'the training stack is not installed: missing jax' }, 503),
      json({ detail: 'the server is already generating (1 of 1 at a time); try again in a few seconds' }, 429),
      json(
        {
          detail: 'prompts.0: String should have at most 8000 characters',
          errors: [{ field: 'body.prompts.0', message: 'String should have at most 8000 characters' }],
        },
        422,
      ),
    ];
    serve(() => answers.shift() as Response);
    render(<TryItPanel runId="r1" version={0} />);
    await screen.findByRole('option', { name: 'step 40 (latest)' });
    fireEvent.change(screen.getByTestId('try-prompt'), { target: { value: 'Who wins?' } });
    fireEvent.click(screen.getByTestId('try-generate'));
    expect((await screen.findByTestId('error-banner')).textContent).toContain('missing jax');
    fireEvent.click(screen.getByTestId('try-generate'));
    await waitFor(() => expect(screen.getByTestId('error-banner').textContent).toContain('already generating'));
    fireEvent.click(screen.getByTestId('try-generate'));
    await waitFor(() => expect(screen.getByTestId('error-banner').textContent).toContain('at most 8000 characters'));
    expect(screen.queryByTestId('try-result')).toBeNull();
  });

  it('says so when the run has no checkpoint yet', async () => {
    serve(completions, { ...CHECKPOINTS, best_step: null, checkpoints: [] });
    render(<TryItPanel runId="r1" version={0} />);
    expect((await screen.findByTestId('try-no-checkpoint')).textContent).toContain('No checkpoint yet');
    expect(screen.queryByTestId('try-form')).toBeNull();
  });
});

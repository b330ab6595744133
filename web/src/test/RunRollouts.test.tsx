import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RunRollouts } from '../pages/RunRollouts';
import { ROLLOUT_FILTERS, groupRollouts, rewardParts } from '../pages/rollouts';

// web/openapi.json: written by `make web` from the server (the schema the UI's types come from).
const dumped = import.meta.glob('../../openapi.json', { eager: true, import: 'default' });

function rollout(step: number, prompt: number, generation: number, fields: Record<string, unknown> = {}) {
  const correct = Boolean(fields.correct);
  return {
    id: `s${step}-p${prompt}-g${generation}`,
    step,
    prompt_index: prompt,
    generation,
    prompt: `What is ${prompt} + ${prompt}?`,
    expected: String(2 * prompt),
    completion: `<answer>${correct ? 2 * prompt : 0}</answer>`,
    answer: correct ? String(2 * prompt) : '0',
    correct,
    format_ok: true,
    rewards: { correct: correct ? 1 : 0, format: 0.2, length: 0 },
    reward: correct ? 1.2 : 0.2,
    advantage: 0,
    ...fields,
  };
}

// Step 20: prompt 1 has spread (2 of 3 correct), prompt 0 none (all wrong). Served out of order.
const STEP_20 = [
  rollout(20, 1, 2, { correct: true }),
  rollout(20, 0, 1),
  rollout(20, 1, 0, { correct: true }),
  rollout(20, 0, 0),
  rollout(20, 1, 1, { format_ok: false, answer: null, rewards: { correct: 0, format: 0, length: 0 }, reward: 0 }),
];
const STEP_10 = [rollout(10, 0, 0, { correct: true }), rollout(10, 0, 1)];

/** A fake rollouts API: filters and steps like the contract says; records every call. */
function serve() {
  const posted: unknown[] = [];
  const queries: URLSearchParams[] = [];
  const spy = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (url.pathname === '/api/tunix/runs/r1/rollouts/traces' && init?.method === 'POST') {
      const body = JSON.parse(String(init.body)) as { ids: string[] };
      posted.push(body);
      return json({ trace_ids: body.ids.map((id) => `trace-${id}`), created: body.ids.length }, 201);
    }
    if (url.pathname === '/api/tunix/runs/r1/rollouts') {
      queries.push(url.searchParams);
      const step = Number(url.searchParams.get('step') ?? 20);
      const filter = url.searchParams.get('filter') ?? 'all';
      let items = [...(step === 10 ? STEP_10 : STEP_20)].sort(
        (a, b) => a.prompt_index - b.prompt_index || a.generation - b.generation,
      );
      if (filter === 'correct') items = items.filter((r) => r.correct);
      if (filter === 'wrong') items = items.filter((r) => !r.correct);
      if (filter === 'format_right_answer_wrong') items = items.filter((r) => r.format_ok && !r.correct);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 100);
      return json({ steps: [10, 20], step, total: items.length, items: items.slice(offset, offset + limit) });
    }
    return json({ detail: `no mock for ${url.pathname}` }, 404);
  });
  vi.stubGlobal('fetch', spy);
  return { posted, queries };
}

describe('ROLLOUT_FILTERS', () => {
  it('offers exactly the filters the API takes', () => {
    const openapi = Object.values(dumped)[0] as {
      paths: Record<string, { get: { parameters: { name: string; schema: { enum?: string[] } }[] } }>;
    };
    const filter = openapi.paths['/api/tunix/runs/{run_id}/rollouts'].get.parameters.find((p) => p.name === 'filter');
    expect(ROLLOUT_FILTERS.map((f) => f.id)).toEqual(filter?.schema.enum);
  });
});

describe('groupRollouts', () => {
  it('puts a prompt\'s generations together in order, with the spread of their rewards', () => {
    const groups = groupRollouts(STEP_20);
    expect(groups.map((g) => [g.promptIndex, g.items.map((r) => r.generation)])).toEqual([
      [0, [0, 1]],
      [1, [0, 1, 2]],
    ]);
    expect(groups[0]).toMatchObject({ correct: 0, meanReward: 0.2, minReward: 0.2, maxReward: 0.2, stdReward: 0 });
    expect(groups[1]).toMatchObject({ correct: 2, minReward: 0, maxReward: 1.2 });
    expect(groups[1].meanReward).toBeCloseTo(0.8);
    expect(groups[1].stdReward).toBeCloseTo(Math.sqrt((0.4 ** 2 * 2 + 0.8 ** 2) / 3));
    expect(rewardParts({ correct: 1, format: 0.2, length: -0.0125 })).toBe('correct 1 · format 0.2 · length -0.013');
  });
});

describe('RunRollouts', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows the latest step grouped by prompt, marks a group without spread, and filters through the API', async () => {
    const { queries } = serve();
    render(<RunRollouts runId="r1" version={0} active={false} />);
    const groups = await screen.findAllByTestId('rollout-group');
    expect(groups.map((g) => g.getAttribute('data-prompt-index'))).toEqual(['0', '1']);
    expect(within(groups[1]).getAllByTestId('rollout-row').map((r) => r.getAttribute('data-id'))).toEqual([
      's20-p1-g0',
      's20-p1-g1',
      's20-p1-g2',
    ]);
    expect(within(groups[0]).getByTestId('rollout-group-flat')).toBeTruthy();
    expect(within(groups[1]).queryByTestId('rollout-group-flat')).toBeNull();
    expect(within(groups[1]).getByTestId('rollout-expected').textContent).toBe('2');
    expect(screen.getByTestId('rollouts-count').textContent).toBe('5 completions at step 20');
    expect(queries[0].has('step')).toBe(false); // latest: the server's default
    expect(queries[0].get('filter')).toBe('all');

    const wholeStd = within(groups[1]).getByTestId('rollout-group-std').textContent;
    fireEvent.change(screen.getByTestId('rollouts-filter'), { target: { value: 'correct' } });
    await waitFor(() => expect(screen.getAllByTestId('rollout-row')).toHaveLength(2));
    expect(queries.some((q) => q.get('filter') === 'correct')).toBe(true);
    // The group statistics still describe every generation of the prompt, read unfiltered.
    expect((await screen.findByTestId('rollout-group-shown')).textContent).toBe(' · showing 2 of 3');
    const [only] = screen.getAllByTestId('rollout-group');
    expect(within(only).getByTestId('rollout-group-std').textContent).toBe(wholeStd);
    expect(within(only).getByTestId('rollout-group-stats').textContent).toContain('2/3 correct');
    expect(queries.at(-1)?.get('filter')).toBe('all');
    expect(queries.at(-1)?.get('step')).toBe('20');

    fireEvent.change(screen.getByTestId('rollouts-filter'), { target: { value: 'format_right_answer_wrong' } });
    await waitFor(() =>
      expect(screen.getAllByTestId('rollout-row').map((r) => r.getAttribute('data-id'))).toEqual(['s20-p0-g0', 's20-p0-g1']),
    );
    expect(screen.getAllByTestId('rollout-correct').every((c) => c.textContent === '✗')).toBe(true);

    fireEvent.change(screen.getByTestId('rollouts-step'), { target: { value: '10' } });
    await waitFor(() => expect(screen.getByTestId('rollouts-count').textContent).toBe('1 completion at step 10'));
    expect(queries.at(-1)?.get('step')).toBe('10');
    expect(screen.getAllByTestId('rollout-row').map((r) => r.getAttribute('data-id'))).toEqual(['s10-p0-g1']);
  });

  it('saves the selected completions as traces and says what it created', async () => {
    const { posted } = serve();
    render(<RunRollouts runId="r1" version={0} active={false} />);
    const groups = await screen.findAllByTestId('rollout-group');
    const save = screen.getByTestId('rollouts-save') as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    // One whole group, then one generation of the other, then one taken back out.
    fireEvent.click(within(groups[1]).getByTestId('rollout-group-select'));
    fireEvent.click(within(groups[0]).getAllByTestId('rollout-select')[1]);
    fireEvent.click(within(groups[1]).getAllByTestId('rollout-select')[0]);
    expect(save.disabled).toBe(false);
    fireEvent.click(save);
    const message = await screen.findByTestId('rollouts-saved');
    expect(posted).toEqual([{ ids: ['s20-p1-g1', 's20-p1-g2', 's20-p0-g1'] }]);
    expect(message.textContent).toContain('Saved 3 traces');
    expect(within(message).getAllByRole('link').map((a) => a.getAttribute('href'))).toEqual([
      '/traces/trace-s20-p1-g1',
      '/traces/trace-s20-p1-g2',
      '/traces/trace-s20-p0-g1',
      '/traces?source=rollout',
    ]);
    expect(screen.getAllByTestId('rollout-select').every((c) => !(c as HTMLInputElement).checked)).toBe(true);

    fireEvent.click(screen.getByTestId('rollouts-select-all'));
    expect(screen.getAllByTestId('rollout-select').every((c) => (c as HTMLInputElement).checked)).toBe(true);
  });

  it('pages through a step, each group\'s statistics of all its generations', async () => {
    serve();
    render(<RunRollouts runId="r1" version={0} active={false} pageSize={3} />);
    await waitFor(() => expect(screen.getAllByTestId('rollout-row')).toHaveLength(3));
    expect(screen.getAllByTestId('rollout-row').map((r) => r.getAttribute('data-id'))).toEqual([
      's20-p0-g0',
      's20-p0-g1',
      's20-p1-g0',
    ]);
    expect((await screen.findByTestId('rollout-group-shown')).textContent).toBe(' · showing 1 of 3');
    expect(screen.getAllByTestId('rollout-group-stats')[1].textContent).toContain('2/3 correct');
    fireEvent.click(screen.getByTestId('rollouts-next'));
    await waitFor(() =>
      expect(screen.getAllByTestId('rollout-row').map((r) => r.getAttribute('data-id'))).toEqual(['s20-p1-g1', 's20-p1-g2']),
    );
    expect(screen.getByTestId('rollout-group-shown').textContent).toBe(' · showing 2 of 3');
    expect((screen.getByTestId('rollouts-next') as HTMLButtonElement).disabled).toBe(true);
  });

  it('re-reads while the run is running, so a new step shows up', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const { queries } = serve();
      render(<RunRollouts runId="r1" version={0} active />);
      await screen.findAllByTestId('rollout-group');
      const before = queries.length;
      await vi.advanceTimersByTimeAsync(3100);
      await waitFor(() => expect(queries.length).toBeGreaterThan(before));
    } finally {
      vi.useRealTimers();
    }
  });

  it('says so when the run has stored no rollouts yet', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify({ steps: [], step: null, total: 0, items: [] }), { status: 200 })),
    );
    render(<RunRollouts runId="r1" version={0} active={false} />);
    expect((await screen.findByTestId('rollouts-empty')).textContent).toContain('No rollouts stored yet');
  });
});

import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { diffParams } from '../components/params';
import { RunComparePage, parseRunIds, runLabel } from '../pages/RunComparePage';
import { RunsPage } from '../pages/RunsPage';
import { mockFetch } from './fetchMock';

const A = 'aaaaaaaa-0000-0000-0000-000000000001';
const B = 'bbbbbbbb-0000-0000-0000-000000000002';

function run(id: string, extra: Record<string, unknown> = {}) {
  return {
    run_id: id,
    name: null,
    status: 'completed',
    mode: 'async',
    dataset_key: 'duel-v1',
    model_id: 'tiny',
    dry_run: false,
    request: {},
    priority: 0,
    attempt: 1,
    max_attempts: 3,
    worker_id: null,
    created_at: '2026-01-01T00:00:00Z',
    started_at: '2026-01-01T00:00:01Z',
    finished_at: '2026-01-01T00:01:00Z',
    duration_s: 59,
    exit_code: 0,
    error: null,
    last_step: 2,
    max_steps: 2,
    log_lines: 0,
    log_dropped_lines: 0,
    stdout_tail: '',
    stderr_tail: '',
    eval: null,
    retry_of: null,
    ...extra,
  };
}

function evaluation(id: string, runId: string) {
  return {
    evaluation_id: id,
    status: 'completed',
    run_id: runId,
    step: 2,
    checkpoint: null,
    dataset_key: 'duel-v1',
    split: 'holdout',
    scorer_version: 'v1',
    wall_s: 1,
    created_at: '2026-01-01T00:01:00Z',
    finished_at: '2026-01-01T00:01:00Z',
    summary: { exact_match: 0.5, format_ok: 1, n: 4, ci_low: 0.1, ci_high: 0.9 },
  };
}

const COMPARISON = {
  metric: 'exact_match',
  n_paired: 4,
  baseline: { value: 0.5 },
  candidate: { value: 0.75 },
  diff: 0.25,
  diff_ci_low: -0.1,
  diff_ci_high: 0.55,
  flips: { right_to_wrong: 0, wrong_to_right: 1 },
  mcnemar_p: 1,
  examples: [
    {
      example_key: 'k1',
      direction: 'wrong_to_right',
      task: null,
      prompt: 'Which card wins?',
      expected: 'B',
      baseline_generated: 'A!',
      baseline_extracted: 'A',
      candidate_generated: 'B!',
      candidate_extracted: 'B',
    },
  ],
  examples_truncated: false,
};

function routes(extra: Parameters<typeof mockFetch>[0] = []) {
  return mockFetch([
    ...extra,
    { path: `/api/tunix/runs/${A}`, body: run(A, { name: 'lr-small' }) },
    { path: `/api/tunix/runs/${B}`, body: run(B) },
    {
      path: `/api/tunix/runs/${A}/metrics`,
      body: { data: [{ name: 'loss', step: 1, value: 2, wall_s: 1 }, { name: 'eval/exact_match', step: 2, value: 0.5, wall_s: 2 }] },
    },
    { path: `/api/tunix/runs/${B}/metrics`, body: { data: [{ name: 'loss', step: 1, value: 3, wall_s: 1 }] } },
    {
      path: `/api/tunix/runs/${A}/params`,
      body: { source: 'spec.json', data: { run_id: A, 'hyperparameters.learning_rate': 0.003, 'hyperparameters.seed': 0 } },
    },
    {
      path: `/api/tunix/runs/${B}/params`,
      body: { source: 'spec.json', data: { run_id: B, 'hyperparameters.learning_rate': 0.01, 'hyperparameters.seed': 0 } },
    },
    { path: '/api/compare/evaluations', body: COMPARISON },
  ]);
}

describe('RunComparePage', () => {
  beforeEach(() => window.history.replaceState(null, '', '/compare'));
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('overlays every metric, highlights differing parameters and pairs the evaluations', async () => {
    const fetchSpy = routes();
    // The evaluation list answers per run (the mock matches paths only, so branch on the query).
    const inner = fetchSpy.getMockImplementation()!;
    fetchSpy.mockImplementation(async (input, init) => {
      const url = String(input);
      if (url.startsWith('/api/evaluations')) {
        const q = new URLSearchParams(url.split('?')[1]);
        const body = q.get('run_id') === A ? [evaluation('e-a', A)] : [evaluation('e-b', B)];
        return new Response(JSON.stringify({ data: body, total: 1, next_offset: null }), { status: 200 });
      }
      return inner(input, init);
    });
    render(<RunComparePage search={new URLSearchParams(`runs=${A},${B},${A}`)} />);

    const legend = await screen.findByTestId('compare-legend');
    const items = within(legend).getAllByTestId('legend-item');
    expect(items.map((i) => i.textContent)).toEqual([expect.stringContaining('lr-small'), expect.stringContaining('bbbbbbbb')]);
    expect(items[0].getAttribute('data-color')).not.toBe(items[1].getAttribute('data-color'));

    const loss = await screen.findByTestId('loss-chart');
    expect(loss.getAttribute('data-series-count')).toBe('2');
    expect(loss.getAttribute('data-point-count')).toBe('2');
    expect(document.querySelector('[data-metric="eval/exact_match"]')).toBeTruthy();

    // Only the differing parameter is listed (run_id names the run: not a difference).
    const rows = screen.getAllByTestId('param-diff-row');
    expect(rows.map((r) => r.getAttribute('data-key'))).toEqual(['hyperparameters.learning_rate']);
    expect(rows[0].className).toContain('param-differs');
    fireEvent.click(screen.getByTestId('params-show-all'));
    expect(screen.getAllByTestId('param-diff-row').map((r) => [r.getAttribute('data-key'), r.getAttribute('data-differs')])).toEqual([
      ['hyperparameters.learning_rate', 'true'],
      ['hyperparameters.seed', 'false'],
      ['run_id', 'false'],
    ]);

    expect((await screen.findByTestId('paired-n')).textContent).toBe('4');
    expect(screen.getByTestId('paired-diff').textContent).toBe('+25.0 [−10.0, +55.0]');
    expect(screen.getByTestId('paired-flips').textContent).toBe('0 / 1');
    const flipped = screen.getByTestId('flipped-example');
    expect(flipped.textContent).toContain('Which card wins?');
    expect(flipped.textContent).toContain('✗→✓');
    const calls = fetchSpy.mock.calls.map((c) => String(c[0]));
    expect(calls).toContain('/api/compare/evaluations?baseline=e-a&candidate=e-b');
    expect(calls).toContain(`/api/evaluations?run_id=${B}&dataset_key=duel-v1&limit=50`);
  });

  it('says which run has nothing to pair and which id is unknown', async () => {
    const C = 'cccccccc-0000-0000-0000-000000000003';
    const fetchSpy = routes([{ path: `/api/tunix/runs/${C}`, status: 404, body: { detail: 'run not found' } }]);
    const inner = fetchSpy.getMockImplementation()!;
    fetchSpy.mockImplementation(async (input, init) => {
      const url = String(input);
      if (url.startsWith('/api/evaluations')) {
        const q = new URLSearchParams(url.split('?')[1]);
        const body = q.get('run_id') === A ? [evaluation('e-a', A)] : [];
        return new Response(JSON.stringify({ data: body, total: body.length, next_offset: null }), { status: 200 });
      }
      return inner(input, init);
    });
    render(<RunComparePage search={new URLSearchParams(`runs=${A},${B},${C}`)} />);
    expect((await screen.findByTestId('legend-error')).textContent).toBe('run not found');
    expect((await screen.findByTestId('paired-problem')).textContent).toBe('no completed evaluation on duel-v1');
  });

  it('asks for two runs when given fewer, and fetches nothing', async () => {
    const fetchSpy = mockFetch([]);
    render(<RunComparePage search={new URLSearchParams(`runs=${A}`)} />);
    expect(screen.getByTestId('compare-need-two')).toBeTruthy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('compare helpers', () => {
  it('parses, de-duplicates and labels run ids', () => {
    expect(parseRunIds(' a, b,,a ')).toEqual(['a', 'b']);
    expect(parseRunIds(null)).toEqual([]);
    expect(runLabel({ run_id: A, name: 'x' }, A)).toBe('x');
    expect(runLabel({ run_id: A, name: null }, A)).toBe('aaaaaaaa');
    expect(runLabel(undefined, B)).toBe('bbbbbbbb');
  });

  it('diffs parameters key by key, a missing key counting as a difference', () => {
    expect(diffParams([{ a: 1, b: [1, 2] }, { a: 1, b: [1, 3], c: null }])).toEqual([
      { key: 'a', values: ['1', '1'], differs: false },
      { key: 'b', values: ['[1,2]', '[1,3]'], differs: true },
      { key: 'c', values: ['—', 'null'], differs: true },
    ]);
  });
});

describe('RunsPage selection', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('enables Compare for two ticked runs and opens the compare page in tick order', async () => {
    window.history.replaceState(null, '', '/runs');
    mockFetch([
      {
        path: '/api/tunix/runs',
        body: { data: [run(A), run(B)], pagination: { limit: 50, offset: 0, next_offset: null } },
      },
    ]);
    render(<RunsPage search={new URLSearchParams()} />);
    await waitFor(() => expect(screen.getAllByTestId('run-select')).toHaveLength(2));
    const button = screen.getByTestId('compare-runs') as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    const boxes = screen.getAllByTestId('run-select');
    fireEvent.click(boxes[1]);
    expect(button.textContent).toBe('Compare (1)');
    expect(button.disabled).toBe(true);
    fireEvent.click(boxes[0]);
    expect(button.disabled).toBe(false);
    fireEvent.click(button);
    expect(window.location.pathname + window.location.search).toBe(`/compare?runs=${B},${A}`);
  });
});

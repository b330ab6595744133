import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EvalTab } from '../pages/RunTabs';
import { mockFetch } from './fetchMock';

const EVALUATION = {
  evaluation_id: 'ev1',
  status: 'completed',
  run_id: 'r1',
  step: 30,
  checkpoint: 'checkpoints/30',
  dataset_key: 'duel-v1',
  split: 'holdout',
  scorer_version: 'answer-v1',
  wall_s: 4.5,
  created_at: '2026-01-01T00:00:00Z',
  finished_at: '2026-01-01T00:00:05Z',
  summary: {
    exact_match: 0.55,
    format_ok: 0.9,
    n: 120,
    ci_low: 0.46,
    ci_high: 0.64,
    by_expected_answer: {
      tie: { n: 13, exact_match: 0.46, format_ok: 1, ci_low: 0.23, ci_high: 0.71 },
      A: { n: 54, exact_match: 0.6, format_ok: 0.9, ci_low: 0.47, ci_high: 0.72 },
      B: { n: 53, exact_match: 0.53, format_ok: 0.85, ci_low: 0.4, ci_high: 0.66 },
    },
  },
};

const TOTAL = 120;
const ALL_POSITIONS = Array.from({ length: TOTAL }, (_, i) => i);
const WRONG_POSITIONS = ALL_POSITIONS.filter((i) => i % 2 === 1);

function example(position: number) {
  const correct = position % 2 === 0;
  return {
    position,
    example_key: `k${position}`,
    prompt: `prompt ${position}`,
    expected: 'A',
    generated: correct ? 'answer: A' : 'answer: B',
    extracted: correct ? 'A' : 'B',
    correct,
    format_ok: true,
    task: 'high_card_duel',
    trace_id: null,
    tokens: 12,
    latency_ms: 3.5,
  };
}

/** A fake server: the evaluation list of run r1 and its examples paged by limit/offset/correct. */
function serveEvaluations(evaluations: unknown[]) {
  const spy = vi.fn(async (input: RequestInfo | URL) => {
    const url = new URL(String(input), 'http://localhost');
    const json = (body: unknown) =>
      new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    if (url.pathname === '/api/evaluations') {
      return json({ data: evaluations.slice(0, 1), total: evaluations.length, next_offset: null });
    }
    if (url.pathname === '/api/evaluations/ev1/examples') {
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const positions = url.searchParams.get('correct') === 'false' ? WRONG_POSITIONS : ALL_POSITIONS;
      const slice = positions.slice(offset, offset + limit);
      return json({
        data: slice.map(example),
        total: positions.length,
        next_offset: offset + limit < positions.length ? offset + limit : null,
      });
    }
    return new Response(JSON.stringify({ detail: `no mock for ${url}` }), { status: 404 });
  });
  vi.stubGlobal('fetch', spy);
  return spy;
}

function exampleCalls(spy: ReturnType<typeof serveEvaluations>): URLSearchParams[] {
  return spy.mock.calls
    .map(([input]) => new URL(String(input), 'http://localhost'))
    .filter((url) => url.pathname.endsWith('/examples'))
    .map((url) => url.searchParams);
}

function shownPositions(): number[] {
  return screen.getAllByTestId('eval-example').map((row) => Number(row.getAttribute('data-position')));
}

describe('EvalTab', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows the newest evaluation record with its interval and per-class table', async () => {
    const spy = serveEvaluations([EVALUATION]);
    render(<EvalTab runId="r1" version={0} />);
    expect((await screen.findByTestId('eval-exact-match')).textContent).toBe('55.0%');
    expect(screen.getByTestId('eval-interval').textContent).toBe('95% CI 46.0%–64.0%');
    expect(screen.getByTestId('eval-n').textContent).toBe('120');
    const list = spy.mock.calls.map(([input]) => new URL(String(input), 'http://localhost')).find((u) => u.pathname === '/api/evaluations');
    expect(list?.searchParams.get('run_id')).toBe('r1');
    const classes = screen.getAllByTestId('eval-class-row');
    expect(classes.map((row) => row.getAttribute('data-class'))).toEqual(['A', 'B', 'tie']);
    const tie = within(classes[2]);
    expect(tie.getByTestId('eval-class-n').textContent).toBe('13');
    expect(tie.getByTestId('eval-class-exact-match').textContent).toContain('46.0%');
    expect(tie.getByTestId('interval-range').textContent).toBe('23.0%–71.0%');
  });

  it('pages the examples 50 at a time', async () => {
    const spy = serveEvaluations([EVALUATION]);
    render(<EvalTab runId="r1" version={0} />);
    await waitFor(() => expect(screen.getAllByTestId('eval-example')).toHaveLength(50));
    expect(shownPositions()[0]).toBe(0);
    expect(screen.getByTestId('eval-page-range').textContent).toBe('1–50 of 120');
    expect((screen.getByTestId('eval-page-prev') as HTMLButtonElement).disabled).toBe(true);

    fireEvent.click(screen.getByTestId('eval-page-next'));
    await waitFor(() => expect(shownPositions()[0]).toBe(50));
    expect(exampleCalls(spy).at(-1)?.get('offset')).toBe('50');
    expect(exampleCalls(spy).at(-1)?.get('limit')).toBe('50');

    fireEvent.click(screen.getByTestId('eval-page-next'));
    await waitFor(() => expect(shownPositions()).toHaveLength(20));
    expect(screen.getByTestId('eval-page-range').textContent).toBe('101–120 of 120');
    expect((screen.getByTestId('eval-page-next') as HTMLButtonElement).disabled).toBe(true);

    fireEvent.click(screen.getByTestId('eval-page-prev'));
    await waitFor(() => expect(shownPositions()[0]).toBe(50));
  });

  it('shows only wrong answers when asked, from the first page', async () => {
    const spy = serveEvaluations([EVALUATION]);
    render(<EvalTab runId="r1" version={0} />);
    await waitFor(() => expect(screen.getAllByTestId('eval-example')).toHaveLength(50));
    fireEvent.click(screen.getByTestId('eval-page-next'));
    await waitFor(() => expect(shownPositions()[0]).toBe(50));
    expect(exampleCalls(spy).at(-1)?.get('correct')).toBeNull();

    fireEvent.click(screen.getByTestId('eval-only-wrong'));
    await waitFor(() => expect(shownPositions()[0]).toBe(1));
    expect(exampleCalls(spy).at(-1)?.get('correct')).toBe('false');
    expect(exampleCalls(spy).at(-1)?.get('offset')).toBe('0');
    const rows = screen.getAllByTestId('eval-example');
    expect(rows.every((row) => row.getAttribute('data-correct') === 'false')).toBe(true);
    expect(screen.getByTestId('eval-page-range').textContent).toBe('1–50 of 60');

    fireEvent.click(screen.getByTestId('eval-only-wrong'));
    await waitFor(() => expect(shownPositions()[0]).toBe(0));
    expect(exampleCalls(spy).at(-1)?.get('correct')).toBeNull();
  });

  it('falls back to the stored eval.json for a run without an evaluation record', async () => {
    mockFetch([
      { path: '/api/evaluations', body: { data: [], total: 0, next_offset: null } },
      {
        path: '/api/tunix/runs/r1/eval',
        body: {
          summary: { exact_match: 0.5, format_ok: 1, n: 2 },
          examples: [
            { id: 'a', prompt: 'p1', expected_answer: 'A', generated: 'A', extracted_answer: 'A', correct: true, format_ok: true },
            { id: 'b', prompt: 'p2', expected_answer: 'B', generated: 'A', extracted_answer: 'A', correct: false, format_ok: true },
          ],
        },
      },
    ]);
    render(<EvalTab runId="r1" version={0} />);
    expect((await screen.findByTestId('eval-exact-match')).textContent).toBe('50.0%');
    expect(screen.getAllByTestId('eval-example')).toHaveLength(2);
    expect(screen.queryByTestId('eval-record')).toBeNull();
    expect(screen.queryByTestId('eval-only-wrong')).toBeNull();
  });
});

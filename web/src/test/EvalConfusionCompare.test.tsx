import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Evaluation } from '../api/types';
import { alignSteps, firstDifference, stepsFromGeneration } from '../lib/steps';
import { EvaluationRecord } from '../pages/EvaluationRecord';

const GOLD_ID = '0b5e3c1a-1111-4222-8333-444455556666';

const EVALUATION: Evaluation = {
  evaluation_id: 'ev1',
  status: 'completed',
  run_id: 'r1',
  step: 30,
  checkpoint: null,
  dataset_key: 'duel-v1',
  split: 'holdout',
  scorer_version: 'answer-v1',
  wall_s: 1,
  created_at: '2026-01-01T00:00:00Z',
  finished_at: '2026-01-01T00:00:01Z',
  summary: { exact_match: 0.5, format_ok: 1, n: 2, ci_low: 0.1, ci_high: 0.9, by_expected_answer: null },
} as Evaluation;

const CONFUSION = {
  evaluation_id: 'ev1',
  n: 13,
  classes: ['A', 'B', 'tie'],
  rows: [
    { expected: 'A', n: 7, counts: [3, 1, 0], other: 2, none: 1 },
    { expected: 'B', n: 3, counts: [1, 2, 0], other: 0, none: 0 },
    { expected: 'tie', n: 3, counts: [0, 0, 1], other: 0, none: 2 },
  ],
};

const WRONG = {
  position: 0,
  example_key: 'k0',
  prompt: 'A has 7, B has 9. Who wins?',
  expected: 'B',
  generated: 'Reasoning:\n1. A has 7\n2. B has 5\n3. 7 > 5\nAnswer: A',
  extracted: 'A',
  correct: false,
  format_ok: true,
  task: 'high_card_duel',
  trace_id: GOLD_ID,
  tokens: 20,
  latency_ms: 1,
};

const UNLINKED = { ...WRONG, position: 1, example_key: 'k1', trace_id: null, generated: 'B wins', extracted: null };

const GOLD = {
  id: GOLD_ID,
  created_at: '2026-01-01T00:00:00Z',
  trace_version: '1',
  scores: [],
  payload: {
    prompt: WRONG.prompt,
    final_answer: 'B',
    meta: {},
    trace_version: '1',
    // Out of order on purpose: the view orders by i.
    steps: [
      { i: 2, type: 'reasoning', content: '9 > 7' },
      { i: 0, type: 'reasoning', content: 'A has 7' },
      { i: 1, type: 'reasoning', content: 'B has 9' },
    ],
  },
};

function serve(confusion: { status: number; body: unknown }) {
  const spy = vi.fn(async (input: RequestInfo | URL) => {
    const url = new URL(String(input), 'http://localhost');
    const reply = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (url.pathname === '/api/evaluations/ev1/confusion') return reply(confusion.status, confusion.body);
    if (url.pathname === '/api/evaluations/ev1/examples') {
      return reply(200, { data: [WRONG, UNLINKED], total: 2, next_offset: null });
    }
    if (url.pathname === `/api/traces/${GOLD_ID}`) return reply(200, GOLD);
    return reply(404, { detail: `no mock for ${url}` });
  });
  vi.stubGlobal('fetch', spy);
  return spy;
}

function cellText(row: HTMLElement): string[] {
  return within(row).getAllByTestId('eval-confusion-cell').map((c) => c.textContent ?? '');
}

describe('confusion table', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows expected against extracted counts with other and (none) columns', async () => {
    serve({ status: 200, body: CONFUSION });
    render(<EvaluationRecord evaluation={EVALUATION} total={1} />);
    await screen.findByTestId('eval-confusion');
    const columns = screen.getAllByTestId('eval-confusion-column').map((c) => c.textContent);
    expect(columns).toEqual(['A', 'B', 'tie', 'other', '(none)']);
    const rows = screen.getAllByTestId('eval-confusion-row');
    expect(rows.map((r) => r.getAttribute('data-expected'))).toEqual(['A', 'B', 'tie']);
    expect(cellText(rows[0])).toEqual(['3', '1', '0', '2', '1']);
    expect(cellText(rows[1])).toEqual(['1', '2', '0', '0', '0']);
    expect(cellText(rows[2])).toEqual(['0', '0', '1', '0', '2']);
    // The diagonal is right, any other non-zero cell wrong.
    const a = within(rows[0]).getAllByTestId('eval-confusion-cell');
    expect(a[0].className).toBe('good');
    expect(a[1].className).toBe('bad');
    expect(a[2].className).toBe('muted');
  });

  it('leaves out the other and (none) columns when they are empty', async () => {
    serve({
      status: 200,
      body: { ...CONFUSION, rows: CONFUSION.rows.map((r) => ({ ...r, other: 0, none: 0 })) },
    });
    render(<EvaluationRecord evaluation={EVALUATION} total={1} />);
    await screen.findByTestId('eval-confusion');
    expect(screen.getAllByTestId('eval-confusion-column').map((c) => c.textContent)).toEqual(['A', 'B', 'tie']);
  });

  it('shows the server note instead of a table when there are too many classes', async () => {
    const detail = 'evaluation ev1 has 37 distinct expected answers; a confusion table is only computed for at most 20';
    serve({ status: 409, body: { detail } });
    render(<EvaluationRecord evaluation={EVALUATION} total={1} />);
    const note = await screen.findByTestId('eval-confusion-note');
    expect(note.textContent).toBe(`No confusion table: ${detail}`);
    expect(screen.queryByTestId('eval-confusion')).toBeNull();
  });
});

describe('compare with the gold trace', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('aligns the model steps with the gold steps and marks the first difference', async () => {
    const spy = serve({ status: 200, body: CONFUSION });
    render(<EvaluationRecord evaluation={EVALUATION} total={1} />);
    await waitFor(() => expect(screen.getAllByTestId('eval-example')).toHaveLength(2));
    expect(screen.queryByTestId('gold-compare')).toBeNull();
    fireEvent.click(screen.getAllByTestId('eval-compare-toggle')[0]);

    await screen.findByTestId('gold-compare-gold-answer');
    const fetched = spy.mock.calls.map(([input]) => new URL(String(input), 'http://localhost').pathname);
    expect(fetched).toContain(`/api/traces/${GOLD_ID}`);
    const steps = screen.getAllByTestId('gold-compare-step');
    expect(steps).toHaveLength(3);
    const cells = steps.map((row) => Array.from(row.querySelectorAll('td.pre')).map((td) => td.textContent));
    expect(cells).toEqual([
      ['A has 7', 'A has 7'],
      ['B has 5', 'B has 9'],
      ['7 > 5', '9 > 7'],
    ]);
    expect(steps.map((row) => row.getAttribute('data-first-diff'))).toEqual(['false', 'true', 'false']);
    expect(within(steps[1]).getByTestId('gold-compare-first-diff').textContent).toBe('first difference');
    expect(steps[0].className).toBe('');
    expect(steps[1].className).toBe('differ');
    expect(screen.getByTestId('gold-compare-expected').textContent).toBe('B');
    expect(screen.getByTestId('gold-compare-extracted').textContent).toBe('A');
    expect(screen.getByTestId('gold-compare-gold-answer').textContent).toBe('B');

    fireEvent.click(screen.getAllByTestId('eval-compare-toggle')[0]);
    expect(screen.queryByTestId('gold-compare')).toBeNull();
  });

  it('shows the model steps alone when no gold trace is linked', async () => {
    const spy = serve({ status: 200, body: CONFUSION });
    render(<EvaluationRecord evaluation={EVALUATION} total={1} />);
    await waitFor(() => expect(screen.getAllByTestId('eval-example')).toHaveLength(2));
    fireEvent.click(screen.getAllByTestId('eval-compare-toggle')[1]);
    expect((await screen.findByTestId('gold-compare-missing')).textContent).toContain('No gold trace');
    const steps = screen.getAllByTestId('gold-compare-step');
    expect(steps).toHaveLength(1);
    expect(steps[0].querySelector('td.pre')?.textContent).toBe('B wins');
    expect(screen.queryByTestId('gold-compare-first-diff')).toBeNull();
    expect(screen.getByTestId('gold-compare-extracted').textContent).toBe('—');
    const paths = spy.mock.calls.map(([input]) => new URL(String(input), 'http://localhost').pathname);
    expect(paths.some((p) => p.startsWith('/api/traces/'))).toBe(false);
  });
});

describe('steps', () => {
  it('splits numbered lines like the worker does, else one step', () => {
    expect(stepsFromGeneration('Reasoning:\n1. a  \n 2) b\nnot a step\n3.c\nAnswer: x')).toEqual(['a', 'b']);
    expect(stepsFromGeneration('  just text  ')).toEqual(['just text']);
    expect(stepsFromGeneration('   ')).toEqual(['(no answer)']);
  });

  it('aligns the longer side and finds the first difference', () => {
    const rows = alignSteps(['a', 'B  x'], ['a', 'b x', 'c']);
    expect(rows.map((r) => r.same)).toEqual([true, true, false]);
    expect(firstDifference(rows)).toBe(2);
    expect(firstDifference(alignSteps(['a'], ['a']))).toBeNull();
  });
});

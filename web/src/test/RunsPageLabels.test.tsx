import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useLocation } from '../lib/router';
import { RunsPage } from '../pages/RunsPage';
import { mockFetch } from './fetchMock';

const ROW = {
  run_id: 'aaaabbbb-0000-4000-8000-000000000000',
  status: 'completed',
  mode: 'async',
  kind: 'train',
  name: 'Baseline LR',
  tags: ['lr', 'sweep'],
  dataset_key: 'duel-v1',
  model_id: 'tiny',
  dry_run: false,
  attempt: 1,
  max_attempts: 3,
  created_at: '2026-01-01T00:00:00Z',
  duration_s: 3,
  last_step: 3,
  max_steps: 3,
  eval: null,
};

function Routed() {
  const { search } = useLocation();
  return <RunsPage search={search} />;
}

describe('RunsPage names and tags', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows names and tags, and filters by name and by every chosen tag', async () => {
    window.history.replaceState(null, '', '/runs');
    const spy = mockFetch([
      { path: '/api/tunix/runs', body: { data: [ROW], pagination: { limit: 50, offset: 0, next_offset: null } } },
    ]);
    render(<Routed />);
    expect((await screen.findByTestId('run-name')).textContent).toBe('Baseline LR');
    expect(screen.getAllByTestId('row-tag').map((t) => t.textContent)).toEqual(['lr', 'sweep']);

    const name = screen.getByTestId('filter-name');
    fireEvent.change(name, { target: { value: 'baseline' } });
    fireEvent.keyDown(name, { key: 'Enter' });
    await waitFor(() => expect(window.location.search).toBe('?q=baseline'));

    fireEvent.click(screen.getAllByTestId('row-tag')[1]); // "sweep"
    await waitFor(() => expect(new URLSearchParams(window.location.search).get('tags')).toBe('sweep'));
    const tagsInput = screen.getByTestId('filter-tags');
    expect((tagsInput as HTMLInputElement).value).toBe('sweep');
    fireEvent.change(tagsInput, { target: { value: 'sweep, lr' } });
    fireEvent.keyDown(tagsInput, { key: 'Enter' });
    await waitFor(() => expect(new URLSearchParams(window.location.search).get('tags')).toBe('sweep,lr'));

    await waitFor(() => {
      const last = String(spy.mock.calls[spy.mock.calls.length - 1][0]);
      const params = new URL(last, 'http://x').searchParams;
      expect(params.get('q')).toBe('baseline');
      expect(params.getAll('tag')).toEqual(['sweep', 'lr']);
    });
  });
});

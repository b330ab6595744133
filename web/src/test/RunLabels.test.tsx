import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Run } from '../api/types';
import { RunName, RunTagsNotes } from '../pages/RunLabels';
import { mockFetch } from './fetchMock';

const RUN_ID = 'aaaabbbb-0000-4000-8000-000000000000';
const BASE_RUN = { run_id: RUN_ID, name: null, tags: ['old'], notes: '' } as unknown as Run;

function Harness({ start }: { start: Run }) {
  const [run, setRun] = useState(start);
  return (
    <>
      <h1>
        <RunName runId={RUN_ID} run={run} onSaved={setRun} />
      </h1>
      <RunTagsNotes run={run} onSaved={setRun} />
    </>
  );
}

function patchBodies(spy: ReturnType<typeof mockFetch>): unknown[] {
  return spy.mock.calls.filter(([, init]) => init?.method === 'PATCH').map(([, init]) => JSON.parse(String(init?.body)));
}

describe('run labels on the run page', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('renames, adds and removes tags and edits notes through PATCH', async () => {
    const path = `/api/tunix/runs/${RUN_ID}`;
    const spy = mockFetch([{ method: 'PATCH', path, body: { ...BASE_RUN, name: 'Baseline' } }]);
    render(<Harness start={BASE_RUN} />);
    expect(screen.getByTestId('run-title').textContent).toBe('aaaabbbb'); // no name: the short id

    fireEvent.click(screen.getByTestId('edit-name'));
    fireEvent.change(screen.getByTestId('name-input'), { target: { value: ' Baseline ' } });
    fireEvent.click(screen.getByTestId('save-name'));
    await waitFor(() => expect(screen.getByTestId('run-title').textContent).toBe('Baseline'));

    spy.mockImplementation(async () => new Response(JSON.stringify({ ...BASE_RUN, name: 'Baseline', tags: ['lr', 'old', 'sweep'] })));
    fireEvent.change(screen.getByTestId('tag-input'), { target: { value: 'sweep, lr' } });
    fireEvent.click(screen.getByTestId('add-tag'));
    await waitFor(() => expect(screen.getAllByTestId('run-tag-chip')).toHaveLength(3));
    expect((screen.getByTestId('tag-input') as HTMLInputElement).value).toBe('');

    spy.mockImplementation(async () => new Response(JSON.stringify({ ...BASE_RUN, name: 'Baseline', tags: ['lr', 'sweep'] })));
    fireEvent.click(screen.getAllByTestId('remove-tag')[1]); // "old"
    await waitFor(() => expect(screen.getAllByTestId('run-tag-chip')).toHaveLength(2));

    spy.mockImplementation(
      async () => new Response(JSON.stringify({ ...BASE_RUN, name: 'Baseline', tags: ['lr', 'sweep'], notes: 'why\nhow' })),
    );
    fireEvent.click(screen.getByTestId('edit-notes'));
    fireEvent.change(screen.getByTestId('notes-input'), { target: { value: 'why\nhow' } });
    fireEvent.click(screen.getByTestId('save-notes'));
    await waitFor(() => expect(screen.getByTestId('run-notes-view').textContent).toBe('why\nhow'));

    expect(patchBodies(spy)).toEqual([
      { name: 'Baseline' },
      { add_tags: ['sweep', 'lr'] },
      { remove_tags: ['old'] },
      { notes: 'why\nhow' },
    ]);
  });

  it('checks a tag before sending and shows the API refusal otherwise', async () => {
    const spy = mockFetch([
      {
        method: 'PATCH',
        path: `/api/tunix/runs/${RUN_ID}`,
        status: 422,
        body: { detail: 'a run holds at most 20 tags; this change would leave 21' },
      },
    ]);
    render(<Harness start={BASE_RUN} />);
    fireEvent.change(screen.getByTestId('tag-input'), { target: { value: 'bad/tag' } });
    fireEvent.click(screen.getByTestId('add-tag'));
    expect((await screen.findByTestId('labels-error')).textContent).toContain("tag 'bad/tag'");
    expect(spy).not.toHaveBeenCalled();

    fireEvent.change(screen.getByTestId('tag-input'), { target: { value: 'fine' } });
    fireEvent.click(screen.getByTestId('add-tag'));
    await waitFor(() => expect(screen.getByTestId('labels-error').textContent).toContain('at most 20 tags'));
    expect(screen.getAllByTestId('run-tag-chip')).toHaveLength(1);
  });
});

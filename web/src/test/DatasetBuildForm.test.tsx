import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DatasetBuildForm, PREVIEW_DEBOUNCE_MS } from '../pages/DatasetBuildForm';

describe('DatasetBuildForm', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('previews the matching count once typing pauses, not on every keystroke', async () => {
    const calls: { url: string; body: Record<string, unknown> }[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
        calls.push({ url, body });
        const filters = body.filters as { task?: string };
        return new Response(JSON.stringify({ trace_count: filters.task === 'addition' ? 7 : 40 }), { status: 200 });
      }),
    );
    render(<DatasetBuildForm />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(PREVIEW_DEBOUNCE_MS + 10);
    });
    expect(screen.getByTestId('preview-count').textContent).toBe('40 traces match');

    fireEvent.change(screen.getByTestId('dataset-task'), { target: { value: 'addition' } });
    fireEvent.change(screen.getByTestId('dataset-limit'), { target: { value: '5' } });
    fireEvent.change(screen.getByTestId('dataset-limit'), { target: { value: '50' } });
    await act(async () => {
      await vi.advanceTimersByTimeAsync(PREVIEW_DEBOUNCE_MS + 10);
    });
    expect(calls).toHaveLength(2);
    expect(calls[1].url).toBe('/api/datasets/preview');
    expect(calls[1].body).toMatchObject({ filters: { task: 'addition' }, limit: 50, selection_strategy: 'latest' });
    expect(calls[1].body).not.toHaveProperty('dataset_name');
    expect(screen.getByTestId('preview-count').textContent).toBe('7 traces match');
  });
});

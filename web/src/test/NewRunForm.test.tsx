import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NewRunForm } from '../pages/NewRunPage';
import { mockFetch } from './fetchMock';

describe('NewRunForm', () => {
  beforeEach(() => {
    window.history.replaceState(null, '', '/runs/new');
    window.localStorage.clear();
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows the API validation errors next to the fields they name', async () => {
    const fetchSpy = mockFetch([
      {
        method: 'POST',
        path: '/api/tunix/run',
        status: 422,
        body: {
          detail: 'body.max_steps: Input should be greater than or equal to 1',
          errors: [
            { field: 'body.max_steps', message: 'Input should be greater than or equal to 1', type: 'greater_than_equal' },
            { field: 'body.learning_rate', message: 'Input should be less than or equal to 1', type: 'less_than_equal' },
          ],
        },
      },
    ]);
    render(<NewRunForm datasets={['duel-v1']} />);
    fireEvent.change(screen.getByTestId('run-max_steps'), { target: { value: '0' } });
    fireEvent.change(screen.getByTestId('run-learning_rate'), { target: { value: '5' } });
    fireEvent.click(screen.getByTestId('run-submit'));

    expect((await screen.findByTestId('field-error-max_steps')).textContent).toBe(
      'Input should be greater than or equal to 1',
    );
    expect(screen.getByTestId('field-error-learning_rate').textContent).toBe('Input should be less than or equal to 1');
    expect(screen.getByTestId('run-max_steps').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('error-banner').textContent).toContain('HTTP 422');
    expect(window.location.pathname).toBe('/runs/new');

    const [url, init] = fetchSpy.mock.calls[0];
    expect(url).toBe('/api/tunix/run?mode=async');
    expect(JSON.parse(String(init?.body))).toEqual({
      dataset_key: 'duel-v1',
      dry_run: false,
      model_id: 'tiny',
      max_steps: 0,
      batch_size: 16,
      learning_rate: 5,
      max_seq_length: 128,
      seed: 0,
      save_every_steps: 100,
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

import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NewRunForm } from '../pages/NewRunPage';
import { mockFetch } from './fetchMock';

describe('NewRunForm with a local model directory', () => {
  beforeEach(() => {
    window.history.replaceState(null, '', '/runs/new');
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  async function submitLocal(modelId: string | null) {
    const fetchSpy = mockFetch([
      { method: 'POST', path: '/api/tunix/run', status: 202, body: { run_id: 'new-2', status: 'pending' } },
    ]);
    render(<NewRunForm datasets={['duel-v1']} />);
    fireEvent.change(screen.getByTestId('run-model'), { target: { value: 'local' } });
    expect((screen.getByTestId('run-model-id') as HTMLInputElement).value).toBe('');
    if (modelId !== null) fireEvent.change(screen.getByTestId('run-model-id'), { target: { value: modelId } });
    fireEvent.change(screen.getByTestId('run-model-path'), { target: { value: '/models/qwen3-tiny' } });
    fireEvent.click(screen.getByTestId('run-submit'));
    await waitFor(() => expect(window.location.pathname).toBe('/runs/new-2'));
    return JSON.parse(String(fetchSpy.mock.calls[0][1]?.body)) as Record<string, unknown>;
  }

  it('sends model_path alone when only the directory is given (the server reads config.json)', async () => {
    const body = await submitLocal(null);
    expect(body.model_path).toBe('/models/qwen3-tiny');
    expect('model_id' in body).toBe(false);
  });

  it('sends a model id typed in beside the directory', async () => {
    const body = await submitLocal('qwen3-0.6b');
    expect(body).toMatchObject({ model_path: '/models/qwen3-tiny', model_id: 'qwen3-0.6b' });
  });
});

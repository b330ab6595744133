import { afterEach, describe, expect, it } from 'vitest';
import { api } from '../api/client';
import { saveToken, withToken } from '../api/token';
import { mockFetch } from './fetchMock';

function headersOf(init: RequestInit | undefined): Record<string, string> {
  return (init?.headers ?? {}) as Record<string, string>;
}

describe('api client', () => {
  afterEach(() => saveToken(''));

  it('sends the CSRF header on every method', async () => {
    const spy = mockFetch([
      { path: '/api/x', body: { ok: true } },
      { method: 'POST', path: '/api/x', body: { ok: true } },
      { method: 'DELETE', path: '/api/x', body: { ok: true } },
    ]);
    await api.get('/api/x');
    await api.post('/api/x', { a: 1 });
    await api.del('/api/x');
    expect(spy).toHaveBeenCalledTimes(3);
    for (const [, init] of spy.mock.calls) {
      expect(headersOf(init)['X-Requested-With']).toBe('tunix-rt');
    }
  });

  it('puts the token in the Authorization header, never in a fetched URL', async () => {
    saveToken('s3cret');
    const spy = mockFetch([{ method: 'POST', path: '/api/tunix/run', body: {} }, { path: '/api/traces', body: {} }]);
    await api.post('/api/tunix/run', { dataset_key: 'k' });
    await api.get('/api/traces', { limit: 5 });
    for (const [url, init] of spy.mock.calls) {
      expect(String(url)).not.toContain('access_token');
      expect(String(url)).not.toContain('s3cret');
      expect(headersOf(init).Authorization).toBe('Bearer s3cret');
    }
  });

  it('keeps the query token only for what cannot send headers (EventSource, download links)', () => {
    saveToken('a b');
    expect(withToken('/api/tunix/runs/r1/logs?since_seq=3')).toBe('/api/tunix/runs/r1/logs?since_seq=3&access_token=a%20b');
    saveToken('');
    expect(withToken('/api/tunix/runs/r1/logs')).toBe('/api/tunix/runs/r1/logs');
  });
});

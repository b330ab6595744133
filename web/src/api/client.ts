// fetch wrapper: JSON in and out, the token and CSRF headers, and one error type for every
// failure. The token goes in the Authorization header, never in a fetched URL.
import { readToken } from './token';
import type { FieldError } from './types';

export const CSRF_HEADER = 'X-Requested-With';
export const CSRF_VALUE = 'tunix-rt';

/** Fired on window after every request: detail is true when the server answered. */
export const CONNECTIVITY_EVENT = 'tunix-rt:connectivity';

export class ApiError extends Error {
  readonly status: number;
  readonly errors: FieldError[];

  constructor(message: string, status: number, errors: FieldError[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.errors = errors;
  }

  /** 422 field errors keyed by field name without the "body."/"query." prefix. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const err of this.errors) {
      const field = normalizeField(err.field ?? '');
      if (!(field in out)) out[field] = err.message;
    }
    return out;
  }
}

export function normalizeField(field: string): string {
  return field.replace(/^(body|query|path)\.?/, '') || 'body';
}

// An array value repeats the parameter (`tag=a&tag=b`).
type Query = Record<string, string | number | boolean | readonly string[] | null | undefined>;

export function buildUrl(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) for (const item of value) params.append(key, String(item));
    else if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export async function request<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  // X-Requested-With: a page on another origin cannot send it without a CORS preflight the
  // server never grants, so the server takes it as proof that a cookie-borne write is ours.
  const headers: Record<string, string> = { Accept: 'application/json', [CSRF_HEADER]: CSRF_VALUE };
  const token = readToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === 'AbortError') throw exc;
    window.dispatchEvent(new CustomEvent(CONNECTIVITY_EVENT, { detail: false }));
    throw new ApiError('Cannot reach the tunix-rt API (is the server running?)', 0);
  }
  window.dispatchEvent(new CustomEvent(CONNECTIVITY_EVENT, { detail: true }));
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) {
    const obj = (typeof body === 'object' && body !== null ? body : {}) as {
      detail?: unknown;
      errors?: FieldError[];
    };
    const detail =
      typeof obj.detail === 'string'
        ? obj.detail
        : obj.detail !== undefined
          ? JSON.stringify(obj.detail)
          : `${response.status} ${response.statusText || 'error'}`;
    throw new ApiError(detail, response.status, Array.isArray(obj.errors) ? obj.errors : []);
  }
  return body as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) =>
    request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown, query?: Query, signal?: AbortSignal) =>
    request<T>('POST', path, { body, query, signal }),
  del: <T>(path: string) => request<T>('DELETE', path),
};

export function errorMessage(exc: unknown): string {
  if (exc instanceof ApiError && exc.status === 401) {
    return `${exc.message} (HTTP 401): enter the server's API token under Settings.`;
  }
  if (exc instanceof ApiError) return exc.status ? `${exc.message} (HTTP ${exc.status})` : exc.message;
  if (exc instanceof Error) return exc.message;
  return String(exc);
}

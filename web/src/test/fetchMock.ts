import { vi } from 'vitest';

export interface MockRoute {
  method?: string;
  path: string | RegExp;
  status?: number;
  body: unknown;
}

/** Stub global fetch with a small route table; returns the spy to inspect calls. */
export function mockFetch(routes: MockRoute[]) {
  const spy = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    const path = url.split('?')[0];
    const route = routes.find(
      (r) =>
        (r.method ?? 'GET').toUpperCase() === method &&
        (typeof r.path === 'string' ? r.path === path : r.path.test(path)),
    );
    if (!route) return new Response(JSON.stringify({ detail: `no mock for ${method} ${url}` }), { status: 404 });
    return new Response(JSON.stringify(route.body), {
      status: route.status ?? 200,
      headers: { 'Content-Type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', spy);
  return spy;
}

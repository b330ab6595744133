// Showing and diffing resolved run parameters (GET /api/tunix/runs/{id}/params: dotted keys).

/** Keys that name the run rather than configure it: never counted as a difference. */
export const IDENTITY_KEYS: readonly string[] = ['run_id', 'attempt'];

export function formatParam(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

export interface ParamRow {
  key: string;
  values: string[]; // one per run, '—' where the run has no such key
  differs: boolean;
}

/** One row per key any run has, in key order; differs when the shown values are not all equal. */
export function diffParams(runs: Record<string, unknown>[]): ParamRow[] {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))].sort();
  return keys.map((key) => {
    const values = runs.map((r) => (key in r ? formatParam(r[key]) : '—'));
    const differs = !IDENTITY_KEYS.includes(key) && new Set(values).size > 1;
    return { key, values, differs };
  });
}

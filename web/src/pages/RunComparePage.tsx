// Two or more runs side by side: every metric overlaid (one color per run), the resolved
// parameters that differ, and each run's latest completed evaluation paired against the
// first run's on the same dataset (GET /api/compare/evaluations).
import { useState } from 'react';
import { ApiError, api, errorMessage } from '../api/client';
import type { Evaluation, EvaluationComparison, EvaluationList, MetricPoint, Run, RunParams } from '../api/types';
import { ACTIVE_STATUSES } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { MetricsPanel } from '../components/MetricsPanel';
import { StatusBadge } from '../components/StatusBadge';
import { mergeMetrics, runColor, type MetricSeries } from '../components/metricMath';
import { diffParams } from '../components/params';
import { formatPercent, shortId } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';

export const MAX_COMPARED_RUNS = 8;
const ACTIVE_REFRESH_MS = 5000;
const EVAL_LOOKBACK = 50; // evaluations read per run to find its newest completed one

interface ComparedRun {
  id: string;
  color: string;
  run?: Run;
  metrics: MetricSeries;
  params?: RunParams;
  error?: unknown;
}

/** The ids in ?runs=a,b,c: trimmed, de-duplicated, in the order given. */
export function parseRunIds(value: string | null): string[] {
  return [...new Set((value ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
}

/** A run's name where it has one, else its short id. */
export function runLabel(run: { run_id: string; name?: string | null } | undefined, id: string): string {
  return run?.name?.trim() || shortId(run?.run_id ?? id);
}

async function loadRun(id: string, index: number, signal: AbortSignal): Promise<ComparedRun> {
  const base = `/api/tunix/runs/${encodeURIComponent(id)}`;
  const color = runColor(index);
  try {
    const [run, metrics, params] = await Promise.all([
      api.get<Run>(base, undefined, signal),
      api.get<{ data: MetricPoint[] }>(`${base}/metrics`, undefined, signal),
      api.get<RunParams>(`${base}/params`, undefined, signal),
    ]);
    return { id, color, run, params, metrics: mergeMetrics({}, metrics.data) };
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === 'AbortError') throw exc;
    return { id, color, metrics: {}, error: exc };
  }
}

export function RunComparePage({ search }: { search: URLSearchParams }) {
  const ids = parseRunIds(search.get('runs')).slice(0, MAX_COMPARED_RUNS);
  const key = ids.join(',');
  const [active, setActive] = useState(false);
  const runs = useAsync(
    async (signal) => {
      if (ids.length < 2) return [];
      const loaded = await Promise.all(ids.map((id, i) => loadRun(id, i, signal)));
      setActive(loaded.some((r) => r.run && ACTIVE_STATUSES.includes(r.run.status)));
      return loaded;
    },
    [key],
    { refreshMs: active ? ACTIVE_REFRESH_MS : null },
  );

  if (ids.length < 2) {
    return (
      <section className="page" data-testid="compare-page">
        <h1>Compare runs</h1>
        <p className="muted" data-testid="compare-need-two">
          Pick two or more runs to compare: tick them on the <Link to="/runs">runs list</Link> and press Compare.
        </p>
      </section>
    );
  }

  const loaded = runs.data ?? [];
  const good = loaded.filter((r) => r.run);
  const finished = good.filter((r) => r.run && !ACTIVE_STATUSES.includes(r.run.status)).length;
  return (
    <section className="page" data-testid="compare-page">
      <p>
        <Link to="/runs">← Runs</Link>
      </p>
      <h1>Compare {ids.length} runs</h1>
      <ErrorBanner error={runs.error} onRetry={runs.reload} />
      <Loading show={!runs.data && runs.error === undefined} />
      {loaded.length > 0 && (
        <ul className="compare-legend" data-testid="compare-legend">
          {loaded.map((r, i) => (
            <li key={r.id} data-testid="legend-item" data-run-id={r.id} data-color={r.color}>
              <span className="swatch" style={{ background: r.color }} />
              <Link to={`/runs/${encodeURIComponent(r.id)}`}>{runLabel(r.run, r.id)}</Link>
              {i === 0 && <span className="tag">baseline</span>}
              {r.run && <StatusBadge status={r.run.status} />}
              {r.run && (
                <span className="muted">
                  {' '}
                  {r.run.model_id} on {r.run.dataset_key}
                </span>
              )}
              {r.error !== undefined && (
                <span className="banner-inline-error" data-testid="legend-error">
                  {r.error instanceof ApiError && r.error.status === 404 ? 'run not found' : errorMessage(r.error)}
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {good.length > 0 && (
        <>
          <h2>Metrics</h2>
          <MetricsPanel
            runs={good.map((r) => ({ key: r.id, label: runLabel(r.run, r.id), color: r.color, metrics: r.metrics }))}
            emptyText="None of these runs has recorded a metric yet."
          />
          <h2>Parameters</h2>
          <ParamsDiff runs={good} />
          <h2>Paired evaluation</h2>
          <PairedEvaluations runs={good} refreshKey={`${key}:${finished}`} />
        </>
      )}
    </section>
  );
}

function ParamsDiff({ runs }: { runs: ComparedRun[] }) {
  const [showAll, setShowAll] = useState(false);
  const rows = diffParams(runs.map((r) => r.params?.data ?? {}));
  const differing = rows.filter((r) => r.differs).length;
  const shown = showAll ? rows : rows.filter((r) => r.differs);
  return (
    <div data-testid="params-diff">
      <div className="row between">
        <p className="muted" data-testid="params-diff-count" data-differing={differing}>
          {differing} of {rows.length} parameters differ.
        </p>
        <label className="inline">
          <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} data-testid="params-show-all" />
          Show all
        </label>
      </div>
      <table className="table" data-testid="params-diff-table">
        <thead>
          <tr>
            <th>Parameter</th>
            {runs.map((r) => (
              <th key={r.id}>
                <span className="swatch" style={{ background: r.color }} /> {runLabel(r.run, r.id)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((row) => (
            <tr
              key={row.key}
              className={row.differs ? 'param-differs' : undefined}
              data-testid="param-diff-row"
              data-key={row.key}
              data-differs={row.differs}
            >
              <td>
                <code>{row.key}</code>
              </td>
              {row.values.map((v, i) => (
                <td key={runs[i].id} className="pre">
                  {v}
                </td>
              ))}
            </tr>
          ))}
          {shown.length === 0 && (
            <tr>
              <td colSpan={runs.length + 1} className="muted center">
                {rows.length === 0 ? 'No parameters.' : 'Every parameter is the same: tick "Show all" to list them.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

interface PairRow {
  run: ComparedRun;
  evaluation?: Evaluation;
  comparison?: EvaluationComparison;
  problem?: string;
}

async function latestCompleted(runId: string, datasetKey: string | undefined, signal: AbortSignal): Promise<Evaluation | undefined> {
  const list = await api.get<EvaluationList>(
    '/api/evaluations',
    { run_id: runId, dataset_key: datasetKey, limit: EVAL_LOOKBACK },
    signal,
  );
  return list.data.find((e) => e.status === 'completed'); // newest first
}

async function loadPairs(runs: ComparedRun[], signal: AbortSignal): Promise<{ baseline?: Evaluation; rows: PairRow[] }> {
  const [first, ...others] = runs;
  const baseline = await latestCompleted(first.id, undefined, signal);
  if (!baseline) return { rows: [] };
  const rows = await Promise.all(
    others.map(async (run): Promise<PairRow> => {
      try {
        const evaluation = await latestCompleted(run.id, baseline.dataset_key, signal);
        if (!evaluation) return { run, problem: `no completed evaluation on ${baseline.dataset_key}` };
        const comparison = await api.get<EvaluationComparison>(
          '/api/compare/evaluations',
          { baseline: baseline.evaluation_id, candidate: evaluation.evaluation_id },
          signal,
        );
        return { run, evaluation, comparison };
      } catch (exc) {
        if (exc instanceof DOMException && exc.name === 'AbortError') throw exc;
        return { run, problem: errorMessage(exc) };
      }
    }),
  );
  return { baseline, rows };
}

function signedPoints(value: number): string {
  const pp = value * 100;
  return `${pp > 0 ? '+' : pp < 0 ? '−' : '±'}${Math.abs(pp).toFixed(1)}`;
}

function PairedEvaluations({ runs, refreshKey }: { runs: ComparedRun[]; refreshKey: string }) {
  const pairs = useAsync((signal) => loadPairs(runs, signal), [refreshKey]);
  const base = runs[0];
  if (pairs.error !== undefined && !pairs.data) return <ErrorBanner error={pairs.error} onRetry={pairs.reload} />;
  if (!pairs.data) return <Loading show />;
  if (!pairs.data.baseline) {
    return (
      <p className="muted" data-testid="paired-none">
        The baseline ({runLabel(base.run, base.id)}) has no completed evaluation yet.
      </p>
    );
  }
  const b = pairs.data.baseline;
  return (
    <div data-testid="paired-evaluations">
      <p className="muted">
        Baseline: {runLabel(base.run, base.id)}'s evaluation on <code>{b.dataset_key}</code> ({b.split}
        {b.step !== null ? `, step ${b.step}` : ''}); each run's newest completed evaluation on the same dataset, paired
        example by example. Diff is candidate − baseline exact match in percentage points with its 95 % paired interval.
      </p>
      <table className="table" data-testid="paired-table">
        <thead>
          <tr>
            <th>Run</th>
            <th>Paired n</th>
            <th>Baseline</th>
            <th>Candidate</th>
            <th>Diff (pp) [95 % CI]</th>
            <th>Flips ✓→✗ / ✗→✓</th>
            <th>McNemar p</th>
          </tr>
        </thead>
        <tbody>
          {pairs.data.rows.map(({ run, comparison: c, problem }) => (
            <tr key={run.id} data-testid="paired-row" data-run-id={run.id}>
              <td>
                <span className="swatch" style={{ background: run.color }} /> {runLabel(run.run, run.id)}
              </td>
              {c ? (
                <>
                  <td data-testid="paired-n">{c.n_paired}</td>
                  <td>{formatPercent(c.baseline.value)}</td>
                  <td>{formatPercent(c.candidate.value)}</td>
                  <td className={c.diff_ci_low > 0 ? 'good' : c.diff_ci_high < 0 ? 'bad' : undefined} data-testid="paired-diff">
                    {signedPoints(c.diff)} [{signedPoints(c.diff_ci_low)}, {signedPoints(c.diff_ci_high)}]
                  </td>
                  <td data-testid="paired-flips">
                    {c.flips.right_to_wrong} / {c.flips.wrong_to_right}
                  </td>
                  <td data-testid="paired-p">{c.mcnemar_p.toPrecision(3)}</td>
                </>
              ) : (
                <td colSpan={6} className="muted" data-testid="paired-problem">
                  {problem}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {pairs.data.rows.map(({ run, comparison: c }) =>
        c && c.examples.length > 0 ? (
          <details key={run.id} className="flipped" data-testid="flipped-examples" data-run-id={run.id}>
            <summary>
              {runLabel(run.run, run.id)}: {c.examples.length}
              {c.examples_truncated ? '+' : ''} flipped examples
            </summary>
            <table className="table">
              <thead>
                <tr>
                  <th>Flip</th>
                  <th>Prompt</th>
                  <th>Expected</th>
                  <th>Baseline answer</th>
                  <th>Candidate answer</th>
                </tr>
              </thead>
              <tbody>
                {c.examples.map((ex, i) => (
                  <tr key={`${ex.example_key}-${i}`} className={ex.direction === 'wrong_to_right' ? 'good' : 'bad'} data-testid="flipped-example">
                    <td className="nowrap">{ex.direction === 'wrong_to_right' ? '✗→✓' : '✓→✗'}</td>
                    <td className="ellipsis" title={ex.prompt}>
                      {ex.prompt}
                    </td>
                    <td>{ex.expected}</td>
                    <td className="pre" title={ex.baseline_generated}>
                      {ex.baseline_extracted ?? ex.baseline_generated}
                    </td>
                    <td className="pre" title={ex.candidate_generated}>
                      {ex.candidate_extracted ?? ex.candidate_generated}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        ) : null,
      )}
    </div>
  );
}

// The Evaluation, Parameters and Artifacts tabs of a run.
import { useState } from 'react';
import { ApiError, api } from '../api/client';
import { withToken } from '../api/token';
import type { Artifact, EvalReport, EvaluationList, RunParams } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatParam } from '../components/params';
import { formatBytes, formatDate, formatPercent } from '../lib/format';
import { useAsync } from '../lib/useAsync';
import { EVALUATIONS_PAGE, POLL_MS, RunEvaluations, hasActive } from './RunEvaluations';

export function EvalTab({ runId, version }: { runId: string; version: number }) {
  const [active, setActive] = useState(false);
  const records = useAsync(
    (signal) =>
      api
        .get<EvaluationList>('/api/evaluations', { run_id: runId, limit: EVALUATIONS_PAGE }, signal)
        .then((list) => {
          setActive(hasActive(list));
          return list;
        }),
    [runId, version],
    { refreshMs: active ? POLL_MS : null },
  );
  if (records.error !== undefined && !records.data) {
    return (
      <section data-testid="eval-tab">
        <ErrorBanner error={records.error} onRetry={records.reload} />
      </section>
    );
  }
  if (!records.data) return <section data-testid="eval-tab" />;
  if (records.data.data.length > 0) {
    return (
      <section data-testid="eval-tab">
        <RunEvaluations runId={runId} version={version} list={records.data} onChanged={records.reload} />
      </section>
    );
  }
  return <StoredEvalReport runId={runId} version={version} />;
}

/** Runs recorded before evaluations were records: the eval.json artifact, all rows on one page. */
function StoredEvalReport({ runId, version }: { runId: string; version: number }) {
  const report = useAsync(
    (signal) => api.get<EvalReport>(`/api/tunix/runs/${runId}/eval`, undefined, signal),
    [runId, version],
  );
  const notYet = report.error instanceof ApiError && report.error.status === 404;
  const r = report.data;
  return (
    <section data-testid="eval-tab">
      {notYet ? (
        <p className="muted" data-testid="eval-empty">
          No evaluation yet: it is written when training finishes.
        </p>
      ) : (
        <ErrorBanner error={report.error} onRetry={report.reload} />
      )}
      {r && (
        <>
          <div className="stats" data-testid="eval-summary">
            <div className="stat">
              <span className="stat-value" data-testid="eval-exact-match">{formatPercent(r.summary.exact_match)}</span>
              <span className="stat-label">exact match</span>
            </div>
            <div className="stat">
              <span className="stat-value">{formatPercent(r.summary.format_ok)}</span>
              <span className="stat-label">format ok</span>
            </div>
            <div className="stat">
              <span className="stat-value">{r.summary.n ?? '—'}</span>
              <span className="stat-label">examples</span>
            </div>
          </div>
          <table className="table" data-testid="eval-examples">
            <thead>
              <tr>
                <th>Prompt</th>
                <th>Expected</th>
                <th>Generated</th>
                <th>Extracted</th>
                <th>Correct</th>
              </tr>
            </thead>
            <tbody>
              {r.examples.map((ex, i) => (
                <tr key={ex.id ?? i} className={ex.correct ? 'good' : 'bad'} data-testid="eval-example">
                  <td className="ellipsis" title={ex.prompt}>{ex.prompt}</td>
                  <td>{ex.expected_answer ?? '—'}</td>
                  <td className="pre">{ex.generated}</td>
                  <td>{ex.extracted_answer ?? '—'}</td>
                  <td>{ex.correct ? '✓' : '✗'}{ex.format_ok ? '' : ' (format)'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function ArtifactsTab({ runId, version, refreshMs }: { runId: string; version: number; refreshMs: number | null }) {
  const list = useAsync(
    (signal) => api.get<Artifact[] | { data: Artifact[] }>(`/api/tunix/runs/${runId}/artifacts`, undefined, signal),
    [runId, version],
    { refreshMs },
  );
  const artifacts = Array.isArray(list.data) ? list.data : (list.data?.data ?? []);
  return (
    <section data-testid="artifacts-tab">
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <table className="table" data-testid="artifacts-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Size</th>
            <th>sha256</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {artifacts.map((a) => (
            <tr key={a.id} data-testid="artifact-row" data-name={a.name} data-kind={a.kind}>
              <td><code>{a.name}</code></td>
              <td>{a.kind}</td>
              <td>{formatBytes(a.size_bytes)}</td>
              <td className="ellipsis" title={a.sha256 ?? ''}>
                <code>{a.sha256 ? a.sha256.slice(0, 16) : '—'}</code>
              </td>
              <td className="nowrap">{formatDate(a.created_at)}</td>
              <td>
                <a
                  href={withToken(`/api/tunix/runs/${runId}/artifacts/${a.id}/download`)}
                  download
                  data-testid="artifact-download"
                >
                  Download{a.kind === 'directory' ? ' (.tar)' : ''}
                </a>
              </td>
            </tr>
          ))}
          {list.data && artifacts.length === 0 && (
            <tr>
              <td colSpan={6} className="muted center">
                No artifacts yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** The resolved parameters: the spec the run trained with (or, before it starts, the spec the
 * worker will build), one dotted key per row. */
export function ParamsTab({ runId, version }: { runId: string; version: number }) {
  const [filter, setFilter] = useState('');
  const params = useAsync(
    (signal) => api.get<RunParams>(`/api/tunix/runs/${runId}/params`, undefined, signal),
    [runId, version],
  );
  const rows = Object.entries(params.data?.data ?? {}).filter(([key]) => key.includes(filter.trim()));
  return (
    <section data-testid="params-tab">
      <ErrorBanner error={params.error} onRetry={params.reload} />
      {params.data && (
        <div className="row between">
          <p className="muted" data-testid="params-source" data-source={params.data.source}>
            {params.data.source === 'spec.json'
              ? 'From the spec.json the run trained with (its newest attempt).'
              : 'No attempt has started yet: the spec the worker will build from the request.'}
          </p>
          <label className="inline">
            Filter
            <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="key" data-testid="params-filter" />
          </label>
        </div>
      )}
      <table className="table narrow" data-testid="params-table">
        <thead>
          <tr>
            <th>Parameter</th>
            <th>Value</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([key, value]) => (
            <tr key={key} data-testid="param-row" data-key={key}>
              <td><code>{key}</code></td>
              <td className="pre" data-testid="param-value">{formatParam(value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

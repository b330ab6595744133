import { useState } from 'react';
import { api } from '../api/client';
import type { Page, RunRow } from '../api/types';
import { ACTIVE_STATUSES, RUN_STATUSES } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Pager } from '../components/Pager';
import { CompareButton, SelectRunCell, useRunSelection } from '../components/RunSelection';
import { StatusBadge } from '../components/StatusBadge';
import { formatDate, formatDuration, formatPercent, shortId } from '../lib/format';
import { Link, setSearchParams } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { parseTags } from './runFields';

const REFRESH_MS = 2000;

export function progressText(run: Pick<RunRow, 'last_step' | 'max_steps'>): string {
  if (run.last_step === null) return '—';
  return run.max_steps ? `${run.last_step}/${run.max_steps}` : String(run.last_step);
}

export function RunsPage({ search }: { search: URLSearchParams }) {
  const status = search.get('status') ?? '';
  const datasetKey = search.get('dataset_key') ?? '';
  const mode = search.get('mode') ?? '';
  const nameQuery = search.get('q') ?? '';
  const tagsParam = search.get('tags') ?? '';
  const tags = tagsParam.split(',').filter(Boolean);
  const offset = Number(search.get('offset') ?? 0) || 0;
  const [autoRefresh, setAutoRefresh] = useState(true);
  const selection = useRunSelection();
  const runs = useAsync(
    (signal) =>
      api.get<Page<RunRow>>(
        '/api/tunix/runs',
        { limit: 50, offset, status, dataset_key: datasetKey, mode, q: nameQuery, tag: tags },
        signal,
      ),
    [status, datasetKey, mode, offset, nameQuery, tagsParam],
    { refreshMs: autoRefresh ? REFRESH_MS : null },
  );
  const active = runs.data?.data.filter((r) => ACTIVE_STATUSES.includes(r.status)).length ?? 0;

  return (
    <section className="page" data-testid="runs-page">
      <div className="row between">
        <h1>Runs</h1>
        <div className="row">
          <CompareButton selected={selection.selected} />
          <Link to="/runs/new" className="btn btn-primary" data-testid="new-run-link">
            New run
          </Link>
        </div>
      </div>
      <div className="row filters">
        <label>
          Name
          <input
            key={`q-${nameQuery}`}
            defaultValue={nameQuery}
            placeholder="search names"
            onKeyDown={(e) => {
              if (e.key === 'Enter') setSearchParams({ q: e.currentTarget.value.trim(), offset: null });
            }}
            onBlur={(e) => {
              if (e.currentTarget.value.trim() !== nameQuery) setSearchParams({ q: e.currentTarget.value.trim(), offset: null });
            }}
            data-testid="filter-name"
          />
        </label>
        <label>
          Tags
          <input
            key={`tags-${tagsParam}`}
            defaultValue={tags.join(' ')}
            placeholder="all of these tags"
            onKeyDown={(e) => {
              if (e.key === 'Enter') setSearchParams({ tags: parseTags(e.currentTarget.value).join(','), offset: null });
            }}
            onBlur={(e) => {
              const next = parseTags(e.currentTarget.value).join(',');
              if (next !== tagsParam) setSearchParams({ tags: next, offset: null });
            }}
            data-testid="filter-tags"
          />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setSearchParams({ status: e.target.value, offset: null })} data-testid="filter-status">
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Dataset
          <input
            key={datasetKey}
            defaultValue={datasetKey}
            placeholder="any"
            onKeyDown={(e) => {
              if (e.key === 'Enter') setSearchParams({ dataset_key: e.currentTarget.value.trim(), offset: null });
            }}
            onBlur={(e) => {
              if (e.currentTarget.value.trim() !== datasetKey) setSearchParams({ dataset_key: e.currentTarget.value.trim(), offset: null });
            }}
            data-testid="filter-dataset"
          />
        </label>
        <label>
          Mode
          <select value={mode} onChange={(e) => setSearchParams({ mode: e.target.value, offset: null })} data-testid="filter-mode">
            <option value="">any</option>
            <option value="async">async</option>
            <option value="sync">sync</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={autoRefresh} onChange={(e) => setAutoRefresh(e.target.checked)} data-testid="auto-refresh" />
          Auto-refresh
        </label>
        <span className="muted">{active > 0 ? `${active} active` : ''}</span>
      </div>
      <ErrorBanner error={runs.error} onRetry={runs.reload} />
      <table className="table" data-testid="runs-table">
        <thead>
          <tr>
            <th aria-label="compare" />
            <th>Run</th>
            <th>Status</th>
            <th>Dataset</th>
            <th>Model</th>
            <th>Step</th>
            <th>Exact match</th>
            <th>Attempt</th>
            <th>Created</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {runs.data?.data.map((run) => (
            <tr key={run.run_id} data-testid="run-row" data-run-id={run.run_id}>
              <SelectRunCell runId={run.run_id} selection={selection} />
              <td>
                <Link to={`/runs/${run.run_id}`} data-testid="run-link">
                  {run.name ? <span data-testid="run-name">{run.name}</span> : <code>{shortId(run.run_id)}</code>}
                </Link>
                {run.name && <code className="muted short-id">{shortId(run.run_id)}</code>}
                {run.dry_run && <span className="tag">dry run</span>}
                {run.sweep_id && (
                  <Link to={`/sweeps/${run.sweep_id}`} className="tag" data-testid="run-sweep">
                    sweep {shortId(run.sweep_id)} #{run.trial_number}
                  </Link>
                )}
                {(run.tags ?? []).length > 0 && (
                  <div className="tag-row">
                    {(run.tags ?? []).map((tag) => (
                      <button
                        key={tag}
                        type="button"
                        className="tag tag-chip"
                        title={`only runs tagged ${tag}`}
                        onClick={() => setSearchParams({ tags: [...new Set([...tags, tag])].join(','), offset: null })}
                        data-testid="row-tag"
                      >
                        {tag}
                      </button>
                    ))}
                  </div>
                )}
              </td>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td>{run.dataset_key}</td>
              <td>{run.model_id}</td>
              <td>{progressText(run)}</td>
              <td>{formatPercent(run.eval?.exact_match)}</td>
              <td>
                {run.attempt}/{run.max_attempts}
              </td>
              <td className="nowrap">{formatDate(run.created_at)}</td>
              <td>{formatDuration(run.duration_s)}</td>
            </tr>
          ))}
          {runs.data && runs.data.data.length === 0 && (
            <tr>
              <td colSpan={10} className="muted center">
                No runs match.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <Pager page={runs.data} onOffset={(o) => setSearchParams({ offset: o ? String(o) : null })} />
    </section>
  );
}

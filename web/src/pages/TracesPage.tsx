import { useState } from 'react';
import { api } from '../api/client';
import type { Page, TraceSummary } from '../api/types';
import { TASKS } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Pager } from '../components/Pager';
import { formatDate, formatNumber } from '../lib/format';
import { Link, navigate, setSearchParams } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { TraceGenerate } from './TraceGenerate';
import { TraceUpload } from './TraceUpload';

const PAGE_SIZE = 20;

export function TracesPage({ search }: { search: URLSearchParams }) {
  const offset = Number(search.get('offset') ?? 0) || 0;
  const source = search.get('source') ?? '';
  const task = search.get('task') ?? '';
  const [selected, setSelected] = useState<string[]>([]);
  const page = useAsync(
    (signal) =>
      api.get<Page<TraceSummary>>('/api/traces', { limit: PAGE_SIZE, offset, source, task }, signal),
    [offset, source, task],
  );

  const toggle = (id: string) =>
    setSelected((prev) =>
      prev.includes(id) ? prev.filter((x) => x !== id) : [...prev, id].slice(-2),
    );

  return (
    <section className="page" data-testid="traces-page">
      <div className="row between">
        <h1>Traces</h1>
        <button
          type="button"
          className="btn btn-primary"
          disabled={selected.length !== 2}
          onClick={() => navigate(`/traces/compare?base=${selected[0]}&other=${selected[1]}`)}
          data-testid="compare-selected"
          title="Select two traces to compare"
        >
          Compare selected ({selected.length}/2)
        </button>
      </div>
      <div className="two-col">
        <TraceGenerate onDone={page.reload} />
        <TraceUpload onDone={page.reload} />
      </div>
      <div className="row filters">
        <label>
          Source
          <input
            key={source}
            defaultValue={source}
            placeholder="any"
            onKeyDown={(e) => {
              if (e.key === 'Enter') setSearchParams({ source: e.currentTarget.value.trim(), offset: null });
            }}
            onBlur={(e) => {
              if (e.currentTarget.value.trim() !== source) setSearchParams({ source: e.currentTarget.value.trim(), offset: null });
            }}
            data-testid="filter-source"
          />
        </label>
        <label>
          Task
          <select value={task} onChange={(e) => setSearchParams({ task: e.target.value, offset: null })} data-testid="filter-task">
            <option value="">any</option>
            {TASKS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner error={page.error} onRetry={page.reload} />
      <table className="table" data-testid="traces-table">
        <thead>
          <tr>
            <th aria-label="select" />
            <th>Prompt</th>
            <th>Answer</th>
            <th>Source</th>
            <th>Task</th>
            <th>Steps</th>
            <th>Score</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {page.data?.data.map((trace) => (
            <tr key={trace.id} data-testid="trace-row" className={selected.includes(trace.id) ? 'selected' : undefined}>
              <td>
                <input
                  type="checkbox"
                  checked={selected.includes(trace.id)}
                  onChange={() => toggle(trace.id)}
                  aria-label={`select trace ${trace.id}`}
                  data-testid="trace-select"
                />
              </td>
              <td className="ellipsis">
                <Link to={`/traces/${trace.id}`} data-testid="trace-link">
                  {trace.prompt_preview || trace.id}
                </Link>
              </td>
              <td className="ellipsis">{trace.final_answer_preview}</td>
              <td>{trace.source ?? '—'}</td>
              <td>{trace.task ?? '—'}</td>
              <td>{trace.step_count}</td>
              <td>{formatNumber(trace.score)}</td>
              <td className="nowrap">{formatDate(trace.created_at)}</td>
            </tr>
          ))}
          {page.data && page.data.data.length === 0 && (
            <tr>
              <td colSpan={8} className="muted center" data-testid="traces-empty">
                No traces yet: generate some or upload a file.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <Pager page={page.data} onOffset={(o) => setSearchParams({ offset: o ? String(o) : null })} />
    </section>
  );
}

// One sweep: its trials (sortable, linked to their runs), optimisation history,
// intermediate-value curves with pruned trials marked, parallel coordinates, parameter
// importance, and actions (pin the best trial's checkpoint, cancel).
import { useMemo, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { StatusBadge } from '../components/StatusBadge';
import {
  HistoryChart,
  ImportanceBars,
  IntermediateChart,
  ParallelCoordinates,
  type Sweep,
  type Trial,
} from '../components/SweepCharts';
import { formatDate, formatDuration, formatNumber, shortId } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';

type Importance = components['schemas']['ImportanceOut'];
type PinBest = components['schemas']['PinBestOut'];
const SORT_BUTTON = { background: 'none', border: 'none', padding: 0, font: 'inherit', color: 'inherit', cursor: 'pointer' };
const CHART_GRID = { display: 'grid', gridTemplateColumns: 'repeat(auto-fit, minmax(420px, 1fr))', gap: 16 };
type SortKey = 'number' | 'state' | 'value' | 'duration' | `param:${string}`;

function sortValue(trial: Trial, key: SortKey): number | string {
  if (key === 'number') return trial.number;
  if (key === 'state') return trial.state;
  if (key === 'value') return trial.value ?? Number.NEGATIVE_INFINITY;
  if (key === 'duration') return trial.duration_s ?? Number.POSITIVE_INFINITY;
  const v = trial.params[key.slice(6)];
  return typeof v === 'number' ? v : JSON.stringify(v);
}

export function sortTrials(trials: Trial[], key: SortKey, ascending: boolean): Trial[] {
  return [...trials].sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    const order = x < y ? -1 : x > y ? 1 : a.number - b.number;
    return ascending ? order : -order;
  });
}

function formatParam(value: unknown): string {
  return typeof value === 'number' ? formatNumber(value, 4) : JSON.stringify(value);
}

export function SweepPage({ id }: { id: string }) {
  const [refresh, setRefresh] = useState<number | null>(2000);
  const sweep = useAsync(
    async (signal) => {
      const data = await api.get<Sweep>(`/api/sweeps/${id}`, undefined, signal);
      setRefresh(data.status === 'running' ? 2000 : null);
      return data;
    },
    [id],
    { refreshMs: refresh },
  );
  const completed = sweep.data?.trials.filter((t) => t.state === 'complete').length ?? 0;
  const importance = useAsync(
    (signal) => api.get<Importance>(`/api/sweeps/${id}/importance`, undefined, signal),
    [id, completed],
  );
  const [sort, setSort] = useState<{ key: SortKey; ascending: boolean }>({ key: 'number', ascending: true });
  const [action, setAction] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const data = sweep.data;
  const trials = useMemo(
    () => (data ? sortTrials(data.trials, sort.key, sort.ascending) : []),
    [data, sort.key, sort.ascending],
  );

  if (!data) {
    return (
      <section className="page" data-testid="sweep-page">
        <ErrorBanner error={sweep.error} onRetry={sweep.reload} />
        <Loading show={sweep.error === undefined} />
      </section>
    );
  }
  const params = Object.keys(data.space);
  const header = (key: SortKey, label: string) => (
    <th key={key}>
      <button
        type="button"
        style={SORT_BUTTON}
        onClick={() => setSort((s) => ({ key, ascending: s.key === key ? !s.ascending : key !== 'value' }))}
        data-testid={`sort-${key}`}
      >
        {label}
        {sort.key === key ? (sort.ascending ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  );
  const pinBest = async () => {
    setActionError(undefined);
    try {
      const pinned = await api.post<PinBest>(`/api/sweeps/${id}/pin-best`);
      setAction(`Pinned step ${pinned.step} of trial ${pinned.trial_number} (run ${shortId(pinned.run_id)}) as ${pinned.reason}.`);
    } catch (exc) {
      setActionError(exc);
    }
  };
  const cancel = async () => {
    setActionError(undefined);
    try {
      await api.post<Sweep>(`/api/sweeps/${id}/cancel`);
      sweep.reload();
    } catch (exc) {
      setActionError(exc);
    }
  };
  const best = data.best_trial;
  return (
    <section className="page" data-testid="sweep-page">
      <p>
        <Link to="/sweeps">← Sweeps</Link>
      </p>
      <div className="row between">
        <h1>
          {data.name ?? `Sweep ${shortId(data.sweep_id)}`} <StatusBadge status={data.status} />
        </h1>
        <div className="row">
          <button type="button" className="btn" disabled={!best} onClick={pinBest} data-testid="sweep-pin-best">
            Pin best
          </button>
          {data.status === 'running' && (
            <button type="button" className="btn btn-danger" onClick={cancel} data-testid="sweep-cancel">
              Cancel sweep
            </button>
          )}
        </div>
      </div>
      <p className="muted" data-testid="sweep-summary">
        {data.trials.length}/{data.n_trials} trials · {data.max_parallel} at a time · {data.objective.direction}{' '}
        {data.objective.metric} · sampler {data.sampler} · pruner {data.pruner} · seed {data.seed} · dataset{' '}
        {data.dataset_key} · created {formatDate(data.created_at)}
      </p>
      {action && (
        <p className="muted" data-testid="sweep-action">
          {action}
        </p>
      )}
      {actionError !== undefined && (
        <p role="alert" data-testid="sweep-action-error">
          {errorMessage(actionError)}
        </p>
      )}
      {data.error && <p role="alert">{data.error}</p>}
      <ErrorBanner error={sweep.error} onRetry={sweep.reload} />
      {best && (
        <div className="card" data-testid="sweep-best">
          Best: trial {best.number} · {data.objective.metric} {formatNumber(best.value, 4)} ·{' '}
          {params.map((p) => `${p}=${formatParam(best.params[p])}`).join(', ')} ·{' '}
          <Link to={`/runs/${best.run_id}`}>run {shortId(best.run_id ?? '')}</Link>
        </div>
      )}
      <table className="table" data-testid="sweep-trials">
        <thead>
          <tr>
            {header('number', '#')}
            {header('state', 'State')}
            {header('value', data.objective.metric ?? 'exact_match')}
            {params.map((p) => header(`param:${p}`, p))}
            <th>Last eval</th>
            {header('duration', 'Duration')}
            <th>Run</th>
          </tr>
        </thead>
        <tbody>
          {trials.map((t) => {
            const last = t.intermediate[t.intermediate.length - 1];
            return (
              <tr key={t.number} data-testid="trial-row" data-state={t.state} className={best?.number === t.number ? 'selected' : undefined}>
                <td>{t.number}</td>
                <td>
                  <StatusBadge status={t.state} />
                  {t.state === 'pruned' && t.pruned_step != null && <span className="muted"> at step {t.pruned_step}</span>}
                </td>
                <td>{formatNumber(t.value, 4)}</td>
                {params.map((p) => (
                  <td key={p}>{formatParam(t.params[p])}</td>
                ))}
                <td>{last ? `${formatNumber(last[1], 3)} @ ${last[0]}` : '—'}</td>
                <td>{formatDuration(t.duration_s)}</td>
                <td>{t.run_id ? <Link to={`/runs/${t.run_id}`}>{shortId(t.run_id)}</Link> : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div style={CHART_GRID}>
        <div className="card">
          <h3>Optimisation history</h3>
          <HistoryChart sweep={data} />
        </div>
        <div className="card">
          <h3>Intermediate values</h3>
          <IntermediateChart sweep={data} />
        </div>
        <div className="card">
          <h3>Parallel coordinates</h3>
          <ParallelCoordinates sweep={data} />
        </div>
        <div className="card">
          <h3>Parameter importance</h3>
          {importance.data && !importance.data.available && (
            <p className="muted" data-testid="importance-unavailable">
              {importance.data.message}
            </p>
          )}
          {importance.data?.available && <ImportanceBars importances={importance.data.importances} />}
          <ErrorBanner error={importance.error} onRetry={importance.reload} />
        </div>
      </div>
    </section>
  );
}

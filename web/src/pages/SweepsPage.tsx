// Hyper-parameter sweeps, newest first, with their progress and best value.
import { api } from '../api/client';
import type { components } from '../api/schema';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { StatusBadge } from '../components/StatusBadge';
import { formatDate, formatNumber, shortId } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';

type SweepList = components['schemas']['SweepList'];

export function SweepsPage() {
  const list = useAsync((signal) => api.get<SweepList>('/api/sweeps', { limit: 100 }, signal), [], {
    refreshMs: 3000,
  });
  const sweeps = list.data?.sweeps ?? [];
  return (
    <section className="page" data-testid="sweeps-page">
      <h1>Sweeps</h1>
      <p className="muted">
        Start one with <code>tunix-rt sweeps create SPEC.json --follow</code> or <code>POST /api/sweeps</code>.
      </p>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Loading show={!list.data && list.error === undefined} />
      {list.data && sweeps.length === 0 && (
        <p className="muted" data-testid="sweeps-empty">
          No sweeps yet.
        </p>
      )}
      {sweeps.length > 0 && (
        <table className="table" data-testid="sweeps-table">
          <thead>
            <tr>
              <th>Sweep</th>
              <th>Status</th>
              <th>Trials</th>
              <th>Best {sweeps[0].objective.metric}</th>
              <th>Sampler / pruner</th>
              <th>Dataset</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {sweeps.map((s) => {
              const done = Object.values(s.counts).reduce((a, b) => a + b, 0);
              return (
                <tr key={s.sweep_id} data-testid="sweep-row">
                  <td>
                    <Link to={`/sweeps/${s.sweep_id}`}>{s.name ?? shortId(s.sweep_id)}</Link>
                  </td>
                  <td>
                    <StatusBadge status={s.status} />
                  </td>
                  <td>
                    {done}/{s.n_trials}
                    {s.counts.pruned ? <span className="muted"> · {s.counts.pruned} pruned</span> : null}
                  </td>
                  <td>{formatNumber(s.best_value)}</td>
                  <td>
                    {s.sampler} / {s.pruner}
                  </td>
                  <td>{s.dataset_key}</td>
                  <td>{formatDate(s.created_at)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

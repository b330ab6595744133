// A dataset's leaderboard: its completed evaluations ranked by a metric, with 95 % intervals.
import { api } from '../api/client';
import { LEADERBOARD_METRICS, type Leaderboard, type LeaderboardMetric } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { IntervalBar } from '../components/IntervalBar';
import { Loading } from '../components/Loading';
import { formatDate, formatDuration, shortId } from '../lib/format';
import { Link, setSearchParams } from '../lib/router';
import { useAsync } from '../lib/useAsync';

const METRIC_LABELS: Record<LeaderboardMetric, string> = {
  exact_match: 'exact match',
  format_ok: 'format ok',
};

function readMetric(search: URLSearchParams): LeaderboardMetric {
  const value = search.get('metric');
  return (LEADERBOARD_METRICS as readonly string[]).includes(value ?? '') ? (value as LeaderboardMetric) : 'exact_match';
}

function formatHyperparameter(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function LeaderboardPage({ datasetKey, search }: { datasetKey: string; search: URLSearchParams }) {
  const metric = readMetric(search);
  const board = useAsync(
    (signal) => api.get<Leaderboard>('/api/leaderboard', { dataset_key: datasetKey, metric }, signal),
    [datasetKey, metric],
  );
  const rows = board.data?.data ?? [];
  return (
    <section className="page" data-testid="leaderboard-page">
      <p>
        <Link to={`/datasets/${encodeURIComponent(datasetKey)}`}>← {datasetKey}</Link>
      </p>
      <div className="row between">
        <h1>Leaderboard · {datasetKey}</h1>
        <label className="inline">
          metric
          <select
            value={metric}
            onChange={(event) => setSearchParams({ metric: event.target.value === 'exact_match' ? null : event.target.value })}
            data-testid="leaderboard-metric"
          >
            {LEADERBOARD_METRICS.map((m) => (
              <option key={m} value={m}>
                {METRIC_LABELS[m]}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner error={board.error} onRetry={board.reload} />
      <Loading show={!board.data && board.error === undefined} />
      {board.data && rows.length === 0 && (
        <p className="muted" data-testid="leaderboard-empty">
          No completed evaluations on this dataset yet. Every finished training run on it adds one.
        </p>
      )}
      {rows.length > 0 && (
        <table className="table" data-testid="leaderboard-table">
          <thead>
            <tr>
              <th>#</th>
              <th>Run</th>
              <th>Model</th>
              <th>Step</th>
              <th>{METRIC_LABELS[metric]} (95% CI)</th>
              <th>n</th>
              <th>Hyper-parameters</th>
              <th>Wall time</th>
              <th>Evaluated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr
                key={row.evaluation_id}
                data-testid="leaderboard-row"
                data-evaluation-id={row.evaluation_id}
                data-run-id={row.run_id ?? ''}
              >
                <td data-testid="leaderboard-rank">{row.rank}</td>
                <td>
                  {row.run_id ? (
                    <Link to={`/runs/${row.run_id}`} data-testid="leaderboard-run-link" title={row.run_id}>
                      {row.run_name || shortId(row.run_id)}
                    </Link>
                  ) : (
                    <span className="muted">—</span>
                  )}
                  {row.split !== 'holdout' && <span className="tag">{row.split}</span>}
                </td>
                <td>{row.model ?? '—'}</td>
                <td>{row.step ?? '—'}</td>
                <td data-testid="leaderboard-value" data-value={row.value}>
                  <IntervalBar value={row.value} low={row.ci_low} high={row.ci_high} />
                </td>
                <td data-testid="leaderboard-n">{row.n}</td>
                <td>
                  <span className="hparams">
                    {Object.entries(row.hyperparameters).map(([key, value]) => (
                      <code key={key}>
                        {key}={formatHyperparameter(value)}
                      </code>
                    ))}
                  </span>
                </td>
                <td className="nowrap">{formatDuration(row.wall_s)}</td>
                <td className="nowrap">{formatDate(row.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

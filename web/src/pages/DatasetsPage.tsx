import { api } from '../api/client';
import type { Manifest, Page } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { formatDate } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { DatasetBuildForm } from './DatasetBuildForm';

export function DatasetsPage() {
  const list = useAsync((signal) => api.get<Page<Manifest>>('/api/datasets', { limit: 100 }, signal), []);
  return (
    <section className="page" data-testid="datasets-page">
      <h1>Datasets</h1>
      <DatasetBuildForm />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <table className="table" data-testid="datasets-table">
        <thead>
          <tr>
            <th>Key</th>
            <th>Traces</th>
            <th>Train / holdout</th>
            <th>Selection</th>
            <th>Filters</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((d) => (
            <tr key={d.dataset_key} data-testid="dataset-row">
              <td>
                <Link to={`/datasets/${encodeURIComponent(d.dataset_key)}`} data-testid="dataset-link">
                  {d.dataset_key}
                </Link>
              </td>
              <td>{d.trace_count}</td>
              <td>
                {d.train_count} / {d.holdout_count}
              </td>
              <td>{d.selection_strategy}</td>
              <td className="ellipsis"><code>{JSON.stringify(d.filters ?? {})}</code></td>
              <td className="nowrap">{formatDate(d.created_at)}</td>
            </tr>
          ))}
          {list.data && list.data.data.length === 0 && (
            <tr>
              <td colSpan={6} className="muted center">
                No datasets yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

import { api } from '../api/client';
import { withToken } from '../api/token';
import type { Manifest } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { formatDate } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';

const FORMATS = ['trace', 'tunix_sft', 'training_example'] as const;
const SPLITS = ['train', 'holdout', 'all'] as const;

export function DatasetDetailPage({ datasetKey }: { datasetKey: string }) {
  const path = `/api/datasets/${encodeURIComponent(datasetKey)}`;
  const manifest = useAsync((signal) => api.get<Manifest>(path, undefined, signal), [path]);
  const m = manifest.data;
  return (
    <section className="page" data-testid="dataset-detail">
      <p>
        <Link to="/datasets">← Datasets</Link>
      </p>
      <div className="row between">
        <h1>{datasetKey}</h1>
        <div className="row">
          <Link
            to={`/datasets/${encodeURIComponent(datasetKey)}/leaderboard`}
            className="btn"
            data-testid="dataset-leaderboard-link"
          >
            Leaderboard
          </Link>
          <Link
            to={`/runs/new?dataset=${encodeURIComponent(datasetKey)}`}
            className="btn btn-primary"
            data-testid="dataset-new-run"
          >
            Train on this dataset
          </Link>
        </div>
      </div>
      <ErrorBanner error={manifest.error} onRetry={manifest.reload} />
      <Loading show={!manifest.data && manifest.error === undefined} />
      {m && (
        <>
          <dl className="kv" data-testid="dataset-manifest">
            <dt>name / version</dt>
            <dd>
              {m.name} / {m.version}
            </dd>
            <dt>traces</dt>
            <dd data-testid="dataset-trace-count">{m.trace_count}</dd>
            <dt>train / holdout</dt>
            <dd>
              {m.train_count} / {m.holdout_count} (holdout fraction {m.holdout_fraction})
            </dd>
            <dt>selection</dt>
            <dd>
              {m.selection_strategy}, seed {m.seed ?? '—'}, limit {m.limit ?? 'none'}
            </dd>
            <dt>filters</dt>
            <dd><code>{JSON.stringify(m.filters ?? {})}</code></dd>
            <dt>content hash</dt>
            <dd><code>{m.content_hash}</code></dd>
            <dt>created</dt>
            <dd>{formatDate(m.created_at)}</dd>
          </dl>
          <h3>Export (JSONL)</h3>
          <table className="table narrow" data-testid="dataset-exports">
            <thead>
              <tr>
                <th>Format</th>
                {SPLITS.map((s) => (
                  <th key={s}>{s}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {FORMATS.map((format) => (
                <tr key={format}>
                  <th>{format}</th>
                  {SPLITS.map((split) => (
                    <td key={split}>
                      <a
                        href={withToken(`${path}/export.jsonl?format=${format}&split=${split}`)}
                        download={`${datasetKey}-${format}-${split}.jsonl`}
                        data-testid={`export-${format}-${split}`}
                      >
                        download
                      </a>
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

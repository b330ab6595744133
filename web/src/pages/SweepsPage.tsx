// Hyper-parameter sweeps, newest first, with their progress and best value; a form that
// starts one from its JSON spec (the body of POST /api/sweeps).
import { useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { StatusBadge } from '../components/StatusBadge';
import { formatDate, formatNumber, shortId } from '../lib/format';
import { Link, navigate } from '../lib/router';
import { useAsync } from '../lib/useAsync';

type SweepList = components['schemas']['SweepList'];
type SweepCreated = components['schemas']['SweepCreated'];

export const EXAMPLE_SPEC = {
  dataset_key: 'DATASET_KEY',
  name: 'lr search',
  base: { max_steps: 300, eval_every_steps: 50, eval_subset_size: 32 },
  space: {
    learning_rate: { type: 'float', low: 0.001, high: 0.01, log: true },
    batch_size: { type: 'categorical', choices: [8, 16] },
  },
  objective: { metric: 'exact_match', direction: 'maximize' },
  sampler: 'tpe',
  pruner: 'median',
  n_trials: 8,
  max_parallel: 2,
  seed: 0,
};

export function NewSweepForm() {
  const [text, setText] = useState(() => JSON.stringify(EXAMPLE_SPEC, null, 2));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (exc) {
      setError(`not valid JSON: ${exc instanceof Error ? exc.message : String(exc)}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await api.post<SweepCreated>('/api/sweeps', body);
      navigate(`/sweeps/${created.sweep_id}`);
    } catch (exc) {
      setError(errorMessage(exc));
    } finally {
      setBusy(false);
    }
  };
  return (
    <details className="card" data-testid="new-sweep">
      <summary>New sweep</summary>
      <p className="muted">The sweep spec as JSON (see docs/api.md, Sweeps): base run request, search space, objective, sampler, pruner.</p>
      <textarea
        value={text}
        onChange={(event) => setText(event.target.value)}
        rows={18}
        style={{ width: '100%', fontFamily: 'monospace' }}
        spellCheck={false}
        data-testid="new-sweep-spec"
      />
      {error && (
        <p role="alert" data-testid="new-sweep-error">
          {error}
        </p>
      )}
      <div className="row end">
        <button type="button" className="btn btn-primary" disabled={busy} onClick={submit} data-testid="new-sweep-submit">
          Start sweep
        </button>
      </div>
    </details>
  );
}

export function SweepsPage() {
  const list = useAsync((signal) => api.get<SweepList>('/api/sweeps', { limit: 100 }, signal), [], {
    refreshMs: 3000,
  });
  const sweeps = list.data?.sweeps ?? [];
  return (
    <section className="page" data-testid="sweeps-page">
      <h1>Sweeps</h1>
      <p className="muted">
        Start one here, with <code>tunix-rt sweeps create SPEC.json --follow</code> or with <code>POST /api/sweeps</code>.
      </p>
      <NewSweepForm />
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

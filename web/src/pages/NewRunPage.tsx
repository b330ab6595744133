// The "New run" form. Defaults mirror the worker's; the API validates and its 422
// field errors are shown next to the fields they name.
import { useState } from 'react';
import { api } from '../api/client';
import type { Manifest, Page, Run, RunRequest } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { FieldError } from '../components/FieldError';
import { navigate } from '../lib/router';
import { useSubmit } from '../lib/useSubmit';
import { useAsync } from '../lib/useAsync';

export const HYPERPARAMETERS = [
  { name: 'max_steps', label: 'Max steps', value: '300', step: '1' },
  { name: 'batch_size', label: 'Batch size', value: '16', step: '1' },
  { name: 'learning_rate', label: 'Learning rate', value: '0.003', step: 'any' },
  { name: 'max_seq_length', label: 'Max sequence length', value: '128', step: '1' },
  { name: 'seed', label: 'Seed', value: '0', step: '1' },
  { name: 'save_every_steps', label: 'Save every (steps)', value: '100', step: '1' },
] as const;

type ModelChoice = 'tiny' | 'small' | 'local';

export function NewRunForm({
  datasets,
  initialDataset = '',
}: {
  datasets: string[];
  initialDataset?: string;
}) {
  const [datasetKey, setDatasetKey] = useState(initialDataset || datasets[0] || '');
  const [model, setModel] = useState<ModelChoice>('tiny');
  const [modelId, setModelId] = useState('gemma3-270m');
  const [modelPath, setModelPath] = useState('');
  const [params, setParams] = useState<Record<string, string>>(
    Object.fromEntries(HYPERPARAMETERS.map((h) => [h.name, h.value])),
  );
  const [dryRun, setDryRun] = useState(false);
  const [mode, setMode] = useState<'async' | 'sync'>('async');
  const { busy, error, fieldErrors, submit: submitRequest } = useSubmit();
  const chosenDataset = datasetKey || datasets[0] || '';

  async function submit() {
    const body: RunRequest = { dataset_key: chosenDataset, dry_run: dryRun };
    if (model === 'local') {
      body.model_id = modelId.trim();
      body.model_path = modelPath.trim() || null;
    } else body.model_id = model;
    for (const h of HYPERPARAMETERS) {
      const raw = params[h.name].trim();
      if (raw !== '') body[h.name] = Number(raw);
    }
    await submitRequest(async () => {
      const run = await api.post<Run>('/api/tunix/run', body, { mode });
      navigate(`/runs/${run.run_id}`);
    });
  }

  return (
    <form
      className="card"
      data-testid="new-run-form"
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <div className="form-grid">
        <label>
          Dataset
          {datasets.length > 0 ? (
            <select value={chosenDataset} onChange={(e) => setDatasetKey(e.target.value)} data-testid="run-dataset">
              {datasets.map((key) => (
                <option key={key} value={key}>
                  {key}
                </option>
              ))}
            </select>
          ) : (
            <input value={datasetKey} onChange={(e) => setDatasetKey(e.target.value)} placeholder="dataset key" data-testid="run-dataset" />
          )}
          <FieldError name="dataset_key" errors={fieldErrors} />
        </label>
        <label>
          Model
          <select value={model} onChange={(e) => setModel(e.target.value as ModelChoice)} data-testid="run-model">
            <option value="tiny">tiny (CPU preset)</option>
            <option value="small">small (preset)</option>
            <option value="local">local model…</option>
          </select>
          <FieldError name="model_id" errors={fieldErrors} />
        </label>
        {model === 'local' && (
          <>
            <label>
              Model id
              <input value={modelId} onChange={(e) => setModelId(e.target.value)} placeholder="gemma3-270m" data-testid="run-model-id" />
              <FieldError name="model_id" errors={fieldErrors} />
            </label>
            <label>
              Model path
              <input value={modelPath} onChange={(e) => setModelPath(e.target.value)} placeholder="/models/gemma3-270m" data-testid="run-model-path" />
              <FieldError name="model_path" errors={fieldErrors} />
            </label>
          </>
        )}
        {HYPERPARAMETERS.map((h) => (
          <label key={h.name}>
            {h.label}
            <input
              type="number"
              step={h.step}
              value={params[h.name]}
              onChange={(e) => setParams((p) => ({ ...p, [h.name]: e.target.value }))}
              aria-invalid={fieldErrors[h.name] ? true : undefined}
              data-testid={`run-${h.name}`}
            />
            <FieldError name={h.name} errors={fieldErrors} />
          </label>
        ))}
        <label className="inline">
          <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} data-testid="run-dry-run" />
          Dry run (validate spec and data, no training)
        </label>
        <label>
          Mode
          <select value={mode} onChange={(e) => setMode(e.target.value as 'async' | 'sync')} data-testid="run-mode">
            <option value="async">async (queue and return)</option>
            <option value="sync">sync (wait up to 30 s)</option>
          </select>
        </label>
      </div>
      <FieldError name="body" errors={fieldErrors} />
      <ErrorBanner error={error} />
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={busy || !chosenDataset} data-testid="run-submit">
          {busy ? 'Submitting…' : dryRun ? 'Start dry run' : 'Start run'}
        </button>
      </div>
    </form>
  );
}

export function NewRunPage({ search }: { search: URLSearchParams }) {
  const datasets = useAsync((signal) => api.get<Page<Manifest>>('/api/datasets', { limit: 100 }, signal), []);
  return (
    <section className="page" data-testid="new-run-page">
      <h1>New run</h1>
      <ErrorBanner error={datasets.error} onRetry={datasets.reload} />
      {datasets.data && (
        <NewRunForm
          datasets={datasets.data.data.map((d) => d.dataset_key)}
          initialDataset={search.get('dataset') ?? ''}
        />
      )}
      {datasets.data && datasets.data.data.length === 0 && (
        <p className="muted">No datasets yet: build one on the Datasets page first.</p>
      )}
    </section>
  );
}

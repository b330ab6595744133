// Build a dataset from filters, with a live (debounced) count of matching traces.
import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { DatasetBuildRequest, DatasetFilters, DatasetPreviewRequest, Manifest } from '../api/types';
import { TASKS } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { FieldError } from '../components/FieldError';
import { navigate } from '../lib/router';
import { useSubmit } from '../lib/useSubmit';

export const PREVIEW_DEBOUNCE_MS = 300;

interface FormState {
  name: string;
  version: string;
  source: string;
  task: string;
  minScore: string;
  criteria: string;
  limit: string;
  strategy: DatasetBuildRequest['selection_strategy'];
  seed: string;
  holdout: string;
}

const INITIAL: FormState = {
  name: '',
  version: 'v1',
  source: '',
  task: '',
  minScore: '',
  criteria: '',
  limit: '',
  strategy: 'latest',
  seed: '0',
  holdout: '0.1',
};

const num = (value: string): number | null => (value.trim() === '' ? null : Number(value));
const str = (value: string): string | null => (value.trim() === '' ? null : value.trim());

type Criteria = NonNullable<DatasetFilters['criteria']>;
const isCriteria = (value: string): value is Criteria => value === 'baseline' || value === 'answer_match';

/** The build body; name and version may be missing here (the server answers 422 naming them). */
export function toBuildRequest(form: FormState): DatasetPreviewRequest {
  const filters: DatasetFilters = {};
  const source = str(form.source);
  const task = str(form.task);
  const minScore = num(form.minScore);
  const criteria = form.criteria.trim();
  if (source !== null) filters.source = source;
  if (task !== null) filters.task = task;
  if (minScore !== null) filters.min_score = minScore;
  if (isCriteria(criteria)) filters.criteria = criteria;
  const body: DatasetPreviewRequest = { filters, selection_strategy: form.strategy };
  const name = str(form.name);
  const version = str(form.version);
  const limit = num(form.limit);
  const seed = num(form.seed);
  const holdout = num(form.holdout);
  if (name !== null) body.dataset_name = name;
  if (version !== null) body.dataset_version = version;
  if (limit !== null) body.limit = limit;
  if (seed !== null) body.seed = seed;
  if (holdout !== null) body.holdout_fraction = holdout;
  return body;
}

export function DatasetBuildForm() {
  const [form, setForm] = useState<FormState>(INITIAL);
  const [count, setCount] = useState<number | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const { busy, error, fieldErrors, submit } = useSubmit();
  const set = (key: keyof FormState) => (event: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: event.target.value }));

  const { name: _name, version: _version, ...previewInputs } = form;
  const previewKey = JSON.stringify(previewInputs);
  useEffect(() => {
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      const { dataset_name: _n, dataset_version: _v, ...body } = toBuildRequest(form);
      api
        .post<{ trace_count: number }>('/api/datasets/preview', body, undefined, controller.signal)
        .then((res) => {
          setCount(res.trace_count);
          setPreviewError(null);
        })
        .catch((exc: unknown) => {
          if (controller.signal.aborted) return;
          setCount(null);
          setPreviewError(errorMessage(exc));
        });
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [previewKey]);

  return (
    <form
      className="card"
      data-testid="dataset-build-form"
      onSubmit={async (event) => {
        event.preventDefault();
        await submit(async () => {
          const manifest = await api.post<Manifest>('/api/datasets/build', toBuildRequest(form));
          navigate(`/datasets/${encodeURIComponent(manifest.dataset_key)}`);
        });
      }}
    >
      <h3>Build a dataset</h3>
      <div className="form-grid">
        <label>
          Name
          <input value={form.name} onChange={set('name')} required placeholder="duel" data-testid="dataset-name" />
          <FieldError name="dataset_name" errors={fieldErrors} />
        </label>
        <label>
          Version
          <input value={form.version} onChange={set('version')} required data-testid="dataset-version" />
          <FieldError name="dataset_version" errors={fieldErrors} />
        </label>
        <label>
          Source
          <input value={form.source} onChange={set('source')} placeholder="any" data-testid="dataset-source" />
          <FieldError name="filters.source" errors={fieldErrors} />
        </label>
        <label>
          Task
          <select value={form.task} onChange={set('task')} data-testid="dataset-task">
            <option value="">any</option>
            {TASKS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Min score
          <input type="number" step="any" value={form.minScore} onChange={set('minScore')} placeholder="none" data-testid="dataset-min-score" />
          <FieldError name="filters.min_score" errors={fieldErrors} />
        </label>
        <label>
          Score criteria
          <select value={form.criteria} onChange={set('criteria')} data-testid="dataset-criteria">
            <option value="">any</option>
            <option value="baseline">baseline</option>
            <option value="answer_match">answer_match</option>
          </select>
        </label>
        <label>
          Limit
          <input type="number" min={1} value={form.limit} onChange={set('limit')} placeholder="all" data-testid="dataset-limit" />
          <FieldError name="limit" errors={fieldErrors} />
        </label>
        <label>
          Selection
          <select value={form.strategy} onChange={set('strategy')} data-testid="dataset-strategy">
            <option value="latest">latest</option>
            <option value="random">random</option>
            <option value="top_score">top_score</option>
          </select>
        </label>
        <label>
          Seed
          <input type="number" min={0} value={form.seed} onChange={set('seed')} data-testid="dataset-seed" />
          <FieldError name="seed" errors={fieldErrors} />
        </label>
        <label>
          Holdout fraction
          <input type="number" min={0} max={0.9} step="0.05" value={form.holdout} onChange={set('holdout')} data-testid="dataset-holdout" />
          <FieldError name="holdout_fraction" errors={fieldErrors} />
        </label>
      </div>
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="dataset-build-submit">
          {busy ? 'Building…' : 'Build dataset'}
        </button>
        <span className="muted" data-testid="preview-count" data-count={count ?? ''} aria-live="polite">
          {previewError ? `preview unavailable: ${previewError}` : count === null ? 'counting…' : `${count} traces match`}
        </span>
      </div>
      <ErrorBanner error={error} />
    </form>
  );
}

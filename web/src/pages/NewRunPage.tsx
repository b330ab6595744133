// The "New run" form: every field of the API's RunRequest (runFields.ts), the advanced ones
// in a collapsible section. Inputs are checked against the API's limits before sending; the
// API still validates, and its 422 field errors are shown next to the fields they name.
import { useState } from 'react';
import { api } from '../api/client';
import type { Manifest, Page, Run } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { FieldError } from '../components/FieldError';
import { GrpoFields } from '../components/GrpoFields';
import { navigate } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { useSubmit } from '../lib/useSubmit';
import {
  ADVANCED_SECTIONS,
  FIELD_NAMES,
  PRESET_MODELS,
  SECTION_TITLES,
  buildRequest,
  checkValues,
  cloneValues,
  continueWithGrpoValues,
  initialValues,
  isAdvanced,
  specOf,
  type FieldSection,
  type FormValues,
  type RunField,
} from './runFields';
import { FROM_INIT_SOURCE, type GrpoKey } from './grpoFields';

type ModelChoice = 'tiny' | 'small' | 'local';
const DEFAULT_LOCAL_MODEL_ID = 'gemma3-270m';
// Rendered by hand above the generic fields.
const CUSTOM_FIELDS: readonly RunField[] = ['dataset_key', 'model_id', 'model_path', 'algorithm', 'init_from', 'grpo'];

function modelChoiceOf(modelId: string): ModelChoice {
  return (PRESET_MODELS as readonly string[]).includes(modelId) ? (modelId as ModelChoice) : 'local';
}

function differsFromStart(values: FormValues, field: RunField): boolean {
  return values[field] !== initialValues()[field];
}

export function NewRunForm({
  datasets,
  initialDataset = '',
  initial,
}: {
  datasets: string[];
  initialDataset?: string;
  /** Prefilled values (a clone); otherwise the defaults. */
  initial?: FormValues;
}) {
  const [values, setValues] = useState<FormValues>(() => {
    const start = initial ?? initialValues();
    return { ...start, dataset_key: start.dataset_key || initialDataset || datasets[0] || '' };
  });
  const [choice, setChoice] = useState<ModelChoice>(() => modelChoiceOf(values.model_id));
  // Blank by default: a model directory with a config.json needs no model id (the server names it).
  const [localId, setLocalId] = useState(choice === 'local' ? values.model_id : '');
  const [advancedOpen, setAdvancedOpen] = useState(() =>
    FIELD_NAMES.some((f) => isAdvanced(f) && differsFromStart(values, f)),
  );
  const [mode, setMode] = useState<'async' | 'sync'>('async');
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const { busy, error, fieldErrors: serverErrors, submit: submitRequest } = useSubmit();
  const fieldErrors = { ...serverErrors, ...clientErrors };
  const chosenDataset = values.dataset_key || datasets[0] || '';
  const datasetOptions = chosenDataset && !datasets.includes(chosenDataset) ? [chosenDataset, ...datasets] : datasets;
  const advancedErrors = FIELD_NAMES.some((f) => isAdvanced(f) && fieldErrors[f]);
  const grpo = values.algorithm === 'grpo';
  // Started from another run's checkpoint: its model, tokenizer, LoRA shape and length.
  const fromInit = grpo && values.init_from.trim() !== '';

  function set(field: RunField | GrpoKey, value: string) {
    setValues((v) => ({ ...v, [field]: value }));
    setClientErrors(({ [field]: _dropped, ...rest }) => rest);
  }

  function effectiveValues(): FormValues {
    const model =
      choice === 'local' ? { model_id: localId.trim(), model_path: values.model_path } : { model_id: choice, model_path: '' };
    return { ...values, ...model, dataset_key: chosenDataset };
  }

  async function submit() {
    const effective = effectiveValues();
    const problems = checkValues(effective);
    setClientErrors(problems);
    if (Object.keys(problems).length > 0) {
      if (FIELD_NAMES.some((f) => problems[f] && isAdvanced(f))) setAdvancedOpen(true);
      return;
    }
    const body = buildRequest(effective);
    await submitRequest(async () => {
      const run = await api.post<Run>('/api/tunix/run', body, { mode });
      navigate(`/runs/${run.run_id}`);
    });
  }

  function renderField(field: RunField) {
    const spec = specOf(field);
    const testId = field === 'dry_run' ? 'run-dry-run' : `run-${field}`;
    const invalid = fieldErrors[field] ? true : undefined;
    const locked = fromInit && (FROM_INIT_SOURCE as readonly string[]).includes(field);
    if (spec.kind === 'bool') {
      return (
        <label key={field} className="inline">
          <input
            type="checkbox"
            checked={values[field] === 'true'}
            onChange={(e) => set(field, e.target.checked ? 'true' : 'false')}
            data-testid={testId}
          />
          {spec.label}
          <FieldError name={field} errors={fieldErrors} />
        </label>
      );
    }
    let input;
    if (spec.kind === 'choice') {
      input = (
        <select value={values[field]} onChange={(e) => set(field, e.target.value)} aria-invalid={invalid} data-testid={testId}>
          <option value="">default</option>
          {spec.choices?.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      );
    } else if (spec.kind === 'textarea') {
      input = (
        <textarea
          value={values[field]}
          rows={3}
          maxLength={spec.maxLength}
          onChange={(e) => set(field, e.target.value)}
          aria-invalid={invalid}
          data-testid={testId}
        />
      );
    } else {
      const numeric = spec.kind === 'int' || spec.kind === 'float';
      input = (
        <input
          type={numeric ? 'number' : 'text'}
          step={spec.kind === 'int' ? '1' : numeric ? 'any' : undefined}
          value={locked ? '' : values[field]}
          disabled={locked}
          placeholder={locked ? 'from the start run' : (spec.hint ?? (numeric ? 'default' : undefined))}
          onChange={(e) => set(field, e.target.value)}
          aria-invalid={invalid}
          data-testid={testId}
        />
      );
    }
    return (
      <label key={field} className={spec.kind === 'textarea' ? 'wide' : undefined}>
        {spec.label}
        {input}
        <FieldError name={field} errors={fieldErrors} />
      </label>
    );
  }

  function fieldsOf(section: FieldSection) {
    return FIELD_NAMES.filter((f) => specOf(f).section === section && !CUSTOM_FIELDS.includes(f));
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
          {datasetOptions.length > 0 ? (
            <select value={chosenDataset} onChange={(e) => set('dataset_key', e.target.value)} data-testid="run-dataset">
              {datasetOptions.map((key) => (
                <option key={key} value={key}>
                  {key}
                </option>
              ))}
            </select>
          ) : (
            <input
              value={values.dataset_key}
              onChange={(e) => set('dataset_key', e.target.value)}
              placeholder="dataset key"
              data-testid="run-dataset"
            />
          )}
          <FieldError name="dataset_key" errors={fieldErrors} />
        </label>
        <label>
          Algorithm
          <select
            value={grpo ? 'grpo' : 'sft'}
            onChange={(e) => set('algorithm', e.target.value)}
            data-testid="run-algorithm"
          >
            <option value="sft">SFT (supervised)</option>
            <option value="grpo">GRPO (RL)</option>
          </select>
        </label>
        {fromInit ? (
          <label>
            Model
            <span className="muted" data-testid="run-model-from-init">
              from the start run
            </span>
          </label>
        ) : (
          <label>
            Model
            <select value={choice} onChange={(e) => setChoice(e.target.value as ModelChoice)} data-testid="run-model">
              <option value="tiny">tiny (CPU preset)</option>
              <option value="small">small (preset)</option>
              <option value="local">local model…</option>
            </select>
            <FieldError name="model_id" errors={fieldErrors} />
          </label>
        )}
        {choice === 'local' && !fromInit && (
          <>
            <label>
              {specOf('model_id').label}
              <input value={localId} onChange={(e) => setLocalId(e.target.value)} placeholder={`from config.json (or a preset shape: ${DEFAULT_LOCAL_MODEL_ID})`} data-testid="run-model-id" />
            </label>
            <label>
              {specOf('model_path').label}
              <input
                value={values.model_path}
                onChange={(e) => set('model_path', e.target.value)}
                placeholder="/models/gemma3-270m"
                data-testid="run-model-path"
              />
              <FieldError name="model_path" errors={fieldErrors} />
            </label>
          </>
        )}
        {fieldsOf('main').map(renderField)}
        <label>
          Mode
          <select value={mode} onChange={(e) => setMode(e.target.value as 'async' | 'sync')} data-testid="run-mode">
            <option value="async">async (queue and return)</option>
            <option value="sync">sync (wait up to 30 s)</option>
          </select>
        </label>
      </div>
      {grpo && (
        <GrpoFields
          initFrom={values.init_from}
          onInitFrom={(text) => set('init_from', text)}
          values={values}
          onValue={set}
          errors={fieldErrors}
        />
      )}
      <div className="form-grid">{fieldsOf('labels').map(renderField)}</div>
      <details
        open={advancedOpen || advancedErrors}
        onToggle={(e) => setAdvancedOpen(e.currentTarget.open)}
        data-testid="run-advanced"
      >
        <summary>Advanced: training, checkpoints, evaluation, queue</summary>
        {ADVANCED_SECTIONS.map((section) => (
          <fieldset key={section} className="form-section">
            <legend>{SECTION_TITLES[section]}</legend>
            <div className="form-grid">{fieldsOf(section).map(renderField)}</div>
          </fieldset>
        ))}
      </details>
      <FieldError name="body" errors={fieldErrors} />
      <ErrorBanner error={error} />
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={busy || !chosenDataset} data-testid="run-submit">
          {busy ? 'Submitting…' : values.dry_run === 'true' ? 'Start dry run' : 'Start run'}
        </button>
      </div>
    </form>
  );
}

export function NewRunPage({ search }: { search: URLSearchParams }) {
  const cloneOf = search.get('clone') ?? '';
  const grpoFrom = cloneOf ? '' : (search.get('grpo_from') ?? ''); // "Continue with GRPO"
  const sourceId = cloneOf || grpoFrom;
  const datasets = useAsync((signal) => api.get<Page<Manifest>>('/api/datasets', { limit: 100 }, signal), []);
  const source = useAsync(
    (signal) =>
      sourceId ? api.get<Run>(`/api/tunix/runs/${encodeURIComponent(sourceId)}`, undefined, signal) : Promise.resolve(null),
    [sourceId],
  );
  const ready = datasets.data && (!sourceId || source.data);
  const initial = source.data ? (grpoFrom ? continueWithGrpoValues(source.data) : cloneValues(source.data)) : undefined;
  return (
    <section className="page" data-testid="new-run-page">
      <h1>{cloneOf ? 'New run (clone)' : grpoFrom ? 'New GRPO run' : 'New run'}</h1>
      {grpoFrom && source.data && (
        <p className="muted" data-testid="grpo-source">
          Continues run <code>{source.data.name ?? source.data.run_id.slice(0, 8)}</code> with GRPO from its latest
          checkpoint (choose another below).
        </p>
      )}
      {cloneOf && source.data && (
        <p className="muted" data-testid="clone-source">
          Prefilled from run <code>{source.data.name ?? source.data.run_id.slice(0, 8)}</code>: change what you want
          to try, then start it.
        </p>
      )}
      <ErrorBanner error={datasets.error} onRetry={datasets.reload} />
      <ErrorBanner error={source.error} onRetry={source.reload} />
      {ready && datasets.data && (
        <NewRunForm
          key={sourceId}
          datasets={datasets.data.data.map((d) => d.dataset_key)}
          initialDataset={search.get('dataset') ?? ''}
          initial={initial}
        />
      )}
      {datasets.data && datasets.data.data.length === 0 && (
        <p className="muted">No datasets yet: build one on the Datasets page first.</p>
      )}
    </section>
  );
}

// The GRPO part of the New run form: the run whose checkpoint the policy starts from (a
// completed training run of this service, its latest / best / a kept step) and the GRPO
// settings, each starting at the API's default.
import { api } from '../api/client';
import type { Page, RunCheckpoints, RunRow } from '../api/types';
import { shortId } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { GRPO_FIELDS, GRPO_FIELD_NAMES, grpoKey, initFromText, parseInitFrom, type GrpoKey } from '../pages/grpoFields';
import { ErrorBanner } from './ErrorBanner';
import { FieldError } from './FieldError';

export const SOURCE_RUNS_LIMIT = 100;

/** The run overview's "started from" entry: the run and checkpoint step a run began from. */
export function StartedFrom({ request }: { request: Record<string, unknown> }) {
  const init = parseInitFrom(initFromText(request.init_from));
  if (!init) return null;
  return (
    <>
      <dt>started from</dt>
      <dd data-testid="run-started-from">
        <Link to={`/runs/${encodeURIComponent(init.run_id)}`}>{shortId(init.run_id)}</Link>, checkpoint{' '}
        {typeof init.checkpoint === 'number' ? `step ${init.checkpoint}` : init.checkpoint}
        {request.algorithm === 'grpo' && <span className="tag">GRPO</span>}
      </dd>
    </>
  );
}

function runLabel(run: Pick<RunRow, 'run_id' | 'name' | 'model_id' | 'dataset_key' | 'last_step'>): string {
  const step = run.last_step === null ? '' : ` · step ${run.last_step}`;
  return `${run.name ?? shortId(run.run_id)} · ${run.model_id} on ${run.dataset_key}${step}`;
}

export function GrpoFields({
  initFrom,
  onInitFrom,
  values,
  onValue,
  errors,
}: {
  /** The form's init_from text ("RUN_ID:latest|best|STEP", or ""). */
  initFrom: string;
  onInitFrom: (text: string) => void;
  values: Record<GrpoKey, string>;
  onValue: (key: GrpoKey, value: string) => void;
  errors: Record<string, string>;
}) {
  const init = parseInitFrom(initFrom);
  const runId = init?.run_id ?? '';
  const checkpoint = init ? String(init.checkpoint) : 'latest';
  const runs = useAsync(
    (signal) =>
      api.get<Page<RunRow>>('/api/tunix/runs', { status: 'completed', kind: 'train', limit: SOURCE_RUNS_LIMIT }, signal),
    [],
  );
  const checkpoints = useAsync(
    (signal) =>
      runId
        ? api.get<RunCheckpoints>(`/api/tunix/runs/${encodeURIComponent(runId)}/checkpoints`, undefined, signal)
        : Promise.resolve(null),
    [runId],
  );
  const sources = (runs.data?.data ?? []).filter((r) => !r.dry_run);
  const listed = sources.some((r) => r.run_id === runId);
  const ckpt = checkpoints.data;
  const latestStep = ckpt?.checkpoints.at(-1)?.step;
  const steps = ckpt?.checkpoints.map((c) => c.step) ?? [];
  if (init && typeof init.checkpoint === 'number' && !steps.includes(init.checkpoint)) steps.push(init.checkpoint);

  return (
    <>
      <fieldset className="form-section" data-testid="grpo-init">
        <legend>Start from (the policy and the KL reference)</legend>
        <div className="form-grid">
          <label>
            Run
            <select
              value={runId}
              onChange={(e) => onInitFrom(e.target.value ? initFromText({ run_id: e.target.value, checkpoint: 'latest' }) : '')}
              aria-invalid={errors.init_from ? true : undefined}
              data-testid="run-init-run"
            >
              <option value="">choose a completed training run…</option>
              {runId && !listed && <option value={runId}>{shortId(runId)}</option>}
              {sources.map((r) => (
                <option key={r.run_id} value={r.run_id}>
                  {runLabel(r)}
                </option>
              ))}
            </select>
            <FieldError name="init_from" errors={errors} />
          </label>
          <label>
            Checkpoint
            <select
              value={checkpoint}
              disabled={!runId}
              onChange={(e) => onInitFrom(initFromText({ run_id: runId, checkpoint: e.target.value }))}
              data-testid="run-init-checkpoint"
            >
              <option value="latest">latest{latestStep !== undefined ? ` (step ${latestStep})` : ''}</option>
              <option value="best">
                best{ckpt?.best_step !== null && ckpt?.best_step !== undefined ? ` (step ${ckpt.best_step}, ${ckpt.best_metric})` : ''}
              </option>
              {steps.map((s) => (
                <option key={s} value={String(s)}>
                  step {s}
                </option>
              ))}
            </select>
            <FieldError name="init_from.checkpoint" errors={errors} />
          </label>
        </div>
        <p className="muted">
          The model, tokenizer, LoRA shape and max sequence length come from that run; prompts and expected answers from
          the dataset.
        </p>
        <ErrorBanner error={runs.error} onRetry={runs.reload} />
        <ErrorBanner error={checkpoints.error} onRetry={checkpoints.reload} />
      </fieldset>
      <fieldset className="form-section" data-testid="grpo-settings">
        <legend>GRPO</legend>
        <p className="muted">
          Each step samples <em>generations per prompt</em> completions of <em>batch size</em> prompts; every completion
          is scored (correct answer, format, length) and compared with its group.
        </p>
        <div className="form-grid">
          {GRPO_FIELD_NAMES.map((field) => {
            const spec = GRPO_FIELDS[field];
            const key = grpoKey(field);
            return (
              <label key={field}>
                {spec.label}
                <input
                  type="number"
                  step={spec.kind === 'int' ? '1' : 'any'}
                  value={values[key]}
                  placeholder="default"
                  onChange={(e) => onValue(key, e.target.value)}
                  aria-invalid={errors[key] ? true : undefined}
                  data-testid={`run-grpo-${field}`}
                />
                <FieldError name={key} errors={errors} />
              </label>
            );
          })}
        </div>
      </fieldset>
    </>
  );
}

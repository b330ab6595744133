// The Evaluation tab of a run: every evaluation of the run (its end-of-run one and the jobs
// that evaluated its checkpoints), the chosen one's record, and a form that queues an
// evaluation of any checkpoint on any dataset split (POST /api/evaluations).
import { useState } from 'react';
import { api } from '../api/client';
import type {
  Evaluation,
  EvaluationList,
  EvaluationRequest,
  EvaluationSubmitted,
  RunCheckpoints,
} from '../api/types';
import { CheckpointSelect } from '../components/CheckpointSelect';
import { ErrorBanner } from '../components/ErrorBanner';
import { FieldError } from '../components/FieldError';
import { formatDate, formatPercent } from '../lib/format';
import { useAsync } from '../lib/useAsync';
import { useSubmit } from '../lib/useSubmit';
import { EvaluationRecord } from './EvaluationRecord';

export const EVALUATIONS_PAGE = 50;
const ACTIVE = new Set(['pending', 'running']);
const POLL_MS = 2000;
const SPLITS = ['holdout', 'train', 'all'] as const;

export function RunEvaluations({
  runId,
  version,
  list,
  onChanged,
}: {
  runId: string;
  version: number;
  list: EvaluationList;
  onChanged: () => void;
}) {
  const [chosen, setChosen] = useState<string | null>(null);
  const rows = list.data;
  const completed = rows.find((e) => e.status === 'completed');
  const selected = rows.find((e) => e.evaluation_id === chosen) ?? completed ?? rows[0];
  return (
    <>
      {rows.length > 1 && (
        <EvaluationsTable rows={rows} total={list.total} selected={selected} onSelect={setChosen} />
      )}
      {selected && (
        <EvaluationRecord key={selected.evaluation_id} evaluation={selected} total={list.total} />
      )}
      <EvaluateCheckpointForm
        runId={runId}
        version={version}
        onSubmitted={(id) => {
          setChosen(id);
          onChanged();
        }}
      />
    </>
  );
}

/** True while an evaluation of the list still waits for its job: the tab polls then. */
export function hasActive(list: EvaluationList | undefined): boolean {
  return Boolean(list?.data.some((e) => ACTIVE.has(e.status)));
}
export { POLL_MS };

function EvaluationsTable({
  rows,
  total,
  selected,
  onSelect,
}: {
  rows: Evaluation[];
  total: number;
  selected: Evaluation | undefined;
  onSelect: (id: string) => void;
}) {
  return (
    <>
      <h3>
        Evaluations of this run{' '}
        <span className="muted">
          ({rows.length}
          {total > rows.length ? ` of ${total}` : ''})
        </span>
      </h3>
      <table className="table" data-testid="run-evaluations">
        <thead>
          <tr>
            <th>Step</th>
            <th>Dataset / split</th>
            <th>Status</th>
            <th>Exact match</th>
            <th>n</th>
            <th>Kind</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr
              key={e.evaluation_id}
              data-testid="run-evaluation-row"
              data-evaluation-id={e.evaluation_id}
              className={e.evaluation_id === selected?.evaluation_id ? 'selected' : undefined}
            >
              <td>
                <button type="button" className="btn btn-small" onClick={() => onSelect(e.evaluation_id)}>
                  {e.step ?? '—'}
                </button>
              </td>
              <td>
                <code>{e.dataset_key}</code> / {e.split}
              </td>
              <td>
                <span className={`badge badge-${e.status}`} data-testid="run-evaluation-status">
                  {e.status}
                </span>
              </td>
              <td>{formatPercent(e.summary.exact_match)}</td>
              <td>{e.summary.n}</td>
              <td>{e.job_id ? 'job' : 'end of run'}</td>
              <td>{formatDate(e.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function EvaluateCheckpointForm({
  runId,
  version,
  onSubmitted,
}: {
  runId: string;
  version: number;
  onSubmitted: (evaluationId: string) => void;
}) {
  const checkpoints = useAsync(
    (signal) => api.get<RunCheckpoints>(`/api/tunix/runs/${runId}/checkpoints`, undefined, signal),
    [runId, version],
  );
  const [checkpoint, setCheckpoint] = useState('latest');
  const [datasetKey, setDatasetKey] = useState('');
  const [split, setSplit] = useState<(typeof SPLITS)[number]>('holdout');
  const [maxExamples, setMaxExamples] = useState(200);
  const [done, setDone] = useState<EvaluationSubmitted | null>(null);
  const form = useSubmit();
  const steps = checkpoints.data?.checkpoints ?? [];
  if (steps.length === 0) return null; // nothing committed yet: nothing to evaluate

  async function submit() {
    const body: EvaluationRequest = {
      run_id: runId,
      checkpoint: /^\d+$/.test(checkpoint) ? Number(checkpoint) : (checkpoint as 'latest' | 'best'),
      split,
      max_examples: maxExamples,
    };
    if (datasetKey.trim()) body.dataset_key = datasetKey.trim();
    const submitted = await api.post<EvaluationSubmitted>('/api/evaluations', body);
    setDone(submitted);
    onSubmitted(submitted.evaluation_id);
  }

  return (
    <form
      className="card"
      data-testid="evaluate-form"
      onSubmit={(event) => {
        event.preventDefault();
        void form.submit(submit);
      }}
    >
      <h3>Evaluate a checkpoint</h3>
      <div className="form-grid">
        <label>
          Checkpoint
          <CheckpointSelect checkpoints={checkpoints.data} value={checkpoint} onChange={setCheckpoint} testId="evaluate-checkpoint" />
          <FieldError name="checkpoint" errors={form.fieldErrors} />
        </label>
        <label>
          Dataset
          <input
            data-testid="evaluate-dataset"
            placeholder="the run's dataset"
            value={datasetKey}
            maxLength={300}
            onChange={(event) => setDatasetKey(event.target.value)}
          />
          <FieldError name="dataset_key" errors={form.fieldErrors} />
        </label>
        <label>
          Split
          <select
            data-testid="evaluate-split"
            value={split}
            onChange={(event) => setSplit(event.target.value as (typeof SPLITS)[number])}
          >
            {SPLITS.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Max examples
          <input
            type="number"
            data-testid="evaluate-max-examples"
            min={1}
            max={100000}
            value={maxExamples}
            onChange={(event) => setMaxExamples(Number(event.target.value))}
          />
          <FieldError name="max_examples" errors={form.fieldErrors} />
        </label>
      </div>
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={form.busy} data-testid="evaluate-submit">
          {form.busy ? 'Queueing…' : 'Evaluate'}
        </button>
      </div>
      <ErrorBanner error={form.error} />
      {done && (
        <p className="muted" data-testid="evaluate-queued">
          Queued evaluation of step {done.step} ({done.status}); it runs on the run queue and shows above when done.
        </p>
      )}
    </form>
  );
}

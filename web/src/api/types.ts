// Hand-written types matching docs/api.md (the server's OpenAPI schema is the contract).

export interface Page<T> {
  data: T[];
  pagination: { limit: number; offset: number; next_offset: number | null };
}

export interface FieldError {
  field: string;
  message: string;
  type?: string;
  index?: number;
}

export interface TraceStep {
  i: number;
  type: string;
  content: string;
}

export interface TracePayload {
  trace_version: string;
  prompt: string;
  final_answer: string;
  steps: TraceStep[];
  meta: Record<string, unknown>;
}

export interface Score {
  id: string;
  trace_id: string;
  criteria: string;
  score: number;
  details: Record<string, unknown>;
  created_at: string;
}

export interface TraceSummary {
  id: string;
  created_at: string;
  trace_version: string;
  source: string | null;
  task: string | null;
  step_count: number;
  prompt_preview: string;
  final_answer_preview: string;
  score: number | null;
}

export interface Trace {
  id: string;
  created_at: string;
  trace_version: string;
  payload: TracePayload;
  scores: Score[];
}

export interface StepDiff {
  index: number;
  base: TraceStep | null;
  other: TraceStep | null;
  same: boolean;
}

export interface TraceComparison {
  base: Trace;
  other: Trace;
  diff: {
    first_divergent_step: number | null;
    steps_compared: number;
    final_answer_differs: boolean;
    steps: StepDiff[];
  };
}

export const TASKS = ['high_card_duel', 'addition', 'multiplication'] as const;
export type Task = (typeof TASKS)[number];

export interface DatasetFilters {
  source?: string | null;
  task?: string | null;
  min_score?: number | null;
  criteria?: string | null;
  created_after?: string | null;
  created_before?: string | null;
}

export interface DatasetBuildRequest {
  dataset_name?: string;
  dataset_version?: string;
  filters: DatasetFilters;
  limit?: number | null;
  selection_strategy: 'latest' | 'random' | 'top_score';
  seed?: number | null;
  holdout_fraction?: number | null;
}

export interface Manifest {
  dataset_key: string;
  name: string;
  version: string;
  filters: DatasetFilters;
  selection_strategy: string;
  seed: number | null;
  limit: number | null;
  holdout_fraction: number;
  trace_count: number;
  train_count: number;
  holdout_count: number;
  content_hash: string;
  created_at: string;
}

export const RUN_STATUSES = [
  'pending',
  'running',
  'cancel_requested',
  'completed',
  'failed',
  'cancelled',
  'timeout',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const ACTIVE_STATUSES: readonly string[] = ['pending', 'running', 'cancel_requested'];

export interface EvalSummary {
  exact_match: number | null;
  format_ok: number | null;
  n: number | null;
  [key: string]: unknown;
}

export interface RunRequest {
  dataset_key: string;
  model_id?: string;
  model_path?: string | null;
  dry_run?: boolean;
  learning_rate?: number | null;
  num_epochs?: number | null;
  max_steps?: number | null;
  batch_size?: number | null;
  max_seq_length?: number | null;
  seed?: number | null;
  save_every_steps?: number | null;
  [key: string]: unknown;
}

export interface RunRow {
  run_id: string;
  status: string;
  mode: string;
  dataset_key: string;
  model_id: string;
  dry_run: boolean;
  priority: number;
  attempt: number;
  max_attempts: number;
  worker_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_s: number | null;
  exit_code: number | null;
  error: string | null;
  last_step: number | null;
  max_steps: number | null;
  log_lines: number;
  log_dropped_lines: number;
  eval: EvalSummary | null;
  retry_of: string | null;
}

export interface Run extends RunRow {
  request: Record<string, unknown>;
  stdout_tail: string;
  stderr_tail: string;
}

export interface RunEvent {
  from_status: string | null;
  to_status: string;
  reason: string | null;
  attempt: number;
  worker_id: string | null;
  created_at: string;
}

export interface MetricPoint {
  name: string;
  step: number;
  value: number;
}

export interface EvalExample {
  id: string;
  trace_id?: string;
  prompt: string;
  expected_answer: string | null;
  generated: string;
  extracted_answer: string | null;
  correct: boolean;
  format_ok: boolean;
}

export interface EvalReport {
  summary: EvalSummary;
  examples: EvalExample[];
}

export interface Artifact {
  id: string;
  name: string;
  kind: 'file' | 'directory';
  size_bytes: number | null;
  sha256: string | null;
  created_at: string;
}

export interface LogLine {
  seq: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface MetricEvent {
  step: number;
  values: Record<string, number>;
}

export interface Health {
  status: string;
  version: string;
  database: string;
}

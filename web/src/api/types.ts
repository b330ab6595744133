// API types. Everything the server's OpenAPI schema describes is an alias into schema.d.ts,
// which the build generates from that schema (`make web`: python -m tunix_rt.api.openapi_dump,
// then openapi-typescript), so a server change that breaks this UI fails `tsc`.
// Hand-written here: only what the schema cannot describe (error bodies, SSE payloads, the
// stored eval and dry-run reports) and constants.
import type { components } from './schema';

type Schemas = components['schemas'];

export type Pagination = Schemas['Pagination'];
export interface Page<T> {
  data: T[];
  pagination: Pagination;
}

export type TraceStep = Schemas['TraceStep'];
export type TracePayload = Schemas['TracePayload'];
export type Score = Schemas['Score'];
export type TraceSummary = Schemas['TraceSummary'];
export type Trace = Schemas['Trace'];
export type StepDiff = Schemas['StepDiff'];
export type TraceComparison = Schemas['TraceComparison'];

export type Task = Schemas['GenerateRequest']['task'];
export const TASKS: readonly Task[] = ['high_card_duel', 'addition', 'multiplication'];

export type DatasetFilters = Schemas['DatasetFilters'];
export type DatasetBuildRequest = Schemas['BuildRequest'];
export type DatasetPreviewRequest = Schemas['PreviewRequest'];
export type Manifest = Schemas['Manifest'];

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

export type EvalSummary = Schemas['EvalSummaryOut'];
export type RunRequest = Schemas['RunRequest'];
export type RunRow = Schemas['RunRowOut'];
export type Run = Schemas['RunOut'];
export type RunEvent = Schemas['RunEventOut'];
export type MetricPoint = Schemas['MetricPoint'];
export type RunParams = Schemas['RunParams'];
export type EvaluationComparison = Schemas['EvaluationComparison'];
export type Artifact = Schemas['ArtifactOut'];
export type Health = Schemas['Health'];
export type Rollout = Schemas['RolloutOut'];
export type RolloutPage = Schemas['RolloutPage'];
export type RolloutTracesOut = Schemas['RolloutTracesOut'];

export type Evaluation = Schemas['EvaluationOut'];
export type EvaluationSummary = Schemas['EvaluationSummary'];
export type ClassSummary = Schemas['ClassSummary'];
export type EvaluationList = Schemas['EvaluationList'];
export type EvaluationRequest = Schemas['EvaluationRequest'];
export type EvaluationSubmitted = Schemas['EvaluationSubmitted'];
export type RunCheckpoints = Schemas['RunCheckpointsOut'];
export type EvaluationExample = Schemas['EvaluationExampleOut'];
export type EvaluationExampleList = Schemas['EvaluationExampleList'];
export type Leaderboard = Schemas['Leaderboard'];
export type LeaderboardEntry = Schemas['LeaderboardEntry'];
export const LEADERBOARD_METRICS = ['exact_match', 'format_ok'] as const;
export type LeaderboardMetric = (typeof LEADERBOARD_METRICS)[number];

/** One entry of a 4xx body's `errors` (the server's error handler, not in the schema). */
export interface FieldError {
  field: string;
  message: string;
  type?: string;
  index?: number;
}

/** GET /api/tunix/runs/{id}/eval returns the stored eval.json. */
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

export interface LengthStats {
  min: number;
  mean: number;
  p95: number;
  max: number;
}

/** The dry run's report (the run's dry_run.json artifact, written by training/dryrun.py). */
export interface DryRunReport {
  valid: boolean;
  train_examples: number;
  holdout_examples: number;
  vocab_size: number;
  token_lengths: LengthStats;
  response_token_lengths: LengthStats;
  responses_longer_than_max_new_tokens: number;
  max_seq_length: number;
  padded_seq_length: number;
  truncated_examples: number;
  examples_without_response_tokens: number;
  planned_steps: number;
  epochs: number;
  parameter_count: number | null;
  estimated_memory_bytes: number | null;
  wall_s: number;
  note?: string;
}

// Server-sent events of GET /api/tunix/runs/{id}/logs (SSE is outside the OpenAPI schema).
export interface LogLine {
  seq: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface MetricEvent {
  step: number;
  values: Record<string, number>;
}

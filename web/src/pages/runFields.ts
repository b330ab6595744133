// Every field of the API's RunRequest, with the limits the API enforces. `satisfies
// Record<keyof RunRequest, ...>` makes a field added to (or removed from) the server's
// RunRequest fail `tsc` until this table follows, and runFields.test.ts checks each limit
// against the OpenAPI schema the types come from: the form cannot drift from the API.
import type { Run, RunRequest } from '../api/types';
import { shortId } from '../lib/format';
import {
  FROM_INIT_SOURCE,
  GRPO_FIELDS,
  GRPO_FIELD_NAMES,
  grpoKey,
  initFromText,
  parseInitFrom,
  type GrpoKey,
} from './grpoFields';

export type RunField = keyof RunRequest;
export type FieldKind = 'int' | 'float' | 'text' | 'textarea' | 'bool' | 'choice' | 'tags' | 'model' | 'mesh' | 'init' | 'grpo';
export type FieldSection = 'main' | 'labels' | 'training' | 'checkpoints' | 'evaluation' | 'queue';

export interface FieldSpec {
  label: string;
  kind: FieldKind;
  section: FieldSection;
  min?: number;
  max?: number;
  exclusiveMin?: number;
  exclusiveMax?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  maxItems?: number;
  choices?: readonly string[];
  /** The form's starting value (the worker's default, shown so people see what they get). */
  initial?: string;
  hint?: string;
}

export const TAG_PATTERN = '^[A-Za-z0-9_.:-]+$';
export const MAX_TAGS = 20;
export const MAX_NAME_CHARS = 200;
export const PRESET_MODELS = ['tiny', 'small'] as const;
/** A mesh input: DATAxMODEL devices, each axis 1..MAX_MESH_AXIS (the API's RunMesh). */
export const MESH_PATTERN = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/;
export const MAX_MESH_AXIS = 4096;

export const RUN_FIELDS = {
  dataset_key: { label: 'Dataset', kind: 'text', section: 'main', minLength: 1, maxLength: 300 },
  model_id: { label: 'Model id', kind: 'model', section: 'main', maxLength: 64 },
  model_path: { label: 'Model path', kind: 'model', section: 'main', minLength: 1, maxLength: 4096 },
  name: { label: 'Name', kind: 'text', section: 'labels', maxLength: MAX_NAME_CHARS, hint: 'what to call the run' },
  tags: {
    label: 'Tags',
    kind: 'tags',
    section: 'labels',
    minLength: 1,
    maxLength: 64,
    pattern: TAG_PATTERN,
    maxItems: MAX_TAGS,
    hint: 'space or comma separated',
  },
  max_steps: { label: 'Max steps', kind: 'int', section: 'main', min: 1, max: 1_000_000, initial: '300' },
  batch_size: { label: 'Batch size', kind: 'int', section: 'main', min: 1, max: 4096, initial: '16' },
  learning_rate: { label: 'Learning rate', kind: 'float', section: 'main', exclusiveMin: 0, max: 1, initial: '0.003' },
  max_seq_length: { label: 'Max sequence length', kind: 'int', section: 'main', min: 8, max: 32768, initial: '128' },
  seed: { label: 'Seed', kind: 'int', section: 'main', min: 0, max: 2 ** 31 - 1, initial: '0' },
  save_every_steps: { label: 'Save every (steps)', kind: 'int', section: 'main', min: 1, max: 1_000_000, initial: '100' },
  dry_run: { label: 'Dry run (validate spec and data, no training)', kind: 'bool', section: 'main' },
  notes: { label: 'Notes', kind: 'textarea', section: 'labels', maxLength: 10_000 },
  num_epochs: { label: 'Epochs (instead of max steps)', kind: 'int', section: 'training', min: 1, max: 1000 },
  warmup_fraction: { label: 'Warmup fraction', kind: 'float', section: 'training', min: 0, exclusiveMax: 1 },
  lora_rank: { label: 'LoRA rank (pretrained models)', kind: 'int', section: 'training', min: 1, max: 512 },
  lora_alpha: { label: 'LoRA alpha', kind: 'float', section: 'training', exclusiveMin: 0, max: 1e6 },
  dtype: { label: 'Precision', kind: 'choice', section: 'training', choices: ['float32', 'bfloat16'] },
  mesh: { label: 'Device mesh (data x model)', kind: 'mesh', section: 'training', hint: 'e.g. 2x2; empty: one device' },
  keep_checkpoints: { label: 'Keep checkpoints', kind: 'int', section: 'checkpoints', min: 1, max: 100 },
  best_metric: {
    label: 'Best checkpoint by',
    kind: 'text',
    section: 'checkpoints',
    pattern: '^(loss|perplexity|eval/[!-~]{1,59})$',
    hint: 'loss, perplexity or eval/<metric>',
  },
  best_mode: { label: 'Best is', kind: 'choice', section: 'checkpoints', choices: ['max', 'min'] },
  eval_every_steps: { label: 'Evaluate every (steps)', kind: 'int', section: 'evaluation', min: 1 },
  eval_at_checkpoints: { label: 'Evaluate at every checkpoint', kind: 'bool', section: 'evaluation' },
  eval_subset_size: { label: 'Evaluation subset size', kind: 'int', section: 'evaluation', min: 1, max: 10_000 },
  eval_max_examples: { label: 'Final evaluation examples', kind: 'int', section: 'evaluation', min: 0, max: 100_000 },
  eval_max_new_tokens: { label: 'Evaluation max new tokens', kind: 'int', section: 'evaluation', min: 1, max: 4096 },
  timeout_s: { label: 'Timeout (s)', kind: 'int', section: 'queue', min: 1, max: 7 * 24 * 3600 },
  priority: { label: 'Priority (higher first)', kind: 'int', section: 'queue', min: -1000, max: 1000 },
  max_attempts: { label: 'Max attempts', kind: 'int', section: 'queue', min: 1, max: 20 },
  // GRPO (rendered by GrpoFields): init_from as "RUN_ID:CHECKPOINT", grpo as one input per setting.
  algorithm: { label: 'Algorithm', kind: 'choice', section: 'main', choices: ['sft', 'grpo'] },
  init_from: { label: 'Start from', kind: 'init', section: 'main', hint: 'RUN_ID:latest|best|STEP' },
  grpo: { label: 'GRPO settings', kind: 'grpo', section: 'main' },
} as const satisfies Record<RunField, FieldSpec>;

export const FIELD_NAMES = Object.keys(RUN_FIELDS) as RunField[];
export const ADVANCED_SECTIONS: readonly FieldSection[] = ['training', 'checkpoints', 'evaluation', 'queue'];
export const SECTION_TITLES: Record<FieldSection, string> = {
  main: 'Run',
  labels: 'Labels',
  training: 'Training',
  checkpoints: 'Checkpoints',
  evaluation: 'Evaluation during training',
  queue: 'Queue',
};

export function specOf(field: RunField): FieldSpec {
  return RUN_FIELDS[field];
}

export function isAdvanced(field: RunField): boolean {
  return ADVANCED_SECTIONS.includes(specOf(field).section);
}

/** The form's values: every field as the text (or "true"/"false") its input holds; each GRPO
 * setting under its own key ("grpo.beta"), the `grpo` key itself unused. */
export type FormValues = Record<RunField | GrpoKey, string>;

export function initialValues(): FormValues {
  const values = {} as FormValues;
  for (const field of FIELD_NAMES) {
    const spec = specOf(field);
    values[field] = spec.kind === 'bool' ? 'false' : (spec.initial ?? '');
  }
  for (const field of GRPO_FIELD_NAMES) values[grpoKey(field)] = GRPO_FIELDS[field].initial;
  values.model_id = 'tiny';
  return values;
}

/** Form values holding a stored request (absent fields left empty: the server's default). */
export function valuesFromRequest(request: Record<string, unknown>): FormValues {
  const values = initialValues();
  for (const field of FIELD_NAMES) {
    const spec = specOf(field);
    const value = request[field];
    if (spec.kind === 'bool') values[field] = value === true ? 'true' : 'false';
    else if (spec.kind === 'mesh') values[field] = meshText(value);
    else if (spec.kind === 'init') values[field] = initFromText(value);
    else if (spec.kind === 'grpo') {
      // Without GRPO settings (an SFT run) the GRPO inputs keep their defaults.
      if (value === null || typeof value !== 'object') continue;
      const grpo = value as Record<string, unknown>;
      for (const name of GRPO_FIELD_NAMES) values[grpoKey(name)] = grpo[name] == null ? '' : String(grpo[name]);
    }
    else if (Array.isArray(value)) values[field] = value.join(' ');
    else values[field] = value === null || value === undefined ? '' : String(value);
  }
  if (!values.model_id) values.model_id = 'tiny';
  return values;
}

/** The New run form for a clone of RUN: its request, labels, and "<name> (clone)". */
export function cloneValues(run: Run): FormValues {
  const suffix = ' (clone)';
  const base = (run.name ?? shortId(run.run_id)).slice(0, MAX_NAME_CHARS - suffix.length);
  return valuesFromRequest({
    ...run.request,
    dataset_key: run.dataset_key,
    name: `${base}${suffix}`,
    tags: run.tags,
    notes: run.notes,
  });
}

function meshText(value: unknown): string {
  if (value === null || typeof value !== 'object') return '';
  const mesh = value as { data?: number; model?: number };
  return `${mesh.data ?? 1}x${mesh.model ?? 1}`;
}

/** "2x2" as the API's mesh; null when the text is not DATAxMODEL. */
export function parseMesh(raw: string): { data: number; model: number } | null {
  const match = MESH_PATTERN.exec(raw);
  return match ? { data: Number(match[1]), model: Number(match[2]) } : null;
}

/** The New run form for a GRPO run that continues RUN from its latest checkpoint. */
export function continueWithGrpoValues(run: Run): FormValues {
  const suffix = ' (GRPO)';
  const base = (run.name ?? shortId(run.run_id)).slice(0, MAX_NAME_CHARS - suffix.length);
  const values = initialValues();
  for (const field of FROM_INIT_SOURCE) if (field !== 'model_id') values[field] = ''; // the form's model choice stays
  return {
    ...values,
    algorithm: 'grpo',
    init_from: initFromText({ run_id: run.run_id, checkpoint: 'latest' }),
    dataset_key: run.dataset_key,
    name: `${base}${suffix}`,
  };
}

export function parseTags(raw: string): string[] {
  return [...new Set(raw.split(/[\s,]+/).filter(Boolean))];
}

function describe(value: number): string {
  return Number.isInteger(value) && Math.abs(value) >= 1e6 ? value.toExponential() : String(value);
}

/** The API's limit checks on one field's input; null when it passes (or is empty). */
export function checkField(field: RunField, raw: string): string | null {
  return checkSpec(specOf(field), raw);
}

/** The API's limit checks on one input of the given spec; null when it passes (or is empty). */
export function checkSpec(spec: FieldSpec, raw: string): string | null {
  if (spec.kind === 'bool' || spec.kind === 'choice' || spec.kind === 'grpo') return null;
  if (raw.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  if (spec.kind === 'tags') {
    const tags = parseTags(raw);
    const re = new RegExp(spec.pattern ?? '');
    for (const tag of tags) {
      if (tag.length > (spec.maxLength ?? Infinity) || !re.test(tag)) {
        return `tag '${tag.slice(0, 64)}' must be 1 to ${spec.maxLength} letters, digits, '_', '.', ':' or '-'`;
      }
    }
    if (tags.length > (spec.maxItems ?? Infinity)) return `at most ${spec.maxItems} tags per run, got ${tags.length}`;
    return null;
  }
  const text = spec.kind === 'textarea' ? raw : raw.trim();
  if (text === '') return null;
  if (spec.kind === 'init') return parseInitFrom(text) ? null : 'give RUN_ID:latest, RUN_ID:best or RUN_ID:STEP';
  if (spec.kind === 'mesh') {
    const mesh = parseMesh(text);
    if (!mesh) return 'give DATAxMODEL devices, e.g. 2x2';
    if (Math.min(mesh.data, mesh.model) < 1 || Math.max(mesh.data, mesh.model) > MAX_MESH_AXIS)
      return `each mesh axis must be 1 to ${MAX_MESH_AXIS}`;
    return null;
  }
  if (spec.kind === 'int' || spec.kind === 'float') {
    if (spec.kind === 'int' && !/^[-+]?\d+$/.test(text)) return 'Input should be a valid integer';
    const value = Number(text);
    if (!Number.isFinite(value)) return 'Input should be a valid number';
    if (spec.min !== undefined && value < spec.min) return `Input should be greater than or equal to ${describe(spec.min)}`;
    if (spec.exclusiveMin !== undefined && value <= spec.exclusiveMin)
      return `Input should be greater than ${describe(spec.exclusiveMin)}`;
    if (spec.max !== undefined && value > spec.max) return `Input should be less than or equal to ${describe(spec.max)}`;
    if (spec.exclusiveMax !== undefined && value >= spec.exclusiveMax)
      return `Input should be less than ${describe(spec.exclusiveMax)}`;
    return null;
  }
  if (spec.maxLength !== undefined && text.length > spec.maxLength)
    return `String should have at most ${spec.maxLength} characters`;
  if (spec.pattern !== undefined && !new RegExp(spec.pattern).test(text))
    return `String should match pattern '${spec.pattern}'`;
  return null;
}

export function checkValues(values: FormValues): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const field of FIELD_NAMES) {
    const message = checkField(field, values[field]);
    if (message) errors[field] = message;
  }
  if (values.algorithm === 'grpo') {
    for (const field of GRPO_FIELD_NAMES) {
      const message = checkSpec(GRPO_FIELDS[field], values[grpoKey(field)]);
      if (message) errors[grpoKey(field)] = message;
    }
  }
  return errors;
}

/** The request body: empty inputs are left out (the server's defaults apply). */
export function buildRequest(values: FormValues): RunRequest {
  const body: Record<string, unknown> = {};
  for (const field of FIELD_NAMES) {
    const spec: FieldSpec = specOf(field);
    const raw = values[field];
    if (spec.kind === 'bool') {
      if (field === 'dry_run' || raw === 'true') body[field] = raw === 'true';
    } else if (spec.kind === 'tags') {
      const tags = parseTags(raw);
      if (tags.length) body[field] = tags;
    } else if (spec.kind === 'textarea') {
      if (raw.trim() !== '') body[field] = raw;
    } else if (spec.kind === 'mesh') {
      const mesh = parseMesh(raw);
      if (mesh) body[field] = mesh;
    } else if (spec.kind === 'init') {
      const init = parseInitFrom(raw);
      if (init) body[field] = init;
    } else if (spec.kind === 'grpo') {
      if (values.algorithm === 'grpo') body[field] = numbersOf(GRPO_FIELD_NAMES, (f) => values[grpoKey(f)]);
    } else if (raw.trim() !== '') {
      body[field] = spec.kind === 'int' || spec.kind === 'float' ? Number(raw.trim()) : raw.trim();
    }
  }
  // A run started from another run's checkpoint takes its model from there (the API refuses these).
  if (body.init_from) for (const field of FROM_INIT_SOURCE) delete body[field];
  return body as RunRequest;
}

function numbersOf<F extends string>(fields: readonly F[], raw: (field: F) => string): Partial<Record<F, number>> {
  const out: Partial<Record<F, number>> = {};
  for (const field of fields) if (raw(field).trim() !== '') out[field] = Number(raw(field).trim());
  return out;
}

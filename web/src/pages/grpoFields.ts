// The New run form's GRPO part: every field of the API's GRPO settings with its limits and
// default (`satisfies Record<keyof GrpoRequest, ...>`: a field added to or removed from the
// server's GRPOSpec fails `tsc` until this table follows; runFields.test.ts checks the limits
// against the OpenAPI schema), and the init_from value ("RUN_ID:latest|best|STEP", as the CLI's
// --init-from takes it) the form keeps as text.
import type { RunRequest } from '../api/types';
import type { FieldSpec } from './runFields';

export type GrpoRequest = NonNullable<RunRequest['grpo']>;
export type InitFrom = NonNullable<RunRequest['init_from']>;
export type GrpoField = keyof GrpoRequest;
/** The form's key of a GRPO setting. */
export type GrpoKey = `grpo.${GrpoField}`;

export const GRPO_FIELDS = {
  num_generations: { label: 'Generations per prompt', kind: 'int', section: 'main', min: 2, max: 64, initial: '4' },
  num_iterations: { label: 'Updates per batch', kind: 'int', section: 'main', min: 1, max: 1, initial: '1' },
  beta: { label: 'KL weight (beta)', kind: 'float', section: 'main', min: 0, max: 10, initial: '0.04' },
  epsilon: { label: 'Clipping (epsilon)', kind: 'float', section: 'main', exclusiveMin: 0, max: 1, initial: '0.2' },
  temperature: { label: 'Sampling temperature', kind: 'float', section: 'main', exclusiveMin: 0, max: 5, initial: '0.9' },
  max_new_tokens: { label: 'Max new tokens', kind: 'int', section: 'main', min: 1, max: 4096, initial: '64' },
  reward_correct: { label: 'Reward: correct answer', kind: 'float', section: 'main', min: 0, max: 100, initial: '1' },
  reward_format: { label: 'Reward: format', kind: 'float', section: 'main', min: 0, max: 100, initial: '0.2' },
  length_penalty: { label: 'Length penalty', kind: 'float', section: 'main', min: 0, max: 100, initial: '0' },
  rollout_every_steps: { label: 'Store rollouts every (steps)', kind: 'int', section: 'main', min: 1, initial: '10' },
  rollout_prompts: { label: 'Prompts per stored rollout', kind: 'int', section: 'main', min: 1, max: 256, initial: '4' },
} as const satisfies Record<GrpoField, FieldSpec>;

export const GRPO_FIELD_NAMES = Object.keys(GRPO_FIELDS) as GrpoField[];

export function grpoKey(field: GrpoField): GrpoKey {
  return `grpo.${field}`;
}

/** The request fields a run started from another run's checkpoint takes from that run (the
 * API refuses them with init_from; runs/schema.py FROM_INIT_SOURCE, plus the model id). */
export const FROM_INIT_SOURCE = ['model_id', 'model_path', 'lora_rank', 'lora_alpha', 'max_seq_length'] as const;

export const CHECKPOINT_CHOICES = ['latest', 'best'] as const;

/** "RUN_ID:latest" as the API's init_from; null for empty or malformed text. */
export function parseInitFrom(raw: string): InitFrom | null {
  const text = raw.trim();
  const cut = text.lastIndexOf(':');
  const runId = (cut === -1 ? text : text.slice(0, cut)).trim();
  const checkpoint = cut === -1 ? 'latest' : text.slice(cut + 1).trim();
  if (!runId) return null;
  if (checkpoint === 'latest' || checkpoint === 'best') return { run_id: runId, checkpoint };
  if (/^\d+$/.test(checkpoint)) return { run_id: runId, checkpoint: Number(checkpoint) };
  return null;
}

export function initFromText(value: unknown): string {
  if (value === null || typeof value !== 'object') return '';
  const init = value as { run_id?: unknown; checkpoint?: unknown };
  if (typeof init.run_id !== 'string' || !init.run_id) return '';
  return `${init.run_id}:${init.checkpoint ?? 'latest'}`;
}

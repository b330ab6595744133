import { describe, expect, it } from 'vitest';
import type { Run } from '../api/types';
import { GRPO_FIELDS, GRPO_FIELD_NAMES, initFromText, parseInitFrom } from '../pages/grpoFields';
import { buildRequest, checkValues, cloneValues, continueWithGrpoValues, initialValues } from '../pages/runFields';

// web/openapi.json: written by `make web` from the server (the schema the UI's types come from).
const dumped = import.meta.glob('../../openapi.json', { eager: true, import: 'default' });

interface PropertySchema {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

function grpoSchema(): Record<string, PropertySchema> {
  const openapi = Object.values(dumped)[0] as
    | { components: { schemas: Record<string, { properties?: Record<string, PropertySchema> }> } }
    | undefined;
  if (!openapi) throw new Error('web/openapi.json is missing: run `make web` first');
  return openapi.components.schemas.GRPOSpec.properties ?? {};
}

const GRPO_RUN = {
  run_id: '11112222-0000-4000-8000-000000000000',
  dataset_key: 'add-v1',
  name: 'GRPO 1',
  tags: ['rl'],
  notes: '',
  request: {
    dataset_key: 'add-v1',
    model_id: 'tiny',
    algorithm: 'grpo',
    init_from: { run_id: 'aaaabbbb-0000-4000-8000-000000000000', checkpoint: 40 },
    max_steps: 20,
    grpo: {
      num_generations: 8,
      num_iterations: 1,
      beta: 0.04,
      epsilon: 0.2,
      temperature: 0.7,
      max_new_tokens: 32,
      reward_correct: 1,
      reward_format: 0.2,
      length_penalty: 0,
      rollout_every_steps: 5,
      rollout_prompts: 4,
    },
  },
} as unknown as Run;

describe('GRPO_FIELDS', () => {
  it('names every GRPO setting of the API, with its limits and its default as the starting value', () => {
    const schema = grpoSchema();
    expect([...GRPO_FIELD_NAMES].sort()).toEqual(Object.keys(schema).sort());
    for (const field of GRPO_FIELD_NAMES) {
      const spec: Record<string, unknown> = GRPO_FIELDS[field];
      const s = schema[field];
      expect({ field, kind: spec.kind, min: spec.min, max: spec.max, exclusiveMin: spec.exclusiveMin, initial: Number(spec.initial) }).toEqual({
        field,
        kind: s.type === 'integer' ? 'int' : 'float',
        min: s.minimum,
        max: s.maximum,
        exclusiveMin: s.exclusiveMinimum,
        initial: s.default,
      });
    }
  });
});

describe('init_from text', () => {
  it('reads RUN_ID[:latest|best|STEP] and writes it back', () => {
    expect(parseInitFrom('abc')).toEqual({ run_id: 'abc', checkpoint: 'latest' });
    expect(parseInitFrom(' abc:best ')).toEqual({ run_id: 'abc', checkpoint: 'best' });
    expect(parseInitFrom('abc:40')).toEqual({ run_id: 'abc', checkpoint: 40 });
    expect(parseInitFrom('abc:newest')).toBeNull();
    expect(parseInitFrom('')).toBeNull();
    expect(initFromText({ run_id: 'abc', checkpoint: 40 })).toBe('abc:40');
    expect(initFromText(null)).toBe('');
  });
});

describe('GRPO request', () => {
  it('sends the GRPO settings only for algorithm grpo, and leaves out what comes from the start run', () => {
    const sft = buildRequest({ ...initialValues(), dataset_key: 'add-v1' });
    expect(sft).not.toHaveProperty('grpo');
    expect(sft).not.toHaveProperty('algorithm');
    expect(sft).toHaveProperty('max_seq_length', 128);

    const values = { ...initialValues(), dataset_key: 'add-v1', algorithm: 'grpo', init_from: 'run-1:best', 'grpo.beta': '0' };
    expect(buildRequest(values)).toEqual({
      dataset_key: 'add-v1',
      dry_run: false,
      algorithm: 'grpo',
      init_from: { run_id: 'run-1', checkpoint: 'best' },
      max_steps: 300,
      batch_size: 16,
      learning_rate: 0.003,
      seed: 0,
      save_every_steps: 100,
      grpo: {
        num_generations: 4,
        num_iterations: 1,
        beta: 0,
        epsilon: 0.2,
        temperature: 0.9,
        max_new_tokens: 64,
        reward_correct: 1,
        reward_format: 0.2,
        length_penalty: 0,
        rollout_every_steps: 10,
        rollout_prompts: 4,
      },
    });
  });

  it('checks the GRPO settings against the API limits', () => {
    const values = { ...initialValues(), algorithm: 'grpo', 'grpo.num_generations': '1', 'grpo.epsilon': '0', init_from: 'x:soon' };
    expect(checkValues(values)).toEqual({
      'grpo.num_generations': 'Input should be greater than or equal to 2',
      'grpo.epsilon': 'Input should be greater than 0',
      init_from: 'give RUN_ID:latest, RUN_ID:best or RUN_ID:STEP',
    });
    expect(checkValues({ ...values, algorithm: 'sft', init_from: '' })).toEqual({}); // not sent for SFT
  });

  it('clones a GRPO run into the same request', () => {
    const values = cloneValues(GRPO_RUN);
    expect(values.algorithm).toBe('grpo');
    expect(values['grpo.num_generations']).toBe('8');
    expect(buildRequest(values)).toEqual({
      ...GRPO_RUN.request,
      model_id: undefined,
      dry_run: false,
      name: 'GRPO 1 (clone)',
      tags: ['rl'],
    });
  });

  it('keeps the GRPO defaults in a clone of an SFT run, should it become a GRPO run', () => {
    const sft = { ...GRPO_RUN, request: { dataset_key: 'add-v1', max_steps: 30, grpo: null } } as unknown as Run;
    const values = cloneValues(sft);
    expect(buildRequest(values)).not.toHaveProperty('grpo');
    expect(buildRequest({ ...values, algorithm: 'grpo' }).grpo).toMatchObject({ num_generations: 4, beta: 0.04 });
  });

  it('continues a run with GRPO from its latest checkpoint, on its dataset', () => {
    const source = { ...GRPO_RUN, run_id: 'sft-run', name: 'Baseline', request: { dataset_key: 'add-v1' } } as unknown as Run;
    const body = buildRequest(continueWithGrpoValues(source));
    expect(body).toMatchObject({
      dataset_key: 'add-v1',
      algorithm: 'grpo',
      init_from: { run_id: 'sft-run', checkpoint: 'latest' },
      name: 'Baseline (GRPO)',
      grpo: { num_generations: 4, rollout_every_steps: 10 },
    });
    expect(body).not.toHaveProperty('model_id');
    expect(body).not.toHaveProperty('max_seq_length');
  });
});

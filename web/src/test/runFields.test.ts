import { describe, expect, it } from 'vitest';
import type { Run } from '../api/types';
import { FIELD_NAMES, RUN_FIELDS, buildRequest, checkField, cloneValues, type FieldSpec } from '../pages/runFields';

// web/openapi.json: written by `make web` from the server (the schema the UI's types come from).
const dumped = import.meta.glob('../../openapi.json', { eager: true, import: 'default' });

interface JsonSchema {
  type?: string;
  $ref?: string;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: string[];
  maxItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
}

function componentSchemas(): Record<string, JsonSchema> {
  const openapi = Object.values(dumped)[0] as { components: { schemas: Record<string, JsonSchema> } } | undefined;
  if (!openapi) throw new Error('web/openapi.json is missing: run `make web` first');
  return openapi.components.schemas;
}

function runRequestSchema(): Record<string, JsonSchema> {
  return componentSchemas().RunRequest.properties ?? {};
}

/** The schema of a value that may also be null: its non-null branch (a $ref followed). */
function valueSchema(schema: JsonSchema): JsonSchema {
  const value = schema.anyOf?.find((s) => s.type !== 'null') ?? schema;
  return value.$ref ? componentSchemas()[value.$ref.split('/').pop() ?? ''] : value;
}

function limitsOf(schema: JsonSchema) {
  const s = valueSchema(schema);
  const item = s.type === 'array' ? (s.items ?? {}) : s;
  return {
    min: item.minimum,
    max: item.maximum,
    exclusiveMin: item.exclusiveMinimum,
    exclusiveMax: item.exclusiveMaximum,
    minLength: item.minLength,
    maxLength: item.maxLength,
    pattern: item.pattern,
    choices: item.enum,
    maxItems: s.maxItems,
  };
}

function limitsOfSpec(spec: FieldSpec) {
  return {
    min: spec.min,
    max: spec.max,
    exclusiveMin: spec.exclusiveMin,
    exclusiveMax: spec.exclusiveMax,
    minLength: spec.minLength,
    maxLength: spec.maxLength,
    pattern: spec.pattern,
    choices: spec.choices ? [...spec.choices] : undefined,
    maxItems: spec.maxItems,
  };
}

describe('RUN_FIELDS', () => {
  it('names every field of the API RunRequest, and only those', () => {
    expect([...FIELD_NAMES].sort()).toEqual(Object.keys(runRequestSchema()).sort());
  });

  it('holds exactly the limits the API enforces for each field', () => {
    const schema = runRequestSchema();
    for (const field of FIELD_NAMES) {
      expect({ field, ...limitsOfSpec(RUN_FIELDS[field]) }).toEqual({ field, ...limitsOf(schema[field]) });
    }
  });

  it('uses an input kind that matches each field type', () => {
    const schema = runRequestSchema();
    for (const field of FIELD_NAMES) {
      const type = valueSchema(schema[field]).type;
      const kind = RUN_FIELDS[field].kind;
      const expected: Record<string, string[]> = {
        integer: ['int'],
        number: ['float'],
        boolean: ['bool'],
        array: ['tags'],
        object: ['mesh', 'init', 'grpo'],
        string: ['text', 'textarea', 'choice', 'model'],
      };
      expect({ field, ok: expected[String(type)]?.includes(kind) }).toEqual({ field, ok: true });
    }
  });
});

describe('checkField', () => {
  it('reports what the API would', () => {
    expect(checkField('max_steps', '0')).toBe('Input should be greater than or equal to 1');
    expect(checkField('max_steps', '2.5')).toBe('Input should be a valid integer');
    expect(checkField('learning_rate', '0')).toBe('Input should be greater than 0');
    expect(checkField('learning_rate', '1')).toBeNull();
    expect(checkField('warmup_fraction', '1')).toBe('Input should be less than 1');
    expect(checkField('priority', '-1001')).toBe('Input should be greater than or equal to -1000');
    expect(checkField('name', 'x'.repeat(201))).toBe('String should have at most 200 characters');
    expect(checkField('name', 'a\u0000b')).toContain('NUL');
    expect(checkField('notes', 'n'.repeat(10_001))).toBe('String should have at most 10000 characters');
    expect(checkField('tags', 'ok bad/tag')).toBe("tag 'bad/tag' must be 1 to 64 letters, digits, '_', '.', ':' or '-'");
    expect(checkField('tags', Array.from({ length: 21 }, (_, i) => `t${i}`).join(' '))).toBe(
      'at most 20 tags per run, got 21',
    );
    expect(checkField('tags', 'a, b,a  c')).toBeNull();
    expect(checkField('best_metric', 'accuracy')).toContain('should match pattern');
    expect(checkField('best_metric', 'eval/exact_match')).toBeNull();
    expect(checkField('max_steps', '')).toBeNull(); // empty: the server's default
    expect(checkField('mesh', '2x2')).toBeNull();
    expect(checkField('mesh', '2 by 2')).toBe('give DATAxMODEL devices, e.g. 2x2');
    expect(checkField('mesh', '0x2')).toBe('each mesh axis must be 1 to 4096');
  });
});

describe('cloneValues', () => {
  it('prefills the request, the labels and "<name> (clone)", and builds the same request back', () => {
    const run = {
      run_id: '0123abcd-0000-4000-8000-000000000000',
      dataset_key: 'duel-v1',
      name: 'n'.repeat(200),
      tags: ['a', 'b'],
      notes: 'why',
      request: {
        dataset_key: 'duel-v1',
        model_id: 'tiny',
        max_steps: 30,
        eval_at_checkpoints: true,
        best_mode: 'max',
        mesh: { data: 2, model: 1 },
      },
    } as unknown as Run;
    const values = cloneValues(run);
    expect(values.name).toBe(`${'n'.repeat(192)} (clone)`);
    expect(values.name.length).toBe(200);
    expect(buildRequest(values)).toEqual({
      dataset_key: 'duel-v1',
      model_id: 'tiny',
      max_steps: 30,
      dry_run: false,
      eval_at_checkpoints: true,
      best_mode: 'max',
      mesh: { data: 2, model: 1 },
      name: values.name,
      tags: ['a', 'b'],
      notes: 'why',
    });
    const unnamed = cloneValues({ ...run, name: null } as Run);
    expect(unnamed.name).toBe('0123abcd (clone)');
  });
});

// The "Try it" tab of a run: prompts in, completions of one of its checkpoints out
// (POST /api/tunix/runs/{id}/generate; the server renders the model's chat template and
// loads the checkpoint in a child process, so a call takes seconds).
import { useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import type { RunCheckpoints } from '../api/types';
import { CheckpointSelect } from '../components/CheckpointSelect';
import { ErrorBanner } from '../components/ErrorBanner';
import { FieldError } from '../components/FieldError';
import { useAsync } from '../lib/useAsync';
import { useSubmit } from '../lib/useSubmit';

type GenerationRequest = components['schemas']['GenerationRequest'];
type GenerationResponse = components['schemas']['GenerationResponse'];

export const PROMPT_SEPARATOR = '---';
export const MAX_NEW_TOKENS = 1024;

/** Several prompts go in one box, separated by a line holding only "---". */
export function splitPrompts(text: string): string[] {
  return text
    .split(/^\s*---\s*$/m)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

export function TryItPanel({ runId, version }: { runId: string; version: number }) {
  const checkpoints = useAsync(
    (signal) => api.get<RunCheckpoints>(`/api/tunix/runs/${runId}/checkpoints`, undefined, signal),
    [runId, version],
  );
  const [text, setText] = useState('');
  const [checkpoint, setCheckpoint] = useState('latest');
  const [maxNewTokens, setMaxNewTokens] = useState(64);
  const [temperature, setTemperature] = useState(0);
  const [seed, setSeed] = useState('');
  const [result, setResult] = useState<GenerationResponse | null>(null);
  const form = useSubmit();
  const prompts = splitPrompts(text);
  const steps = checkpoints.data?.checkpoints ?? [];

  async function generate() {
    const body: GenerationRequest = {
      prompts,
      checkpoint: /^\d+$/.test(checkpoint) ? Number(checkpoint) : (checkpoint as 'latest' | 'best'),
      max_new_tokens: maxNewTokens,
      temperature,
    };
    if (temperature > 0 && /^\d+$/.test(seed.trim())) body.seed = Number(seed.trim());
    setResult(null);
    setResult(await api.post<GenerationResponse>(`/api/tunix/runs/${runId}/generate`, body));
  }

  if (checkpoints.data && steps.length === 0) {
    return (
      <section data-testid="try-tab">
        <p className="muted" data-testid="try-no-checkpoint">
          No checkpoint yet: a run can be tried once it has committed one.
        </p>
      </section>
    );
  }
  return (
    <section data-testid="try-tab">
      <ErrorBanner error={checkpoints.error} onRetry={checkpoints.reload} />
      <form
        className="card"
        data-testid="try-form"
        onSubmit={(event) => {
          event.preventDefault();
          void form.submit(generate);
        }}
      >
        <label className="block">
          Prompt
          <textarea
            data-testid="try-prompt"
            rows={5}
            value={text}
            placeholder={`Player A draws the 3 of hearts and player B the king of spades. Who wins?\n${PROMPT_SEPARATOR}\n(another prompt)`}
            onChange={(event) => setText(event.target.value)}
          />
          <span className="muted">
            The model's chat template is added. Separate several prompts with a line holding only {PROMPT_SEPARATOR}.
          </span>
          <FieldError name="prompts" errors={form.fieldErrors} />
        </label>
        <div className="form-grid">
          <label>
            Checkpoint
            <CheckpointSelect checkpoints={checkpoints.data} value={checkpoint} onChange={setCheckpoint} testId="try-checkpoint" />
            <FieldError name="checkpoint" errors={form.fieldErrors} />
          </label>
          <label>
            Max new tokens
            <input
              type="number"
              data-testid="try-max-new-tokens"
              min={1}
              max={MAX_NEW_TOKENS}
              value={maxNewTokens}
              onChange={(event) => setMaxNewTokens(Number(event.target.value))}
            />
            <FieldError name="max_new_tokens" errors={form.fieldErrors} />
          </label>
          <label>
            Temperature
            <input
              type="number"
              data-testid="try-temperature"
              min={0}
              max={2}
              step="any"
              value={temperature}
              onChange={(event) => setTemperature(Number(event.target.value))}
            />
            <FieldError name="temperature" errors={form.fieldErrors} />
          </label>
          {temperature > 0 && (
            <label>
              Seed
              <input
                data-testid="try-seed"
                inputMode="numeric"
                placeholder="0"
                value={seed}
                onChange={(event) => setSeed(event.target.value)}
              />
              <FieldError name="seed" errors={form.fieldErrors} />
            </label>
          )}
        </div>
        <div className="row">
          <button
            type="submit"
            className="btn btn-primary"
            disabled={form.busy || prompts.length === 0}
            data-testid="try-generate"
          >
            {form.busy ? 'Generating…' : 'Generate'}
          </button>
          {form.busy && <span className="muted">loading the checkpoint and generating: this takes seconds</span>}
        </div>
        <ErrorBanner error={form.error} />
      </form>
      {result && (
        <div data-testid="try-result">
          <p className="muted" data-testid="try-meta">
            Checkpoint step {result.step}, temperature {result.temperature}
            {result.seed != null ? `, seed ${result.seed}` : ''}: {result.wall_s.toFixed(1)} s (model load{' '}
            {result.load_s.toFixed(1)} s, generation {result.generate_s.toFixed(1)} s)
          </p>
          {result.completions.map((c, i) => (
            <div className="card" key={i} data-testid="try-completion">
              {result.completions.length > 1 && <h4 className="ellipsis" title={c.prompt}>{c.prompt}</h4>}
              <pre className="text-block" data-testid="try-text">{c.text}</pre>
              <p>
                Answer: <strong data-testid="try-answer">{c.answer ?? '(none extracted)'}</strong>
              </p>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

import { useState } from 'react';
import { api } from '../api/client';
import { TASKS } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { FieldError } from '../components/FieldError';
import { useSubmit } from '../lib/useSubmit';

export function TraceGenerate({ onDone }: { onDone: () => void }) {
  const [task, setTask] = useState<string>(TASKS[0]);
  const [count, setCount] = useState('50');
  const [seed, setSeed] = useState('0');
  const { busy, error, fieldErrors, submit } = useSubmit();
  const [result, setResult] = useState<string | null>(null);

  return (
    <form
      className="card"
      data-testid="generate-form"
      onSubmit={async (event) => {
        event.preventDefault();
        setResult(null);
        await submit(async () => {
          const res = await api.post<{ created: number; task: string }>('/api/traces/generate', {
            task,
            count: Number(count),
            seed: Number(seed),
          });
          setResult(`Generated ${res.created} ${res.task} traces.`);
          onDone();
        });
      }}
    >
      <h3>Generate synthetic traces</h3>
      <div className="form-grid">
        <label>
          Task
          <select value={task} onChange={(e) => setTask(e.target.value)} data-testid="generate-task">
            {TASKS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Count
          <input type="number" min={1} value={count} onChange={(e) => setCount(e.target.value)} data-testid="generate-count" />
          <FieldError name="count" errors={fieldErrors} />
        </label>
        <label>
          Seed
          <input type="number" min={0} value={seed} onChange={(e) => setSeed(e.target.value)} data-testid="generate-seed" />
          <FieldError name="seed" errors={fieldErrors} />
        </label>
      </div>
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="generate-submit">
          {busy ? 'Generating…' : 'Generate'}
        </button>
        {result && (
          <span className="ok" data-testid="generate-result">
            {result}
          </span>
        )}
      </div>
      <ErrorBanner error={error} />
    </form>
  );
}

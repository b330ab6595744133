// The checkpoint picker of a run's forms (evaluate, try it): latest, best when the run has
// one, then every committed step with its best/latest marks.
import type { RunCheckpoints } from '../api/types';

export function CheckpointSelect({
  checkpoints,
  value,
  onChange,
  testId,
}: {
  checkpoints: RunCheckpoints | undefined;
  value: string;
  onChange: (value: string) => void;
  testId: string;
}) {
  return (
    <select data-testid={testId} value={value} onChange={(event) => onChange(event.target.value)}>
      <option value="latest">latest</option>
      {checkpoints?.best_step != null && <option value="best">best (step {checkpoints.best_step})</option>}
      {(checkpoints?.checkpoints ?? []).map((c) => (
        <option key={c.step} value={String(c.step)}>
          step {c.step}
          {c.best ? ' (best)' : ''}
          {c.latest ? ' (latest)' : ''}
        </option>
      ))}
    </select>
  );
}

// The confusion table of an evaluation: expected answer (rows) against extracted answer
// (columns), from GET /api/evaluations/{id}/confusion. With more than 20 expected answers the
// server answers 409 and the table is replaced by its note.
import { ApiError, api, errorMessage } from '../api/client';
import type { components } from '../api/schema';
import { useAsync } from '../lib/useAsync';

type Confusion = components['schemas']['Confusion'];

const EXTRA_COLUMNS = [
  { key: 'other', label: 'other', title: 'an answer outside the expected classes' },
  { key: 'none', label: '(none)', title: 'no answer extracted' },
] as const;

export function ConfusionTable({ evaluationId }: { evaluationId: string }) {
  const state = useAsync(
    (signal) => api.get<Confusion>(`/api/evaluations/${evaluationId}/confusion`, undefined, signal),
    [evaluationId],
  );
  if (state.error !== undefined) {
    const tooMany = state.error instanceof ApiError && state.error.status === 409;
    return (
      <p className="muted" data-testid="eval-confusion-note">
        {tooMany ? 'No confusion table: ' : 'Confusion table unavailable: '}
        {tooMany && state.error instanceof ApiError ? state.error.message : errorMessage(state.error)}
      </p>
    );
  }
  const c = state.data;
  if (!c || c.rows.length === 0) return null;
  const extras = EXTRA_COLUMNS.filter(({ key }) => c.rows.some((row) => row[key] > 0));
  return (
    <>
      <h3>Confusion</h3>
      <table className="table narrow" data-testid="eval-confusion">
        <thead>
          <tr>
            <th>expected ＼ extracted</th>
            {c.classes.map((name) => (
              <th key={name} data-testid="eval-confusion-column"><code>{name}</code></th>
            ))}
            {extras.map(({ key, label, title }) => (
              <th key={key} title={title} data-testid="eval-confusion-column">{label}</th>
            ))}
            <th>n</th>
          </tr>
        </thead>
        <tbody>
          {c.rows.map((row, r) => (
            <tr key={row.expected} data-testid="eval-confusion-row" data-expected={row.expected}>
              <th><code>{row.expected}</code></th>
              {row.counts.map((count, col) => (
                <td
                  key={c.classes[col]}
                  className={count === 0 ? 'muted' : col === r ? 'good' : 'bad'}
                  data-testid="eval-confusion-cell"
                  data-extracted={c.classes[col]}
                >
                  {count}
                </td>
              ))}
              {extras.map(({ key }) => (
                <td
                  key={key}
                  className={row[key] === 0 ? 'muted' : 'bad'}
                  data-testid="eval-confusion-cell"
                  data-extracted={key}
                >
                  {row[key]}
                </td>
              ))}
              <td className="muted">{row.n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

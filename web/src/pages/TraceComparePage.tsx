import { api } from '../api/client';
import type { TraceComparison, TraceStep } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';

function StepCell({ step }: { step: TraceStep | null }) {
  if (!step) return <td className="muted">—</td>;
  return (
    <td>
      <span className="step-type">{step.type}</span> {step.content}
    </td>
  );
}

export function TraceComparePage({ search }: { search: URLSearchParams }) {
  const base = search.get('base') ?? '';
  const other = search.get('other') ?? '';
  const cmp = useAsync(
    (signal) => api.get<TraceComparison>('/api/traces/compare', { base, other }, signal),
    [base, other],
  );
  const c = cmp.data;
  return (
    <section className="page" data-testid="trace-compare">
      <p>
        <Link to="/traces">← Traces</Link>
      </p>
      <h1>Compare traces</h1>
      <ErrorBanner error={cmp.error} onRetry={cmp.reload} />
      <Loading show={!cmp.data && cmp.error === undefined} />
      {c && (
        <>
          <p data-testid="compare-summary">
            {c.diff.first_divergent_step === null
              ? `The ${c.diff.steps_compared} compared steps are identical.`
              : `First divergent step: #${c.diff.first_divergent_step + 1} of ${c.diff.steps_compared}.`}{' '}
            Final answers {c.diff.final_answer_differs ? 'differ' : 'match'}.
          </p>
          <table className="table compare">
            <thead>
              <tr>
                <th>#</th>
                <th>
                  <Link to={`/traces/${c.base.id}`}>Base {c.base.id.slice(0, 8)}</Link>
                </th>
                <th>
                  <Link to={`/traces/${c.other.id}`}>Other {c.other.id.slice(0, 8)}</Link>
                </th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th>prompt</th>
                <td>{c.base.payload.prompt}</td>
                <td>{c.other.payload.prompt}</td>
              </tr>
              {c.diff.steps.map((row) => {
                const divergent = row.index === c.diff.first_divergent_step;
                return (
                  <tr
                    key={row.index}
                    className={divergent ? 'diverge' : row.same ? undefined : 'differ'}
                    data-testid={divergent ? 'divergent-step' : 'compare-step'}
                    data-same={row.same}
                  >
                    <th>
                      {row.index + 1}
                      {divergent && <span className="tag tag-diverge">diverges</span>}
                    </th>
                    <StepCell step={row.base} />
                    <StepCell step={row.other} />
                  </tr>
                );
              })}
              <tr className={c.diff.final_answer_differs ? 'differ' : undefined} data-testid="compare-answer">
                <th>answer</th>
                <td>{c.base.payload.final_answer}</td>
                <td>{c.other.payload.final_answer}</td>
              </tr>
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

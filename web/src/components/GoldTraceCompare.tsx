// One evaluation example next to its gold trace: the model's generated text split into steps
// ("1. ..." lines, the rule the worker uses) aligned step by step with the gold trace's steps
// (GET /api/traces/{trace_id}), the expected and extracted answers, and a mark on the first
// step that differs.
import { api } from '../api/client';
import type { EvaluationExample, Trace } from '../api/types';
import { alignSteps, firstDifference, stepsFromGeneration } from '../lib/steps';
import { useAsync } from '../lib/useAsync';
import { ErrorBanner } from './ErrorBanner';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function GoldTraceCompare({ example }: { example: EvaluationExample }) {
  const traceId = example.trace_id && UUID.test(example.trace_id) ? example.trace_id : null;
  const trace = useAsync(
    (signal) =>
      traceId ? api.get<Trace>(`/api/traces/${traceId}`, undefined, signal) : Promise.resolve(null),
    [traceId],
  );
  const modelSteps = stepsFromGeneration(example.generated);
  const goldSteps = [...(trace.data?.payload.steps ?? [])].sort((a, b) => a.i - b.i).map((s) => s.content);
  const rows = alignSteps(modelSteps, goldSteps);
  const firstDiff = trace.data ? firstDifference(rows) : null;
  return (
    <div data-testid="gold-compare">
      <p data-testid="gold-compare-answers">
        expected <code data-testid="gold-compare-expected">{example.expected}</code> · extracted{' '}
        <code data-testid="gold-compare-extracted">{example.extracted ?? '—'}</code>{' '}
        <span className={example.correct ? 'good' : 'bad'}>{example.correct ? '✓ correct' : '✗ wrong'}</span>
        {trace.data && (
          <>
            {' '}· gold answer <code data-testid="gold-compare-gold-answer">{trace.data.payload.final_answer}</code>
          </>
        )}
      </p>
      {!traceId && (
        <p className="muted" data-testid="gold-compare-missing">
          No gold trace is linked to this example{example.trace_id ? ` (${example.trace_id} is not a stored trace id)` : ''}.
        </p>
      )}
      <ErrorBanner error={trace.error} onRetry={trace.reload} />
      {trace.loading && traceId && <p className="muted">Loading the gold trace…</p>}
      <table className="table" data-testid="gold-compare-steps">
        <thead>
          <tr>
            <th>Step</th>
            <th>Model</th>
            <th>Gold trace</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const isFirst = row.index === firstDiff;
            return (
              <tr
                key={row.index}
                className={trace.data && !row.same ? 'differ' : undefined}
                data-testid="gold-compare-step"
                data-same={row.same}
                data-first-diff={isFirst}
              >
                <td className="muted">
                  {row.index + 1}
                  {isFirst && (
                    <span className="badge badge-failed" title="first step that differs" data-testid="gold-compare-first-diff">
                      first difference
                    </span>
                  )}
                </td>
                <td className="pre">{row.model ?? '—'}</td>
                <td className="pre">{row.gold ?? (trace.data ? '—' : '')}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {trace.data && firstDiff === null && (
        <p className="muted" data-testid="gold-compare-all-same">Every step matches the gold trace.</p>
      )}
    </div>
  );
}

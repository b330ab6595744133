// One evaluation record on the run page: summary with its interval, the per-class table, the
// confusion table and the per-example rows, paged from the server (50 a page) with an "only
// wrong" filter; each row expands into a step-by-step comparison with its gold trace.
import { Fragment, useState } from 'react';
import { api } from '../api/client';
import type { ClassSummary, Evaluation, EvaluationExampleList } from '../api/types';
import { ConfusionTable } from '../components/ConfusionTable';
import { ErrorBanner } from '../components/ErrorBanner';
import { GoldTraceCompare } from '../components/GoldTraceCompare';
import { IntervalBar } from '../components/IntervalBar';
import { formatDuration, formatPercent } from '../lib/format';
import { useAsync } from '../lib/useAsync';

export const EXAMPLES_PAGE_SIZE = 50;

function sortedClasses(byClass: Record<string, ClassSummary> | null | undefined): [string, ClassSummary][] {
  return Object.entries(byClass ?? {}).sort(([a, x], [b, y]) => y.n - x.n || a.localeCompare(b));
}

export function EvaluationRecord({ evaluation, total }: { evaluation: Evaluation; total: number }) {
  const s = evaluation.summary;
  const classes = sortedClasses(s.by_expected_answer);
  return (
    <div data-testid="eval-record" data-evaluation-id={evaluation.evaluation_id}>
      <div className="stats" data-testid="eval-summary">
        <div className="stat">
          <span className="stat-value" data-testid="eval-exact-match">{formatPercent(s.exact_match)}</span>
          <span className="stat-label">exact match</span>
          {s.ci_low !== null && s.ci_high !== null && (
            <span className="stat-label" data-testid="eval-interval">
              95% CI {formatPercent(s.ci_low)}–{formatPercent(s.ci_high)}
            </span>
          )}
        </div>
        <div className="stat">
          <span className="stat-value">{formatPercent(s.format_ok)}</span>
          <span className="stat-label">format ok</span>
        </div>
        <div className="stat">
          <span className="stat-value" data-testid="eval-n">{s.n}</span>
          <span className="stat-label">examples</span>
        </div>
      </div>
      <p className="muted" data-testid="eval-meta">
        {evaluation.status !== 'completed' && <span className={`badge badge-${evaluation.status}`}>{evaluation.status}</span>}{' '}
        {evaluation.split} split of <code>{evaluation.dataset_key}</code>
        {evaluation.step !== null && <> · step {evaluation.step}</>}
        {evaluation.checkpoint && <> · checkpoint <code>{evaluation.checkpoint}</code></>}
        {' '}· scorer <code>{evaluation.scorer_version}</code>
        {evaluation.wall_s !== null && <> · {formatDuration(evaluation.wall_s)}</>}
        {total > 1 && <> · newest of {total} evaluations of this run</>}
      </p>
      {classes.length > 0 && (
        <>
          <h3>By expected answer</h3>
          <table className="table narrow" data-testid="eval-classes">
            <thead>
              <tr>
                <th>Class</th>
                <th>n</th>
                <th>Exact match (95% CI)</th>
              </tr>
            </thead>
            <tbody>
              {classes.map(([name, c]) => (
                <tr key={name} data-testid="eval-class-row" data-class={name}>
                  <td><code>{name}</code></td>
                  <td data-testid="eval-class-n">{c.n}</td>
                  <td data-testid="eval-class-exact-match">
                    <IntervalBar value={c.exact_match} low={c.ci_low} high={c.ci_high} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <ConfusionTable evaluationId={evaluation.evaluation_id} />
      <EvaluationExamples evaluationId={evaluation.evaluation_id} />
    </div>
  );
}

function EvaluationExamples({ evaluationId }: { evaluationId: string }) {
  const [offset, setOffset] = useState(0);
  const [onlyWrong, setOnlyWrong] = useState(false);
  const [expanded, setExpanded] = useState<number | null>(null);
  const page = useAsync(
    (signal) =>
      api.get<EvaluationExampleList>(
        `/api/evaluations/${evaluationId}/examples`,
        { limit: EXAMPLES_PAGE_SIZE, offset, correct: onlyWrong ? false : undefined },
        signal,
      ),
    [evaluationId, offset, onlyWrong],
  );
  const p = page.data;
  return (
    <>
      <div className="row between">
        <h3>Examples</h3>
        <label className="inline">
          <input
            type="checkbox"
            checked={onlyWrong}
            onChange={(event) => {
              setOnlyWrong(event.target.checked);
              setOffset(0);
            }}
            data-testid="eval-only-wrong"
          />
          only wrong
        </label>
      </div>
      <ErrorBanner error={page.error} onRetry={page.reload} />
      <table className="table" data-testid="eval-examples">
        <thead>
          <tr>
            <th>#</th>
            <th>Prompt</th>
            <th>Expected</th>
            <th>Generated</th>
            <th>Extracted</th>
            <th>Correct</th>
          </tr>
        </thead>
        <tbody>
          {(p?.data ?? []).map((ex) => (
            <Fragment key={ex.position}>
              <tr
                className={ex.correct ? 'good' : 'bad'}
                data-testid="eval-example"
                data-position={ex.position}
                data-correct={ex.correct}
              >
                <td className="muted">
                  {ex.position + 1}{' '}
                  <button
                    type="button"
                    className="btn btn-small"
                    aria-expanded={expanded === ex.position}
                    title="Compare with the gold trace, step by step"
                    onClick={() => setExpanded(expanded === ex.position ? null : ex.position)}
                    data-testid="eval-compare-toggle"
                  >
                    {expanded === ex.position ? 'hide' : 'compare'}
                  </button>
                </td>
                <td className="ellipsis" title={ex.prompt}>{ex.prompt}</td>
                <td>{ex.expected}</td>
                <td className="pre">{ex.generated}</td>
                <td>{ex.extracted ?? '—'}</td>
                <td>{ex.correct ? '✓' : '✗'}{ex.format_ok ? '' : ' (format)'}</td>
              </tr>
              {expanded === ex.position && (
                <tr data-testid="eval-compare-row">
                  <td colSpan={6}>
                    <GoldTraceCompare example={ex} />
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
          {p && p.data.length === 0 && (
            <tr>
              <td colSpan={6} className="muted center" data-testid="eval-examples-empty">
                {onlyWrong ? 'No wrong answers.' : 'No examples recorded.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {p && (
        <nav className="pager" aria-label="examples pages">
          <button
            type="button"
            className="btn btn-small"
            disabled={offset === 0}
            onClick={() => setOffset(Math.max(0, offset - EXAMPLES_PAGE_SIZE))}
            data-testid="eval-page-prev"
          >
            ← Previous
          </button>
          <span className="muted" data-testid="eval-page-range">
            {p.data.length === 0 ? `0 of ${p.total}` : `${offset + 1}–${offset + p.data.length} of ${p.total}`}
          </span>
          <button
            type="button"
            className="btn btn-small"
            disabled={p.next_offset === null}
            onClick={() => p.next_offset !== null && setOffset(p.next_offset)}
            data-testid="eval-page-next"
          >
            Next →
          </button>
        </nav>
      )}
    </>
  );
}

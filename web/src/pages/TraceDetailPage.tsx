import { useState } from 'react';
import { api } from '../api/client';
import type { Trace } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { formatDate, formatNumber } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';

export function TraceDetailPage({ id }: { id: string }) {
  const trace = useAsync((signal) => api.get<Trace>(`/api/traces/${encodeURIComponent(id)}`, undefined, signal), [id]);
  const [scoreError, setScoreError] = useState<unknown>(undefined);
  const [scoring, setScoring] = useState(false);

  async function score(criteria: string) {
    setScoring(true);
    setScoreError(undefined);
    try {
      await api.post(`/api/traces/${encodeURIComponent(id)}/score`, { criteria });
      trace.reload();
    } catch (exc) {
      setScoreError(exc);
    } finally {
      setScoring(false);
    }
  }

  const t = trace.data;
  return (
    <section className="page" data-testid="trace-detail">
      <p>
        <Link to="/traces">← Traces</Link>
      </p>
      <h1>Trace {id.slice(0, 8)}</h1>
      <ErrorBanner error={trace.error} onRetry={trace.reload} />
      <Loading show={!trace.data && trace.error === undefined} />
      {t && (
        <>
          <dl className="kv">
            <dt>id</dt>
            <dd><code>{t.id}</code></dd>
            <dt>created</dt>
            <dd>{formatDate(t.created_at)}</dd>
            <dt>version</dt>
            <dd>{t.trace_version}</dd>
            <dt>source / task</dt>
            <dd>
              {String(t.payload.meta.source ?? '—')} / {String(t.payload.meta.task ?? '—')}
            </dd>
          </dl>
          <h3>Prompt</h3>
          <pre className="text-block" data-testid="trace-prompt">{t.payload.prompt}</pre>
          <h3>Steps</h3>
          <ol className="steps" data-testid="trace-steps">
            {t.payload.steps.map((step) => (
              <li key={step.i} value={step.i + 1} data-testid="trace-step">
                <span className="step-type">{step.type}</span> {step.content}
              </li>
            ))}
          </ol>
          <h3>Final answer</h3>
          <pre className="text-block" data-testid="trace-answer">{t.payload.final_answer}</pre>
          <h3>Scores</h3>
          <div className="row">
            <button type="button" className="btn" disabled={scoring} onClick={() => void score('baseline')} data-testid="score-baseline">
              Score (baseline)
            </button>
            <button type="button" className="btn" disabled={scoring} onClick={() => void score('answer_match')} data-testid="score-answer-match">
              Score (answer match)
            </button>
          </div>
          <ErrorBanner error={scoreError} />
          <table className="table" data-testid="trace-scores">
            <thead>
              <tr>
                <th>Criteria</th>
                <th>Score</th>
                <th>Details</th>
                <th>When</th>
              </tr>
            </thead>
            <tbody>
              {t.scores.map((s) => (
                <tr key={s.id} data-testid="score-row">
                  <td>{s.criteria}</td>
                  <td>{formatNumber(s.score)}</td>
                  <td className="ellipsis"><code>{JSON.stringify(s.details)}</code></td>
                  <td className="nowrap">{formatDate(s.created_at)}</td>
                </tr>
              ))}
              {t.scores.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted center">Not scored yet.</td>
                </tr>
              )}
            </tbody>
          </table>
          <h3>Meta</h3>
          <pre className="text-block">{JSON.stringify(t.payload.meta, null, 2)}</pre>
        </>
      )}
    </section>
  );
}

import { useCallback, useEffect, useState, type KeyboardEvent } from 'react';
import { ApiError, api } from '../api/client';
import type { Run, RunEvent } from '../api/types';
import { ACTIVE_STATUSES } from '../api/types';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DryRunReportView } from '../components/DryRunReport';
import { ErrorBanner } from '../components/ErrorBanner';
import { Loading } from '../components/Loading';
import { LiveLogs } from '../components/LiveLogs';
import { MetricChart } from '../components/MetricChart';
import { MetricsPanel } from '../components/MetricsPanel';
import { runColor } from '../components/metricMath';
import { useRunMetrics } from '../components/useRunMetrics';
import { StatusBadge } from '../components/StatusBadge';
import { StartedFrom } from '../components/GrpoFields';
import { formatDate, formatDuration, formatPercent } from '../lib/format';
import { Link, navigate, setSearchParams } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { progressText } from './RunsPage';
import { RunName, RunTagsNotes } from './RunLabels';
import { ArtifactsTab, EvalTab, ParamsTab } from './RunTabs';
import { TryItPanel } from './RunTryIt';
import { RunRollouts } from './RunRollouts';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'logs', label: 'Live logs' },
  { id: 'metrics', label: 'Metrics' },
  { id: 'eval', label: 'Evaluation' },
  { id: 'try', label: 'Try it' },
  { id: 'params', label: 'Parameters' },
  { id: 'artifacts', label: 'Artifacts' },
] as const;
// A GRPO run's sampled completions (shown for runs whose request.algorithm is "grpo").
const ROLLOUTS_TAB = { id: 'rollouts', label: 'Rollouts' } as const;
const ACTIVE_REFRESH_MS = 2000;

export function RunDetailPage({ id, search }: { id: string; search: URLSearchParams }) {
  const tab = search.get('tab') ?? 'overview';
  const [liveStatus, setLiveStatus] = useState<string | null>(null);
  const [version, setVersion] = useState(0); // bumped when the run changes state: reloads tabs
  const [confirming, setConfirming] = useState(false);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const base = `/api/tunix/runs/${encodeURIComponent(id)}`;

  const status = liveStatus;
  const active = status === null || ACTIVE_STATUSES.includes(status);
  const run = useAsync((signal) => api.get<Run>(base, undefined, signal), [base, version], {
    refreshMs: active ? ACTIVE_REFRESH_MS : null,
  });
  const events = useAsync(
    (signal) => api.get<{ data: RunEvent[] }>(`${base}/events`, undefined, signal),
    [base, version, run.data?.status],
  );
  useEffect(() => {
    if (run.data) setLiveStatus(run.data.status);
  }, [run.data]);

  // Every metric: seeded from the stored points, live `metric` events merge in on top.
  const metrics = useRunMetrics(id);
  const { onMetric, reload: reloadMetrics } = metrics;
  const lossChart = (
    <MetricChart
      name="loss"
      testId="loss-chart"
      series={[{ key: id, label: 'loss', color: runColor(0), points: metrics.series.loss ?? [] }]}
    />
  );
  // The stream replays the status history on every connect, so a status event is only a
  // hint to re-read the run; the run record is the truth shown in the badge.
  const onStatus = useCallback(() => setVersion((v) => v + 1), []);
  const onEnd = useCallback(
    (s: string) => {
      if (s) setLiveStatus(s);
      setVersion((v) => v + 1);
      reloadMetrics(); // the stored points, each with its wall time
    },
    [reloadMetrics],
  );

  async function cancel() {
    setConfirming(false);
    setActionError(undefined);
    try {
      await api.post<Run>(`${base}/cancel`);
      setVersion((v) => v + 1);
    } catch (exc) {
      setActionError(exc);
    }
  }

  async function retry() {
    setActionError(undefined);
    try {
      const next = await api.post<Run>(`${base}/retry`);
      navigate(`/runs/${next.run_id}`);
    } catch (exc) {
      setActionError(exc);
    }
  }

  // Arrow keys move between tabs (the WAI-ARIA tabs pattern); Tab moves into the panel.
  function onTabKey(event: KeyboardEvent<HTMLElement>) {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    const index = tabs.findIndex((t) => t.id === tab);
    const next = tabs[(index + (event.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    setSearchParams({ tab: next.id === 'overview' ? null : next.id });
    event.currentTarget.querySelector<HTMLButtonElement>(`[data-testid="tab-${next.id}"]`)?.focus();
  }

  const r = run.data;
  const tabs: readonly { id: string; label: string }[] = r?.request.algorithm === 'grpo' ? [...TABS, ROLLOUTS_TAB] : TABS;
  // An unknown or malformed id: no stream to follow (it would only retry against a 404).
  const missing = !r && run.error instanceof ApiError && [404, 422].includes(run.error.status);
  const shownStatus = status ?? r?.status ?? 'pending';
  const cancellable = shownStatus === 'pending' || shownStatus === 'running';
  const retryable = ['failed', 'cancelled', 'timeout'].includes(shownStatus);

  return (
    <section className="page" data-testid="run-detail">
      <p>
        <Link to="/runs">← Runs</Link>
      </p>
      <div className="row between">
        <h1 className="run-heading">
          <RunName runId={id} run={r} onSaved={run.reload} /> {(r || liveStatus) && <StatusBadge status={shownStatus} />}
        </h1>
        <div className="row">
          {r && (
            <Link to={`/runs/new?clone=${encodeURIComponent(id)}`} className="btn" data-testid="clone-run">
              Clone into new run
            </Link>
          )}
          {r && r.status === 'completed' && r.kind === 'train' && !r.dry_run && (
            <Link to={`/runs/new?grpo_from=${encodeURIComponent(id)}`} className="btn" data-testid="continue-grpo">
              Continue with GRPO
            </Link>
          )}
          {cancellable && (
            <button type="button" className="btn btn-danger" onClick={() => setConfirming(true)} data-testid="cancel-run">
              Cancel run
            </button>
          )}
          {retryable && (
            <button type="button" className="btn" onClick={() => void retry()} data-testid="retry-run">
              Retry
            </button>
          )}
        </div>
      </div>
      {r && <RunTagsNotes run={r} onSaved={run.reload} />}
      {r && r.max_steps !== null && !r.dry_run && (
        <div className="run-progress" data-testid="run-progress">
          <progress max={r.max_steps} value={r.last_step ?? 0} aria-label="training progress" />
          <span className="muted">
            step {progressText(r)} · {r.model_id} on {r.dataset_key}
          </span>
        </div>
      )}
      <ErrorBanner error={run.error} onRetry={run.reload} />
      <Loading show={!r && run.error === undefined} />
      <ErrorBanner error={actionError} />
      <nav className="tabs" role="tablist" aria-label="run views" onKeyDown={onTabKey}>
        {tabs.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            tabIndex={tab === t.id ? 0 : -1}
            className={tab === t.id ? 'tab active' : 'tab'}
            onClick={() => setSearchParams({ tab: t.id === 'overview' ? null : t.id })}
            data-testid={`tab-${t.id}`}
          >
            {t.label}
          </button>
        ))}
      </nav>
      {tab === 'overview' && r && (
        <div data-testid="run-overview">
          <div className="two-col">
            <dl className="kv">
              <dt>run id</dt>
              <dd><code>{r.run_id}</code></dd>
              <dt>dataset</dt>
              <dd>
                <Link to={`/datasets/${encodeURIComponent(r.dataset_key)}`}>{r.dataset_key}</Link>
              </dd>
              <dt>model</dt>
              <dd>
                {r.model_id}
                {r.dry_run && <span className="tag">dry run</span>}
              </dd>
              <dt>mode / priority</dt>
              <dd>
                {r.mode} / {r.priority}
              </dd>
              <dt>attempt</dt>
              <dd data-testid="run-attempt">
                {r.attempt} of {r.max_attempts}
              </dd>
              <dt>worker</dt>
              <dd>{r.worker_id ?? '—'}</dd>
              <dt>step</dt>
              <dd data-testid="run-step">{progressText(r)}</dd>
              <dt>created</dt>
              <dd>{formatDate(r.created_at)}</dd>
              <dt>started</dt>
              <dd>{formatDate(r.started_at)}</dd>
              <dt>finished</dt>
              <dd>{formatDate(r.finished_at)}</dd>
              <dt>duration</dt>
              <dd>{formatDuration(r.duration_s)}</dd>
              <dt>exit code</dt>
              <dd>{r.exit_code ?? '—'}</dd>
              {r.eval && (
                <>
                  <dt>exact match</dt>
                  <dd>
                    {formatPercent(r.eval.exact_match)} (n={r.eval.n ?? '—'})
                  </dd>
                </>
              )}
              <StartedFrom request={r.request} />
              {r.retry_of && (
                <>
                  <dt>retry of</dt>
                  <dd>
                    <Link to={`/runs/${r.retry_of}`}>{r.retry_of.slice(0, 8)}</Link>
                  </dd>
                </>
              )}
            </dl>
            {r.dry_run ? (
              // A dry run trains nothing: its result is the report, not a loss curve.
              <DryRunReportView runId={id} version={version} finished={!ACTIVE_STATUSES.includes(shownStatus)} />
            ) : (
              <div>
                <h3>Loss</h3>
                {lossChart}
              </div>
            )}
          </div>
          {r.error && (
            <div className="banner banner-error" data-testid="run-error">
              {r.error}
            </div>
          )}
          <h3>Request</h3>
          <pre className="text-block" data-testid="run-request">{JSON.stringify(r.request, null, 2)}</pre>
          <h3>Status history</h3>
          <table className="table narrow" data-testid="run-events">
            <thead>
              <tr>
                <th>When</th>
                <th>From</th>
                <th>To</th>
                <th>Reason</th>
                <th>Attempt</th>
                <th>Worker</th>
              </tr>
            </thead>
            <tbody>
              {events.data?.data.map((e, i) => (
                <tr key={i}>
                  <td className="nowrap">{formatDate(e.created_at)}</td>
                  <td>{e.from_status ?? '—'}</td>
                  <td>{e.to_status}</td>
                  <td>{e.reason ?? ''}</td>
                  <td>{e.attempt}</td>
                  <td>{e.worker_id ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {r.stderr_tail && (
            <>
              <h3>stderr (tail)</h3>
              <pre className="text-block log-stderr">{r.stderr_tail}</pre>
            </>
          )}
        </div>
      )}
      {!missing && (
        <LiveLogs runId={id} hidden={tab !== 'logs'} onMetric={onMetric} onStatus={onStatus} onEnd={onEnd} />
      )}
      {tab === 'logs' && !r?.dry_run && (
        <div className="chart-compact">{lossChart}</div>
      )}
      {tab === 'metrics' && (
        <MetricsPanel
          runs={[{ key: id, label: id.slice(0, 8), color: runColor(0), metrics: metrics.series }]}
          emptyText={r?.dry_run ? 'A dry run trains nothing: it records no metrics.' : 'No metrics recorded yet.'}
        />
      )}
      {tab === 'params' && <ParamsTab runId={id} version={version} />}
      {tab === 'rollouts' && <RunRollouts runId={id} version={version} active={active} />}
      {tab === 'eval' && <EvalTab runId={id} version={version} />}
      {tab === 'try' && <TryItPanel runId={id} version={version} />}
      {tab === 'artifacts' && (
        <ArtifactsTab runId={id} version={version} refreshMs={active ? ACTIVE_REFRESH_MS * 2 : null} />
      )}
      {confirming && (
        <ConfirmDialog
          title="Cancel this run?"
          message={
            shownStatus === 'running'
              ? 'The training process gets SIGTERM, writes a final checkpoint if it can, and the run ends as cancelled.'
              : 'The run has not started yet; it will be removed from the queue.'
          }
          confirmLabel="Cancel run"
          onConfirm={() => void cancel()}
          onClose={() => setConfirming(false)}
        />
      )}
    </section>
  );
}

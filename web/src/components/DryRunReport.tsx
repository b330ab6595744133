// A dry run's report (token lengths, truncation, parameters, memory), shown where a
// training run shows its loss curve. It is the run's dry_run.json artifact, read with the
// same authenticated fetch as every other call.
import { ApiError, api } from '../api/client';
import type { Artifact, DryRunReport, LengthStats } from '../api/types';
import { formatBytes, formatNumber } from '../lib/format';
import { useAsync } from '../lib/useAsync';
import { ErrorBanner } from './ErrorBanner';

export const DRY_RUN_ARTIFACT = 'dry_run.json';

async function loadReport(runId: string, signal: AbortSignal): Promise<DryRunReport | null> {
  const base = `/api/tunix/runs/${encodeURIComponent(runId)}/artifacts`;
  const artifacts = await api.get<Artifact[]>(base, undefined, signal);
  const file = artifacts.find((a) => a.name === DRY_RUN_ARTIFACT && a.kind === 'file');
  if (!file) return null;
  return api.get<DryRunReport>(`${base}/${encodeURIComponent(file.id)}/download`, undefined, signal);
}

function lengths(stats: LengthStats | undefined): string {
  if (!stats) return '—';
  return `min ${stats.min} · mean ${formatNumber(stats.mean)} · p95 ${formatNumber(stats.p95)} · max ${stats.max}`;
}

export function DryRunReportView({ runId, version, finished }: { runId: string; version: number; finished: boolean }) {
  const report = useAsync((signal) => loadReport(runId, signal), [runId, version]);
  const r = report.data;
  const gone = report.error instanceof ApiError && report.error.status === 404;
  return (
    <section data-testid="dry-run-report">
      <h3>Dry-run report</h3>
      {!gone && <ErrorBanner error={report.error} onRetry={report.reload} />}
      {r === null || gone ? (
        <p className="muted" data-testid="dry-run-report-empty">
          {finished
            ? 'This dry run stored no report: see its logs for the reason.'
            : 'The dry run has not reported yet: it validates the dataset and tokenizer, then writes its report here.'}
        </p>
      ) : null}
      {r && (
        <>
          {r.truncated_examples > 0 && (
            <div className="banner banner-warn" data-testid="dry-run-truncation">
              {r.truncated_examples} example(s) are longer than max_seq_length {r.max_seq_length} and will be
              truncated
              {r.examples_without_response_tokens > 0 &&
                `; ${r.examples_without_response_tokens} lose every response token (no loss signal)`}
              .
            </div>
          )}
          <dl className="kv" data-testid="dry-run-fields">
            <dt>examples</dt>
            <dd data-testid="dry-run-examples">
              {r.train_examples} train / {r.holdout_examples} held out
            </dd>
            <dt>token lengths</dt>
            <dd data-testid="dry-run-token-lengths">{lengths(r.token_lengths)}</dd>
            <dt>response tokens</dt>
            <dd>{lengths(r.response_token_lengths)}</dd>
            <dt>sequence length</dt>
            <dd>
              padded to {r.padded_seq_length} (max {r.max_seq_length})
            </dd>
            <dt>truncated</dt>
            <dd data-testid="dry-run-truncated">{r.truncated_examples}</dd>
            <dt>answers over max_new_tokens</dt>
            <dd>{r.responses_longer_than_max_new_tokens}</dd>
            <dt>vocabulary</dt>
            <dd>{r.vocab_size}</dd>
            <dt>planned steps</dt>
            <dd>
              {r.planned_steps} ({formatNumber(r.epochs)} epochs)
            </dd>
            <dt>parameters</dt>
            <dd data-testid="dry-run-params">{r.parameter_count?.toLocaleString('en-US') ?? '—'}</dd>
            <dt>estimated memory</dt>
            <dd data-testid="dry-run-memory">{formatBytes(r.estimated_memory_bytes)}</dd>
            <dt>checked in</dt>
            <dd>{formatNumber(r.wall_s)} s</dd>
          </dl>
          {r.note && <p className="muted">{r.note}</p>}
        </>
      )}
    </section>
  );
}

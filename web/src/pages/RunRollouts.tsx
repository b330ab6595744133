// The Rollouts tab of a GRPO run: the completions the run sampled at a step, a prompt's
// generations together (their rewards' spread is what GRPO learns from), filtered the way the
// API filters, and selected completions saved as traces (POST .../rollouts/traces).
import { useState } from 'react';
import { api } from '../api/client';
import type { RolloutPage, RolloutTracesOut } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { Link } from '../lib/router';
import { useAsync } from '../lib/useAsync';
import { useSubmit } from '../lib/useSubmit';
import {
  ROLLOUT_FILTERS,
  formatReward,
  groupRollouts,
  rewardParts,
  type RolloutFilter,
  type RolloutGroup,
} from './rollouts';

export const ROLLOUTS_PAGE = 200;
/** The API's most completions per list request and per save. */
export const API_MAX = 1000;
export const ROLLOUTS_POLL_MS = 3000;

export function RunRollouts({
  runId,
  version,
  active,
  pageSize = ROLLOUTS_PAGE,
}: {
  runId: string;
  version: number;
  active: boolean;
  pageSize?: number;
}) {
  const base = `/api/tunix/runs/${encodeURIComponent(runId)}/rollouts`;
  const [step, setStep] = useState<number | null>(null); // null: the latest step
  const [filter, setFilter] = useState<RolloutFilter>('all');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [saved, setSaved] = useState<RolloutTracesOut | null>(null);
  const save = useSubmit();
  const list = useAsync(
    (signal) => api.get<RolloutPage>(base, { step, filter, limit: pageSize, offset }, signal),
    [base, version, step, filter, offset],
    { refreshMs: active ? ROLLOUTS_POLL_MS : null },
  );
  const data = list.data;
  const items = data?.items ?? [];
  const groups = groupRollouts(items);
  // A filter (or a page boundary) shows part of a group: its reward spread is read from the
  // whole step.
  const filtered = filter !== 'all' || (data !== undefined && data.total > items.length);
  const shownStep = data?.step ?? null;
  const whole = useAsync(
    (signal) =>
      filtered && shownStep !== null
        ? api.get<RolloutPage>(base, { step: shownStep, filter: 'all', limit: API_MAX }, signal)
        : Promise.resolve(null),
    [base, version, filtered, shownStep],
    { refreshMs: active && filtered ? ROLLOUTS_POLL_MS : null },
  );
  const wholeGroups = new Map(groupRollouts(filtered ? (whole.data?.items ?? []) : items).map((g) => [g.key, g]));
    const allShownSelected = items.length > 0 && items.every((r) => selected.has(r.id));

  function toggle(ids: string[], on: boolean) {
    setSelected((prev) => {
      const next = new Set(prev);
      for (const id of ids) if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  }

  async function saveAsTraces() {
    setSaved(null);
    await save.submit(async () => {
      const out = await api.post<RolloutTracesOut>(`${base}/traces`, { ids: [...selected] });
      setSaved(out);
      setSelected(new Set());
    });
  }

  return (
    <section data-testid="rollouts-tab">
      <div className="row filters">
        <label>
          Step
          <select
            value={step === null ? '' : String(step)}
            onChange={(e) => {
              setStep(e.target.value === '' ? null : Number(e.target.value));
              setOffset(0);
            }}
            data-testid="rollouts-step"
          >
            <option value="">latest{data?.steps.length ? ` (${data.steps.at(-1)})` : ''}</option>
            {data?.steps.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Show
          <select
            value={filter}
            onChange={(e) => {
              setFilter(e.target.value as RolloutFilter);
              setOffset(0);
            }}
            data-testid="rollouts-filter"
          >
            {ROLLOUT_FILTERS.map((f) => (
              <option key={f.id} value={f.id}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
        <span className="muted" data-testid="rollouts-count">
          {data ? `${data.total} completion${data.total === 1 ? '' : 's'}${shownStep !== null ? ` at step ${shownStep}` : ''}` : ''}
        </span>
        <span className="spacer" />
        <span className="muted">{selected.size} selected</span>
        <button
          type="button"
          className="btn btn-primary"
          disabled={selected.size === 0 || selected.size > API_MAX || save.busy}
          title={selected.size > API_MAX ? `at most ${API_MAX} at a time` : undefined}
          onClick={() => void saveAsTraces()}
          data-testid="rollouts-save"
        >
          {save.busy ? 'Saving…' : 'Save as traces'}
        </button>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <ErrorBanner error={save.error} />
      {saved && (
        <p className="banner" role="status" data-testid="rollouts-saved">
          <span>
            Saved {saved.created} trace{saved.created === 1 ? '' : 's'}:{' '}
            {saved.trace_ids.map((id, i) => (
              <span key={id}>
                {i > 0 && ', '}
                <Link to={`/traces/${encodeURIComponent(id)}`}>{id.slice(0, 8)}</Link>
              </span>
            ))}{' '}
            (<Link to="/traces?source=rollout" data-testid="rollouts-saved-all">every trace from rollouts</Link>: score them or
            build a dataset from them)
          </span>
        </p>
      )}
      {data && data.steps.length === 0 && (
        <p className="muted" data-testid="rollouts-empty">
          No rollouts stored yet: the run stores sampled completions every few steps (grpo.rollout_every_steps).
        </p>
      )}
      {data && data.steps.length > 0 && items.length === 0 && (
        <p className="muted" data-testid="rollouts-none">
          No completions match this filter at this step.
        </p>
      )}
      {items.length > 0 && (
        <table className="table rollouts" data-testid="rollouts-table">
          <thead>
            <tr>
              <th>
                <input
                  type="checkbox"
                  aria-label="select every shown completion"
                  checked={allShownSelected}
                  onChange={(e) => toggle(items.map((r) => r.id), e.target.checked)}
                  data-testid="rollouts-select-all"
                />
              </th>
              <th>Gen</th>
              <th>Completion</th>
              <th>Answer</th>
              <th>Correct</th>
              <th>Format</th>
              <th>Reward parts</th>
              <th>Reward</th>
              <th>Advantage</th>
            </tr>
          </thead>
          {groups.map((group) => (
            <RolloutGroupRows
              key={group.key}
              group={group}
              whole={wholeGroups.get(group.key)}
              selected={selected}
              onToggle={toggle}
            />
          ))}
        </table>
      )}
      {data && data.total > pageSize && (
        <nav className="pager" aria-label="pagination">
          <button
            type="button"
            className="btn btn-small"
            disabled={offset === 0}
            onClick={() => setOffset(Math.max(0, offset - pageSize))}
            data-testid="rollouts-prev"
          >
            ← Previous
          </button>
          <span className="muted">
            {offset + 1}–{offset + items.length} of {data.total}
          </span>
          <button
            type="button"
            className="btn btn-small"
            disabled={offset + pageSize >= data.total}
            onClick={() => setOffset(offset + pageSize)}
            data-testid="rollouts-next"
          >
            Next →
          </button>
        </nav>
      )}
    </section>
  );
}

function RolloutGroupRows({
  group,
  whole,
  selected,
  onToggle,
}: {
  /** The shown generations of one prompt... */
  group: RolloutGroup;
  /** ...and all of them (what the statistics describe); undefined while being read. */
  whole: RolloutGroup | undefined;
  selected: ReadonlySet<string>;
  onToggle: (ids: string[], on: boolean) => void;
}) {
  const ids = group.items.map((r) => r.id);
  const stats = whole ?? group;
  const flat = stats.items.length > 1 && stats.maxReward === stats.minReward;
  const partial = whole !== undefined && whole.items.length !== group.items.length;
  return (
    <tbody data-testid="rollout-group" data-prompt-index={group.promptIndex}>
      <tr className="rollout-prompt">
        <td>
          <input
            type="checkbox"
            aria-label={`select the generations of prompt ${group.promptIndex}`}
            checked={ids.every((id) => selected.has(id))}
            onChange={(e) => onToggle(ids, e.target.checked)}
            data-testid="rollout-group-select"
          />
        </td>
        <td colSpan={8}>
          <div className="pre" data-testid="rollout-prompt">{group.prompt}</div>
          <div className="muted">
            expected <code data-testid="rollout-expected">{group.expected}</code>
            {partial && <span data-testid="rollout-group-shown"> · showing {group.items.length} of {stats.items.length}</span>}
            {' · '}
            <span data-testid="rollout-group-stats">
              {stats.correct}/{stats.items.length} correct · reward mean {formatReward(stats.meanReward)}, range{' '}
              {formatReward(stats.minReward)}–{formatReward(stats.maxReward)}, std{' '}
              <span data-testid="rollout-group-std">{formatReward(stats.stdReward)}</span>
            </span>
            {flat && (
              <span className="tag" title="every generation got the same reward: their advantages are 0" data-testid="rollout-group-flat">
                no spread
              </span>
            )}
          </div>
        </td>
      </tr>
      {group.items.map((r) => (
        <tr key={r.id} className={selected.has(r.id) ? 'selected' : undefined} data-testid="rollout-row" data-id={r.id}>
          <td>
            <input
              type="checkbox"
              aria-label={`select generation ${r.generation} of prompt ${r.prompt_index}`}
              checked={selected.has(r.id)}
              onChange={(e) => onToggle([r.id], e.target.checked)}
              data-testid="rollout-select"
            />
          </td>
          <td>{r.generation}</td>
          <td className="pre" data-testid="rollout-completion">{r.completion}</td>
          <td data-testid="rollout-answer">{r.answer ?? '—'}</td>
          <td className={r.correct ? 'good' : 'bad'} data-testid="rollout-correct">{r.correct ? '✓' : '✗'}</td>
          <td className={r.format_ok ? 'good' : 'bad'}>{r.format_ok ? '✓' : '✗'}</td>
          <td className="nowrap muted">{rewardParts(r.rewards)}</td>
          <td data-testid="rollout-reward">{formatReward(r.reward)}</td>
          <td data-testid="rollout-advantage">{formatReward(r.advantage)}</td>
        </tr>
      ))}
    </tbody>
  );
}

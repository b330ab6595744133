// The sampled completions of a GRPO run (GET /api/tunix/runs/{id}/rollouts): the filters the
// API takes, and the grouping the Rollouts tab shows (a prompt's generations together, with the
// spread of their rewards: a group whose rewards are all equal gives GRPO no signal).
import type { Rollout } from '../api/types';

export const ROLLOUT_FILTERS = [
  { id: 'all', label: 'All' },
  { id: 'format_right_answer_wrong', label: 'Format right, answer wrong' },
  { id: 'correct', label: 'Correct' },
  { id: 'wrong', label: 'Wrong' },
] as const;
export type RolloutFilter = (typeof ROLLOUT_FILTERS)[number]['id'];

export interface RolloutGroup {
  key: string;
  step: number;
  promptIndex: number;
  prompt: string;
  expected: string;
  items: Rollout[];
  correct: number;
  meanReward: number;
  minReward: number;
  maxReward: number;
  /** Population standard deviation of the shown rewards (what GRPO normalises by). */
  stdReward: number;
}

/** Completions grouped by (step, prompt), groups in prompt order, generations in order. */
export function groupRollouts(items: readonly Rollout[]): RolloutGroup[] {
  const byKey = new Map<string, Rollout[]>();
  for (const item of items) {
    const key = `${item.step}:${item.prompt_index}`;
    const list = byKey.get(key);
    if (list) list.push(item);
    else byKey.set(key, [item]);
  }
  const groups: RolloutGroup[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.generation - b.generation);
    const rewards = list.map((r) => r.reward);
    const mean = rewards.reduce((s, v) => s + v, 0) / rewards.length;
    const variance = rewards.reduce((s, v) => s + (v - mean) ** 2, 0) / rewards.length;
    groups.push({
      key,
      step: list[0].step,
      promptIndex: list[0].prompt_index,
      prompt: list[0].prompt,
      expected: list[0].expected,
      items: list,
      correct: list.filter((r) => r.correct).length,
      meanReward: mean,
      minReward: Math.min(...rewards),
      maxReward: Math.max(...rewards),
      stdReward: Math.sqrt(variance),
    });
  }
  return groups.sort((a, b) => a.step - b.step || a.promptIndex - b.promptIndex);
}

/** "correct 1 · format 0.2 · length -0.05": the weighted parts a reward is the sum of. */
export function rewardParts(rewards: Record<string, number> | null | undefined): string {
  return Object.entries(rewards ?? {})
    .map(([name, value]) => `${name} ${formatReward(value)}`)
    .join(' · ');
}

export function formatReward(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}

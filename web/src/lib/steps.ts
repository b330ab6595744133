// A model's generated text as reasoning steps, by the rule the worker uses when it stores an
// evaluation's outputs as traces (worker/events.py steps_from_generation): every line like
// "1. text" or "2) text" is a step; with none, the whole text is one step.
const STEP_LINE = /^\s*(\d+)[.)]\s+(.+?)\s*$/;
export const NO_ANSWER = '(no answer)';

export function stepsFromGeneration(generated: string): string[] {
  const steps: string[] = [];
  for (const line of generated.split(/\r\n|\r|\n/)) {
    const match = STEP_LINE.exec(line);
    if (match) steps.push(match[2]);
  }
  if (steps.length === 0) steps.push(generated.trim() || NO_ANSWER);
  return steps;
}

/** Steps compare equal when they match after collapsing whitespace and case. */
export function sameStep(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const norm = (s: string) => s.split(/\s+/).filter(Boolean).join(' ').toLowerCase();
  return norm(a) === norm(b);
}

export interface AlignedStep {
  index: number;
  model: string | undefined;
  gold: string | undefined;
  same: boolean;
}

/** Step i of the model next to step i of the gold trace, for the longer of the two. */
export function alignSteps(model: string[], gold: string[]): AlignedStep[] {
  const rows: AlignedStep[] = [];
  for (let i = 0; i < Math.max(model.length, gold.length); i += 1) {
    rows.push({ index: i, model: model[i], gold: gold[i], same: sameStep(model[i], gold[i]) });
  }
  return rows;
}

/** The index of the first step that differs, or null when every step agrees. */
export function firstDifference(rows: AlignedStep[]): number | null {
  const row = rows.find((r) => !r.same);
  return row === undefined ? null : row.index;
}

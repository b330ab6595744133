// Ticking runs on the runs list to compare them: the selection keeps the order the runs were
// ticked in (the first one is the comparison's baseline) and survives paging and refreshes.
import { useCallback, useState } from 'react';
import { navigate } from '../lib/router';

export interface RunSelection {
  selected: string[];
  toggle: (runId: string) => void;
}

export function useRunSelection(): RunSelection {
  const [selected, setSelected] = useState<string[]>([]);
  const toggle = useCallback(
    (runId: string) => setSelected((prev) => (prev.includes(runId) ? prev.filter((id) => id !== runId) : [...prev, runId])),
    [],
  );
  return { selected, toggle };
}

export function compareUrl(runIds: string[]): string {
  return `/compare?runs=${runIds.map(encodeURIComponent).join(',')}`;
}

export function CompareButton({ selected }: { selected: string[] }) {
  return (
    <button
      type="button"
      className="btn"
      disabled={selected.length < 2}
      title={selected.length < 2 ? 'Tick two or more runs to compare them' : undefined}
      onClick={() => navigate(compareUrl(selected))}
      data-testid="compare-runs"
    >
      Compare ({selected.length})
    </button>
  );
}

export function SelectRunCell({ runId, selection }: { runId: string; selection: RunSelection }) {
  const index = selection.selected.indexOf(runId);
  return (
    <td>
      <input
        type="checkbox"
        checked={index !== -1}
        onChange={() => selection.toggle(runId)}
        aria-label={`select run ${runId.slice(0, 8)} to compare`}
        title={index === 0 ? 'baseline of the comparison' : undefined}
        data-testid="run-select"
      />
    </td>
  );
}

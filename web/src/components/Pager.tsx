import type { Page } from '../api/types';

export function Pager({
  page,
  onOffset,
}: {
  page: Page<unknown> | undefined;
  onOffset: (offset: number) => void;
}) {
  if (!page) return null;
  const { limit, offset, next_offset: next } = page.pagination;
  return (
    <nav className="pager" aria-label="pagination">
      <button
        type="button"
        className="btn btn-small"
        disabled={offset === 0}
        onClick={() => onOffset(Math.max(0, offset - limit))}
        data-testid="page-prev"
      >
        ← Newer
      </button>
      <span className="muted">
        {page.data.length === 0 ? 'no rows' : `${offset + 1}–${offset + page.data.length}`}
      </span>
      <button
        type="button"
        className="btn btn-small"
        disabled={next === null}
        onClick={() => next !== null && onOffset(next)}
        data-testid="page-next"
      >
        Older →
      </button>
    </nav>
  );
}

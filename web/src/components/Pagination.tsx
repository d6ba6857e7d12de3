import { ChevronLeft, ChevronRight } from 'lucide-react';

export interface PaginationProps {
  /** Zero-based page index. */
  page: number;
  pageSize: number;
  shown: number;
  total: number;
  hasNext: boolean;
  busy: boolean;
  onPrevious: () => void;
  onNext: () => void;
}

/** Previous / Next over the API's keyset cursor, with the range shown. */
export function Pagination({
  page,
  pageSize,
  shown,
  total,
  hasNext,
  busy,
  onPrevious,
  onNext,
}: PaginationProps) {
  const from = shown === 0 ? 0 : page * pageSize + 1;
  const to = page * pageSize + shown;
  return (
    <nav className="pagination" aria-label="Pagination">
      <span className="muted">
        {from.toLocaleString('en-US')}–{to.toLocaleString('en-US')} of {total.toLocaleString('en-US')}
      </span>
      <span className="pagination-buttons">
        <button type="button" className="secondary small" onClick={onPrevious} disabled={busy || page === 0}>
          <ChevronLeft size={16} aria-hidden="true" />
          Previous
        </button>
        <button type="button" className="secondary small" onClick={onNext} disabled={busy || !hasNext}>
          Next
          <ChevronRight size={16} aria-hidden="true" />
        </button>
      </span>
    </nav>
  );
}

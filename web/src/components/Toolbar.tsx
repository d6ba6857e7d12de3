import { Search } from 'lucide-react';

export type StatusFilter = 'all' | 'active' | 'revoked';

const FILTERS: { value: StatusFilter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'active', label: 'Active' },
  { value: 'revoked', label: 'Revoked' },
];

export interface ToolbarProps {
  status: StatusFilter;
  query: string;
  onStatus: (status: StatusFilter) => void;
  onQuery: (query: string) => void;
}

/** SPEC §6 filters: by status, and a search on client name and user email. */
export function Toolbar({ status, query, onStatus, onQuery }: ToolbarProps) {
  return (
    <div className="toolbar">
      <fieldset className="segmented">
        <legend className="sr-only">Status</legend>
        {FILTERS.map((f) => (
          <button
            key={f.value}
            type="button"
            aria-pressed={status === f.value}
            className={status === f.value ? 'segment segment-on' : 'segment'}
            onClick={() => onStatus(f.value)}
          >
            {f.label}
          </button>
        ))}
      </fieldset>
      <label className="search">
        <Search size={16} aria-hidden="true" className="search-icon" />
        <span className="sr-only">Search connections</span>
        <input
          type="search"
          value={query}
          placeholder="Search client name or user email"
          maxLength={200}
          onChange={(e) => onQuery(e.target.value)}
        />
      </label>
    </div>
  );
}

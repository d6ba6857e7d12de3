/** How the dashboard writes dates, times and counts (SPEC §6). */

const DATE = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', year: 'numeric' });
const FULL = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });

/** `Jan 15, 2026` */
export function formatDate(iso: string): string {
  return DATE.format(new Date(iso));
}

/** `Jan 15, 2026, 3:04 PM`, for titles. */
export function formatDateTime(iso: string): string {
  return FULL.format(new Date(iso));
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `just now`, `5m ago`, `3h ago`, `2d ago`, `4mo ago`, `1y ago`; `Never` when it has not happened. */
export function relativeTime(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'Never';
  const ago = Math.max(0, now - new Date(iso).getTime());
  if (ago < MINUTE) return 'just now';
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)}m ago`;
  if (ago < DAY) return `${Math.floor(ago / HOUR)}h ago`;
  if (ago < 30 * DAY) return `${Math.floor(ago / DAY)}d ago`;
  if (ago < 365 * DAY) return `${Math.floor(ago / (30 * DAY))}mo ago`;
  return `${Math.floor(ago / (365 * DAY))}y ago`;
}

/** `1 connection`, `3 connections`, `1,204 connections` */
export function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

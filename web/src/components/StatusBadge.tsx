/** `active` green, `revoked` red (SPEC §6). */
export function StatusBadge({ status }: { status: 'active' | 'revoked' }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

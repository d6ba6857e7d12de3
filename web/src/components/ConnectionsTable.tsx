import { KeyRound, Trash } from 'lucide-react';
import type { Connection } from '../api';
import { formatDate, formatDateTime, relativeTime } from '../format';
import { StatusBadge } from './StatusBadge';

export type Action = 'revoke' | 'regenerate';

export interface ConnectionsTableProps {
  items: Connection[];
  canAct: boolean;
  now: number;
  onAction: (action: Action, connection: Connection) => void;
  /** Opens the connection's details; the client name becomes a link when given. */
  onOpen?: (connection: Connection) => void;
  /** A caption for screen readers, e.g. the filter in force. */
  caption: string;
}

export const rowId = (id: string) => `connection-${id}`;

/** SPEC §6: one row a connection; active rows end with the two icon buttons for users allowed to act. */
export const detailsHash = (id: string) => `#details-${id}`;

export function ConnectionsTable({ items, canAct, now, onAction, onOpen, caption }: ConnectionsTableProps) {
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Client</th>
            <th scope="col">Status</th>
            <th scope="col">User</th>
            <th scope="col">API key</th>
            <th scope="col">Connected</th>
            <th scope="col">Last token</th>
            <th scope="col">Last used</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.id} id={rowId(c.id)} tabIndex={-1} data-status={c.status}>
              <td data-label="Client" className="cell-client">
                {onOpen ? (
                  <a
                    href={detailsHash(c.id)}
                    className="client-link"
                    title="Show details and audit events"
                    onClick={(event) => {
                      event.preventDefault();
                      onOpen(c);
                    }}
                  >
                    {c.clientName}
                  </a>
                ) : (
                  c.clientName
                )}
              </td>
              <td data-label="Status">
                <StatusBadge status={c.status} />
              </td>
              <td data-label="User" className="cell-email">
                {c.userEmail}
              </td>
              <td data-label="API key">
                <code className="key">{c.apiKeyPrefix}…</code>
              </td>
              <td data-label="Connected">
                <time dateTime={c.connectedAt} title={formatDateTime(c.connectedAt)}>
                  {formatDate(c.connectedAt)}
                </time>
              </td>
              <td data-label="Last token">
                {c.lastTokenAt ? (
                  <time dateTime={c.lastTokenAt} title={formatDateTime(c.lastTokenAt)}>
                    {relativeTime(c.lastTokenAt, now)}
                  </time>
                ) : (
                  <span className="muted">Never</span>
                )}
              </td>
              <td data-label="Last used">
                {c.lastUsedAt ? (
                  <time
                    dateTime={c.lastUsedAt}
                    title={`${formatDateTime(c.lastUsedAt)}${c.lastUsedIp ? ` from ${c.lastUsedIp}` : ''}`}
                  >
                    {relativeTime(c.lastUsedAt, now)}
                  </time>
                ) : (
                  <span className="muted">Never</span>
                )}
              </td>
              <td className="cell-actions">
                {c.status === 'revoked' && c.revokedAt ? (
                  <span
                    className="revoked-note"
                    title={c.revokedBy ? `Revoked by ${c.revokedBy}` : undefined}
                  >
                    Revoked {formatDate(c.revokedAt)}
                  </span>
                ) : canAct ? (
                  <span className="row-actions">
                    <button
                      type="button"
                      className="icon-button icon-danger"
                      aria-label="Revoke connection"
                      title="Revoke connection"
                      onClick={() => onAction('revoke', c)}
                    >
                      <Trash size={18} aria-hidden="true" />
                    </button>
                    <button
                      type="button"
                      className="icon-button"
                      aria-label="Regenerate API key"
                      title="Regenerate API key"
                      onClick={() => onAction('regenerate', c)}
                    >
                      <KeyRound size={18} aria-hidden="true" />
                    </button>
                  </span>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

import { useEffect, useState } from 'react';
import { ApiError, type AuditEvent, api, type Connection } from '../api';
import { formatDateTime, relativeTime } from '../format';
import { Dialog } from './Dialog';
import { StatusBadge } from './StatusBadge';
import { ToolAllowEditor } from './ToolAllowEditor';

export interface ConnectionDetailsProps {
  connection: Connection;
  onClose: () => void;
  /** SPEC §10 Revoke all of this connection's user; absent without api-keys:revoke. */
  onRevokeAll?: (userEmail: string) => void;
  /** SPEC §12: users with api-keys:revoke edit the connection's tools; others see them read-only. */
  canEditTools?: boolean;
  returnFocus?: () => HTMLElement | null;
}

/** One connection's fields and its audit trail (GET /api/audit-events?connectionId=). */
export function ConnectionDetails({
  connection: c,
  onClose,
  onRevokeAll,
  canEditTools = false,
  returnFocus,
}: ConnectionDetailsProps) {
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Bumped when the tools are saved, so the new audit event shows.
  const [version, setVersion] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` re-runs the load after the tools are saved
  useEffect(() => {
    let live = true;
    api
      .auditEvents(c.id)
      .then((page) => {
        if (live) setEvents(page.items);
      })
      .catch((err: unknown) => {
        if (live) setError(err instanceof ApiError ? err.message : 'Something went wrong.');
      });
    return () => {
      live = false;
    };
  }, [c.id, version]);

  return (
    <Dialog
      role="dialog"
      title={`Connection: ${c.clientName}`}
      onClose={onClose}
      returnFocus={returnFocus}
      className="dialog-details"
    >
      <dl className="details">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={c.status} />
        </dd>
        <dt>User</dt>
        <dd>{c.userEmail}</dd>
        <dt>API key</dt>
        <dd>
          <code className="key">{c.apiKeyPrefix}…</code>
        </dd>
        <dt>Connected</dt>
        <dd>{formatDateTime(c.connectedAt)}</dd>
        <dt>Last token</dt>
        <dd>{c.lastTokenAt ? formatDateTime(c.lastTokenAt) : 'Never'}</dd>
        <dt>Last used</dt>
        <dd data-field="last-used">
          {c.lastUsedAt ? (
            <time dateTime={c.lastUsedAt} title={formatDateTime(c.lastUsedAt)}>
              {relativeTime(c.lastUsedAt)}
              {c.lastUsedIp ? ` from ${c.lastUsedIp}` : ''}
            </time>
          ) : (
            'Never'
          )}
        </dd>
        {c.revokedAt ? (
          <>
            <dt>Revoked</dt>
            <dd>
              {formatDateTime(c.revokedAt)}
              {c.revokedBy ? ` by ${c.revokedBy}` : ''}
            </dd>
          </>
        ) : null}
        <dt>ID</dt>
        <dd>
          <code>{c.id}</code>
        </dd>
      </dl>
      {c.status === 'active' ? (
        <ToolAllowEditor
          connectionId={c.id}
          canEdit={canEditTools}
          onSaved={() => setVersion((v) => v + 1)}
        />
      ) : null}
      <h3 className="help-heading">Audit events</h3>
      {error ? (
        <p role="alert" className="alert">
          Could not load audit events: {error}
        </p>
      ) : events === null ? (
        <p className="muted">Loading audit events…</p>
      ) : events.length === 0 ? (
        <p className="muted">No audit events for this connection.</p>
      ) : (
        <div className="table-wrap">
          <table className="table audit-table">
            <caption className="sr-only">Audit events for {c.clientName}</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id} data-action={e.action}>
                  <td data-label="Time">
                    <time dateTime={e.at}>{formatDateTime(e.at)}</time>
                  </td>
                  <td data-label="Actor" className="cell-email">
                    {e.actor}
                  </td>
                  <td data-label="Action">
                    <code>{e.action}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="actions">
        {onRevokeAll ? (
          <button type="button" className="danger" onClick={() => onRevokeAll(c.userEmail)}>
            Revoke all of this user
          </button>
        ) : null}
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

import { useState } from 'react';
import type { Member } from '../api';
import { formatDate } from '../format';

export interface MembersTableProps {
  members: Member[];
  roles: string[];
  me: string;
  busy: boolean;
  /** Changes when the selects must show the server's roles again (a change failed). */
  reset: number;
  onSetRole: (member: Member, role: string) => void;
  /** Asks to disable, enable, or revoke every connection of a member (SPEC §10). */
  onAction: (member: Member, action: MemberAction) => void;
}

export type MemberAction = 'disable' | 'enable' | 'revokeAll';

const SOURCE: Record<Member['source'], string> = { local: 'Password', oidc: 'SSO', scim: 'SCIM' };

function RoleCell({
  member,
  roles,
  busy,
  onSetRole,
}: { member: Member } & Omit<MembersTableProps, 'members' | 'me' | 'reset' | 'onAction'>) {
  const [role, setRole] = useState(member.role);
  const changed = role !== member.role;
  return (
    <span className="role-edit">
      <select aria-label={`Role for ${member.email}`} value={role} onChange={(e) => setRole(e.target.value)}>
        {roles.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <button
        type="button"
        className="secondary small"
        aria-label={`Save role for ${member.email}`}
        disabled={!changed || busy}
        onClick={() => onSetRole(member, role)}
      >
        Save
      </button>
    </span>
  );
}

/** Every user with role, status and connections; a role is changed with its select and Save. */
export function MembersTable({ members, roles, me, busy, reset, onSetRole, onAction }: MembersTableProps) {
  return (
    <div className="table-wrap">
      <table className="table members-table">
        <caption className="sr-only">Members and their roles</caption>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Status</th>
            <th scope="col">Source</th>
            <th scope="col">Connections</th>
            <th scope="col">Two-step</th>
            <th scope="col">Added</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.id}>
              <td data-label="Email" className="cell-email">
                {m.email}
                {m.email === me ? <span className="muted"> (you)</span> : null}
              </td>
              <td data-label="Role">
                <RoleCell
                  key={`${m.role}:${reset}`}
                  member={m}
                  roles={roles}
                  busy={busy}
                  onSetRole={onSetRole}
                />
              </td>
              <td data-label="Status">
                <span className={`badge badge-${m.status}`}>{m.status}</span>
              </td>
              <td data-label="Source">{SOURCE[m.source] ?? m.source}</td>
              <td data-label="Connections">{m.activeConnections}</td>
              <td data-label="Two-step">{m.totpEnabled ? 'On' : 'Off'}</td>
              <td data-label="Added">
                <time dateTime={m.createdAt}>{formatDate(m.createdAt)}</time>
              </td>
              <td className="cell-actions">
                {m.activeConnections > 0 ? (
                  <button
                    type="button"
                    className="secondary small"
                    disabled={busy}
                    onClick={() => onAction(m, 'revokeAll')}
                  >
                    Revoke all
                  </button>
                ) : null}
                {m.email === me ? null : m.status === 'active' ? (
                  <button
                    type="button"
                    className="danger small"
                    disabled={busy}
                    onClick={() => onAction(m, 'disable')}
                  >
                    Disable
                  </button>
                ) : (
                  <button
                    type="button"
                    className="secondary small"
                    disabled={busy}
                    onClick={() => onAction(m, 'enable')}
                  >
                    Enable
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

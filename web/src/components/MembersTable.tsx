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
}

function RoleCell({
  member,
  roles,
  busy,
  onSetRole,
}: { member: Member } & Omit<MembersTableProps, 'members' | 'me' | 'reset'>) {
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

/** Every user with their role; a role is changed with its select and Save. */
export function MembersTable({ members, roles, me, busy, reset, onSetRole }: MembersTableProps) {
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="sr-only">Members and their roles</caption>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Two-step</th>
            <th scope="col">Added</th>
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
              <td data-label="Two-step">{m.totpEnabled ? 'On' : 'Off'}</td>
              <td data-label="Added">
                <time dateTime={m.createdAt}>{formatDate(m.createdAt)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

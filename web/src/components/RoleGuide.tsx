import type { RoleInfo } from '../api';
import { PERMISSION_ALLOWS, ROLE_SUMMARY } from '../roles';

/** Each role with the SPEC §5 permissions it holds and what they map to. */
export function RoleGuide({ roles }: { roles: RoleInfo[] }) {
  return (
    <section className="panel role-guide" aria-labelledby="roles-title">
      <h2 id="roles-title">Roles</h2>
      <dl>
        {roles.map((role) => (
          <div key={role.name} className="role-entry">
            <dt>
              <span className="role-tag">{role.name}</span>
            </dt>
            <dd>
              <p>{ROLE_SUMMARY[role.name] ?? ''}</p>
              {role.permissions.length > 0 ? (
                <ul className="permission-list">
                  {role.permissions.map((p) => (
                    <li key={p.name}>
                      <code>{p.name}</code> → <code>{p.value}</code>: {PERMISSION_ALLOWS[p.name] ?? ''}
                    </li>
                  ))}
                </ul>
              ) : (
                <p className="muted">No permissions.</p>
              )}
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

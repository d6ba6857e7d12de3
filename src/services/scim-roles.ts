import { sql } from 'kysely';
import { Conflict } from '../domain/errors.js';
import type { Role } from '../domain/permissions.js';
import type { Tx } from '../store/invalidations.js';
import type { Services } from './context.js';
import { roleFromGroups } from './oidc-roles.js';
import { disableUserIn, enableUserIn, setRoleIn } from './users.js';

/**
 * SPEC §10 roles and status of SCIM-managed users: the role a person's SCIM
 * groups give through OIDC_ROLE_MAP, and whether they are active (the IdP's
 * `active`, and a role other than `none`), applied through the services'
 * own setRole, Disable and Enable inside the caller's transaction.
 */

type Executor = Services['store']['db'] | Tx;

/** Who SCIM changes are by, in `revokedBy` and the audit log (SPEC §10). */
export const SCIM_ACTOR = 'SCIM';

/** The SCIM groups of each of these users, by user id. */
export async function groupsOf(db: Executor, userIds: string[]) {
  const byUser = new Map<string, Array<{ id: string; displayName: string }>>();
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom('scim_group_members')
    .innerJoin('scim_groups', 'scim_groups.id', 'scim_group_members.group_id')
    .select(['scim_group_members.user_id', 'scim_groups.id', 'scim_groups.display_name'])
    .where('scim_group_members.user_id', 'in', userIds)
    .orderBy('scim_groups.display_name')
    .execute();
  for (const r of rows) {
    const list = byUser.get(r.user_id) ?? [];
    list.push({ id: r.id, displayName: r.display_name });
    byUser.set(r.user_id, list);
  }
  return byUser;
}

/**
 * The role the user's SCIM groups give (SPEC §10 roles: the highest mapped
 * role wins; none mapped → OIDC_DEFAULT_ROLE), as at an IdP sign-in.
 */
async function groupRole(s: Services, tx: Tx, userId: string): Promise<Role | 'none'> {
  const names = ((await groupsOf(tx, [userId])).get(userId) ?? []).map((g) => g.displayName);
  return roleFromGroups(s.config.groupRoles, names);
}

/** The role a newly provisioned user gets before any group: OIDC_DEFAULT_ROLE, through the map. */
export function startingRole(s: Services): Role | 'none' {
  return roleFromGroups(s.config.groupRoles, []);
}

/**
 * SPEC §10: the user is active when the IdP says `active` and their groups do
 * not map to `none` (OIDC_DEFAULT_ROLE=none). Disable and Enable are the
 * services' own, so a deactivation revokes every connection and ends every
 * session in this transaction; the last owner refuses with 409.
 *
 * `explicit` is a create, PUT or PATCH of the user (the IdP states `active`);
 * otherwise a group change. A group change enables only a user Waxseal itself
 * held disabled for want of a role, never one an owner disabled.
 */
export async function settleStatus(s: Services, tx: Tx, userId: string, explicit: boolean): Promise<void> {
  const row = await tx
    .selectFrom('users')
    .leftJoin('scim_users', 'scim_users.user_id', 'users.id')
    .select(['users.email', 'users.status', 'scim_users.active', 'scim_users.held_no_role'])
    .where('users.id', '=', userId)
    .executeTakeFirstOrThrow();
  const active = (row.active ?? 1) === 1;
  const noRole = (await groupRole(s, tx, userId)) === 'none';
  const hold = async (held: boolean) => {
    if ((row.held_no_role ?? 0) === (held ? 1 : 0)) return;
    const value = held ? 1 : 0;
    await tx
      .insertInto('scim_users')
      .values({
        user_id: userId,
        external_id: null,
        active: 1,
        attributes: '{}',
        held_no_role: value,
        updated_at: s.clock.now(),
      })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ held_no_role: value }))
      .execute();
  };
  try {
    if (active && !noRole) {
      if (row.status !== 'active' && (explicit || row.held_no_role === 1)) {
        await enableUserIn(s, tx, row.email, SCIM_ACTOR);
      }
      if (row.status === 'active' || explicit || row.held_no_role === 1) await hold(false);
      return;
    }
    if (row.status === 'active') await disableUserIn(s, tx, row.email, SCIM_ACTOR);
    // Held for want of a role only when that is the one reason (the IdP wants them active).
    if (row.status === 'active' || explicit) await hold(active && noRole);
  } catch (err) {
    throw lastOwner(err);
  }
}

/** The last-owner refusal as a SCIM 409 (it is not a uniqueness clash). */
export function lastOwner(err: unknown): unknown {
  return err instanceof Conflict ? new Conflict(`${err.message} through SCIM`) : err;
}

/**
 * SPEC §10 roles from SCIM groups: the role of each user is recomputed from
 * their groups after a membership or displayName change; `none` disables.
 * Nothing changes when OIDC_ROLE_MAP is empty.
 */
export async function recomputeRoles(s: Services, tx: Tx, userIds: Iterable<string>): Promise<void> {
  if (s.config.groupRoles.roleMap.length === 0) return;
  for (const userId of new Set(userIds)) {
    const role = await groupRole(s, tx, userId);
    const user = await tx
      .selectFrom('users')
      .select(['email', 'role', 'deprovisioned_at'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!user || user.deprovisioned_at !== null) continue;
    if (role !== 'none' && role !== user.role) {
      try {
        await setRoleIn(s, tx, user.email, role, SCIM_ACTOR);
      } catch (err) {
        throw lastOwner(err);
      }
    }
    await settleStatus(s, tx, userId, false);
  }
}

/** Users by id that exist and are not deprovisioned (group members must be). */
export async function existingUserIds(tx: Tx, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await tx
    .selectFrom('users')
    .select(['id', 'email'])
    .where('id', 'in', ids)
    .where('deprovisioned_at', 'is', null)
    .execute();
  return new Map(rows.map((r) => [r.id, r.email]));
}

/** Case-insensitive equality on a text column (RFC 7643 caseExact false), the same on both databases. */
export const lowerEquals = (column: string, value: string) =>
  sql<boolean>`lower(${sql.ref(column)}) = ${value.toLowerCase()}`;

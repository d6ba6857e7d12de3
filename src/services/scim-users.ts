import { sql } from 'kysely';
import { Conflict } from '../domain/errors.js';
import type { Role } from '../domain/permissions.js';
import { invalidValue, noSuchResource, uniqueness } from '../domain/scim-errors.js';
import type { Tx } from '../store/invalidations.js';
import { audit } from './audit.js';
import { newId, type Services } from './context.js';
import { roleFromGroups } from './oidc-roles.js';
import { changeEmail, insertProvisionedUser, markDeprovisioned } from './transitions.js';
import { disableUserIn, enableUserIn, normaliseEmail, setRoleIn } from './users.js';

/** Who SCIM changes are by, in `revokedBy` and the audit log (SPEC §10). */
export const SCIM_ACTOR = 'SCIM';

/** What Waxseal keeps of a SCIM User besides userName, active and externalId: echoed back as sent. */
export type ScimAttributes = Record<string, unknown>;

/** A user as SCIM sees it (RFC 7643 §4.1): userName is the email. */
export interface ScimUser {
  id: string;
  userName: string;
  active: boolean;
  externalId: string | null;
  attributes: ScimAttributes;
  groups: Array<{ id: string; displayName: string }>;
  created: number;
  lastModified: number;
}

/** What a create, PUT or PATCH asks the user to become. */
export type ScimUserInput = Pick<ScimUser, 'userName' | 'active' | 'externalId' | 'attributes'>;

export interface UserQuery {
  userName?: string;
  externalId?: string;
  id?: string;
}

export interface Page {
  /** 1-based (RFC 7644 §3.4.2.4). */
  startIndex: number;
  count: number;
}

type Executor = Services['store']['db'] | Tx;

function baseQuery(db: Executor) {
  return db
    .selectFrom('users')
    .leftJoin('scim_users', 'scim_users.user_id', 'users.id')
    .select([
      'users.id',
      'users.email',
      'users.status',
      'users.created_at',
      'scim_users.external_id',
      'scim_users.active',
      'scim_users.attributes',
      'scim_users.updated_at',
    ])
    .where('users.deprovisioned_at', 'is', null);
}

type Row = Awaited<ReturnType<ReturnType<typeof baseQuery>['executeTakeFirstOrThrow']>>;

async function groupsOf(db: Executor, userIds: string[]) {
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

function toScimUser(row: Row, groups: ScimUser['groups']): ScimUser {
  return {
    id: row.id,
    userName: row.email,
    active: row.status === 'active',
    externalId: row.external_id ?? null,
    attributes: row.attributes ? (JSON.parse(row.attributes) as ScimAttributes) : {},
    groups,
    created: row.created_at,
    lastModified: row.updated_at ?? row.created_at,
  };
}

async function load(db: Executor, id: string): Promise<ScimUser> {
  const row = await baseQuery(db).where('users.id', '=', id).executeTakeFirst();
  if (!row) throw noSuchResource(`No User with id ${id}`);
  return toScimUser(row, (await groupsOf(db, [id])).get(id) ?? []);
}

/** RFC 7644 §3.4.2: the users matching every condition, one page of them, and how many there are. */
export async function listScimUsers(
  s: Services,
  where: UserQuery,
  page: Page,
): Promise<{ total: number; items: ScimUser[] }> {
  let q = baseQuery(s.store.db);
  // userName is case-insensitive (RFC 7643 §4.1.1); emails are stored lower-case.
  if (where.userName !== undefined) q = q.where('users.email', '=', where.userName.trim().toLowerCase());
  if (where.externalId !== undefined) q = q.where('scim_users.external_id', '=', where.externalId);
  if (where.id !== undefined) q = q.where('users.id', '=', where.id);
  const total = await q
    .clearSelect()
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const rows =
    page.count === 0
      ? []
      : await q
          .orderBy('users.created_at')
          .orderBy('users.id')
          .offset(page.startIndex - 1)
          .limit(page.count)
          .execute();
  const groups = await groupsOf(
    s.store.db,
    rows.map((r) => r.id),
  );
  return { total: Number(total.n), items: rows.map((r) => toScimUser(r, groups.get(r.id) ?? [])) };
}

export function getScimUser(s: Services, id: string): Promise<ScimUser> {
  return load(s.store.db, id);
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
function startingRole(s: Services): Role | 'none' {
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
async function settleStatus(s: Services, tx: Tx, userId: string, explicit: boolean): Promise<void> {
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
function lastOwner(err: unknown): unknown {
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

async function writeScimRow(tx: Tx, userId: string, input: ScimUserInput, at: number) {
  const values = {
    external_id: input.externalId,
    active: input.active ? 1 : 0,
    attributes: JSON.stringify(input.attributes),
    updated_at: at,
  };
  await tx
    .insertInto('scim_users')
    .values({ user_id: userId, ...values })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(values))
    .execute();
}

async function emailTaken(tx: Tx, email: string, exceptId: string | null) {
  let q = tx.selectFrom('users').select(['id', 'deprovisioned_at']).where('email', '=', email);
  if (exceptId) q = q.where('id', '!=', exceptId);
  return q.executeTakeFirst();
}

function emailOf(userName: string): string {
  try {
    return normaliseEmail(userName);
  } catch {
    throw invalidValue('userName: must be the person’s email address');
  }
}

/**
 * RFC 7644 §3.3 create. A userName that a deprovisioned user had re-provisions
 * that user (same id, audit history whole); any other existing userName is a
 * 409 uniqueness. Provisioned users have no password: they sign in through the
 * IdP, linked by email at their first sign-in (services/oidc-accounts.ts).
 */
export async function createScimUser(s: Services, input: ScimUserInput): Promise<ScimUser> {
  const email = emailOf(input.userName);
  return s.store.transact(async (tx) => {
    const at = s.clock.now();
    const existing = await emailTaken(tx, email, null);
    if (existing && existing.deprovisioned_at === null) {
      throw uniqueness(`A User with userName ${email} already exists`);
    }
    const role = startingRole(s);
    let id: string;
    if (existing) {
      id = existing.id;
      await markDeprovisioned(tx, id, null);
      if (role !== 'none') await setRoleIn(s, tx, email, role, SCIM_ACTOR);
    } else {
      id = newId(s.random);
      // `none` keeps the user disabled (settleStatus), so the stored role is never used then.
      const status = input.active && role !== 'none' ? 'active' : 'disabled';
      await insertProvisionedUser(tx, { id, email, role: role === 'none' ? 'member' : role, status, at });
      await audit(tx, at, SCIM_ACTOR, 'user.created', null, { email, role, source: 'scim' });
    }
    await writeScimRow(tx, id, { ...input, userName: email }, at);
    await settleStatus(s, tx, id, true);
    return load(tx, id);
  });
}

/**
 * PUT and PATCH (RFC 7644 §3.5): `change` turns the user as stored into what it
 * should become; everything that follows from it (a new email, Disable or
 * Enable) happens in this one transaction.
 */
export async function updateScimUser(
  s: Services,
  id: string,
  change: (current: ScimUser) => ScimUserInput,
): Promise<ScimUser> {
  return s.store.transact(async (tx) => {
    const current = await load(tx, id);
    const next = change(current);
    const email = emailOf(next.userName);
    const at = s.clock.now();
    if (email !== current.userName) {
      if (await emailTaken(tx, email, id)) throw uniqueness(`A User with userName ${email} already exists`);
      await changeEmail(tx, id, email);
      await audit(tx, at, SCIM_ACTOR, 'user.email_changed', null, { from: current.userName, to: email });
    }
    await writeScimRow(tx, id, { ...next, userName: email }, at);
    await settleStatus(s, tx, id, true);
    return load(tx, id);
  });
}

/**
 * RFC 7644 §3.6 DELETE, SPEC §10: Disable, then marked deprovisioned and out
 * of every group. The row and its audit history stay; GET answers 404 from now.
 */
export async function deleteScimUser(s: Services, id: string): Promise<void> {
  await s.store.transact(async (tx) => {
    const current = await load(tx, id);
    const at = s.clock.now();
    try {
      await disableUserIn(s, tx, current.userName, SCIM_ACTOR);
    } catch (err) {
      throw lastOwner(err);
    }
    await markDeprovisioned(tx, id, at);
    await tx.deleteFrom('scim_group_members').where('user_id', '=', id).execute();
    await tx.updateTable('scim_users').set({ active: 0, updated_at: at }).where('user_id', '=', id).execute();
    await audit(tx, at, SCIM_ACTOR, 'user.deprovisioned', null, { email: current.userName });
  });
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

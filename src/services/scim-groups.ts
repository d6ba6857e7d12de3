import { invalidValue, noSuchResource, uniqueness } from '../domain/scim-errors.js';
import type { Tx } from '../store/invalidations.js';
import { newId, type Services } from './context.js';
import { existingUserIds, lowerEquals, recomputeRoles } from './scim-roles.js';
import type { Page } from './scim-users.js';

/** A SCIM Group (RFC 7643 §4.2): its displayName maps to a role through OIDC_ROLE_MAP (SPEC §10). */
export interface ScimGroup {
  id: string;
  displayName: string;
  externalId: string | null;
  members: Array<{ id: string; userName: string }>;
  created: number;
  lastModified: number;
}

export interface ScimGroupInput {
  displayName: string;
  externalId: string | null;
  memberIds: string[];
}

export interface GroupQuery {
  displayName?: string;
  externalId?: string;
  id?: string;
  memberId?: string;
}

type Executor = Services['store']['db'] | Tx;

async function membersOf(db: Executor, groupIds: string[]) {
  const byGroup = new Map<string, ScimGroup['members']>();
  if (groupIds.length === 0) return byGroup;
  const rows = await db
    .selectFrom('scim_group_members')
    .innerJoin('users', 'users.id', 'scim_group_members.user_id')
    .select(['scim_group_members.group_id', 'users.id', 'users.email'])
    .where('scim_group_members.group_id', 'in', groupIds)
    .orderBy('users.email')
    .execute();
  for (const r of rows) {
    const list = byGroup.get(r.group_id) ?? [];
    list.push({ id: r.id, userName: r.email });
    byGroup.set(r.group_id, list);
  }
  return byGroup;
}

type Row = {
  id: string;
  display_name: string;
  external_id: string | null;
  created_at: number;
  updated_at: number;
};

const toGroup = (r: Row, members: ScimGroup['members']): ScimGroup => ({
  id: r.id,
  displayName: r.display_name,
  externalId: r.external_id,
  members,
  created: r.created_at,
  lastModified: r.updated_at,
});

async function load(db: Executor, id: string): Promise<ScimGroup> {
  const row = await db.selectFrom('scim_groups').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw noSuchResource(`No Group with id ${id}`);
  return toGroup(row, (await membersOf(db, [id])).get(id) ?? []);
}

export async function listScimGroups(
  s: Services,
  where: GroupQuery,
  page: Page,
): Promise<{ total: number; items: ScimGroup[] }> {
  let q = s.store.db.selectFrom('scim_groups');
  if (where.displayName !== undefined) q = q.where(lowerEquals('display_name', where.displayName));
  if (where.externalId !== undefined) q = q.where('external_id', '=', where.externalId);
  if (where.id !== undefined) q = q.where('id', '=', where.id);
  if (where.memberId !== undefined) {
    const memberId = where.memberId;
    q = q.where((eb) =>
      eb.exists(
        eb
          .selectFrom('scim_group_members')
          .select('scim_group_members.user_id')
          .whereRef('scim_group_members.group_id', '=', 'scim_groups.id')
          .where('scim_group_members.user_id', '=', memberId),
      ),
    );
  }
  const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const rows =
    page.count === 0
      ? []
      : await q
          .selectAll()
          .orderBy('created_at')
          .orderBy('id')
          .offset(page.startIndex - 1)
          .limit(page.count)
          .execute();
  const members = await membersOf(
    s.store.db,
    rows.map((r) => r.id),
  );
  return { total: Number(total.n), items: rows.map((r) => toGroup(r, members.get(r.id) ?? [])) };
}

export function getScimGroup(s: Services, id: string): Promise<ScimGroup> {
  return load(s.store.db, id);
}

function checkDisplayName(name: string): string {
  const n = name.trim();
  if (n.length === 0 || n.length > 256) throw invalidValue('displayName: must be 1-256 characters');
  return n;
}

async function nameTaken(tx: Tx, name: string, exceptId: string | null): Promise<boolean> {
  let q = tx.selectFrom('scim_groups').select('id').where(lowerEquals('display_name', name));
  if (exceptId) q = q.where('id', '!=', exceptId);
  return (await q.executeTakeFirst()) !== undefined;
}

/** A group's members at most: within both databases' limits on one statement's parameters. */
const MAX_MEMBERS = 10_000;
/** Ids per statement (SQLite allows 32,766 parameters, PostgreSQL 65,535). */
const CHUNK = 1000;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

async function checkMembers(tx: Tx, ids: string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (unique.length > MAX_MEMBERS)
    throw invalidValue(`members: a group holds at most ${MAX_MEMBERS} members`);
  const found = new Map<string, string>();
  for (const part of chunks(unique)) for (const [k, v] of await existingUserIds(tx, part)) found.set(k, v);
  const missing = unique.find((id) => !found.has(id));
  if (missing !== undefined) throw invalidValue(`members: no User with id ${missing}`);
  return unique;
}

/** Writes the group's members and returns whose membership changed. */
async function setMembers(tx: Tx, groupId: string, before: string[], after: string[]): Promise<string[]> {
  if (after.length > MAX_MEMBERS) throw invalidValue(`members: a group holds at most ${MAX_MEMBERS} members`);
  const was = new Set(before);
  const will = new Set(after);
  const removed = before.filter((id) => !will.has(id));
  const added = after.filter((id) => !was.has(id));
  for (const part of chunks(removed)) {
    await tx
      .deleteFrom('scim_group_members')
      .where('group_id', '=', groupId)
      .where('user_id', 'in', part)
      .execute();
  }
  for (const part of chunks(added)) {
    await tx
      .insertInto('scim_group_members')
      .values(part.map((user_id) => ({ group_id: groupId, user_id })))
      // Two IdP requests adding the same member at once both succeed.
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  return [...removed, ...added];
}

/** RFC 7644 §3.3 create; the members' roles are recomputed in the same transaction (SPEC §10). */
export async function createScimGroup(s: Services, input: ScimGroupInput): Promise<ScimGroup> {
  const displayName = checkDisplayName(input.displayName);
  return s.store.transact(async (tx) => {
    if (await nameTaken(tx, displayName, null)) {
      throw uniqueness(`A Group with displayName ${displayName} already exists`);
    }
    const members = await checkMembers(tx, input.memberIds);
    const id = newId(s.random);
    const at = s.clock.now();
    await tx
      .insertInto('scim_groups')
      .values({
        id,
        display_name: displayName,
        external_id: input.externalId,
        created_at: at,
        updated_at: at,
      })
      .execute();
    await recomputeRoles(s, tx, await setMembers(tx, id, [], members));
    return load(tx, id);
  });
}

/**
 * PUT and PATCH: `change` turns the group as stored into what it should be.
 * Whoever joined or left is recomputed; a new displayName recomputes every
 * member (it may map to another role). All in one transaction: a change that
 * would demote or disable the last owner is refused whole (409).
 */
export async function updateScimGroup(
  s: Services,
  id: string,
  change: (current: ScimGroup) => ScimGroupInput,
): Promise<ScimGroup> {
  return s.store.transact(async (tx) => {
    const current = await load(tx, id);
    const next = change(current);
    const displayName = checkDisplayName(next.displayName);
    if (displayName !== current.displayName && (await nameTaken(tx, displayName, id))) {
      throw uniqueness(`A Group with displayName ${displayName} already exists`);
    }
    const before = current.members.map((m) => m.id);
    const after = await checkMembers(tx, next.memberIds);
    await tx
      .updateTable('scim_groups')
      .set({ display_name: displayName, external_id: next.externalId, updated_at: s.clock.now() })
      .where('id', '=', id)
      .execute();
    const changed = await setMembers(tx, id, before, after);
    await recomputeRoles(s, tx, displayName === current.displayName ? changed : [...before, ...after]);
    return load(tx, id);
  });
}

/** RFC 7644 §3.6: the group goes; its former members' roles are recomputed. */
export async function deleteScimGroup(s: Services, id: string): Promise<void> {
  await s.store.transact(async (tx) => {
    const current = await load(tx, id);
    await tx.deleteFrom('scim_group_members').where('group_id', '=', id).execute();
    await tx.deleteFrom('scim_groups').where('id', '=', id).execute();
    await recomputeRoles(
      s,
      tx,
      current.members.map((m) => m.id),
    );
  });
}

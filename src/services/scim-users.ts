import { invalidValue, noSuchResource, uniqueness } from '../domain/scim-errors.js';
import type { Tx } from '../store/invalidations.js';
import { audit } from './audit.js';
import { newId, type Services } from './context.js';
import { groupsOf, lastOwner, SCIM_ACTOR, settleStatus, startingRole } from './scim-roles.js';
import { changeEmail, insertProvisionedUser, markDeprovisioned } from './transitions.js';
import { disableUserIn, normaliseEmail, setRoleIn } from './users.js';

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

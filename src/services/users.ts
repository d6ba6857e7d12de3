import * as OTPAuth from 'otpauth';
import { BadInput, Conflict, NotFound, TooManyRequests } from '../domain/errors.js';
import { isRole, ROLES, type Role } from '../domain/permissions.js';
import { DUMMY_PASSWORD_HASH, hashPassword, seal, unseal, verifyPassword } from '../domain/secrets.js';
import type { Tx } from '../store/invalidations.js';
import { audit } from './audit.js';
import { newId, type Services } from './context.js';
import { signinKey } from './lockouts.js';
import { hit, hits, reset } from './rate-limit.js';
import { changeRole, revokeConnectionsOfUser, setUserStatus, storeTotpSeed } from './transitions.js';

export type UserStatus = 'active' | 'disabled';
export type UserSource = 'local' | 'oidc' | 'scim';

export interface User {
  id: string;
  email: string;
  role: Role;
  status: UserStatus;
  source: UserSource;
  totpEnabled: boolean;
  createdAt: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (!EMAIL.test(e) || e.length > 254) throw new BadInput('email: must be an email address');
  return e;
}

export function checkPassword(password: string): void {
  if (password.length < 8) throw new BadInput('password: must be at least 8 characters');
  if (password.length > 1024) throw new BadInput('password: must be at most 1024 characters');
}

export function checkRole(role: string): Role {
  if (!isRole(role)) throw new BadInput(`role: must be one of ${ROLES.join(', ')}`);
  return role;
}

function toUser(row: {
  id: string;
  email: string;
  role: string;
  status: string;
  source: string;
  totp_sealed: string | null;
  created_at: number;
}): User {
  return {
    id: row.id,
    email: row.email,
    role: checkRole(row.role),
    status: row.status === 'disabled' ? 'disabled' : 'active',
    source: row.source as UserSource,
    totpEnabled: row.totp_sealed !== null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

export async function createUser(
  s: Services,
  input: { email: string; password: string; role: string },
  actor: string,
): Promise<User> {
  const email = normaliseEmail(input.email);
  checkPassword(input.password);
  const role = checkRole(input.role);
  const passwordHash = await hashPassword(input.password, s.random);
  return s.store.transact(async (tx) => {
    const exists = await tx.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
    if (exists) throw new Conflict(`A user with email ${email} already exists`);
    const at = s.clock.now();
    const id = newId(s.random);
    await tx
      .insertInto('users')
      .values({ id, email, password_hash: passwordHash, role, totp_sealed: null, created_at: at })
      .execute();
    await audit(tx, at, actor, 'user.created', null, { email, role });
    return {
      id,
      email,
      role,
      status: 'active',
      source: 'local',
      totpEnabled: false,
      createdAt: new Date(at).toISOString(),
    };
  });
}

export async function listUsers(s: Services): Promise<User[]> {
  const rows = await s.store.db
    .selectFrom('users')
    .selectAll()
    .orderBy('created_at')
    .orderBy('email')
    .execute();
  return rows.map(toUser);
}

export async function findUserById(s: Services, id: string): Promise<User | null> {
  const row = await s.store.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toUser(row) : null;
}

export async function countUsers(s: Services): Promise<number> {
  const row = await s.store.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function setRole(
  s: Services,
  emailInput: string,
  roleInput: string,
  actor: string,
): Promise<User> {
  const email = normaliseEmail(emailInput);
  const role = checkRole(roleInput);
  return s.store.transact((tx) => setRoleIn(s, tx, email, role, actor));
}

/** setRole inside the caller's transaction (SCIM applies several changes as one). */
export async function setRoleIn(
  s: Services,
  tx: Tx,
  email: string,
  role: Role,
  actor: string,
): Promise<User> {
  // Locked before the user is read, so the role read below is the one in force.
  const owners = role === 'owner' ? [] : await lockOwners(s, tx);
  const row = await tx.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  if (!row) throw new NotFound(`No user with email ${email}`);
  if (row.role === 'owner' && role !== 'owner' && owners.length <= 1) {
    throw new Conflict('The last owner cannot be demoted');
  }
  const at = s.clock.now();
  await changeRole(tx, row.id, role);
  await audit(tx, at, actor, 'user.role_changed', null, { email, from: row.role, to: role });
  return toUser({ ...row, role });
}

/**
 * The owners, locked for the rest of the transaction. "At least one owner"
 * (SPEC §10) is checked under this lock, so two owners demoting or disabling
 * each other at once cannot both pass: on PostgreSQL the second waits on the
 * row lock and then sees the first's change (FOR UPDATE re-reads the rows);
 * on SQLite every write transaction already holds the database's write lock.
 */
export async function lockOwners(s: Services, tx: Tx): Promise<string[]> {
  const query = tx
    .selectFrom('users')
    .select('id')
    .where('role', '=', 'owner')
    .where('status', '=', 'active')
    .orderBy('id');
  const rows = await (s.store.dialect === 'postgres' ? query.forUpdate() : query).execute();
  return rows.map((r) => r.id);
}

/**
 * SPEC §10 Disable, in one transaction: the user becomes disabled, every active
 * connection of theirs is revoked (revokedBy = the actor), every dashboard
 * session ends; an audit row per connection plus one for the user. The last
 * active owner cannot be disabled (409), whatever the concurrency.
 */
export async function disableUser(s: Services, emailInput: string, actor: string): Promise<User> {
  const email = normaliseEmail(emailInput);
  return s.store.transact((tx) => disableUserIn(s, tx, email, actor));
}

/** disableUser inside the caller's transaction (SCIM: PATCH active=false, DELETE). */
export async function disableUserIn(s: Services, tx: Tx, email: string, actor: string): Promise<User> {
  const owners = await lockOwners(s, tx);
  const row = await tx.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  if (!row) throw new NotFound(`No user with email ${email}`);
  if (owners.length === 1 && owners[0] === row.id) throw new Conflict('The last owner cannot be disabled');
  const at = s.clock.now();
  // Written even when already disabled: the row lock it takes is what a
  // concurrent code exchange for this user waits on (services/code-grant.ts).
  await setUserStatus(tx, row.id, 'disabled');
  if (row.status !== 'disabled') await audit(tx, at, actor, 'user.disabled', null, { email });
  await revokeConnectionsOfUser(tx, at, row.id, { label: actor }, 'user disabled');
  return toUser({ ...row, status: 'disabled' });
}

/** SPEC §10 Enable: sign-in works again; revoked connections stay revoked. */
export async function enableUser(s: Services, emailInput: string, actor: string): Promise<User> {
  const email = normaliseEmail(emailInput);
  return s.store.transact((tx) => enableUserIn(s, tx, email, actor));
}

/** enableUser inside the caller's transaction. */
export async function enableUserIn(s: Services, tx: Tx, email: string, actor: string): Promise<User> {
  const row = await tx.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  if (!row) throw new NotFound(`No user with email ${email}`);
  if (row.status !== 'active') {
    await setUserStatus(tx, row.id, 'active');
    await audit(tx, s.clock.now(), actor, 'user.enabled', null, { email });
  }
  return toUser({ ...row, status: 'active' });
}

/** How many active connections each user holds (SPEC §10 member JSON). */
export async function activeConnectionCounts(s: Services): Promise<Map<string, number>> {
  const rows = await s.store.db
    .selectFrom('connections')
    .select(['user_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '=', 'active')
    .groupBy('user_id')
    .execute();
  return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
}

/** Turns on TOTP for a user; returns the otpauth:// URI to scan. The seed is stored sealed. */
export async function enableTotp(s: Services, emailInput: string): Promise<string> {
  const email = normaliseEmail(emailInput);
  const secret = new OTPAuth.Secret({ buffer: new Uint8Array(s.random(20)).buffer });
  const totp = new OTPAuth.TOTP({ issuer: 'Waxseal', label: email, secret });
  const stored = await storeTotpSeed(s.store.db, email, seal(s.secret, 'totp', secret.base32, s.random));
  if (!stored) throw new NotFound(`No user with email ${email}`);
  return totp.toString();
}

export function verifyTotp(s: Services, sealed: string, code: string): boolean {
  if (!/^\d{6}$/.test(code)) return false;
  const secret = OTPAuth.Secret.fromBase32(unseal(s.secret, 'totp', sealed));
  const totp = new OTPAuth.TOTP({ secret });
  return totp.validate({ token: code, timestamp: s.clock.now(), window: 1 }) !== null;
}

export type SigninResult = { user: User; totpSealed: string | null } | null;

/**
 * Checks an email and password. Wrong credentials give null whichever part was
 * wrong, in the same time; a locked account or IP (SPEC §2: brute force is
 * slowed per account and per IP; limits in config.limits) gives TooManyRequests.
 */
export async function authenticate(
  s: Services,
  emailInput: string,
  password: string,
  ip: string,
): Promise<SigninResult> {
  const email = emailInput.trim().toLowerCase().slice(0, 254);
  const { signinAccountFailures, signinIpFailures, signinLockoutMs } = s.config.limits;
  if (
    (await hits(s, signinKey.account(email), signinLockoutMs)) >= signinAccountFailures ||
    (await hits(s, signinKey.ip(ip), signinLockoutMs)) >= signinIpFailures
  ) {
    throw new TooManyRequests('Too many sign-in attempts. Wait a few minutes and try again.');
  }
  const row = await s.store.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  const ok = await verifyPassword(password.slice(0, 1024), row?.password_hash ?? DUMMY_PASSWORD_HASH);
  // SPEC §10: a disabled user gets the same generic answer as a wrong password.
  if (!row || !ok || row.status !== 'active') {
    await countFailure(s, email, ip, {});
    return null;
  }
  return { user: toUser(row), totpSealed: row.totp_sealed };
}

/** One failed sign-in: counted per account and per IP, audited, and the lock-out itself audited. */
async function countFailure(s: Services, email: string, ip: string, detail: Record<string, unknown>) {
  const { signinAccountFailures, signinIpFailures, signinLockoutMs } = s.config.limits;
  const perAccount = await hit(s, signinKey.account(email), signinLockoutMs);
  const perIp = await hit(s, signinKey.ip(ip), signinLockoutMs);
  const at = s.clock.now();
  const actor = email || '(blank)';
  await audit(s.store.db, at, actor, 'user.signin_failed', null, { ip, ...detail });
  if (perAccount === signinAccountFailures) {
    await audit(s.store.db, at, actor, 'user.locked_out', null, { ip, failures: perAccount });
  }
  if (perIp === signinIpFailures) {
    await audit(s.store.db, at, actor, 'user.locked_out', null, { ip, failures: perIp, by: 'ip' });
  }
}

export async function recordSignin(s: Services, user: User, ip: string): Promise<void> {
  await reset(s, signinKey.account(user.email));
  await audit(s.store.db, s.clock.now(), user.email, 'user.signed_in', null, { ip });
}

/** Counts a failed second factor against the account, like a wrong password. */
export async function recordTotpFailure(s: Services, user: User, ip: string): Promise<void> {
  await countFailure(s, user.email, ip, { step: 'totp' });
}

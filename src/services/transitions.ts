import { Conflict, NotFound } from '../domain/errors.js';
import type { Role } from '../domain/permissions.js';
import { encodeToolAllow, type ToolAllow } from '../domain/tool-allow.js';
import type { Db } from '../store/db.js';
import type { Tx } from '../store/invalidations.js';
import { prepared } from '../store/prepared.js';
import { insertApiKey } from './api-keys.js';
import { audit } from './audit.js';
import type { Services } from './context.js';

/**
 * Every write to a table the token cache mirrors (connections, api_keys,
 * access_tokens, users) lives here, and each one that changes what a bearer
 * resolves to records its invalidation in the same transaction (the example:
 * workers-oauth-provider's storage/transitions.ts). A unit test refuses such a
 * write anywhere else in src/, so a revoked token cannot stay accepted because
 * a new call site forgot the cache (issue #11).
 */

/** Who acts: a signed-in user, the CLI, SCIM, or Waxseal itself (reuse detection). */
export interface Actor {
  label: string;
}

/**
 * SPEC §4 Revoke, inside the caller's transaction: the connection becomes
 * revoked, its API key is deactivated and every access and refresh token of it
 * stops working. 404 for an unknown id, 409 if it is already revoked.
 */
export async function revokeConnectionIn(
  tx: Tx,
  at: number,
  id: string,
  actor: Actor,
  reason: string,
): Promise<void> {
  const updated = await tx
    .updateTable('connections')
    .set({ status: 'revoked', revoked_at: at, revoked_by: actor.label })
    .where('id', '=', id)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) {
    const exists = await tx.selectFrom('connections').select('id').where('id', '=', id).executeTakeFirst();
    if (!exists) throw new NotFound(`No connection with id ${id}`);
    throw new Conflict('This connection is already revoked');
  }
  await tx
    .updateTable('api_keys')
    .set({ deactivated_at: at })
    .where('connection_id', '=', id)
    .where('deactivated_at', 'is', null)
    .execute();
  await tx
    .updateTable('access_tokens')
    .set({ revoked_at: at })
    .where('connection_id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
  await tx.updateTable('refresh_tokens').set({ state: 'revoked' }).where('connection_id', '=', id).execute();
  await tx.invalidate('connection', id);
  await audit(tx, at, actor.label, 'connection.revoked', id, { reason });
}

/**
 * SPEC §10 Revoke all: every active connection of one user, revoked as one
 * change with one audit row per connection. Returns how many there were.
 */
export async function revokeConnectionsOfUser(
  tx: Tx,
  at: number,
  userId: string,
  actor: Actor,
  reason: string,
): Promise<number> {
  const revoked = await tx
    .updateTable('connections')
    .set({ status: 'revoked', revoked_at: at, revoked_by: actor.label })
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .returning('id')
    .execute();
  const ids = revoked.map((r) => r.id);
  if (ids.length === 0) return 0;
  await tx
    .updateTable('api_keys')
    .set({ deactivated_at: at })
    .where('connection_id', 'in', ids)
    .where('deactivated_at', 'is', null)
    .execute();
  await tx
    .updateTable('access_tokens')
    .set({ revoked_at: at })
    .where('connection_id', 'in', ids)
    .where('revoked_at', 'is', null)
    .execute();
  await tx
    .updateTable('refresh_tokens')
    .set({ state: 'revoked' })
    .where('connection_id', 'in', ids)
    .execute();
  // One invalidation evicts every cached connection of the user, on every instance.
  await tx.invalidate('user', userId);
  for (const id of ids) await audit(tx, at, actor.label, 'connection.revoked', id, { reason });
  return ids.length;
}

/** SPEC §4 Regenerate API key: the new key is the connection's from this commit on; the old one is dead. */
export async function replaceApiKey(
  s: Services,
  tx: Tx,
  at: number,
  id: string,
  oldKeyId: string,
): Promise<{ id: string; prefix: string }> {
  const key = await insertApiKey(s, tx, id, at);
  await tx.updateTable('api_keys').set({ deactivated_at: at }).where('id', '=', oldKeyId).execute();
  await tx.updateTable('connections').set({ current_api_key_id: key.id }).where('id', '=', id).execute();
  await tx.invalidate('connection', id);
  return key;
}

export interface NewConnection {
  userId: string;
  clientId: string;
  clientName: string;
  scopes: string;
  resource: string;
}

/** SPEC §4: a completed flow is a new connection with its own key. Nothing can have cached it yet. */
export async function insertConnection(
  s: Services,
  tx: Tx,
  at: number,
  id: string,
  c: NewConnection,
): Promise<{ id: string; prefix: string }> {
  // The connection row needs its key id and the key row its connection; both
  // are inserted in this transaction, the connection first with a placeholder.
  await tx
    .insertInto('connections')
    .values({
      id,
      user_id: c.userId,
      client_id: c.clientId,
      client_name: c.clientName,
      status: 'active',
      scopes: c.scopes,
      resource: c.resource,
      connected_at: at,
      last_token_at: null,
      revoked_at: null,
      revoked_by: null,
      current_api_key_id: '',
    })
    .execute();
  const key = await insertApiKey(s, tx, id, at);
  await tx.updateTable('connections').set({ current_api_key_id: key.id }).where('id', '=', id).execute();
  return key;
}

/** RFC 7009 for one access token. */
export async function revokeAccessToken(tx: Tx, at: number, hash: string): Promise<void> {
  await tx.updateTable('access_tokens').set({ revoked_at: at }).where('token_hash', '=', hash).execute();
  await tx.invalidate('token', hash);
}

/** The access tokens issued with one refresh token die with it (a discarded grace retry, SPEC §2). */
export async function revokeAccessTokensOf(tx: Tx, at: number, refreshTokenId: string): Promise<void> {
  const lost = await tx
    .selectFrom('access_tokens')
    .select('token_hash')
    .where('refresh_token_id', '=', refreshTokenId)
    .where('revoked_at', 'is', null)
    .execute();
  await tx
    .updateTable('access_tokens')
    .set({ revoked_at: at })
    .where('refresh_token_id', '=', refreshTokenId)
    .where('revoked_at', 'is', null)
    .execute();
  for (const t of lost) await tx.invalidate('token', t.token_hash);
}

/** A role change is in force on every instance from the next request (SPEC §5, §10). */
export async function changeRole(tx: Tx, userId: string, role: Role): Promise<void> {
  await tx.updateTable('users').set({ role }).where('id', '=', userId).execute();
  await tx.invalidate('user', userId);
}

/**
 * SPEC §10 user status. Disabling also ends every dashboard session of the
 * user; the caller revokes the connections in the same transaction.
 */
export async function setUserStatus(tx: Tx, userId: string, status: 'active' | 'disabled'): Promise<void> {
  await tx.updateTable('users').set({ status }).where('id', '=', userId).execute();
  if (status === 'disabled') {
    await tx.deleteFrom('browser_sessions').where('user_id', '=', userId).execute();
    await tx.deleteFrom('signin_challenges').where('user_id', '=', userId).execute();
  }
  await tx.invalidate('user', userId);
}

/** SPEC §10 SCIM: a new userName is the user's email (and sign-in name) from the next request on. */
export async function changeEmail(tx: Tx, userId: string, email: string): Promise<void> {
  await tx.updateTable('users').set({ email }).where('id', '=', userId).execute();
  await tx.invalidate('user', userId);
}

/**
 * SPEC §12 tools per connection. The allow-list travels with the cached
 * connection (cache/token-cache.ts), so the invalidation puts it in force on
 * every instance from the next request. 404 for an unknown id.
 */
export async function setToolAllow(tx: Tx, id: string, allow: ToolAllow): Promise<void> {
  const updated = await tx
    .updateTable('connections')
    .set({ tool_allow: encodeToolAllow(allow) })
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) throw new NotFound(`No connection with id ${id}`);
  await tx.invalidate('connection', id);
}

// Writes below change nothing a bearer resolves to, so they invalidate nothing.

/** SPEC §10 SCIM: a user the IdP provisions; nobody can have cached them yet. */
export async function insertProvisionedUser(
  tx: Tx,
  u: { id: string; email: string; role: Role; status: 'active' | 'disabled'; at: number },
): Promise<void> {
  await tx
    .insertInto('users')
    .values({
      id: u.id,
      email: u.email,
      // No password matches it: a provisioned person signs in through the IdP.
      password_hash: '!scim',
      role: u.role,
      totp_sealed: null,
      created_at: u.at,
      status: u.status,
      source: 'scim',
      deprovisioned_at: null,
    })
    .execute();
}

/**
 * SPEC §10 SCIM DELETE marks the user deprovisioned (already disabled in the
 * same transaction); a later POST of the same userName clears it (null).
 */
export async function markDeprovisioned(tx: Tx, userId: string, at: number | null): Promise<void> {
  await tx.updateTable('users').set({ deprovisioned_at: at }).where('id', '=', userId).execute();
}

/**
 * SPEC §12 last used, written behind the requests by services/last-used.ts:
 * one transaction for a whole batch. No bearer resolves to these columns (the
 * token cache does not hold them), so there is nothing to invalidate. A value
 * never moves backwards, whichever instance's batch lands last.
 */
export async function writeLastUsed(
  tx: Tx,
  uses: ReadonlyArray<{ id: string; at: number; ip: string }>,
): Promise<void> {
  // In id order, so two instances' batches lock rows in the same order and cannot deadlock.
  for (const use of [...uses].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    await tx
      .updateTable('connections')
      .set({ last_used_at: use.at, last_used_ip: use.ip })
      .where('id', '=', use.id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', use.at)]))
      .execute();
  }
}

/** SPEC §4 last token: when the connection last refreshed. */
export const touchLastToken = prepared((db, p: { at: number; id: string }) =>
  db.updateTable('connections').set({ last_token_at: p.at }).where('id', '=', p.id),
);

/** The sealed TOTP seed of a user; false when there is no such user. */
export async function storeTotpSeed(db: Db, email: string, sealed: string): Promise<boolean> {
  const updated = await db
    .updateTable('users')
    .set({ totp_sealed: sealed })
    .where('email', '=', email)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

import { Conflict, NotFound } from '../domain/errors.js';
import type { Db } from '../store/db.js';
import { audit } from './audit.js';
import { countAll, countMatching, readAlongTime, resolveSearch, searchCondition } from './connection-list.js';
import type { Services } from './context.js';
import { type Actor, replaceApiKey, revokeConnectionIn, revokeConnectionsOfUser } from './transitions.js';
import { normaliseEmail } from './users.js';

export type { Actor } from './transitions.js';

/** A connection as the API, CLI and dashboard show it (SPEC §4, §7). */
export interface ConnectionView {
  id: string;
  clientName: string;
  status: 'active' | 'revoked';
  userEmail: string;
  apiKeyPrefix: string;
  connectedAt: string;
  lastTokenAt: string | null;
  /** SPEC §12 last used: the last /mcp request, written at most once a minute (services/last-used.ts). */
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function baseQuery(db: Db) {
  return db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
    .select([
      'c.id',
      'c.client_name',
      'c.status',
      'u.email',
      'k.key_prefix',
      'c.connected_at',
      'c.last_token_at',
      'c.last_used_at',
      'c.last_used_ip',
      'c.revoked_at',
      'c.revoked_by',
    ]);
}

type Row = Awaited<ReturnType<ReturnType<typeof baseQuery>['executeTakeFirstOrThrow']>>;

function toView(r: Row): ConnectionView {
  return {
    id: r.id,
    clientName: r.client_name,
    status: r.status === 'revoked' ? 'revoked' : 'active',
    userEmail: r.email,
    apiKeyPrefix: r.key_prefix,
    connectedAt: iso(r.connected_at) as string,
    lastTokenAt: iso(r.last_token_at),
    lastUsedAt: iso(r.last_used_at),
    lastUsedIp: r.last_used_ip,
    revokedAt: iso(r.revoked_at),
    revokedBy: r.revoked_by,
  };
}

export async function getConnection(s: Services, id: string, db: Db = s.store.db): Promise<ConnectionView> {
  const row = await baseQuery(db).where('c.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFound(`No connection with id ${id}`);
  return toView(row);
}

export interface ListQuery {
  status?: 'active' | 'revoked';
  q?: string;
  limit: number;
  cursor?: { connectedAt: number; id: string };
}

/**
 * Newest first, keyset-paginated on (connected_at, id). `total` counts every
 * connection matching the filter without reading them all (connection-list.ts).
 */
export async function listConnections(
  s: Services,
  query: ListQuery,
): Promise<{
  total: number;
  items: ConnectionView[];
  nextCursor: { connectedAt: number; id: string } | null;
}> {
  const db = s.store.db;
  let total: number;
  let page = baseQuery(db);
  if (query.status) page = page.where('c.status', '=', query.status);
  if (query.q) {
    const search = await resolveSearch(db, s.store.dialect, query.q);
    total = await countMatching(db, search, query.status);
    if (total === 0) return { total, items: [], nextCursor: null };
    const alongTime = readAlongTime(query.limit, await countAll(db, query.status), total);
    page = page.where(searchCondition(search, !alongTime));
  } else {
    total = await countAll(db, query.status);
  }
  if (query.cursor) {
    const { connectedAt, id } = query.cursor;
    page = page.where((eb) =>
      eb.or([
        eb('c.connected_at', '<', connectedAt),
        eb.and([eb('c.connected_at', '=', connectedAt), eb('c.id', '<', id)]),
      ]),
    );
  }
  const rows = await page
    .orderBy('c.connected_at', 'desc')
    .orderBy('c.id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const items = rows.slice(0, query.limit);
  const last = rows.length > query.limit ? items[items.length - 1] : undefined;
  return {
    total,
    items: items.map(toView),
    nextCursor: last ? { connectedAt: last.connected_at, id: last.id } : null,
  };
}

/**
 * SPEC §4 Revoke, in one transaction: the connection becomes revoked, its API
 * key is deactivated and every access and refresh token of it stops working.
 */
export async function revokeConnection(
  s: Services,
  id: string,
  actor: Actor,
  reason = 'revoked',
): Promise<ConnectionView> {
  return s.store.transact(async (tx) => {
    await revokeConnectionIn(tx, s.clock.now(), id, actor, reason);
    return getConnection(s, id, tx);
  });
}

/**
 * SPEC §4 Regenerate API key: the new key replaces the old one at once; the
 * connection's tokens keep working and every request from now on carries the new key.
 */
export async function regenerateKey(s: Services, id: string, actor: Actor): Promise<ConnectionView> {
  return s.store.transact(async (tx) => {
    const at = s.clock.now();
    const conn = await tx
      .selectFrom('connections')
      .select(['status', 'current_api_key_id'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!conn) throw new NotFound(`No connection with id ${id}`);
    if (conn.status !== 'active')
      throw new Conflict('This connection is revoked; its key cannot be regenerated');
    const key = await replaceApiKey(s, tx, at, id, conn.current_api_key_id);
    await audit(tx, at, actor.label, 'connection.key_regenerated', id, { apiKeyPrefix: key.prefix });
    return getConnection(s, id, tx);
  });
}

/** SPEC §10 Revoke all of one user: `{ revoked: N }`; 404 for an unknown email. */
export async function revokeAllOfUser(s: Services, emailInput: string, actor: Actor): Promise<number> {
  const email = normaliseEmail(emailInput);
  return s.store.transact(async (tx) => {
    const user = await tx.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
    if (!user) throw new NotFound(`No user with email ${email}`);
    return revokeConnectionsOfUser(tx, s.clock.now(), user.id, actor, 'revoke all');
  });
}

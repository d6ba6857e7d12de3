import { HOUR } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import { audit } from './audit.js';
import type { Services } from './context.js';

/** A connection's latest `connection.token_refreshed` row, known to be committed. */
export interface Audited {
  connectionId: string;
  at: number;
}

/**
 * Per Services: when each connection's latest aggregate row was written, as far
 * as this process knows. It only ever skips a lookup whose answer is known
 * (a row less than an hour old exists); another instance's newer row is found
 * by the lookup once the hour is over.
 */
const remembered = new WeakMap<Services, Map<string, number>>();
const MAX_REMEMBERED = 100_000;

const latestRow = prepared((db, p: { connectionId: string }) =>
  db
    .selectFrom('audit_events')
    .select('at')
    .where('connection_id', '=', p.connectionId)
    .where('action', '=', 'connection.token_refreshed')
    .orderBy('at', 'desc')
    .limit(1),
);

const refreshesBetween = prepared((db, p: { connectionId: string; since: number; until: number }) =>
  db
    .selectFrom('refresh_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('connection_id', '=', p.connectionId)
    .where('created_at', '>', p.since)
    .where('created_at', '<=', p.until),
);

/**
 * Token refreshes in the audit log, aggregated so the log does not grow with
 * every refresh (issue #6): the first refresh of a connection in any hour writes
 * one `connection.token_refreshed` row counting the refreshes since the previous
 * such row; later refreshes in that hour write nothing. The count comes from
 * refresh_tokens, where every refresh leaves a row, so the log stays append-only.
 *
 * Call it inside refresh()'s transaction, after the new pair is issued, so a
 * crash either keeps both or neither; once that transaction has committed, hand
 * what it returns to refreshAudited().
 */
export async function auditRefresh(
  s: Services,
  tx: Db,
  at: number,
  actor: string,
  connection: { id: string; connectedAt: number },
): Promise<Audited | null> {
  const known = remembered.get(s)?.get(connection.id);
  if (known !== undefined && at - known < HOUR) return null;
  const last = (await latestRow(tx, { connectionId: connection.id })).rows[0];
  if (last && at - Number(last.at) < HOUR) return { connectionId: connection.id, at: Number(last.at) };
  const since = last ? Number(last.at) : connection.connectedAt;
  const counted = (await refreshesBetween(tx, { connectionId: connection.id, since, until: at })).rows[0];
  await audit(tx, at, actor, 'connection.token_refreshed', connection.id, {
    refreshes: Number(counted?.n ?? 0),
    since: new Date(since).toISOString(),
  });
  return { connectionId: connection.id, at };
}

/** Remembers a committed aggregate row, so the refreshes of the next hour need not look it up. */
export function refreshAudited(s: Services, row: Audited): void {
  let map = remembered.get(s);
  if (!map) {
    map = new Map();
    remembered.set(s, map);
  }
  if (map.size >= MAX_REMEMBERED) map.clear();
  map.set(row.connectionId, row.at);
}

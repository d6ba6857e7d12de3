import { HOUR } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { audit } from './audit.js';

/**
 * Token refreshes in the audit log, aggregated so the log does not grow with
 * every refresh (issue #6): the first refresh of a connection in any hour writes
 * one `connection.token_refreshed` row counting the refreshes since the previous
 * such row; later refreshes in that hour write nothing. The count comes from
 * refresh_tokens, where every refresh leaves a row, so the log stays append-only.
 *
 * Call it inside refresh()'s transaction, after the new pair is issued, so a
 * crash either keeps both or neither.
 */
export async function auditRefresh(
  tx: Db,
  at: number,
  actor: string,
  connection: { id: string; connectedAt: number },
): Promise<boolean> {
  const last = await tx
    .selectFrom('audit_events')
    .select('at')
    .where('connection_id', '=', connection.id)
    .where('action', '=', 'connection.token_refreshed')
    .orderBy('at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (last && at - Number(last.at) < HOUR) return false;
  const since = last ? Number(last.at) : connection.connectedAt;
  const counted = await tx
    .selectFrom('refresh_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('connection_id', '=', connection.id)
    .where('created_at', '>', since)
    .where('created_at', '<=', at)
    .executeTakeFirstOrThrow();
  await audit(tx, at, actor, 'connection.token_refreshed', connection.id, {
    refreshes: Number(counted.n),
    since: new Date(since).toISOString(),
  });
  return true;
}

import { sql } from 'kysely';
import type { Db, Dialect } from '../store/db.js';

export type InvalidationKind = 'connection' | 'token' | 'user';
export const CHANNEL = 'waxseal_invalidations';

/**
 * Records, inside the caller's transaction, that cached state about `ref` is
 * stale. Every process learns of it: SQLite readers through PRAGMA data_version,
 * PostgreSQL instances through NOTIFY (delivered only if the transaction commits).
 */
export async function recordInvalidation(
  tx: Db,
  dialect: Dialect,
  at: number,
  kind: InvalidationKind,
  ref: string,
): Promise<void> {
  await tx.insertInto('invalidations').values({ at, kind, ref }).execute();
  // The payload carries the change itself, so a listener applies it the moment it arrives.
  if (dialect === 'postgres') await sql`select pg_notify(${CHANNEL}, ${`${kind}:${ref}`})`.execute(tx);
}

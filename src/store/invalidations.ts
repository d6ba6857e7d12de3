import { type Kysely, sql, type Transaction } from 'kysely';
import type { Clock } from '../domain/clock.js';
import type { Database } from './schema.js';

/**
 * What a cached lookup can be about: one token, one connection, every
 * connection of a user, or what the gateway keeps of a connection's MCP client
 * (its declared capabilities and its upstream sessions, upstreams/sessions.ts).
 */
export type InvalidationKind = 'connection' | 'token' | 'user' | 'mcp_client';
export const CHANNEL = 'waxseal_invalidations';

/**
 * A transaction that can say "cached state about this is now wrong". Saying it
 * is the only way to record an invalidation: it writes the `invalidations` row
 * (SQLite readers see it through PRAGMA data_version), sends the NOTIFY
 * (PostgreSQL delivers it only if the transaction commits), and once the
 * transaction has committed this process evicts the entry itself. Nothing is
 * left for the caller to remember after the transaction (issue #11).
 */
export type Tx = Transaction<Database> & {
  invalidate(kind: InvalidationKind, ref: string): Promise<void>;
  /** Runs fn once the transaction has committed (never if it rolls back): e.g. waking the audit outbox. */
  afterCommit(fn: () => void): void;
};

/** Where this process's own evictions go once a transaction has committed (the token cache). */
export type Evict = (kind: InvalidationKind, ref: string) => void;

export async function runTransaction<T>(
  db: Kysely<Database>,
  options: { postgres: boolean; clock: Clock; evict: () => Evict | undefined },
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const committed: [InvalidationKind, string][] = [];
  const after: (() => void)[] = [];
  const result = await db.transaction().execute((trx) => {
    const tx = Object.assign(trx, {
      invalidate: async (kind: InvalidationKind, ref: string) => {
        await trx.insertInto('invalidations').values({ at: options.clock.now(), kind, ref }).execute();
        // The payload carries the change itself, so a listener applies it the moment it arrives.
        if (options.postgres) await sql`select pg_notify(${CHANNEL}, ${`${kind}:${ref}`})`.execute(trx);
        committed.push([kind, ref]);
      },
      afterCommit: (fn: () => void) => {
        after.push(fn);
      },
    });
    return fn(tx);
  });
  const evict = options.evict();
  if (evict) for (const [kind, ref] of committed) evict(kind, ref);
  for (const fn of after) fn();
  return result;
}

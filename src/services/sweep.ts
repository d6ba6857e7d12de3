import { HOUR, LIFETIMES } from '../domain/clock.js';
import { Conflict, NotFound } from '../domain/errors.js';
import type { Services } from './context.js';
import { revokeConnectionIn } from './transitions.js';

/** SPEC §12 maximum age: who revokes an expired connection, as its `revokedBy` shows it. */
export const EXPIRED_ACTOR = { label: 'Waxseal (expired)' };

/**
 * SPEC §12 maximum age: every active connection older than CONNECTION_MAX_AGE_DAYS
 * (by when it was connected) is revoked like any other, each in its own
 * transaction, so its client gets 401 on every instance at once and must
 * re-authorize. Every instance sweeps; revokeConnectionIn's update of an
 * *active* row is the referee, so a connection is revoked, and audited, once:
 * whoever loses the race gets Conflict and moves on. Returns how many this call revoked.
 */
export async function sweepExpiredConnections(s: Services): Promise<number> {
  const maxAge = s.config.connectionMaxAgeMs;
  if (maxAge === undefined) return 0;
  let revoked = 0;
  for (;;) {
    const at = s.clock.now();
    const expired = await s.store.db
      .selectFrom('connections')
      .select('id')
      .where('status', '=', 'active')
      .where('connected_at', '<', at - maxAge)
      .orderBy('connected_at')
      .limit(500)
      .execute();
    let mine = 0;
    for (const { id } of expired) {
      try {
        await s.store.transact((tx) => revokeConnectionIn(tx, at, id, EXPIRED_ACTOR, 'maximum age'));
        mine++;
      } catch (err) {
        // Revoked meanwhile elsewhere (Conflict) or deleted since it was read (NotFound): nothing to do.
        if (!(err instanceof Conflict || err instanceof NotFound)) throw err;
      }
    }
    revoked += mine;
    if (expired.length < 500) return revoked;
  }
}

/**
 * Deletes dynamically registered clients that never became a connection within
 * UNUSED_CLIENT_TTL_DAYS (issue #6): /register is open to anyone, so its rows
 * must not pile up. A client with a connection (active or revoked), an unexpired
 * code or a pending consent is kept. Returns how many were deleted.
 */
export async function sweepUnusedClients(s: Services): Promise<number> {
  const at = s.clock.now();
  const result = await s.store.db
    .deleteFrom('oauth_clients')
    .where('created_at', '<', at - s.config.limits.unusedClientTtlMs)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('connections')
            .select('connections.id')
            .whereRef('connections.client_id', '=', 'oauth_clients.client_id'),
        ),
      ),
    )
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('authorization_codes')
            .select('authorization_codes.code_hash')
            .whereRef('authorization_codes.client_id', '=', 'oauth_clients.client_id')
            .where('authorization_codes.expires_at', '>', at),
        ),
      ),
    )
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('authorization_requests')
            .select('authorization_requests.id')
            .whereRef('authorization_requests.client_id', '=', 'oauth_clients.client_id')
            .where('authorization_requests.expires_at', '>', at),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Drops rate-limit counters whose window has long ended, so the table stays small. */
export async function sweepRateLimits(s: Services): Promise<number> {
  const longest = Math.max(s.config.limits.signinLockoutMs, HOUR);
  const result = await s.store.db
    .deleteFrom('rate_limits')
    .where('window_start', '<', s.clock.now() - longest)
    .executeTakeFirst();
  // SPEC §12: a connection's request budget of a window long ended.
  await s.store.db
    .deleteFrom('connection_budgets')
    .where('window_start', '<', s.clock.now() - HOUR)
    .execute();
  return Number(result.numDeletedRows);
}

/** Removes expired codes, requests, sessions and old invalidations; run periodically. */
export async function sweepExpired(s: Services): Promise<void> {
  const at = s.clock.now();
  const db = s.store.db;
  await db
    .deleteFrom('authorization_codes')
    .where('expires_at', '<', at - LIFETIMES.refreshToken)
    .execute();
  await db.deleteFrom('authorization_requests').where('expires_at', '<', at).execute();
  await db.deleteFrom('browser_sessions').where('expires_at', '<', at).execute();
  await db.deleteFrom('signin_challenges').where('expires_at', '<', at).execute();
  await db.deleteFrom('oidc_logins').where('expires_at', '<', at).execute();
  await db.deleteFrom('logout_tokens').where('expires_at', '<', at).execute();
  await db
    .deleteFrom('invalidations')
    .where('at', '<', at - LIFETIMES.browserSession)
    .execute();
}

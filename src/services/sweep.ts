import { HOUR, LIFETIMES } from '../domain/clock.js';
import type { Services } from './context.js';

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

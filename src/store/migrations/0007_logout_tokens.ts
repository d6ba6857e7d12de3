import type { Kysely } from 'kysely';

/**
 * SPEC §10 back-channel logout: the jti of every logout token Waxseal accepted,
 * hashed, kept until well past the token's expiry, so a replayed token is
 * refused on every instance (Back-Channel Logout 1.0 §2.6 step 7). sweep.ts
 * drops the expired rows.
 */
export function logoutTokens() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('logout_tokens')
        .addColumn('jti_hash', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('logout_tokens_by_expiry')
        .on('logout_tokens')
        .column('expires_at')
        .execute();
    },
  };
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Issue #12 (SPEC §10), sign-in through the team's identity provider:
 * (users.status and users.source come from 0005_user_status);
 * - user_identities: a user as the IdP knows them, found by (issuer, subject),
 *   never by email, with the IdP's refresh token sealed for the re-check at refresh;
 * - oidc_logins: sign-ins waiting for the IdP's callback, keyed by the hash of a
 *   random id held in the browser's cookie, so any instance can finish one.
 */
export function identity(_dialect: Dialect) {
  const time = 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('user_identities')
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('refresh_sealed', 'text')
        .addColumn('last_recheck_at', time)
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('last_signin_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('user_identities_pk', ['issuer', 'subject'])
        .execute();
      await db.schema
        .createIndex('user_identities_by_user')
        .on('user_identities')
        .column('user_id')
        .execute();

      await db.schema
        .createTable('oidc_logins')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('verifier_sealed', 'text', (c) => c.notNull())
        .addColumn('next', 'text', (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('oidc_logins_by_expiry').on('oidc_logins').column('expires_at').execute();
    },
  };
}

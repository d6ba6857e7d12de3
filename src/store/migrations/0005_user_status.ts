import type { Kysely } from 'kysely';

/**
 * SPEC §10 user status and source: `status` is `active` or `disabled`
 * (Disable / Enable, SCIM `active`), `source` is where the user came from
 * (`local`, `oidc`, `scim`), and `deprovisioned_at` marks a user SCIM deleted:
 * disabled and kept, so audit history stays whole.
 */
export function userStatus() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('users')
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
        .execute();
      await db.schema
        .alterTable('users')
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('local'))
        .execute();
      await db.schema.alterTable('users').addColumn('deprovisioned_at', 'bigint').execute();
    },
  };
}

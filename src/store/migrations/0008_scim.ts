import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * SPEC §10 SCIM 2.0:
 * - scim_tokens: the bearer tokens `waxseal scim-token create` makes, stored
 *   as SHA-256 only, revoked (never deleted) so `list` shows their history;
 * - scim_users: what the IdP says of a user beyond the users row: its
 *   externalId, whether it wants the user active (RFC 7643 §4.1.1 `active`),
 *   the attributes Waxseal keeps to echo back (name, displayName, emails), and
 *   whether Waxseal holds the user disabled only because no group gives a role
 *   (OIDC_DEFAULT_ROLE=none), so that a group giving one enables them again;
 * - scim_groups / scim_group_members: the IdP's groups, whose displayName maps
 *   to a role through OIDC_ROLE_MAP.
 */
export function scim(_dialect: Dialect) {
  const time = 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('scim_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('last_used_at', time)
        .addColumn('revoked_at', time)
        .execute();

      await db.schema
        .createTable('scim_users')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('external_id', 'text')
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('attributes', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('held_no_role', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('scim_users_by_external_id')
        .on('scim_users')
        .column('external_id')
        .execute();

      await db.schema
        .createTable('scim_groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('display_name', 'text', (c) => c.notNull().unique())
        .addColumn('external_id', 'text')
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('scim_group_members')
        .addColumn('group_id', 'text', (c) => c.notNull().references('scim_groups.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('scim_group_members_pk', ['group_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('scim_group_members_by_user')
        .on('scim_group_members')
        .column('user_id')
        .execute();
    },
  };
}

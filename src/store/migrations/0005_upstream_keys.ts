import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * SPEC §9: the API key each upstream receives is the connection's key bound to
 * that upstream (src/upstreams/bound-keys.ts). Only its SHA-256 is stored, with
 * the connection, the API key it was derived from and the upstream, so
 * POST /introspect can say whose it is and to whom it was given. A row is
 * written before the first request that carries the key; it never changes.
 * The key is live while its API key is the connection's current one.
 */
export function upstreamKeys(_dialect: Dialect) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('upstream_keys')
        .addColumn('key_hash', 'text', (c) => c.primaryKey())
        .addColumn('connection_id', 'text', (c) => c.notNull())
        .addColumn('api_key_id', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

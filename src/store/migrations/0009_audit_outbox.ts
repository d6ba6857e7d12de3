import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * SPEC §13 audit stream and §12 maximum age:
 * - audit_outbox: one row per audit event still to be POSTed to AUDIT_WEBHOOK_URL,
 *   written in the audit row's own transaction (services/audit.ts) and deleted once
 *   the receiver answered 2xx (services/audit-outbox.ts). `id` is the audit row's id:
 *   the order of delivery within one `stream` (a connection, or a user).
 * - connections_active_by_age: what the maximum-age sweep reads (services/sweep.ts).
 */
export function auditOutbox(_dialect: Dialect) {
  const time = 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit_outbox')
        .addColumn('id', 'bigint', (c) => c.primaryKey())
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', time, (c) => c.notNull())
        .addColumn('claimed_until', time)
        .addColumn('created_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('audit_outbox_by_stream')
        .on('audit_outbox')
        .columns(['stream', 'id'])
        .execute();
      await db.schema
        .createIndex('audit_outbox_by_due')
        .on('audit_outbox')
        .column('next_attempt_at')
        .execute();
      await db.schema
        .createIndex('connections_active_by_age')
        .on('connections')
        .columns(['status', 'connected_at'])
        .execute();
    },
  };
}

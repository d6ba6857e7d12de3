import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Issue #6 hardening: the audit log becomes append-only in the database itself
 * (UPDATE, DELETE and TRUNCATE raise), and indexes for the sweeper that deletes
 * unused dynamic registrations and for the audit-events API.
 */
export function hardening(dialect: Dialect) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'postgres') {
        await sql`
          create function waxseal_audit_append_only() returns trigger language plpgsql as $$
          begin
            raise exception 'audit_events is append-only';
          end
          $$`.execute(db);
        await sql`
          create trigger audit_events_no_change before update or delete on audit_events
          for each row execute function waxseal_audit_append_only()`.execute(db);
        await sql`
          create trigger audit_events_no_truncate before truncate on audit_events
          for each statement execute function waxseal_audit_append_only()`.execute(db);
      } else {
        await sql`
          create trigger audit_events_no_update before update on audit_events
          begin select raise(abort, 'audit_events is append-only'); end`.execute(db);
        await sql`
          create trigger audit_events_no_delete before delete on audit_events
          begin select raise(abort, 'audit_events is append-only'); end`.execute(db);
      }
      await db.schema.createIndex('connections_by_client').on('connections').column('client_id').execute();
      await db.schema.createIndex('oauth_clients_by_time').on('oauth_clients').column('created_at').execute();
      await db.schema
        .createIndex('authorization_codes_by_client')
        .on('authorization_codes')
        .column('client_id')
        .execute();
      await db.schema
        .createIndex('authorization_requests_by_client')
        .on('authorization_requests')
        .column('client_id')
        .execute();
      await db.schema
        .createIndex('audit_events_by_connection_action')
        .on('audit_events')
        .columns(['connection_id', 'action', 'at'])
        .execute();
      await db.schema.createIndex('rate_limits_by_window').on('rate_limits').column('window_start').execute();
    },
  };
}

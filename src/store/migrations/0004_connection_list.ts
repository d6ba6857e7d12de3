import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * SPEC §6 "the list stays fast with 100,000 connections".
 *
 * - `connection_counts` holds the number of connections per status, kept
 *   exact by triggers in the same transaction as every insert, status change
 *   and delete, so the unfiltered or status-filtered `total` is one row read
 *   instead of a count over the whole table.
 * - Searches resolve the query to the few client names and users it matches
 *   (services/connection-list.ts); these indexes then count and page those
 *   connections without reading the others.
 */
export function connectionList(dialect: Dialect) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('connection_counts')
        .addColumn('status', 'text', (c) => c.primaryKey())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .execute();
      await sql`insert into connection_counts (status, n)
        select status, count(*) from connections group by status`.execute(db);

      if (dialect === 'postgres') {
        await sql`
          create function waxseal_connection_counts() returns trigger language plpgsql as $$
          begin
            if tg_op in ('UPDATE', 'DELETE') then
              update connection_counts set n = n - 1 where status = old.status;
            end if;
            if tg_op in ('INSERT', 'UPDATE') then
              insert into connection_counts (status, n) values (new.status, 1)
              on conflict (status) do update set n = connection_counts.n + 1;
            end if;
            return null;
          end
          $$`.execute(db);
        await sql`
          create trigger connections_counted_insert after insert or delete on connections
          for each row execute function waxseal_connection_counts()`.execute(db);
        await sql`
          create trigger connections_counted_status after update of status on connections
          for each row when (old.status is distinct from new.status)
          execute function waxseal_connection_counts()`.execute(db);
      } else {
        await sql`
          create trigger connections_counted_insert after insert on connections begin
            insert into connection_counts (status, n) values (new.status, 1)
            on conflict (status) do update set n = n + 1;
          end`.execute(db);
        await sql`
          create trigger connections_counted_status after update of status on connections
          when old.status is not new.status begin
            update connection_counts set n = n - 1 where status = old.status;
            insert into connection_counts (status, n) values (new.status, 1)
            on conflict (status) do update set n = n + 1;
          end`.execute(db);
        await sql`
          create trigger connections_counted_delete after delete on connections begin
            update connection_counts set n = n - 1 where status = old.status;
          end`.execute(db);
      }

      // Count and page the connections of matching client names / users, by status.
      await db.schema
        .createIndex('connections_by_client_name')
        .on('connections')
        .columns(['client_name', 'status', 'user_id'])
        .execute();
      await db.schema
        .createIndex('connections_by_user_status_client')
        .on('connections')
        .columns(['user_id', 'status', 'client_name'])
        .execute();
    },
  };
}

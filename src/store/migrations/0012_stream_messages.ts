import type { Kysely } from 'kysely';

/**
 * SPEC §11: a message for a connection's stream that is too large for a
 * PostgreSQL NOTIFY payload waits here for the instance holding the stream
 * (upstreams/stream-bus.ts); rows are dropped after a few minutes.
 */
export function streamMessages() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('mcp_stream_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('connection_id', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('mcp_stream_messages_by_age')
        .on('mcp_stream_messages')
        .column('created_at')
        .execute();
    },
  };
}

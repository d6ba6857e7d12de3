import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Issue #7 gateway state, shared by every instance (SPEC §1 scale-out):
 * - mcp_clients: what the connection's MCP client declared at its last
 *   initialize (capabilities), so a stateless /mcp request on any instance can
 *   open upstream sessions with the same capabilities;
 * - upstream_sessions: the upstream's Mcp-Session-Id per connection and
 *   upstream, so any instance resumes the same upstream session;
 * - mcp_relay: server-to-client requests waiting for the client's answer, which
 *   may arrive as a POST on another instance (src/upstreams/relay.ts).
 */
export function upstreams(_dialect: Dialect) {
  const time = 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('mcp_clients')
        .addColumn('connection_id', 'text', (c) => c.primaryKey())
        .addColumn('capabilities', 'text', (c) => c.notNull())
        .addColumn('client_info', 'text', (c) => c.notNull())
        .addColumn('protocol_version', 'text', (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('upstream_sessions')
        .addColumn('connection_id', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('protocol_version', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('upstream_sessions_pk', ['connection_id', 'upstream'])
        .execute();

      await db.schema
        .createTable('mcp_relay')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('connection_id', 'text', (c) => c.notNull())
        .addColumn('reply', 'text')
        .addColumn('expires_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('mcp_relay_by_expiry').on('mcp_relay').column('expires_at').execute();
    },
  };
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * SPEC §12 per-connection policy:
 * - connections.last_used_at / last_used_ip: the connection's last /mcp
 *   request, written behind the request (services/last-used.ts);
 * - connections.tool_allow: the allow-list of tool names as JSON, null for
 *   every tool the connection's role may use;
 * - connection_budgets: the per-minute request budget of each connection,
 *   handed out to instances in slices (services/request-budget.ts).
 */
export function connectionPolicy(_dialect: Dialect) {
  const time = 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('connections').addColumn('last_used_at', time).execute();
      await db.schema.alterTable('connections').addColumn('last_used_ip', 'text').execute();
      await db.schema.alterTable('connections').addColumn('tool_allow', 'text').execute();
      await db.schema
        .createTable('connection_budgets')
        .addColumn('connection_id', 'text', (c) => c.primaryKey())
        .addColumn('window_start', time, (c) => c.notNull())
        .addColumn('claimed', 'integer', (c) => c.notNull())
        .addColumn('granted', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('connection_budgets_by_window')
        .on('connection_budgets')
        .column('window_start')
        .execute();
    },
  };
}

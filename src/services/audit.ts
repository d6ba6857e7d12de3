import type { Logger } from 'pino';
import type { Db } from '../store/db.js';

/**
 * Audit actions (issue #2, #6). The log is append-only: this insert is the only
 * write the application makes to audit_events, and migration 0002 makes the
 * database refuse UPDATE, DELETE and TRUNCATE on it.
 */
export type AuditAction =
  | 'connection.created'
  | 'connection.revoked'
  | 'connection.key_regenerated'
  | 'connection.code_replayed'
  | 'connection.refresh_reuse'
  | 'connection.token_refreshed'
  // SPEC §12 tools per connection.
  | 'connection.tools_changed'
  | 'user.created'
  | 'user.role_changed'
  | 'user.signed_in'
  | 'user.signin_failed'
  | 'user.locked_out'
  | 'user.unlocked'
  // SPEC §10 offboarding.
  | 'user.disabled'
  | 'user.enabled'
  // SPEC §10 back-channel logout: the IdP ended the person's dashboard sessions.
  | 'user.logged_out'
  | 'consent.granted'
  | 'consent.denied'
  // Issue #7: per-tool role restrictions on upstream tools.
  | 'mcp.tool_hidden'
  | 'mcp.tool_denied';

/**
 * The logger each database's audit events also go to. Keyed by the Kysely
 * executor's adapter, the one object a database shares with every transaction
 * opened on it, so audit() finds the logger whether it is given the database or
 * a transaction, and two servers in one process (the library, tests) keep apart.
 */
const loggers = new WeakMap<object, Logger>();

/** Issue 11: every audit event of this database also becomes one info line in the log. */
export function logAuditEvents(db: Db, log: Logger): void {
  loggers.set(db.getExecutor().adapter, log);
}

export async function audit(
  tx: Db,
  at: number,
  actor: string,
  action: AuditAction,
  connectionId: string | null = null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await tx
    .insertInto('audit_events')
    .values({ at, actor, action, connection_id: connectionId, detail: JSON.stringify(detail) })
    .execute();
  // Written when the row is (inside the caller's transaction, if any). The detail
  // holds no secret by design: emails, ids, IPs, client ids, key prefixes.
  loggers
    .get(tx.getExecutor().adapter)
    ?.info(
      { event: action, actor, connectionId: connectionId ?? undefined, ...detail },
      action.replace(/[._]/g, ' '),
    );
}

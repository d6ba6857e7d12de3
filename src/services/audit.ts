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
  | 'user.created'
  | 'user.role_changed'
  | 'user.signed_in'
  | 'user.signin_failed'
  | 'user.locked_out'
  | 'user.unlocked'
  // SPEC §10 offboarding.
  | 'user.disabled'
  | 'user.enabled'
  | 'consent.granted'
  | 'consent.denied'
  // Issue #7: per-tool role restrictions on upstream tools.
  | 'mcp.tool_hidden'
  | 'mcp.tool_denied';

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
}

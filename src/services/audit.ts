import type { Db } from '../store/db.js';

/** Audit actions (issue #2; append-only from the application's side). */
export type AuditAction =
  | 'connection.created'
  | 'connection.revoked'
  | 'connection.key_regenerated'
  | 'connection.code_replayed'
  | 'connection.refresh_reuse'
  | 'user.created'
  | 'user.role_changed'
  | 'user.signed_in'
  | 'user.signin_failed'
  | 'consent.granted'
  | 'consent.denied';

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

import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { Tx } from '../store/invalidations.js';
import { enqueueAuditEvent } from './audit-outbox.js';

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
  // SPEC §10 SCIM: userName changed, DELETE, the tokens the IdP uses.
  | 'user.email_changed'
  | 'user.deprovisioned'
  | 'scim_token.created'
  | 'scim_token.revoked'
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

/** SPEC §13 audit stream: the databases whose audit events also go to the outbox, and who to wake. */
const outboxes = new WeakMap<object, { wake(): void }>();

/**
 * From now on every audit event of this database is also written to audit_outbox,
 * in the audit row's own transaction; `wake` is called once that has committed.
 */
export function streamAuditEvents(db: Db, wake: () => void): void {
  outboxes.set(db.getExecutor().adapter, { wake });
}

/**
 * Writes one audit event: the only insert into audit_events and, with the audit
 * stream on, into audit_outbox (test/unit/audit-stream.test.ts checks that no
 * other file does either), so no event can reach one and miss the other. Given
 * the database rather than a transaction, it opens one of its own for the two rows.
 */
export async function audit(
  tx: Db,
  at: number,
  actor: string,
  action: AuditAction,
  connectionId: string | null = null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  const outbox = outboxes.get(tx.getExecutor().adapter);
  const values = { at, actor, action, connection_id: connectionId, detail: JSON.stringify(detail) };
  if (!outbox) {
    await tx.insertInto('audit_events').values(values).execute();
  } else if (!tx.isTransaction) {
    await tx.transaction().execute((trx) => audit(trx, at, actor, action, connectionId, detail));
    outbox.wake();
    return;
  } else {
    const row = await tx.insertInto('audit_events').values(values).returning('id').executeTakeFirstOrThrow();
    await enqueueAuditEvent(tx, { id: Number(row.id), at, actor, action, connectionId, detail });
    // store.transact's transactions wake the worker once they commit; only they call audit() with one.
    if ('afterCommit' in tx) (tx as Tx).afterCommit(outbox.wake);
  }
  // Written when the row is (inside the caller's transaction, if any). The detail
  // holds no secret by design: emails, ids, IPs, client ids, key prefixes.
  loggers
    .get(tx.getExecutor().adapter)
    ?.info(
      { event: action, actor, connectionId: connectionId ?? undefined, ...detail },
      action.replace(/[._]/g, ' '),
    );
}

import { randomUUID } from 'node:crypto';
import type { Db, Dialect } from '../store/db.js';

/**
 * SPEC §13 audit stream, the durable part: audit_outbox holds every audit event
 * not yet accepted by AUDIT_WEBHOOK_URL, each with the exact body it is POSTed
 * with. Rows are written by audit() in the audit row's transaction and deleted
 * once the receiver answered 2xx; services/audit-stream.ts delivers them.
 *
 * Order: events of one stream are delivered in audit-id order, one at a time
 * (a row is claimed only when no row of its stream with a smaller id is left).
 * The stream of a connection's event is the connection; an event without one
 * (sign-ins, role changes, consent…) belongs to the stream of the user it is
 * about, so one person's events keep their order without holding up anyone else's.
 */

/** An audit event as the receiver gets it. `id` is the same at every attempt: de-duplicate on it. */
export interface AuditEventBody {
  id: string;
  auditId: number;
  type: string;
  at: string;
  actor: string;
  connectionId: string | null;
  user: string | null;
  client: { id: string; name: string | null } | null;
  detail: Record<string, unknown>;
}

export interface NewAuditEvent {
  id: number;
  at: number;
  actor: string;
  action: string;
  connectionId: string | null;
  detail: Record<string, unknown>;
}

/** Inside the audit row's transaction: the event's outbox row, with its body fixed once and for all. */
export async function enqueueAuditEvent(tx: Db, e: NewAuditEvent): Promise<void> {
  let user: string | null = null;
  let client: AuditEventBody['client'] = null;
  if (e.connectionId !== null) {
    const row = await tx
      .selectFrom('connections as c')
      .innerJoin('users as u', 'u.id', 'c.user_id')
      .select(['u.email', 'c.client_id', 'c.client_name'])
      .where('c.id', '=', e.connectionId)
      .executeTakeFirst();
    if (row) {
      user = row.email;
      client = { id: row.client_id, name: row.client_name };
    }
  } else {
    user = typeof e.detail.email === 'string' ? e.detail.email : e.actor;
    if (typeof e.detail.clientId === 'string') client = { id: e.detail.clientId, name: null };
  }
  const body: AuditEventBody = {
    id: randomUUID(),
    auditId: e.id,
    type: e.action,
    at: new Date(e.at).toISOString(),
    actor: e.actor,
    connectionId: e.connectionId,
    user,
    client,
    detail: e.detail,
  };
  await tx
    .insertInto('audit_outbox')
    .values({
      id: e.id,
      stream: e.connectionId !== null ? `connection:${e.connectionId}` : `user:${user}`,
      body: JSON.stringify(body),
      next_attempt_at: e.at,
      claimed_until: null,
      created_at: e.at,
    })
    .execute();
}

export interface Claimed {
  id: number;
  body: string;
  attempts: number;
}

/**
 * Claims up to `limit` rows due by `dueBy` (default `now`), each the oldest of its stream, until `until`.
 * On PostgreSQL, FOR UPDATE SKIP LOCKED lets every instance claim at once
 * without two taking the same row; a claim left by a process that died runs out
 * at `until` and the row is claimed again (at least once).
 */
export async function claimDue(
  db: Db,
  dialect: Dialect,
  claim: { now: number; until: number; limit: number; dueBy?: number },
): Promise<Claimed[]> {
  const { now, until, limit } = claim;
  let due = db
    .selectFrom('audit_outbox as o')
    .select('o.id')
    .where('o.next_attempt_at', '<=', claim.dueBy ?? now)
    .where((eb) => eb.or([eb('o.claimed_until', 'is', null), eb('o.claimed_until', '<', now)]))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('audit_outbox as p')
            .select('p.id')
            .whereRef('p.stream', '=', 'o.stream')
            .whereRef('p.id', '<', 'o.id'),
        ),
      ),
    )
    .orderBy('o.id')
    .limit(limit);
  if (dialect === 'postgres') due = due.forUpdate().skipLocked();
  const rows = await db
    .updateTable('audit_outbox')
    .set({ claimed_until: until })
    .where('id', 'in', due)
    .returning(['id', 'body', 'attempts'])
    .execute();
  return rows
    .map((r) => ({ id: Number(r.id), body: r.body, attempts: Number(r.attempts) }))
    .sort((a, b) => a.id - b.id);
}

/** The receiver took them: they leave the outbox. */
export async function markDelivered(db: Db, ids: number[]): Promise<void> {
  if (ids.length > 0) await db.deleteFrom('audit_outbox').where('id', 'in', ids).execute();
}

/** A failed attempt: the row (and so its stream) waits until `next`. */
export async function markFailed(db: Db, id: number, next: number): Promise<void> {
  await db
    .updateTable('audit_outbox')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), claimed_until: null, next_attempt_at: next }))
    .where('id', '=', id)
    .execute();
}

/** Gives claims back without counting an attempt: shutting down, or (SQLite) a restart of the one process. */
export async function releaseClaims(db: Db, ids?: number[]): Promise<void> {
  let q = db.updateTable('audit_outbox').set({ claimed_until: null }).where('claimed_until', 'is not', null);
  if (ids) {
    if (ids.length === 0) return;
    q = q.where('id', 'in', ids);
  }
  await q.execute();
}

/** The receiver answers again: everything waiting out a back-off is due now. */
export async function retryNow(db: Db, now: number): Promise<void> {
  await db
    .updateTable('audit_outbox')
    .set({ next_attempt_at: now })
    .where('next_attempt_at', '>', now)
    .where('claimed_until', 'is', null)
    .execute();
}

/** What /metrics shows, in one query: rows waiting and when the oldest was written. */
export async function outboxStats(db: Db): Promise<{ depth: number; oldestAt: number | null }> {
  const row = await db
    .selectFrom('audit_outbox')
    .select((eb) => [eb.fn.countAll<number>().as('depth'), eb.fn.min('created_at').as('oldest')])
    .executeTakeFirst();
  return {
    depth: Number(row?.depth ?? 0),
    oldestAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
  };
}

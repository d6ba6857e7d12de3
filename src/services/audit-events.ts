import type { Services } from './context.js';

/** An audit event as the API shows it. */
export interface AuditEventView {
  id: number;
  at: string;
  actor: string;
  action: string;
  connectionId: string | null;
  detail: Record<string, unknown>;
}

function detailOf(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** The audit log newest first, keyset-paginated on id, optionally for one connection. */
export async function listAuditEvents(
  s: Services,
  query: { connectionId?: string; limit: number; before?: number },
): Promise<{ items: AuditEventView[]; nextBefore: number | null }> {
  let q = s.store.db.selectFrom('audit_events').selectAll();
  if (query.connectionId !== undefined) q = q.where('connection_id', '=', query.connectionId);
  if (query.before !== undefined) q = q.where('id', '<', query.before);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const items = rows.slice(0, query.limit).map((r) => ({
    id: Number(r.id),
    at: new Date(Number(r.at)).toISOString(),
    actor: r.actor,
    action: r.action,
    connectionId: r.connection_id,
    detail: detailOf(r.detail),
  }));
  const last = items[items.length - 1];
  return { items, nextBefore: rows.length > query.limit && last ? last.id : null };
}

import { CancelledNotificationSchema, type JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';

/** As many as a batch may hold (the transport's limit); more is left to the transport to refuse. */
const MAX_CANCELLATIONS = 100;
const MAX_REASON = 200;

/**
 * The cancellations in a POST body that holds nothing else (SPEC §11: a
 * `notifications/cancelled` POSTed on its own); null when it holds anything
 * else, more than a batch may, or one that is not a valid cancellation — the
 * transport then answers it as it answers any POST. What goes on (over the
 * stream bus, to every instance) is rebuilt from the parsed fields only: the
 * request id and a short reason, never the client's whole message.
 */
export function onlyCancellations(body: unknown): JSONRPCNotification[] | null {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0 || messages.length > MAX_CANCELLATIONS) return null;
  const out: JSONRPCNotification[] = [];
  for (const m of messages) {
    if (typeof m !== 'object' || m === null || 'id' in m || (m as { jsonrpc?: unknown }).jsonrpc !== '2.0')
      return null;
    const parsed = CancelledNotificationSchema.safeParse(m);
    const requestId = parsed.success ? parsed.data.params.requestId : undefined;
    if (requestId === undefined || (typeof requestId === 'string' && requestId.length > MAX_REASON))
      return null;
    const reason = parsed.data?.params.reason;
    out.push({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId, ...(typeof reason === 'string' ? { reason: reason.slice(0, MAX_REASON) } : {}) },
    });
  }
  return out;
}

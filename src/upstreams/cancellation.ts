import { CancelledNotificationSchema, type JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';

/** As many as a batch may hold (the transport's limit); more is left to the transport to refuse. */
const MAX_CANCELLATIONS = 100;
const MAX_REASON = 200;

/**
 * The valid cancellations in a POST body (SPEC §11: a `notifications/cancelled`
 * reaches the request it names, on whichever instance and whichever of the
 * connection's servers has it), and whether the body is nothing else
 * (`alone`). A body over a batch's size has none here: the transport refuses
 * it. What goes on (over the stream bus, to every instance) is rebuilt from
 * the parsed fields only: the request id and a short reason, never the
 * client's whole message.
 */
export function cancellationsIn(body: unknown): { cancellations: JSONRPCNotification[]; alone: boolean } {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0 || messages.length > MAX_CANCELLATIONS)
    return { cancellations: [], alone: false };
  const cancellations: JSONRPCNotification[] = [];
  for (const m of messages) {
    const cancellation = asCancellation(m);
    if (cancellation) cancellations.push(cancellation);
  }
  return { cancellations, alone: cancellations.length === messages.length };
}

/** A valid `notifications/cancelled`, rebuilt from its request id and reason; null for anything else. */
function asCancellation(m: unknown): JSONRPCNotification | null {
  if (typeof m !== 'object' || m === null || 'id' in m || (m as { jsonrpc?: unknown }).jsonrpc !== '2.0')
    return null;
  if ((m as { method?: unknown }).method !== 'notifications/cancelled') return null;
  const parsed = CancelledNotificationSchema.safeParse(m);
  const requestId = parsed.success ? parsed.data.params.requestId : undefined;
  if (requestId === undefined || (typeof requestId === 'string' && requestId.length > MAX_REASON))
    return null;
  const reason = parsed.data?.params.reason;
  return {
    jsonrpc: '2.0',
    method: 'notifications/cancelled',
    params: { requestId, ...(typeof reason === 'string' ? { reason: reason.slice(0, MAX_REASON) } : {}) },
  };
}

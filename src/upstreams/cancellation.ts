import { CancelledNotificationSchema, type JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';

/** As many as a batch may hold (the transport's limit); more is left to the transport to refuse. */
const MAX_CANCELLATIONS = 100;
const MAX_REASON = 200;

/**
 * The cancellations in a POST body (SPEC §11: a `notifications/cancelled`
 * reaches the request it names, on whichever instance and whichever of the
 * connection's servers has it), and what is left for the transport: null when
 * the body held nothing else, the other messages otherwise (a batch stays a
 * batch). A message that is not a valid cancellation stays with the rest, for
 * the transport to answer as it answers any POST; a body over a batch's size
 * is left whole. What goes on (over the stream bus, to every instance) is
 * rebuilt from the parsed fields only: the request id and a short reason,
 * never the client's whole message.
 */
export function takeCancellations(body: unknown): {
  cancellations: JSONRPCNotification[];
  rest: unknown;
} {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0 || messages.length > MAX_CANCELLATIONS) return { cancellations: [], rest: body };
  const cancellations: JSONRPCNotification[] = [];
  const others: unknown[] = [];
  for (const m of messages) {
    const cancellation = asCancellation(m);
    if (cancellation) cancellations.push(cancellation);
    else others.push(m);
  }
  if (cancellations.length === 0) return { cancellations, rest: body };
  if (others.length === 0) return { cancellations, rest: null };
  return { cancellations, rest: Array.isArray(body) ? others : others[0] };
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

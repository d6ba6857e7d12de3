import {
  CancelledNotificationSchema,
  type JSONRPCMessage,
  type JSONRPCNotification,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * A client's `notifications/cancelled` POSTed on its own (SPEC §11). /mcp is
 * stateless, so the request it names is being answered by another POST —
 * here or on another instance. Each POST that carries requests registers
 * them; a cancellation is handed to the one that holds the request (over
 * the stream bus when it is elsewhere), which passes it to that POST's SDK
 * server as if it had arrived there: the handler's signal aborts, and the
 * upstream request is cancelled with it.
 */
export class InFlight {
  private readonly requests = new Map<string, (message: JSONRPCMessage) => void>();

  /** Registers the requests of one POST; returns what to call when its answer is done. */
  track(connectionId: string, body: unknown, deliver: (message: JSONRPCMessage) => void): () => void {
    const keys: string[] = [];
    for (const m of Array.isArray(body) ? body : [body]) {
      const id = (m as { id?: unknown; method?: unknown })?.id;
      if (
        (typeof id === 'string' || typeof id === 'number') &&
        typeof (m as { method?: unknown }).method === 'string'
      ) {
        const key = keyOf(connectionId, id);
        this.requests.set(key, deliver);
        keys.push(key);
      }
    }
    return () => {
      for (const key of keys) if (this.requests.get(key) === deliver) this.requests.delete(key);
    };
  }

  /** Delivers a cancellation to the request it names, if that request is answered here. */
  cancel(connectionId: string, message: JSONRPCMessage): boolean {
    const parsed = CancelledNotificationSchema.safeParse(message);
    if (!parsed.success) return false;
    const deliver = this.requests.get(keyOf(connectionId, parsed.data.params.requestId ?? ''));
    if (!deliver) return false;
    deliver(message);
    return true;
  }
}

const keyOf = (connectionId: string, id: string | number) => `${connectionId}\u0000${typeof id}:${id}`;

/** The cancellations in a POST body that holds nothing else; null when it holds anything else. */
export function onlyCancellations(body: unknown): JSONRPCNotification[] | null {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0) return null;
  const all = messages.every(
    (m) => (m as { method?: unknown })?.method === 'notifications/cancelled' && !('id' in (m as object)),
  );
  return all ? (messages as JSONRPCNotification[]) : null;
}

import type { JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';

/** The cancellations in a POST body that holds nothing else; null when it holds anything else. */
export function onlyCancellations(body: unknown): JSONRPCNotification[] | null {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0) return null;
  const all = messages.every(
    (m) => (m as { method?: unknown })?.method === 'notifications/cancelled' && !('id' in (m as object)),
  );
  return all ? (messages as JSONRPCNotification[]) : null;
}

import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { loadConnection } from '../services/bearer.js';
import type { Services } from '../services/context.js';
import type { HttpUpstream } from './config.js';
import { ConnectionRevoked } from './errors.js';

/**
 * SPEC §9 identity upstream: the connection's API key as it is at this moment,
 * read per upstream request (from the validation cache, which revocations and
 * regenerations invalidate) so that a request sent after a regenerate carries
 * the new key and nothing is sent after a revoke.
 */
export async function currentApiKey(s: Services, connectionId: string): Promise<string> {
  const connection = s.cache.getConnection(connectionId) ?? (await loadConnection(s, connectionId));
  if (connection?.status !== 'active') throw new ConnectionRevoked();
  return connection.apiKey;
}

/** The credential header's value: `Bearer <key>` for Authorization, the bare key for any other header. */
export function credentialValue(upstream: HttpUpstream, apiKey: string): string {
  return upstream.credentialHeader.toLowerCase() === 'authorization' ? `Bearer ${apiKey}` : apiKey;
}

/**
 * The fetch an HTTP upstream's transport uses: configured headers plus the
 * connection's current API key. The client's OAuth token is never among them
 * (no token passthrough).
 */
export function upstreamFetch(s: Services, upstream: HttpUpstream, connectionId: string): FetchLike {
  return async (url, init) => {
    const apiKey = await currentApiKey(s, connectionId);
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(upstream.headers)) headers.set(name, value);
    headers.set(upstream.credentialHeader, credentialValue(upstream, apiKey));
    return fetch(url, { ...init, headers });
  };
}

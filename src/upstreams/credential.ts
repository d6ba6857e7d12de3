import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { tracedFetch } from '../telemetry/upstream-call.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';

/** The credential header's value: `Bearer <key>` for Authorization, the bare key for any other header. */
export function credentialValue(upstream: HttpUpstream, key: string): string {
  return upstream.credentialHeader.toLowerCase() === 'authorization' ? `Bearer ${key}` : key;
}

/**
 * The fetch an HTTP upstream's transport uses: configured headers plus the
 * connection's API key bound to this upstream, read per request so that a
 * request sent after a regenerate carries the new key and nothing is sent
 * after a revoke. The client's OAuth token is never among them (no token
 * passthrough).
 */
export function upstreamFetch(keys: UpstreamKeys, upstream: HttpUpstream, connectionId: string): FetchLike {
  return async (url, init) => {
    const key = await keys.current(connectionId, upstream.name);
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(upstream.headers)) headers.set(name, value);
    headers.set(upstream.credentialHeader, credentialValue(upstream, key));
    return tracedFetch({ upstream: upstream.name, connectionId }, url, { ...init, headers });
  };
}

import { apiKeyDisplayPrefix, deriveApiKey, sha256 } from '../domain/secrets.js';
import type { Db } from '../store/db.js';
import { newId, type Services } from './context.js';

/** Creates a connection's next API key (SPEC §4: prefix + 32 pseudo-random bytes, base62). */
export async function insertApiKey(
  s: Services,
  tx: Db,
  connectionId: string,
  at: number,
): Promise<{ id: string; prefix: string }> {
  const id = newId(s.random);
  const keyRef = s.random(32).toString('base64url');
  const key = deriveApiKey(s.secret, s.config.apiKeyPrefix, keyRef);
  const prefix = apiKeyDisplayPrefix(key, s.config.apiKeyPrefix);
  await tx
    .insertInto('api_keys')
    .values({
      id,
      connection_id: connectionId,
      key_hash: sha256(key),
      key_prefix: prefix,
      key_ref: keyRef,
      created_at: at,
      deactivated_at: null,
    })
    .execute();
  return { id, prefix };
}

/** The full key, re-derived for the caller's handlers and upstreams; never stored. */
export function apiKeyFor(s: Services, keyRef: string): string {
  return deriveApiKey(s.secret, s.config.apiKeyPrefix, keyRef);
}

import { sha256 } from '../domain/secrets.js';
import type { Client } from './clients.js';
import type { Services } from './context.js';
import { revokeAccessToken, revokeConnectionIn } from './transitions.js';

/**
 * RFC 7009: revokes one token of the authenticated client. Revoking a refresh
 * token ends the grant, so the whole connection is revoked (§2.1). Unknown
 * tokens and other clients' tokens are answered the same way: nothing happens.
 */
export async function revokeToken(s: Services, client: Client, token: string): Promise<void> {
  const hash = sha256(token);
  const refresh = await s.store.db
    .selectFrom('refresh_tokens as r')
    .innerJoin('connections as c', 'c.id', 'r.connection_id')
    .select(['c.id', 'c.status', 'c.client_id'])
    .where('r.token_hash', '=', hash)
    .executeTakeFirst();
  if (refresh) {
    if (refresh.client_id !== client.clientId || refresh.status !== 'active') return;
    const actor = { label: `${client.clientId} (token revoked by client)` };
    await s.store
      .transact((tx) => revokeConnectionIn(tx, s.clock.now(), refresh.id, actor, 'rfc7009'))
      .catch((err) => {
        // Revoked meanwhile by someone else: RFC 7009 §2.2 answers the same.
        if ((err as { status?: number }).status !== 409) throw err;
      });
    return;
  }
  const access = await s.store.db
    .selectFrom('access_tokens as a')
    .innerJoin('connections as c', 'c.id', 'a.connection_id')
    .select(['c.client_id'])
    .where('a.token_hash', '=', hash)
    .executeTakeFirst();
  if (!access || access.client_id !== client.clientId) return;
  await s.store.transact((tx) => revokeAccessToken(tx, s.clock.now(), hash));
}

import type { ConnectionEntry, TokenEntry } from '../cache/token-cache.js';
import { sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import { decodeToolAllow } from '../domain/tool-allow.js';
import { apiKeyFor } from './api-keys.js';
import type { Services } from './context.js';

/** Who calls /mcp: resolved from an access token or an API key (SPEC §3). */
export interface Caller {
  token: TokenEntry;
  connection: ConnectionEntry;
}

/**
 * Resolves a bearer credential on the hot path: from the cache in steady state,
 * from the database on a miss. Returns null for anything that must get a 401.
 */
export async function resolveBearer(s: Services, bearer: string): Promise<Caller | null> {
  if (bearer.length > 200) return null;
  const hash = sha256(bearer);
  // In steady state both come from the cache, without awaiting anything (issue 13).
  const token = s.cache.getToken(hash) ?? (await tokenFor(s, bearer, hash));
  if (!token) return null;
  if (token.expiresAt !== null && token.expiresAt <= s.clock.now()) return null;
  const connection =
    s.cache.getConnection(token.connectionId) ?? (await connectionFor(s, token.connectionId));
  if (!connection) return null;
  if (connection.status !== 'active') return null;
  // SPEC §4: a regenerated key's predecessor is refused at once.
  if (token.kind === 'api_key' && token.apiKeyId !== connection.apiKeyId) return null;
  return { token, connection };
}

/** A token not in the cache: from the database, then cached. */
async function tokenFor(s: Services, bearer: string, hash: string): Promise<TokenEntry | null> {
  const mark = s.cache.mark();
  const loaded = await loadToken(s, bearer, hash);
  if (loaded) s.cache.putToken(hash, loaded, mark);
  return loaded;
}

async function loadToken(s: Services, bearer: string, hash: string): Promise<TokenEntry | null> {
  if (bearer.startsWith(TOKEN_PREFIX.access)) {
    const row = await s.store.db
      .selectFrom('access_tokens')
      .select(['connection_id', 'scopes', 'resource', 'expires_at'])
      .where('token_hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row
      ? {
          kind: 'access_token',
          connectionId: row.connection_id,
          apiKeyId: null,
          scopes: row.scopes.split(' '),
          resource: row.resource,
          expiresAt: row.expires_at,
        }
      : null;
  }
  if (bearer.startsWith(s.config.apiKeyPrefix)) {
    const row = await s.store.db
      .selectFrom('api_keys as k')
      .innerJoin('connections as c', 'c.id', 'k.connection_id')
      .select(['k.id', 'k.connection_id', 'c.scopes', 'c.resource'])
      .where('k.key_hash', '=', hash)
      .where('k.deactivated_at', 'is', null)
      .executeTakeFirst();
    return row
      ? {
          kind: 'api_key',
          connectionId: row.connection_id,
          apiKeyId: row.id,
          scopes: row.scopes.split(' '),
          resource: row.resource,
          expiresAt: null,
        }
      : null;
  }
  return null;
}

/** The connection as a request sees it: from the cache in steady state, from the database on a miss. */
export async function connectionFor(s: Services, id: string): Promise<ConnectionEntry | null> {
  const cached = s.cache.getConnection(id);
  if (cached) return cached;
  const mark = s.cache.mark();
  const loaded = await loadConnection(s, id);
  if (loaded) s.cache.putConnection(loaded, mark);
  return loaded;
}

async function loadConnection(s: Services, id: string): Promise<ConnectionEntry | null> {
  const row = await s.store.db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
    .select([
      'c.id',
      'c.status',
      'c.client_id',
      'c.client_name',
      'c.tool_allow',
      'u.id as user_id',
      'u.email',
      'u.role',
      'k.id as key_id',
      'k.key_ref',
      'k.key_prefix',
    ])
    .where('c.id', '=', id)
    .executeTakeFirst();
  return row
    ? {
        id: row.id,
        status: row.status,
        clientId: row.client_id,
        clientName: row.client_name,
        userId: row.user_id,
        userEmail: row.email,
        role: row.role,
        apiKeyId: row.key_id,
        apiKey: apiKeyFor(s, row.key_ref),
        apiKeyPrefix: row.key_prefix,
        allowedTools: decodeToolAllow(row.tool_allow),
      }
    : null;
}

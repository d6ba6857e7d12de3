import { LIFETIMES } from '../domain/clock.js';
import { InvalidTarget } from '../domain/errors.js';
import { newToken, sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import type { Database } from '../store/schema.js';
import { newId, type Services } from './context.js';

/** RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** Checks the RFC 8707 resource parameter; a missing one means the canonical MCP URL. */
export function checkResource(s: Services, resource: string | undefined): string {
  if (resource === undefined) return s.config.mcpUrl;
  const canonical = s.config.mcpUrl;
  // RFC 8707 §2: an absolute URI without a fragment; we tolerate one trailing slash.
  if (resource !== canonical && resource !== `${canonical}/`) {
    throw new InvalidTarget(`This server only issues tokens for ${canonical}`);
  }
  return canonical;
}

const insertRefreshToken = prepared((db, p: Database['refresh_tokens']) =>
  db.insertInto('refresh_tokens').values({
    id: p.id,
    token_hash: p.token_hash,
    connection_id: p.connection_id,
    state: p.state,
    created_at: p.created_at,
    expires_at: p.expires_at,
  }),
);

const insertAccessToken = prepared((db, p: Database['access_tokens']) =>
  db.insertInto('access_tokens').values({
    token_hash: p.token_hash,
    connection_id: p.connection_id,
    refresh_token_id: p.refresh_token_id,
    api_key_id: p.api_key_id,
    scopes: p.scopes,
    resource: p.resource,
    created_at: p.created_at,
    expires_at: p.expires_at,
    revoked_at: p.revoked_at,
  }),
);

/** A new refresh token and access token for a connection, stored as hashes (SPEC §2). */
export async function issuePair(
  s: Services,
  tx: Db,
  connectionId: string,
  apiKeyId: string,
  scopes: string[],
  resource: string,
  at: number,
): Promise<TokenResponse> {
  const refresh = newToken(TOKEN_PREFIX.refresh, s.random);
  const access = newToken(TOKEN_PREFIX.access, s.random);
  const refreshId = newId(s.random);
  await insertRefreshToken(tx, {
    id: refreshId,
    token_hash: sha256(refresh),
    connection_id: connectionId,
    state: 'current',
    created_at: at,
    expires_at: at + LIFETIMES.refreshToken,
  });
  await insertAccessToken(tx, {
    token_hash: sha256(access),
    connection_id: connectionId,
    refresh_token_id: refreshId,
    api_key_id: apiKeyId,
    scopes: scopes.join(' '),
    resource,
    created_at: at,
    expires_at: at + LIFETIMES.accessToken,
    revoked_at: null,
  });
  return {
    access_token: access,
    token_type: 'Bearer',
    expires_in: LIFETIMES.accessToken / 1000,
    refresh_token: refresh,
    scope: scopes.join(' '),
  };
}

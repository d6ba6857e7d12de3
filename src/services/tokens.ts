import { createHash } from 'node:crypto';
import { recordInvalidation } from '../cache/invalidation.js';
import type { ConnectionEntry, TokenEntry } from '../cache/token-cache.js';
import { LIFETIMES } from '../domain/clock.js';
import { InvalidGrant, InvalidTarget } from '../domain/errors.js';
import { newToken, safeEqual, sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import type { Database } from '../store/schema.js';
import { apiKeyFor, insertApiKey } from './api-keys.js';
import { audit } from './audit.js';
import type { Client } from './clients.js';
import { revokeInTransaction } from './connections.js';
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

export interface CodeExchange {
  code: string;
  codeVerifier: string;
  redirectUri: string | undefined;
  resource: string | undefined;
}

/** RFC 7636 §4.6: BASE64URL(SHA256(verifier)) must equal the challenge. */
/** RFC 6749 §5.2: one public answer for every bad code; what was wrong is the private reason. */
const invalidCode = (reason: string) => new InvalidGrant('Invalid authorization code', { reason });

function pkceMatches(verifier: string, challenge: string): boolean {
  const computed = createHash('sha256').update(verifier).digest('base64url');
  return safeEqual(computed, challenge);
}

/**
 * The authorization_code grant. The code is single use: a replay fails and
 * revokes the connection it created (OAuth 2.1 §4.1.3, RFC 9700 §4.5).
 * A successful exchange creates the connection and its API key (SPEC §4).
 */
export async function exchangeCode(s: Services, client: Client, input: CodeExchange): Promise<TokenResponse> {
  const codeHash = sha256(input.code);
  const outcome = await s.store.transact(async (tx) => {
    const at = s.clock.now();
    const code = await tx
      .selectFrom('authorization_codes')
      .selectAll()
      .where('code_hash', '=', codeHash)
      .executeTakeFirst();
    if (!code) return { error: invalidCode('unknown code') };
    if (code.used_at !== null) {
      if (code.connection_id) {
        const conn = await tx
          .selectFrom('connections')
          .select('status')
          .where('id', '=', code.connection_id)
          .executeTakeFirst();
        if (conn?.status === 'active') {
          await revokeInTransaction(
            s,
            tx,
            code.connection_id,
            { label: 'Waxseal (code replayed)' },
            'code replay',
          );
          await audit(tx, at, 'Waxseal', 'connection.code_replayed', code.connection_id);
          return {
            error: invalidCode('code replayed: its connection revoked'),
            revoked: code.connection_id,
          };
        }
      }
      return { error: invalidCode('code already used') };
    }
    if (code.client_id !== client.clientId) {
      return { error: invalidCode('code issued to another client') };
    }
    if (code.expires_at <= at) return { error: invalidCode('code expired') };
    // OAuth 2.1 §4.1.3: redirect_uri must match when it was sent in the request.
    if (input.redirectUri !== undefined && input.redirectUri !== code.redirect_uri) {
      return { error: invalidCode('redirect_uri differs from the authorization request') };
    }
    if (!pkceMatches(input.codeVerifier, code.code_challenge)) {
      return { error: invalidCode('code_verifier does not match the code challenge') };
    }
    if (input.resource !== undefined && checkResource(s, input.resource) !== code.resource) {
      return { error: new InvalidTarget('resource does not match the authorization request') };
    }
    const connectionId = newId(s.random);
    const scopes = code.scopes.split(' ');
    // The connection row needs its key id and the key row its connection; both
    // are inserted in this transaction, the connection first with a placeholder.
    await tx
      .insertInto('connections')
      .values({
        id: connectionId,
        user_id: code.user_id,
        client_id: client.clientId,
        client_name: client.clientName ?? 'MCP Client',
        status: 'active',
        scopes: code.scopes,
        resource: code.resource,
        connected_at: at,
        last_token_at: null,
        revoked_at: null,
        revoked_by: null,
        current_api_key_id: '',
      })
      .execute();
    const key = await insertApiKey(s, tx, connectionId, at);
    await tx
      .updateTable('connections')
      .set({ current_api_key_id: key.id })
      .where('id', '=', connectionId)
      .execute();
    const used = await tx
      .updateTable('authorization_codes')
      .set({ used_at: at, connection_id: connectionId })
      .where('code_hash', '=', codeHash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) throw invalidCode('code used concurrently');
    const tokens = await issuePair(s, tx, connectionId, key.id, scopes, code.resource, at);
    const user = await tx
      .selectFrom('users')
      .select('email')
      .where('id', '=', code.user_id)
      .executeTakeFirst();
    await audit(tx, at, user?.email ?? code.user_id, 'connection.created', connectionId, {
      clientId: client.clientId,
      apiKeyPrefix: key.prefix,
    });
    return { tokens };
  });
  if ('revoked' in outcome && outcome.revoked) s.cache.invalidate('connection', outcome.revoked);
  if (outcome.error) throw outcome.error;
  return outcome.tokens as TokenResponse;
}

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
    await s.store
      .transact((tx) =>
        revokeInTransaction(
          s,
          tx,
          refresh.id,
          { label: `${client.clientId} (token revoked by client)` },
          'rfc7009',
        ),
      )
      .catch((err) => {
        if ((err as { status?: number }).status !== 409) throw err;
      });
    s.cache.invalidate('connection', refresh.id);
    return;
  }
  const access = await s.store.db
    .selectFrom('access_tokens as a')
    .innerJoin('connections as c', 'c.id', 'a.connection_id')
    .select(['c.client_id'])
    .where('a.token_hash', '=', hash)
    .executeTakeFirst();
  if (!access || access.client_id !== client.clientId) return;
  await s.store.transact(async (tx) => {
    const at = s.clock.now();
    await tx.updateTable('access_tokens').set({ revoked_at: at }).where('token_hash', '=', hash).execute();
    await recordInvalidation(tx, s.store.dialect, at, 'token', hash);
  });
  s.cache.invalidate('token', hash);
}

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
  let token = s.cache.getToken(hash);
  if (!token) {
    const loaded = await loadToken(s, bearer, hash);
    if (!loaded) return null;
    token = loaded;
    s.cache.putToken(hash, token);
  }
  if (token.expiresAt !== null && token.expiresAt <= s.clock.now()) return null;
  let connection = s.cache.getConnection(token.connectionId);
  if (!connection) {
    const loaded = await loadConnection(s, token.connectionId);
    if (!loaded) return null;
    connection = loaded;
    s.cache.putConnection(connection);
  }
  if (connection.status !== 'active') return null;
  // SPEC §4: a regenerated key's predecessor is refused at once.
  if (token.kind === 'api_key' && token.apiKeyId !== connection.apiKeyId) return null;
  return { token, connection };
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

export async function loadConnection(s: Services, id: string): Promise<ConnectionEntry | null> {
  const row = await s.store.db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
    .select([
      'c.id',
      'c.status',
      'c.client_id',
      'c.client_name',
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
      }
    : null;
}

import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { recordInvalidation } from '../cache/invalidation.js';
import type { ConnectionEntry, TokenEntry } from '../cache/token-cache.js';
import { LIFETIMES } from '../domain/clock.js';
import { InvalidGrant, InvalidScope, InvalidTarget } from '../domain/errors.js';
import { type RefreshState, rotationFor } from '../domain/rotation.js';
import { newToken, safeEqual, sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import type { Db } from '../store/db.js';
import { apiKeyFor, insertApiKey } from './api-keys.js';
import { audit } from './audit.js';
import { auditRefresh } from './audit-refresh.js';
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

async function issuePair(
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
  await tx
    .insertInto('refresh_tokens')
    .values({
      id: refreshId,
      token_hash: sha256(refresh),
      connection_id: connectionId,
      state: 'current',
      created_at: at,
      expires_at: at + LIFETIMES.refreshToken,
    })
    .execute();
  await tx
    .insertInto('access_tokens')
    .values({
      token_hash: sha256(access),
      connection_id: connectionId,
      refresh_token_id: refreshId,
      api_key_id: apiKeyId,
      scopes: scopes.join(' '),
      resource,
      created_at: at,
      expires_at: at + LIFETIMES.accessToken,
      revoked_at: null,
    })
    .execute();
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
    if (!code) return { error: new InvalidGrant('The authorization code is invalid') };
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
            error: new InvalidGrant('The authorization code was already used'),
            revoked: code.connection_id,
          };
        }
      }
      return { error: new InvalidGrant('The authorization code was already used') };
    }
    if (code.client_id !== client.clientId) {
      return { error: new InvalidGrant('The authorization code was issued to another client') };
    }
    if (code.expires_at <= at) return { error: new InvalidGrant('The authorization code has expired') };
    // OAuth 2.1 §4.1.3: redirect_uri must match when it was sent in the request.
    if (input.redirectUri !== undefined && input.redirectUri !== code.redirect_uri) {
      return { error: new InvalidGrant('redirect_uri does not match the authorization request') };
    }
    if (!pkceMatches(input.codeVerifier, code.code_challenge)) {
      return { error: new InvalidGrant('code_verifier does not match the code challenge') };
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
    if (Number(used.numUpdatedRows) !== 1) throw new InvalidGrant('The authorization code was already used');
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

export interface RefreshInput {
  refreshToken: string;
  scope: string | undefined;
  resource: string | undefined;
}

/**
 * The refresh_token grant with rotation (SPEC §2, RFC 9700 §4.14.2). Serialised
 * per connection (row lock on PostgreSQL, the write lock on SQLite) so that any
 * number of concurrent refreshes on any number of instances leave exactly one
 * current refresh token plus its grace predecessor.
 */
export async function refresh(s: Services, client: Client, input: RefreshInput): Promise<TokenResponse> {
  const hash = sha256(input.refreshToken);
  const outcome = await s.store.transact(async (tx) => {
    const at = s.clock.now();
    // A refresh token never moves to another connection: its connection is found
    // and locked first, and the token's state is read under that lock.
    const connQuery = tx
      .selectFrom('connections')
      .selectAll()
      .where('id', '=', (eb) =>
        eb.selectFrom('refresh_tokens').select('connection_id').where('token_hash', '=', hash),
      );
    const conn = await (s.store.dialect === 'postgres'
      ? connQuery.forUpdate()
      : connQuery
    ).executeTakeFirst();
    if (!conn) return { error: new InvalidGrant('The refresh token is invalid') };
    const connectionId = conn.id;
    if (conn.client_id !== client.clientId) {
      return { error: new InvalidGrant('The refresh token was issued to another client') };
    }
    if (conn.status !== 'active') return { error: new InvalidGrant('This connection has been revoked') };
    // The presented token and the connection's current one, in one read.
    const rows = await tx
      .selectFrom('refresh_tokens')
      .select(['id', 'token_hash', 'state', 'expires_at'])
      .where((eb) =>
        eb.or([
          eb('token_hash', '=', hash),
          eb.and([eb('connection_id', '=', connectionId), eb('state', '=', 'current')]),
        ]),
      )
      .execute();
    const token = rows.find((r) => r.token_hash === hash);
    const current = rows.find((r) => r.state === 'current');
    if (!token) return { error: new InvalidGrant('The refresh token is invalid') };
    const decision = rotationFor(token.state as RefreshState, token.id === current?.id);
    if (decision.kind === 'reuse') {
      await revokeInTransaction(
        s,
        tx,
        connectionId,
        { label: 'Waxseal (refresh token reused)' },
        'refresh reuse',
      );
      await audit(tx, at, 'Waxseal', 'connection.refresh_reuse', connectionId);
      return { error: new InvalidGrant('The refresh token was already used'), revoked: connectionId };
    }
    if (decision.kind === 'dead') return { error: new InvalidGrant('The refresh token is no longer valid') };
    if (token.expires_at <= at) return { error: new InvalidGrant('The refresh token has expired') };
    const resource = checkResource(s, input.resource);
    if (resource !== conn.resource) return { error: new InvalidTarget('resource does not match this grant') };
    const granted = conn.scopes.split(' ');
    const scopes = input.scope === undefined ? granted : input.scope.split(' ').filter(Boolean);
    if (scopes.length === 0 || scopes.some((sc) => !granted.includes(sc))) {
      return { error: new InvalidScope('scope may only narrow the scopes originally granted') };
    }
    const staleTokens: string[] = [];
    if (decision.kind === 'rotate') {
      // The presented token becomes the grace one, and its predecessor's grace
      // ends now that its replacement has been used: one statement.
      await tx
        .updateTable('refresh_tokens')
        .set({ state: sql<string>`case when id = ${token.id} then 'grace' else 'spent' end` })
        .where((eb) =>
          eb.or([
            eb('id', '=', token.id),
            eb.and([eb('connection_id', '=', connectionId), eb('state', '=', 'grace')]),
          ]),
        )
        .execute();
    } else if (current) {
      // A retry with the grace token: the client never received `current`, so it
      // and the access token issued with it die, and a new pair replaces them.
      await tx
        .updateTable('refresh_tokens')
        .set({ state: 'discarded' })
        .where('id', '=', current.id)
        .execute();
      const lost = await tx
        .selectFrom('access_tokens')
        .select('token_hash')
        .where('refresh_token_id', '=', current.id)
        .execute();
      await tx
        .updateTable('access_tokens')
        .set({ revoked_at: at })
        .where('refresh_token_id', '=', current.id)
        .where('revoked_at', 'is', null)
        .execute();
      for (const t of lost) {
        await recordInvalidation(tx, s.store.dialect, at, 'token', t.token_hash);
        staleTokens.push(t.token_hash);
      }
    }
    await tx.updateTable('connections').set({ last_token_at: at }).where('id', '=', connectionId).execute();
    const tokens = await issuePair(s, tx, connectionId, conn.current_api_key_id, scopes, conn.resource, at);
    // Issue #6: refreshes are audited in aggregate, one row per connection per hour.
    await auditRefresh(tx, at, client.clientName ?? 'MCP Client', {
      id: connectionId,
      connectedAt: conn.connected_at,
    });
    return { tokens, staleTokens };
  });
  if ('revoked' in outcome && outcome.revoked) s.cache.invalidate('connection', outcome.revoked);
  for (const t of outcome.staleTokens ?? []) s.cache.invalidate('token', t);
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

import { sql } from 'kysely';
import { InvalidGrant, InvalidScope, InvalidTarget } from '../domain/errors.js';
import { type RefreshState, rotationFor } from '../domain/rotation.js';
import { sha256 } from '../domain/secrets.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import { audit } from './audit.js';
import { auditRefresh, refreshAudited } from './audit-refresh.js';
import type { Client } from './clients.js';
import type { Services } from './context.js';
import { recheckAtRefresh } from './oidc-recheck.js';
import { checkResource, issuePair, type TokenResponse } from './token-pair.js';
import { revokeAccessTokensOf, revokeConnectionIn, touchLastToken } from './transitions.js';

export interface RefreshInput {
  refreshToken: string;
  scope: string | undefined;
  resource: string | undefined;
}

// The grant's statements, compiled once (store/prepared.ts): it is the busiest write path.

/** A refresh token never moves to another connection: its connection is found (and locked) through it. */
const connectionOf = (db: Db, p: { hash: string }) =>
  db
    .selectFrom('connections')
    .selectAll()
    .where('id', '=', (eb) =>
      eb.selectFrom('refresh_tokens').select('connection_id').where('token_hash', '=', p.hash),
    );
const connectionByToken = prepared(connectionOf);
const connectionByTokenLocked = prepared((db, p: { hash: string }) => connectionOf(db, p).forUpdate());

/** The presented token and the connection's current one, in one read. */
const presentedAndCurrent = prepared((db, p: { hash: string; connectionId: string }) =>
  db
    .selectFrom('refresh_tokens')
    .select(['id', 'token_hash', 'state', 'expires_at'])
    .where((eb) =>
      eb.or([
        eb('token_hash', '=', p.hash),
        eb.and([eb('connection_id', '=', p.connectionId), eb('state', '=', 'current')]),
      ]),
    ),
);

/** The presented token becomes the grace one, and its predecessor's grace ends: one statement. */
const rotate = prepared((db, p: { tokenId: string; connectionId: string }) =>
  db
    .updateTable('refresh_tokens')
    .set({ state: sql<string>`case when id = ${p.tokenId} then 'grace' else 'spent' end` })
    .where((eb) =>
      eb.or([
        eb('id', '=', p.tokenId),
        eb.and([eb('connection_id', '=', p.connectionId), eb('state', '=', 'grace')]),
      ]),
    ),
);

/** RFC 6749 §5.2: one public answer for every bad refresh token; what was wrong is the private reason. */
const invalidToken = (reason: string) => new InvalidGrant('Invalid refresh token', { reason });

/**
 * The refresh_token grant with rotation (SPEC §2, RFC 9700 §4.14.2). Serialised
 * per connection (row lock on PostgreSQL, the write lock on SQLite) so that any
 * number of concurrent refreshes on any number of instances leave exactly one
 * current refresh token plus its grace predecessor.
 */
export async function refresh(s: Services, client: Client, input: RefreshInput): Promise<TokenResponse> {
  const hash = sha256(input.refreshToken);
  // SPEC §10: the IdP is asked outside the transaction, which holds the row lock.
  await recheckAtRefresh(s, client.clientId, hash);
  const outcome = await s.store.transact(async (tx) => {
    const at = s.clock.now();
    const byToken = s.store.dialect === 'postgres' ? connectionByTokenLocked : connectionByToken;
    const conn = (await byToken(tx, { hash })).rows[0];
    if (!conn) return { error: invalidToken('unknown refresh token') };
    const connectionId = conn.id;
    if (conn.client_id !== client.clientId) {
      return { error: invalidToken('refresh token issued to another client') };
    }
    if (conn.status !== 'active') return { error: invalidToken('connection revoked') };
    const { rows } = await presentedAndCurrent(tx, { hash, connectionId });
    const token = rows.find((r) => r.token_hash === hash);
    const current = rows.find((r) => r.state === 'current');
    if (!token) return { error: invalidToken('unknown refresh token') };
    const decision = rotationFor(token.state as RefreshState, token.id === current?.id);
    if (decision.kind === 'reuse') {
      await revokeConnectionIn(
        tx,
        at,
        connectionId,
        { label: 'Waxseal (refresh token reused)' },
        'refresh reuse',
      );
      await audit(tx, at, 'Waxseal', 'connection.refresh_reuse', connectionId);
      return { error: invalidToken('rotated-out token reused: connection revoked') };
    }
    if (decision.kind === 'dead') return { error: invalidToken('refresh token revoked') };
    if (token.expires_at <= at) return { error: invalidToken('refresh token expired') };
    const resource = checkResource(s, input.resource);
    if (resource !== conn.resource) return { error: new InvalidTarget('resource does not match this grant') };
    const granted = conn.scopes.split(' ');
    const scopes = input.scope === undefined ? granted : input.scope.split(' ').filter(Boolean);
    if (scopes.length === 0 || scopes.some((sc) => !granted.includes(sc))) {
      return { error: new InvalidScope('scope may only narrow the scopes originally granted') };
    }
    if (decision.kind === 'rotate') {
      await rotate(tx, { tokenId: token.id, connectionId });
    } else if (current) {
      // A retry with the grace token: the client never received the current
      // one, so it and the access token issued with it die.
      await tx
        .updateTable('refresh_tokens')
        .set({ state: 'discarded' })
        .where('id', '=', current.id)
        .execute();
      await revokeAccessTokensOf(tx, at, current.id);
    }
    await touchLastToken(tx, { at, id: connectionId });
    const tokens = await issuePair(s, tx, connectionId, conn.current_api_key_id, scopes, conn.resource, at);
    // Issue #6: refreshes are audited in aggregate, one row per connection per hour.
    const audited = await auditRefresh(s, tx, at, client.clientName ?? 'MCP Client', {
      id: connectionId,
      connectedAt: conn.connected_at,
    });
    return { tokens, audited };
  });
  if (outcome.error) throw outcome.error;
  if (outcome.audited) refreshAudited(s, outcome.audited);
  return outcome.tokens as TokenResponse;
}

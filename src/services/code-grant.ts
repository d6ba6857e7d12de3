import { createHash } from 'node:crypto';
import { InvalidGrant, InvalidTarget } from '../domain/errors.js';
import { safeEqual, sha256 } from '../domain/secrets.js';
import { audit } from './audit.js';
import type { Client } from './clients.js';
import { newId, type Services } from './context.js';
import { checkResource, issuePair, type TokenResponse } from './token-pair.js';
import { insertConnection, revokeConnectionIn } from './transitions.js';

export interface CodeExchange {
  code: string;
  codeVerifier: string;
  redirectUri: string | undefined;
  resource: string | undefined;
}

/** RFC 6749 §5.2: one public answer for every bad code; what was wrong is the private reason. */
const invalidCode = (reason: string) => new InvalidGrant('Invalid authorization code', { reason });

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
    if (!code) return { error: invalidCode('unknown code') };
    if (code.used_at !== null) {
      if (code.connection_id) {
        const conn = await tx
          .selectFrom('connections')
          .select('status')
          .where('id', '=', code.connection_id)
          .executeTakeFirst();
        if (conn?.status === 'active') {
          await revokeConnectionIn(
            tx,
            at,
            code.connection_id,
            { label: 'Waxseal (code replayed)' },
            'code replay',
          );
          await audit(tx, at, 'Waxseal', 'connection.code_replayed', code.connection_id);
          return { error: invalidCode('code replayed: its connection revoked') };
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
    // SPEC §10: a disabled user holds no working connection. The row is locked
    // so that a Disable committing meanwhile either waits for this exchange (and
    // then revokes what it made) or is seen by it.
    const userQuery = tx.selectFrom('users').select(['email', 'status']).where('id', '=', code.user_id);
    const user = await (s.store.dialect === 'postgres' ? userQuery.forShare() : userQuery).executeTakeFirst();
    if (user?.status !== 'active') return { error: invalidCode('user disabled') };
    const connectionId = newId(s.random);
    const scopes = code.scopes.split(' ');
    const key = await insertConnection(s, tx, at, connectionId, {
      userId: code.user_id,
      clientId: client.clientId,
      clientName: client.clientName ?? 'MCP Client',
      scopes: code.scopes,
      resource: code.resource,
    });
    const used = await tx
      .updateTable('authorization_codes')
      .set({ used_at: at, connection_id: connectionId })
      .where('code_hash', '=', codeHash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) throw invalidCode('code used concurrently');
    const tokens = await issuePair(s, tx, connectionId, key.id, scopes, code.resource, at);
    await audit(tx, at, user.email, 'connection.created', connectionId, {
      clientId: client.clientId,
      apiKeyPrefix: key.prefix,
    });
    return { tokens };
  });
  if (outcome.error) throw outcome.error;
  return outcome.tokens as TokenResponse;
}

import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { MINUTE } from '../domain/clock.js';
import { WaxsealError } from '../domain/errors.js';
import { sha256 } from '../domain/secrets.js';
import { audit } from './audit.js';
import type { Services } from './context.js';
import { describe, type Idp } from './oidc-client.js';

/** Back-Channel Logout 1.0 §2.4: the one event a logout token must carry. */
export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** How far in the future an `iat` may be (the IdP's clock may run ahead of ours). */
const IAT_SKEW_SECONDS = 5 * 60;
/** How long a seen jti is kept when the token has no `exp`: longer than any IdP's clock skew or retry. */
const JTI_MEMORY = 60 * MINUTE;

/** §2.8: a logout token Waxseal refuses; rendered as `{"error":"invalid_request",…}` with 400. */
export class InvalidLogoutToken extends WaxsealError {
  constructor(message: string, reason?: string) {
    super(400, 'invalid_request', message, { reason });
  }
}

/** One remote key set per discovered IdP: jose caches the keys and refetches on an unknown kid. */
const keySets = new WeakMap<Idp, ReturnType<typeof createRemoteJWKSet>>();

function keySet(idp: Idp): ReturnType<typeof createRemoteJWKSet> {
  let keys = keySets.get(idp);
  if (!keys) {
    const uri = idp.config.serverMetadata().jwks_uri;
    if (!uri)
      throw new InvalidLogoutToken('The identity provider publishes no keys to verify the token with');
    keys = createRemoteJWKSet(new URL(uri), { timeoutDuration: 10_000 });
    keySets.set(idp, keys);
  }
  return keys;
}

/**
 * Back-Channel Logout 1.0 §2.6: the signature (from the IdP's JWKS, never `none`),
 * `iss`, `aud`, `iat`, the logout event, `sub` and/or `sid`, no `nonce`.
 */
async function verify(s: Services, idp: Idp, token: string): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySet(idp), {
      issuer: idp.config.serverMetadata().issuer,
      audience: idp.settings.clientId,
      // jose refuses `none` whatever this says; asymmetric algorithms only, as the JWKS holds.
      algorithms: [
        'RS256',
        'RS384',
        'RS512',
        'PS256',
        'PS384',
        'PS512',
        'ES256',
        'ES384',
        'ES512',
        'EdDSA',
        'Ed25519',
      ],
      requiredClaims: ['iat', 'jti'],
      currentDate: new Date(s.clock.now()),
      clockTolerance: IAT_SKEW_SECONDS,
    }));
  } catch (err) {
    if (err instanceof InvalidLogoutToken) throw err;
    throw new InvalidLogoutToken('The logout token could not be verified', describe(err));
  }
  if (typeof payload.iat !== 'number' || payload.iat * 1000 > s.clock.now() + IAT_SKEW_SECONDS * 1000)
    throw new InvalidLogoutToken('The logout token was issued in the future');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 500)
    throw new InvalidLogoutToken('The logout token has no jti');
  const events = payload.events;
  if (!events || typeof events !== 'object' || Array.isArray(events) || !(LOGOUT_EVENT in events))
    throw new InvalidLogoutToken('The logout token does not carry the back-channel logout event');
  if ('nonce' in payload) throw new InvalidLogoutToken('A logout token must not carry a nonce');
  const hasSub = typeof payload.sub === 'string' && payload.sub.length > 0;
  const hasSid = typeof payload.sid === 'string' && payload.sid.length > 0;
  if (!hasSub && !hasSid) throw new InvalidLogoutToken('The logout token names neither sub nor sid');
  // Waxseal keeps no IdP session id, so a sid alone names nobody it knows: the logout
  // failed (§2.8: 400), and the IdP is told so instead of hearing a silent success.
  if (!hasSub) throw new InvalidLogoutToken('Logout tokens must carry sub: sessions are not tracked by sid');
  return payload;
}

/**
 * SPEC §10 back-channel logout: a valid logout token ends every dashboard session
 * of the user linked to (iss, sub), once per jti. MCP connections stay: leaving is
 * Disable, not logout. Returns how many sessions ended (0 for a person never linked).
 */
export async function backchannelLogout(s: Services, idp: Idp, token: string, ip: string): Promise<number> {
  const claims = await verify(s, idp, token);
  const issuer = claims.iss as string;
  const subject = claims.sub as string;
  const at = s.clock.now();
  const expiresAt =
    typeof claims.exp === 'number' ? Math.max(claims.exp * 1000, at) + JTI_MEMORY : at + JTI_MEMORY;
  return s.store.transact(async (tx) => {
    // The jti is remembered in the same transaction as its effect: a replay (§2.6 step 7)
    // finds it, whichever instance it reaches. Only its hash is kept.
    const seen = await tx
      .insertInto('logout_tokens')
      .values({ jti_hash: sha256(`${issuer}\n${claims.jti}`), expires_at: expiresAt })
      .onConflict((oc) => oc.column('jti_hash').doNothing())
      .executeTakeFirst();
    if (Number(seen.numInsertedOrUpdatedRows ?? 0n) === 0)
      throw new InvalidLogoutToken('This logout token was already used');
    const user = await tx
      .selectFrom('user_identities')
      .innerJoin('users', 'users.id', 'user_identities.user_id')
      .select(['users.id', 'users.email'])
      .where('user_identities.issuer', '=', issuer)
      .where('user_identities.subject', '=', subject)
      .executeTakeFirst();
    if (!user) return 0;
    const ended = await tx.deleteFrom('browser_sessions').where('user_id', '=', user.id).executeTakeFirst();
    const count = Number(ended.numDeletedRows);
    await audit(tx, at, user.email, 'user.logged_out', null, {
      ip,
      via: 'oidc-backchannel',
      sessions: count,
    });
    return count;
  });
}

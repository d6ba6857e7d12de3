import * as client from 'openid-client';
import { audit } from './audit.js';
import type { Services } from './context.js';
import { signInPerson } from './oidc-accounts.js';
import { describe, type Idp } from './oidc-client.js';
import { IdpUnavailable, OidcCallbackError } from './oidc-errors.js';
import { startLogin, takeLogin } from './oidc-logins.js';
import type { User } from './users.js';

/**
 * SPEC §10 sign-in: authorization code with PKCE (S256), state and nonce.
 * Returns the pending login's id (for the browser's cookie) and where to send the browser.
 */
export async function beginSignin(s: Services, idp: Idp, next: string): Promise<{ id: string; url: URL }> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const id = await startLogin(s, { state, nonce, verifier, next });
  const params: Record<string, string> = {
    redirect_uri: idp.settings.redirectUri,
    scope: idp.scopes.join(' '),
    response_type: 'code',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  // OpenID Connect Core §11: offline access is asked for with prompt=consent.
  if (idp.scopes.includes('offline_access')) params.prompt = 'consent';
  return { id, url: client.buildAuthorizationUrl(idp.config, params) };
}

/** The token endpoint's answers that mean Waxseal itself is refused: its client id, secret or redirect URI. */
const MISCONFIGURED = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_request',
  'unsupported_grant_type',
]);

/**
 * The callback: takes the pending login (single use), exchanges the code and
 * validates the ID token (signature from the IdP's JWKS, iss, aud, exp, nonce;
 * openid-client), then signs the person in as their Waxseal user.
 */
export async function finishSignin(
  s: Services,
  idp: Idp,
  callbackUrl: URL,
  loginId: string | undefined,
  ip: string,
): Promise<{ user: User; next: string }> {
  const login = await takeLogin(s, loginId);
  if (!login)
    throw new OidcCallbackError('This sign-in expired or was started in another browser. Sign in again.');
  const error = callbackUrl.searchParams.get('error');
  if (error) {
    s.log.info({ error: error.slice(0, 100) }, 'the IdP sent the sign-in back with an error');
    throw new OidcCallbackError(
      error === 'access_denied'
        ? 'The identity provider did not sign you in. Start again from the sign-in page.'
        : 'The identity provider could not sign you in. Start again from the sign-in page.',
    );
  }
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(idp.config, callbackUrl, {
      pkceCodeVerifier: login.verifier,
      expectedState: login.state,
      expectedNonce: login.nonce,
      idTokenExpected: true,
    });
  } catch (err) {
    throw classify(s, err);
  }
  const idClaims = tokens.claims();
  if (!idClaims) throw new OidcCallbackError();
  let claims: Record<string, unknown> = { ...idClaims };
  // Some IdPs put email and groups only in UserInfo (OIDC Core §5.4 with conforming ID tokens).
  const missing = claims.email === undefined || claims[idp.settings.roleClaim] === undefined;
  if (missing && idp.config.serverMetadata().userinfo_endpoint) {
    try {
      const info = await client.fetchUserInfo(idp.config, tokens.access_token, idClaims.sub);
      // The ID token's claims win; UserInfo fills in what it lacks (its sub is checked to match).
      claims = { ...info, ...claims };
    } catch (err) {
      throw classify(s, err);
    }
  }
  const user = await signInPerson(s, idp, {
    subject: idClaims.sub,
    claims,
    refreshToken: tokens.refresh_token,
  });
  await audit(s.store.db, s.clock.now(), user.email, 'user.signed_in', null, { ip, via: 'oidc' });
  return { user, next: login.next };
}

/** Sorts an openid-client failure into "the IdP is down or refuses us" and "this callback is not valid". */
function classify(s: Services, err: unknown): Error {
  // A 401 from the token endpoint may come as a WWW-Authenticate challenge (RFC 6749 §5.2 invalid_client).
  const refused =
    (err instanceof client.ResponseBodyError && MISCONFIGURED.has(err.error)) ||
    (err instanceof client.WWWAuthenticateChallengeError && err.status === 401);
  if (refused) {
    s.log.error(
      { status: (err as { status?: number }).status },
      'the IdP refused Waxseal: check OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and the redirect URI registered there',
    );
    return new IdpUnavailable(
      'Sign-in through the identity provider is misconfigured. Tell whoever runs Waxseal.',
    );
  }
  const e = err as { name?: string; cause?: unknown; code?: string };
  const network =
    e?.name === 'TypeError' ||
    e?.name === 'TimeoutError' ||
    e?.name === 'AbortError' ||
    (err instanceof client.ResponseBodyError && err.status >= 500) ||
    e?.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM';
  if (network) {
    s.log.error({ reason: describe(err) }, 'the IdP could not be reached during sign-in');
    return new IdpUnavailable(
      'The identity provider cannot be reached right now. Try again in a few minutes.',
    );
  }
  s.log.warn({ reason: describe(err) }, 'an IdP sign-in callback was refused');
  return new OidcCallbackError();
}

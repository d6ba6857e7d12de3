import { LIFETIMES } from '../domain/clock.js';
import {
  AccessDenied,
  InvalidRequest,
  UnsupportedResponseType,
  type WaxsealError,
} from '../domain/errors.js';
import { matchesRegistered } from '../domain/redirect-uris.js';
import { parseScopes } from '../domain/scopes.js';
import { newToken, safeEqual, sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import { audit } from './audit.js';
import { ClientMetadataError } from './client-metadata.js';
import { type Client, findClient } from './clients.js';
import { newId, type Services } from './context.js';
import { checkResource } from './token-pair.js';
import type { User } from './users.js';

/** A validated /authorize request (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707). */
export interface AuthorizeRequest {
  client: Client;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  scopes: string[];
  resource: string;
}

/**
 * An error that must be shown on a page, because the redirect URI cannot be
 * trusted (RFC 9700 §4.11: no open redirect).
 */
export class PageError extends Error {}

/** An error to send back to the client's verified redirect URI. */
export class RedirectError extends Error {
  constructor(
    readonly redirectUri: string,
    readonly state: string | undefined,
    readonly error: WaxsealError,
  ) {
    super(error.message);
  }
}

const single = (value: unknown, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidRequest(`${name} must be given once`);
  return value;
};

/** Checks the client and redirect URI first; every later problem goes back to that URI. */
export async function validateAuthorize(
  s: Services,
  query: Record<string, unknown>,
): Promise<AuthorizeRequest> {
  const pageSingle = (name: string) => {
    try {
      return single(query[name], name);
    } catch {
      throw new PageError(`The ${name} parameter was given more than once.`);
    }
  };
  const clientId = pageSingle('client_id');
  if (!clientId)
    throw new PageError('The request has no client_id, so there is nowhere safe to send you back.');
  const client = await findClient(s, clientId).catch((err: unknown) => {
    if (err instanceof ClientMetadataError) throw new PageError(`${err.message}.`);
    throw err;
  });
  if (!client)
    throw new PageError('This application is not registered with Waxseal. Try connecting it again.');
  let redirectUri = pageSingle('redirect_uri');
  if (redirectUri === undefined) {
    if (client.redirectUris.length !== 1) throw new PageError('The request has no redirect_uri.');
    redirectUri = client.redirectUris[0] as string;
  }
  if (!matchesRegistered(redirectUri, client.redirectUris)) {
    throw new PageError('The redirect_uri does not match any URI this application registered.');
  }
  const state = typeof query.state === 'string' ? query.state : undefined;
  const fail = (error: WaxsealError) => new RedirectError(redirectUri, state, error);
  try {
    const responseType = single(query.response_type, 'response_type');
    if (responseType !== 'code') {
      throw responseType === undefined
        ? new InvalidRequest('response_type is required')
        : new UnsupportedResponseType('Only response_type=code is supported');
    }
    single(query.state, 'state');
    const challenge = single(query.code_challenge, 'code_challenge');
    const method = single(query.code_challenge_method, 'code_challenge_method');
    if (!challenge) throw new InvalidRequest('code_challenge is required (PKCE, RFC 7636)');
    if (method !== 'S256') {
      throw new InvalidRequest(
        method === undefined
          ? 'code_challenge_method is required and must be S256'
          : 'code_challenge_method must be S256',
      );
    }
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(challenge))
      throw new InvalidRequest('code_challenge is malformed');
    const scopes = parseScopes(single(query.scope, 'scope'));
    const resource = checkResource(s, single(query.resource, 'resource'));
    return { client, redirectUri, state, codeChallenge: challenge, scopes, resource };
  } catch (err) {
    if (err instanceof Error && 'status' in err) throw fail(err as WaxsealError);
    throw err;
  }
}

/** Stores a validated request for the consent form; returns its id and the form's CSRF token. */
export async function createConsent(
  s: Services,
  request: AuthorizeRequest,
  sessionId: string,
): Promise<{ id: string; csrf: string }> {
  const id = newId(s.random);
  const csrf = newToken('', s.random);
  await s.store.db
    .insertInto('authorization_requests')
    .values({
      id,
      session_hash: sha256(sessionId),
      csrf_hash: sha256(csrf),
      client_id: request.client.clientId,
      redirect_uri: request.redirectUri,
      state: request.state ?? null,
      code_challenge: request.codeChallenge,
      scopes: request.scopes.join(' '),
      resource: request.resource,
      expires_at: s.clock.now() + LIFETIMES.authorizationRequest,
    })
    .execute();
  return { id, csrf };
}

/**
 * The consent decision. The form must carry the CSRF token issued with it and
 * come from the session that saw it. Returns where to send the browser.
 */
export async function decide(
  s: Services,
  user: User,
  sessionId: string,
  form: { request: string; csrf: string; allow: boolean },
): Promise<URL> {
  const row = await s.store.db
    .selectFrom('authorization_requests')
    .selectAll()
    .where('id', '=', form.request)
    .executeTakeFirst();
  if (
    !row ||
    row.expires_at <= s.clock.now() ||
    !safeEqual(row.session_hash, sha256(sessionId)) ||
    !safeEqual(row.csrf_hash, sha256(form.csrf))
  ) {
    throw new PageError('This consent form has expired or was not issued to you. Start connecting again.');
  }
  const consumed = await s.store.db
    .deleteFrom('authorization_requests')
    .where('id', '=', row.id)
    .executeTakeFirst();
  if (Number(consumed.numDeletedRows) !== 1) throw new PageError('This consent form was already answered.');
  const at = s.clock.now();
  if (!form.allow) {
    await audit(s.store.db, at, user.email, 'consent.denied', null, { clientId: row.client_id });
    return errorRedirect(
      s,
      row.redirect_uri,
      row.state ?? undefined,
      new AccessDenied('The user denied access'),
    );
  }
  const code = newToken(TOKEN_PREFIX.code, s.random);
  await s.store.db
    .insertInto('authorization_codes')
    .values({
      code_hash: sha256(code),
      client_id: row.client_id,
      user_id: user.id,
      redirect_uri: row.redirect_uri,
      code_challenge: row.code_challenge,
      scopes: row.scopes,
      resource: row.resource,
      created_at: at,
      expires_at: at + LIFETIMES.authorizationCode,
      used_at: null,
      connection_id: null,
    })
    .execute();
  await audit(s.store.db, at, user.email, 'consent.granted', null, {
    clientId: row.client_id,
    scopes: row.scopes,
  });
  const url = new URL(row.redirect_uri);
  url.searchParams.set('code', code);
  if (row.state !== null) url.searchParams.set('state', row.state);
  url.searchParams.set('iss', s.config.publicUrl); // RFC 9207
  return url;
}

/** The authorization error response (OAuth 2.1 §4.1.2.1) with `iss` (RFC 9207). */
export function errorRedirect(
  s: Services,
  redirectUri: string,
  state: string | undefined,
  error: WaxsealError,
): URL {
  const url = new URL(redirectUri);
  url.searchParams.set('error', error.code);
  url.searchParams.set('error_description', error.message);
  if (state !== undefined) url.searchParams.set('state', state);
  url.searchParams.set('iss', s.config.publicUrl);
  return url;
}

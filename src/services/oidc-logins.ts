import { MINUTE } from '../domain/clock.js';
import { newToken, seal, sha256, unseal } from '../domain/secrets.js';
import type { Services } from './context.js';

/** How long a person has at the IdP before the sign-in must start again. */
export const OIDC_LOGIN_LIFETIME = 10 * MINUTE;

export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
}

/**
 * Records a sign-in on its way to the IdP. The browser holds the random id
 * (cookie); the database holds its hash, so any instance can receive the callback
 * and nobody without the cookie can finish it (login CSRF).
 */
export async function startLogin(s: Services, login: PendingLogin): Promise<string> {
  const id = newToken('', s.random);
  await s.store.db
    .insertInto('oidc_logins')
    .values({
      id_hash: sha256(id),
      state: login.state,
      nonce: login.nonce,
      verifier_sealed: seal(s.secret, 'oidc-pkce', login.verifier, s.random),
      next: login.next,
      expires_at: s.clock.now() + OIDC_LOGIN_LIFETIME,
    })
    .execute();
  return id;
}

/** Takes the pending sign-in out of the database: single use, whatever the outcome. */
export async function takeLogin(s: Services, id: string | undefined): Promise<PendingLogin | null> {
  if (!id || id.length > 100) return null;
  const row = await s.store.db
    .deleteFrom('oidc_logins')
    .where('id_hash', '=', sha256(id))
    .returningAll()
    .executeTakeFirst();
  if (!row || row.expires_at <= s.clock.now()) return null;
  return {
    state: row.state,
    nonce: row.nonce,
    verifier: unseal(s.secret, 'oidc-pkce', row.verifier_sealed),
    next: row.next,
  };
}

import { Conflict } from '../domain/errors.js';
import { seal } from '../domain/secrets.js';
import type { Db } from '../store/db.js';
import { audit } from './audit.js';
import { newId, type Services } from './context.js';
import type { Idp } from './oidc-client.js';
import { OidcRefused } from './oidc-errors.js';
import { groupsOf, roleFromGroups } from './oidc-roles.js';
import { findUserById, normaliseEmail, setRole, type User } from './users.js';

/** A password hash no password matches: users made by the IdP sign in through it only. */
const NO_PASSWORD = '!oidc';

export interface IdpPerson {
  subject: string;
  claims: Record<string, unknown>;
  refreshToken?: string;
}

const GENERIC_REFUSAL = 'Your account cannot sign in to Waxseal. Ask an owner of this Waxseal for access.';

/**
 * SPEC §10 accounts and roles: finds the user by (issuer, sub), else links the
 * first sign-in to the user with the same email (unless OIDC_LINK_BY_EMAIL=off,
 * and never on an email the IdP says is unverified), else creates the user just
 * in time. The role is recomputed from the role claim at every IdP sign-in.
 */
export async function signInPerson(s: Services, idp: Idp, person: IdpPerson): Promise<User> {
  const { settings } = idp;
  const role = roleFromGroups(settings, groupsOf(person.claims, settings.roleClaim));
  if (role === 'none') {
    throw new OidcRefused('None of your groups at the identity provider gives access to Waxseal.');
  }
  const actor = `${settings.name} (${settings.issuer})`;
  const refreshSealed = person.refreshToken
    ? seal(s.secret, 'oidc-refresh', person.refreshToken, s.random)
    : null;
  const userId = await s.store.transact(async (tx) => {
    const at = s.clock.now();
    const linked = await tx
      .selectFrom('user_identities')
      .select('user_id')
      .where('issuer', '=', settings.issuer)
      .where('subject', '=', person.subject)
      .executeTakeFirst();
    if (linked) {
      await tx
        .updateTable('user_identities')
        .set({ last_signin_at: at, ...(refreshSealed ? { refresh_sealed: refreshSealed } : {}) })
        .where('issuer', '=', settings.issuer)
        .where('subject', '=', person.subject)
        .execute();
      return linked.user_id;
    }
    const email = emailOf(person.claims);
    const existing = await tx
      .selectFrom('users')
      .select(['id', 'email'])
      .where('email', '=', email)
      .executeTakeFirst();
    let id: string;
    if (existing) {
      // The IdP is the team's own (SPEC §10), but an email it has not verified proves nothing.
      if (!settings.linkByEmail || person.claims.email_verified === false)
        throw new OidcRefused(GENERIC_REFUSAL);
      // Linked once means found by sub only: a second IdP account with this email takes nothing over.
      const other = await tx
        .selectFrom('user_identities')
        .select('subject')
        .where('issuer', '=', settings.issuer)
        .where('user_id', '=', existing.id)
        .executeTakeFirst();
      if (other) throw new OidcRefused(GENERIC_REFUSAL);
      id = existing.id;
    } else {
      id = newId(s.random);
      await tx
        .insertInto('users')
        .values({
          id,
          email,
          password_hash: NO_PASSWORD,
          role,
          totp_sealed: null,
          created_at: at,
          source: 'oidc',
        })
        .execute();
      await audit(tx, at, actor, 'user.created', null, { email, role, source: 'oidc' });
    }
    await link(tx, settings.issuer, person.subject, id, refreshSealed, at);
    return id;
  });
  const user = await findUserById(s, userId);
  const status = await s.store.db
    .selectFrom('users')
    .select('status')
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user || status?.status !== 'active') throw new OidcRefused(GENERIC_REFUSAL);
  if (user.role === role) return user;
  try {
    // Through the one role-changing service, so a lower role takes effect at once on every instance.
    return await setRole(s, user.email, role, actor);
  } catch (err) {
    // The last owner keeps the role (SPEC §10): an IdP group change must not lock everyone out.
    if (!(err instanceof Conflict)) throw err;
    s.log.warn({ email: user.email, role }, 'IdP groups would demote the last owner; the role is kept');
    return user;
  }
}

function emailOf(claims: Record<string, unknown>): string {
  if (typeof claims.email !== 'string') {
    throw new OidcRefused('The identity provider did not share your email address, which Waxseal needs.');
  }
  try {
    return normaliseEmail(claims.email);
  } catch {
    throw new OidcRefused('The identity provider shared an email address Waxseal cannot use.');
  }
}

async function link(
  tx: Db,
  issuer: string,
  subject: string,
  userId: string,
  refresh: string | null,
  at: number,
) {
  await tx
    .insertInto('user_identities')
    .values({
      issuer,
      subject,
      user_id: userId,
      refresh_sealed: refresh,
      last_recheck_at: refresh ? at : null,
      created_at: at,
      last_signin_at: at,
    })
    .execute();
}

import * as client from 'openid-client';
import { MINUTE } from '../domain/clock.js';
import { Conflict, InvalidGrant } from '../domain/errors.js';
import { seal, unseal } from '../domain/secrets.js';
import { prepared } from '../store/prepared.js';
import type { Services } from './context.js';
import { describe, type Idp } from './oidc-client.js';
import { groupsOf, roleFromGroups } from './oidc-roles.js';
import { disableUser, setRole } from './users.js';

/**
 * How long a claimed re-check keeps others from starting one: longer than the
 * IdP calls can take (a token request and a UserInfo request, each bounded by
 * the Configuration's timeout). Claiming writes this lease end into
 * last_recheck_at; finishing writes the real time, so a crashed re-check holds
 * nothing for longer than this.
 */
const CLAIM_LEASE = 1 * MINUTE;

/** Who Waxseal names when the IdP refuses the person (SPEC §10: as by Disable). */
export const IDP_REFUSED = 'Waxseal (IdP refused)';
/** Who Waxseal names when the IdP's groups no longer give the person a role (OIDC_DEFAULT_ROLE=none). */
export const IDP_NO_ROLE = 'Waxseal (no role at the IdP)';

/**
 * The fast path of every refresh grant: the identity behind this refresh token,
 * only if a re-check is due (one indexed lookup; no row when not due). Only a
 * token that could still refresh (live, this client's, active connection and
 * user) asks the IdP anything.
 */
const dueIdentity = prepared(
  (db, p: { hash: string; clientId: string; issuer: string; at: number; dueBefore: number }) =>
    db
      .selectFrom('refresh_tokens')
      .innerJoin('connections', 'connections.id', 'refresh_tokens.connection_id')
      .innerJoin('users', 'users.id', 'connections.user_id')
      .innerJoin('user_identities', 'user_identities.user_id', 'connections.user_id')
      .select([
        'user_identities.subject',
        'user_identities.refresh_sealed',
        'user_identities.last_recheck_at',
        'users.email',
        'users.role',
      ])
      .where('refresh_tokens.token_hash', '=', p.hash)
      .where('refresh_tokens.state', 'in', ['current', 'grace'])
      .where('refresh_tokens.expires_at', '>', p.at)
      .where('connections.client_id', '=', p.clientId)
      .where('connections.status', '=', 'active')
      .where('users.status', '=', 'active')
      .where('user_identities.issuer', '=', p.issuer)
      .where('user_identities.refresh_sealed', 'is not', null)
      .where((eb) =>
        eb.or([
          eb('user_identities.last_recheck_at', 'is', null),
          eb('user_identities.last_recheck_at', '<=', p.dueBefore),
        ]),
      ),
);

interface Due {
  subject: string;
  refreshSealed: string;
  email: string;
  role: string;
}

/**
 * SPEC §10 re-check at refresh. Runs before the refresh grant's transaction
 * (it holds the connection's row lock; the IdP may take seconds). When the
 * person's identity is due (at most once per OIDC_RECHECK_MINUTES; 0 = every
 * refresh), refreshes the IdP's refresh token there and recomputes the role
 * from the new claims. An IdP that refuses (invalid_grant: user disabled,
 * grant revoked) means the person is gone: the user is disabled, which revokes
 * every connection, and this grant fails with invalid_grant. An IdP that
 * cannot be reached changes nothing.
 */
export async function recheckAtRefresh(s: Services, clientId: string, hash: string): Promise<void> {
  const idp = s.idp;
  if (!idp) return;
  const at = s.clock.now();
  const dueBefore = at - idp.settings.recheckMinutes * MINUTE;
  const row = (await dueIdentity(s.store.db, { hash, clientId, issuer: idp.settings.issuer, at, dueBefore }))
    .rows[0];
  if (!row?.refresh_sealed) return;
  const due = { subject: row.subject, refreshSealed: row.refresh_sealed, email: row.email, role: row.role };
  if (!(await claim(s, idp, due.subject, dueBefore, at + CLAIM_LEASE))) return;
  const refused = await recheck(s, idp, due);
  if (refused) throw new InvalidGrant('Invalid refresh token', { reason: `IdP re-check: ${refused}` });
}

/**
 * Two refreshes of one user at once (two connections, two instances) must not
 * both ask the IdP: a rotating IdP would see its old refresh token twice and
 * refuse the second as reuse. The conditional update lets exactly one through.
 */
async function claim(s: Services, idp: Idp, subject: string, dueBefore: number, leaseUntil: number) {
  const updated = await s.store.db
    .updateTable('user_identities')
    .set({ last_recheck_at: leaseUntil })
    .where('issuer', '=', idp.settings.issuer)
    .where('subject', '=', subject)
    .where((eb) => eb.or([eb('last_recheck_at', 'is', null), eb('last_recheck_at', '<=', dueBefore)]))
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/** Ends the claim; a new refresh token replaces the old one, null forgets a dead one. */
async function finish(s: Services, idp: Idp, subject: string, refreshSealed?: string | null) {
  await s.store.db
    .updateTable('user_identities')
    .set({
      last_recheck_at: s.clock.now(),
      ...(refreshSealed === undefined ? {} : { refresh_sealed: refreshSealed }),
    })
    .where('issuer', '=', idp.settings.issuer)
    .where('subject', '=', subject)
    .execute();
}

/** One re-check at the IdP; returns why the person is refused, or null when they keep access. */
async function recheck(s: Services, idp: Idp, due: Due): Promise<string | null> {
  let refreshToken: string;
  try {
    refreshToken = unseal(s.secret, 'oidc-refresh', due.refreshSealed);
  } catch {
    // Sealed under another WAXSEAL_SECRET: useless, forgotten until the next IdP sign-in.
    s.log.warn({ email: due.email }, 'the IdP refresh token cannot be unsealed; the re-check is skipped');
    await finish(s, idp, due.subject, null);
    return null;
  }
  let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
  try {
    tokens = await client.refreshTokenGrant(idp.config, refreshToken);
  } catch (err) {
    if (isRefusal(err)) {
      // The IdP's refresh token is dead: forgotten, so a user enabled again later
      // (and signing in with a password) is not refused again by a stale token.
      await finish(s, idp, due.subject, null);
      return offboard(s, due, IDP_REFUSED, 'the IdP refused the refresh token');
    }
    return unavailable(s, idp, due, err);
  }
  // Kept at once: a rotating IdP has already retired the old one.
  await finish(
    s,
    idp,
    due.subject,
    tokens.refresh_token ? seal(s.secret, 'oidc-refresh', tokens.refresh_token, s.random) : undefined,
  );
  let claims: Record<string, unknown> | null;
  try {
    claims = await claimsOf(idp, due.subject, tokens);
  } catch (err) {
    return unavailable(s, idp, due, err);
  }
  // No ID token and no UserInfo: nothing to recompute the role from, so it stays.
  if (!claims) return null;
  const role = roleFromGroups(idp.settings, groupsOf(claims, idp.settings.roleClaim));
  // OIDC_DEFAULT_ROLE=none: sign-in would refuse this person now; their connections go too.
  if (role === 'none') return offboard(s, due, IDP_NO_ROLE, 'no IdP group gives a role');
  if (role === due.role) return null;
  try {
    // The one role-changing service: a lower role takes effect at once on every instance.
    await setRole(s, due.email, role, `${idp.settings.name} (${idp.settings.issuer})`);
  } catch (err) {
    // The last owner keeps the role (SPEC §10), as at sign-in.
    if (!(err instanceof Conflict)) throw err;
    s.log.warn({ email: due.email, role }, 'IdP groups would demote the last owner; the role is kept');
  }
  return null;
}

/**
 * SPEC §10: an IdP that is down (or answers nonsense) revokes nothing. The
 * attempt counts, so a down IdP does not slow every refresh grant.
 */
async function unavailable(s: Services, idp: Idp, due: Due, err: unknown): Promise<null> {
  s.log.warn({ email: due.email, reason: describe(err) }, 'the IdP re-check at refresh could not be done');
  await finish(s, idp, due.subject);
  return null;
}

/**
 * The claims to map the role from: the new ID token's, with UserInfo filling
 * in a missing role claim (as at sign-in); null when the IdP sent neither.
 */
async function claimsOf(
  idp: Idp,
  subject: string,
  tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>,
): Promise<Record<string, unknown> | null> {
  const id = tokens.claims();
  // OIDC Core §12.2: a refreshed ID token is about the same person.
  if (id && id.sub !== subject) throw new Error('the refreshed ID token names another subject');
  if (id && id[idp.settings.roleClaim] !== undefined) return { ...id };
  if (!idp.config.serverMetadata().userinfo_endpoint) return id ? { ...id } : null;
  const info = await client.fetchUserInfo(idp.config, tokens.access_token, subject);
  return { ...info, ...id };
}

/** RFC 6749 §5.2 invalid_grant at the IdP's token endpoint: the grant is gone (user disabled, revoked). */
function isRefusal(err: unknown): boolean {
  return err instanceof client.ResponseBodyError && err.error === 'invalid_grant';
}

/** SPEC §10: as by Disable; the last active owner is kept (409 there), with a warning. */
async function offboard(s: Services, due: Due, actor: string, why: string): Promise<string | null> {
  try {
    await disableUser(s, due.email, actor);
    return why;
  } catch (err) {
    if (!(err instanceof Conflict)) throw err;
    s.log.warn({ email: due.email }, `${why}, but the last owner is not disabled`);
    return null;
  }
}

import { LIFETIMES } from '../domain/clock.js';
import { newToken, sha256 } from '../domain/secrets.js';
import type { Services } from './context.js';
import { findUserById, type User } from './users.js';

/** Browser sessions for the sign-in, consent and dashboard pages; only hashes are stored. */
export async function createSession(s: Services, userId: string): Promise<string> {
  const id = newToken('', s.random);
  const at = s.clock.now();
  await s.store.db
    .insertInto('browser_sessions')
    .values({
      id_hash: sha256(id),
      user_id: userId,
      created_at: at,
      expires_at: at + LIFETIMES.browserSession,
    })
    .execute();
  return id;
}

export async function sessionUser(s: Services, sessionId: string | undefined): Promise<User | null> {
  if (!sessionId || sessionId.length > 100) return null;
  const row = await s.store.db
    .selectFrom('browser_sessions')
    .select(['user_id', 'expires_at'])
    .where('id_hash', '=', sha256(sessionId))
    .executeTakeFirst();
  if (!row || row.expires_at <= s.clock.now()) return null;
  const user = await findUserById(s, row.user_id);
  // Disable ends the sessions; this also holds for one that raced it.
  return user?.status === 'active' ? user : null;
}

export async function endSession(s: Services, sessionId: string): Promise<void> {
  await s.store.db.deleteFrom('browser_sessions').where('id_hash', '=', sha256(sessionId)).execute();
}

/** The pending second step of a sign-in for a user with TOTP on. */
export async function createChallenge(s: Services, userId: string, next: string): Promise<string> {
  const id = newToken('', s.random);
  await s.store.db
    .insertInto('signin_challenges')
    .values({
      id_hash: sha256(id),
      user_id: userId,
      next,
      attempts: 0,
      expires_at: s.clock.now() + LIFETIMES.signinChallenge,
    })
    .execute();
  return id;
}

export async function findChallenge(
  s: Services,
  id: string,
): Promise<{ userId: string; next: string; attempts: number } | null> {
  if (!id || id.length > 100) return null;
  const row = await s.store.db
    .selectFrom('signin_challenges')
    .selectAll()
    .where('id_hash', '=', sha256(id))
    .executeTakeFirst();
  if (!row || row.expires_at <= s.clock.now()) return null;
  return { userId: row.user_id, next: row.next, attempts: row.attempts };
}

export async function failChallenge(s: Services, id: string): Promise<void> {
  await s.store.db
    .updateTable('signin_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id_hash', '=', sha256(id))
    .execute();
}

export async function endChallenge(s: Services, id: string): Promise<void> {
  await s.store.db.deleteFrom('signin_challenges').where('id_hash', '=', sha256(id)).execute();
}

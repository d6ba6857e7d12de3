import { LIFETIMES } from '../domain/clock.js';
import { Conflict, Forbidden } from '../domain/errors.js';
import { newToken, sha256 } from '../domain/secrets.js';
import type { Services } from './context.js';
import { checkPassword, countUsers, createUser, normaliseEmail, type User } from './users.js';

/**
 * SPEC §1 first run: with no user, a one-time setup token (printed in the log as
 * a URL) lets a person create the first owner. Returns null when users exist.
 */
export async function issueSetupToken(s: Services): Promise<string | null> {
  if ((await countUsers(s)) > 0) return null;
  const token = newToken('', s.random);
  const at = s.clock.now();
  await s.store.db
    .insertInto('setup_tokens')
    .values({
      token_hash: sha256(token),
      created_at: at,
      expires_at: at + LIFETIMES.setupToken,
      used_at: null,
    })
    .execute();
  return token;
}

export async function setupTokenValid(s: Services, token: string | undefined): Promise<boolean> {
  if (!token || token.length > 100) return false;
  const row = await s.store.db
    .selectFrom('setup_tokens')
    .select(['expires_at', 'used_at'])
    .where('token_hash', '=', sha256(token))
    .executeTakeFirst();
  return Boolean(row && row.used_at === null && row.expires_at > s.clock.now());
}

/** Whether the first owner exists, i.e. a setup link has nothing left to do. */
export async function setupDone(s: Services): Promise<boolean> {
  return (await countUsers(s)) > 0;
}

/**
 * Creates the first owner with a setup token. Validate first, consume last: a
 * form that fails (a too-short password, a malformed email) leaves the link
 * usable, and so does a failure to write the owner (the token is released).
 */
export async function completeSetup(
  s: Services,
  token: string,
  email: string,
  password: string,
): Promise<User> {
  if (!(await setupTokenValid(s, token))) throw new Forbidden('This setup link is invalid, used or expired');
  if (await setupDone(s)) throw new Conflict('Waxseal is already set up; sign in instead');
  normaliseEmail(email);
  checkPassword(password);
  const hash = sha256(token);
  // The atomic consumption is what makes the link one-time: of two forms sent at once, one wins.
  const used = await s.store.db
    .updateTable('setup_tokens')
    .set({ used_at: s.clock.now() })
    .where('token_hash', '=', hash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  if (Number(used.numUpdatedRows) !== 1) throw new Forbidden('This setup link was already used');
  try {
    return await createUser(s, { email, password, role: 'owner' }, 'setup');
  } catch (err) {
    await s.store.db
      .updateTable('setup_tokens')
      .set({ used_at: null })
      .where('token_hash', '=', hash)
      .execute();
    throw err;
  }
}

/** SPEC §1: WAXSEAL_ADMIN_EMAIL + WAXSEAL_ADMIN_PASSWORD create the first owner non-interactively. */
export async function ensureAdminFromConfig(s: Services): Promise<User | null> {
  const { adminEmail, adminPassword } = s.config;
  if (!adminEmail || !adminPassword) return null;
  if ((await countUsers(s)) > 0) {
    // Issue 11: an operator who sets these on an existing database expects them to do something.
    s.log.warn(
      { email: adminEmail },
      'WAXSEAL_ADMIN_EMAIL is ignored: users exist already (it only creates the first owner); use "waxseal users add" or the Members page',
    );
    return null;
  }
  return createUser(s, { email: adminEmail, password: adminPassword, role: 'owner' }, 'environment').catch(
    (err) => {
      if (err instanceof Conflict) return null;
      throw err;
    },
  );
}

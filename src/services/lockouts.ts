import { BadInput } from '../domain/errors.js';
import { audit } from './audit.js';
import type { Services } from './context.js';
import { reset } from './rate-limit.js';

/**
 * Sign-in lock-outs (SPEC §2 "brute force is slowed per account and per IP"):
 * failures are counted in the shared rate_limits table under these keys; at the
 * configured number the account (or IP) is refused until the window ends or an
 * owner lifts it.
 */
export const signinKey = {
  account: (email: string) => `signin:account:${email}`,
  ip: (ip: string) => `signin:ip:${ip}`,
};

export interface Lockout {
  kind: 'account' | 'ip';
  /** The email or IP address that is locked. */
  subject: string;
  failures: number;
  lockedUntil: string;
}

/** Every account and IP currently locked out of signing in. */
export async function listLockouts(s: Services): Promise<Lockout[]> {
  const { signinAccountFailures, signinIpFailures, signinLockoutMs } = s.config.limits;
  const now = s.clock.now();
  const rows = await s.store.db
    .selectFrom('rate_limits')
    .select(['key', 'count', 'window_start'])
    .where('key', 'like', 'signin:%')
    .where('window_start', '>', now - signinLockoutMs)
    .orderBy('key')
    .execute();
  const out: Lockout[] = [];
  for (const row of rows) {
    const account = row.key.startsWith('signin:account:');
    const limit = account ? signinAccountFailures : signinIpFailures;
    if (Number(row.count) < limit) continue;
    out.push({
      kind: account ? 'account' : 'ip',
      subject: row.key.slice(account ? 'signin:account:'.length : 'signin:ip:'.length),
      failures: Number(row.count),
      lockedUntil: new Date(Number(row.window_start) + signinLockoutMs).toISOString(),
    });
  }
  return out;
}

/**
 * Lifts a lock-out (an owner's action, audited): the failure count of the
 * account or IP starts again from zero. Returns whether anything was locked.
 */
export async function unlock(
  s: Services,
  target: { email?: string; ip?: string },
  actor: string,
): Promise<boolean> {
  if ((target.email === undefined) === (target.ip === undefined)) {
    throw new BadInput('body: give exactly one of email or ip');
  }
  const locked = await listLockouts(s);
  const kind = target.email !== undefined ? 'account' : 'ip';
  const subject =
    target.email !== undefined ? target.email.trim().toLowerCase() : (target.ip as string).trim();
  const wasLocked = locked.some((l) => l.kind === kind && l.subject === subject);
  await reset(s, kind === 'account' ? signinKey.account(subject) : signinKey.ip(subject));
  await audit(s.store.db, s.clock.now(), actor, 'user.unlocked', null, {
    [kind === 'account' ? 'email' : 'ip']: subject,
    wasLocked,
  });
  return wasLocked;
}

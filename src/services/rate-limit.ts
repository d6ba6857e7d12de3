import { sql } from 'kysely';
import { prepared } from '../store/prepared.js';
import type { Services } from './context.js';

/**
 * A fixed-window counter kept in the database, so every instance shares it
 * (SPEC §1 scale-out: rate-limit state that matters for security).
 * Returns how many hits the key has had in the current window, this one included.
 */
export async function hit(s: Services, key: string, windowMs: number): Promise<number> {
  return (await count(s, key, windowMs)).count;
}

/** One hit on a counter, in one statement; compiled once (store/prepared.ts): it runs on every /token request. */
const countHit = prepared((db, p: { key: string; at: number; expired: number }) =>
  db
    .insertInto('rate_limits')
    .values({ key: p.key, window_start: p.at, count: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        count: sql`case when rate_limits.window_start <= ${p.expired} then 1 else rate_limits.count + 1 end`,
        window_start: sql`case when rate_limits.window_start <= ${p.expired} then ${p.at} else rate_limits.window_start end`,
      }),
    )
    .returning(['count', 'window_start']),
);

async function count(
  s: Services,
  key: string,
  windowMs: number,
): Promise<{ count: number; windowStart: number }> {
  const at = s.clock.now();
  const { rows } = await countHit(s.store.db, { key, at, expired: at - windowMs });
  const row = rows[0];
  if (!row) throw new Error('the rate-limit counter returned no row');
  return { count: Number(row.count), windowStart: Number(row.window_start) };
}

export interface Allowance {
  allowed: boolean;
  /** Whole seconds until the window ends (for Retry-After); 0 when allowed. */
  retryAfterSeconds: number;
}

/** Counts one request against `limit` per window; the request over the limit is refused. */
export async function consume(s: Services, key: string, limit: number, windowMs: number): Promise<Allowance> {
  const { count: n, windowStart } = await count(s, key, windowMs);
  if (n <= limit) return { allowed: true, retryAfterSeconds: 0 };
  const left = windowStart + windowMs - s.clock.now();
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)) };
}

/** How many hits the key has had in the current window, without adding one. */
export async function hits(s: Services, key: string, windowMs: number): Promise<number> {
  const row = await s.store.db
    .selectFrom('rate_limits')
    .select(['count', 'window_start'])
    .where('key', '=', key)
    .executeTakeFirst();
  if (!row || row.window_start <= s.clock.now() - windowMs) return 0;
  return Number(row.count);
}

export async function reset(s: Services, key: string): Promise<void> {
  await s.store.db.deleteFrom('rate_limits').where('key', '=', key).execute();
}

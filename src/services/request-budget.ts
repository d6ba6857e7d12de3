import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { Store } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import type { RequestBudget } from './context.js';

/** SPEC §12 rate limit: the limit is per minute, in fixed windows that the database starts. */
export const BUDGET_WINDOW_MS = 60_000;
/** After a failed claim, requests are let through (fail open) for this long before claiming again. */
const FAIL_OPEN_MS = 5000;
const MAX_REMEMBERED = 50_000;

interface Slice {
  /** When the connection's window began, as the database holds it. */
  windowStart: number;
  /** Requests this instance may still let through in that window. */
  left: number;
  /** The database had nothing left to give for this window. */
  exhausted: boolean;
}

/**
 * One claim on a connection's budget, in one statement: start a new window
 * when the old one has ended, else hand out up to `slice` of what is left.
 * Every SET expression reads the row as it was, so `granted` is exactly what
 * this claim added to `claimed`, and `claimed` never passes `limit`.
 */
const claim = prepared(
  (db, p: { id: string; at: number; expired: number; first: number; slice: number; limit: number }) =>
    db
      .insertInto('connection_budgets')
      .values({ connection_id: p.id, window_start: p.at, claimed: p.first, granted: p.first })
      .onConflict((oc) =>
        oc.column('connection_id').doUpdateSet({
          window_start: sql`case when connection_budgets.window_start <= ${p.expired} then ${p.at} else connection_budgets.window_start end`,
          granted: sql`case
            when connection_budgets.window_start <= ${p.expired} then ${p.first}
            when connection_budgets.claimed >= ${p.limit} then 0
            when ${p.limit} - connection_budgets.claimed < ${p.slice} then ${p.limit} - connection_budgets.claimed
            else ${p.slice} end`,
          claimed: sql`case
            when connection_budgets.window_start <= ${p.expired} then ${p.first}
            when connection_budgets.claimed >= ${p.limit} then connection_budgets.claimed
            when ${p.limit} - connection_budgets.claimed < ${p.slice} then ${p.limit}
            else connection_budgets.claimed + ${p.slice} end`,
        }),
      )
      .returning(['window_start', 'granted']),
);

/**
 * SPEC §12 MCP_REQUESTS_PER_MINUTE_PER_CONNECTION, shared by every instance
 * without a database round trip per request (docs/architecture.md, Rate limit
 * per connection): each instance claims a slice of a connection's per-minute
 * budget from the database and spends it in memory, claiming again when it
 * runs out. The database never hands out more than the limit in a window, so
 * the total across instances cannot pass it; it sees about limit/slice claims
 * a minute per connection. A connection whose budget is spent is refused in
 * memory until its window ends.
 */
export class RequestBudgets implements RequestBudget {
  private readonly slices = new Map<string, Slice>();
  private readonly claims = new Map<string, Promise<void>>();
  readonly slice: number;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly limit: number,
  ) {
    // A tenth of the limit: few claims, and little of the budget left stranded
    // on an instance when a connection's traffic moves to another.
    this.slice = Math.min(1000, Math.max(1, Math.ceil(limit / 10)));
  }

  /**
   * Counts one request: 0 when it may go on, otherwise the whole seconds
   * until the window ends (Retry-After). Synchronous while the local slice lasts.
   */
  take(connectionId: string): number | Promise<number> {
    return this.takeLocally(connectionId) ?? this.takeAfterClaim(connectionId);
  }

  private takeLocally(connectionId: string): number | undefined {
    const slice = this.slices.get(connectionId);
    if (!slice) return undefined;
    const now = this.clock.now();
    const ends = slice.windowStart + BUDGET_WINDOW_MS;
    if (now >= ends) return undefined;
    if (slice.left > 0) {
      slice.left--;
      return 0;
    }
    return slice.exhausted ? Math.max(1, Math.ceil((ends - now) / 1000)) : undefined;
  }

  private async takeAfterClaim(connectionId: string): Promise<number> {
    for (;;) {
      let pending = this.claims.get(connectionId);
      if (!pending) {
        pending = this.claim(connectionId).finally(() => this.claims.delete(connectionId));
        this.claims.set(connectionId, pending);
      }
      await pending;
      const taken = this.takeLocally(connectionId);
      if (taken !== undefined) return taken;
    }
  }

  private async claim(connectionId: string): Promise<void> {
    const at = this.clock.now();
    let slice: Slice;
    try {
      const { rows } = await claim(this.store.db, {
        id: connectionId,
        at,
        expired: at - BUDGET_WINDOW_MS,
        first: Math.min(this.slice, this.limit),
        slice: this.slice,
        limit: this.limit,
      });
      const row = rows[0];
      if (!row) throw new Error('the budget claim returned no row');
      const granted = Number(row.granted);
      slice = { windowStart: Number(row.window_start), left: granted, exhausted: granted === 0 };
    } catch (err) {
      // A rate limit is a fairness control, not authentication: while the
      // database cannot be asked, requests go on, and a claim is retried soon.
      this.log.warn(
        { err: (err as Error).message },
        'could not claim a request budget; letting requests through',
      );
      slice = {
        windowStart: at - BUDGET_WINDOW_MS + FAIL_OPEN_MS,
        left: Number.POSITIVE_INFINITY,
        exhausted: false,
      };
    }
    if (this.slices.size >= MAX_REMEMBERED) this.forgetEnded(at);
    this.slices.set(connectionId, slice);
  }

  private forgetEnded(now: number): void {
    for (const [id, s] of this.slices) if (now >= s.windowStart + BUDGET_WINDOW_MS) this.slices.delete(id);
    if (this.slices.size >= MAX_REMEMBERED) this.slices.clear();
  }
}

import { createHmac } from 'node:crypto';
import { retryDelay } from '../domain/backoff.js';
import { SECOND } from '../domain/clock.js';
import { claimDue, markDelivered, markFailed, releaseClaims, retryNow } from './audit-outbox.js';
import type { Services } from './context.js';

/** A receiver that has not answered within this long has failed the attempt. */
export const DELIVERY_TIMEOUT_MS = 10 * SECOND;
/** A claim outlives the longest attempt; one left by a dead process is taken again after it. */
const CLAIM_MS = DELIVERY_TIMEOUT_MS + 5 * SECOND;
/** Other instances' new rows and due retries are found this often; this instance's own are sent at once. */
const POLL_MS = SECOND;
/** Deliveries in flight at once, each the oldest event of a different stream. */
const BATCH = 32;
/** After a success that follows failures, everything backing off is retried at most this often. */
const RECOVERY_EVERY_MS = 10 * SECOND;
/**
 * While attempts fail and everything waits out its back-off, one event is tried
 * this often anyway: a receiver back after hours is found within seconds, not
 * at the next 5-minute retry, for one request per instance per probe.
 */
const PROBE_MS = 5 * SECOND;

/** SPEC §13: `X-Waxseal-Signature: sha256=<hex HMAC-SHA256 of the exact body>`. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface AuditStream {
  /** A commit wrote outbox rows: deliver them now rather than at the next poll. */
  wake(): void;
  /** Graceful shutdown: no new claims, in-flight attempts aborted and their claims given back. */
  stop(): Promise<void>;
}

type Outcome = { ok: true } | { ok: false; reason: Record<string, unknown> } | { ok: 'aborted' };

/**
 * The delivery worker, on every instance: claims due rows (services/audit-outbox.ts),
 * POSTs each as signed JSON, deletes what the receiver took and backs off what it
 * did not (domain/backoff.ts). At least once: a row leaves the outbox only after
 * a 2xx, so a crash, a timeout or a lost answer means it is sent again, same id.
 */
export function startAuditStream(s: Services, webhook: { url: string; secret: string }): AuditStream {
  const aborts = new AbortController();
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let woken = false;
  // Not known to be failing, but a backlog left from before a restart may be waiting out
  // back-offs: the first probe finds out whether the receiver answers now.
  let failing = true;
  let lastRecovery = 0;
  let lastAttempt = 0;
  let databaseAway = false;

  const attempt = async (body: string): Promise<Outcome> => {
    const id = (JSON.parse(body) as { id: string }).id;
    try {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Waxseal',
          'x-waxseal-event-id': id,
          'x-waxseal-signature': signature(webhook.secret, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([aborts.signal, AbortSignal.timeout(DELIVERY_TIMEOUT_MS)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true };
      return { ok: false, reason: { eventId: id, status: res.status } };
    } catch (err) {
      if (aborts.signal.aborted) return { ok: 'aborted' };
      const e = err as Error & { cause?: { code?: string } };
      return { ok: false, reason: { eventId: id, error: e.cause?.code ?? e.name } };
    }
  };

  /** One claim and its deliveries; how many rows it claimed. */
  const round = async (): Promise<number> => {
    const now = s.clock.now();
    let claimed = await claimDue(s.store.db, s.store.dialect, { now, until: now + CLAIM_MS, limit: BATCH });
    if (claimed.length === 0 && failing && now - lastAttempt >= PROBE_MS) {
      claimed = await claimDue(s.store.db, s.store.dialect, {
        now,
        until: now + CLAIM_MS,
        limit: 1,
        dueBy: Number.MAX_SAFE_INTEGER,
      });
    }
    if (claimed.length === 0) return 0;
    lastAttempt = now;
    const outcomes = await Promise.all(claimed.map((c) => attempt(c.body)));
    const delivered = claimed.filter((_, i) => outcomes[i]?.ok === true).map((c) => c.id);
    await markDelivered(s.store.db, delivered);
    await releaseClaims(
      s.store.db,
      claimed.filter((_, i) => outcomes[i]?.ok === 'aborted').map((c) => c.id),
    );
    for (const [i, c] of claimed.entries()) {
      const outcome = outcomes[i];
      if (outcome?.ok !== false) continue;
      const attempts = c.attempts + 1;
      const wait = retryDelay(attempts, s.random(2).readUInt16BE() / 65_536);
      // The receiver's answer and the event's id only: never the URL, the secret or the body.
      s.log.warn(
        { ...outcome.reason, attempts, retryInMs: wait },
        'audit webhook delivery failed, will retry',
      );
      await markFailed(s.store.db, c.id, s.clock.now() + wait);
      failing = true;
    }
    if (delivered.length > 0 && failing && s.clock.now() - lastRecovery >= RECOVERY_EVERY_MS) {
      failing = false;
      lastRecovery = s.clock.now();
      await retryNow(s.store.db, s.clock.now());
    }
    return claimed.length;
  };

  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      try {
        do {
          again = false;
          if ((await round()) > 0) again = true;
          databaseAway = false;
        } while (again && !stopped);
      } catch (err) {
        // The database is away: the rows stay where they are, the next poll tries again.
        // Once per outage, not once a second.
        if (!stopped && !databaseAway) {
          s.log.warn({ err: (err as Error).message }, 'audit outbox: could not claim or record');
        }
        databaseAway = true;
      } finally {
        running = null;
      }
    })();
  };

  const poller = setInterval(run, POLL_MS);
  poller.unref();
  // SQLite has one server process: a claim still set is one its previous run died holding.
  const start = s.store.dialect === 'sqlite' ? releaseClaims(s.store.db) : Promise.resolve();
  void start.then(run, () => undefined);

  return {
    wake: () => {
      if (woken || stopped) return;
      woken = true;
      setImmediate(() => {
        woken = false;
        run();
      });
    },
    stop: async () => {
      stopped = true;
      clearInterval(poller);
      aborts.abort();
      await start.catch(() => undefined);
      await running;
    },
  };
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Store } from '../store/db.js';
import { CHANNEL, type InvalidationKind } from '../store/invalidations.js';
import type { TokenCache } from './token-cache.js';

export interface Watcher {
  stop(): Promise<void>;
}

/**
 * SQLite: another process (the CLI) committed iff PRAGMA data_version changed.
 * The check is an in-memory read, cheap enough for every turn of the event
 * loop with requests, so a change made by any process is honoured by the very
 * next request.
 */
export function watchSqlite(store: Store, cache: TokenCache): Watcher {
  const raw = store.sqlite;
  if (!raw) throw new Error('watchSqlite needs a SQLite store');
  const version = raw.prepare('pragma data_version').pluck();
  const since = raw.prepare('select seq, kind, ref from invalidations where seq > ? order by seq');
  let seen = version.get();
  // One check per turn of the event loop (issue 13: the pragma was 3 % of a
  // request's CPU). Every request served in a turn had arrived before the turn
  // began, so a commit seen by none of them is one that came after they were
  // sent; the next turn checks again.
  // The flag is also bounded in time: a lookup made in the check phase queues
  // its reset for the next turn, after a poll that may have slept meanwhile.
  let checked = false;
  let checkedAt = 0;
  const uncheck = () => {
    checked = false;
  };
  cache.beforeLookup = () => {
    const at = performance.now();
    if (checked && at - checkedAt < 1) return;
    checked = true;
    checkedAt = at;
    setImmediate(uncheck);
    const now = version.get();
    if (now === seen) return;
    seen = now;
    for (const row of since.all(cache.lastSeq) as { seq: number; kind: InvalidationKind; ref: string }[]) {
      cache.evict(row.kind, row.ref);
      cache.lastSeq = Math.max(cache.lastSeq, row.seq);
    }
  };
  return { stop: async () => undefined };
}

/** How often the listener proves it is alive, and how long one proof lets the cache answer. */
export const HEARTBEAT_MS = 20;
export const LEASE_MS = 80;

/**
 * PostgreSQL: LISTEN on a dedicated connection; each invalidation's payload is
 * applied as it arrives. PostgreSQL delivers notifications in commit order, so
 * when this process's own heartbeat, sent at time S, comes back, every change
 * committed before S has been applied: the cache may answer until S + LEASE_MS.
 * If the connection drops or stalls, heartbeats stop, the lease runs out, and
 * every lookup goes to the database until the listener is back. A lost
 * notification therefore never lets a revoked token through for longer than
 * LEASE_MS, whatever fails.
 */
export function watchPostgres(store: Store, cache: TokenCache, log: Logger): Watcher {
  const url = store.postgresUrl;
  if (!url) throw new Error('watchPostgres needs a PostgreSQL store');
  const heartbeatChannel = `waxseal_hb_${randomBytes(6).toString('hex')}`;
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  let beat: NodeJS.Timeout | null = null;

  let listening = false;
  cache.lease.revoke();

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel === heartbeatChannel) {
      if (listening) cache.lease.prove(Number(msg.payload));
      return;
    }
    const payload = msg.payload ?? '';
    const colon = payload.indexOf(':');
    cache.evict(payload.slice(0, colon) as InvalidationKind, payload.slice(colon + 1));
  };

  const goStale = (why: string) => {
    if (stopped) return;
    if (listening) log.warn({ why }, 'invalidation listener lost; the cache is bypassed until it is back');
    listening = false;
    cache.lease.revoke();
    cache.clear();
    if (beat) clearInterval(beat);
    beat = null;
    const old = client;
    client = null;
    old?.end().catch(() => undefined);
    if (!retry) retry = setTimeout(connect, 250);
  };

  const connect = async () => {
    retry = null;
    if (stopped) return;
    const c = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 3000,
      application_name: `waxseal-listener-${process.pid}`,
    });
    c.on('error', (err) => client === c && goStale(String(err)));
    c.on('end', () => client === c && goStale('connection ended'));
    c.on('notification', onNotification);
    try {
      await c.connect();
      await c.query(`listen ${CHANNEL}`);
      await c.query(`listen ${heartbeatChannel}`);
      client = c;
      // Anything cached before the listener was up may be stale: start empty.
      cache.clear();
      listening = true;
      // One heartbeat in flight at a time: a stalled connection sends no more,
      // and its lease simply runs out.
      let inFlight = false;
      beat = setInterval(() => {
        if (inFlight) return;
        inFlight = true;
        c.query('select pg_notify($1, $2)', [heartbeatChannel, String(cache.clock.now())])
          .catch((err) => {
            if (client === c) goStale(String(err));
          })
          .finally(() => {
            inFlight = false;
          });
      }, HEARTBEAT_MS);
      beat.unref();
      log.debug('invalidation listener connected');
    } catch (err) {
      log.warn({ err: String(err) }, 'invalidation listener cannot connect; retrying');
      c.end().catch(() => undefined);
      if (!stopped) retry = setTimeout(connect, 1000);
    }
  };

  const ready = connect();
  return {
    stop: async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      if (beat) clearInterval(beat);
      await ready;
      await client?.end().catch(() => undefined);
    },
  };
}

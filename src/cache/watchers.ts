import pg from 'pg';
import type { Logger } from 'pino';
import type { Store } from '../store/db.js';
import { CHANNEL, type InvalidationKind } from './invalidation.js';
import type { TokenCache } from './token-cache.js';

export interface Watcher {
  stop(): Promise<void>;
}

/**
 * SQLite: another process (the CLI) committed iff PRAGMA data_version changed.
 * The check is an in-memory read, cheap enough for every request, so a change
 * made by any process is honoured by the very next request.
 */
export function watchSqlite(store: Store, cache: TokenCache): Watcher {
  const raw = store.sqlite;
  if (!raw) throw new Error('watchSqlite needs a SQLite store');
  const version = raw.prepare('pragma data_version').pluck();
  const since = raw.prepare('select seq, kind, ref from invalidations where seq > ? order by seq');
  let seen = version.get();
  cache.beforeLookup = () => {
    const now = version.get();
    if (now === seen) return;
    seen = now;
    for (const row of since.all(cache.lastSeq) as { seq: number; kind: InvalidationKind; ref: string }[]) {
      cache.invalidate(row.kind, row.ref);
      cache.lastSeq = Math.max(cache.lastSeq, row.seq);
    }
  };
  return { stop: async () => undefined };
}

/**
 * PostgreSQL: LISTEN on a dedicated connection. If that connection drops, the
 * cache is stale (every lookup goes to the database) until it is back and has
 * caught up, so a lost notification can never let a revoked token through.
 */
export function watchPostgres(store: Store, cache: TokenCache, log: Logger): Watcher {
  const url = store.postgresUrl;
  if (!url) throw new Error('watchPostgres needs a PostgreSQL store');
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  let running = false;
  let again = false;

  const catchUp = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await cache.catchUp(store.db);
      } while (again);
    } catch (err) {
      log.warn({ err: String(err) }, 'cache catch-up failed; treating cache as stale');
      goStale();
    } finally {
      running = false;
    }
  };

  const goStale = () => {
    cache.stale = true;
    cache.clear();
    const old = client;
    client = null;
    old?.end().catch(() => undefined);
    if (!stopped && !retry) retry = setTimeout(connect, 250);
  };

  const connect = async () => {
    retry = null;
    if (stopped) return;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    c.on('error', () => client === c && goStale());
    c.on('end', () => client === c && goStale());
    c.on('notification', () => void catchUp());
    try {
      await c.connect();
      await c.query(`listen ${CHANNEL}`);
      client = c;
      await cache.start(store.db);
      cache.clear();
      cache.stale = false;
      log.debug('invalidation listener connected');
    } catch (err) {
      log.warn({ err: String(err) }, 'invalidation listener cannot connect; retrying');
      c.end().catch(() => undefined);
      if (!stopped) retry = setTimeout(connect, 1000);
    }
  };

  cache.stale = true;
  const ready = connect();
  return {
    stop: async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      await ready;
      await client?.end().catch(() => undefined);
    },
  };
}

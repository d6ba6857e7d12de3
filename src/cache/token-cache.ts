import type { Db } from '../store/db.js';
import type { InvalidationKind } from './invalidation.js';

/** What a bearer token resolves to, before the connection is checked. */
export interface TokenEntry {
  kind: 'access_token' | 'api_key';
  connectionId: string;
  /** For an API key: the key's id, which must still be the connection's current key. */
  apiKeyId: string | null;
  scopes: string[];
  resource: string;
  expiresAt: number | null;
}

/** The connection as a request sees it: who calls, and with which key (SPEC §3). */
export interface ConnectionEntry {
  id: string;
  status: string;
  /** The OAuth client the connection was made by (what the SDK's AuthInfo.clientId means). */
  clientId: string;
  clientName: string;
  userId: string;
  userEmail: string;
  role: string;
  apiKeyId: string;
  /** The full current key, derived once when the entry is loaded; kept in memory only. */
  apiKey: string;
  apiKeyPrefix: string;
}

const MAX_ENTRIES = 100_000;

/**
 * The hot-path cache of token and connection lookups (issue #2: no database
 * round trip per request in steady state). It is kept honest by invalidations
 * (cache/invalidation.ts): applied at once for this process's own writes, and
 * picked up from other processes by a watcher (sqlite-watcher / postgres-listener).
 * While a watcher cannot vouch for freshness (`stale`), every lookup goes to the database.
 */
export class TokenCache {
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly connections = new Map<string, ConnectionEntry>();
  stale = false;
  /**
   * Until when (ms since the epoch) the cache may answer. The PostgreSQL watcher
   * extends this lease with each heartbeat; SQLite's watcher never needs to.
   */
  freshUntil = Number.POSITIVE_INFINITY;
  /** Called before each lookup; lets the SQLite watcher check data_version. */
  beforeLookup: () => void = () => undefined;
  lastSeq = 0;

  private usable(): boolean {
    return !this.stale && Date.now() < this.freshUntil;
  }

  getToken(hash: string): TokenEntry | undefined {
    this.beforeLookup();
    return this.usable() ? this.tokens.get(hash) : undefined;
  }

  getConnection(id: string): ConnectionEntry | undefined {
    return this.usable() ? this.connections.get(id) : undefined;
  }

  putToken(hash: string, entry: TokenEntry): void {
    if (this.stale) return;
    bounded(this.tokens).set(hash, entry);
  }

  putConnection(entry: ConnectionEntry): void {
    if (this.stale) return;
    bounded(this.connections).set(entry.id, entry);
  }

  invalidate(kind: InvalidationKind, ref: string): void {
    if (kind === 'token') this.tokens.delete(ref);
    else if (kind === 'connection') this.connections.delete(ref);
    else for (const [id, c] of this.connections) if (c.userId === ref) this.connections.delete(id);
  }

  clear(): void {
    this.tokens.clear();
    this.connections.clear();
  }

  /** Applies every invalidation recorded since the last one seen. */
  async catchUp(db: Db): Promise<void> {
    const rows = await db
      .selectFrom('invalidations')
      .select(['seq', 'kind', 'ref'])
      .where('seq', '>', this.lastSeq)
      .orderBy('seq')
      .execute();
    for (const row of rows) {
      this.invalidate(row.kind as InvalidationKind, row.ref);
      this.lastSeq = Math.max(this.lastSeq, Number(row.seq));
    }
  }

  async start(db: Db): Promise<void> {
    const row = await db
      .selectFrom('invalidations')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    this.lastSeq = Number(row?.seq ?? 0);
  }
}

function bounded<V>(map: Map<string, V>): Map<string, V> {
  if (map.size >= MAX_ENTRIES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  return map;
}

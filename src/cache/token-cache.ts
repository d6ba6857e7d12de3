import { type Clock, systemClock } from '../domain/clock.js';
import type { ToolAllow } from '../domain/tool-allow.js';
import type { Db } from '../store/db.js';
import type { InvalidationKind } from '../store/invalidations.js';
import { Lease } from './lease.js';

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
  /** SPEC §12 tools per connection: evicted with the connection when it changes. */
  allowedTools: ToolAllow;
}

const MAX_ENTRIES = 100_000;

/**
 * The hot-path cache of token and connection lookups (issue #2: no database
 * round trip per request in steady state). It is kept honest by invalidations
 * (store/invalidations.ts): evicted at once after this process's own commits,
 * and picked up from other processes by a watcher (cache/watchers.ts). While
 * the watcher cannot vouch for freshness (no lease), every lookup goes to the
 * database and nothing is stored.
 */
export class TokenCache {
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly connections = new Map<string, ConnectionEntry>();
  readonly lease: Lease;
  /** Called before each lookup; lets the SQLite watcher check data_version. */
  beforeLookup: () => void = () => undefined;
  /** The newest invalidation row applied, so a watcher knows where to resume. */
  lastSeq = 0;
  /** Bumped by every eviction: an entry loaded before one may already be wrong. */
  private evictions = 0;
  /** Other caches kept honest by the same invalidations (the gateway's sessions); `null` ref: everything. */
  private readonly followers: ((kind: InvalidationKind | null, ref: string) => void)[] = [];

  constructor(
    readonly clock: Clock = systemClock,
    options: { leaseMs?: number; leased?: boolean } = {},
  ) {
    this.lease = new Lease(clock, options.leaseMs ?? 0, !options.leased);
  }

  getToken(hash: string): TokenEntry | undefined {
    this.beforeLookup();
    return this.lease.valid() ? this.tokens.get(hash) : undefined;
  }

  getConnection(id: string): ConnectionEntry | undefined {
    return this.lease.valid() ? this.connections.get(id) : undefined;
  }

  /**
   * Taken before loading from the database and handed back to a put: an
   * invalidation that arrives while the load is in flight has nothing to evict
   * yet, so the loaded entry is stored only if none arrived in between.
   */
  mark(): number {
    return this.evictions;
  }

  putToken(hash: string, entry: TokenEntry, mark: number): void {
    if (this.storable(mark)) bounded(this.tokens).set(hash, entry);
  }

  putConnection(entry: ConnectionEntry, mark: number): void {
    if (this.storable(mark)) bounded(this.connections).set(entry.id, entry);
  }

  private storable(mark: number): boolean {
    return mark === this.evictions && this.lease.valid();
  }

  /**
   * Another cache that must forget what these invalidations say is wrong; it
   * answers only while `lease` is valid, as this one does. Called with
   * (null, '') when everything is cleared.
   */
  follow(listener: (kind: InvalidationKind | null, ref: string) => void): void {
    this.followers.push(listener);
  }

  /** Drops what an invalidation makes wrong. Called by the store after a commit and by the watchers. */
  evict(kind: InvalidationKind, ref: string): void {
    this.evictions++;
    if (kind === 'token') this.tokens.delete(ref);
    else if (kind === 'connection') this.connections.delete(ref);
    else if (kind === 'user') {
      for (const [id, c] of this.connections) if (c.userId === ref) this.connections.delete(id);
    }
    for (const follower of this.followers) follower(kind, ref);
  }

  clear(): void {
    this.evictions++;
    this.tokens.clear();
    this.connections.clear();
    for (const follower of this.followers) follower(null, '');
  }

  /** Remembers the newest invalidation at start-up: older ones cannot concern an empty cache. */
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

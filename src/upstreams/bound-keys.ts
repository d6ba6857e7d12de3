import { createHmac } from 'node:crypto';
import type { ConnectionEntry } from '../cache/token-cache.js';
import { apiKeyDisplayPrefix, base62, sha256 } from '../domain/secrets.js';
import { connectionFor } from '../services/bearer.js';
import type { Services } from '../services/context.js';
import { ConnectionRevoked } from './errors.js';

/**
 * SPEC §9: the key an upstream receives is the connection's current API key
 * bound to that upstream, HMAC(server secret, upstream name, API key). It
 * changes with Regenerate, and one upstream's key says nothing of another's.
 * It starts with the connection's key prefix as the dashboard shows it
 * (SPEC §4), so an operator can tell the connection from an upstream's log;
 * 37 characters of the MAC (220 bits) follow, the length of any API key.
 */
export function bindKey(secret: Buffer, prefix: string, apiKey: string, upstream: string): string {
  const mac = createHmac('sha256', secret)
    .update(`waxseal-upstream-key\u0000${upstream}\u0000${apiKey}`)
    .digest();
  return apiKeyDisplayPrefix(apiKey, prefix) + base62(mac).slice(-37);
}

/** The connection as it is now (validation cache, else the database); a revoked one sends nothing more. */
async function activeConnection(s: Services, connectionId: string): Promise<ConnectionEntry> {
  const connection = await connectionFor(s, connectionId);
  if (connection?.status !== 'active') throw new ConnectionRevoked();
  return connection;
}

const MAX_REMEMBERED = 100_000;

/** Where `UpstreamKeys` records a bound key: by API key × upstream. */
const recordedAs = (apiKeyId: string, upstream: string) => `${apiKeyId}\u0000${upstream}`;

/**
 * Hands out bound keys for upstream requests. Each is recorded in
 * `upstream_keys` (its hash, connection, API key and upstream) before it is
 * first returned, so /introspect knows it before the upstream can present it.
 * The row never changes: the key stops being active when its API key stops
 * being the connection's current one (Regenerate, Revoke).
 */
export class UpstreamKeys {
  /**
   * The bound keys this instance has recorded, by API key × upstream: one insert
   * each, then neither a query nor an HMAC per request (issue 13).
   */
  private readonly recorded = new Map<string, string>();

  constructor(private readonly s: Services) {}

  /**
   * The key `current` would give, when it is known without waiting: the
   * connection in the validation cache and active, its key recorded here
   * (issue 13: the steady state, without three promises per call). Otherwise
   * undefined, and `current` is asked.
   */
  cached(connectionId: string, upstream: string): string | undefined {
    const connection = this.s.cache.getConnection(connectionId);
    if (connection?.status !== 'active') return undefined;
    return this.recorded.get(recordedAs(connection.apiKeyId, upstream));
  }

  /** The key for a request to `upstream` on behalf of the connection, read at the moment of sending. */
  async current(connectionId: string, upstream: string): Promise<string> {
    const { s } = this;
    const connection = await activeConnection(s, connectionId);
    const pair = recordedAs(connection.apiKeyId, upstream);
    const known = this.recorded.get(pair);
    if (known) return known;
    const key = bindKey(s.secret, s.config.apiKeyPrefix, connection.apiKey, upstream);
    await s.store.db
      .insertInto('upstream_keys')
      .values({
        key_hash: sha256(key),
        connection_id: connection.id,
        api_key_id: connection.apiKeyId,
        upstream,
        created_at: s.clock.now(),
      })
      .onConflict((oc) => oc.column('key_hash').doNothing())
      .execute();
    if (this.recorded.size >= MAX_REMEMBERED) this.recorded.clear();
    this.recorded.set(pair, key);
    return key;
  }
}

/** A bound key that is active now: to whom it was given, and the connection it acts for. */
export interface ActiveUpstreamKey {
  upstream: string;
  scopes: string[];
  resource: string;
  connection: ConnectionEntry;
}

interface Recorded {
  connectionId: string;
  apiKeyId: string;
  upstream: string;
  scopes: string[];
  resource: string;
}

/**
 * Looks bound keys up for /introspect. The rows never change, so what was
 * found is kept per instance; whether the key is still active comes from the
 * connection as the validation cache knows it (kept honest by invalidations,
 * across processes and instances).
 */
export class UpstreamKeyDirectory {
  private readonly found = new Map<string, Recorded>();

  constructor(private readonly s: Services) {}

  async find(presented: string): Promise<ActiveUpstreamKey | null> {
    const { s } = this;
    if (!presented.startsWith(s.config.apiKeyPrefix) || presented.length > 200) return null;
    const hash = sha256(presented);
    let recorded = this.found.get(hash);
    if (!recorded) {
      const row = await s.store.db
        .selectFrom('upstream_keys as b')
        .innerJoin('connections as c', 'c.id', 'b.connection_id')
        .select(['b.connection_id', 'b.api_key_id', 'b.upstream', 'c.scopes', 'c.resource'])
        .where('b.key_hash', '=', hash)
        .executeTakeFirst();
      if (!row) return null;
      recorded = {
        connectionId: row.connection_id,
        apiKeyId: row.api_key_id,
        upstream: row.upstream,
        scopes: row.scopes.split(' '),
        resource: row.resource,
      };
      if (this.found.size >= MAX_REMEMBERED) this.found.clear();
      this.found.set(hash, recorded);
    }
    // Lets the SQLite watcher apply other processes' invalidations (a CLI revoke) first.
    s.cache.beforeLookup();
    const connection = await connectionFor(s, recorded.connectionId);
    if (!connection) return null;
    // SPEC §9: it rotates with Regenerate and dies with Revoke.
    if (connection.status !== 'active' || connection.apiKeyId !== recorded.apiKeyId) return null;
    return { upstream: recorded.upstream, scopes: recorded.scopes, resource: recorded.resource, connection };
  }
}

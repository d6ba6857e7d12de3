import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { Services } from '../services/context.js';

/**
 * Gateway state kept in the database, so that any instance serves any request
 * of a connection (SPEC §1 scale-out): what its MCP client declared at
 * initialize, and the session each upstream gave it.
 */

export interface UpstreamSession {
  sessionId: string;
  protocolVersion: string;
}

/** Connections whose gateway state is kept in memory; the least recently used beyond it is dropped. */
const MAX_CACHED = 10_000;

/** What this instance knows of one connection's gateway state; `null`: known to have none. */
interface Cached {
  capabilities?: ClientCapabilities;
  sessions: Map<string, UpstreamSession | null>;
}

/** Only what an upstream may use: the client features Waxseal forwards. */
export function forwardedCapabilities(declared: ClientCapabilities): ClientCapabilities {
  const out: ClientCapabilities = {};
  if (declared.sampling) out.sampling = declared.sampling;
  if (declared.elicitation) out.elicitation = declared.elicitation;
  if (declared.roots) out.roots = { listChanged: false };
  return out;
}

/**
 * Read on every gateway request, so kept in memory (issue 13: no database read
 * per proxied call) and kept honest like the token cache: every change is
 * written in a transaction that calls `tx.invalidate('mcp_client', connection)`,
 * which other instances learn through the same NOTIFY (PostgreSQL) or
 * data_version check (SQLite) as token revocations; the cache follows the
 * token cache's evictions and answers only while its lease is valid.
 */
export class SessionStore {
  private readonly cached = new Map<string, Cached>();
  /** Bumped by every eviction: state loaded before one is not kept. */
  private evictions = 0;

  constructor(private readonly s: Services) {
    s.cache.follow((kind, ref) => {
      this.evictions++;
      if (kind === null) this.cached.clear();
      else if (kind === 'mcp_client' || kind === 'connection') this.cached.delete(ref);
    });
  }

  /** The connection's cached state, if the cache may answer now. */
  private known(connectionId: string): Cached | undefined {
    if (!this.s.cache.lease.valid()) return undefined;
    const entry = this.cached.get(connectionId);
    if (entry) {
      this.cached.delete(connectionId);
      this.cached.set(connectionId, entry);
    }
    return entry;
  }

  /** Where loaded state goes, unless an eviction happened since `mark` or the lease is gone. */
  private keep(connectionId: string, mark: number): Cached | undefined {
    if (mark !== this.evictions || !this.s.cache.lease.valid()) return undefined;
    let entry = this.cached.get(connectionId);
    if (!entry) {
      entry = { sessions: new Map() };
      this.cached.set(connectionId, entry);
      if (this.cached.size > MAX_CACHED) {
        const oldest = this.cached.keys().next().value;
        if (oldest !== undefined) this.cached.delete(oldest);
      }
    }
    return entry;
  }

  /**
   * A client (re)initialized: remember what it declared and forget the
   * connection's upstream sessions, which were opened for its previous session.
   * Returns them, so the caller can end them at the upstreams.
   */
  async clientInitialized(
    connectionId: string,
    declared: { capabilities: ClientCapabilities; clientInfo: Implementation; protocolVersion: string },
  ): Promise<Array<{ upstream: string } & UpstreamSession>> {
    const capabilities = forwardedCapabilities(declared.capabilities);
    const at = this.s.clock.now();
    const row = {
      connection_id: connectionId,
      capabilities: JSON.stringify(capabilities),
      client_info: JSON.stringify(declared.clientInfo),
      protocol_version: declared.protocolVersion,
      updated_at: at,
    };
    const old = await this.s.store.transact(async (tx) => {
      await tx
        .insertInto('mcp_clients')
        .values(row)
        .onConflict((oc) =>
          oc.column('connection_id').doUpdateSet({
            capabilities: row.capabilities,
            client_info: row.client_info,
            protocol_version: row.protocol_version,
            updated_at: at,
          }),
        )
        .execute();
      const sessions = await tx
        .selectFrom('upstream_sessions')
        .select(['upstream', 'session_id', 'protocol_version'])
        .where('connection_id', '=', connectionId)
        .execute();
      await tx.deleteFrom('upstream_sessions').where('connection_id', '=', connectionId).execute();
      await tx.invalidate('mcp_client', connectionId);
      return sessions;
    });
    const entry = this.keep(connectionId, this.evictions);
    if (entry) entry.capabilities = capabilities;
    return old.map((r) => ({
      upstream: r.upstream,
      sessionId: r.session_id,
      protocolVersion: r.protocol_version,
    }));
  }

  /** What the connection's client declared (none before its first initialize through the gateway). */
  async clientCapabilities(connectionId: string): Promise<ClientCapabilities> {
    const cached = this.known(connectionId)?.capabilities;
    if (cached) return cached;
    const mark = this.evictions;
    const row = await this.s.store.db
      .selectFrom('mcp_clients')
      .select('capabilities')
      .where('connection_id', '=', connectionId)
      .executeTakeFirst();
    const value = row ? (JSON.parse(row.capabilities) as ClientCapabilities) : {};
    const entry = this.keep(connectionId, mark);
    if (entry) entry.capabilities = value;
    return value;
  }

  /** What `get` would give, when it is cached (null: no session); undefined when `get` must read it. */
  peek(connectionId: string, upstream: string): UpstreamSession | null | undefined {
    return this.known(connectionId)?.sessions.get(upstream);
  }

  async get(connectionId: string, upstream: string): Promise<UpstreamSession | null> {
    const cached = this.peek(connectionId, upstream);
    if (cached !== undefined) return cached;
    const mark = this.evictions;
    const row = await this.s.store.db
      .selectFrom('upstream_sessions')
      .select(['session_id', 'protocol_version'])
      .where('connection_id', '=', connectionId)
      .where('upstream', '=', upstream)
      .executeTakeFirst();
    const session = row ? { sessionId: row.session_id, protocolVersion: row.protocol_version } : null;
    this.keep(connectionId, mark)?.sessions.set(upstream, session);
    return session;
  }

  async save(connectionId: string, upstream: string, session: UpstreamSession): Promise<void> {
    const row = {
      connection_id: connectionId,
      upstream,
      session_id: session.sessionId,
      protocol_version: session.protocolVersion,
      created_at: this.s.clock.now(),
    };
    await this.s.store.transact(async (tx) => {
      await tx
        .insertInto('upstream_sessions')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['connection_id', 'upstream']).doUpdateSet({
            session_id: row.session_id,
            protocol_version: row.protocol_version,
            created_at: row.created_at,
          }),
        )
        .execute();
      await tx.invalidate('mcp_client', connectionId);
    });
  }

  /** Forgets a session the upstream no longer knows, unless another request already replaced it. */
  async forget(connectionId: string, upstream: string, sessionId: string): Promise<void> {
    await this.s.store.transact(async (tx) => {
      const gone = await tx
        .deleteFrom('upstream_sessions')
        .where('connection_id', '=', connectionId)
        .where('upstream', '=', upstream)
        .where('session_id', '=', sessionId)
        .executeTakeFirst();
      // Another instance (or this one) may still hold it; a replaced one concerns nobody.
      if (Number(gone.numDeletedRows) > 0) await tx.invalidate('mcp_client', connectionId);
    });
    const entry = this.cached.get(connectionId);
    if (entry?.sessions.get(upstream)?.sessionId === sessionId) entry.sessions.delete(upstream);
  }
}

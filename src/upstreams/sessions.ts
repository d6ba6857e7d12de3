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

const CAPABILITIES_TTL_MS = 10_000;

/** Only what an upstream may use: the client features Waxseal forwards. */
export function forwardedCapabilities(declared: ClientCapabilities): ClientCapabilities {
  const out: ClientCapabilities = {};
  if (declared.sampling) out.sampling = declared.sampling;
  if (declared.elicitation) out.elicitation = declared.elicitation;
  if (declared.roots) out.roots = { listChanged: false };
  return out;
}

export class SessionStore {
  /** Capabilities per connection, briefly cached: read on every gateway request. */
  private readonly capabilities = new Map<string, { value: ClientCapabilities; until: number }>();

  /** Told when a new upstream session is stored (its holder of the client's stream starts listening). */
  onSaved: (connectionId: string) => void = () => undefined;

  constructor(private readonly s: Services) {}

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
      return sessions;
    });
    this.capabilities.set(connectionId, { value: capabilities, until: Date.now() + CAPABILITIES_TTL_MS });
    return old.map((r) => ({
      upstream: r.upstream,
      sessionId: r.session_id,
      protocolVersion: r.protocol_version,
    }));
  }

  /** What the connection's client declared (none before its first initialize through the gateway). */
  async clientCapabilities(connectionId: string): Promise<ClientCapabilities> {
    const cached = this.capabilities.get(connectionId);
    if (cached && cached.until > Date.now()) return cached.value;
    const row = await this.s.store.db
      .selectFrom('mcp_clients')
      .select('capabilities')
      .where('connection_id', '=', connectionId)
      .executeTakeFirst();
    const value = row ? (JSON.parse(row.capabilities) as ClientCapabilities) : {};
    if (this.capabilities.size > 10_000) this.capabilities.clear();
    this.capabilities.set(connectionId, { value, until: Date.now() + CAPABILITIES_TTL_MS });
    return value;
  }

  async get(connectionId: string, upstream: string): Promise<UpstreamSession | null> {
    const row = await this.s.store.db
      .selectFrom('upstream_sessions')
      .select(['session_id', 'protocol_version'])
      .where('connection_id', '=', connectionId)
      .where('upstream', '=', upstream)
      .executeTakeFirst();
    return row ? { sessionId: row.session_id, protocolVersion: row.protocol_version } : null;
  }

  async save(connectionId: string, upstream: string, session: UpstreamSession): Promise<void> {
    const row = {
      connection_id: connectionId,
      upstream,
      session_id: session.sessionId,
      protocol_version: session.protocolVersion,
      created_at: this.s.clock.now(),
    };
    await this.s.store.db
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
    this.onSaved(connectionId);
  }

  /** Forgets a session the upstream no longer knows, unless another request already replaced it. */
  async forget(connectionId: string, upstream: string, sessionId: string): Promise<void> {
    await this.s.store.db
      .deleteFrom('upstream_sessions')
      .where('connection_id', '=', connectionId)
      .where('upstream', '=', upstream)
      .where('session_id', '=', sessionId)
      .execute();
  }
}

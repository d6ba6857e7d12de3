import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { McpCaller } from '../../services/caller.js';
import type { DirectCall } from '../../upstreams/direct-call.js';
import { ConnectionTransport } from './connection-transport.js';

/** Connections whose server is kept; the least recently used beyond it is closed. */
const MAX_SERVERS = 2_000;
/** How often a retired server with requests still in flight is looked at again. */
const RETIRE_CHECK_MS = 1_000;

export interface ConnectionServer {
  transport: ConnectionTransport;
  server: Server | McpServer;
}

interface Entry {
  key: string;
  ready: Promise<ConnectionServer>;
  /** Set once ready: what a cancellation for this connection is handed to. */
  transport?: ConnectionTransport;
}

/** Each caller's key, made once: a caller is shared by its connection's requests (http/mcp/bearer.ts). */
const keys = new WeakMap<McpCaller, string>();

/** Everything of the caller a server's tools can see: a change makes a new server. */
function callerKey(caller: McpCaller): string {
  let key = keys.get(caller);
  if (key === undefined) {
    key = keyOf(caller);
    keys.set(caller, key);
  }
  return key;
}

function keyOf(caller: McpCaller): string {
  return JSON.stringify([
    caller.user.id,
    caller.user.email,
    caller.user.role,
    caller.connection.clientName,
    caller.apiKey,
    // SPEC §12: a changed allow-list makes a new server (plain mode removes the tools outside it).
    caller.connection.allowedTools ?? null,
  ]);
}

/**
 * One MCP server per connection, built on its first POST and kept (issue 13):
 * the SDK's pattern of a server, a transport and a validator per request was
 * most of /mcp's cost. A server is made for a caller — its tools may depend on
 * who calls (library hooks, per-role gateway tools) — so a connection whose
 * user, role or current key changed gets a new one; the old one finishes what
 * it is doing and is closed. Bounded: the least recently used is retired.
 */
export class ConnectionServers {
  private readonly entries = new Map<string, Entry>();
  /** Replaced servers still answering requests, by connection: a cancellation may be for one of them. */
  private readonly retired = new Map<string, Set<ConnectionTransport>>();

  constructor(
    private readonly build: (caller: McpCaller, instructions?: string) => Server | McpServer,
    private readonly wrap: (transport: ConnectionTransport, connectionId: string) => Transport,
    private readonly streams: boolean,
    /** Where a message the server sends outside any request goes (the connection's stream, SPEC §11). */
    private readonly unrelated: (connectionId: string, message: JSONRPCMessage) => void = () => undefined,
    /** What serves the common call of a caller's server without its Protocol (gateway mode). */
    private readonly direct: (caller: McpCaller, server: Server | McpServer) => DirectCall | undefined = () =>
      undefined,
  ) {}

  /**
   * The connection's server. `initialize`: the client starts a new session, so
   * it gets a new server, made with the instructions to announce.
   */
  for(caller: McpCaller, initialize?: { instructions?: string }): Promise<ConnectionServer> {
    const id = caller.connection.id;
    const key = callerKey(caller);
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      if (entry.key === key && !initialize) {
        this.entries.set(id, entry);
        return entry.ready;
      }
      this.retire(id, entry);
    }
    const ready = this.open(caller, initialize?.instructions);
    const created: Entry = { key, ready };
    void ready.then(
      (r) => {
        created.transport = r.transport;
      },
      // A server that could not be made is not kept: the next POST tries again.
      () => {
        if (this.entries.get(id) === created) this.entries.delete(id);
      },
    );
    this.entries.set(id, created);
    if (this.entries.size > MAX_SERVERS) {
      const [oldest, old] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      this.retire(oldest, old);
    }
    return ready;
  }

  /**
   * Hands a client's `notifications/cancelled` to the request it names, on the
   * connection's server or on one it replaced that is still answering (a role
   * or key change during a long call); false when none is in flight here, or
   * when the id is ambiguous (two requests in flight with it, on any of them).
   */
  cancel(connectionId: string, message: JSONRPCMessage): boolean {
    const current = this.entries.get(connectionId)?.transport;
    const transports = [...(current ? [current] : []), ...(this.retired.get(connectionId) ?? [])];
    let named: ConnectionTransport | undefined;
    let matches = 0;
    for (const transport of transports) {
      const here = transport.matches(message);
      matches += here;
      if (here > 0) named = transport;
    }
    return matches === 1 && named !== undefined && named.cancel(message);
  }

  private async open(caller: McpCaller, instructions?: string): Promise<ConnectionServer> {
    const server = this.build(caller, instructions);
    const id = caller.connection.id;
    const transport = new ConnectionTransport(
      this.streams,
      (message) => this.unrelated(id, message),
      this.direct(caller, server),
    );
    await server.connect(this.wrap(transport, caller.connection.id));
    return { server, transport };
  }

  close(): void {
    for (const [id, entry] of this.entries) this.retire(id, entry);
    this.entries.clear();
  }

  /** Closes a server once its requests in flight are answered; until then it can still be cancelled. */
  private retire(connectionId: string, entry: Entry): void {
    void entry.ready.then(
      ({ server, transport }) => {
        const check = () => {
          if (transport.busy > 0) {
            setTimeout(check, RETIRE_CHECK_MS).unref();
            return;
          }
          const left = this.retired.get(connectionId);
          left?.delete(transport);
          if (left?.size === 0) this.retired.delete(connectionId);
          void server.close();
        };
        if (transport.busy > 0) {
          let set = this.retired.get(connectionId);
          if (!set) {
            set = new Set();
            this.retired.set(connectionId, set);
          }
          set.add(transport);
        }
        check();
      },
      () => undefined,
    );
  }
}

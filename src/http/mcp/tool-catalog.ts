import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { NotFound } from '../../domain/errors.js';
import { MCP_SCOPE } from '../../domain/scopes.js';
import { connectionFor } from '../../services/bearer.js';
import type { McpCaller } from '../../services/caller.js';
import type { Services } from '../../services/context.js';
import type { McpRuntime } from '../../upstreams/runtime.js';
import type { CallerExtra } from './bearer.js';
import type { RegisterTools } from './endpoint.js';
import { newLocalServer } from './tools.js';

/** The names of the tools a connection's role may use, as its client would see them. */
export type ToolCatalog = (connectionId: string) => Promise<string[]>;

/** Hands every message to the server with the connection's AuthInfo, as /mcp does. */
function asCaller(inner: InMemoryTransport, authInfo: AuthInfo): Transport {
  const send = inner.send.bind(inner);
  inner.send = (message: JSONRPCMessage, options?: TransportSendOptions) =>
    send(message, { relatedRequestId: options?.relatedRequestId, authInfo });
  return inner;
}

/**
 * SPEC §12, what the dashboard's tool editor offers: a tools/list made in
 * memory as the connection, through the same servers /mcp builds (built-in and
 * library tools, and the gateway's upstreams with their role rules), without
 * the connection's own allow-list.
 */
export function toolCatalog(s: Services, hooks: RegisterTools[], runtime?: McpRuntime): ToolCatalog {
  return async (connectionId) => {
    const c = await connectionFor(s, connectionId);
    if (!c) throw new NotFound(`No connection with id ${connectionId}`);
    // A revoked connection uses nothing; its key is not sent to any upstream again.
    if (c.status !== 'active') return [];
    const caller: McpCaller = {
      user: { id: c.userId, email: c.userEmail, role: c.role },
      connection: { id: c.id, clientName: c.clientName, allowedTools: null },
      apiKey: c.apiKey,
      apiKeyPrefix: c.apiKeyPrefix,
    };
    const authInfo: AuthInfo = {
      token: '',
      clientId: c.clientId,
      scopes: [MCP_SCOPE],
      extra: { caller, connectionId: c.id } satisfies CallerExtra,
    };
    const local = () => newLocalServer(caller, hooks);
    const server = runtime?.gateway ? runtime.gateway.serverFor(caller, local, false) : local();
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'waxseal-dashboard', version: '0.1.0' });
    try {
      await client.connect(asCaller(clientSide, authInfo));
      const names: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined);
        names.push(...page.tools.map((t) => t.name));
        cursor = page.nextCursor;
      } while (cursor);
      return names;
    } finally {
      await client.close();
      await server.close();
    }
  };
}

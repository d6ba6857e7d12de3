import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { type ToolAllow, toolAllowed } from '../../domain/tool-allow.js';
import { callerOf, type McpCaller } from '../../services/caller.js';
import { sharedValidator } from '../../upstreams/schema-validator.js';

/** A library hook adding tools (endpoint.ts RegisterTools). */
type ToolHook = (server: McpServer, context: { caller: McpCaller }) => void;

/**
 * The McpServer of the built-in and library tools for one request of one
 * caller (SPEC §3, §9), narrowed to the connection's allow-list (SPEC §12).
 */
export function newLocalServer(caller: McpCaller, hooks: readonly ToolHook[]): McpServer {
  const server = new McpServer(
    { name: 'waxseal', version: '0.1.0' },
    { jsonSchemaValidator: sharedValidator },
  );
  registerBuiltinTools(server);
  for (const register of hooks) register(server, { caller });
  narrowTools(server, caller.connection.allowedTools);
  return server;
}

/**
 * SPEC §12: a tool outside the connection's allow-list is removed from the
 * server, so tools/list leaves it out and tools/call answers exactly as for a
 * tool that does not exist. The SDK (1.32.2, pinned) offers no list of the
 * registered tools, hence the read of its `_registeredTools` record.
 */
function narrowTools(server: McpServer, allow: ToolAllow): void {
  if (allow === null) return;
  const registered = (server as unknown as { _registeredTools: Record<string, RegisteredTool> })
    ._registeredTools;
  for (const [name, tool] of Object.entries(registered)) if (!toolAllowed(allow, name)) tool.remove();
}

/** SPEC §3 built-in tools. */
export function registerBuiltinTools(server: McpServer): void {
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description: 'The Waxseal connection, user and API key prefix this client acts as.',
      outputSchema: {
        connectionId: z.string(),
        clientName: z.string(),
        userEmail: z.string(),
        role: z.string(),
        apiKeyPrefix: z.string(),
      },
    },
    async (extra) => {
      const caller = callerOf(extra.authInfo);
      const result = {
        connectionId: caller.connection.id,
        clientName: caller.connection.clientName,
        userEmail: caller.user.email,
        role: caller.user.role,
        apiKeyPrefix: caller.apiKeyPrefix,
      };
      return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
    },
  );
}

import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { callerOf } from '../../services/caller.js';

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

import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { ToolAllow } from '../domain/tool-allow.js';

/** Who calls an MCP tool (SPEC §3): user, role, connection and the connection's current API key. */
export interface McpCaller {
  user: { id: string; email: string; role: string };
  /** `allowedTools`: SPEC §12 tools per connection, null for every tool the role may use. */
  connection: { id: string; clientName: string; allowedTools: ToolAllow };
  apiKey: string;
  apiKeyPrefix: string;
}

/** The caller the bearer middleware put on the SDK's AuthInfo; handlers and the gateway read it here. */
export function callerOf(authInfo: AuthInfo | undefined): McpCaller {
  const caller = authInfo?.extra?.caller as McpCaller | undefined;
  if (!caller) throw new Error('MCP handler called without an authenticated caller');
  return caller;
}

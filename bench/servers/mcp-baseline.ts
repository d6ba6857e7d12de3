/**
 * The B1/B2 baseline: the MCP SDK's own stateless Streamable HTTP setup
 * (createMcpExpressApp, a fresh McpServer and transport per request, as in the
 * SDK's simpleStatelessStreamableHttp example) serving Waxseal's very whoami
 * tool, with no authentication at all: the tool is handed a fixed caller.
 */

import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request } from 'express';
import { registerBuiltinTools } from '../../src/http/mcp/tools.js';
import type { McpCaller } from '../../src/services/caller.js';
import { serve } from './serve.js';

const caller: McpCaller = {
  user: { id: 'u1', email: 'bench@example.com', role: 'admin' },
  connection: { id: 'c1', clientName: 'bench', allowedTools: null },
  apiKey: 'wax_sk_baseline',
  apiKeyPrefix: 'wax_sk_basel',
};
const fixed: AuthInfo = { token: 'none', clientId: 'c1', scopes: ['mcp'], extra: { caller } };

const app = createMcpExpressApp();
app.post('/mcp', async (req, res) => {
  (req as Request & { auth?: AuthInfo }).auth = fixed;
  const server = new McpServer({ name: 'baseline', version: '0.1.0' });
  registerBuiltinTools(server);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
serve(app);

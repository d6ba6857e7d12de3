/**
 * G2's second baseline: an HTTP front for a stdio MCP server written the way
 * the MCP SDK's examples write one, with no authentication. One SDK Client
 * talks stdio to server-everything for the whole process; each POST gets a
 * fresh low-level `Server` and stateless `StreamableHTTPServerTransport`
 * (the SDK's simpleStatelessStreamableHttp pattern) whose tools/list and
 * tools/call are forwarded to that Client. It shows what HTTP in front of
 * stdio costs with the SDK alone; the stdio process's pid is in the ready
 * message so its CPU can be told apart.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING } from '../../test/helpers/upstreams.js';
import { serve } from './serve.js';

const stdio = new StdioClientTransport({
  command: process.execPath,
  args: [EVERYTHING, 'stdio'],
  stderr: 'ignore',
});
const upstream = new Client({ name: 'stdio-bridge', version: '0.1.0' });
await upstream.connect(stdio);

const app = createMcpExpressApp();
app.post('/mcp', async (req, res) => {
  const server = new Server({ name: 'stdio-bridge', version: '0.1.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, (r) => upstream.listTools(r.params));
  server.setRequestHandler(CallToolRequestSchema, (r) => upstream.callTool(r.params));
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
serve(app, { ready: { upstreamPid: stdio.pid }, stop: () => upstream.close() });

import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { type NextFunction, type Request, type Response, Router } from 'express';
import { callerOf, type McpCaller } from '../../services/caller.js';
import type { Services } from '../../services/context.js';
import type { McpRuntime } from '../../upstreams/runtime.js';
import { sharedValidator } from '../../upstreams/schema-validator.js';
import { toWaxsealError } from '../errors.js';
import { requireBearer } from './bearer.js';
import { mcpJson } from './json-body.js';
import { ConnectionServers } from './servers.js';
import { registerBuiltinTools } from './tools.js';

/** What a library tool hook is given besides the server: who calls this request (SPEC §3). */
export interface ToolContext {
  caller: McpCaller;
}

/** A hook to add tools to each request's McpServer (library mode, SPEC §9). */
export type RegisterTools = (server: McpServer, context: ToolContext) => void;

function isInitialize(body: unknown): boolean {
  return !Array.isArray(body) && (body as { method?: unknown })?.method === 'initialize';
}

const jsonRpcError = (code: number, message: string) => ({
  jsonrpc: '2.0',
  error: { code, message },
  id: null,
});

/**
 * /mcp over stateless Streamable HTTP: any instance can serve any request
 * (SPEC §1 scale-out). Each connection's MCP server is built once and kept
 * (servers.ts); its POSTs reach it through a ConnectionTransport.
 */
export function mcpRouter(s: Services, extraTools: RegisterTools[] = [], runtime?: McpRuntime): Router {
  const localServer = (caller: McpCaller) => {
    const server = new McpServer(
      { name: 'waxseal', version: '0.1.0' },
      { jsonSchemaValidator: sharedValidator },
    );
    registerBuiltinTools(server);
    for (const register of extraTools) register(server, { caller });
    return server;
  };
  const servers = new ConnectionServers(
    (caller) =>
      runtime?.gateway
        ? runtime.gateway.serverFor(caller, () => localServer(caller), runtime.streaming)
        : localServer(caller),
    (transport, connectionId) => (runtime ? runtime.relay.wrap(transport, connectionId) : transport),
    Boolean(runtime?.streaming),
  );
  runtime?.onClose(() => servers.close());
  const router = Router();
  router.all('/mcp', requireBearer(s));
  router.post(
    '/mcp',
    mcpJson(1024 * 1024),
    async (req: Request, res: Response) => {
      const caller = callerOf((req as Request & { auth?: AuthInfo }).auth);
      let body: unknown = req.body;
      if (runtime) {
        // Answers to our requests to the client (sampling, elicitation) arrive as POSTs of their own.
        const answered = await runtime.relay.acceptAnswers(caller.connection.id, body);
        if (answered.rest === null) {
          if (answered.unknown > 0) {
            res.status(400).json(jsonRpcError(-32600, 'No request with this id is waiting for an answer'));
          } else {
            res.status(202).end();
          }
          return;
        }
        body = answered.rest;
        if (runtime.gateway && isInitialize(body)) await runtime.gateway.clientInitialized(caller, body);
      }
      const { transport } = await servers.for(caller);
      transport.handle(req, res, body, (req as Request & { auth?: AuthInfo }).auth);
    },
    (err: unknown, _req: Request, res: Response, next: NextFunction) => {
      const known = toWaxsealError(err);
      if (!known || known.status >= 500) return next(err);
      res.status(known.status).json(jsonRpcError(-32700, known.message));
    },
  );
  // Stateless: no standalone SSE stream and no session to delete.
  router.all('/mcp', (_req, res) => {
    res.status(405).set('Allow', 'POST').json(jsonRpcError(-32000, 'Method not allowed'));
  });
  return router;
}

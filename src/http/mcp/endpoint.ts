import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { callerOf, type McpCaller } from '../../services/caller.js';
import type { Services } from '../../services/context.js';
import type { McpRuntime } from '../../upstreams/runtime.js';
import { toWaxsealError } from '../errors.js';
import { requireBearer } from './bearer.js';
import { connectionPolicy } from './connection-policy.js';
import { newLocalServer } from './tools.js';

/** What a library tool hook is given besides the server: who calls this request (SPEC §3). */
export interface ToolContext {
  caller: McpCaller;
}

/** A hook to add tools to each request's McpServer (library mode, SPEC §9). */
export type RegisterTools = (server: McpServer, context: ToolContext) => void;

/** Requests whose answer may need a stream: for progress and for requests to the client (issue #7). */
const STREAMED_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

function mayStream(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => STREAMED_METHODS.has((m as { method?: unknown })?.method as string));
}

function isInitialize(body: unknown): boolean {
  return !Array.isArray(body) && (body as { method?: unknown })?.method === 'initialize';
}

const jsonRpcError = (code: number, message: string) => ({
  jsonrpc: '2.0',
  error: { code, message },
  id: null,
});

/**
 * /mcp over stateless Streamable HTTP: every request gets a fresh server and
 * transport, so any instance can serve any request (SPEC §1 scale-out).
 */
export function mcpRouter(s: Services, extraTools: RegisterTools[] = [], runtime?: McpRuntime): Router {
  const localServer = (caller: McpCaller) => newLocalServer(caller, extraTools);
  const router = Router();
  router.all('/mcp', requireBearer(s));
  // SPEC §12: last used and the rate limit per connection (connection-policy.ts).
  router.all('/mcp', connectionPolicy(s));
  router.post(
    '/mcp',
    express.json({ limit: '1mb' }),
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
      const streaming = Boolean(runtime?.streaming) && mayStream(body);
      const server = runtime?.gateway
        ? runtime.gateway.serverFor(caller, () => localServer(caller), streaming)
        : localServer(caller);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: !streaming,
      });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(runtime ? runtime.relay.wrap(transport, caller.connection.id) : transport);
      await transport.handleRequest(req, res, body);
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

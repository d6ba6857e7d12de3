import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { Services } from '../../services/context.js';
import { toWaxsealError } from '../errors.js';
import { requireBearer } from './bearer.js';
import { registerBuiltinTools } from './tools.js';

/** A hook to add tools to each request's McpServer (library mode, SPEC §9). */
export type RegisterTools = (server: McpServer) => void;

const jsonRpcError = (code: number, message: string) => ({
  jsonrpc: '2.0',
  error: { code, message },
  id: null,
});

/**
 * /mcp over stateless Streamable HTTP: every request gets a fresh server and
 * transport, so any instance can serve any request (SPEC §1 scale-out).
 */
export function mcpRouter(s: Services, extraTools: RegisterTools[] = []): Router {
  const router = Router();
  router.all('/mcp', requireBearer(s));
  router.post(
    '/mcp',
    express.json({ limit: '1mb' }),
    async (req: Request, res: Response) => {
      const server = new McpServer({ name: 'waxseal', version: '0.1.0' });
      registerBuiltinTools(server);
      for (const register of extraTools) register(server);
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

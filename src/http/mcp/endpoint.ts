import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';
import { type ErrorRequestHandler, type Request, type RequestHandler, type Response, Router } from 'express';
import { callerOf, type McpCaller } from '../../services/caller.js';
import type { Services } from '../../services/context.js';
import { traceMcpRequest } from '../../telemetry/mcp-request.js';
import { cancellationsIn } from '../../upstreams/cancellation.js';
import type { McpRuntime } from '../../upstreams/runtime.js';
import { toWaxsealError } from '../errors.js';
import { requireBearer } from './bearer.js';
import { connectionPolicy } from './connection-policy.js';
import { mcpJson } from './json-body.js';
import { ConnectionServers } from './servers.js';
import { clientStream } from './stream.js';
import { newLocalServer } from './tools.js';

/** What a library tool hook is given besides the server: who calls this request (SPEC §3). */
export interface ToolContext {
  caller: McpCaller;
}

/** A hook to add tools to each request's McpServer (library mode, SPEC §9). */
export type RegisterTools = (server: McpServer, context: ToolContext) => void;

/** The initialize request a POST body is, alone or as a batch of one (the transport refuses it beside others). */
function initializeIn(body: unknown): unknown {
  const only = Array.isArray(body) && body.length === 1 ? body[0] : body;
  return (only as { method?: unknown } | null)?.method === 'initialize' ? only : undefined;
}

/** SPEC §11: a connection's cancellations go to every instance, whichever has the requests they name. */
async function relay(runtime: McpRuntime, connectionId: string, cancellations: JSONRPCNotification[]) {
  for (const c of cancellations) await runtime.bus.publish('cancel', connectionId, c);
}

const jsonRpcError = (code: number, message: string) => ({
  jsonrpc: '2.0',
  error: { code, message },
  id: null,
});

/**
 * The handlers of `POST /mcp` in order: `checks`, whose refusals (a missing or
 * bad token, the rate limit) the app's error handler renders with their
 * challenge, then `handlers`, whose refusals `onError` renders as JSON-RPC;
 * `fallThrough` answers what none of them answered (the 405 of /mcp's last route).
 */
export interface McpPost {
  checks: RequestHandler[];
  handlers: RequestHandler[];
  onError: ErrorRequestHandler;
  fallThrough: RequestHandler;
}

/**
 * /mcp over stateless Streamable HTTP: any instance can serve any request
 * (SPEC §1 scale-out). Each connection's MCP server is built once and kept
 * (servers.ts); its POSTs reach it through a ConnectionTransport. `post` is
 * what the router runs for POST /mcp, for app.ts to run without the router.
 */
export function mcpEndpoint(
  s: Services,
  extraTools: RegisterTools[] = [],
  runtime?: McpRuntime,
): { router: Router; post: McpPost } {
  const localServer = (caller: McpCaller) => newLocalServer(caller, extraTools);
  const servers = new ConnectionServers(
    (caller, instructions) =>
      runtime?.gateway
        ? runtime.gateway.serverFor(caller, () => localServer(caller), runtime.streaming, instructions)
        : localServer(caller),
    (transport, connectionId) => (runtime ? runtime.relay.wrap(transport, connectionId) : transport),
    Boolean(runtime?.streaming),
    // SPEC §11: what a connection's server sends outside a request goes to the connection's stream.
    (connectionId, message) =>
      void runtime?.bus.publish('stream', connectionId, message).catch(() => undefined),
    (caller, server) => runtime?.gateway?.directFor(caller, server),
  );
  runtime?.onClose(() => servers.close());
  // SPEC §11: a cancellation POSTed on its own, for a request this instance answers.
  runtime?.bus.on('cancel', (connectionId, message) => servers.cancel(connectionId, message));
  const bearer = requireBearer(s);
  // SPEC §12: last used and the rate limit per connection (connection-policy.ts).
  const policy = connectionPolicy(s);
  const json = mcpJson(1024 * 1024);
  const serve = async (req: Request, res: Response) => {
    const caller = callerOf((req as Request & { auth?: AuthInfo }).auth);
    let body: unknown = req.body;
    let instructions: string | undefined;
    let cancellations: JSONRPCNotification[] = [];
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
      // SPEC §11: a cancellation reaches the request it names, on whichever instance and server has it.
      const found = cancellationsIn(body);
      cancellations = found.cancellations;
      if (found.alone) {
        await relay(runtime, caller.connection.id, cancellations);
        res.status(202).end();
        return;
      }
    }
    const initialize = initializeIn(body);
    if (runtime?.gateway && initialize) {
      instructions = await runtime.gateway.clientInitialized(caller, initialize);
    }
    const { transport } = await servers.for(caller, initialize ? { instructions } : undefined);
    const relayed = cancellations.length > 0;
    const served = transport.handle(req, res, body, (req as Request & { auth?: AuthInfo }).auth, relayed);
    // Beside other messages: once the POST is accepted (so a request of this very POST can be named too).
    if (served && relayed && runtime) {
      void relay(runtime, caller.connection.id, cancellations).catch((err) =>
        s.log.warn({ err: (err as Error).message }, 'a cancellation was not relayed'),
      );
    }
  };
  const onError: ErrorRequestHandler = (err, _req, res, next) => {
    const known = toWaxsealError(err);
    if (!known || known.status >= 500) return next(err);
    res.status(known.status).json(jsonRpcError(-32700, known.message));
  };
  const router = Router();
  router.all('/mcp', traceMcpRequest, bearer, policy);
  router.post('/mcp', json, serve, onError);
  // SPEC §11: the connection's own stream, for what upstreams send outside a request.
  if (runtime) router.get('/mcp', clientStream(s, runtime.streams));
  // Stateless: no session to delete.
  const notAllowed: RequestHandler = (_req, res) => {
    res
      .status(405)
      .set('Allow', runtime ? 'GET, POST' : 'POST')
      .json(jsonRpcError(-32000, 'Method not allowed'));
  };
  router.all('/mcp', notAllowed);
  return {
    router,
    post: {
      checks: [traceMcpRequest, bearer, policy],
      handlers: [json, serve],
      onError,
      fallThrough: notAllowed,
    },
  };
}

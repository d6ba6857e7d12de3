import type { RequestHandler } from 'express';
import type { McpPost } from './endpoint.js';

/**
 * `POST /mcp`, the request every MCP call is, served first and without the
 * router (issue 13: walking express's layers and matching /mcp's routes cost
 * some 5 % of a proxied call's CPU): the handlers the router runs for it, in
 * the same order and with express 5's rules (a throw or a rejection is an
 * error; `next('route')` leaves the current route), after the same metrics
 * and headers. A check's refusal goes on to the app's error handlers, a
 * later one to /mcp's JSON-RPC error handler; what falls through the POST
 * route reaches /mcp's last route, the 405. A path the router would also read
 * as /mcp (`/MCP`, `/mcp/`) takes the router, to the same handlers.
 */
export function mcpPostFirst(before: RequestHandler[], post: McpPost): RequestHandler {
  const handlers = [...before, ...post.checks, ...post.handlers];
  const checked = before.length + post.checks.length;
  return (req, res, out) => {
    if (req.method !== 'POST' || (req.url !== '/mcp' && !req.url.startsWith('/mcp?'))) return out();
    const fallThrough = () => post.fallThrough(req, res, out);
    const run = (k: number): void => {
      const handler = handlers[k];
      if (!handler) {
        fallThrough();
        return;
      }
      const next = (err?: unknown): void => {
        if (err === 'router') {
          out(new Error("next('router') is not supported on POST /mcp"));
        } else if (err === 'route') {
          if (k < checked) run(checked);
          else fallThrough();
        } else if (!err) {
          run(k + 1);
        } else if (k < checked) {
          out(err);
        } else {
          try {
            post.onError(err, req, res, (e?: unknown) => (e && e !== 'route' ? out(e) : fallThrough()));
          } catch (thrown) {
            out(thrown);
          }
        }
      };
      try {
        const returned = handler(req, res, next) as unknown;
        if (typeof (returned as Promise<unknown> | undefined)?.then === 'function') {
          (returned as Promise<unknown>).then(undefined, (e) => next(e || new Error('Rejected promise')));
        }
      } catch (thrown) {
        next(thrown);
      }
    };
    run(0);
  };
}

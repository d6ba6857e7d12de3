import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { McpPost } from './endpoint.js';

/** An error of a POST /mcp served before express (`dispatchFirst`), for the app's error handlers. */
const RAISED = Symbol('raised before express');
type Raised = Request & { [RAISED]?: unknown };

const isMcpPost = (req: { method?: string; url?: string }) =>
  req.method === 'POST' && (req.url === '/mcp' || Boolean(req.url?.startsWith('/mcp?')));

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
    if (RAISED in req) return out((req as Raised)[RAISED]);
    if (!isMcpPost(req)) return out();
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

/**
 * Serves POST /mcp before express's own dispatch as well (issue 13: `app.handle`
 * builds a final handler and its router parses the URL and walks its first
 * layer, some 3 % of a whoami's CPU). The request is set up as `app.handle`
 * sets it up (the circular references, express's prototypes, `res.locals`)
 * and given to `first`, the app's first layer (`mcpPostFirst`). An error it
 * passes on is raised again by that layer when express takes the request, so
 * the app's error handlers render it as before; every other request is
 * express's, untouched.
 */
export function dispatchFirst(app: Express, first: RequestHandler): void {
  type Handle = (req: Request, res: Response, callback?: NextFunction) => void;
  const handled = app as unknown as { handle: Handle; request: object; response: object };
  const routed = handled.handle;
  handled.handle = function handle(req, res, callback) {
    if (!isMcpPost(req)) return routed.call(this, req, res, callback);
    req.res = res;
    res.req = req;
    // Made by expressMessages' classes they have them already (a server of another's makes plain ones).
    if (Object.getPrototypeOf(req) !== handled.request) Object.setPrototypeOf(req, handled.request);
    if (Object.getPrototypeOf(res) !== handled.response) Object.setPrototypeOf(res, handled.response);
    res.locals ??= Object.create(null);
    first(req, res, (err?: unknown) => {
      (req as Raised)[RAISED] = err ?? new Error('POST /mcp was left unanswered');
      routed.call(this, req, res, callback);
    });
  };
}

/**
 * The request and response classes for `http.createServer`'s options
 * (server.ts), made once for `app`: each request and response is made with
 * express's prototypes in its chain, and `app.request` and `app.response`
 * become these classes' prototypes, so neither `app.handle` nor
 * `dispatchFirst` has a prototype to swap (issue 13). Swapping an
 * IncomingMessage's prototype for express's, as `app.handle` does on every
 * request, gave each request and response a V8 hidden class of its own: every
 * property access in Node's HTTP code, express and ours then missed its
 * inline cache and went to V8's runtime (475,000 load misses in 5,000
 * proxied calls, 26,000 with these classes; docs/benchmarks.md step 13).
 * Subclasses, because V8 caches the map of a derived class made with `new`,
 * not one made for a plain function as `new.target`.
 */
export function expressMessages(app: Express): {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
} {
  const prototypes = app as unknown as { request: object; response: object };
  class Request extends IncomingMessage {}
  class Response extends ServerResponse {}
  Object.setPrototypeOf(Request.prototype, prototypes.request);
  Object.setPrototypeOf(Response.prototype, prototypes.response);
  prototypes.request = Request.prototype;
  prototypes.response = Response.prototype;
  return {
    IncomingMessage: Request as unknown as typeof IncomingMessage,
    ServerResponse: Response as unknown as typeof ServerResponse,
  };
}

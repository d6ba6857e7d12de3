import express, {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { BadInput } from '../domain/errors.js';
import type { Services } from '../services/context.js';
import type { McpRuntime } from '../upstreams/runtime.js';
import { auditRouter } from './api/audit.js';
import { configRouter } from './api/config.js';
import { connectionToolsRouter } from './api/connection-tools.js';
import { lockoutsRouter } from './api/lockouts.js';
import { membersRouter } from './api/members.js';
import { openApiRouter } from './api/openapi.js';
import { apiRouter } from './api/router.js';
import { upstreamsRouter } from './api/upstreams.js';
import { errorRenderer } from './errors.js';
import { createMetrics, healthRouter } from './health.js';
import { abuseLimits } from './limits.js';
import { mcpEndpoint, type RegisterTools } from './mcp/endpoint.js';
import { dispatchFirst, mcpPostFirst } from './mcp/post-first.js';
import { toolCatalog } from './mcp/tool-catalog.js';
import { authorizeRouter } from './oauth/authorize.js';
import { introspectRouter } from './oauth/introspect.js';
import { metadataRouter } from './oauth/metadata.js';
import { registerRouter } from './oauth/register.js';
import { revokeRouter } from './oauth/revoke.js';
import { tokenRouter } from './oauth/token.js';
import { FAVICON_SVG } from './pages/favicon.js';
import { oidcRouter } from './pages/oidc.js';
import { oidcLogoutRouter } from './pages/oidc-logout.js';
import { setupRouter } from './pages/setup.js';
import { signinRouter } from './pages/signin.js';
import { STYLESHEET } from './pages/stylesheet.js';
import { scimRouter } from './scim/router.js';
import { webRouter } from './web.js';

/** Headers for every response: no framing (clickjacking on sign-in and consent), no sniffing, no referrer. */
function securityHeaders(s: Services) {
  const headers: Array<[string, string]> = [
    [
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ],
    ['X-Frame-Options', 'DENY'],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
  ];
  if (s.config.secureCookies)
    headers.push(['Strict-Transport-Security', 'max-age=31536000; includeSubDomains']);
  // Node's setHeader itself: none is a Content-Type, so express's res.set would only add its checks.
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/**
 * Express 5 decodes route parameters (`/api/mcp-connections/:id`, `/api/*path`)
 * with decodeURIComponent and passes its URIError on: a malformed escape such as
 * `%FF` or `%C0` is the client's mistake, so it becomes a 400 in the usual JSON
 * error shape, not a 500 with a stack in the log.
 */
function malformedEscapes(err: unknown, _req: Request, _res: Response, next: NextFunction): void {
  next(err instanceof URIError ? new BadInput('The request path has a malformed percent-escape') : err);
}

export function createApp(s: Services, options: { tools?: RegisterTools[]; mcp?: McpRuntime } = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a load balancer, X-Forwarded-For gives the client IP the sign-in limits count.
  app.set('trust proxy', s.config.trustProxyHops);
  const metrics = createMetrics(s);
  // Each route, method and status's labels made once (issue 13: prom-client's timer merged two
  // label objects and read the clock twice through process.hrtime, per request).
  const labels = new Map<string, { route: string; method: string; status: string }>();
  const labelsOf = (route: string, method: string, status: number) => {
    const key = `${status} ${method} ${route}`;
    let found = labels.get(key);
    if (!found) {
      found = { route, method, status: String(status) };
      labels.set(key, found);
    }
    return found;
  };
  const measured =
    (route?: string): RequestHandler =>
    (req, res, next) => {
      const started = performance.now();
      res.on('finish', () => {
        const seconds = (performance.now() - started) / 1000;
        metrics.requests.observe(
          labelsOf(route ?? req.route?.path ?? 'other', req.method, res.statusCode),
          seconds,
        );
      });
      next();
    };
  const headers = securityHeaders(s);
  const mcp = mcpEndpoint(s, options.tools, options.mcp);
  const mcpFirst = mcpPostFirst([measured('/mcp'), headers], mcp.post);
  // The app's first layer: POST /mcp, before express's dispatch too (dispatchFirst below).
  app.use(mcpFirst);
  app.use(measured());
  app.use(headers);
  app.get('/assets/waxseal.css', (_req, res) => {
    res.type('css').set('Cache-Control', 'public, max-age=3600').send(STYLESHEET);
  });
  app.get(['/favicon.svg', '/favicon.ico'], (_req, res) => {
    res.type('image/svg+xml').set('Cache-Control', 'public, max-age=86400').send(FAVICON_SVG);
  });
  // The busiest endpoints first, so they do not walk every other router: /mcp,
  // then /token behind its per-IP limit (abuseLimits precedes every endpoint it limits).
  app.use(mcp.router);
  app.use(abuseLimits(s));
  app.use(tokenRouter(s));
  app.use(healthRouter(s, metrics.registry, options.mcp?.report));
  app.use(metadataRouter(s));
  app.use(registerRouter(s));
  app.use(authorizeRouter(s));
  app.use(revokeRouter(s));
  app.use(introspectRouter(s, options.mcp?.upstreams));
  app.use(signinRouter(s));
  app.use(oidcRouter(s));
  app.use(oidcLogoutRouter(s));
  app.use(setupRouter(s));
  // SPEC §10 SCIM: its own bearer, body limit, 404 and RFC 7644 error JSON; nothing below sees /scim/v2.
  app.use('/scim/v2', scimRouter(s));
  // Before apiRouter, whose catch-all answers 404 for any other /api path.
  app.use(configRouter(s));
  app.use(membersRouter(s));
  app.use(lockoutsRouter(s));
  app.use(auditRouter(s));
  app.use(openApiRouter(s));
  app.use(upstreamsRouter(s, options.mcp?.report));
  app.use(connectionToolsRouter(s, toolCatalog(s, options.tools ?? [], options.mcp)));
  app.use(apiRouter(s));
  app.use(webRouter(s));
  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', error_description: `No route ${req.method} ${req.path}` });
  });
  app.use(malformedEscapes);
  app.use(errorRenderer(s));
  dispatchFirst(app, mcpFirst);
  return app;
}

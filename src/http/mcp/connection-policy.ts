import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { NextFunction, Request, Response } from 'express';
import type { Services } from '../../services/context.js';
import { clientIp } from '../support.js';
import type { CallerExtra } from './bearer.js';

/** An IPv4 client seen on a dual-stack socket ("::ffff:203.0.113.7") is shown as plain IPv4. */
function displayIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip;
}

/**
 * SPEC §12, per connection, after the bearer is resolved: the request is noted
 * for "last used" (in memory; services/last-used.ts writes it behind), and
 * counted against MCP_REQUESTS_PER_MINUTE_PER_CONNECTION when that is set
 * (services/request-budget.ts). Over the limit: 429 with Retry-After and a
 * JSON-RPC error. The client IP is Express's req.ip, which honours
 * TRUST_PROXY_HOPS ('trust proxy', http/app.ts).
 */
export function connectionPolicy(s: Services) {
  const budgets = s.budgets;
  // No proxy trusted: req.ip is the socket's address, without parsing X-Forwarded-For for nothing.
  const direct = s.config.trustProxyHops === 0;
  return (req: Request, res: Response, next: NextFunction) => {
    const extra = (req as Request & { auth?: AuthInfo }).auth?.extra as CallerExtra | undefined;
    if (!extra) return next();
    const ip = direct ? (req.socket.remoteAddress ?? 'unknown') : clientIp(req);
    s.lastUsed.record(extra.connectionId, displayIp(ip));
    if (!budgets) return next();
    const waited = budgets.take(extra.connectionId);
    if (waited === 0) return next();
    if (typeof waited === 'number') return refuse(res, waited, budgets.limit);
    waited.then((w) => (w === 0 ? next() : refuse(res, w, budgets.limit)), next);
  };
}

function refuse(res: Response, retryAfterSeconds: number, limit: number): void {
  res
    .status(429)
    .set('Retry-After', String(retryAfterSeconds))
    .json({
      jsonrpc: '2.0',
      error: {
        code: -32000,
        message: `Rate limit exceeded: this connection may make ${limit} requests a minute; retry in ${retryAfterSeconds} s`,
      },
      id: null,
    });
}

import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { BadInput, Forbidden, NotFound, Unauthenticated } from '../../domain/errors.js';
import { can, PERMISSIONS, type Permission, permissionsOf } from '../../domain/permissions.js';
import { listConnections, regenerateKey, revokeConnection } from '../../services/connections.js';
import type { Services } from '../../services/context.js';
import { sessionUser } from '../../services/sessions.js';
import type { User } from '../../services/users.js';
import { fromOwnOrigin } from '../origin.js';
import { cookies, SESSION_COOKIE } from '../support.js';

type ApiRequest = Request & { user?: User };

const listQuery = z.object({
  status: z.enum(['active', 'revoked']).optional(),
  q: z.string().max(200, 'must be at most 200 characters').optional(),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be 1-100')
    .max(100, 'must be 1-100')
    .default(25),
  cursor: z.string().max(200).optional(),
});

function encodeCursor(c: { connectedAt: number; id: string }): string {
  return Buffer.from(JSON.stringify([c.connectedAt, c.id])).toString('base64url');
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function decodeCursor(value: string): { connectedAt: number; id: string } {
  try {
    const [connectedAt, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown[];
    // Only what encodeCursor makes: a whole, non-negative millisecond time (the
    // column is BIGINT; 1.5 or 1e30 would fail in PostgreSQL) and an id.
    if (
      Number.isSafeInteger(connectedAt) &&
      (connectedAt as number) >= 0 &&
      typeof id === 'string' &&
      ID.test(id)
    ) {
      return { connectedAt: connectedAt as number, id };
    }
  } catch {
    // fall through to the error below
  }
  throw new BadInput('cursor: is not a cursor this API returned');
}

/** SPEC §7 admin API, authenticated by the dashboard session cookie. */
export function apiRouter(s: Services): Router {
  const router = Router();
  router.use('/api', express.json({ limit: '16kb' }));

  const authenticated = async (req: ApiRequest, _res: Response, next: NextFunction) => {
    const user = await sessionUser(s, cookies(req)[SESSION_COOKIE]);
    if (!user) return next(new Unauthenticated());
    req.user = user;
    next();
  };
  const allowed = (permission: Permission) => (req: ApiRequest, _res: Response, next: NextFunction) =>
    next(req.user && can(req.user.role, permission) ? undefined : new Forbidden());
  // SPEC §7: every state change must come from the dashboard's own origin.
  const sameOrigin = (req: Request, _res: Response, next: NextFunction) =>
    next(fromOwnOrigin(s, req) ? undefined : new Forbidden('Cross-site requests are refused'));
  const connectionId = (req: Request): string => {
    const id = String(req.params.id);
    if (!ID.test(id)) throw new NotFound(`No connection with id ${id.slice(0, 64)}`);
    return id;
  };

  router.get('/api/me', authenticated, (req: ApiRequest, res) => {
    const user = req.user as User;
    res.json({ email: user.email, role: user.role, permissions: permissionsOf(user.role) });
  });

  router.get(
    '/api/mcp-connections',
    authenticated,
    allowed(PERMISSIONS.MCP_CONNECTIONS_READ),
    async (req: ApiRequest, res) => {
      const parsed = listQuery.safeParse(req.query);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new BadInput(`${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}`);
      }
      const { status, q, limit, cursor } = parsed.data;
      const page = await listConnections(s, {
        status,
        q: q?.trim() || undefined,
        limit,
        cursor: cursor ? decodeCursor(cursor) : undefined,
      });
      res.json({
        total: page.total,
        items: page.items,
        nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
      });
    },
  );

  router.post(
    '/api/mcp-connections/:id/revoke',
    sameOrigin,
    authenticated,
    allowed(PERMISSIONS.MCP_CONNECTIONS_REVOKE),
    async (req: ApiRequest, res) => {
      res.json(await revokeConnection(s, connectionId(req), { label: (req.user as User).email }));
    },
  );

  router.post(
    '/api/mcp-connections/:id/regenerate-key',
    sameOrigin,
    authenticated,
    allowed(PERMISSIONS.MCP_CONNECTIONS_REVOKE),
    async (req: ApiRequest, res) => {
      res.json(await regenerateKey(s, connectionId(req), { label: (req.user as User).email }));
    },
  );

  router.all('/api/*path', (req, _res, next) => next(new NotFound(`No API route ${req.method} ${req.path}`)));
  return router;
}

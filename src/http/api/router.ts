import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { BadInput, NotFound } from '../../domain/errors.js';
import { PERMISSIONS, permissionsOf } from '../../domain/permissions.js';
import {
  listConnections,
  regenerateKey,
  revokeAllOfUser,
  revokeConnection,
} from '../../services/connections.js';
import type { Services } from '../../services/context.js';
import { type ApiRequest, allowed, authenticated, parse, sameOrigin, signedInUser } from './guards.js';

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

const revokeAll = z.object(
  {
    userEmail: z
      .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
      .max(254, 'must be at most 254 characters')
      .regex(/^\s*[^\s@]+@[^\s@]+\.[^\s@]+\s*$/, 'must be an email address'),
  },
  { error: 'must be a JSON object sent with Content-Type: application/json' },
);

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

  const signedIn = authenticated(s);
  const ownOrigin = sameOrigin(s);
  const connectionId = (req: Request): string => {
    const id = String(req.params.id);
    if (!ID.test(id)) throw new NotFound(`No connection with id ${id.slice(0, 64)}`);
    return id;
  };

  router.get('/api/me', signedIn, (req: ApiRequest, res) => {
    const user = signedInUser(req);
    res.json({ email: user.email, role: user.role, permissions: permissionsOf(user.role) });
  });

  router.get(
    '/api/mcp-connections',
    signedIn,
    allowed(PERMISSIONS.MCP_CONNECTIONS_READ),
    async (req: ApiRequest, res) => {
      const { status, q, limit, cursor } = parse(listQuery, req.query, 'query');
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
    '/api/mcp-connections/revoke-all',
    ownOrigin,
    signedIn,
    allowed(PERMISSIONS.MCP_CONNECTIONS_REVOKE),
    async (req: ApiRequest, res) => {
      const { userEmail } = parse(revokeAll, req.body);
      res.json({ revoked: await revokeAllOfUser(s, userEmail, { label: signedInUser(req).email }) });
    },
  );

  router.post(
    '/api/mcp-connections/:id/revoke',
    ownOrigin,
    signedIn,
    allowed(PERMISSIONS.MCP_CONNECTIONS_REVOKE),
    async (req: ApiRequest, res) => {
      res.json(await revokeConnection(s, connectionId(req), { label: signedInUser(req).email }));
    },
  );

  router.post(
    '/api/mcp-connections/:id/regenerate-key',
    ownOrigin,
    signedIn,
    allowed(PERMISSIONS.MCP_CONNECTIONS_REVOKE),
    async (req: ApiRequest, res) => {
      res.json(await regenerateKey(s, connectionId(req), { label: signedInUser(req).email }));
    },
  );

  router.all('/api/*path', (req, _res, next) => next(new NotFound(`No API route ${req.method} ${req.path}`)));
  return router;
}

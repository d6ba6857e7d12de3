import { Router } from 'express';
import { z } from 'zod';
import { PERMISSIONS } from '../../domain/permissions.js';
import { listAuditEvents } from '../../services/audit-events.js';
import type { Services } from '../../services/context.js';
import { allowed, authenticated, parse } from './guards.js';

const query = z.object({
  connectionId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a connection id')
    .optional(),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be 1-100')
    .max(100, 'must be 1-100')
    .default(50),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'is not a cursor this API returned')
    .optional(),
});

/** GET /api/audit-events (issue #6): the audit log, newest first, read-only. */
export function auditRouter(s: Services): Router {
  const router = Router();
  router.get(
    '/api/audit-events',
    authenticated(s),
    allowed(PERMISSIONS.MCP_CONNECTIONS_READ),
    async (req, res) => {
      const q = parse(query, req.query, 'query');
      const page = await listAuditEvents(s, {
        connectionId: q.connectionId,
        limit: q.limit,
        before: q.cursor === undefined ? undefined : Number(q.cursor),
      });
      res.json({
        items: page.items,
        nextCursor: page.nextBefore === null ? null : String(page.nextBefore),
      });
    },
  );
  return router;
}

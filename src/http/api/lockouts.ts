import express, { Router } from 'express';
import { z } from 'zod';
import { PERMISSIONS } from '../../domain/permissions.js';
import type { Services } from '../../services/context.js';
import { listLockouts, unlock } from '../../services/lockouts.js';
import { type ApiRequest, allowed, authenticated, parse, sameOrigin, signedInUser } from './guards.js';

const unlockBody = z
  .object(
    {
      email: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(254).optional(),
      ip: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(64).optional(),
    },
    { error: 'must be a JSON object sent with Content-Type: application/json' },
  )
  .strict();

/**
 * Sign-in lock-outs (issue #6): owners see which accounts and IPs are locked
 * after too many failed sign-ins and lift a lock-out early.
 */
export function lockoutsRouter(s: Services): Router {
  const router = Router();
  const owner = [authenticated(s), allowed(PERMISSIONS.MEMBERS_MANAGE)];

  router.get('/api/lockouts', ...owner, async (_req, res) => {
    res.json({ items: await listLockouts(s) });
  });

  router.post(
    '/api/lockouts/unlock',
    sameOrigin(s),
    ...owner,
    express.json({ limit: '4kb' }),
    async (req: ApiRequest, res) => {
      const target = parse(unlockBody, req.body);
      res.json({ unlocked: await unlock(s, target, signedInUser(req).email) });
    },
  );

  return router;
}

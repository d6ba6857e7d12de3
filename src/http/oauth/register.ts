import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { InvalidClientMetadata } from '../../domain/errors.js';
import { registerClient } from '../../services/clients.js';
import type { Services } from '../../services/context.js';
import { toWaxsealError } from '../errors.js';

/** RFC 7591 dynamic client registration. */
export function registerRouter(s: Services): Router {
  const router = Router();
  router.post(
    '/register',
    express.json({ limit: '64kb' }),
    async (req: Request, res: Response) => {
      if (!req.is('application/json')) {
        throw new InvalidClientMetadata('The request body must be application/json');
      }
      const body = await registerClient(s, req.body);
      res.status(201).set('Cache-Control', 'no-store').set('Pragma', 'no-cache').json(body);
    },
    // RFC 7591 §3.2.2: a body that is not valid JSON is invalid client metadata.
    (err: unknown, _req: Request, _res: Response, next: NextFunction) => {
      const known = toWaxsealError(err);
      if (known && known.status === 400 && known.code === 'invalid_request') {
        return next(new InvalidClientMetadata('The request body is not valid JSON'));
      }
      next(err);
    },
  );
  return router;
}

import { type NextFunction, type Request, type Response, Router } from 'express';
import { HOUR, MINUTE } from '../domain/clock.js';
import { TooManyRequests } from '../domain/errors.js';
import type { Services } from '../services/context.js';
import { consume } from '../services/rate-limit.js';
import { clientIp } from './support.js';

/** A 429 that says when to come back (RFC 6585 §4, RFC 9110 §10.2.3 Retry-After). */
export class RateLimited extends TooManyRequests {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many requests from this address; try again in ${retryAfterSeconds} s`);
  }
}

/**
 * Per-IP limits on the open OAuth endpoints (issue #6), counted in the shared
 * database so every instance enforces one budget. Mounted before the endpoints;
 * a request over the limit never reaches them and is answered as OAuth JSON
 * with Retry-After.
 */
export function abuseLimits(s: Services): Router {
  const router = Router();
  const limit =
    (name: string, max: number, windowMs: number) =>
    async (req: Request, _res: Response, next: NextFunction) => {
      const allowance = await consume(s, `${name}:ip:${clientIp(req)}`, max, windowMs);
      next(allowance.allowed ? undefined : new RateLimited(allowance.retryAfterSeconds));
    };
  const { registerPerHour, tokenPerMinute, authorizePerMinute } = s.config.limits;
  router.post('/register', limit('register', registerPerHour, HOUR));
  router.post('/token', limit('token', tokenPerMinute, MINUTE));
  router.get('/authorize', limit('authorize', authorizePerMinute, MINUTE));
  return router;
}

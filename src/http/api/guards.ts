import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { BadInput, Forbidden, Unauthenticated } from '../../domain/errors.js';
import { can, type Permission } from '../../domain/permissions.js';
import type { Services } from '../../services/context.js';
import { sessionUser } from '../../services/sessions.js';
import type { User } from '../../services/users.js';
import { fromOwnOrigin } from '../origin.js';
import { cookies, SESSION_COOKIE } from '../support.js';

/** Steps shared by the admin API's routers (SPEC §7): session, permission, same origin, input. */
export type ApiRequest = Request & { user?: User };

export function signedInUser(req: ApiRequest): User {
  if (!req.user) throw new Unauthenticated();
  return req.user;
}

/** 401 without a dashboard session. */
export function authenticated(s: Services) {
  return async (req: ApiRequest, _res: Response, next: NextFunction) => {
    const user = await sessionUser(s, cookies(req)[SESSION_COOKIE]);
    if (!user) return next(new Unauthenticated());
    req.user = user;
    next();
  };
}

/** 403 without the permission; the server enforces it, the UI only mirrors it (SPEC §5). */
export function allowed(permission: Permission) {
  return (req: ApiRequest, _res: Response, next: NextFunction) =>
    next(req.user && can(req.user.role, permission) ? undefined : new Forbidden());
}

/** SPEC §7: every state change must come from the dashboard's own origin. */
export function sameOrigin(s: Services) {
  return (req: Request, _res: Response, next: NextFunction) =>
    next(fromOwnOrigin(s, req) ? undefined : new Forbidden('Cross-site requests are refused'));
}

/** Parses input with a zod schema; a failure is a 400 whose message names the field. */
export function parse<T extends z.ZodType>(schema: T, input: unknown, where = 'body'): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new BadInput(`${issue?.path.join('.') || where}: ${issue?.message ?? 'invalid'}`);
}

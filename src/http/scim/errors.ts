import type { NextFunction, Request, Response } from 'express';
import { BadInput, Unavailable, type WaxsealError } from '../../domain/errors.js';
import { ScimError, type ScimType, uniqueness } from '../../domain/scim-errors.js';
import type { Services } from '../../services/context.js';
import { isRetryable, isUniqueViolation } from '../../store/db.js';
import { toWaxsealError } from '../errors.js';
import { URN } from './resources.js';

/** A missing, wrong or revoked SCIM bearer token (RFC 7644 §2, RFC 6750 §3). */
export class ScimUnauthorized extends ScimError {
  constructor(readonly tokenGiven: boolean) {
    super(401, undefined, 'A valid SCIM bearer token is required (waxseal scim-token create)');
  }
}

export const SCIM_JSON = 'application/scim+json';

/** The scimType a non-SCIM error gets: bad input is invalidValue, a body that is not JSON invalidSyntax. */
function scimTypeOf(err: { status: number }, original: unknown): ScimType | undefined {
  if (err instanceof ScimError) return err.scimType;
  if (original instanceof URIError) return 'invalidPath';
  if (err instanceof BadInput) return 'invalidValue';
  if (err.status === 400) return 'invalidSyntax';
  return undefined;
}

/** What an error thrown under /scim/v2 is, as a typed error; null for the unforeseen. */
function classify(err: unknown): WaxsealError | null {
  if (err instanceof URIError) return new BadInput('The request path has a malformed percent-escape');
  // Two requests made the same userName, displayName or membership at once: the loser hears so.
  if (isUniqueViolation(err)) return uniqueness('That resource was just created by another request');
  // Two IdP requests on the same people at once, one chosen by PostgreSQL to yield: a 503 the IdP retries.
  if (isRetryable(err)) return new Unavailable('Another change to the same users is in progress; try again');
  return toWaxsealError(err);
}

/**
 * Every error under /scim/v2 as RFC 7644 §3.12 error JSON with the right
 * status: SCIM errors as thrown, the services' typed errors by their status,
 * body-parser failures (413, 400 invalidSyntax), a malformed percent-escape
 * (400). Only the unforeseen is a 500, logged.
 */
export function scimErrorRenderer(s: Services) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    const known = classify(err);
    if (!known) s.log.error({ err, path: req.path }, 'unhandled error');
    const status = known?.status ?? 500;
    const scimType = known ? scimTypeOf(known, err) : undefined;
    if (err instanceof ScimUnauthorized) {
      res.set(
        'WWW-Authenticate',
        err.tokenGiven ? 'Bearer realm="waxseal-scim", error="invalid_token"' : 'Bearer realm="waxseal-scim"',
      );
    }
    if (status === 503) res.set('Retry-After', '2');
    res
      .status(status)
      .type(SCIM_JSON)
      .set('Cache-Control', 'no-store')
      .json({
        schemas: [URN.error],
        status: String(status),
        ...(scimType ? { scimType } : {}),
        detail: known?.message ?? 'Something went wrong on our side',
      });
  };
}

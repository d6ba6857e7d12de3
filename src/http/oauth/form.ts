import express, { type Request, type RequestHandler } from 'express';
import { InvalidRequest } from '../../domain/errors.js';

/** The urlencoded body parser of every OAuth endpoint: flat names (no a[b]=c), small bodies. */
export const formBody: RequestHandler = express.urlencoded({
  extended: false,
  limit: '16kb',
  parameterLimit: 50,
});

/** The parameters of one OAuth request, each given at most once. */
export interface OAuthForm {
  /** A parameter's value; absent or empty is undefined (RFC 6749 §3.1: "treated as if omitted"). */
  get(name: string): string | undefined;
  /** A parameter the request cannot do without: absent or empty → invalid_request. */
  require(name: string): string;
}

/**
 * The one reader of OAuth form bodies (/token, /revoke, /introspect, the
 * consent form's POST). RFC 6749 §3.1: "Request and response parameters MUST
 * NOT be included more than once" — so a repeated parameter, whichever it is,
 * fails the whole request with invalid_request rather than one occurrence
 * being picked.
 */
export function readForm(req: Request): OAuthForm {
  if (!req.is('application/x-www-form-urlencoded')) {
    throw new InvalidRequest('The request body must be application/x-www-form-urlencoded');
  }
  const body = (req.body ?? {}) as Record<string, unknown>;
  const values = new Map<string, string>();
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string') {
      throw new InvalidRequest(`${name.slice(0, 50)} must be given once`);
    }
    if (value !== '') values.set(name, value);
  }
  return {
    get: (name) => values.get(name),
    require(name) {
      const value = values.get(name);
      if (value === undefined) throw new InvalidRequest(`${name} is required`);
      return value;
    },
  };
}

import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { InvalidRequest, UnsupportedGrantType } from '../../domain/errors.js';
import { authenticateClient } from '../../services/clients.js';
import { exchangeCode } from '../../services/code-grant.js';
import type { Services } from '../../services/context.js';
import { refresh } from '../../services/refresh.js';
import { presentedCredentials } from './client-auth.js';

export const tokenForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 });

/** Every parameter at most once (RFC 6749 §3.2); returns it or undefined. */
function param(req: Request, name: string): string | undefined {
  const value = (req.body as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidRequest(`${name} must be given once`);
  return value;
}

function required(req: Request, name: string): string {
  const value = param(req, name);
  if (!value) throw new InvalidRequest(`${name} is required`);
  return value;
}

/** Rejects anything but a form-encoded POST body before the handler runs. */
export function requireForm(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is('application/x-www-form-urlencoded')) {
    next(new InvalidRequest('The request body must be application/x-www-form-urlencoded'));
    return;
  }
  next();
}

/** POST /token (OAuth 2.1 §3.2): authorization_code with PKCE, refresh_token with rotation. */
export function tokenRouter(s: Services): Router {
  const router = Router();
  router.post('/token', tokenForm, requireForm, async (req, res) => {
    // RFC 6749 §5.1: token responses are never cached.
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    const grantType = param(req, 'grant_type');
    if (!grantType) throw new InvalidRequest('grant_type is required');
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new UnsupportedGrantType(`grant_type ${grantType.slice(0, 50)} is not supported`);
    }
    const client = await authenticateClient(s, presentedCredentials(req));
    if (grantType === 'authorization_code') {
      const code = required(req, 'code');
      const codeVerifier = required(req, 'code_verifier');
      if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(codeVerifier)) {
        throw new InvalidRequest(
          'code_verifier must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)',
        );
      }
      const tokens = await exchangeCode(s, client, {
        code,
        codeVerifier,
        redirectUri: param(req, 'redirect_uri'),
        resource: param(req, 'resource'),
      });
      return res.json(tokens);
    }
    const tokens = await refresh(s, client, {
      refreshToken: required(req, 'refresh_token'),
      scope: param(req, 'scope'),
      resource: param(req, 'resource'),
    });
    res.json(tokens);
  });
  return router;
}

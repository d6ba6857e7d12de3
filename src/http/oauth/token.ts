import { Router } from 'express';
import { InvalidRequest, UnsupportedGrantType } from '../../domain/errors.js';
import { authenticateClient } from '../../services/clients.js';
import { exchangeCode } from '../../services/code-grant.js';
import type { Services } from '../../services/context.js';
import { refresh } from '../../services/refresh.js';
import { presentedCredentials } from './client-auth.js';
import { formBody, readForm } from './form.js';

/** POST /token (OAuth 2.1 §3.2): authorization_code with PKCE, refresh_token with rotation. */
export function tokenRouter(s: Services): Router {
  const router = Router();
  router.post('/token', formBody, async (req, res) => {
    // RFC 6749 §5.1: token responses are never cached.
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    const form = readForm(req);
    const grantType = form.require('grant_type');
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new UnsupportedGrantType(`grant_type ${grantType.slice(0, 50)} is not supported`);
    }
    const client = await authenticateClient(s, presentedCredentials(req, form));
    if (grantType === 'authorization_code') {
      const code = form.require('code');
      const codeVerifier = form.require('code_verifier');
      if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(codeVerifier)) {
        throw new InvalidRequest(
          'code_verifier must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)',
        );
      }
      const tokens = await exchangeCode(s, client, {
        code,
        codeVerifier,
        redirectUri: form.get('redirect_uri'),
        resource: form.get('resource'),
      });
      return res.json(tokens);
    }
    const tokens = await refresh(s, client, {
      refreshToken: form.require('refresh_token'),
      scope: form.get('scope'),
      resource: form.get('resource'),
    });
    res.json(tokens);
  });
  return router;
}

import express, { Router } from 'express';
import type { Services } from '../../services/context.js';
import { backchannelLogout, InvalidLogoutToken } from '../../services/oidc-logout.js';
import { clientIp, formString } from '../support.js';

/** A logout token is one compact JWS; anything longer is not one the IdP sent. */
const MAX_TOKEN_LENGTH = 8_000;

/**
 * SPEC §10: OpenID Connect Back-Channel Logout 1.0 at PUBLIC_URL/signin/oidc/backchannel-logout.
 * The IdP posts `logout_token` server to server (no browser, no cookie, no Origin),
 * so there is no same-origin check: the token's signature is the authentication.
 * Without OIDC the route does not exist (the catch-all 404).
 */
export function oidcLogoutRouter(s: Services): Router {
  const router = Router();
  const idp = s.idp;
  if (!idp) return router;

  router.post(
    '/signin/oidc/backchannel-logout',
    express.urlencoded({ extended: false, limit: '16kb' }),
    async (req, res) => {
      // §2.8: the answer must not be cached, whether it is a success or an error.
      res.set('Cache-Control', 'no-store');
      const token = formString(req.body, 'logout_token');
      if (!token || token.length > MAX_TOKEN_LENGTH)
        throw new InvalidLogoutToken('Send logout_token as application/x-www-form-urlencoded');
      const ended = await backchannelLogout(s, idp, token, clientIp(req));
      s.log.info({ sessions: ended }, 'back-channel logout from the IdP');
      res.status(200).end();
    },
  );

  return router;
}

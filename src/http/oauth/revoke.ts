import { Router } from 'express';
import { InvalidRequest } from '../../domain/errors.js';
import { authenticateClient } from '../../services/clients.js';
import type { Services } from '../../services/context.js';
import { revokeToken } from '../../services/token-revocation.js';
import { formString } from '../support.js';
import { presentedCredentials } from './client-auth.js';
import { requireForm, tokenForm } from './token.js';

/** POST /revoke (RFC 7009): 200 for any token the client may revoke, known or not. */
export function revokeRouter(s: Services): Router {
  const router = Router();
  router.post('/revoke', tokenForm, requireForm, async (req, res) => {
    const token = formString(req.body, 'token');
    if (!token) throw new InvalidRequest('token is required');
    const client = await authenticateClient(s, presentedCredentials(req));
    await revokeToken(s, client, token);
    res.set('Cache-Control', 'no-store').status(200).end();
  });
  return router;
}

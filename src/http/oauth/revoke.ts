import { Router } from 'express';
import { authenticateClient } from '../../services/clients.js';
import type { Services } from '../../services/context.js';
import { revokeToken } from '../../services/token-revocation.js';
import { presentedCredentials } from './client-auth.js';
import { formBody, readForm } from './form.js';

/** POST /revoke (RFC 7009): 200 for any token the client may revoke, known or not. */
export function revokeRouter(s: Services): Router {
  const router = Router();
  router.post('/revoke', formBody, async (req, res) => {
    const form = readForm(req);
    const token = form.require('token');
    const client = await authenticateClient(s, presentedCredentials(req, form));
    await revokeToken(s, client, token);
    res.set('Cache-Control', 'no-store').status(200).end();
  });
  return router;
}

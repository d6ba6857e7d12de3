import { type Request, Router } from 'express';
import { InvalidClient, NotFound } from '../../domain/errors.js';
import { safeEqual } from '../../domain/secrets.js';
import { resolveBearer } from '../../services/bearer.js';
import type { Services } from '../../services/context.js';
import { basicCredentials } from './basic-auth.js';
import { formBody, readForm } from './form.js';

/** The secret the caller presented: `Bearer <secret>`, or Basic with any user name and the secret as password. */
function presentedSecret(req: Request): string | undefined {
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer +(\S+) *$/i.exec(header);
  if (bearer) return bearer[1];
  return basicCredentials(header)?.secret;
}

/**
 * POST /introspect (RFC 7662, SPEC §9): an upstream asks whether a credential
 * it received — a connection's API key, or an access token — is active, and
 * for whom. The caller authenticates with INTROSPECTION_SECRET (compared in
 * constant time). A revoked connection, a replaced key, an expired or unknown
 * token are all just `{"active": false}` (§2.2).
 */
export function introspectRouter(s: Services): Router {
  const router = Router();
  const expected = s.config.introspectionSecret;
  router.post('/introspect', formBody, async (req, res) => {
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    const form = readForm(req);
    if (!expected)
      throw new NotFound('Introspection is not enabled on this server (set INTROSPECTION_SECRET)');
    const presented = presentedSecret(req);
    if (presented === undefined || !safeEqual(presented, expected)) {
      // RFC 7662 §2.3: the protected resource failed to authenticate.
      res.set('WWW-Authenticate', 'Basic realm="waxseal introspection"');
      throw new InvalidClient('Introspection requires the introspection secret (Basic or Bearer)');
    }
    const token = form.require('token');
    const found = await resolveBearer(s, token);
    if (!found || found.token.resource !== s.config.mcpUrl) return void res.json({ active: false });
    const { token: t, connection: c } = found;
    res.json({
      active: true,
      token_type: 'Bearer',
      token_kind: t.kind,
      scope: t.scopes.join(' '),
      ...(t.expiresAt !== null ? { exp: Math.floor(t.expiresAt / 1000) } : {}),
      iss: s.config.publicUrl,
      aud: t.resource,
      sub: c.userId,
      username: c.userEmail,
      email: c.userEmail,
      role: c.role,
      connection_id: c.id,
      client_name: c.clientName,
      api_key_prefix: c.apiKeyPrefix,
    });
  });
  return router;
}

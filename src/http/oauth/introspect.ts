import { createHash, timingSafeEqual } from 'node:crypto';
import { type Request, Router } from 'express';
import { InvalidClient, InvalidRequest, NotFound } from '../../domain/errors.js';
import { resolveBearer } from '../../services/bearer.js';
import type { Services } from '../../services/context.js';
import { formString } from '../support.js';
import { requireForm, tokenForm } from './token.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The secret the caller presented: `Bearer <secret>`, or Basic with any user name and the secret as password. */
function presentedSecret(req: Request): string | undefined {
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer +(\S+) *$/i.exec(header);
  if (bearer) return bearer[1];
  if (!/^Basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
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
  const expected = s.config.introspectionSecret ? digest(s.config.introspectionSecret) : null;
  router.post('/introspect', tokenForm, requireForm, async (req, res) => {
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    if (!expected)
      throw new NotFound('Introspection is not enabled on this server (set INTROSPECTION_SECRET)');
    const presented = presentedSecret(req);
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      // RFC 7662 §2.3: the protected resource failed to authenticate.
      res.set('WWW-Authenticate', 'Basic realm="waxseal introspection"');
      throw new InvalidClient('Introspection requires the introspection secret (Basic or Bearer)');
    }
    const token = formString(req.body, 'token');
    if (!token) throw new InvalidRequest('token is required');
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

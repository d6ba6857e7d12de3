import { type Request, Router } from 'express';
import type { ConnectionEntry } from '../../cache/token-cache.js';
import { InvalidClient, NotFound } from '../../domain/errors.js';
import { safeEqual } from '../../domain/secrets.js';
import { resolveBearer } from '../../services/bearer.js';
import type { Services } from '../../services/context.js';
import { UpstreamKeyDirectory } from '../../upstreams/bound-keys.js';
import type { UpstreamDefinition } from '../../upstreams/config.js';
import { basicCredentials } from './basic-auth.js';
import { formBody, readForm } from './form.js';

/** The secret the caller presented: `Bearer <secret>`, or Basic with any user name and the secret as password. */
function presentedSecret(req: Request): string | undefined {
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer +(\S+) *$/i.exec(header);
  if (bearer) return bearer[1];
  return basicCredentials(header)?.secret;
}

/** Who may introspect: the holder of INTROSPECTION_SECRET (upstream null) or one upstream, by its own secret. */
interface Asker {
  secret: string;
  upstream: string | null;
}

function askers(s: Services, upstreams: readonly UpstreamDefinition[]): Asker[] {
  const out: Asker[] = [];
  if (s.config.introspectionSecret) out.push({ secret: s.config.introspectionSecret, upstream: null });
  for (const u of upstreams) {
    if (u.introspectionSecret) out.push({ secret: u.introspectionSecret, upstream: u.name });
  }
  return out;
}

/** The asker whose secret was presented, compared in constant time against every secret. */
function authenticate(all: readonly Asker[], presented: string | undefined): Asker | undefined {
  if (presented === undefined) return undefined;
  let match: Asker | undefined;
  for (const asker of all) if (safeEqual(presented, asker.secret) && !match) match = asker;
  return match;
}

interface Credential {
  kind: 'access_token' | 'api_key';
  scopes: string[];
  resource: string;
  expiresAt: number | null;
}

function active(s: Services, t: Credential, c: ConnectionEntry, upstream?: string) {
  return {
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
    ...(upstream === undefined ? {} : { upstream }),
  };
}

/**
 * POST /introspect (RFC 7662, SPEC §9): an upstream asks whether a key it
 * received is active, and for whom. It authenticates with its own
 * `introspectionSecret` (WAXSEAL_CONFIG) and is then told `active` only for
 * keys bound to it; anything else — another upstream's key, the connection's
 * own API key, an access token — is `{"active": false}`. The holder of
 * INTROSPECTION_SECRET is trusted with every answer: a bound key is active
 * with its `upstream` named, and the connection's API key (what library tool
 * handlers hold) and access tokens are active too. A revoked connection, a
 * replaced key, an expired or unknown token are all just inactive (§2.2).
 */
export function introspectRouter(s: Services, upstreams: readonly UpstreamDefinition[] = []): Router {
  const router = Router();
  const all = askers(s, upstreams);
  const boundKeys = new UpstreamKeyDirectory(s);
  router.post('/introspect', formBody, async (req, res) => {
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    const form = readForm(req);
    if (all.length === 0) {
      throw new NotFound(
        'Introspection is not enabled on this server (set INTROSPECTION_SECRET or an introspectionSecret)',
      );
    }
    const asker = authenticate(all, presentedSecret(req));
    if (!asker) {
      // RFC 7662 §2.3: the protected resource failed to authenticate.
      res.set('WWW-Authenticate', 'Basic realm="waxseal introspection"');
      throw new InvalidClient('Introspection requires the introspection secret (Basic or Bearer)');
    }
    const token = form.require('token');
    const bound = await boundKeys.find(token);
    if (bound) {
      if (asker.upstream !== null && asker.upstream !== bound.upstream)
        return void res.json({ active: false });
      const key = {
        kind: 'api_key' as const,
        scopes: bound.scopes,
        resource: bound.resource,
        expiresAt: null,
      };
      return void res.json(active(s, key, bound.connection, bound.upstream));
    }
    if (asker.upstream !== null) return void res.json({ active: false });
    const found = await resolveBearer(s, token);
    if (!found || found.token.resource !== s.config.mcpUrl) return void res.json({ active: false });
    res.json(active(s, found.token, found.connection));
  });
  return router;
}

import { z } from 'zod';
import { AUTH_METHODS, type AuthMethod, type Client } from '../domain/clients.js';
import { InvalidClient, InvalidClientMetadata, InvalidRedirectUri } from '../domain/errors.js';
import { redirectUriProblem } from '../domain/redirect-uris.js';
import { KNOWN_SCOPES } from '../domain/scopes.js';
import { newToken, safeEqual, sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import { prepared } from '../store/prepared.js';
import { ClientMetadataError, clientFromMetadataDocument, isMetadataDocumentUrl } from './client-metadata.js';
import { newId, type Services } from './context.js';

export { AUTH_METHODS, type AuthMethod, type Client } from '../domain/clients.js';

/** RFC 7591 §2 client metadata, as far as Waxseal uses it. Unknown fields are kept as given. */
const registration = z
  .object({
    redirect_uris: z.array(z.string()).min(1, 'redirect_uris must list at least one URI').max(20),
    client_name: z.string().max(200, 'client_name is longer than 200 characters').optional(),
    token_endpoint_auth_method: z.enum(AUTH_METHODS).optional(),
    grant_types: z.array(z.enum(['authorization_code', 'refresh_token'])).optional(),
    response_types: z.array(z.literal('code')).optional(),
    scope: z.string().max(1000).optional(),
  })
  .passthrough();

/** RFC 7591 dynamic registration. Returns the response body (with the secret, shown once). */
export async function registerClient(s: Services, body: unknown): Promise<Record<string, unknown>> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidClientMetadata('The request body must be a JSON object of client metadata');
  }
  if (!Array.isArray((body as Record<string, unknown>).redirect_uris)) {
    throw new InvalidRedirectUri('redirect_uris is required and must be an array of URIs');
  }
  const parsed = registration.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'metadata';
    const Err = field.startsWith('redirect_uris') ? InvalidRedirectUri : InvalidClientMetadata;
    throw new Err(`${field}: ${issue?.message ?? 'invalid'}`);
  }
  const meta = parsed.data;
  for (const uri of meta.redirect_uris) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new InvalidRedirectUri(`redirect_uri ${JSON.stringify(uri.slice(0, 200))} ${problem}`);
  }
  const unknownScope = (meta.scope ?? '')
    .split(' ')
    .filter(Boolean)
    .find((sc) => !(KNOWN_SCOPES as readonly string[]).includes(sc));
  if (unknownScope) throw new InvalidClientMetadata(`scope: unknown scope ${JSON.stringify(unknownScope)}`);
  // RFC 7591 §2: the default method is client_secret_basic.
  const authMethod: AuthMethod = meta.token_endpoint_auth_method ?? 'client_secret_basic';
  const grantTypes = meta.grant_types ?? ['authorization_code', 'refresh_token'];
  if (!grantTypes.includes('authorization_code')) {
    throw new InvalidClientMetadata('grant_types: must include authorization_code');
  }
  const clientName = meta.client_name?.trim() ? meta.client_name.trim() : null;
  const clientId = newId(s.random);
  const secret = authMethod === 'none' ? null : newToken(TOKEN_PREFIX.secret, s.random);
  const issuedAt = Math.floor(s.clock.now() / 1000);
  const {
    redirect_uris,
    client_name,
    token_endpoint_auth_method,
    grant_types,
    response_types,
    scope,
    ...rest
  } = meta;
  await s.store.db
    .insertInto('oauth_clients')
    .values({
      client_id: clientId,
      secret_hash: secret ? sha256(secret) : null,
      client_name: clientName,
      redirect_uris: JSON.stringify(redirect_uris),
      token_endpoint_auth_method: authMethod,
      grant_types: JSON.stringify(grantTypes),
      response_types: JSON.stringify(['code']),
      scope: scope ?? null,
      metadata: JSON.stringify(rest).slice(0, 10_000),
      created_at: s.clock.now(),
    })
    .execute();
  return {
    ...rest,
    client_id: clientId,
    ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    client_id_issued_at: issuedAt,
    ...(clientName ? { client_name: clientName } : {}),
    redirect_uris,
    token_endpoint_auth_method: authMethod,
    grant_types: grantTypes,
    response_types: ['code'],
    ...(scope ? { scope } : {}),
  };
}

/** Compiled once (store/prepared.ts): every /token request looks its client up. */
const clientById = prepared((db, p: { clientId: string }) =>
  db.selectFrom('oauth_clients').selectAll().where('client_id', '=', p.clientId),
);

/**
 * Finds a client by id: a dynamically registered one, or (for an https client_id)
 * the client its metadata document describes. A broken document throws
 * ClientMetadataError, which callers turn into their own errors.
 */
export async function findClient(s: Services, clientId: string): Promise<Client | null> {
  if (!clientId || clientId.length > 2000) return null;
  if (isMetadataDocumentUrl(clientId)) return clientFromMetadataDocument(s, clientId);
  const row = (await clientById(s.store.db, { clientId })).rows[0];
  if (!row) return null;
  return {
    clientId: row.client_id,
    clientName: row.client_name,
    redirectUris: JSON.parse(row.redirect_uris) as string[],
    authMethod: row.token_endpoint_auth_method as AuthMethod,
    secretHash: row.secret_hash,
  };
}

export interface PresentedCredentials {
  clientId?: string;
  clientSecret?: string;
  /** Where the credentials came from: HTTP Basic, the form body, or no secret at all. */
  via: 'basic' | 'post' | 'none';
}

/** The token_endpoint_auth_method a request actually used (RFC 7591 §2). */
const METHOD_USED: Record<PresentedCredentials['via'], AuthMethod> = {
  basic: 'client_secret_basic',
  post: 'client_secret_post',
  none: 'none',
};

/** One public answer for every failed authentication: which check failed is the private reason. */
const FAILED = 'Client authentication failed';

/**
 * RFC 6749 §2.3 / OAuth 2.1 §2.4: authenticates the client at /token and /revoke
 * with exactly the method it registered — a client_secret_basic client with
 * Basic, a client_secret_post client with the form, a public (`none`) client
 * with no secret at all (one it presents is refused, not ignored). Secrets are
 * compared in constant time against the stored hash.
 */
export async function authenticateClient(s: Services, presented: PresentedCredentials): Promise<Client> {
  if (!presented.clientId) throw new InvalidClient('client_id is required');
  const client = await findClient(s, presented.clientId).catch((err: unknown) => {
    if (err instanceof ClientMetadataError) throw new InvalidClient(err.message);
    throw err;
  });
  if (!client) throw new InvalidClient(FAILED, { reason: 'unknown client_id' });
  const used = METHOD_USED[presented.via];
  if (used !== client.authMethod) {
    throw new InvalidClient(`${FAILED}: use the token_endpoint_auth_method this client registered`, {
      reason: `client registered ${client.authMethod} but authenticated with ${used}`,
    });
  }
  if (client.authMethod === 'none') return client;
  if (!client.secretHash || !safeEqual(sha256(presented.clientSecret ?? ''), client.secretHash)) {
    throw new InvalidClient(FAILED, { reason: 'wrong client secret' });
  }
  return client;
}

import { createHash, randomBytes } from 'node:crypto';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { apiKeyFor } from '../../src/services/api-keys.js';
import { createUser } from '../../src/services/users.js';
import type { TestServer } from './server.js';

/** A minimal browser: follows nothing by itself and keeps cookies. */
export class Browser {
  readonly jar = new Map<string, string>();
  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(path, this.base);
    const headers = new Headers(init.headers);
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = (pair ?? '').indexOf('=');
      const name = (pair ?? '').slice(0, eq);
      const value = (pair ?? '').slice(eq + 1);
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  async postForm(
    path: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return this.fetch(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: new URL(this.base).origin,
        ...headers,
      },
      body: new URLSearchParams(form).toString(),
    });
  }

  async signIn(email: string, password: string, next = '/'): Promise<Response> {
    return this.postForm('/signin', { email, password, next });
  }
}

export function hiddenField(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no hidden field ${name} in page`);
  return m[1] as string;
}

/**
 * Plays the user's part of /authorize in a cookie-jar browser: sign in if asked,
 * then press Allow (or Deny). Returns the final redirect to the client.
 */
export async function authorizeInBrowser(
  browser: Browser,
  authorizationUrl: string,
  user: { email: string; password: string },
  decision: 'allow' | 'deny' = 'allow',
): Promise<URL> {
  let res = await browser.fetch(authorizationUrl);
  if (res.status === 302 && res.headers.get('location')?.startsWith('/signin')) {
    const next = new URL(res.headers.get('location') as string, browser.base).searchParams.get('next') ?? '/';
    res = await browser.signIn(user.email, user.password, next);
    if (res.status !== 303) throw new Error(`sign-in failed: ${res.status}`);
    res = await browser.fetch(res.headers.get('location') as string);
  }
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  const page = await res.text();
  res = await browser.postForm('/authorize/decision', {
    request: hiddenField(page, 'request'),
    csrf: hiddenField(page, 'csrf'),
    decision,
  });
  if (res.status !== 303) throw new Error(`consent answered ${res.status}`);
  return new URL(res.headers.get('location') as string);
}

export const PASSWORD = 'correct horse battery staple';

export async function addUser(
  server: TestServer,
  email: string,
  role: string,
): Promise<{ email: string; password: string }> {
  await createUser(server.services, { email, password: PASSWORD, role }, 'test');
  return { email, password: PASSWORD };
}

/** An OAuthClientProvider kept in memory, whose "browser" is a Browser signing in as `user`. */
export class TestOAuthProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  lastCode?: string;
  readonly browser: Browser;
  constructor(
    server: TestServer,
    readonly user: { email: string; password: string },
    readonly clientName: string | undefined = 'Test SDK Client',
    readonly redirect = 'http://127.0.0.1:8976/callback',
  ) {
    this.browser = new Browser(server.base);
  }
  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      redirect_uris: [this.redirect],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...(this.clientName === undefined ? {} : { client_name: this.clientName }),
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    const back = await authorizeInBrowser(this.browser, url.href, this.user);
    this.lastCode = back.searchParams.get('code') ?? undefined;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'client') this.info = undefined;
  }
}

/** Connects the official SDK client through the whole OAuth flow (discover, register, sign in, consent, exchange). */
export async function connectSdkClient(server: TestServer, provider: TestOAuthProvider): Promise<Client> {
  const url = new URL('/mcp', server.base);
  const client = new Client({ name: 'waxseal-test', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    return client;
  } catch (err) {
    if (!(err instanceof UnauthorizedError) || !provider.lastCode) throw err;
  }
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await transport.finishAuth(provider.lastCode);
  const fresh = new Client({ name: 'waxseal-test', version: '1.0.0' });
  await fresh.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return fresh;
}

export async function whoami(client: Client): Promise<Record<string, string>> {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  return result.structuredContent as Record<string, string>;
}

/** PKCE pair (RFC 7636) for hand-driven flows. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const MCP_BODIES = {
  initialize: {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'probe', version: '1.0.0' },
    },
  },
  whoami: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
} as const;

/** The status POST /mcp answers for a bearer credential, as a client would send it (SPEC §9: only an access token can pass). */
export async function mcpStatus(
  base: string,
  bearer: string,
  request: keyof typeof MCP_BODIES = 'whoami',
): Promise<number> {
  const res = await fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${bearer}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(MCP_BODIES[request]),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The INTROSPECTION_SECRET of test servers whose tests check whether a key is active (SPEC §9). */
export const TEST_INTROSPECTION_SECRET = 'test-introspection-secret-0123456789abcdef';

/**
 * Whether POST /introspect calls a credential active, asked with
 * TEST_INTROSPECTION_SECRET: how an API key's state is seen from outside now
 * that /mcp takes access tokens only (SPEC §9).
 */
export async function introspectsActive(base: string, token: string): Promise<boolean> {
  const res = await fetch(new URL('/introspect', base), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TEST_INTROSPECTION_SECRET}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  if (res.status !== 200) throw new Error(`POST /introspect answered ${res.status}`);
  return ((await res.json()) as { active?: boolean }).active === true;
}

/** A refresh_token grant for a public client, as the SDK client sends it. */
export async function refreshGrant(base: string, clientId: string, refreshToken: string) {
  const res = await fetch(new URL('/token', base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: clientId,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** The connection's current API key, derived as the server does (it is never stored). */
export async function currentApiKey(server: TestServer, connectionId: string): Promise<string> {
  const row = await server.services.store.db
    .selectFrom('connections as c')
    .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
    .select('k.key_ref')
    .where('c.id', '=', connectionId)
    .executeTakeFirstOrThrow();
  return apiKeyFor(server.services, row.key_ref);
}

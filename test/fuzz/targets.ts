import { createHash } from 'node:crypto';
import type * as OTPAuth from 'otpauth';
import { deriveApiKey } from '../../src/domain/secrets.js';
import type { Store } from '../../src/store/db.js';
import { authorizeInBrowser, type Browser, hiddenField, pkce } from '../helpers/flow.js';
import { SECRET } from '../helpers/server.js';
import type { RawRequest } from './raw-http.js';

export const REDIRECT = 'http://127.0.0.1:8976/callback';

/**
 * Live values the seeds draw on: a signed-in owner, registered clients, codes,
 * tokens, keys, pending consents and sign-in challenges. Refilled as the fuzzer
 * uses them up (a seed that succeeds may spend a code or revoke a connection).
 */
export interface Pool {
  base: string;
  origin: string;
  session: string;
  publicClient: string;
  confidential: { id: string; secret: string };
  codes: { code: string; verifier: string }[];
  access: string[];
  refresh: string[];
  apiKeys: string[];
  connections: string[];
  consents: { request: string; csrf: string }[];
  challenges: string[];
  totp: OTPAuth.TOTP;
  lastAuditId: number;
  /** SPEC §10 SCIM: a bearer token, a provisioned user's id and a group's id. */
  scim: { token: string; user: string; group: string };
}

const sha = (v: string) => createHash('sha256').update(v).digest('base64url');

function authorizeUrl(pool: Pool, clientId: string, challenge: string): string {
  const url = new URL('/authorize', pool.base);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'fz',
    scope: 'mcp',
    resource: `${pool.base}/mcp`,
  }))
    url.searchParams.set(k, v);
  return url.href;
}

/** Tops up the pool: a new connection, an unused code, a pending consent, a TOTP challenge. */
export async function refill(
  pool: Pool,
  owner: Browser,
  totpUser: Browser,
  user: { email: string; password: string },
  store: Store,
): Promise<void> {
  if ((await owner.fetch('/api/me')).status !== 200) {
    await owner.signIn(user.email, user.password);
  }
  pool.session = owner.jar.get('waxseal_session') ?? pool.session;
  for (const client of [pool.publicClient, pool.confidential.id]) {
    const { verifier, challenge } = pkce();
    const back = await authorizeInBrowser(owner, authorizeUrl(pool, client, challenge), user);
    const code = back.searchParams.get('code') as string;
    if (client === pool.confidential.id) {
      pool.codes.push({ code, verifier });
      continue;
    }
    const res = await fetch(`${pool.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        client_id: client,
        redirect_uri: REDIRECT,
      }),
    });
    const tokens = (await res.json()) as { access_token: string; refresh_token: string };
    pool.access.push(tokens.access_token);
    pool.refresh.push(tokens.refresh_token);
  }
  const page = await (await owner.fetch(authorizeUrl(pool, pool.publicClient, pkce().challenge))).text();
  pool.consents.push({ request: hiddenField(page, 'request'), csrf: hiddenField(page, 'csrf') });
  const totpPage = await (await totpUser.signIn('totp@example.com', 'correct horse battery staple')).text();
  pool.challenges.push(hiddenField(totpPage, 'challenge'));
  const keys = await store.db
    .selectFrom('api_keys')
    .select(['key_ref', 'connection_id'])
    .where('deactivated_at', 'is', null)
    .execute();
  pool.apiKeys = keys.map((k) => deriveApiKey(Buffer.from(SECRET, 'utf8'), 'wax_sk_', k.key_ref));
  pool.connections = (await store.db.selectFrom('connections').select('id').execute()).map((r) => r.id);
  for (const list of [pool.codes, pool.access, pool.refresh, pool.consents, pool.challenges]) {
    list.splice(0, Math.max(0, list.length - 8));
  }
}

/** A well-formed request to one endpoint, as a client or browser would send it. */
export interface Seed {
  name: string;
  method: string;
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: { type: 'json'; value: unknown } | { type: 'form'; value: Record<string, string> };
}

/** SPEC §10 SCIM at /scim/v2, in the shapes Entra ID and Okta send. */
function scimSeeds(pool: Pool, i: number): Seed[] {
  const headers = { authorization: `Bearer ${pool.scim.token}`, 'content-type': 'application/scim+json' };
  const patchOp = (Operations: unknown[]) => ({
    type: 'json' as const,
    value: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations },
  });
  return [
    { name: 'scim config', method: 'GET', path: '/scim/v2/ServiceProviderConfig', headers },
    {
      name: 'scim users filter',
      method: 'GET',
      path: '/scim/v2/Users',
      query: { filter: `userName eq "fuzz${i % 5}@example.com"`, startIndex: '1', count: '10' },
      headers,
    },
    {
      name: 'scim user create',
      method: 'POST',
      path: '/scim/v2/Users',
      headers,
      body: {
        type: 'json',
        value: {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          userName: `scim-fuzz${i}@example.com`,
          name: { givenName: 'Fuzz', familyName: String(i) },
          emails: [{ primary: true, type: 'work', value: `scim-fuzz${i}@example.com` }],
          active: true,
        },
      },
    },
    {
      name: 'scim user patch (Entra)',
      method: 'PATCH',
      path: `/scim/v2/Users/${pool.scim.user}`,
      headers,
      body: patchOp([
        { op: 'Replace', path: 'active', value: i % 2 ? 'False' : 'True' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'scim@example.com' },
      ]),
    },
    {
      name: 'scim user patch (Okta)',
      method: 'PATCH',
      path: `/scim/v2/Users/${pool.scim.user}`,
      headers,
      body: patchOp([{ op: 'replace', value: { active: i % 3 !== 0 } }]),
    },
    {
      name: 'scim group patch',
      method: 'PATCH',
      path: `/scim/v2/Groups/${pool.scim.group}`,
      headers,
      body: patchOp([
        { op: 'Add', path: 'members', value: [{ value: pool.scim.user }] },
        { op: 'remove', path: `members[value eq "${pool.scim.user}"]` },
      ]),
    },
  ];
}

const pick = <T>(list: T[], i: number): T | undefined => (list.length ? list[i % list.length] : undefined);

/** Every endpoint of the issue: OAuth, sign-in, setup, metadata, /mcp and the admin API. */
export function seeds(pool: Pool, i: number, apiPaths: [string, string][]): Seed[] {
  const cookie = { cookie: `waxseal_session=${pool.session}` };
  const own = { origin: pool.origin };
  const code = pick(pool.codes, i);
  const basic = `Basic ${Buffer.from(`${pool.confidential.id}:${pool.confidential.secret}`).toString('base64')}`;
  const bearer = (t: string | undefined) => ({ authorization: `Bearer ${t ?? 'wax_at_none'}` });
  const rpc = (method: string, params: unknown = {}) => ({ jsonrpc: '2.0', id: i, method, params });
  const mcpHeaders = { accept: 'application/json, text/event-stream' };
  const connection = pick(pool.connections, i) ?? 'none';
  const out: Seed[] = [
    { name: 'AS metadata', method: 'GET', path: '/.well-known/oauth-authorization-server', headers: {} },
    { name: 'PR metadata', method: 'GET', path: '/.well-known/oauth-protected-resource/mcp', headers: {} },
    { name: 'PR metadata root', method: 'GET', path: '/.well-known/oauth-protected-resource', headers: {} },
    {
      name: 'register',
      method: 'POST',
      path: '/register',
      headers: {},
      body: {
        type: 'json',
        value: {
          redirect_uris: [REDIRECT, 'https://claude.ai/api/mcp/auth_callback'],
          token_endpoint_auth_method: i % 2 ? 'none' : 'client_secret_basic',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          client_name: `Fuzz ${i}`,
          scope: 'mcp offline_access',
          software_id: 'x',
        },
      },
    },
    {
      name: 'authorize',
      method: 'GET',
      path: '/authorize',
      query: {
        response_type: 'code',
        client_id: pool.publicClient,
        redirect_uri: REDIRECT,
        code_challenge: sha(String(i)).padEnd(43, 'A'),
        code_challenge_method: 'S256',
        state: `s${i}`,
        scope: 'mcp',
        resource: `${pool.base}/mcp`,
      },
      headers: cookie,
    },
    {
      name: 'consent',
      method: 'POST',
      path: '/authorize/decision',
      headers: { ...cookie, ...own },
      body: {
        type: 'form',
        value: {
          ...(pick(pool.consents, i) ?? { request: 'x', csrf: 'y' }),
          decision: i % 3 ? 'allow' : 'deny',
        },
      },
    },
    {
      name: 'token code',
      method: 'POST',
      path: '/token',
      headers: { authorization: basic },
      body: {
        type: 'form',
        value: {
          grant_type: 'authorization_code',
          code: code?.code ?? 'wax_ac_none',
          code_verifier: code?.verifier ?? 'v'.repeat(43),
          redirect_uri: REDIRECT,
          resource: `${pool.base}/mcp`,
        },
      },
    },
    {
      name: 'token refresh',
      method: 'POST',
      path: '/token',
      headers: {},
      body: {
        type: 'form',
        value: {
          grant_type: 'refresh_token',
          refresh_token: pick(pool.refresh, i) ?? 'wax_rt_none',
          client_id: pool.publicClient,
          scope: 'mcp',
        },
      },
    },
    {
      name: 'revoke',
      method: 'POST',
      path: '/revoke',
      headers: {},
      body: {
        type: 'form',
        value: {
          token: (i % 2 ? pick(pool.access, i) : pick(pool.refresh, i)) ?? 'x',
          client_id: pool.publicClient,
          token_type_hint: i % 2 ? 'access_token' : 'refresh_token',
        },
      },
    },
    {
      name: 'signin page',
      method: 'GET',
      path: '/signin',
      query: { next: '/settings/mcp-connections' },
      headers: {},
    },
    {
      name: 'signin',
      method: 'POST',
      path: '/signin',
      headers: own,
      body: {
        type: 'form',
        value: { email: `fuzz${i % 7}@example.com`, password: 'not the password', next: '/' },
      },
    },
    {
      name: 'signin totp',
      method: 'POST',
      path: '/signin/totp',
      headers: own,
      body: {
        type: 'form',
        value: { challenge: pick(pool.challenges, i) ?? 'x', code: i % 4 ? '123456' : pool.totp.generate() },
      },
    },
    { name: 'setup page', method: 'GET', path: '/setup', query: { token: 'wax_setup' }, headers: {} },
    {
      name: 'setup',
      method: 'POST',
      path: '/setup',
      headers: own,
      body: {
        type: 'form',
        value: { token: 'nope', email: 'new@example.com', password: 'long enough password' },
      },
    },
    {
      name: 'mcp whoami',
      method: 'POST',
      path: '/mcp',
      headers: { ...bearer(pick(pool.access, i)), ...mcpHeaders },
      body: { type: 'json', value: rpc('tools/call', { name: 'whoami', arguments: {} }) },
    },
    {
      name: 'mcp initialize (API key)',
      method: 'POST',
      path: '/mcp',
      headers: { ...bearer(pick(pool.apiKeys, i)), ...mcpHeaders },
      body: {
        type: 'json',
        value: rpc('initialize', {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'fuzz', version: '1' },
        }),
      },
    },
    {
      name: 'mcp GET',
      method: 'GET',
      path: '/mcp',
      headers: { ...bearer(pick(pool.access, i)), ...mcpHeaders },
    },
    { name: 'mcp DELETE', method: 'DELETE', path: '/mcp', headers: bearer(pick(pool.access, i)) },
    ...scimSeeds(pool, i),
  ];
  for (const [method, template] of apiPaths) {
    const path = template.replace('{id}', connection);
    const body = apiBody(path, i, connection);
    out.push({
      name: `${method} ${template}`,
      method,
      path,
      query: apiQuery(path, connection),
      headers: { ...cookie, ...own },
      ...(method === 'GET' ? {} : { body: { type: 'json', value: body } }),
    });
  }
  return out;
}

function apiQuery(path: string, connection: string): Record<string, string> | undefined {
  if (path === '/api/mcp-connections') return { status: 'active', q: 'fuzz', limit: '5' };
  if (path === '/api/audit-events') return { connectionId: connection, limit: '5' };
  return undefined;
}

function apiBody(path: string, i: number, _connection: string): unknown {
  if (path === '/api/members')
    return { email: `member${i}@example.com`, password: 'a long password', role: 'viewer' };
  if (path === '/api/members/role') return { email: 'target@example.com', role: i % 2 ? 'viewer' : 'admin' };
  if (path === '/api/lockouts/unlock') return { email: `fuzz${i % 7}@example.com` };
  return {};
}

/** The seed as bytes on the wire. */
export function encode(seed: Seed): RawRequest {
  const qs = seed.query ? `?${new URLSearchParams(seed.query).toString()}` : '';
  const headers: [string, string][] = Object.entries(seed.headers);
  let body = Buffer.alloc(0);
  if (seed.body?.type === 'json') {
    headers.push(['content-type', 'application/json']);
    body = Buffer.from(JSON.stringify(seed.body.value));
  } else if (seed.body?.type === 'form') {
    headers.push(['content-type', 'application/x-www-form-urlencoded']);
    body = Buffer.from(new URLSearchParams(seed.body.value).toString());
  }
  return { method: seed.method, target: seed.path + qs, headers, body };
}

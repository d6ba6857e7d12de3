/**
 * Shared helpers for the negative OAuth catalogue (oauth-negative-*.test.ts):
 * each test file starts one SQLite server with useServer() and drives it with
 * plain fetch, a cookie-jar Browser and a TestClock for the expiry cases. The
 * server's log is kept in memory (logLines) so a test can check what a refusal
 * logged beside what it answered.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import type { RegisterTools } from '../../src/http/mcp/endpoint.js';
import { startServer } from '../../src/server.js';
import { addUser, authorizeInBrowser, Browser, pkce } from './flow.js';
import { createTestDatabase, freePort, TestClock, type TestServer, testEnv } from './server.js';

export const REDIRECT = 'http://127.0.0.1:8976/callback';
export const clock = new TestClock();
// Live ESM bindings: set in useServer()'s before hook, read by the test files.
export let server: TestServer;
export let browser: Browser;
export let user: { email: string; password: string };

const log: Record<string, unknown>[] = [];

/** Every line the server has logged so far, parsed. */
export function logLines(): Record<string, unknown>[] {
  return [...log];
}

/** Starts one SQLite server (with the shared TestClock) for the enclosing describe. */
export function useServer(options: { env?: Record<string, string>; tools?: RegisterTools[] } = {}): void {
  before(async () => {
    const db = await createTestDatabase('sqlite');
    const env = testEnv(db, await freePort(), options.env);
    const sink = { write: (line: string) => void log.push(JSON.parse(line) as Record<string, unknown>) };
    const running = await startServer(loadConfig(env), {
      clock,
      log: pino({ level: 'debug' }, sink),
      tools: options.tools,
    });
    server = {
      ...running,
      base: env.PUBLIC_URL as string,
      db,
      env,
      stop: async () => {
        await running.close();
        await db.drop();
      },
    };
    user = await addUser(server, 'neg@example.com', 'admin');
    browser = new Browser(server.base);
  });
  after(async () => server?.stop());
}

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
}
export interface Tokens {
  access_token: string;
  refresh_token: string;
  scope: string;
}

export function register(meta: unknown, contentType = 'application/json'): Promise<Response> {
  const body = typeof meta === 'string' ? meta : JSON.stringify(meta);
  return fetch(`${server.base}/register`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

export async function newClient(meta: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const res = await register({
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    client_name: 'Neg',
    ...meta,
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as RegisteredClient;
}

/** An /authorize URL; `undefined` in overrides drops a parameter. */
export function authorizeUrl(
  clientId: string,
  overrides: Record<string, string | undefined> = {},
  challenge = pkce().challenge,
) {
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-123',
    resource: `${server.base}/mcp`,
    ...overrides,
  };
  const url = new URL('/authorize', server.base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

/** Runs /authorize and consent; returns the code and the PKCE verifier behind it. */
export async function getCode(client: RegisteredClient, overrides: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = pkce();
  const back = await authorizeInBrowser(browser, authorizeUrl(client.client_id, overrides, challenge), user);
  const code = back.searchParams.get('code');
  assert.ok(code, `no code in ${back.href}`);
  assert.equal(back.searchParams.get('iss'), server.base); // RFC 9207
  assert.equal(back.searchParams.get('state'), 'state' in overrides ? (overrides.state ?? null) : 'st-123');
  return { code, verifier, back };
}

export function token(form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

export function exchange(
  client: RegisteredClient,
  code: string,
  verifier: string,
  extra: Record<string, string> = {},
) {
  return token({
    grant_type: 'authorization_code',
    client_id: client.client_id,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    ...extra,
  });
}

export function refreshWith(
  client: RegisteredClient,
  refreshToken: string,
  extra: Record<string, string> = {},
) {
  return token({
    grant_type: 'refresh_token',
    client_id: client.client_id,
    refresh_token: refreshToken,
    ...extra,
  });
}

/** A whole flow: register (unless given), authorize, exchange. */
export async function connect(
  client?: RegisteredClient,
): Promise<{ client: RegisteredClient; tokens: Tokens }> {
  const c = client ?? (await newClient());
  const { code, verifier } = await getCode(c);
  const res = await exchange(c, code, verifier);
  assert.equal(res.status, 200, await res.clone().text());
  return { client: c, tokens: (await res.json()) as Tokens };
}

export function mcp(
  accessToken?: string,
  headers: Record<string, string> = {},
  body?: object,
): Promise<Response> {
  return fetch(`${server.base}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      ...headers,
    },
    body: JSON.stringify(
      body ?? {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'neg', version: '1' },
        },
      },
    ),
  });
}

/** Asserts an RFC 6749 §5.2 JSON error with this status and code. */
export async function expectError(res: Response, status: number, error: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.equal((JSON.parse(text) as { error: string }).error, error, text);
}

/** Asserts an /authorize error shown on a page, never redirected (RFC 9700 §4.11). */
export async function expectPage(res: Response): Promise<void> {
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  await res.text();
}

/** Asserts an /authorize error redirect to the client (OAuth 2.1 §4.1.2.1, RFC 9207). */
export function expectRedirectError(res: Response, error: string, state: string | null = 'st-123'): URL {
  assert.equal(res.status, 302);
  const loc = new URL(res.headers.get('location') as string);
  assert.equal(`${loc.origin}${loc.pathname}`, REDIRECT);
  assert.equal(loc.searchParams.get('error'), error, loc.href);
  assert.equal(loc.searchParams.get('state'), state);
  assert.equal(loc.searchParams.get('iss'), server.base);
  assert.equal(loc.searchParams.get('code'), null);
  return loc;
}

export async function expectMcpOk(accessToken: string): Promise<void> {
  const res = await mcp(accessToken);
  assert.equal(res.status, 200, await res.clone().text());
  await res.text();
}

export async function expectMcpRejected(accessToken: string): Promise<void> {
  const res = await mcp(accessToken);
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  await res.text();
}

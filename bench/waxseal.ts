/**
 * A Waxseal deployment for the benchmarks: one `waxseal serve` child process on
 * a fresh SQLite file or PostgreSQL database, an admin user, and real OAuth
 * connections made through the whole flow (register, sign in, consent, code
 * exchange) exactly as an MCP client makes them.
 */
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { openServices } from '../src/server.js';
import type { Services } from '../src/services/context.js';
import { createUser } from '../src/services/users.js';
import { authorizeInBrowser, Browser, PASSWORD, pkce } from '../test/helpers/flow.js';
import { createTestDatabase, freePort, SECRET, type TestDatabase } from '../test/helpers/server.js';
import { type Child, startWaxseal } from './children.js';

export const ADMIN_EMAIL = 'bench@example.com';
const REDIRECT = 'http://127.0.0.1:9/callback';
const FLOWS_AT_ONCE = 8;

/** What a completed OAuth flow hands the client. */
export interface Grant {
  clientId: string;
  accessToken: string;
  refreshToken: string;
}

export interface Deployment {
  kind: 'sqlite' | 'postgres';
  instance: Child;
  /** The same database opened in this process, as the CLI would: for setup and inspection only. */
  admin: Services;
  db: TestDatabase;
  /** A signed-in dashboard browser (session cookie) for the admin API. */
  browser: Browser;
  /** Completes `n` OAuth flows, each a new connection. */
  connect(n: number): Promise<Grant[]>;
  stop(): Promise<void>;
}

/**
 * The per-IP limits on /token and /authorize (issue #6) exist against abuse from
 * one address; every bench client shares 127.0.0.1, so the deployment raises
 * them as an operator behind one NAT would. The counter still runs per request.
 */
export const BENCH_LIMITS = {
  TOKEN_LIMIT_PER_MINUTE: '1000000',
  AUTHORIZE_LIMIT_PER_MINUTE: '1000000',
  REGISTER_LIMIT_PER_HOUR: '1000000',
};

/** The policy and telemetry settings a bench run may measure with, from the runner's environment. */
function passedThrough(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        (entry[0] === 'MCP_REQUESTS_PER_MINUTE_PER_CONNECTION' || entry[0].startsWith('OTEL_')) &&
        entry[1] !== undefined,
    ),
  );
}

export async function deployWaxseal(
  kind: 'sqlite' | 'postgres',
  options: { nodeArgs?: string[]; wrapper?: string[]; cwd?: string; env?: Record<string, string> } = {},
): Promise<Deployment> {
  const db = await createTestDatabase(kind);
  const port = await freePort();
  const env = {
    DATABASE_URL: db.url,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    WAXSEAL_SECRET: SECRET,
    ...BENCH_LIMITS,
    // SPEC §12/§13: `MCP_REQUESTS_PER_MINUTE_PER_CONNECTION=N npm run bench` measures with the rate
    // limit on, `OTEL_EXPORTER_OTLP_ENDPOINT=… npm run bench` with traces exported.
    ...passedThrough(process.env),
    ...options.env,
  };
  const instance = await startWaxseal(env, {
    port,
    nodeArgs: options.nodeArgs,
    wrapper: options.wrapper,
    cwd: options.cwd,
  });
  const admin = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
    log: pino({ level: 'silent' }),
  });
  await createUser(admin, { email: ADMIN_EMAIL, password: PASSWORD, role: 'admin' }, 'bench');
  const browser = new Browser(instance.url);
  const signedIn = await browser.signIn(ADMIN_EMAIL, PASSWORD);
  if (signedIn.status !== 303) throw new Error(`bench sign-in answered ${signedIn.status}`);
  let clientId: string | undefined;

  const connect = async (n: number): Promise<Grant[]> => {
    clientId ??= await register(instance.url);
    const id = clientId;
    const grants: Grant[] = [];
    // A few flows at a time, as several MCP clients signing in at once would.
    for (let i = 0; i < n; i += FLOWS_AT_ONCE) {
      const batch = Math.min(FLOWS_AT_ONCE, n - i);
      grants.push(
        ...(await Promise.all(Array.from({ length: batch }, () => flow(browser, instance.url, id)))),
      );
    }
    return grants;
  };

  return {
    kind,
    instance,
    admin,
    db,
    browser,
    connect,
    stop: async () => {
      await instance.stop();
      await admin.store.close();
      await db.drop();
    },
  };
}

async function register(base: string): Promise<string> {
  const res = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      client_name: 'Bench Client',
    }),
  });
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { client_id: string }).client_id;
}

async function flow(browser: Browser, base: string, clientId: string): Promise<Grant> {
  const { verifier, challenge } = pkce();
  const url = new URL('/authorize', base);
  url.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const back = await authorizeInBrowser(browser, url.pathname + url.search, {
    email: ADMIN_EMAIL,
    password: PASSWORD,
  });
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code') ?? '',
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: clientId,
    }),
  });
  if (res.status !== 200) throw new Error(`code exchange answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  return { clientId, accessToken: body.access_token, refreshToken: body.refresh_token };
}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import { apiKeyFor } from '../../src/services/api-keys.js';
import {
  addUser,
  authorizeInBrowser,
  Browser,
  connectSdkClient,
  hiddenField,
  PASSWORD,
  pkce,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { type Balancer, type Instance, startBalancer, startInstance } from '../helpers/processes.js';
import {
  createTestDatabase,
  SECRET,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';

const REDIRECT = 'http://127.0.0.1:8976/callback';

function directives(csp: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (csp ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

/** CSP and friends that every response carries (clickjacking, XSS, sniffing, referrer leaks). */
function assertHardened(res: Response, what: string): void {
  const csp = directives(res.headers.get('content-security-policy'));
  const scripts = csp.get('script-src') ?? csp.get('default-src') ?? [];
  assert.deepEqual(
    scripts,
    ["'self'"],
    `${what}: script-src is 'self' only (no unsafe-inline, no unsafe-eval)`,
  );
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], `${what}: frame-ancestors 'none'`);
  assert.deepEqual(csp.get('object-src'), ["'none'"], what);
  assert.deepEqual(csp.get('base-uri'), ["'none'"], what);
  assert.ok(!(csp.get('style-src') ?? []).includes("'unsafe-inline'"), `${what}: no inline styles`);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', what);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', what);
}

/** The HTML runs under that CSP as written: no inline script, handler, style or javascript: URL. */
function assertNoInlineCode(html: string, what: string): string[] {
  const sources: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    const src = /\bsrc="([^"]+)"/.exec(m[1] ?? '')?.[1];
    assert.ok(src, `${what}: every <script> has a src`);
    assert.equal((m[2] ?? '').trim(), '', `${what}: no inline script body`);
    assert.ok(src.startsWith('/') && !src.startsWith('//'), `${what}: script ${src} is same-origin`);
    sources.push(src);
  }
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, `${what}: no inline event handlers`);
  assert.doesNotMatch(html, /<style\b|\sstyle\s*=/i, `${what}: no inline styles`);
  assert.doesNotMatch(html, /javascript:/i, `${what}: no javascript: URLs`);
  return sources;
}

describe('issue #6 headers on every page (sign-in, consent, setup, dashboard, errors)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(async () => server?.stop());

  test('each page: CSP without unsafe-inline scripts, frame-ancestors none, Referrer-Policy, and HTML that needs nothing inline', async () => {
    const user = await addUser(server, 'pages@example.com', 'owner');
    const reg = (await (
      await fetch(`${server.base}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
      })
    ).json()) as { client_id: string };
    const browser = new Browser(server.base);
    const pages: [string, Response][] = [];
    pages.push(['sign-in', await browser.fetch('/signin')]);
    pages.push(['failed sign-in', await browser.signIn(user.email, 'wrong password')]);
    pages.push(['setup link', await browser.fetch('/setup?token=nope')]);
    pages.push(['authorize error page', await browser.fetch('/authorize?client_id=nobody')]);
    assert.equal((await browser.signIn(user.email, user.password)).status, 303);
    const url = new URL('/authorize', server.base);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: reg.client_id,
      redirect_uri: REDIRECT,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(k, v);
    const consent = await browser.fetch(url.href);
    assert.equal(consent.status, 200);
    pages.push(['consent', consent]);
    pages.push(['home', await browser.fetch('/')]);
    const dashboard = await browser.fetch('/settings/mcp-connections');
    pages.push(['dashboard', dashboard]);
    for (const [what, res] of pages) {
      assertHardened(res, what);
      const html = await res.text();
      assert.match(res.headers.get('content-type') ?? '', /text\/html/, what);
      for (const src of assertNoInlineCode(html, what)) {
        // The SPA's hashed bundles come from this origin, so script-src 'self' admits them.
        const asset = await browser.fetch(src);
        assert.equal(asset.status, 200, `${what}: ${src}`);
        assert.match(asset.headers.get('content-type') ?? '', /javascript/, src);
        assertHardened(asset, src);
      }
    }
    assertHardened(await fetch(`${server.base}/.well-known/oauth-authorization-server`), 'metadata');
    assertHardened(await fetch(`${server.base}/api/me`), 'API');
  });

  test('no Strict-Transport-Security on an http PUBLIC_URL', async () => {
    assert.equal((await fetch(`${server.base}/signin`)).headers.get('strict-transport-security'), null);
  });
});

describe('issue #6 HSTS and Secure cookies when PUBLIC_URL is https', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite', { env: { PUBLIC_URL: 'https://waxseal.example.com' } });
    await addUser(server, 'tls@example.com', 'member');
  });
  after(async () => server?.stop());

  test('every response carries HSTS for a year with subdomains; the session cookie is Secure', async () => {
    for (const path of ['/signin', '/healthz', '/.well-known/oauth-authorization-server', '/nope']) {
      const hsts = (await fetch(`${server.url}${path}`)).headers.get('strict-transport-security') ?? '';
      const maxAge = Number(/max-age=(\d+)/.exec(hsts)?.[1]);
      assert.ok(maxAge >= 31_536_000, `${path}: ${hsts}`);
      assert.match(hsts, /includeSubDomains/);
    }
    const res = await new Browser(server.url).postForm(
      '/signin',
      { email: 'tls@example.com', password: PASSWORD, next: '/' },
      { origin: 'https://waxseal.example.com' },
    );
    assert.equal(res.status, 303);
    const cookie = res.headers.getSetCookie().join(';');
    assert.match(cookie, /waxseal_session=/);
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /HttpOnly/);
  });
});

describe('issue #6 no tokens in URLs', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(async () => server?.stop());

  test('a bearer token in the query string is not accepted (RFC 9700 §4.3.2, header only)', async () => {
    const user = await addUser(server, 'url@example.com', 'member');
    const provider = new TestOAuthProvider(server, user);
    const client = await connectSdkClient(server, provider);
    await client.close();
    const token = provider.saved?.access_token as string;
    const res = await fetch(`${server.base}/mcp?access_token=${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(res.status, 401);
    const form = await fetch(
      `${server.base}/token?grant_type=refresh_token&refresh_token=${provider.saved?.refresh_token}&client_id=${provider.info?.client_id}`,
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' },
    );
    assert.equal(form.status, 400, 'token parameters are read from the body only');
  });

  test('the authorization response carries only code, state and iss; sign-in redirects carry no secret', async () => {
    const user = await addUser(server, 'redir@example.com', 'member');
    const reg = (await (
      await fetch(`${server.base}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
      })
    ).json()) as { client_id: string };
    const url = new URL('/authorize', server.base);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: reg.client_id,
      redirect_uri: REDIRECT,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 's1',
    }))
      url.searchParams.set(k, v);
    const browser = new Browser(server.base);
    const back = await authorizeInBrowser(browser, url.href, user);
    assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state']);
    const signin = await new Browser(server.base).signIn(
      user.email,
      user.password,
      '/settings/mcp-connections',
    );
    assert.equal(signin.headers.get('location'), '/settings/mcp-connections');
  });
});

describe('issue #6 nothing secret in the logs of a full run (LOG_LEVEL=trace, a real process)', () => {
  let db: TestDatabase;
  let balancer: Balancer;
  let instance: Instance;
  before(async () => {
    db = await createTestDatabase('sqlite');
    balancer = await startBalancer();
  });
  after(async () => {
    await instance?.kill();
    await balancer?.close();
    await db?.drop();
  });

  test('no password, client secret, code, access or refresh token, API key, session or CSRF value is ever printed', async () => {
    const adminPassword = 'owner-password-9f8e7d6c';
    const env = {
      DATABASE_URL: db.url,
      PUBLIC_URL: balancer.url,
      WAXSEAL_SECRET: SECRET,
      WAXSEAL_ADMIN_EMAIL: 'root@example.com',
      WAXSEAL_ADMIN_PASSWORD: adminPassword,
      LOG_LEVEL: 'trace',
    };
    instance = await startInstance(env);
    balancer.targets.push(instance.port);
    const secrets = new Map<string, string>();
    const keep = (what: string, value: string | null | undefined) => {
      assert.ok(value && value.length >= 8, `${what} was issued`);
      secrets.set(value, what);
    };
    keep('admin password', adminPassword);
    const wrong = 'wrong-password-1a2b3c4d';
    keep('wrong password', wrong);

    const base = balancer.url;
    const owner = new Browser(base);
    assert.equal((await owner.signIn('root@example.com', wrong)).status, 401);
    assert.equal((await owner.signIn('root@example.com', adminPassword)).status, 303);
    keep('session cookie', owner.jar.get('waxseal_session'));

    // A confidential client, authenticated with HTTP Basic at /token.
    const reg = (await (
      await fetch(`${base}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'Log Scan' }),
      })
    ).json()) as { client_id: string; client_secret: string };
    keep('client secret', reg.client_secret);
    const { verifier, challenge } = pkce();
    keep('PKCE verifier', verifier);
    const url = new URL('/authorize', base);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: reg.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st',
    }))
      url.searchParams.set(k, v);
    const consent = await owner.fetch(url.href);
    const page = await consent.text();
    keep('CSRF token', hiddenField(page, 'csrf'));
    const decided = await owner.postForm('/authorize/decision', {
      request: hiddenField(page, 'request'),
      csrf: hiddenField(page, 'csrf'),
      decision: 'allow',
    });
    const code = new URL(decided.headers.get('location') as string).searchParams.get('code');
    keep('authorization code', code);
    const basic = `Basic ${Buffer.from(`${reg.client_id}:${reg.client_secret}`).toString('base64')}`;
    const token = async (form: Record<string, string>) => {
      const res = await fetch(`${base}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: new URLSearchParams(form),
      });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };
    const first = await token({
      grant_type: 'authorization_code',
      code: code as string,
      code_verifier: verifier,
    });
    assert.equal(first.status, 200);
    keep('access token', first.body.access_token);
    keep('refresh token', first.body.refresh_token);

    // The official SDK client, end to end, then a refresh and error paths that carry tokens.
    const provider = new TestOAuthProvider({ base } as TestServer, {
      email: 'root@example.com',
      password: adminPassword,
    });
    const client = await connectSdkClient({ base } as TestServer, provider);
    const me = await whoami(client);
    await client.close();
    keep('SDK access token', provider.saved?.access_token);
    keep('SDK refresh token', provider.saved?.refresh_token);
    keep('SDK code', provider.lastCode);
    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
    });
    keep('refreshed access token', refreshed.body.access_token);
    keep('refreshed refresh token', refreshed.body.refresh_token);
    const replay = await token({
      grant_type: 'authorization_code',
      code: code as string,
      code_verifier: verifier,
    });
    assert.equal(replay.status, 400, 'a replayed code is refused (and revokes its connection)');
    assert.equal(
      (await token({ grant_type: 'refresh_token', refresh_token: 'wax_rt_forged-token-value' })).status,
      400,
    );
    await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${first.body.access_token}x`, 'content-type': 'application/json' },
      body: '{',
    });
    const regen = await owner.fetch(`/api/mcp-connections/${me.connectionId}/regenerate-key`, {
      method: 'POST',
      headers: { origin: base },
    });
    assert.equal(regen.status, 200);
    const revoke = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams({ token: refreshed.body.refresh_token as string }),
    });
    assert.equal(revoke.status, 200);

    // Every API key ever issued, re-derived from the database with the server secret.
    const s = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
      log: pino({ level: 'silent' }),
    });
    try {
      const keys = await s.store.db.selectFrom('api_keys').select('key_ref').execute();
      assert.ok(keys.length >= 3);
      for (const k of keys) keep('API key', apiKeyFor(s, k.key_ref));
    } finally {
      await s.store.close();
    }
    await instance.kill('SIGTERM');

    const log = instance.output();
    assert.match(log, /Waxseal is listening/, 'the log was captured');
    for (const [value, what] of secrets) {
      assert.ok(!log.includes(value), `the log contains the ${what}`);
      // Neither URL-encoded nor base64 (e.g. a logged Authorization header).
      assert.ok(!log.includes(encodeURIComponent(value)), `the log contains the ${what} (URL-encoded)`);
    }
    assert.ok(!log.includes(basic.slice(6)), 'the log contains the Basic credentials');
  });
});

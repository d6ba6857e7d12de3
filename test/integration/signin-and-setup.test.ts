import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as OTPAuth from 'otpauth';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { issueSetupToken } from '../../src/services/setup.js';
import { enableTotp } from '../../src/services/users.js';
import {
  addUser,
  Browser,
  connectSdkClient,
  hiddenField,
  PASSWORD,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import {
  createTestDatabase,
  freePort,
  startTestServer,
  type TestServer,
  testEnv,
} from '../helpers/server.js';

describe('SPEC §2 sign-in page', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
    await addUser(server, 'pat@example.com', 'member');
    await addUser(server, 'tia@example.com', 'viewer');
    await addUser(server, 'lock@example.com', 'viewer');
  });
  after(async () => server?.stop());

  test('the form has fields labelled Email and Password and a Sign in button', async () => {
    const page = await (await new Browser(server.base).fetch('/signin')).text();
    assert.match(page, /<label for="f-email">Email<\/label>/);
    assert.match(page, /<label for="f-password">Password<\/label>/);
    assert.match(page, /<button type="submit" class="primary">Sign in<\/button>/);
  });

  test('a wrong password and an unknown email get the same generic message', async () => {
    const a = await new Browser(server.base).signIn('pat@example.com', 'wrong password!');
    const b = await new Browser(server.base).signIn('nobody@example.com', 'wrong password!');
    assert.equal(a.status, 401);
    assert.equal(b.status, 401);
    const msg = (html: string) => /role="alert">([^<]*)</.exec(html)?.[1];
    assert.equal(msg(await a.text()), 'Incorrect email or password.');
    assert.equal(msg(await b.text()), 'Incorrect email or password.');
  });

  test('after 5 failures the account is slowed: even the right password gets 429', async () => {
    for (let i = 0; i < 5; i++)
      assert.equal((await new Browser(server.base).signIn('lock@example.com', 'nope nope')).status, 401);
    const res = await new Browser(server.base).signIn('lock@example.com', PASSWORD);
    assert.equal(res.status, 429);
    assert.match(await res.text(), /Too many sign-in attempts/);
  });

  test('a successful sign-in sets an HttpOnly SameSite=Lax session cookie and returns to next', async () => {
    const browser = new Browser(server.base);
    const res = await browser.signIn('pat@example.com', PASSWORD, '/settings/mcp-connections');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/settings/mcp-connections');
    const cookie = res.headers.getSetCookie().join(';');
    assert.match(cookie, /waxseal_session=/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.doesNotMatch(cookie, /Secure/, 'no Secure flag on an http PUBLIC_URL');
  });

  test('a user with TOTP gets a second step labelled Authentication code; a wrong code fails, the right one signs in', async () => {
    const uri = await enableTotp(server.services, 'tia@example.com');
    const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
    const browser = new Browser(server.base);
    const first = await browser.signIn('tia@example.com', PASSWORD);
    assert.equal(first.status, 200);
    const page = await first.text();
    assert.match(page, /<label for="f-code">Authentication code<\/label>/);
    assert.equal(browser.jar.size, 0, 'no session before the second step');
    const challenge = hiddenField(page, 'challenge');
    const wrong = await browser.postForm('/signin/totp', {
      challenge,
      code: totp.generate() === '000000' ? '111111' : '000000',
    });
    assert.equal(wrong.status, 401);
    const right = await browser.postForm('/signin/totp', { challenge, code: totp.generate() });
    assert.equal(right.status, 303);
    assert.ok(browser.jar.has('waxseal_session'));
  });

  test('sign-in and consent pages cannot be framed', async () => {
    const res = await new Browser(server.base).fetch('/signin');
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  });
});

describe('SPEC §1 first run', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(async () => server?.stop());

  test('the one-time setup URL creates the first owner, then works no more', async () => {
    const token = (await issueSetupToken(server.services)) as string;
    assert.ok(token);
    const browser = new Browser(server.base);
    assert.equal((await browser.fetch(`/setup?token=${token}`)).status, 200);
    assert.equal((await browser.fetch('/setup?token=forged')).status, 404);
    const res = await browser.postForm('/setup', { token, email: 'Owner@Example.com', password: PASSWORD });
    assert.equal(res.status, 303);
    const me = await (await browser.fetch('/api/me')).json();
    assert.deepEqual(me, {
      email: 'owner@example.com',
      role: 'owner',
      permissions: ['api-keys:read', 'api-keys:revoke', 'members:manage'],
    });
    const again = await new Browser(server.base).postForm('/setup', {
      token,
      email: 'x@example.com',
      password: PASSWORD,
    });
    assert.equal(again.status, 403);
    assert.equal(await issueSetupToken(server.services), null, 'no setup link once a user exists');
  });
});

describe('issue 11 first run for a newcomer', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(async () => server?.stop());

  test('a form that fails validation keeps the setup link; the owner then lands signed in on the dashboard', async () => {
    const token = (await issueSetupToken(server.services)) as string;
    const browser = new Browser(server.base);
    const short = await browser.postForm('/setup', { token, email: 'owner@example.com', password: 'short' });
    assert.equal(short.status, 400);
    const page = await short.text();
    assert.match(page, /password: must be at least 8 characters/);
    assert.match(page, /value="owner@example\.com"/, 'the email typed is kept');
    const badEmail = await browser.postForm('/setup', { token, email: 'not-an-email', password: PASSWORD });
    assert.equal(badEmail.status, 400);
    assert.equal((await browser.fetch(`/setup?token=${token}`)).status, 200, 'the link still works');
    assert.equal(browser.jar.size, 0, 'not signed in by a failed form');

    const done = await browser.postForm('/setup', { token, email: 'owner@example.com', password: PASSWORD });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/settings/mcp-connections');
    const me = (await (await browser.fetch('/api/me')).json()) as { email: string; role: string };
    assert.deepEqual([me.email, me.role], ['owner@example.com', 'owner']);
    const home = await (await browser.fetch('/')).text();
    assert.doesNotMatch(home, /<title>Waxseal · Waxseal<\/title>/, 'no doubled title');
  });

  test('a used setup link shows a page with a link to sign in', async () => {
    const token = 'x'.repeat(43);
    for (const res of [
      await new Browser(server.base).fetch(`/setup?token=${token}`),
      await new Browser(server.base).postForm('/setup', {
        token,
        email: 'y@example.com',
        password: PASSWORD,
      }),
    ]) {
      assert.ok(res.status === 404 || res.status === 403, `status ${res.status}`);
      const page = await res.text();
      assert.match(page, /Waxseal is already set up/);
      assert.match(page, /<a href="\/signin\?next=%2Fsettings%2Fmcp-connections">Sign in<\/a>/);
    }
  });

  test('every page links an icon, and /favicon.ico answers 200 without a session', async () => {
    const signin = await (await new Browser(server.base).fetch('/signin')).text();
    assert.match(signin, /<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml">/);
    for (const path of ['/favicon.ico', '/favicon.svg']) {
      const res = await fetch(`${server.base}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^image\/svg\+xml/);
      assert.match(await res.text(), /^<svg /);
    }
  });
});

describe('SPEC §1 non-interactive owner and §8 operations', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite', {
      env: { WAXSEAL_ADMIN_EMAIL: 'root@example.com', WAXSEAL_ADMIN_PASSWORD: PASSWORD },
    });
  });
  after(async () => server?.stop());

  test('WAXSEAL_ADMIN_EMAIL and WAXSEAL_ADMIN_PASSWORD create the first owner', async () => {
    const browser = new Browser(server.base);
    assert.equal((await browser.signIn('root@example.com', PASSWORD)).status, 303);
    assert.equal(((await (await browser.fetch('/api/me')).json()) as { role: string }).role, 'owner');
  });

  test('once users exist, WAXSEAL_ADMIN_EMAIL is ignored with a warning saying so', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const port = await freePort();
    const again = await startServer(
      loadConfig({
        ...testEnv(server.db, port),
        WAXSEAL_ADMIN_EMAIL: 'other@example.com',
        WAXSEAL_ADMIN_PASSWORD: PASSWORD,
      }),
      { log },
    );
    await again.close();
    const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === 40);
    assert.ok(warning, `a warning in:\n${lines.join('')}`);
    assert.match(warning.msg, /WAXSEAL_ADMIN_EMAIL is ignored: users exist already/);
    assert.doesNotMatch(lines.join(''), new RegExp(PASSWORD), 'the password is not logged');
    assert.equal(
      (await new Browser(server.base).signIn('other@example.com', PASSWORD)).status,
      401,
      'no user was created',
    );
  });

  test('/healthz, /readyz and /metrics answer', async () => {
    assert.deepEqual(await (await fetch(`${server.base}/healthz`)).json(), { status: 'ok' });
    const ready = (await (await fetch(`${server.base}/readyz`)).json()) as { status: string };
    assert.equal(ready.status, 'ready');
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    assert.match(metrics, /waxseal_http_request_duration_seconds/);
  });

  test('the metadata documents name this server (RFC 8414, RFC 9728)', async () => {
    const as = (await (
      await fetch(`${server.base}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    assert.equal(as.issuer, server.base);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(as.grant_types_supported, ['authorization_code', 'refresh_token']);
    assert.deepEqual(as.token_endpoint_auth_methods_supported, [
      'none',
      'client_secret_post',
      'client_secret_basic',
    ]);
    assert.ok((as.scopes_supported as string[]).includes('offline_access'));
    for (const path of [
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource',
    ]) {
      const prm = (await (await fetch(`${server.base}${path}`)).json()) as Record<string, unknown>;
      assert.equal(prm.resource, `${server.base}/mcp`);
      assert.deepEqual(prm.authorization_servers, [server.base]);
      assert.deepEqual(prm.bearer_methods_supported, ['header']);
      assert.ok(!(prm.scopes_supported as string[]).includes('offline_access'));
    }
  });
});

describe('issue 11 one info log line per audited event', () => {
  const lines: Record<string, unknown>[] = [];
  let server: TestServer;
  before(async () => {
    const db = await createTestDatabase('sqlite');
    const port = await freePort();
    const env = testEnv(db, port);
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const running = await startServer(loadConfig(env), { log });
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
    await addUser(server, 'ada@example.com', 'admin');
  });
  after(async () => server?.stop());

  const events = (event: string) => lines.filter((l) => l.event === event && l.level === 30);

  test('sign-in, consent, revoke and regenerate each log one info line naming who and what, and no secret', async () => {
    const provider = new TestOAuthProvider(
      server,
      { email: 'ada@example.com', password: PASSWORD },
      'Cursor',
    );
    const client = await connectSdkClient(server, provider);
    const id = (await whoami(client)).connectionId as string;
    await client.close();
    assert.deepEqual(
      events('user.signed_in').map((l) => [l.actor, typeof l.ip, l.msg]),
      [['ada@example.com', 'string', 'user signed in']],
    );
    assert.deepEqual(
      events('consent.granted').map((l) => [l.actor, typeof l.clientId]),
      [['ada@example.com', 'string']],
    );
    assert.deepEqual(
      events('connection.created').map((l) => l.connectionId),
      [id],
    );

    const admin = new Browser(server.base);
    assert.equal((await admin.signIn('ada@example.com', PASSWORD)).status, 303);
    const post = (path: string) =>
      admin.fetch(path, {
        method: 'POST',
        headers: { origin: server.base, 'content-type': 'application/json' },
        body: '{}',
      });
    assert.equal((await post(`/api/mcp-connections/${id}/regenerate-key`)).status, 200);
    assert.equal((await post(`/api/mcp-connections/${id}/revoke`)).status, 200);
    assert.deepEqual(
      events('connection.key_regenerated').map((l) => [l.actor, l.connectionId]),
      [['ada@example.com', id]],
    );
    assert.deepEqual(
      events('connection.revoked').map((l) => [l.actor, l.connectionId]),
      [['ada@example.com', id]],
    );
    const text = JSON.stringify(lines);
    for (const secret of [PASSWORD, provider.saved?.access_token, provider.saved?.refresh_token]) {
      assert.ok(secret && !text.includes(secret), 'no password or token in the log');
    }
    assert.doesNotMatch(text, /wax_(at|rt)_/);
  });
});

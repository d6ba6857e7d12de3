import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DAY, HOUR, MINUTE } from '../../src/domain/clock.js';
import { sweepUnusedClients } from '../../src/services/sweep.js';
import {
  addUser,
  authorizeInBrowser,
  Browser,
  connectSdkClient,
  PASSWORD,
  pkce,
  TestOAuthProvider,
} from '../helpers/flow.js';
import {
  createTestDatabase,
  postgresSkip,
  startTestServer,
  TestClock,
  type TestServer,
} from '../helpers/server.js';

const REDIRECT = 'http://127.0.0.1:8976/callback';

function from(ip: string): Record<string, string> {
  return { 'x-forwarded-for': ip };
}

async function register(base: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'L' }),
  });
}

async function postJson(browser: Browser, path: string, body: unknown, origin = browser.base) {
  return browser.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: new URL(origin).origin },
    body: JSON.stringify(body),
  });
}

/** Asserts an OAuth-style 429: JSON error, a whole-second Retry-After within the window, no caching. */
async function assertLimited(res: Response, windowSeconds: number): Promise<void> {
  assert.equal(res.status, 429);
  const retryAfter = Number(res.headers.get('retry-after'));
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds,
    `Retry-After ${retryAfter}`,
  );
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = (await res.json()) as Record<string, string>;
  assert.equal(body.error, 'too_many_requests');
  assert.match(body.error_description ?? '', /Too many requests/);
}

describe('issue #6 sign-in lock-out per account, lifted by an owner', () => {
  let server: TestServer;
  const clock = new TestClock();
  before(async () => {
    server = await startTestServer('sqlite', {
      clock,
      env: { SIGNIN_ACCOUNT_MAX_FAILURES: '3', SIGNIN_LOCKOUT_MINUTES: '10', TRUST_PROXY_HOPS: '1' },
    });
    await addUser(server, 'owner@example.com', 'owner');
    await addUser(server, 'admin@example.com', 'admin');
    await addUser(server, 'victim@example.com', 'member');
    await addUser(server, 'later@example.com', 'member');
  });
  after(async () => server?.stop());

  test('SIGNIN_ACCOUNT_MAX_FAILURES failures lock the account, even against the right password from another IP', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await new Browser(server.base).postForm(
        '/signin',
        { email: 'victim@example.com', password: 'wrong password', next: '/' },
        from(`203.0.113.${i + 1}`),
      );
      assert.equal(res.status, 401);
    }
    const res = await new Browser(server.base).postForm(
      '/signin',
      { email: 'victim@example.com', password: PASSWORD, next: '/' },
      from('198.51.100.7'),
    );
    assert.equal(res.status, 429);
    assert.match(await res.text(), /Too many sign-in attempts/);
  });

  test('an owner sees the lock-out; an admin may not see or lift it', async () => {
    const owner = new Browser(server.base);
    assert.equal((await owner.signIn('owner@example.com', PASSWORD)).status, 303);
    const list = (await (await owner.fetch('/api/lockouts')).json()) as {
      items: { kind: string; subject: string; failures: number; lockedUntil: string }[];
    };
    const entry = list.items.find((l) => l.subject === 'victim@example.com');
    assert.deepEqual(entry, {
      kind: 'account',
      subject: 'victim@example.com',
      failures: 3,
      lockedUntil: entry?.lockedUntil,
    });
    assert.ok(Date.parse(entry?.lockedUntil ?? '') > clock.now());
    const admin = new Browser(server.base);
    await admin.signIn('admin@example.com', PASSWORD);
    assert.equal((await admin.fetch('/api/lockouts')).status, 403);
    assert.equal(
      (await postJson(admin, '/api/lockouts/unlock', { email: 'victim@example.com' })).status,
      403,
    );
    assert.equal((await new Browser(server.base).fetch('/api/lockouts')).status, 401);
  });

  test('a cross-site unlock is refused; a bad body names the field', async () => {
    const owner = new Browser(server.base);
    await owner.signIn('owner@example.com', PASSWORD);
    const cross = await postJson(
      owner,
      '/api/lockouts/unlock',
      { email: 'victim@example.com' },
      'https://evil.example',
    );
    assert.equal(cross.status, 403);
    const both = await postJson(owner, '/api/lockouts/unlock', { email: 'a@b.co', ip: '1.2.3.4' });
    assert.equal(both.status, 400);
    assert.match(((await both.json()) as { error_description: string }).error_description, /email or ip/);
    const wrongType = await postJson(owner, '/api/lockouts/unlock', { email: 42 });
    assert.equal(wrongType.status, 400);
    assert.match(((await wrongType.json()) as { error_description: string }).error_description, /^email: /);
  });

  test('the owner lifts the lock-out: the right password works again, and both are audited', async () => {
    const owner = new Browser(server.base);
    await owner.signIn('owner@example.com', PASSWORD);
    const res = await postJson(owner, '/api/lockouts/unlock', { email: 'Victim@Example.com' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { unlocked: true });
    const list = (await (await owner.fetch('/api/lockouts')).json()) as { items: { subject: string }[] };
    assert.ok(!list.items.some((l) => l.subject === 'victim@example.com'));
    assert.equal((await new Browser(server.base).signIn('victim@example.com', PASSWORD)).status, 303);
    const rows = await server.services.store.db
      .selectFrom('audit_events')
      .select(['actor', 'action', 'detail'])
      .where('action', 'in', ['user.locked_out', 'user.unlocked'])
      .orderBy('id')
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.actor, r.action]),
      [
        ['victim@example.com', 'user.locked_out'],
        ['owner@example.com', 'user.unlocked'],
      ],
    );
    assert.deepEqual(JSON.parse(rows[1]?.detail ?? '{}'), { email: 'victim@example.com', wasLocked: true });
  });

  test('without an owner, the lock-out ends by itself after SIGNIN_LOCKOUT_MINUTES', async () => {
    for (let i = 0; i < 3; i++) await new Browser(server.base).signIn('later@example.com', 'nope nope');
    assert.equal((await new Browser(server.base).signIn('later@example.com', PASSWORD)).status, 429);
    clock.advance(10 * MINUTE + 1);
    assert.equal((await new Browser(server.base).signIn('later@example.com', PASSWORD)).status, 303);
  });
});

describe('issue #6 sign-in lock-out per IP', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite', {
      env: { SIGNIN_IP_MAX_FAILURES: '4', TRUST_PROXY_HOPS: '1' },
    });
    await addUser(server, 'owner@example.com', 'owner');
    await addUser(server, 'pat@example.com', 'member');
  });
  after(async () => server?.stop());

  test('SIGNIN_IP_MAX_FAILURES failures from one IP (spread over accounts) lock that IP only, until an owner lifts it', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await new Browser(server.base).postForm(
        '/signin',
        { email: `guess${i}@example.com`, password: 'wrong password', next: '/' },
        from('192.0.2.66'),
      );
      assert.equal(res.status, 401);
    }
    const blocked = await new Browser(server.base).postForm(
      '/signin',
      { email: 'pat@example.com', password: PASSWORD, next: '/' },
      from('192.0.2.66'),
    );
    assert.equal(blocked.status, 429);
    const other = await new Browser(server.base).postForm(
      '/signin',
      { email: 'pat@example.com', password: PASSWORD, next: '/' },
      from('192.0.2.77'),
    );
    assert.equal(other.status, 303, 'another IP signs in to the same account');

    const owner = new Browser(server.base);
    await owner.postForm(
      '/signin',
      { email: 'owner@example.com', password: PASSWORD, next: '/' },
      from('192.0.2.1'),
    );
    const list = (await (await owner.fetch('/api/lockouts')).json()) as {
      items: { kind: string; subject: string }[];
    };
    assert.ok(list.items.some((l) => l.kind === 'ip' && l.subject === '192.0.2.66'));
    const res = await postJson(owner, '/api/lockouts/unlock', { ip: '192.0.2.66' });
    assert.deepEqual(await res.json(), { unlocked: true });
    const again = await new Browser(server.base).postForm(
      '/signin',
      { email: 'pat@example.com', password: PASSWORD, next: '/' },
      from('192.0.2.66'),
    );
    assert.equal(again.status, 303);
  });
});

describe('issue #6 per-IP limits on /register, /token and /authorize', () => {
  let server: TestServer;
  const clock = new TestClock();
  before(async () => {
    server = await startTestServer('sqlite', {
      clock,
      env: {
        REGISTER_LIMIT_PER_HOUR: '3',
        TOKEN_LIMIT_PER_MINUTE: '5',
        AUTHORIZE_LIMIT_PER_MINUTE: '4',
        TRUST_PROXY_HOPS: '1',
      },
    });
  });
  after(async () => server?.stop());

  test('REGISTER_LIMIT_PER_HOUR: the next registration gets 429 with Retry-After and stores nothing; other IPs and the next hour are unaffected', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await register(server.base, from('10.0.0.1'))).status, 201);
    const count = async () =>
      Number(
        (
          await server.services.store.db
            .selectFrom('oauth_clients')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    await assertLimited(await register(server.base, from('10.0.0.1')), 3600);
    assert.equal(await count(), before, 'a refused registration stores no client');
    assert.equal((await register(server.base, from('10.0.0.2'))).status, 201);
    clock.advance(HOUR + 1);
    assert.equal((await register(server.base, from('10.0.0.1'))).status, 201);
  });

  test('TOKEN_LIMIT_PER_MINUTE: the next /token request gets 429, whatever it carries', async () => {
    const post = () =>
      fetch(`${server.base}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...from('10.0.1.1') },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'wax_rt_x', client_id: 'x' }),
      });
    for (let i = 0; i < 5; i++) assert.equal((await post()).status, 401);
    await assertLimited(await post(), 60);
    clock.advance(MINUTE + 1);
    assert.equal((await post()).status, 401);
  });

  test('AUTHORIZE_LIMIT_PER_MINUTE: the next /authorize request gets 429', async () => {
    const get = () => fetch(`${server.base}/authorize?client_id=nobody`, { headers: from('10.0.2.1') });
    for (let i = 0; i < 4; i++) assert.equal((await get()).status, 400);
    await assertLimited(await get(), 60);
  });
});

describe('issue #6 limits are shared by every instance on PostgreSQL', async () => {
  const skip = await postgresSkip();
  let a: TestServer;
  let b: TestServer;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => {
    if (skip) return;
    db = await createTestDatabase('postgres');
    const env = { SIGNIN_ACCOUNT_MAX_FAILURES: '2', REGISTER_LIMIT_PER_HOUR: '4' };
    a = await startTestServer('postgres', { db, env });
    b = await startTestServer('postgres', { db, env });
    await addUser(a, 'shared@example.com', 'member');
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  test('failures on instance A lock the account on instance B; registrations on A count on B', {
    skip,
  }, async () => {
    assert.equal((await new Browser(a.base).signIn('shared@example.com', 'bad password')).status, 401);
    assert.equal((await new Browser(b.base).signIn('shared@example.com', 'bad password')).status, 401);
    assert.equal((await new Browser(b.base).signIn('shared@example.com', PASSWORD)).status, 429);
    assert.equal((await new Browser(a.base).signIn('shared@example.com', PASSWORD)).status, 429);
    for (const server of [a, b, a, b]) assert.equal((await register(server.base)).status, 201);
    assert.equal((await register(a.base)).status, 429);
    assert.equal((await register(b.base)).status, 429);
  });
});

describe('issue #6 unused dynamic registrations expire', () => {
  let server: TestServer;
  const clock = new TestClock();
  before(async () => {
    server = await startTestServer('sqlite', { clock, env: { UNUSED_CLIENT_TTL_DAYS: '2' } });
  });
  after(async () => server?.stop());

  test('a client with no connection after UNUSED_CLIENT_TTL_DAYS is deleted by the sweeper; used and recent ones stay', async () => {
    const user = await addUser(server, 'dev@example.com', 'member');
    const unused = (await (await register(server.base)).json()) as { client_id: string };
    const used = (await (await register(server.base)).json()) as { client_id: string };
    const { verifier, challenge } = pkce();
    const url = new URL('/authorize', server.base);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: used.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(k, v);
    const back = await authorizeInBrowser(new Browser(server.base), url.href, user);
    const tokenRes = await fetch(`${server.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code') as string,
        code_verifier: verifier,
        client_id: used.client_id,
        redirect_uri: REDIRECT,
      }),
    });
    assert.equal(tokenRes.status, 200);
    const tokens = (await tokenRes.json()) as { refresh_token: string };

    clock.advance(DAY);
    const recent = (await (await register(server.base)).json()) as { client_id: string };
    assert.equal(await sweepUnusedClients(server.services), 0, 'nothing is old enough yet');
    clock.advance(DAY + 1);
    assert.equal(await sweepUnusedClients(server.services), 1);

    const page = await fetch(
      `${server.base}/authorize?client_id=${unused.client_id}&redirect_uri=${REDIRECT}`,
    );
    assert.equal(page.status, 400);
    assert.match(await page.text(), /not registered/);
    const ids = (
      await server.services.store.db.selectFrom('oauth_clients').select('client_id').execute()
    ).map((r) => r.client_id);
    assert.deepEqual(ids.sort(), [used.client_id, recent.client_id].sort());
    const refreshed = await fetch(`${server.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: used.client_id,
      }),
    });
    assert.equal(refreshed.status, 200, 'the client with a connection keeps working');
  });
});

/** Sends one request with an exact header block through node:http and returns the status. */
function rawStatus(base: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'GET', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('issue #6 request body and header size limits', () => {
  let server: TestServer;
  let small: TestServer;
  let owner: Browser;
  before(async () => {
    server = await startTestServer('sqlite');
    small = await startTestServer('sqlite', { env: { MAX_HEADER_BYTES: '8192' } });
    await addUser(server, 'owner@example.com', 'owner');
    owner = new Browser(server.base);
    await owner.signIn('owner@example.com', PASSWORD);
  });
  after(async () => {
    await server?.stop();
    await small?.stop();
  });

  const routes: [string, string, number][] = [
    ['/register', 'application/json', 64 * 1024],
    ['/token', 'application/x-www-form-urlencoded', 16 * 1024],
    ['/revoke', 'application/x-www-form-urlencoded', 16 * 1024],
    ['/signin', 'application/x-www-form-urlencoded', 16 * 1024],
    ['/signin/totp', 'application/x-www-form-urlencoded', 16 * 1024],
    ['/setup', 'application/x-www-form-urlencoded', 16 * 1024],
    ['/authorize/decision', 'application/x-www-form-urlencoded', 16 * 1024],
    ['/api/mcp-connections/x/revoke', 'application/json', 16 * 1024],
    ['/api/members', 'application/json', 16 * 1024],
    ['/api/lockouts/unlock', 'application/json', 4 * 1024],
  ];
  for (const [path, type, limit] of routes) {
    test(`POST ${path} refuses a body over ${limit / 1024} kB with 413`, async () => {
      const big =
        type === 'application/json'
          ? JSON.stringify({ pad: 'x'.repeat(limit + 10) })
          : `a=${'x'.repeat(limit + 10)}`;
      const res = await owner.fetch(path, {
        method: 'POST',
        headers: { 'content-type': type, origin: server.base },
        body: big,
      });
      const text = await res.text();
      assert.equal(res.status, 413, text);
      assert.equal((JSON.parse(text) as { error: string }).error, 'invalid_request');
    });
  }

  test('POST /mcp refuses a body over 1 MB with 413 once the bearer is checked', async () => {
    const body = JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) });
    const anonymous = await fetch(`${server.base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(anonymous.status, 401, 'no body is read before the bearer is checked');
    const provider = new TestOAuthProvider(server, { email: 'owner@example.com', password: PASSWORD });
    const client = await connectSdkClient(server, provider);
    await client.close();
    const res = await fetch(`${server.base}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${provider.saved?.access_token}`,
      },
      body,
    });
    assert.equal(res.status, 413);
  });

  test('headers over MAX_HEADER_BYTES get 431 before any handler; the default (16 kB) admits 10 kB', async () => {
    const cookie = `pad=${'x'.repeat(10 * 1024)}`;
    assert.equal(await rawStatus(server.url, '/healthz', { cookie }), 200);
    assert.equal(await rawStatus(small.url, '/healthz', { cookie }), 431);
    assert.equal(await rawStatus(server.url, '/healthz', { cookie: `pad=${'x'.repeat(20 * 1024)}` }), 431);
    assert.equal((await fetch(`${small.url}/healthz`)).status, 200, 'the server carries on');
  });
});

describe('issue #6 each limit is a validated setting', () => {
  const bad: [string, string, RegExp][] = [
    ['SIGNIN_ACCOUNT_MAX_FAILURES', '0', /must be 1-1000/],
    ['SIGNIN_IP_MAX_FAILURES', 'many', /SIGNIN_IP_MAX_FAILURES: /],
    ['SIGNIN_LOCKOUT_MINUTES', '1.5', /must be a whole number/],
    ['REGISTER_LIMIT_PER_HOUR', '-1', /must be 1-/],
    ['TOKEN_LIMIT_PER_MINUTE', 'x', /TOKEN_LIMIT_PER_MINUTE: /],
    ['AUTHORIZE_LIMIT_PER_MINUTE', '0', /must be 1-/],
    ['UNUSED_CLIENT_TTL_DAYS', '0', /must be 1-3650/],
    ['MAX_HEADER_BYTES', '1024', /must be 4096-65536/],
  ];
  for (const [name, value, message] of bad) {
    test(`${name}=${value} stops start-up with one line naming it`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (err: unknown) =>
          err instanceof ConfigError && err.message.startsWith(`${name}: `) && message.test(err.message),
      );
    });
  }

  test('the defaults', () => {
    assert.deepEqual(loadConfig({}).limits, {
      signinAccountFailures: 5,
      signinIpFailures: 30,
      signinLockoutMs: 15 * MINUTE,
      registerPerHour: 100,
      tokenPerMinute: 300,
      authorizePerMinute: 120,
      unusedClientTtlMs: 30 * DAY,
      maxHeaderBytes: 16384,
    });
  });
});

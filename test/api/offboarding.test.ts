import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listAuditEvents } from '../../src/services/audit-events.js';
import { listUsers } from '../../src/services/users.js';
import {
  addUser,
  authorizeInBrowser,
  Browser,
  connectSdkClient,
  mcpStatus,
  PASSWORD,
  pkce,
  refreshGrant,
  TestOAuthProvider,
} from '../helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

const postJson = (b: Browser, path: string, body: unknown, headers: Record<string, string> = {}) =>
  b.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: new URL(b.base).origin, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function signedIn(server: TestServer, email: string, role: string): Promise<Browser> {
  const user = await addUser(server, email, role);
  const browser = new Browser(server.base);
  assert.equal((await browser.signIn(user.email, user.password)).status, 303);
  return browser;
}

/** A connection made through the whole OAuth flow by the SDK client; returns its access token. */
async function connect(server: TestServer, email: string): Promise<string> {
  return (await connectWithRefresh(server, email)).access;
}

async function connectWithRefresh(server: TestServer, email: string) {
  const provider = new TestOAuthProvider(server, { email, password: PASSWORD });
  const client = await connectSdkClient(server, provider);
  await client.close();
  return {
    access: provider.saved?.access_token as string,
    refresh: provider.saved?.refresh_token as string,
    clientId: provider.info?.client_id as string,
  };
}

/** Registers a public client and runs /authorize as `email` up to the code, without exchanging it. */
async function codeFor(server: TestServer, email: string) {
  const redirect = 'http://127.0.0.1:8976/callback';
  const reg = await fetch(`${server.base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [redirect],
      token_endpoint_auth_method: 'none',
      client_name: 'Late',
    }),
  });
  const clientId = ((await reg.json()) as { client_id: string }).client_id;
  const { verifier, challenge } = pkce();
  const url = new URL('/authorize', server.base);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirect,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'x',
  }).toString();
  const back = await authorizeInBrowser(new Browser(server.base), url.href, { email, password: PASSWORD });
  const code = back.searchParams.get('code') as string;
  return () =>
    fetch(`${server.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: redirect,
        client_id: clientId,
      }),
    });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 Revoke all, and the last owner under concurrency (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    let owner: Browser;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind);
      owner = await signedIn(server, 'owner@example.com', 'owner');
    });
    after(async () => server?.stop());

    test('revoke-all revokes every active connection of that user and no one else’s, one audit row each', {
      skip,
    }, async () => {
      await addUser(server, 'leaver@example.com', 'member');
      await addUser(server, 'stayer@example.com', 'member');
      const leaver = [
        await connect(server, 'leaver@example.com'),
        await connect(server, 'leaver@example.com'),
        await connect(server, 'leaver@example.com'),
      ];
      const stayer = await connect(server, 'stayer@example.com');
      for (const token of [...leaver, stayer]) assert.equal(await mcpStatus(server.base, token), 200);

      const res = await postJson(owner, '/api/mcp-connections/revoke-all', {
        userEmail: 'Leaver@Example.com',
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { revoked: 3 });
      for (const token of leaver) assert.equal(await mcpStatus(server.base, token), 401);
      assert.equal(await mcpStatus(server.base, stayer), 200, 'another user is untouched');

      const events = (await listAuditEvents(server.services, { limit: 100 })).items.filter(
        (e) => e.action === 'connection.revoked' && e.detail.reason === 'revoke all',
      );
      assert.equal(events.length, 3);
      assert.ok(events.every((e) => e.actor === 'owner@example.com'));

      const again = await postJson(owner, '/api/mcp-connections/revoke-all', {
        userEmail: 'leaver@example.com',
      });
      assert.deepEqual(await again.json(), { revoked: 0 }, 'nothing left to revoke');
    });

    test('revoke-all: 400 naming the field, 404 for an unknown user, 403 without api-keys:revoke or cross-site', {
      skip,
    }, async () => {
      const missing = await postJson(owner, '/api/mcp-connections/revoke-all', {});
      assert.equal(missing.status, 400);
      assert.match(
        ((await missing.json()) as { error_description: string }).error_description,
        /^userEmail: /,
      );
      const notEmail = await postJson(owner, '/api/mcp-connections/revoke-all', { userEmail: 'nope' });
      assert.equal(notEmail.status, 400);
      assert.match(
        ((await notEmail.json()) as { error_description: string }).error_description,
        /^userEmail: must be an email address/,
      );
      const unknown = await postJson(owner, '/api/mcp-connections/revoke-all', {
        userEmail: 'nobody@example.com',
      });
      assert.equal(unknown.status, 404);
      const viewer = await signedIn(server, 'viewer@example.com', 'viewer');
      assert.equal(
        (await postJson(viewer, '/api/mcp-connections/revoke-all', { userEmail: 'owner@example.com' }))
          .status,
        403,
      );
      assert.equal(
        (
          await postJson(
            owner,
            '/api/mcp-connections/revoke-all',
            { userEmail: 'owner@example.com' },
            { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
          )
        ).status,
        403,
      );
      assert.equal(
        (await new Browser(server.base).fetch('/api/mcp-connections/revoke-all', { method: 'POST' })).status,
        401,
      );
    });

    test('Disable: every connection revoked by the owner, sessions ended, sign-in refused; Enable restores sign-in only', {
      skip,
    }, async () => {
      const email = 'gone@example.com';
      await addUser(server, email, 'admin');
      const first = await connectWithRefresh(server, email);
      const second = await connect(server, email);
      const dashboard = new Browser(server.base);
      assert.equal((await dashboard.signIn(email, PASSWORD)).status, 303);
      assert.equal((await dashboard.fetch('/api/me')).status, 200);
      const pendingExchange = await codeFor(server, email);

      const res = await postJson(owner, '/api/members/disable', { email });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.status, 'disabled');
      assert.equal(body.activeConnections, 0);

      assert.equal(await mcpStatus(server.base, first.access), 401);
      assert.equal(await mcpStatus(server.base, second), 401);
      assert.equal(
        (await refreshGrant(server.base, first.clientId, first.refresh)).body.error,
        'invalid_grant',
      );
      assert.equal((await dashboard.fetch('/api/me')).status, 401, 'the dashboard session ended');
      const signin = await new Browser(server.base).signIn(email, PASSWORD);
      assert.equal(signin.status, 401, 'the generic sign-in error');
      assert.match(await signin.text(), /Incorrect email or password\./);
      const late = await pendingExchange();
      assert.equal(late.status, 400, 'a code issued before Disable makes no connection after it');
      assert.equal(((await late.json()) as { error: string }).error, 'invalid_grant');

      const { items } = (await (await owner.fetch('/api/mcp-connections?q=gone%40example.com')).json()) as {
        items: { status: string; revokedBy: string }[];
      };
      assert.equal(items.length, 2);
      assert.ok(items.every((c) => c.status === 'revoked' && c.revokedBy === 'owner@example.com'));
      const audit = (await listAuditEvents(server.services, { limit: 100 })).items;
      assert.equal(audit.filter((e) => e.action === 'user.disabled' && e.detail.email === email).length, 1);
      assert.equal(audit.filter((e) => e.detail.reason === 'user disabled').length, 2);

      const enabled = await postJson(owner, '/api/members/enable', { email });
      assert.equal(enabled.status, 200);
      assert.equal(((await enabled.json()) as { status: string }).status, 'active');
      assert.equal((await new Browser(server.base).signIn(email, PASSWORD)).status, 303);
      assert.equal(await mcpStatus(server.base, first.access), 401, 'revoked connections stay revoked');
    });

    test('Disable and Enable are for owners; the last owner cannot be disabled; two owners disabling each other leave one', {
      skip,
    }, async () => {
      const admin = await signedIn(server, 'admin-x@example.com', 'admin');
      assert.equal(
        (await postJson(admin, '/api/members/disable', { email: 'viewer@example.com' })).status,
        403,
      );
      assert.equal((await postJson(owner, '/api/members/disable', {})).status, 400);
      assert.equal((await postJson(owner, '/api/members/disable', { email: 'no@example.com' })).status, 404);
      assert.equal(
        (await postJson(owner, '/api/members/disable', { email: 'owner@example.com' })).status,
        409,
      );

      const other = await signedIn(server, 'rival-owner@example.com', 'owner');
      const [ra, rb] = await Promise.all([
        postJson(owner, '/api/members/disable', { email: 'rival-owner@example.com' }),
        postJson(other, '/api/members/disable', { email: 'owner@example.com' }),
      ]);
      const active = (await listUsers(server.services)).filter(
        (u) => u.role === 'owner' && u.status === 'active',
      );
      assert.equal(active.length, 1, `one active owner left (statuses ${ra.status}, ${rb.status})`);
      assert.ok(
        ['200,401', '200,409'].includes([ra.status, rb.status].sort().join()),
        `${ra.status}, ${rb.status}`,
      );
      const survivor = active[0]?.email === 'owner@example.com' ? owner : other;
      const loser =
        active[0]?.email === 'owner@example.com' ? 'rival-owner@example.com' : 'owner@example.com';
      assert.equal((await postJson(survivor, '/api/members/enable', { email: loser })).status, 200);
      if (survivor !== owner) assert.equal((await owner.signIn('owner@example.com', PASSWORD)).status, 303);
      assert.equal(
        (await postJson(owner, '/api/members/disable', { email: 'rival-owner@example.com' })).status,
        200,
      );
    });

    test('two owners demoting each other at the same moment: one wins, one gets 409, an owner remains (20 rounds)', {
      skip,
    }, async () => {
      const a = owner;
      const b = await signedIn(server, 'second-owner@example.com', 'owner');
      for (let round = 0; round < 20; round++) {
        const owners = (await listUsers(server.services))
          .filter((u) => u.role === 'owner' && u.status === 'active')
          .map((u) => u.email);
        assert.deepEqual(
          owners.sort(),
          ['owner@example.com', 'second-owner@example.com'],
          `round ${round} start`,
        );
        const [ra, rb] = await Promise.all([
          postJson(a, '/api/members/role', { email: 'second-owner@example.com', role: 'admin' }),
          postJson(b, '/api/members/role', { email: 'owner@example.com', role: 'admin' }),
        ]);
        const statuses = [ra.status, rb.status].sort();
        const remaining = (await listUsers(server.services)).filter(
          (u) => u.role === 'owner' && u.status === 'active',
        );
        assert.equal(remaining.length, 1, `round ${round}: exactly one owner left (statuses ${statuses})`);
        // The loser was refused as the last owner, or had already lost the right to manage members.
        assert.ok(['200,403', '200,409'].includes(statuses.join()), `round ${round}: statuses ${statuses}`);
        const winner = remaining[0]?.email === 'owner@example.com' ? a : b;
        const demoted =
          remaining[0]?.email === 'owner@example.com' ? 'second-owner@example.com' : 'owner@example.com';
        assert.equal(
          (await postJson(winner, '/api/members/role', { email: demoted, role: 'owner' })).status,
          200,
        );
      }
    });
  });
}

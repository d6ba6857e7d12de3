import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listAuditEvents } from '../../src/services/audit-events.js';
import { listUsers } from '../../src/services/users.js';
import { addUser, Browser, connectSdkClient, mcpStatus, TestOAuthProvider } from '../helpers/flow.js';
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
  const provider = new TestOAuthProvider(server, { email, password: 'correct horse battery staple' });
  const client = await connectSdkClient(server, provider);
  await client.close();
  return provider.saved?.access_token as string;
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

    test('two owners demoting each other at the same moment: one wins, one gets 409, an owner remains (20 rounds)', {
      skip,
    }, async () => {
      const a = owner;
      const b = await signedIn(server, 'second-owner@example.com', 'owner');
      for (let round = 0; round < 20; round++) {
        const owners = (await listUsers(server.services))
          .filter((u) => u.role === 'owner')
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
        const remaining = (await listUsers(server.services)).filter((u) => u.role === 'owner');
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

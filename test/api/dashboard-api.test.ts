import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { seedConnections } from '../../bench/seed.js';
import { listConnections } from '../../src/services/connections.js';
import { listUsers } from '../../src/services/users.js';
import { addUser, Browser } from '../helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

const ROLES = ['owner', 'admin', 'viewer', 'member'] as const;

async function signedIn(server: TestServer, role: string): Promise<Browser> {
  const user = await addUser(server, `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`, role);
  const browser = new Browser(server.base);
  assert.equal((await browser.signIn(user.email, user.password)).status, 303);
  return browser;
}

const postJson = (b: Browser, path: string, body: unknown, headers: Record<string, string> = {}) =>
  b.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: new URL(b.base).origin, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('members, config and OpenAPI endpoints (SPEC §5, §7)', () => {
  let server: TestServer;
  const browsers = {} as Record<(typeof ROLES)[number], Browser>;
  before(async () => {
    server = await startTestServer('sqlite');
    for (const role of ROLES) browsers[role] = await signedIn(server, role);
  });
  after(async () => server?.stop());

  test('every role × every members call: owners only; 401 without a session', async () => {
    const anonymous = new Browser(server.base);
    assert.equal((await anonymous.fetch('/api/members')).status, 401);
    assert.equal((await postJson(anonymous, '/api/members', {})).status, 401);
    assert.equal((await postJson(anonymous, '/api/members/role', {})).status, 401);
    for (const role of ROLES) {
      const b = browsers[role];
      const allowed = role === 'owner';
      const list = await b.fetch('/api/members');
      assert.equal(list.status, allowed ? 200 : 403, `${role} GET /api/members`);
      const add = await postJson(b, '/api/members', {
        email: `new-by-${role}@example.com`,
        password: 'long enough!',
        role: 'viewer',
      });
      assert.equal(add.status, allowed ? 201 : 403, `${role} POST /api/members`);
      const change = await postJson(b, '/api/members/role', {
        email: `new-by-owner@example.com`,
        role: 'admin',
      });
      assert.equal(change.status, allowed ? 200 : 403, `${role} POST /api/members/role`);
    }
    const users = await listUsers(server.services);
    assert.deepEqual(
      users.filter((u) => u.email.startsWith('new-by-')).map((u) => [u.email, u.role]),
      [['new-by-owner@example.com', 'admin']],
    );
  });

  test('GET /api/members lists users without secrets and each role with its SPEC §5 permissions', async () => {
    const body = (await (await browsers.owner.fetch('/api/members')).json()) as {
      items: Record<string, unknown>[];
      roles: { name: string; permissions: { name: string; value: string }[] }[];
    };
    assert.ok(body.items.length >= 4);
    for (const m of body.items)
      assert.deepEqual(Object.keys(m).sort(), [
        'activeConnections',
        'createdAt',
        'email',
        'id',
        'role',
        'source',
        'status',
        'totpEnabled',
      ]);
    const admin = body.roles.find((r) => r.name === 'admin');
    assert.deepEqual(admin?.permissions, [
      { name: 'MCP_CONNECTIONS_READ', value: 'api-keys:read' },
      { name: 'MCP_CONNECTIONS_REVOKE', value: 'api-keys:revoke' },
    ]);
    assert.deepEqual(body.roles.find((r) => r.name === 'member')?.permissions, []);
  });

  test('bad input gets 400 naming the field; duplicates and the last owner get 409', async () => {
    const cases: [unknown, string][] = [
      [{ password: 'long enough!', role: 'viewer' }, 'email: is required'],
      [
        { email: 'not-an-email', password: 'long enough!', role: 'viewer' },
        'email: must be an email address',
      ],
      [
        { email: 'x@example.com', password: 'short', role: 'viewer' },
        'password: must be at least 8 characters',
      ],
      [
        { email: 'x@example.com', password: 'long enough!', role: 'king' },
        'role: must be one of owner, admin, viewer, member',
      ],
      [{ email: 'x@example.com', password: 12345678, role: 'viewer' }, 'password: must be a string'],
      ['[1,2]', 'body: must be a JSON object sent with Content-Type: application/json'],
    ];
    for (const [body, message] of cases) {
      const res = await postJson(browsers.owner, '/api/members', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.deepEqual(await res.json(), { error: 'bad_request', error_description: message });
    }
    const form = await browsers.owner.fetch('/api/members', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(server.base).origin },
      body: 'email=a%40example.com&password=long+enough!&role=owner',
    });
    assert.equal(form.status, 400, 'only JSON bodies are read');
    const dup = await postJson(browsers.owner, '/api/members', {
      email: 'new-by-owner@example.com',
      password: 'long enough!',
      role: 'viewer',
    });
    assert.equal(dup.status, 409);
    const missing = await postJson(browsers.owner, '/api/members/role', {
      email: 'nobody@example.com',
      role: 'admin',
    });
    assert.equal(missing.status, 404);
    const badRole = await postJson(browsers.owner, '/api/members/role', { email: 'nobody@example.com' });
    assert.equal(badRole.status, 400);
    assert.match(((await badRole.json()) as { error_description: string }).error_description, /^role: /);
  });

  test('a cross-origin state change is refused with 403 and changes nothing', async () => {
    const before = await listUsers(server.services);
    for (const headers of [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: '', 'sec-fetch-site': 'cross-site' },
    ]) {
      const h = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
      const add = await browsers.owner.fetch('/api/members', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...h },
        body: JSON.stringify({ email: 'evil@example.com', password: 'long enough!', role: 'owner' }),
      });
      assert.equal(add.status, 403, JSON.stringify(h));
      const role = await browsers.owner.fetch('/api/members/role', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...h },
        body: JSON.stringify({ email: 'new-by-owner@example.com', role: 'owner' }),
      });
      assert.equal(role.status, 403);
    }
    // A same-origin browser under Referrer-Policy: no-referrer sends Origin: null with Sec-Fetch-Site.
    const sameSite = await postJson(
      browsers.owner,
      '/api/members/role',
      { email: 'new-by-owner@example.com', role: 'viewer' },
      { origin: 'null', 'sec-fetch-site': 'same-origin' },
    );
    assert.equal(sameSite.status, 200);
    assert.deepEqual(
      (await listUsers(server.services)).map((u) => u.email),
      before.map((u) => u.email),
    );
  });

  test('GET /api/config gives the MCP URL to any signed-in user', async () => {
    assert.equal((await new Browser(server.base).fetch('/api/config')).status, 401);
    for (const role of ROLES) {
      const res = await browsers[role].fetch('/api/config');
      assert.deepEqual(await res.json(), { publicUrl: server.base, mcpUrl: `${server.base}/mcp` });
    }
  });

  test('GET /api/openapi.json (OpenAPI 3.1) describes every /api call with the connection fields of SPEC §7', async () => {
    const doc = (await (await fetch(`${server.base}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    assert.equal(doc.openapi, '3.1.0');
    const calls = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    assert.deepEqual(calls.sort(), [
      'GET /api/audit-events',
      'GET /api/config',
      'GET /api/lockouts',
      'GET /api/mcp-connections',
      'GET /api/mcp-connections/{id}/tools',
      'GET /api/me',
      'GET /api/members',
      'GET /api/openapi.json',
      'GET /api/upstreams',
      'POST /api/lockouts/unlock',
      'POST /api/mcp-connections/revoke-all',
      'POST /api/mcp-connections/{id}/regenerate-key',
      'POST /api/mcp-connections/{id}/revoke',
      'POST /api/members',
      'POST /api/members/disable',
      'POST /api/members/enable',
      'POST /api/members/role',
      'PUT /api/mcp-connections/{id}/tools',
    ]);
    assert.deepEqual(Object.keys(doc.components.schemas.Connection?.properties ?? {}), [
      'id',
      'clientName',
      'status',
      'userEmail',
      'apiKeyPrefix',
      'connectedAt',
      'lastTokenAt',
      'lastUsedAt',
      'lastUsedIp',
      'revokedAt',
      'revokedBy',
    ]);
  });

  test('dashboard URLs: signed out they go to the sign-in page with next; /settings goes to MCP', async () => {
    const anonymous = new Browser(server.base);
    for (const path of [
      '/settings/mcp-connections',
      '/settings/members',
      '/settings/mcp-connections?status=revoked',
    ]) {
      const res = await anonymous.fetch(path);
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), `/signin?next=${encodeURIComponent(path)}`);
    }
    assert.equal((await anonymous.fetch('/settings')).headers.get('location'), '/settings/mcp-connections');
    const page = await browsers.member.fetch('/settings/mcp-connections');
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /<script>|<style>|style="/, 'no inline script or style (CSP)');
    const asset = /src="(\/assets-web\/[^"]+\.js)"/.exec(html)?.[1] ?? '';
    const js = await anonymous.fetch(asset);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
  });
});

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`connections search and totals on ${kind} (SPEC §6)`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind);
      await seedConnections(server.services.store, {
        connections: 120,
        users: 6,
        now: Date.now(),
        revokedEvery: 4,
        clientNames: ['Claude Desktop', 'Cursor 50%_off', 'Zed'],
      });
    });
    after(async () => server?.stop());

    const all = async (q: Parameters<typeof listConnections>[1]) => {
      const out = [];
      let cursor: { connectedAt: number; id: string } | undefined;
      let total = -1;
      do {
        const page = await listConnections(server.services, { ...q, cursor });
        total = page.total;
        out.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return { total, items: out };
    };

    test('total counts every match; pages hold exactly the matches, newest first', { skip }, async () => {
      const expect = <T extends { clientName: string; userEmail: string; status: string }>(
        items: T[],
        q: string,
        status?: string,
      ) =>
        items.filter(
          (c) =>
            (!status || c.status === status) &&
            (c.clientName.toLowerCase().includes(q) || c.userEmail.toLowerCase().includes(q)),
        );
      const everything = (await all({ limit: 100 })).items;
      assert.equal(everything.length, 120);
      assert.equal((await listConnections(server.services, { limit: 5 })).total, 120);
      assert.equal((await listConnections(server.services, { limit: 5, status: 'revoked' })).total, 30);
      for (const q of ['user0003', 'cursor', 'claude', 'example', 'e', '50%', '%', '_off', 'nobody', 'zed']) {
        for (const status of [undefined, 'active', 'revoked'] as const) {
          const got = await all({ limit: 7, q, status });
          const want = expect(everything, q.toLowerCase(), status);
          assert.equal(got.total, want.length, `total for q=${q} status=${status}`);
          assert.deepEqual(
            got.items.map((c) => c.id),
            want.map((c) => c.id),
            `items for q=${q} status=${status}`,
          );
        }
      }
    });

    test('the totals follow revocations at once', { skip }, async () => {
      const before = await listConnections(server.services, { limit: 1, status: 'revoked' });
      const target = (await listConnections(server.services, { limit: 1, status: 'active' })).items[0];
      const { revokeConnection } = await import('../../src/services/connections.js');
      await revokeConnection(server.services, target?.id as string, { label: 'test' });
      assert.equal(
        (await listConnections(server.services, { limit: 1, status: 'revoked' })).total,
        before.total + 1,
      );
      assert.equal((await listConnections(server.services, { limit: 1 })).total, 120);
    });
  });
}

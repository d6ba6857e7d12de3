import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { HOUR } from '../../src/domain/clock.js';
import { setRole } from '../../src/services/users.js';
import { addUser, Browser, connectSdkClient, PASSWORD, TestOAuthProvider, whoami } from '../helpers/flow.js';
import { postgresSkip, startTestServer, TestClock, type TestServer } from '../helpers/server.js';

interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  connectionId: string | null;
  detail: Record<string, unknown>;
}
interface Page {
  items: AuditEvent[];
  nextCursor: string | null;
}

async function postJson(browser: Browser, path: string, body: unknown = {}) {
  return browser.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: browser.base },
    body: JSON.stringify(body),
  });
}

async function refreshGrant(base: string, clientId: string, refreshToken: string): Promise<string> {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: clientId,
    }),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { refresh_token: string }).refresh_token;
}

describe('issue #6 audit log: GET /api/audit-events', () => {
  let server: TestServer;
  let admin: Browser;
  let connectionId: string;
  before(async () => {
    server = await startTestServer('sqlite');
    await addUser(server, 'owner@example.com', 'owner');
    await addUser(server, 'ada@example.com', 'admin');
    await addUser(server, 'vic@example.com', 'viewer');
    await addUser(server, 'mo@example.com', 'member');
    const user = await addUser(server, 'dev@example.com', 'member');
    const provider = new TestOAuthProvider(server, user, 'Audit Client');
    const client = await connectSdkClient(server, provider);
    connectionId = (await whoami(client)).connectionId as string;
    await client.close();
    await new Browser(server.base).signIn('dev@example.com', 'not my password');
    admin = new Browser(server.base);
    await admin.signIn('ada@example.com', PASSWORD);
    assert.equal((await postJson(admin, `/api/mcp-connections/${connectionId}/regenerate-key`)).status, 200);
    assert.equal((await postJson(admin, `/api/mcp-connections/${connectionId}/revoke`)).status, 200);
    await setRole(server.services, 'mo@example.com', 'viewer', 'owner@example.com');
  });
  after(async () => server?.stop());

  test('every sign-in, consent, connection, key regeneration, revocation and role change is there, with its actor', async () => {
    const page = (await (await admin.fetch('/api/audit-events?limit=100')).json()) as Page;
    const seen = page.items.map((e) => [e.action, e.actor]);
    for (const expected of [
      ['user.signed_in', 'dev@example.com'],
      ['consent.granted', 'dev@example.com'],
      ['connection.created', 'dev@example.com'],
      ['user.signin_failed', 'dev@example.com'],
      ['user.signed_in', 'ada@example.com'],
      ['connection.key_regenerated', 'ada@example.com'],
      ['connection.revoked', 'ada@example.com'],
      ['user.role_changed', 'owner@example.com'],
    ]) {
      assert.ok(
        seen.some(([a, b]) => a === expected[0] && b === expected[1]),
        `${expected.join(' by ')} in ${JSON.stringify(seen)}`,
      );
    }
    const ids = page.items.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => b - a),
      'newest first',
    );
    const role = page.items.find((e) => e.action === 'user.role_changed');
    assert.deepEqual(role?.detail, { email: 'mo@example.com', from: 'member', to: 'viewer' });
    assert.ok(!Number.isNaN(Date.parse(role?.at ?? '')));
  });

  test("?connectionId= gives one connection's history: created, key regenerated, revoked by whom", async () => {
    const page = (await (await admin.fetch(`/api/audit-events?connectionId=${connectionId}`)).json()) as Page;
    assert.deepEqual(
      page.items.map((e) => [e.action, e.actor, e.connectionId]),
      [
        ['connection.revoked', 'ada@example.com', connectionId],
        ['connection.key_regenerated', 'ada@example.com', connectionId],
        ['connection.created', 'dev@example.com', connectionId],
      ],
    );
    assert.equal(page.nextCursor, null);
  });

  test('limit and cursor page through the whole log without gaps or repeats', async () => {
    const all = (await (await admin.fetch('/api/audit-events?limit=100')).json()) as Page;
    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await admin.fetch(`/api/audit-events?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      const page = (await res.json()) as Page;
      assert.ok(page.items.length <= 3);
      paged.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(
      paged,
      all.items.map((e) => e.id),
    );
  });

  test('the read permission (api-keys:read) is required: 401 signed out, 403 for a member, 200 for a viewer', async () => {
    assert.equal((await new Browser(server.base).fetch('/api/audit-events')).status, 401);
    const member = new Browser(server.base);
    await addUser(server, 'plain@example.com', 'member');
    await member.signIn('plain@example.com', PASSWORD);
    assert.equal((await member.fetch('/api/audit-events')).status, 403);
    const viewer = new Browser(server.base);
    await viewer.signIn('vic@example.com', PASSWORD);
    assert.equal((await viewer.fetch('/api/audit-events')).status, 200);
  });

  test('bad input gets a 400 naming the parameter', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['cursor=abc', 'cursor'],
      ['connectionId=..%2Fx', 'connectionId'],
    ]) {
      const res = await admin.fetch(`/api/audit-events?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(
        ((await res.json()) as { error_description: string }).error_description,
        new RegExp(`^${field}: `),
      );
    }
  });

  test('the log cannot be changed through the API: only GET exists', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const res = await admin.fetch('/api/audit-events', {
        method,
        headers: { 'content-type': 'application/json', origin: server.base },
        body: '{}',
      });
      assert.equal(res.status, 404, method);
    }
  });
});

describe('issue #6 token refreshes are audited in aggregate', () => {
  let server: TestServer;
  const clock = new TestClock();
  before(async () => {
    server = await startTestServer('sqlite', { clock });
  });
  after(async () => server?.stop());

  test('one row per connection per hour, counting the refreshes since the previous row', async () => {
    const user = await addUser(server, 'dev@example.com', 'member');
    const provider = new TestOAuthProvider(server, user, 'Refresher');
    const client = await connectSdkClient(server, provider);
    const connectionId = (await whoami(client)).connectionId as string;
    await client.close();
    const clientId = provider.info?.client_id as string;
    const countRows = async () =>
      (
        await server.services.store.db
          .selectFrom('audit_events')
          .select('id')
          .where('connection_id', '=', connectionId)
          .where('action', '=', 'connection.token_refreshed')
          .execute()
      ).length;
    let rt = provider.saved?.refresh_token as string;
    // The first refresh of the hour writes a row; the rest of the hour writes none.
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      rt = await refreshGrant(server.base, clientId, rt);
      assert.equal(await countRows(), 1);
    }
    for (let i = 0; i < 5; i++) {
      clock.advance(60_000);
      rt = await refreshGrant(server.base, clientId, rt);
      assert.equal(await countRows(), 1, 'nothing more within the hour');
    }
    clock.advance(HOUR);
    rt = await refreshGrant(server.base, clientId, rt);
    assert.equal(await countRows(), 2);
    const rows = await server.services.store.db
      .selectFrom('audit_events')
      .select(['actor', 'detail'])
      .where('connection_id', '=', connectionId)
      .where('action', '=', 'connection.token_refreshed')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.actor, (JSON.parse(r.detail) as { refreshes: number }).refreshes]),
      [
        ['Refresher', 1],
        ['Refresher', 8],
      ],
    );
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`issue #6 the audit log is append-only (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind);
      await addUser(server, 'someone@example.com', 'member');
    });
    after(async () => server?.stop());

    test('the database refuses UPDATE and DELETE (and TRUNCATE) on audit_events', { skip }, async () => {
      const db = server.services.store.db;
      const before = await db.selectFrom('audit_events').selectAll().execute();
      assert.ok(before.length > 0);
      await assert.rejects(
        db.updateTable('audit_events').set({ actor: 'someone else' }).execute(),
        /append-only/,
      );
      await assert.rejects(db.deleteFrom('audit_events').execute(), /append-only/);
      if (kind === 'postgres') await assert.rejects(sql`truncate audit_events`.execute(db), /append-only/);
      assert.deepEqual(await db.selectFrom('audit_events').selectAll().execute(), before);
    });
  });
}

test('issue #6 no code path in src/ updates or deletes audit rows', () => {
  const root = new URL('../../src', import.meta.url).pathname;
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /(updateTable|deleteFrom)\(\s*['"]audit_events/, file);
    assert.doesNotMatch(text, /(update|delete\s+from)\s+audit_events/i, file);
  }
});

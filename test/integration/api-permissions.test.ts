import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  addUser,
  authorizeInBrowser,
  Browser,
  currentApiKey,
  introspectsActive,
  mcpStatus,
  pkce,
  TEST_INTROSPECTION_SECRET,
  whoami,
} from '../helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

/** SPEC §7: a connection in JSON has exactly these fields. */
const CONNECTION_FIELDS = [
  'apiKeyPrefix',
  'clientName',
  'connectedAt',
  'id',
  'lastTokenAt',
  'lastUsedAt',
  'lastUsedIp',
  'revokedAt',
  'revokedBy',
  'status',
  'userEmail',
];
const READ = 'api-keys:read';
const REVOKE = 'api-keys:revoke';
const ROLES = ['owner', 'admin', 'viewer', 'member'] as const;
type Role = (typeof ROLES)[number];
/** SPEC §5: which role holds which permission. */
const GRANTS: Record<Role, { read: boolean; revoke: boolean }> = {
  owner: { read: true, revoke: true },
  admin: { read: true, revoke: true },
  viewer: { read: true, revoke: false },
  member: { read: false, revoke: false },
};
const REDIRECT = 'http://127.0.0.1:8976/callback';
const UNKNOWN_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

interface ConnectionJson {
  id: string;
  clientName: string;
  status: 'active' | 'revoked';
  userEmail: string;
  apiKeyPrefix: string;
  connectedAt: string;
  lastTokenAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

interface ListJson {
  total: number;
  items: ConnectionJson[];
  nextCursor: string | null;
}

/** What the test knows about a connection it created through a real OAuth flow. */
interface Made {
  id: string;
  clientId: string;
  clientName: string;
  userEmail: string;
  accessToken: string;
  refreshToken: string;
  status: 'active' | 'revoked';
}

function isIso(value: unknown): boolean {
  return (
    typeof value === 'string' && !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value
  );
}

/**
 * A connection without its last-use fields (SPEC §12), which are written behind
 * the requests and so may land between two reads of an otherwise unchanged row.
 */
function settled(c: unknown): Record<string, unknown> {
  const { lastUsedAt: _at, lastUsedIp: _ip, ...rest } = c as Record<string, unknown>;
  return rest;
}

function assertConnectionShape(c: unknown): asserts c is ConnectionJson {
  assert.ok(c && typeof c === 'object' && !Array.isArray(c), 'a connection is a JSON object');
  const o = c as Record<string, unknown>;
  assert.deepEqual(Object.keys(o).sort(), CONNECTION_FIELDS);
  assert.equal(typeof o.id, 'string');
  assert.equal(typeof o.clientName, 'string');
  assert.ok(o.status === 'active' || o.status === 'revoked', `status ${String(o.status)}`);
  assert.equal(typeof o.userEmail, 'string');
  // SPEC §4: the prefix plus 5-8 characters; never the full key.
  assert.match(o.apiKeyPrefix as string, /^wax_sk_[0-9A-Za-z_-]{5,8}$/);
  assert.ok(isIso(o.connectedAt), `connectedAt ${String(o.connectedAt)} is ISO 8601`);
  assert.ok(o.lastTokenAt === null || isIso(o.lastTokenAt), 'lastTokenAt is null or ISO 8601');
  assert.ok(o.lastUsedAt === null || isIso(o.lastUsedAt), 'lastUsedAt is null or ISO 8601');
  assert.ok(o.lastUsedIp === null || typeof o.lastUsedIp === 'string', 'lastUsedIp is null or a string');
  if (o.status === 'active') {
    assert.equal(o.revokedAt, null);
    assert.equal(o.revokedBy, null);
  } else {
    assert.ok(isIso(o.revokedAt), 'revokedAt is ISO 8601 on a revoked connection');
    assert.equal(typeof o.revokedBy, 'string');
  }
}

function assertListShape(body: unknown): asserts body is ListJson {
  assert.ok(body && typeof body === 'object', 'the list is a JSON object');
  const o = body as Record<string, unknown>;
  assert.deepEqual(Object.keys(o).sort(), ['items', 'nextCursor', 'total']);
  assert.ok(Number.isInteger(o.total), 'total is an integer');
  assert.ok(Array.isArray(o.items), 'items is an array');
  assert.ok(o.nextCursor === null || typeof o.nextCursor === 'string', 'nextCursor is a string or null');
  for (const item of o.items as unknown[]) assertConnectionShape(item);
}

/** The JSON error body every API error carries. */
async function errorOf(res: Response): Promise<{ error: string; error_description: string }> {
  const body = (await res.json()) as { error: string; error_description: string };
  assert.equal(typeof body.error, 'string');
  assert.equal(typeof body.error_description, 'string');
  return body;
}

/** A same-origin dashboard fetch: Origin of the dashboard and a JSON body (SPEC §7). */
function postApi(browser: Browser, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return browser.fetch(path, {
    method: 'POST',
    headers: { origin: new URL(browser.base).origin, 'content-type': 'application/json', ...headers },
    body: '{}',
  });
}

/** Calls whoami with a bearer credential through the official SDK client. */
async function whoamiWith(server: TestServer, bearer: string): Promise<Record<string, string>> {
  const client = new Client({ name: 'waxseal-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL('/mcp', server.base), {
      requestInit: { headers: { authorization: `Bearer ${bearer}` } },
    }),
  );
  try {
    return await whoami(client);
  } finally {
    await client.close();
  }
}

/**
 * A real OAuth flow by hand: register a public client, authorize in the user's
 * (signed-in) browser, exchange the code at /token. Returns the new connection.
 */
async function connect(
  server: TestServer,
  browser: Browser,
  user: { email: string; password: string },
  clientName: string,
): Promise<Made> {
  const reg = await fetch(new URL('/register', server.base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      client_name: clientName,
    }),
  });
  assert.equal(reg.status, 201);
  const { client_id } = (await reg.json()) as { client_id: string };
  const { verifier, challenge } = pkce();
  const url = new URL('/authorize', server.base);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
    resource: `${server.base}/mcp`,
  }).toString();
  const back = await authorizeInBrowser(browser, url.href, user);
  const code = back.searchParams.get('code');
  assert.ok(code, 'the authorization response carries a code');
  const res = await fetch(new URL('/token', server.base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id,
      redirect_uri: REDIRECT,
      resource: `${server.base}/mcp`,
    }).toString(),
  });
  assert.equal(res.status, 200);
  const tokens = (await res.json()) as { access_token: string; refresh_token: string };
  const me = await whoamiWith(server, tokens.access_token);
  return {
    id: me.connectionId as string,
    clientId: client_id,
    clientName,
    userEmail: user.email,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    status: 'active',
  };
}

/** The connection's current full API key, re-derived on the server (it is never stored or returned). */
async function auditRows(server: TestServer, connectionId: string) {
  return server.services.store.db
    .selectFrom('audit_events')
    .select(['actor', 'action'])
    .where('connection_id', '=', connectionId)
    .orderBy('id')
    .execute();
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §5/§7 admin API permissions and shapes (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    const users = {} as Record<Role, { email: string; password: string }>;
    const browsers = {} as Record<Role, Browser>;
    let anonymous: Browser;
    /** Every connection created so far, oldest first. */
    const made: Made[] = [];

    /** The connection as the API lists it (read with the owner's session). */
    const listed = async (id: string): Promise<ConnectionJson> => {
      const res = await browsers.owner.fetch('/api/mcp-connections?limit=100');
      assert.equal(res.status, 200);
      const body = (await res.json()) as ListJson;
      const found = body.items.find((c) => c.id === id);
      assert.ok(found, `connection ${id} is listed`);
      return found;
    };
    const expectSearch = async (cases: [string, Made[]][]) => {
      for (const [q, expected] of cases) {
        const res = await browsers.viewer.fetch(`/api/mcp-connections?q=${encodeURIComponent(q)}`);
        assert.equal(res.status, 200, `q=${q}`);
        const body = await res.json();
        assertListShape(body);
        assert.deepEqual(
          body.items.map((c) => c.id),
          expected.map((m) => m.id),
          `q=${q} matches ${expected.map((m) => m.clientName).join(', ') || 'nothing'}`,
        );
        assert.equal(body.total, expected.length, `total for q=${q}`);
      }
    };
    const makeConnection = async (role: Role, clientName: string): Promise<Made> => {
      const m = await connect(server, browsers[role], users[role], clientName);
      made.push(m);
      return m;
    };

    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, { env: { INTROSPECTION_SECRET: TEST_INTROSPECTION_SECRET } });
      for (const role of ROLES) {
        users[role] = await addUser(server, `${role}@example.com`, role);
        browsers[role] = new Browser(server.base);
        const res = await browsers[role].signIn(users[role].email, users[role].password);
        assert.equal(res.status, 303, `${role} signs in`);
      }
      anonymous = new Browser(server.base);
      // Five connections, oldest first, from different users and clients.
      await makeConnection('admin', 'Claude Desktop');
      await makeConnection('viewer', 'Cursor');
      await makeConnection('member', 'mcp-remote');
      await makeConnection('owner', 'Claude Code');
      await makeConnection('member', 'acme_bot (100%)');
    });
    after(async () => server?.stop());

    test('without a session every call answers 401 (and a forged session cookie is no session)', {
      skip,
    }, async () => {
      const target = made[0] as Made;
      const forged = new Browser(server.base);
      forged.jar.set('waxseal_session', 'forged-session-id');
      for (const b of [anonymous, forged]) {
        const calls = [
          await b.fetch('/api/me'),
          await b.fetch('/api/mcp-connections'),
          await postApi(b, `/api/mcp-connections/${target.id}/revoke`),
          await postApi(b, `/api/mcp-connections/${target.id}/regenerate-key`),
          await postApi(b, `/api/mcp-connections/${UNKNOWN_ID}/revoke`),
        ];
        for (const res of calls) {
          assert.equal(res.status, 401, `${res.url} answers 401`);
          assert.equal((await errorOf(res)).error, 'unauthenticated');
        }
      }
      assert.equal((await listed(target.id)).status, 'active', 'nothing changed');
      assert.equal(await mcpStatus(server.base, target.accessToken, 'initialize'), 200);
    });

    for (const role of ROLES) {
      test(`${role}: GET /api/me answers 200 with email, role and the SPEC §5 permissions`, {
        skip,
      }, async () => {
        const res = await browsers[role].fetch('/api/me');
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        const me = (await res.json()) as { email: string; role: string; permissions: string[] };
        assert.equal(me.email, `${role}@example.com`);
        assert.equal(me.role, role);
        assert.ok(Array.isArray(me.permissions), 'permissions is an array');
        for (const p of me.permissions) assert.equal(typeof p, 'string');
        assert.equal(me.permissions.includes(READ), GRANTS[role].read, `${role} ${READ}`);
        assert.equal(me.permissions.includes(REVOKE), GRANTS[role].revoke, `${role} ${REVOKE}`);
        assert.ok(!/scrypt|password/i.test(JSON.stringify(me)), 'no password material in /api/me');
      });

      test(`${role}: GET /api/mcp-connections answers ${GRANTS[role].read ? 200 : 403}`, {
        skip,
      }, async () => {
        const res = await browsers[role].fetch('/api/mcp-connections');
        if (!GRANTS[role].read) {
          assert.equal(res.status, 403);
          assert.equal((await errorOf(res)).error, 'forbidden');
          return;
        }
        assert.equal(res.status, 200);
        const body = await res.json();
        assertListShape(body);
        assert.equal(body.total, made.length);
        assert.deepEqual(
          body.items.map((c) => c.id),
          [...made].reverse().map((m) => m.id),
          'every connection, newest first',
        );
        for (const m of made) {
          const item = body.items.find((c) => c.id === m.id) as ConnectionJson;
          assert.equal(item.clientName, m.clientName);
          assert.equal(item.userEmail, m.userEmail);
          assert.equal(item.status, 'active');
          assert.equal(item.lastTokenAt, null, 'no refresh yet');
          assert.ok((await currentApiKey(server, m.id)).startsWith(item.apiKeyPrefix));
        }
        assert.equal(body.nextCursor, null);
      });
    }

    test('pagination with limit=2 over 5 connections walks every item exactly once, newest first', {
      skip,
    }, async () => {
      assert.equal(made.length, 5);
      const seen: ConnectionJson[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const qs: string = `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await browsers.admin.fetch(`/api/mcp-connections?${qs}`);
        assert.equal(res.status, 200);
        const body = await res.json();
        assertListShape(body);
        assert.equal(body.total, 5, 'total counts every match on every page');
        sizes.push(body.items.length);
        seen.push(...body.items);
        cursor = body.nextCursor;
        assert.ok(++pages <= 5, 'the walk ends');
      } while (cursor);
      assert.deepEqual(sizes, [2, 2, 1]);
      assert.deepEqual(
        seen.map((c) => c.id),
        [...made].reverse().map((m) => m.id),
      );
      assert.equal(new Set(seen.map((c) => c.id)).size, 5, 'no item twice');
      for (let i = 1; i < seen.length; i++) {
        assert.ok(
          Date.parse((seen[i - 1] as ConnectionJson).connectedAt) >=
            Date.parse((seen[i] as ConnectionJson).connectedAt),
          'connectedAt never increases along the walk',
        );
      }
    });

    test('q searches client name and user email, case-insensitively, and total counts the matches', {
      skip,
    }, async () => {
      const [desktop, cursorApp, remote, code, acme] = made as [Made, Made, Made, Made, Made];
      const cases: [string, Made[]][] = [
        ['claude', [code, desktop]],
        ['CLAUDE', [code, desktop]],
        ['cLaUdE dEsKtOp', [desktop]],
        ['VIEWER@EXAMPLE.COM', [cursorApp]],
        ['Member@Example', [acme, remote]],
        ['cursor', [cursorApp]],
        ['example.com', [acme, code, remote, cursorApp, desktop]],
        ['nobody-matches-this', []],
      ];
      await expectSearch(cases);
    });

    test('q treats LIKE wildcards (_ and %) as literal characters', { skip }, async () => {
      const acme = made[4] as Made;
      assert.equal(acme.clientName, 'acme_bot (100%)');
      await expectSearch([
        ['acme_bot', [acme]],
        ['ACME_BOT (100%)', [acme]],
        ['_', [acme]],
        ['100%', [acme]],
        ['%', [acme]],
        ['acme%bot', []],
        ['m_p', []],
      ]);
    });

    for (const role of ROLES) {
      if (GRANTS[role].revoke) {
        test(`${role}: POST revoke answers 200 with the revoked connection, then 409; unknown id 404`, {
          skip,
        }, async () => {
          const target = await makeConnection('member', `Revoke target of ${role}`);
          const auditBefore = await auditRows(server, target.id);
          const res = await postApi(browsers[role], `/api/mcp-connections/${target.id}/revoke`);
          assert.equal(res.status, 200);
          const body = await res.json();
          assertConnectionShape(body);
          assert.equal(body.id, target.id);
          assert.equal(body.status, 'revoked');
          assert.equal(body.clientName, target.clientName);
          assert.equal(body.userEmail, target.userEmail);
          assert.equal(body.revokedBy, `${role}@example.com`);
          assert.ok(Math.abs(Date.parse(body.revokedAt as string) - Date.now()) < 60_000, 'revokedAt is now');
          target.status = 'revoked';
          // SPEC §4: the client's next request gets 401 and its refresh fails.
          assert.equal(await mcpStatus(server.base, target.accessToken, 'initialize'), 401);
          const refresh = await fetch(new URL('/token', server.base), {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'refresh_token',
              refresh_token: target.refreshToken,
              client_id: target.clientId,
            }).toString(),
          });
          assert.equal(refresh.status, 400);
          assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
          // It stays in the list, revoked.
          assert.deepEqual(settled(await listed(target.id)), settled(body));
          const audit = (await auditRows(server, target.id)).slice(auditBefore.length);
          assert.deepEqual(audit, [{ actor: `${role}@example.com`, action: 'connection.revoked' }]);

          const again = await postApi(browsers[role], `/api/mcp-connections/${target.id}/revoke`);
          assert.equal(again.status, 409);
          assert.equal((await errorOf(again)).error, 'conflict');
          assert.deepEqual(
            settled(await listed(target.id)),
            settled(body),
            'a second revoke changes nothing',
          );

          for (const id of [UNKNOWN_ID, 'no such id!', 'x'.repeat(300)]) {
            const missing = await postApi(
              browsers[role],
              `/api/mcp-connections/${encodeURIComponent(id)}/revoke`,
            );
            assert.equal(missing.status, 404, `revoke ${id.slice(0, 20)}`);
            assert.equal((await errorOf(missing)).error, 'not_found');
          }
        });

        test(`${role}: POST regenerate-key answers 200 with the new prefix; 409 when revoked; unknown id 404`, {
          skip,
        }, async () => {
          const target = await makeConnection('viewer', `Regenerate target of ${role}`);
          const before = await listed(target.id);
          const oldKey = await currentApiKey(server, target.id);
          assert.equal(await introspectsActive(server.base, oldKey), true, 'the old key is active before');
          // SPEC §9: an API key is never a bearer at /mcp.
          assert.equal(await mcpStatus(server.base, oldKey, 'initialize'), 401);
          const res = await postApi(browsers[role], `/api/mcp-connections/${target.id}/regenerate-key`);
          assert.equal(res.status, 200);
          const text = await res.text();
          const body = JSON.parse(text) as unknown;
          assertConnectionShape(body);
          assert.equal(body.id, target.id);
          assert.equal(body.status, 'active');
          assert.notEqual(body.apiKeyPrefix, before.apiKeyPrefix);
          assert.equal(body.connectedAt, before.connectedAt);
          assert.equal(body.lastTokenAt, before.lastTokenAt);
          const newKey = await currentApiKey(server, target.id);
          assert.ok(newKey.startsWith(body.apiKeyPrefix));
          assert.ok(!text.includes(newKey) && !text.includes(oldKey), 'the full key is never returned');
          assert.deepEqual(settled(await listed(target.id)), settled(body));
          // SPEC §4: the old key is refused at once, the client's token keeps working with the new key.
          assert.equal(await introspectsActive(server.base, oldKey), false);
          assert.equal(await introspectsActive(server.base, newKey), true);
          assert.equal(await mcpStatus(server.base, oldKey, 'initialize'), 401);
          assert.equal(await mcpStatus(server.base, newKey, 'initialize'), 401);
          assert.equal((await whoamiWith(server, target.accessToken)).apiKeyPrefix, body.apiKeyPrefix);
          const audit = await auditRows(server, target.id);
          assert.deepEqual(audit.at(-1), {
            actor: `${role}@example.com`,
            action: 'connection.key_regenerated',
          });

          // Regenerating a revoked connection's key is a conflict and changes nothing.
          const revoked = made.find((m) => m.status === 'revoked') as Made;
          const revokedBefore = await listed(revoked.id);
          const conflict = await postApi(browsers[role], `/api/mcp-connections/${revoked.id}/regenerate-key`);
          assert.equal(conflict.status, 409);
          assert.equal((await errorOf(conflict)).error, 'conflict');
          assert.deepEqual(settled(await listed(revoked.id)), settled(revokedBefore));

          for (const id of [UNKNOWN_ID, 'no such id!']) {
            const missing = await postApi(
              browsers[role],
              `/api/mcp-connections/${encodeURIComponent(id)}/regenerate-key`,
            );
            assert.equal(missing.status, 404);
            assert.equal((await errorOf(missing)).error, 'not_found');
          }
        });
      } else {
        test(`${role}: POST revoke and regenerate-key answer 403 and change nothing`, { skip }, async () => {
          const target = made[1] as Made;
          const before = await listed(target.id);
          const auditBefore = await auditRows(server, target.id);
          for (const action of ['revoke', 'regenerate-key']) {
            for (const id of [target.id, UNKNOWN_ID]) {
              const res = await postApi(browsers[role], `/api/mcp-connections/${id}/${action}`);
              assert.equal(res.status, 403, `${role} ${action} ${id}`);
              assert.equal((await errorOf(res)).error, 'forbidden');
            }
          }
          assert.deepEqual(settled(await listed(target.id)), settled(before));
          assert.deepEqual(await auditRows(server, target.id), auditBefore);
          assert.equal(await mcpStatus(server.base, target.accessToken, 'initialize'), 200);
        });
      }
    }

    test('a cross-origin POST is refused with 403 and changes nothing', { skip }, async () => {
      const target = made[0] as Made;
      const before = await listed(target.id);
      const auditBefore = await auditRows(server, target.id);
      const own = new URL(server.base);
      const otherPort = `${own.protocol}//${own.hostname}:${Number(own.port) === 65535 ? 1 : Number(own.port) + 1}`;
      const refused: Record<string, string>[] = [
        { origin: 'https://evil.example' },
        { origin: 'https://evil.example', 'content-type': 'text/plain' },
        { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
        { origin: 'null' },
        { origin: otherPort },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
      ];
      for (const role of ['owner', 'admin'] as const) {
        for (const action of ['revoke', 'regenerate-key']) {
          for (const headers of refused) {
            const res = await browsers[role].fetch(`/api/mcp-connections/${target.id}/${action}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...headers },
              body: '{}',
            });
            assert.equal(res.status, 403, `${action} with ${JSON.stringify(headers)}`);
            assert.equal((await errorOf(res)).error, 'forbidden');
          }
        }
      }
      assert.deepEqual(settled(await listed(target.id)), settled(before), 'the connection is unchanged');
      assert.deepEqual(await auditRows(server, target.id), auditBefore, 'nothing was audited');
      assert.equal(
        await mcpStatus(server.base, target.accessToken, 'initialize'),
        200,
        'its token still works',
      );
    });

    test('bad query input answers 400 with a message naming the field', { skip }, async () => {
      const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const cases: [string, string][] = [
        ['limit=0', 'limit'],
        ['limit=abc', 'limit'],
        ['limit=101', 'limit'],
        ['limit=2.5', 'limit'],
        ['limit=-1', 'limit'],
        ['status=bogus', 'status'],
        ['status=ACTIVE', 'status'],
        ['status=active&status=revoked', 'status'],
        [`q=${'x'.repeat(201)}`, 'q'],
        ['cursor=not-a-cursor', 'cursor'],
        [`cursor=${cursorOf(['a', 'b'])}`, 'cursor'],
        [`cursor=${cursorOf({ connectedAt: 1, id: 'x' })}`, 'cursor'],
        [`cursor=${cursorOf([1.5, 'x'])}`, 'cursor'],
        [`cursor=${cursorOf([1e30, 'x'])}`, 'cursor'],
        [`cursor=${cursorOf([Date.now(), 'bad id!'])}`, 'cursor'],
        [`cursor=${'A'.repeat(300)}`, 'cursor'],
      ];
      for (const [qs, field] of cases) {
        const res = await browsers.admin.fetch(`/api/mcp-connections?${qs}`);
        assert.equal(res.status, 400, `${qs.slice(0, 60)} answers 400`);
        const body = await errorOf(res);
        assert.match(
          body.error_description,
          new RegExp(`\\b${field}\\b`),
          `${qs.slice(0, 60)} names ${field}`,
        );
      }
    });

    test('status filters the list and total counts every connection matching the filter', {
      skip,
    }, async () => {
      const revoked = made.filter((m) => m.status === 'revoked');
      const active = made.filter((m) => m.status === 'active');
      assert.equal(revoked.length, 2, 'owner and admin each revoked one connection');
      const newestFirst = (list: Made[]) => [...list].reverse().map((m) => m.id);
      const check = async (qs: string, expected: Made[]) => {
        const res = await browsers.viewer.fetch(`/api/mcp-connections?${qs}`);
        assert.equal(res.status, 200, qs);
        const body = await res.json();
        assertListShape(body);
        assert.equal(body.total, expected.length, `total for ${qs}`);
        assert.deepEqual(
          body.items.map((c) => c.id),
          newestFirst(expected),
          qs,
        );
        return body;
      };
      const revokedList = await check('status=revoked&limit=100', revoked);
      assert.ok(revokedList.items.every((c) => c.status === 'revoked'));
      const activeList = await check('status=active&limit=100', active);
      assert.ok(activeList.items.every((c) => c.status === 'active'));
      await check('limit=100', made);
      await check('status=revoked&q=revoke%20target%20of%20OWNER', [
        made.find((m) => m.clientName === 'Revoke target of owner') as Made,
      ]);
      await check('status=active&q=revoke%20target', []);
      // total counts the filter, not the page.
      const page = await browsers.viewer.fetch('/api/mcp-connections?status=active&limit=1');
      const body = (await page.json()) as ListJson;
      assert.equal(body.items.length, 1);
      assert.equal(body.total, active.length);
      assert.ok(body.nextCursor);
    });
  });
}

/**
 * SPEC §10 SCIM 2.0 Users (RFC 7643 §4.1, RFC 7644 §3) on both databases,
 * driven with the request bodies Microsoft Entra ID and Okta document for
 * their provisioning services ("Tutorial: Develop and plan provisioning for a
 * SCIM endpoint in Microsoft Entra ID"; Okta's "SCIM 2.0 protocol reference").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listAuditEvents } from '../../src/services/audit-events.js';
import { revokeScimToken } from '../../src/services/scim-tokens.js';
import {
  addUser,
  Browser,
  connectSdkClient,
  mcpStatus,
  PASSWORD,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { SCIM_ERROR, type ScimClient, scimClient } from '../helpers/scim.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

const filterFor = (expr: string) => `/Users?filter=${encodeURIComponent(expr)}`;

/** Entra's "Create User" request (its userName is the person's email at Waxseal). */
const entraCreate = (userName: string) => ({
  schemas: [
    'urn:ietf:params:scim:schemas:core:2.0:User',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  ],
  externalId: `ext-${userName}`,
  userName,
  active: true,
  emails: [{ primary: true, type: 'work', value: userName }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
});

/** Okta's "Create the User" request. */
const oktaCreate = (userName: string) => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  userName,
  name: { givenName: 'Test', familyName: 'User' },
  emails: [{ primary: true, value: userName, type: 'work' }],
  displayName: 'Test User',
  locale: 'en-US',
  externalId: '00ujl29u0le5T6Aj10h7',
  groups: [],
  password: '1mz050nq',
  active: true,
});

function assertScimError(
  res: { status: number; body: Record<string, unknown> },
  status: number,
  scimType?: string,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(res.body.schemas, [SCIM_ERROR]);
  assert.equal(res.body.status, String(status));
  assert.equal(typeof res.body.detail, 'string');
  if (scimType) assert.equal(res.body.scimType, scimType);
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 SCIM Users (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    let scim: ScimClient;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, {
        env: { WAXSEAL_ADMIN_EMAIL: 'owner@example.com', WAXSEAL_ADMIN_PASSWORD: PASSWORD },
      });
      scim = await scimClient(server.services, server.base, 'entra');
    });
    after(async () => server?.stop());

    test('discovery: ServiceProviderConfig, ResourceTypes and Schemas as application/scim+json', {
      skip,
    }, async () => {
      const config = await scim.get('/ServiceProviderConfig');
      assert.equal(config.status, 200);
      assert.match(config.headers.get('content-type') ?? '', /^application\/scim\+json/);
      assert.deepEqual(config.body.patch, { supported: true });
      assert.equal((config.body.filter as { supported: boolean }).supported, true);
      assert.equal((config.body.bulk as { supported: boolean }).supported, false);
      const types = await scim.get('/ResourceTypes');
      assert.equal(types.status, 200);
      assert.deepEqual(
        (types.body.Resources as Array<{ id: string; endpoint: string }>).map((t) => [t.id, t.endpoint]),
        [
          ['User', '/Users'],
          ['Group', '/Groups'],
        ],
      );
      assert.equal((await scim.get('/ResourceTypes/User')).status, 200);
      const schemas = await scim.get('/Schemas');
      assert.equal(schemas.body.totalResults, 2);
      const user = await scim.get('/Schemas/urn:ietf:params:scim:schemas:core:2.0:User');
      assert.equal(user.status, 200);
      assert.ok((user.body.attributes as Array<{ name: string }>).some((a) => a.name === 'userName'));
      assertScimError(await scim.get('/Schemas/urn:nope'), 404);
    });

    test("Entra's lifecycle: probe, create, read, update, disable, delete, re-provision", {
      skip,
    }, async () => {
      // Entra probes by userName before it creates (FIELD-NOTES, Identity providers).
      const probe = await scim.get(filterFor('userName eq "ada@example.com"'));
      assert.equal(probe.status, 200);
      assert.deepEqual(probe.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:ListResponse']);
      assert.equal(probe.body.totalResults, 0);

      const created = await scim.post('/Users', entraCreate('Ada@Example.com'));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.ok(id);
      assert.equal(created.body.userName, 'ada@example.com');
      assert.equal(created.body.active, true);
      assert.equal(created.body.externalId, 'ext-Ada@Example.com');
      const meta = created.body.meta as Record<string, string>;
      assert.equal(meta.resourceType, 'User');
      assert.ok(Date.parse(meta.created as string) && Date.parse(meta.lastModified as string));
      assert.equal(meta.location, `${server.base}/scim/v2/Users/${id}`);
      assert.equal(created.headers.get('location'), meta.location);
      assert.deepEqual(created.body.name, {
        formatted: 'givenName familyName',
        familyName: 'familyName',
        givenName: 'givenName',
      });

      // A SCIM user is a Waxseal user with source scim, active, and no password that works.
      const row = await server.services.store.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.deepEqual([row.source, row.status, row.role], ['scim', 'active', 'member']);
      const b = new Browser(server.base);
      assert.notEqual((await b.signIn('ada@example.com', '!scim')).status, 303);

      // Attribute names and the operator are case-insensitive, userName's value too.
      for (const f of [
        'userName eq "ada@example.com"',
        'USERNAME EQ "ADA@example.com"',
        'externalId eq "ext-Ada@Example.com"',
      ]) {
        const found = await scim.get(filterFor(f));
        assert.equal(found.body.totalResults, 1, f);
        assert.equal((found.body.Resources as Array<{ id: string }>)[0]?.id, id);
      }
      assert.equal((await scim.get(filterFor('externalId eq "EXT-ADA@EXAMPLE.COM"'))).body.totalResults, 0);

      assertScimError(await scim.post('/Users', entraCreate('ada@example.com')), 409, 'uniqueness');
      assert.equal((await scim.get(`/Users/${id}`)).body.userName, 'ada@example.com');

      // Entra "Update User [Multi-valued properties]".
      const multi = await scim.ops(
        `/Users/${id}`,
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'ada.lovelace@example.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
      );
      assert.equal(multi.status, 200, JSON.stringify(multi.body));
      assert.deepEqual(multi.body.emails, [
        { primary: true, type: 'work', value: 'ada.lovelace@example.com' },
      ]);
      assert.equal((multi.body.name as Record<string, string>).familyName, 'updatedFamilyName');

      // Entra "Update User [Single-valued properties]": userName is the sign-in email.
      const renamed = await scim.ops(`/Users/${id}`, {
        op: 'Replace',
        path: 'userName',
        value: 'ada.l@example.com',
      });
      assert.equal(renamed.body.userName, 'ada.l@example.com');
      assert.equal((await scim.get(filterFor('userName eq "ada@example.com"'))).body.totalResults, 0);

      // Entra's no-path form with dotted keys, and attributes Waxseal does not keep (ignored, not 500).
      const noPath = await scim.ops(`/Users/${id}`, {
        op: 'Add',
        value: {
          displayName: 'Ada Lovelace',
          'name.givenName': 'Ada',
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department': 'Maths',
          phoneNumbers: [{ type: 'work', value: '+1 555' }],
          'not an attribute': 1,
        },
      });
      assert.equal(noPath.status, 200, JSON.stringify(noPath.body));
      assert.equal(noPath.body.displayName, 'Ada Lovelace');
      assert.equal((noPath.body.name as Record<string, string>).givenName, 'Ada');
      assert.equal(noPath.body.phoneNumbers, undefined);
      assert.equal((await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'roles', value: [] })).status, 200);

      // Entra "Disable User", with the string boolean of its known issues.
      const disabled = await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'active', value: 'False' });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.active, false);
      assert.equal((await scim.get(`/Users/${id}`)).body.active, false);
      const enabled = await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'active', value: true });
      assert.equal(enabled.body.active, true);

      // Entra "Delete User": 204, then 404; the row and its audit history stay.
      const deleted = await scim.delete(`/Users/${id}`);
      assert.equal(deleted.status, 204);
      assertScimError(await scim.get(`/Users/${id}`), 404);
      assertScimError(await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'active', value: true }), 404);
      assertScimError(await scim.delete(`/Users/${id}`), 404);
      assert.equal((await scim.get(filterFor('userName eq "ada.l@example.com"'))).body.totalResults, 0);
      const gone = await server.services.store.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.equal(gone.status, 'disabled');
      assert.ok(gone.deprovisioned_at);
      const actions = (await listAuditEvents(server.services, { limit: 200 })).items
        .filter((e) => e.actor === 'SCIM')
        .map((e) => e.action);
      for (const a of [
        'user.created',
        'user.email_changed',
        'user.disabled',
        'user.enabled',
        'user.deprovisioned',
      ]) {
        assert.ok(actions.includes(a), `${a} audited with actor SCIM (${actions})`);
      }

      // A later POST of the same userName re-provisions that user.
      const again = await scim.post('/Users', entraCreate('ada.l@example.com'));
      assert.equal(again.status, 201);
      assert.equal(again.body.id, id);
      assert.equal(again.body.active, true);
      const back = await server.services.store.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.deepEqual([back.status, back.deprovisioned_at], ['active', null]);
    });

    test("Okta's shapes: create, deactivate without a path, PUT the whole user", { skip }, async () => {
      const created = await scim.post('/Users', oktaCreate('test.user@okta.local'));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.equal(created.body.displayName, 'Test User');
      assert.equal(created.body.password, undefined, 'a password is never kept nor echoed');

      const deactivated = await scim.ops(`/Users/${id}`, { op: 'replace', value: { active: false } });
      assert.equal(deactivated.status, 200);
      assert.equal(deactivated.body.active, false);

      const put = await scim.put(`/Users/${id}`, {
        ...oktaCreate('test.user@okta.local'),
        id,
        name: { givenName: 'Another', familyName: 'User' },
        active: true,
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.active, true);
      assert.deepEqual(put.body.name, { givenName: 'Another', familyName: 'User' });
      assertScimError(await scim.put('/Users/no-such-id', oktaCreate('x@okta.local')), 404);
      // application/json bodies are accepted too.
      const plain = await scim.request(
        'PATCH',
        `/Users/${id}`,
        {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'replace', value: { displayName: 'JSON' } }],
        },
        { 'content-type': 'application/json' },
      );
      assert.equal(plain.body.displayName, 'JSON');
    });

    test('the same userName created five times at once: one 201, the rest 409 uniqueness', {
      skip,
    }, async () => {
      const all = await Promise.all(
        Array.from({ length: 5 }, () => scim.post('/Users', oktaCreate('race@example.com'))),
      );
      assert.deepEqual(all.map((r) => r.status).sort(), [201, 409, 409, 409, 409]);
      for (const r of all.filter((x) => x.status === 409)) assertScimError(r, 409, 'uniqueness');
      assert.equal((await scim.get(filterFor('userName eq "race@example.com"'))).body.totalResults, 1);
    });

    test('startIndex (1-based) and count page the list; ListResponse says where it is', {
      skip,
    }, async () => {
      for (let i = 0; i < 4; i++)
        assert.equal((await scim.post('/Users', oktaCreate(`page${i}@example.com`))).status, 201);
      const all = await scim.get('/Users');
      const total = all.body.totalResults as number;
      assert.ok(total >= 5);
      const page = await scim.get('/Users?startIndex=2&count=2');
      assert.deepEqual([page.body.totalResults, page.body.itemsPerPage, page.body.startIndex], [total, 2, 2]);
      const ids = (all.body.Resources as Array<{ id: string }>).map((u) => u.id);
      assert.deepEqual(
        (page.body.Resources as Array<{ id: string }>).map((u) => u.id),
        ids.slice(1, 3),
      );
      const none = await scim.get('/Users?count=0');
      assert.deepEqual([none.body.totalResults, none.body.itemsPerPage], [total, 0]);
      const past = await scim.get(`/Users?startIndex=${total + 5}`);
      assert.deepEqual([past.body.itemsPerPage, (past.body.Resources as unknown[]).length], [0, 0]);
      assert.equal((await scim.get('/Users?startIndex=0&count=1')).body.startIndex, 1);
      assertScimError(await scim.get('/Users?count=lots'), 400, 'invalidValue');
    });

    test('active=false is Disable: connections revoked (the SDK client gets 401), dashboard session ended, audited as SCIM', {
      skip,
    }, async () => {
      const user = await addUser(server, 'leaver@example.com', 'member');
      const provider = new TestOAuthProvider(server, user);
      const client = await connectSdkClient(server, provider);
      const token = provider.saved?.access_token as string;
      const me = await whoami(client);
      const dashboard = new Browser(server.base);
      assert.equal((await dashboard.signIn(user.email, user.password)).status, 303);
      assert.equal((await dashboard.fetch('/api/me')).status, 200);

      const id = (await scim.userId('leaver@example.com')) as string;
      assert.ok(id, 'a local user is found by userName');
      const res = await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'active', value: 'False' });
      assert.equal(res.status, 200);

      assert.equal(await mcpStatus(server.base, token), 401);
      await assert.rejects(whoami(client));
      assert.equal((await dashboard.fetch('/api/me')).status, 401);
      const conn = await server.services.store.db
        .selectFrom('connections')
        .select(['status', 'revoked_by'])
        .where('id', '=', me.connectionId as string)
        .executeTakeFirstOrThrow();
      assert.deepEqual(conn, { status: 'revoked', revoked_by: 'SCIM' });
      const events = (await listAuditEvents(server.services, { limit: 200 })).items;
      assert.ok(
        events.some(
          (e) =>
            e.actor === 'SCIM' && e.action === 'connection.revoked' && e.connectionId === me.connectionId,
        ),
      );
      assert.ok(events.some((e) => e.actor === 'SCIM' && e.action === 'user.disabled'));
      assert.notEqual((await new Browser(server.base).signIn(user.email, user.password)).status, 303);

      // Enable restores sign-in only; the revoked connection stays revoked.
      assert.equal(
        (await scim.ops(`/Users/${id}`, { op: 'replace', value: { active: true } })).body.active,
        true,
      );
      assert.equal((await new Browser(server.base).signIn(user.email, user.password)).status, 303);
      assert.equal(await mcpStatus(server.base, token), 401);
      await client.close().catch(() => undefined);
    });

    test('the last active owner cannot be disabled, deleted or renamed into a clash through SCIM', {
      skip,
    }, async () => {
      const id = (await scim.userId('owner@example.com')) as string;
      assertScimError(await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'active', value: false }), 409);
      assertScimError(await scim.delete(`/Users/${id}`), 409);
      assert.equal((await scim.get(`/Users/${id}`)).body.active, true);
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'userName', value: 'leaver@example.com' }),
        409,
        'uniqueness',
      );
    });

    test('bad input gets SCIM errors with the right status, never a 500', { skip }, async () => {
      const id = created(await scim.post('/Users', oktaCreate('errors@example.com')));
      assertScimError(await scim.post('/Users', '{"userName": '), 400, 'invalidSyntax');
      assertScimError(await scim.post('/Users', '"just a string"'), 400, 'invalidSyntax');
      assertScimError(await scim.post('/Users', []), 400, 'invalidSyntax');
      assertScimError(
        await scim.request('POST', '/Users', 'userName=x', { 'content-type': 'text/plain' }),
        400,
        'invalidSyntax',
      );
      assertScimError(await scim.post('/Users', { userName: 'not-an-email' }), 400, 'invalidValue');
      assertScimError(await scim.post('/Users', { name: {} }), 400, 'invalidValue');
      assertScimError(
        await scim.post('/Users', { userName: 'a@example.com', active: 'maybe' }),
        400,
        'invalidValue',
      );
      assertScimError(await scim.post('/Users', { userName: 42 }), 400, 'invalidValue');
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Frobnicate', path: 'active', value: true }),
        400,
        'invalidSyntax',
      );
      assertScimError(await scim.patch(`/Users/${id}`, { Operations: 'nope' }), 400, 'invalidSyntax');
      assertScimError(await scim.patch(`/Users/${id}`, { Operations: [] }), 400, 'invalidSyntax');
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'emails[type eq "work"', value: 'x' }),
        400,
        'invalidPath',
      );
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'name..x', value: 'x' }),
        400,
        'invalidPath',
      );
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Replace', path: 42, value: 'x' }),
        400,
        'invalidPath',
      );
      assertScimError(await scim.ops(`/Users/${id}`, { op: 'Remove' }), 400, 'noTarget');
      assertScimError(await scim.ops(`/Users/${id}`, { op: 'Replace', value: 'False' }), 400, 'invalidValue');
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Replace', path: 'active', value: 'nope' }),
        400,
        'invalidValue',
      );
      assertScimError(
        await scim.ops(`/Users/${id}`, { op: 'Remove', path: 'userName' }),
        400,
        'invalidValue',
      );
      for (const f of [
        'userName co "a"',
        'title eq "x"',
        'userName eq "a" or userName eq "b"',
        'userName eq',
        '(userName eq "a")',
        'userName eq "a" and',
        'emails[type eq "work"]',
      ]) {
        assertScimError(await scim.get(filterFor(f)), 400, 'invalidFilter');
      }
      assertScimError(await scim.get('/Users?filter=a&filter=b'), 400, 'invalidValue');
      for (const path of ['/Users/unknown', '/Groups/unknown']) {
        assertScimError(await scim.get(path), 404);
        assertScimError(await scim.put(path, { userName: 'u@example.com', displayName: 'x' }), 404);
        assertScimError(await scim.ops(path, { op: 'replace', value: { displayName: 'x' } }), 404);
        assertScimError(await scim.delete(path), 404);
      }
      assertScimError(await scim.get('/Nope'), 404);
      assertScimError(await scim.post('/Users/.search', {}), 404);
      assertScimError(await scim.get('/Users/%FF'), 400);
      const big = { userName: 'big@example.com', displayName: 'x'.repeat(2 * 1024 * 1024) };
      assertScimError(await scim.post('/Users', big), 413);
      // Garbage of every shape: 4xx, never 500.
      for (const body of [
        '{}',
        'null',
        '1',
        '{"Operations":[null]}',
        '{"Operations":[{"op":"add","path":"emails","value":[1]}]}',
        '{"Operations":[{"op":"add","path":"name","value":"x"}]}',
        '{"Operations":[{"op":"add","value":{"emails":"x"}}]}',
        '{"Operations":[{"op":"replace","path":"externalId","value":{}}]}',
      ]) {
        const res = await scim.request('PATCH', `/Users/${id}`, body);
        assert.ok(res.status >= 400 && res.status < 500, `${body} → ${res.status}`);
        assert.deepEqual(res.body.schemas, [SCIM_ERROR]);
      }
    });

    test('a missing, wrong or revoked bearer token gets 401 with WWW-Authenticate: Bearer', {
      skip,
    }, async () => {
      const url = `${server.base}/scim/v2/Users`;
      for (const authorization of [
        undefined,
        'Bearer wax_scim_wrong',
        'Basic dXNlcjpwYXNz',
        'Bearer',
        `Bearer ${scim.token}x`,
      ]) {
        const res = await fetch(url, { headers: authorization ? { authorization } : {} });
        assert.equal(res.status, 401, String(authorization));
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
        const body = (await res.json()) as Record<string, unknown>;
        assert.deepEqual([body.schemas, body.status], [[SCIM_ERROR], '401']);
      }
      // Also before the body is looked at: no token, no parsing.
      assert.equal(
        (
          await fetch(url, {
            method: 'POST',
            body: '{',
            headers: { 'content-type': 'application/scim+json' },
          })
        ).status,
        401,
      );
      const other = await scimClient(server.services, server.base, 'okta');
      assert.equal((await other.get('/Users')).status, 200);
      await revokeScimToken(server.services, 'okta', 'test');
      assertScimError(await other.get('/Users'), 401);
      assert.equal((await scim.get('/Users')).status, 200, 'other tokens keep working');
    });
  });
}

function created(res: { status: number; body: Record<string, unknown> }): string {
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id as string;
}

/**
 * SPEC §10 SCIM 2.0 Groups (RFC 7643 §4.2) on both databases: a group's
 * displayName maps to a role through OIDC_ROLE_MAP, and membership changes
 * recompute the role of whoever joined or left, at once (the next /api call,
 * the next MCP request). Request bodies are Entra ID's and Okta's documented ones.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { disableUser } from '../../src/services/users.js';
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

const ROLE_MAP = 'waxseal-admins=admin,waxseal-viewers=viewer,eng=member';

/** Entra's "Create Group" request. */
const entraGroup = (displayName: string) => ({
  schemas: [
    'urn:ietf:params:scim:schemas:core:2.0:Group',
    'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group',
  ],
  externalId: `ext-${displayName}`,
  displayName,
  meta: { resourceType: 'Group' },
});
/** Entra's "Update Group [Add Members]" and "[Remove Members]" operations. */
const entraAdd = (id: string) => ({
  name: 'addMember',
  op: 'Add',
  path: 'members',
  value: [{ $ref: null, value: id }],
});
const entraRemove = (id: string) => ({
  name: 'removeMember',
  op: 'Remove',
  path: 'members',
  value: [{ $ref: null, value: id }],
});

async function roleOnApi(b: Browser): Promise<string> {
  const res = await b.fetch('/api/me');
  assert.equal(res.status, 200);
  return ((await res.json()) as { role: string }).role;
}

function assertScimError(
  res: { status: number; body: Record<string, unknown> },
  status: number,
  scimType?: string,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(res.body.schemas, [SCIM_ERROR]);
  if (scimType) assert.equal(res.body.scimType, scimType);
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 SCIM Groups and roles (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    let scim: ScimClient;
    let dashboard: Browser;
    let client: Client;
    let alice: string;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, {
        env: {
          WAXSEAL_ADMIN_EMAIL: 'owner@example.com',
          WAXSEAL_ADMIN_PASSWORD: PASSWORD,
          OIDC_ROLE_MAP: ROLE_MAP,
        },
      });
      scim = await scimClient(server.services, server.base);
      const user = await addUser(server, 'alice@example.com', 'member');
      dashboard = new Browser(server.base);
      assert.equal((await dashboard.signIn(user.email, user.password)).status, 303);
      client = await connectSdkClient(server, new TestOAuthProvider(server, user));
      alice = (await scim.userId('alice@example.com')) as string;
    });
    after(async () => {
      await client?.close().catch(() => undefined);
      await server?.stop();
    });

    test('Entra: adding to waxseal-admins makes admin, removing demotes at once (dashboard and MCP)', {
      skip,
    }, async () => {
      const created = await scim.post('/Groups', entraGroup('waxseal-admins'));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.deepEqual(created.body.members, []);
      assert.equal(
        (created.body.meta as Record<string, string>).location,
        `${server.base}/scim/v2/Groups/${id}`,
      );
      assert.equal(await roleOnApi(dashboard), 'member');

      const added = await scim.ops(`/Groups/${id}`, entraAdd(alice));
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.equal(await roleOnApi(dashboard), 'admin');
      assert.equal((await whoami(client)).role, 'admin');
      const user = await scim.get(`/Users/${alice}`);
      assert.deepEqual(
        (user.body.groups as Array<{ value: string; display: string }>).map((g) => [g.value, g.display]),
        [[id, 'waxseal-admins']],
      );

      // Entra checks membership with a filter and leaves members out of the answer.
      const check = await scim.get(
        `/Groups?excludedAttributes=members&filter=${encodeURIComponent(`id eq "${id}" and members[value eq "${alice}"]`)}`,
      );
      assert.equal(check.body.totalResults, 1);
      assert.equal((check.body.Resources as Array<Record<string, unknown>>)[0]?.members, undefined);
      const byName = await scim.get(
        `/Groups?filter=${encodeURIComponent('displayName eq "WAXSEAL-ADMINS"')}`,
      );
      assert.equal(byName.body.totalResults, 1);
      assert.equal((await scim.get(`/Groups/${id}?excludedAttributes=members`)).body.members, undefined);

      const removed = await scim.ops(`/Groups/${id}`, entraRemove(alice));
      assert.equal(removed.status, 200);
      assert.deepEqual(removed.body.members, []);
      assert.equal(await roleOnApi(dashboard), 'member');
      assert.equal((await whoami(client)).role, 'member');
      const none = await scim.get(
        `/Groups?filter=${encodeURIComponent(`id eq "${id}" and members[value eq "${alice}"]`)}`,
      );
      assert.equal(none.body.totalResults, 0);

      // Entra "Update Group [Non-member attributes]".
      const renamed = await scim.ops(`/Groups/${id}`, {
        op: 'Replace',
        path: 'displayName',
        value: 'admins-renamed',
      });
      assert.equal(renamed.body.displayName, 'admins-renamed');
      assert.equal((await scim.delete(`/Groups/${id}`)).status, 204);
      assertScimError(await scim.get(`/Groups/${id}`), 404);
    });

    test('Okta: add members, rename without a path, remove members[value eq "…"]; the highest role wins', {
      skip,
    }, async () => {
      const okta = await scim.post('/Groups', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
        displayName: 'Test SCIMv2',
        members: [],
      });
      assert.equal(okta.status, 201);
      const id = okta.body.id as string;
      const viewers = await scim.post('/Groups', {
        ...entraGroup('waxseal-viewers'),
        members: [{ value: alice }],
      });
      assert.equal(viewers.status, 201);
      assert.equal(await roleOnApi(dashboard), 'viewer', 'a group created with members recomputes them');

      const add = await scim.ops(`/Groups/${id}`, {
        op: 'add',
        path: 'members',
        value: [{ value: alice, display: 'alice@example.com' }],
      });
      assert.equal(add.status, 200);
      assert.equal(await roleOnApi(dashboard), 'viewer', 'an unmapped group gives nothing more');

      const rename = await scim.ops(`/Groups/${id}`, {
        op: 'replace',
        value: { id, displayName: 'waxseal-admins' },
      });
      assert.equal(rename.status, 200, JSON.stringify(rename.body));
      assert.equal(rename.body.displayName, 'waxseal-admins');
      assert.equal(
        await roleOnApi(dashboard),
        'admin',
        'the renamed group maps to admin, the higher role wins',
      );

      const remove = await scim.ops(`/Groups/${id}`, { op: 'remove', path: `members[value eq "${alice}"]` });
      assert.equal(remove.status, 200);
      assert.equal(await roleOnApi(dashboard), 'viewer');

      // Okta pushes whole groups with PUT too.
      const put = await scim.put(`/Groups/${id}`, {
        displayName: 'waxseal-admins',
        members: [{ value: alice }],
      });
      assert.equal(put.status, 200);
      assert.equal(await roleOnApi(dashboard), 'admin');
      assert.equal((await scim.delete(`/Groups/${id}`)).status, 204);
      assert.equal(await roleOnApi(dashboard), 'viewer', 'deleting a group recomputes its members');
      const emptied = await scim.ops(`/Groups/${viewers.body.id}`, {
        op: 'Replace',
        path: 'members',
        value: [],
      });
      assert.deepEqual(emptied.body.members, []);
      assert.equal(await roleOnApi(dashboard), 'member', 'no mapped group: OIDC_DEFAULT_ROLE');
    });

    test("a group change does not undo an owner's Disable", { skip }, async () => {
      await addUser(server, 'benched@example.com', 'member');
      await disableUser(server.services, 'benched@example.com', 'owner@example.com');
      const id = (await scim.userId('benched@example.com')) as string;
      const group = await scim.post('/Groups', { ...entraGroup('waxseal-admins'), members: [{ value: id }] });
      assert.equal(group.status, 201);
      const user = await scim.get(`/Users/${id}`);
      assert.equal(user.body.active, false, 'still disabled');
      assert.equal((await scim.delete(`/Groups/${group.body.id}`)).status, 204);
    });

    test('the last owner cannot be demoted through a group (409), and nothing of that change is kept', {
      skip,
    }, async () => {
      const owner = (await scim.userId('owner@example.com')) as string;
      const group = await scim.post('/Groups', entraGroup('eng'));
      const id = group.body.id as string;
      assertScimError(await scim.ops(`/Groups/${id}`, entraAdd(owner)), 409);
      assert.deepEqual((await scim.get(`/Groups/${id}`)).body.members, []);
      const row = await server.services.store.db
        .selectFrom('users')
        .select('role')
        .where('id', '=', owner)
        .executeTakeFirstOrThrow();
      assert.equal(row.role, 'owner');
    });

    test('group errors: duplicate displayName, unknown member, bad paths, unknown ids', {
      skip,
    }, async () => {
      const g = await scim.post('/Groups', entraGroup('dupe'));
      assert.equal(g.status, 201);
      assertScimError(await scim.post('/Groups', entraGroup('DUPE')), 409, 'uniqueness');
      assertScimError(await scim.post('/Groups', { members: [] }), 400, 'invalidValue');
      const id = g.body.id as string;
      assertScimError(await scim.ops(`/Groups/${id}`, entraAdd('no-such-user')), 400, 'invalidValue');
      assertScimError(
        await scim.ops(`/Groups/${id}`, { op: 'add', path: 'members', value: [{ nope: 1 }] }),
        400,
        'invalidValue',
      );
      assertScimError(
        await scim.ops(`/Groups/${id}`, { op: 'remove', path: 'members[display eq "x"]' }),
        400,
        'invalidPath',
      );
      assertScimError(
        await scim.ops(`/Groups/${id}`, { op: 'remove', path: 'members[value eq "x"' }),
        400,
        'invalidPath',
      );
      assertScimError(
        await scim.ops(`/Groups/${id}`, { op: 'remove', path: 'displayName' }),
        400,
        'invalidValue',
      );
      assertScimError(
        await scim.get(`/Groups?filter=${encodeURIComponent('displayName sw "d"')}`),
        400,
        'invalidFilter',
      );
      assertScimError(
        await scim.get(`/Groups?filter=${encodeURIComponent('members.display eq "x"')}`),
        400,
        'invalidFilter',
      );
      assert.equal(
        (await scim.ops(`/Groups/${id}`, { op: 'replace', path: 'urn:x:y:owner', value: 1 })).status,
        200,
      );
      assertScimError(await scim.ops('/Groups/unknown', entraAdd(alice)), 404);
    });
  });

  describe(`SPEC §10 SCIM groups with OIDC_DEFAULT_ROLE=none (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    let scim: ScimClient;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, {
        env: {
          WAXSEAL_ADMIN_EMAIL: 'owner@example.com',
          WAXSEAL_ADMIN_PASSWORD: PASSWORD,
          OIDC_ROLE_MAP: ROLE_MAP,
          OIDC_DEFAULT_ROLE: 'none',
        },
      });
      scim = await scimClient(server.services, server.base);
    });
    after(async () => server?.stop());

    test('no mapped group means disabled: a new user waits for a group, leaving the last one disables', {
      skip,
    }, async () => {
      const created = await scim.post('/Users', { userName: 'newbie@example.com', active: true });
      assert.equal(created.status, 201);
      assert.equal(created.body.active, false, 'no group gives a role yet');
      const id = created.body.id as string;
      const group = await scim.post('/Groups', entraGroup('eng'));
      await scim.ops(`/Groups/${group.body.id}`, entraAdd(id));
      assert.equal((await scim.get(`/Users/${id}`)).body.active, true);

      const user = await addUser(server, 'local@example.com', 'member');
      const provider = new TestOAuthProvider(server, user);
      const client = await connectSdkClient(server, provider);
      const localId = (await scim.userId('local@example.com')) as string;
      await scim.ops(`/Groups/${group.body.id}`, entraAdd(localId));
      assert.equal(await mcpStatus(server.base, provider.saved?.access_token as string), 200);
      await scim.ops(`/Groups/${group.body.id}`, entraRemove(localId));
      assert.equal((await scim.get(`/Users/${localId}`)).body.active, false);
      assert.equal(
        await mcpStatus(server.base, provider.saved?.access_token as string),
        401,
        'disabled: connections revoked',
      );
      await client.close().catch(() => undefined);

      // active=true from the IdP does not override "no role".
      assert.equal(
        (await scim.ops(`/Users/${localId}`, { op: 'Replace', path: 'active', value: 'True' })).body.active,
        false,
      );
    });
  });
}

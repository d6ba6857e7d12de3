/**
 * SPEC §10 accounts: "a person from the IdP is a Waxseal user, created on
 * first sign-in (just in time) or by SCIM". A user the IdP provisioned over
 * SCIM has no password; their first IdP sign-in links them by email (then by
 * (issuer, sub) only), and SCIM's deactivation, DELETE and re-provisioning
 * decide whether that sign-in works. Real IdP: oidc-provider (test/helpers/idp.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../helpers/flow.js';
import { TestIdp } from '../helpers/idp.js';
import { type ScimClient, scimClient } from '../helpers/scim.js';
import { freePort, postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

async function me(browser: Browser): Promise<{ status: number; email?: string; role?: string }> {
  const res = await browser.fetch('/api/me');
  const body = res.status === 200 ? ((await res.json()) as { email: string; role: string }) : null;
  return { status: res.status, ...(body ? { email: body.email, role: body.role } : {}) };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 a SCIM-provisioned user signs in through the IdP (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let idp: TestIdp;
    let server: TestServer;
    let scim: ScimClient;
    before(async () => {
      if (skip) return;
      const port = await freePort();
      idp = await TestIdp.start({ redirectUris: [`http://127.0.0.1:${port}/signin/oidc/callback`] });
      server = await startTestServer(kind, {
        env: idp.waxsealEnv(port, { OIDC_ROLE_MAP: 'waxseal-admins=admin' }),
      });
      scim = await scimClient(server.services, server.base);
    });
    after(async () => {
      await server?.stop();
      await idp?.stop();
    });

    test('provisioned, then linked at the first IdP sign-in; deactivated, refused; re-provisioned, back', {
      skip,
    }, async () => {
      idp.accounts.set('sam-sub', { email: 'sam@example.com', groups: ['waxseal-admins'] });
      const created = await scim.post('/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: 'sam@example.com',
        externalId: 'sam-object-id',
        active: true,
      });
      assert.equal(created.status, 201);
      const id = created.body.id as string;

      const browser = new Browser(server.base);
      assert.equal((await idp.signInToWaxseal(browser, 'sam-sub')).status, 303);
      assert.deepEqual(await me(browser), { status: 200, email: 'sam@example.com', role: 'admin' });
      const link = await server.services.store.db
        .selectFrom('user_identities')
        .select(['user_id', 'subject'])
        .executeTakeFirstOrThrow();
      assert.deepEqual(link, { user_id: id, subject: 'sam-sub' });
      const row = await server.services.store.db
        .selectFrom('users')
        .select('source')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.equal(row.source, 'scim');

      // Okta's deactivation: the dashboard session ends and the IdP sign-in is refused.
      assert.equal((await scim.ops(`/Users/${id}`, { op: 'replace', value: { active: false } })).status, 200);
      assert.equal((await me(browser)).status, 401);
      assert.equal((await idp.signInToWaxseal(new Browser(server.base), 'sam-sub')).status, 403);

      // DELETE, then the IdP provisions the person again: same user, same link, signs in.
      assert.equal((await scim.delete(`/Users/${id}`)).status, 204);
      assert.equal((await idp.signInToWaxseal(new Browser(server.base), 'sam-sub')).status, 403);
      const again = await scim.post('/Users', { userName: 'sam@example.com', active: true });
      assert.equal(again.body.id, id);
      const back = new Browser(server.base);
      assert.equal((await idp.signInToWaxseal(back, 'sam-sub')).status, 303);
      assert.equal((await me(back)).email, 'sam@example.com');
    });
  });
}

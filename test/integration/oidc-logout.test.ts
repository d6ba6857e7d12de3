import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from 'jose';
import { sweepExpired } from '../../src/services/sweep.js';
import { Browser, connectSdkClient, hiddenField, TestOAuthProvider, whoami } from '../helpers/flow.js';
import { TestIdp } from '../helpers/idp.js';
import {
  createTestDatabase,
  freePort,
  postgresSkip,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';

const LOGOUT_PATH = '/signin/oidc/backchannel-logout';

function oidcEnv(idp: TestIdp, port: number): Record<string, string> {
  return idp.waxsealEnv(port);
}

/** The whole IdP sign-in in a cookie-jar browser, landing on the dashboard. */
async function ssoSignIn(browser: Browser, idp: TestIdp, sub: string, next = '/settings/mcp-connections') {
  const res = await idp.signInToWaxseal(browser, sub, next);
  assert.equal(res.status, 303);
  return res;
}

async function meStatus(browser: Browser): Promise<number> {
  const res = await browser.fetch('/api/me');
  await res.arrayBuffer();
  return res.status;
}

/** What the IdP does: a server-to-server form post, no cookie, no Origin. */
async function postLogout(server: TestServer, body: string, type = 'application/x-www-form-urlencoded') {
  const res = await fetch(new URL(LOGOUT_PATH, server.base), {
    method: 'POST',
    headers: { 'content-type': type },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    cacheControl: res.headers.get('cache-control'),
    body: text ? (JSON.parse(text) as { error?: string; error_description?: string }) : {},
  };
}

const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 back-channel logout (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let idp: TestIdp;
    let db: TestDatabase;
    let server: TestServer;
    /** Same database, no OIDC configured. */
    let plain: TestServer;

    const loggedOut = async (email: string) =>
      (
        await server.services.store.db
          .selectFrom('audit_events')
          .select(['actor', 'detail'])
          .where('action', '=', 'user.logged_out')
          .where('actor', '=', email)
          .execute()
      ).length;

    /** A refused token: 400, §2.8 JSON, not cached, and nobody signed out. */
    async function refused(token: string, bystander: Browser, why: RegExp) {
      const res = await postLogout(server, form(token));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_request');
      assert.match(res.body.error_description ?? '', why);
      assert.equal(res.cacheControl, 'no-store');
      assert.equal(await meStatus(bystander), 200, 'a refused logout token ends no session');
    }

    before(async () => {
      if (skip) return;
      const port = await freePort();
      idp = await TestIdp.start({
        redirectUris: [`http://127.0.0.1:${port}/signin/oidc/callback`],
        backchannelLogoutUri: `http://127.0.0.1:${port}${LOGOUT_PATH}`,
      });
      db = await createTestDatabase(kind);
      server = await startTestServer(kind, { db, env: oidcEnv(idp, port) });
      plain = await startTestServer(kind, { db });
    });
    after(async () => {
      await plain?.stop();
      await server?.stop();
      await db?.drop();
      await idp?.stop();
    });

    test("signing out at the IdP ends that person's dashboard sessions through oidc-provider's own logout token; their MCP connection and other people's sessions stay", {
      skip,
    }, async () => {
      idp.setAccount('alice-sub', { email: 'alice@example.com', groups: [] });
      idp.setAccount('bob-sub', { email: 'bob@example.com', groups: [] });
      class SsoProvider extends TestOAuthProvider {
        override async redirectToAuthorization(url: URL) {
          let res = await this.browser.fetch(url.href);
          const next = new URL(res.headers.get('location') as string, server.base).searchParams.get(
            'next',
          ) as string;
          res = await ssoSignIn(this.browser, idp, 'alice-sub', next);
          res = await this.browser.fetch(next);
          const page = await res.text();
          res = await this.browser.postForm('/authorize/decision', {
            request: hiddenField(page, 'request'),
            csrf: hiddenField(page, 'csrf'),
            decision: 'allow',
          });
          this.lastCode =
            new URL(res.headers.get('location') as string).searchParams.get('code') ?? undefined;
        }
      }
      const provider = new SsoProvider(server, { email: 'alice@example.com', password: '' });
      const client = await connectSdkClient(server, provider);
      assert.equal((await whoami(client)).userEmail, 'alice@example.com');
      const alice = provider.browser;
      const aliceElsewhere = new Browser(server.base);
      await ssoSignIn(aliceElsewhere, idp, 'alice-sub');
      const bob = new Browser(server.base);
      await ssoSignIn(bob, idp, 'bob-sub');
      assert.deepEqual(
        [await meStatus(alice), await meStatus(aliceElsewhere), await meStatus(bob)],
        [200, 200, 200],
      );

      await idp.endSession(alice);
      assert.deepEqual(idp.backchannel, [{ ok: true }], 'Waxseal answered the IdP 200');
      assert.equal(await meStatus(alice), 401, 'the session in that browser ended');
      assert.equal(await meStatus(aliceElsewhere), 401, 'and every other dashboard session of hers');
      assert.equal(await meStatus(bob), 200, "another person's session is untouched");
      assert.equal(
        (await whoami(client)).userEmail,
        'alice@example.com',
        'the MCP connection still works: leaving is Disable, not logout',
      );
      const connection = await server.services.store.db
        .selectFrom('connections')
        .innerJoin('users', 'users.id', 'connections.user_id')
        .select('connections.status')
        .where('users.email', '=', 'alice@example.com')
        .executeTakeFirstOrThrow();
      assert.equal(connection.status, 'active');
      assert.equal(await loggedOut('alice@example.com'), 1, 'one audit row for the logout');
      await client.close();
    });

    test('a valid logout token answers 200 with no-store and ends the sessions; the same jti again is refused', {
      skip,
    }, async () => {
      const carol = new Browser(server.base);
      idp.setAccount('carol-sub', { email: 'carol@example.com' });
      await ssoSignIn(carol, idp, 'carol-sub');
      const bystander = new Browser(server.base);
      await ssoSignIn(bystander, idp, 'bob-sub');
      assert.equal(await meStatus(carol), 200);
      const token = await idp.signLogoutToken({ sub: 'carol-sub', sid: 'idp-session-1' });
      const res = await postLogout(server, form(token));
      assert.equal(res.status, 200);
      assert.equal(res.cacheControl, 'no-store');
      assert.equal(await meStatus(carol), 401);
      assert.equal(await meStatus(bystander), 200);
      assert.equal(await loggedOut('carol@example.com'), 1);

      // Replayed: carol signed in again, and the old token must not sign her out.
      await ssoSignIn(carol, idp, 'carol-sub');
      await refused(token, carol, /already used/);
      assert.equal(await loggedOut('carol@example.com'), 1, 'a refused token is not audited as a logout');
    });

    test('forged, mis-addressed or incomplete logout tokens are refused with 400 and end nothing', {
      skip,
    }, async () => {
      const dave = new Browser(server.base);
      idp.setAccount('dave-sub', { email: 'dave@example.com' });
      await ssoSignIn(dave, idp, 'dave-sub');
      const sub = 'dave-sub';
      const { privateKey: otherKey } = await generateKeyPair('RS256');
      await refused(await idp.signLogoutToken({ sub }, otherKey), dave, /could not be verified/);
      await refused(await idp.signLogoutToken({ sub, aud: 'someone-else' }), dave, /could not be verified/);
      await refused(
        await idp.signLogoutToken({ sub, aud: ['someone-else', 'another'] }),
        dave,
        /could not be verified/,
      );
      await refused(
        await idp.signLogoutToken({ sub, iss: 'https://evil.example' }),
        dave,
        /could not be verified/,
      );
      await refused(await idp.signLogoutToken({ sub, events: undefined }), dave, /logout event/);
      await refused(
        await idp.signLogoutToken({ sub, events: { 'http://schemas.openid.net/event/other': {} } }),
        dave,
        /logout event/,
      );
      await refused(await idp.signLogoutToken({ sub, jti: undefined }), dave, /could not be verified/);
      await refused(await idp.signLogoutToken({ sub, iat: undefined }), dave, /could not be verified/);
      await refused(
        await idp.signLogoutToken({ sub, iat: Math.floor(Date.now() / 1000) + 3600 }),
        dave,
        /could not be verified|future/,
      );
      await refused(await idp.signLogoutToken({ sub, nonce: 'n-0S6_WzA2Mj' }), dave, /nonce/);
      await refused(await idp.signLogoutToken({}), dave, /neither sub nor sid/);
      // Waxseal keeps no IdP session id: a sid alone names nobody, so the logout failed (§2.8).
      await refused(await idp.signLogoutToken({ sid: 'idp-session-2' }), dave, /sub/);
      // alg none: an unsecured JWT with the same claims.
      const signed = await idp.signLogoutToken({ sub });
      const claims = signed.split('.')[1] as string;
      const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${claims}.`;
      await refused(none, dave, /could not be verified/);
      assert.equal(await loggedOut('dave@example.com'), 0);
    });

    test('a body that is no logout token gets 400 in the §2.8 JSON shape, never 500', { skip }, async () => {
      const cases: Array<[string, string?]> = [
        [form('not-a-jwt')],
        [form('a.b.c')],
        [''],
        ['logout_token='],
        ['something_else=1'],
        [form(`${'x'.repeat(9000)}`)],
        [
          JSON.stringify({ logout_token: await idp.signLogoutToken({ sub: 'dave-sub' }) }),
          'application/json',
        ],
        ['logout_token=%E0%A4%A', undefined],
      ];
      for (const [body, type] of cases) {
        const res = await postLogout(server, body, type);
        assert.equal(res.status, 400, `${body.slice(0, 40)} → ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, 'invalid_request');
        assert.equal(typeof res.body.error_description, 'string');
      }
    });

    test('a valid token for a person Waxseal never linked answers 200 and changes nothing', {
      skip,
    }, async () => {
      const res = await postLogout(server, form(await idp.signLogoutToken({ sub: 'stranger-sub' })));
      assert.equal(res.status, 200);
    });

    test('seen jti are swept once expired', { skip }, async () => {
      const store = server.services.store.db;
      await store
        .insertInto('logout_tokens')
        .values({ jti_hash: 'expired-test-row', expires_at: 1 })
        .execute();
      await sweepExpired(server.services);
      const left = await store
        .selectFrom('logout_tokens')
        .select('jti_hash')
        .where('jti_hash', '=', 'expired-test-row')
        .execute();
      assert.equal(left.length, 0);
      const kept = await store.selectFrom('logout_tokens').select('jti_hash').execute();
      assert.ok(kept.length >= 1, 'unexpired jti stay remembered');
    });

    test('without OIDC configured the endpoint does not exist', { skip }, async () => {
      const res = await postLogout(plain, form(await idp.signLogoutToken({ sub: 'dave-sub' })));
      assert.equal(res.status, 404);
    });
  });
}

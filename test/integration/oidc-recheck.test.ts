import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { MINUTE } from '../../src/domain/clock.js';
import { unseal } from '../../src/domain/secrets.js';
import {
  addUser,
  type Browser,
  connectSdkClient,
  hiddenField,
  mcpStatus,
  refreshGrant,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { revokeGrantAtIdp, TestIdp } from '../helpers/idp.js';
import {
  createTestDatabase,
  freePort,
  postgresSkip,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';

const ROLE_MAP = 'wax-owners=owner,wax-admins=admin,wax-viewers=viewer';

function oidcEnv(
  idp: TestIdp,
  port: number,
  recheckMinutes: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return idp.waxsealEnv(port, { OIDC_ROLE_MAP: ROLE_MAP, OIDC_RECHECK_MINUTES: recheckMinutes, ...extra });
}

/** The whole IdP sign-in ("Sign in with Okta", the IdP's pages, the callback); returns where Waxseal sends the browser. */
async function ssoSignIn(browser: Browser, idp: TestIdp, sub: string, next: string): Promise<string> {
  const res = await idp.signInToWaxseal(browser, sub, next);
  assert.equal(res.status, 303, 'the IdP sign-in succeeded');
  return res.headers.get('location') as string;
}

/** The official SDK client's OAuth flow, its user signing in through the IdP as `sub`. */
class SsoProvider extends TestOAuthProvider {
  constructor(
    server: TestServer,
    readonly idp: TestIdp,
    readonly sub: string,
  ) {
    super(server, { email: `${sub}@unused`, password: '' });
  }
  override async redirectToAuthorization(url: URL) {
    let res = await this.browser.fetch(url.href);
    if (res.status === 302) {
      const next = new URL(res.headers.get('location') as string, this.browser.base).searchParams.get(
        'next',
      ) as string;
      res = await this.browser.fetch(await ssoSignIn(this.browser, this.idp, this.sub, next));
    }
    const page = await res.text();
    assert.match(page, /Connect <span class="client">Test SDK Client<\/span>/);
    res = await this.browser.postForm('/authorize/decision', {
      request: hiddenField(page, 'request'),
      csrf: hiddenField(page, 'csrf'),
      decision: 'allow',
    });
    this.lastCode = new URL(res.headers.get('location') as string).searchParams.get('code') ?? undefined;
  }
}

interface Connected {
  client: Client;
  provider: SsoProvider;
}

async function connectThroughIdp(server: TestServer, idp: TestIdp, sub: string): Promise<Connected> {
  const provider = new SsoProvider(server, idp, sub);
  return { client: await connectSdkClient(server, provider), provider };
}

/** The client's refresh grant, as the SDK sends it; a success is kept as the client's tokens. */
async function refreshOf(server: TestServer, { provider }: Connected) {
  const clientId = provider.info?.client_id as string;
  const result = await refreshGrant(server.base, clientId, provider.saved?.refresh_token as string);
  if (result.status === 200) provider.saveTokens(result.body as unknown as OAuthTokens);
  return result;
}

const roleOf = async ({ client }: Connected) => (await whoami(client)).role;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 re-check at refresh (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let idp: TestIdp;
    let db: TestDatabase;
    /** OIDC_RECHECK_MINUTES=0: the IdP is asked at every refresh. */
    let server: TestServer;
    /** Same database, OIDC_RECHECK_MINUTES=60. */
    let hourly: TestServer;
    /** Same database, OIDC_RECHECK_MINUTES=0 and OIDC_DEFAULT_ROLE=none. */
    let strict: TestServer;
    const open: Client[] = [];

    const userOf = (email: string) =>
      server.services.store.db
        .selectFrom('users')
        .select(['id', 'status', 'role'])
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
    const connectionsOf = async (email: string) =>
      server.services.store.db
        .selectFrom('connections')
        .select(['status', 'revoked_by'])
        .where('user_id', '=', (await userOf(email)).id)
        .execute();
    const connect = async (on: TestServer, sub: string) => {
      const c = await connectThroughIdp(on, idp, sub);
      open.push(c.client);
      return c;
    };

    before(async () => {
      if (skip) return;
      const [port, hourlyPort, strictPort] = [await freePort(), await freePort(), await freePort()];
      idp = await TestIdp.start({
        redirectUris: [port, hourlyPort, strictPort].map((p) => `http://127.0.0.1:${p}/signin/oidc/callback`),
      });
      db = await createTestDatabase(kind);
      server = await startTestServer(kind, { db, env: oidcEnv(idp, port, '0') });
      hourly = await startTestServer(kind, { db, env: oidcEnv(idp, hourlyPort, '60') });
      strict = await startTestServer(kind, {
        db,
        env: oidcEnv(idp, strictPort, '0', { OIDC_DEFAULT_ROLE: 'none' }),
      });
      // The IdP's people are never the last owner here.
      await addUser(server, 'root@example.com', 'owner');
    });
    after(async () => {
      for (const client of open) await client.close().catch(() => {});
      await strict?.stop();
      await hourly?.stop();
      await server?.stop();
      await db?.drop();
      await idp?.stop();
    });

    test('groups changed at the IdP give the new role at the next refresh grant, without a new sign-in', {
      skip,
    }, async () => {
      idp.setAccount('rita-sub', { email: 'rita@example.com', groups: ['wax-viewers'] });
      const rita = await connect(server, 'rita-sub');
      assert.equal(await roleOf(rita), 'viewer');
      idp.setGroups('rita-sub', ['eng', 'wax-admins']);
      assert.equal(await roleOf(rita), 'viewer', 'nothing changes before the refresh');
      const hits = idp.tokenAuth.length;
      assert.equal((await refreshOf(server, rita)).status, 200);
      assert.equal(idp.tokenAuth.length, hits + 1, 'the IdP was asked once');
      assert.equal(await roleOf(rita), 'admin');
      // A lower role too, and no mapped group falls back to OIDC_DEFAULT_ROLE.
      idp.setGroups('rita-sub', []);
      assert.equal((await refreshOf(server, rita)).status, 200);
      assert.equal(await roleOf(rita), 'member');
    });

    test('an account disabled at the IdP: the refresh grant answers invalid_grant, every connection of the user is revoked, the user is disabled', {
      skip,
    }, async () => {
      idp.setAccount('otto-sub', { email: 'otto@example.com', groups: ['wax-admins'] });
      const first = await connect(server, 'otto-sub');
      const second = await connect(server, 'otto-sub');
      assert.equal(await roleOf(second), 'admin');
      idp.disable('otto-sub');
      const refused = await refreshOf(server, first);
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_grant');
      assert.equal(await mcpStatus(server.base, second.provider.saved?.access_token as string), 401);
      assert.equal(await mcpStatus(server.base, first.provider.saved?.access_token as string), 401);
      assert.equal((await refreshOf(server, second)).status, 400);
      assert.equal((await userOf('otto@example.com')).status, 'disabled');
      assert.deepEqual(await connectionsOf('otto@example.com'), [
        { status: 'revoked', revoked_by: 'Waxseal (IdP refused)' },
        { status: 'revoked', revoked_by: 'Waxseal (IdP refused)' },
      ]);
      const audited = await server.services.store.db
        .selectFrom('audit_events')
        .select('actor')
        .where('action', '=', 'user.disabled')
        .where('detail', 'like', '%otto@example.com%')
        .execute();
      assert.deepEqual(audited, [{ actor: 'Waxseal (IdP refused)' }]);
    });

    test('a grant revoked at the IdP cuts the user off the same way', { skip }, async () => {
      idp.setAccount('gina-sub', { email: 'gina@example.com', groups: ['wax-viewers'] });
      const gina = await connect(server, 'gina-sub');
      const identity = await server.services.store.db
        .selectFrom('user_identities')
        .select('refresh_sealed')
        .where('subject', '=', 'gina-sub')
        .executeTakeFirstOrThrow();
      await revokeGrantAtIdp(
        idp,
        unseal(server.services.secret, 'oidc-refresh', identity.refresh_sealed as string),
      );
      const refused = await refreshOf(server, gina);
      assert.deepEqual([refused.status, refused.body.error], [400, 'invalid_grant']);
      assert.equal(await mcpStatus(server.base, gina.provider.saved?.access_token as string), 401);
      assert.equal((await userOf('gina@example.com')).status, 'disabled');
      assert.deepEqual(await connectionsOf('gina@example.com'), [
        { status: 'revoked', revoked_by: 'Waxseal (IdP refused)' },
      ]);
    });

    test('OIDC_DEFAULT_ROLE=none: no mapped group left at the IdP cuts the user off at the next refresh', {
      skip,
    }, async () => {
      idp.setAccount('ned-sub', { email: 'ned@example.com', groups: ['wax-viewers'] });
      const ned = await connect(strict, 'ned-sub');
      assert.equal(await roleOf(ned), 'viewer');
      idp.setGroups('ned-sub', ['eng']);
      const refused = await refreshOf(strict, ned);
      assert.deepEqual([refused.status, refused.body.error], [400, 'invalid_grant']);
      assert.equal(await mcpStatus(strict.base, ned.provider.saved?.access_token as string), 401);
      assert.equal((await userOf('ned@example.com')).status, 'disabled');
      assert.deepEqual(await connectionsOf('ned@example.com'), [
        { status: 'revoked', revoked_by: 'Waxseal (no role at the IdP)' },
      ]);
    });

    test('an IdP that is down revokes nothing: the refresh grant succeeds as today', { skip }, async () => {
      idp.setAccount('ivy-sub', { email: 'ivy@example.com', groups: ['wax-admins'] });
      const ivy = await connect(server, 'ivy-sub');
      await idp.stop();
      try {
        const res = await refreshOf(server, ivy);
        assert.equal(res.status, 200);
        assert.match(res.body.access_token ?? '', /^wax_at_/);
        assert.equal(await roleOf(ivy), 'admin', 'the new access token works, with the role unchanged');
        assert.equal((await userOf('ivy@example.com')).status, 'active');
        assert.deepEqual(await connectionsOf('ivy@example.com'), [{ status: 'active', revoked_by: null }]);
      } finally {
        await idp.resume();
      }
      // Back up, the IdP is asked again at the next refresh.
      idp.setGroups('ivy-sub', ['wax-viewers']);
      assert.equal((await refreshOf(server, ivy)).status, 200);
      assert.equal(await roleOf(ivy), 'viewer');
    });

    test('OIDC_RECHECK_MINUTES=60: refreshes in a row, or at once from two connections, ask the IdP once', {
      skip,
    }, async () => {
      idp.setAccount('hal-sub', { email: 'hal@example.com', groups: ['wax-viewers'] });
      // Hal's own token requests: an earlier test's revoked client may re-authorize meanwhile.
      const halCalls = () => idp.tokenSubjects.filter((sub) => sub === 'hal-sub').length;
      const first = await connect(hourly, 'hal-sub');
      const second = await connect(hourly, 'hal-sub');
      idp.setGroups('hal-sub', ['wax-admins']);
      let hits = halCalls();
      assert.equal((await refreshOf(hourly, first)).status, 200);
      assert.equal(halCalls(), hits, 'just signed in: no re-check is due yet');
      assert.equal(await roleOf(first), 'viewer');

      const anHourAgo = async () =>
        hourly.services.store.db
          .updateTable('user_identities')
          .set({ last_recheck_at: Date.now() - 61 * MINUTE })
          .where('subject', '=', 'hal-sub')
          .execute();
      await anHourAgo();
      hits = halCalls();
      assert.equal((await refreshOf(hourly, first)).status, 200);
      assert.equal((await refreshOf(hourly, second)).status, 200);
      assert.equal((await refreshOf(hourly, first)).status, 200);
      assert.equal(halCalls(), hits + 1, 'one IdP call for three refreshes');
      assert.equal(await roleOf(second), 'admin');

      await anHourAgo();
      idp.setGroups('hal-sub', ['wax-viewers']);
      hits = halCalls();
      const both = await Promise.all([refreshOf(hourly, first), refreshOf(hourly, second)]);
      assert.deepEqual(
        both.map((r) => r.status),
        [200, 200],
      );
      assert.equal(halCalls(), hits + 1, 'two concurrent refreshes: one IdP call');
      assert.equal(await roleOf(first), 'viewer');
    });
  });
}

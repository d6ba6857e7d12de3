import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../../src/config.js';
import { MINUTE } from '../../src/domain/clock.js';
import { unseal } from '../../src/domain/secrets.js';
import { startServer } from '../../src/server.js';
import { sweepExpired } from '../../src/services/sweep.js';
import {
  addUser,
  Browser,
  connectSdkClient,
  hiddenField,
  PASSWORD,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { TestIdp } from '../helpers/idp.js';
import {
  createTestDatabase,
  freePort,
  postgresSkip,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testEnv,
} from '../helpers/server.js';

const ROLE_MAP = 'wax-owners=owner,wax-admins=admin,wax-viewers=viewer';

function oidcEnv(idp: TestIdp, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return idp.waxsealEnv(port, { OIDC_ROLE_MAP: ROLE_MAP, ...extra });
}

/** Presses "Sign in with Okta" (POST /signin/oidc) and returns where Waxseal sends the browser. */
async function startSso(browser: Browser, next: string): Promise<string> {
  const res = await browser.postForm('/signin/oidc', { next });
  assert.equal(res.status, 303);
  return res.headers.get('location') as string;
}

/** The whole IdP sign-in in a cookie-jar browser; returns Waxseal's answer to the callback. */
function ssoSignIn(browser: Browser, idp: TestIdp, sub: string, next = '/settings/mcp-connections') {
  return idp.signInToWaxseal(browser, sub, next);
}

async function me(browser: Browser): Promise<{ status: number; email?: string; role?: string }> {
  const res = await browser.fetch('/api/me');
  const body = res.status === 200 ? ((await res.json()) as { email: string; role: string }) : {};
  return { status: res.status, ...body };
}

const pickWho = (who: Record<string, string>) => [who.userEmail, who.role];

const alertOf = (page: string) => /role="alert">([^<]*)</.exec(page)?.[1] ?? '';

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 sign-in through the IdP (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let idp: TestIdp;
    let db: TestDatabase;
    let server: TestServer;
    /** Same database, LOCAL_SIGNIN=off, OIDC_LINK_BY_EMAIL=off, OIDC_DEFAULT_ROLE=none. */
    let strict: TestServer;
    /** Same database, a wrong OIDC_CLIENT_SECRET: the IdP refuses Waxseal itself. */
    let misconfigured: TestServer;

    before(async () => {
      if (skip) return;
      const [port, strictPort, badPort] = [await freePort(), await freePort(), await freePort()];
      idp = await TestIdp.start({
        redirectUris: [port, strictPort, badPort].map((p) => `http://127.0.0.1:${p}/signin/oidc/callback`),
      });
      db = await createTestDatabase(kind);
      server = await startTestServer(kind, { db, env: oidcEnv(idp, port) });
      strict = await startTestServer(kind, {
        db,
        env: oidcEnv(idp, strictPort, {
          LOCAL_SIGNIN: 'off',
          OIDC_LINK_BY_EMAIL: 'off',
          OIDC_DEFAULT_ROLE: 'none',
        }),
      });
      misconfigured = await startTestServer(kind, {
        db,
        env: oidcEnv(idp, badPort, { OIDC_CLIENT_SECRET: 'not-the-secret-the-idp-knows' }),
      });
      await addUser(server, 'root@example.com', 'owner');
    });
    after(async () => {
      await misconfigured?.stop();
      await strict?.stop();
      await server?.stop();
      await db?.drop();
      await idp?.stop();
    });

    test('the sign-in page shows "Sign in with Okta" above the email form', { skip }, async () => {
      const page = await (
        await new Browser(server.base).fetch('/signin?next=/settings/mcp-connections')
      ).text();
      const button = page.indexOf('>Sign in with Okta</button>');
      assert.ok(button > 0, 'the IdP button is there');
      assert.ok(button < page.indexOf('<label for="f-email">Email</label>'), 'above the email form');
      assert.match(page, /<input type="hidden" name="next" value="\/settings\/mcp-connections">/);
    });

    test('first sign-in creates the user just in time, with the highest mapped role, and lands on the page asked for', {
      skip,
    }, async () => {
      idp.setAccount('alice-sub', {
        email: 'Alice@Example.com',
        groups: ['eng', 'wax-viewers', 'wax-admins'],
      });
      const browser = new Browser(server.base);
      const res = await ssoSignIn(browser, idp, 'alice-sub', '/settings/mcp-connections?status=active');
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/settings/mcp-connections?status=active');
      const who = await me(browser);
      assert.deepEqual([who.status, who.email, who.role], [200, 'alice@example.com', 'admin']);
      const row = await server.services.store.db
        .selectFrom('users')
        .innerJoin('user_identities', 'user_identities.user_id', 'users.id')
        .select(['users.source', 'users.status', 'user_identities.issuer', 'user_identities.refresh_sealed'])
        .where('users.email', '=', 'alice@example.com')
        .executeTakeFirstOrThrow();
      assert.equal(row.source, 'oidc');
      assert.equal(row.status, 'active');
      assert.equal(row.issuer, idp.issuer);
      // offline_access was listed by the IdP, so it issued a refresh token; only its sealed form is stored.
      assert.ok(row.refresh_sealed);
      const refresh = unseal(server.services.secret, 'oidc-refresh', row.refresh_sealed);
      assert.ok(refresh.length > 20 && !row.refresh_sealed.includes(refresh));
      assert.equal(idp.tokenAuth.at(-1), 'basic', 'client_secret_basic when the IdP offers it');
    });

    test('a lower role at the IdP takes effect at the next sign-in, for every session of that user', {
      skip,
    }, async () => {
      idp.setAccount('bob-sub', { email: 'bob@example.com', groups: ['wax-admins'] });
      const first = new Browser(server.base);
      await ssoSignIn(first, idp, 'bob-sub');
      assert.equal((await me(first)).role, 'admin');
      idp.setGroups('bob-sub', ['wax-viewers']);
      const second = new Browser(server.base);
      await ssoSignIn(second, idp, 'bob-sub');
      assert.equal((await me(second)).role, 'viewer');
      assert.equal((await me(first)).role, 'viewer', 'the older session has the lower role at once');
      // On the other instance too (same database), and the revoke API is now refused.
      const other = new Browser(strict.base);
      other.jar.set('waxseal_session', first.jar.get('waxseal_session') as string);
      assert.equal((await me(other)).role, 'viewer');
      idp.setGroups('bob-sub', ['nothing-mapped']);
      await ssoSignIn(new Browser(server.base), idp, 'bob-sub');
      assert.equal((await me(first)).role, 'member', 'no mapped group: OIDC_DEFAULT_ROLE');
    });

    test('the last owner is never demoted by IdP groups', { skip }, async () => {
      const db = server.services.store.db;
      idp.setAccount('root-sub', { email: 'root@example.com', groups: [] });
      const browser = new Browser(server.base);
      assert.equal((await ssoSignIn(browser, idp, 'root-sub')).status, 303);
      assert.equal((await me(browser)).role, 'owner');
      const owners = await db.selectFrom('users').select('email').where('role', '=', 'owner').execute();
      assert.deepEqual(
        owners.map((o) => o.email),
        ['root@example.com'],
      );
    });

    test('the first sign-in links to the user with the same email; later the user is found by sub, never by email', {
      skip,
    }, async () => {
      await addUser(server, 'lee@example.com', 'member');
      idp.setAccount('lee-sub', { email: 'lee@example.com', groups: ['wax-viewers'] });
      const browser = new Browser(server.base);
      assert.equal((await ssoSignIn(browser, idp, 'lee-sub')).status, 303);
      assert.deepEqual([(await me(browser)).email, (await me(browser)).role], ['lee@example.com', 'viewer']);
      const users = await server.services.store.db
        .selectFrom('users')
        .select(['id', 'source'])
        .where('email', '=', 'lee@example.com')
        .execute();
      assert.equal(users.length, 1);
      assert.equal(users[0]?.source, 'local');
      // The password still works for a linked local user.
      assert.equal((await new Browser(server.base).signIn('lee@example.com', PASSWORD)).status, 303);
      // Another IdP account claiming the same email takes nothing over.
      idp.setAccount('lee-impostor', { email: 'lee@example.com', groups: ['wax-owners'] });
      const impostor = await ssoSignIn(new Browser(server.base), idp, 'lee-impostor');
      assert.equal(impostor.status, 403);
      // The linked account keeps signing in even after its email changes at the IdP.
      idp.setAccount('lee-sub', { email: 'lee.new@example.com', groups: ['wax-viewers'] });
      const again = new Browser(server.base);
      await ssoSignIn(again, idp, 'lee-sub');
      assert.equal((await me(again)).email, 'lee@example.com');
    });

    test('an email the IdP says is unverified links to nobody', { skip }, async () => {
      await addUser(server, 'vic@example.com', 'owner');
      idp.setAccount('vic-sub', { email: 'vic@example.com', emailVerified: false, groups: [] });
      const browser = new Browser(server.base);
      const res = await ssoSignIn(browser, idp, 'vic-sub');
      assert.equal(res.status, 403);
      assert.match(alertOf(await res.text()), /cannot sign in to Waxseal/);
      assert.equal((await me(browser)).status, 401);
    });

    test("OIDC_LINK_BY_EMAIL=off: an IdP account with an existing user's email is refused", {
      skip,
    }, async () => {
      await addUser(server, 'kim@example.com', 'owner');
      idp.setAccount('kim-sub', { email: 'kim@example.com', groups: ['wax-viewers'] });
      const browser = new Browser(strict.base);
      const res = await ssoSignIn(browser, idp, 'kim-sub');
      assert.equal(res.status, 403);
      assert.equal((await me(browser)).status, 401);
      const linked = await strict.services.store.db
        .selectFrom('user_identities')
        .select('subject')
        .where('subject', '=', 'kim-sub')
        .execute();
      assert.equal(linked.length, 0);
    });

    test('OIDC_DEFAULT_ROLE=none refuses a person whose groups map to no role, with a clear page', {
      skip,
    }, async () => {
      idp.setAccount('nora-sub', { email: 'nora@example.com', groups: ['eng'] });
      const res = await ssoSignIn(new Browser(strict.base), idp, 'nora-sub');
      assert.equal(res.status, 403);
      assert.match(alertOf(await res.text()), /None of your groups/);
      const user = await strict.services.store.db
        .selectFrom('users')
        .select('id')
        .where('email', '=', 'nora@example.com')
        .executeTakeFirst();
      assert.equal(user, undefined);
      idp.setGroups('nora-sub', ['wax-viewers']);
      const browser = new Browser(strict.base);
      assert.equal((await ssoSignIn(browser, idp, 'nora-sub')).status, 303);
      assert.equal((await me(browser)).role, 'viewer');
    });

    test('LOCAL_SIGNIN=off: the IdP button alone, and the password POST is refused', { skip }, async () => {
      const page = await (await new Browser(strict.base).fetch('/signin')).text();
      assert.match(page, />Sign in with Okta<\/button>/);
      assert.doesNotMatch(page, /Email|Password/);
      const browser = new Browser(strict.base);
      const res = await browser.signIn('root@example.com', PASSWORD);
      assert.equal(res.status, 403);
      assert.equal(browser.jar.has('waxseal_session'), false);
    });

    test("a disabled user whose IdP session is still valid gets the generic refusal on every instance, and no MCP client's code; Enable lets them in", {
      skip,
    }, async () => {
      idp.setAccount('dee-sub', { email: 'dee@example.com', groups: ['wax-viewers'] });
      const browser = new Browser(server.base);
      assert.equal((await ssoSignIn(browser, idp, 'dee-sub')).status, 303);
      const owner = new Browser(server.base);
      assert.equal((await owner.signIn('root@example.com', PASSWORD)).status, 303);
      const setStatus = async (action: string) => {
        const res = await owner.fetch(`/api/members/${action}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: server.base },
          body: JSON.stringify({ email: 'dee@example.com' }),
        });
        assert.equal(res.status, 200, action);
      };
      await setStatus('disable');
      assert.equal((await me(browser)).status, 401, 'Disable ended the dashboard session');
      // The same cookie jar, IdP session and all: the IdP answers with a valid ID token for dee.
      for (const instance of [server, strict]) {
        const again = new Browser(instance.base);
        for (const [k, v] of browser.jar) again.jar.set(k, v);
        const res = await ssoSignIn(again, idp, 'dee-sub');
        assert.equal(res.status, 403, instance.base);
        assert.match(alertOf(await res.text()), /Your account cannot sign in to Waxseal/);
        assert.equal((await me(again)).status, 401);
      }
      // An MCP client's flow: the sign-in it needs is refused, so no code reaches the client.
      const provider = new TestOAuthProvider(server, { email: 'dee@example.com', password: '' });
      provider.redirectToAuthorization = async (url: URL) => {
        const res = await provider.browser.fetch(url.href);
        const next = new URL(res.headers.get('location') as string, server.base).searchParams.get('next');
        assert.equal((await ssoSignIn(provider.browser, idp, 'dee-sub', next as string)).status, 403);
        assert.equal(
          (await provider.browser.fetch(next as string)).status,
          302,
          'authorize still asks for sign-in',
        );
      };
      await assert.rejects(connectSdkClient(server, provider));
      assert.equal(provider.lastCode, undefined);
      await setStatus('enable');
      assert.equal((await ssoSignIn(browser, idp, 'dee-sub')).status, 303);
      assert.equal((await me(browser)).email, 'dee@example.com');
    });

    test('a callback whose state belongs to another browser is refused with a 400 page', {
      skip,
    }, async () => {
      idp.setAccount('mal-sub', { email: 'mal@example.com', groups: ['wax-admins'] });
      const victim = new Browser(server.base);
      await startSso(victim, '/');
      // The attacker completes their own sign-in and sends the victim the callback URL.
      const attacker = new Browser(server.base);
      const callback = await idp.signIn(attacker, await startSso(attacker, '/'), 'mal-sub');
      const res = await victim.fetch(callback.href);
      assert.equal(res.status, 400);
      assert.match(alertOf(await res.text()), /could not be verified/);
      assert.equal((await me(victim)).status, 401);
      // Without the cookie at all, and replayed after use: refused too.
      assert.equal((await new Browser(server.base).fetch(callback.href)).status, 400);
    });

    test('a callback is single use', { skip }, async () => {
      idp.setAccount('sam-sub', { email: 'sam@example.com', groups: [] });
      const browser = new Browser(server.base);
      const callback = await idp.signIn(browser, await startSso(browser, '/'), 'sam-sub');
      const cookie = browser.jar.get('waxseal_oidc') as string;
      assert.equal((await browser.fetch(callback.href)).status, 303);
      const replay = new Browser(server.base);
      replay.jar.set('waxseal_oidc', cookie);
      const res = await replay.fetch(callback.href);
      assert.equal(res.status, 400);
      assert.match(alertOf(await res.text()), /expired or was started in another browser/);
    });

    test('error=access_denied from the IdP is a clear 400 page', { skip }, async () => {
      const browser = new Browser(server.base);
      const state = new URL(await startSso(browser, '/')).searchParams.get('state');
      const res = await browser.fetch(`/signin/oidc/callback?error=access_denied&state=${state}`);
      assert.equal(res.status, 400);
      assert.match(alertOf(await res.text()), /did not sign you in/);
    });

    test("an ID token whose nonce is not this sign-in's is refused", { skip }, async () => {
      idp.setAccount('nan-sub', { email: 'nan@example.com', groups: [] });
      const browser = new Browser(server.base);
      const callback = await idp.signIn(browser, await startSso(browser, '/'), 'nan-sub');
      await server.services.store.db.updateTable('oidc_logins').set({ nonce: 'some-other-nonce' }).execute();
      const res = await browser.fetch(callback.href);
      assert.equal(res.status, 400);
      assert.equal((await me(browser)).status, 401);
    });

    test('a forged ID token (signed by another key) and a replayed one are refused', { skip }, async () => {
      idp.setAccount('fay-sub', { email: 'fay@example.com', groups: [] });
      const { privateKey } = await generateKeyPair('RS256');
      const forge = async (real: string) => {
        const claims = decodeJwt(real);
        return new SignJWT({ ...claims, groups: ['wax-owners'] })
          .setProtectedHeader(decodeProtectedHeader(real) as { alg: string })
          .sign(privateKey);
      };
      const earlier = idp.idTokens[0] as string;
      try {
        for (const tamper of [forge, async () => earlier]) {
          idp.tamperIdToken = tamper;
          const browser = new Browser(server.base);
          const before = idp.idTokens.length;
          const res = await ssoSignIn(browser, idp, 'fay-sub');
          assert.equal(idp.idTokens.length, before + 1, 'the IdP issued an ID token, which was replaced');
          assert.equal(res.status, 400, tamper === forge ? 'forged' : 'replayed');
          assert.match(alertOf(await res.text()), /could not be verified/);
          assert.equal((await me(browser)).status, 401);
        }
      } finally {
        idp.tamperIdToken = undefined;
      }
    });

    test('the return URL cannot send the browser to another site', { skip }, async () => {
      idp.setAccount('ola-sub', { email: 'ola@example.com', groups: [] });
      for (const next of [
        'https://evil.example/x',
        '//evil.example/x',
        '/\\evil.example',
        '/\t/evil.example',
        'javascript:alert(1)',
      ]) {
        const res = await ssoSignIn(new Browser(server.base), idp, 'ola-sub', next);
        assert.equal(res.status, 303);
        assert.equal(res.headers.get('location'), '/', `next=${JSON.stringify(next)}`);
      }
    });

    test('an IdP that is down at the callback gives a clear page, never a 500', { skip }, async () => {
      idp.setAccount('dan-sub', { email: 'dan@example.com', groups: [] });
      const browser = new Browser(server.base);
      const callback = await idp.signIn(browser, await startSso(browser, '/'), 'dan-sub');
      await idp.stop();
      try {
        const res = await browser.fetch(callback.href);
        assert.equal(res.status, 502);
        assert.match(res.headers.get('content-type') ?? '', /text\/html/);
        assert.match(alertOf(await res.text()), /cannot be reached/);
      } finally {
        await idp.resume();
      }
    });

    test('an IdP that refuses Waxseal (wrong client secret) gives a clear page, never a 500', {
      skip,
    }, async () => {
      idp.setAccount('eve-sub', { email: 'eve@example.com', groups: [] });
      const browser = new Browser(misconfigured.base);
      const res = await ssoSignIn(browser, idp, 'eve-sub');
      assert.equal(res.status, 502);
      assert.match(alertOf(await res.text()), /misconfigured/);
      assert.equal((await me(browser)).status, 401);
    });

    test('the pending sign-in cookie is HttpOnly, SameSite=Lax, for /signin/oidc only; expired rows are swept', {
      skip,
    }, async () => {
      const res = await new Browser(server.base).postForm('/signin/oidc', { next: '/' });
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('waxseal_oidc=')) ?? '';
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Lax/);
      assert.match(cookie, /Path=\/signin\/oidc/);
      const rows = () => server.services.store.db.selectFrom('oidc_logins').select('id_hash').execute();
      assert.ok((await rows()).length > 0);
      const later = { ...server.services, clock: { now: () => Date.now() + 11 * MINUTE } };
      await sweepExpired(later);
      assert.equal((await rows()).length, 0);
    });

    test("an MCP client's flow continues to its consent page after the IdP (official SDK client)", {
      skip,
    }, async () => {
      idp.setAccount('mia-sub', { email: 'mia@example.com', groups: ['wax-viewers'] });
      class SsoProvider extends TestOAuthProvider {
        override async redirectToAuthorization(url: URL) {
          let res = await this.browser.fetch(url.href);
          assert.equal(res.status, 302);
          const next = new URL(res.headers.get('location') as string, server.base).searchParams.get(
            'next',
          ) as string;
          assert.ok(next.startsWith('/authorize?'));
          res = await ssoSignIn(this.browser, idp, 'mia-sub', next);
          assert.equal(res.headers.get('location'), next);
          res = await this.browser.fetch(next);
          const page = await res.text();
          assert.match(page, /Connect <span class="client">Test SDK Client<\/span>/);
          res = await this.browser.postForm('/authorize/decision', {
            request: hiddenField(page, 'request'),
            csrf: hiddenField(page, 'csrf'),
            decision: 'allow',
          });
          this.lastCode =
            new URL(res.headers.get('location') as string).searchParams.get('code') ?? undefined;
        }
      }
      idp.setGroups('mia-sub', ['wax-admins']);
      const client = await connectSdkClient(
        server,
        new SsoProvider(server, { email: 'mia@example.com', password: '' }),
      );
      assert.deepEqual(pickWho(await whoami(client)), ['mia@example.com', 'admin']);
      // A lower role at the IdP reaches the live MCP connection at the next IdP sign-in.
      idp.setGroups('mia-sub', ['wax-viewers']);
      await ssoSignIn(new Browser(server.base), idp, 'mia-sub');
      assert.deepEqual(pickWho(await whoami(client)), ['mia@example.com', 'viewer']);
      await client.close();
    });
  });
}

describe('SPEC §10 configuration', () => {
  const base = { OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's3cret-value' };
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return '';
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
  };

  test('each bad OIDC setting is one clear line naming it, never echoing the secret', () => {
    assert.match(
      problem({ ...base, OIDC_ISSUER: 'http://idp.example.com' }),
      /^OIDC_ISSUER: must be an https/,
    );
    assert.equal(problem({ ...base, OIDC_ISSUER: 'http://127.0.0.1:9/' }), '');
    assert.equal(problem({ ...base, OIDC_ISSUER: 'http://localhost:9' }), '');
    assert.match(
      problem({ ...base, OIDC_ISSUER: 'https://idp.example', OIDC_ROLE_MAP: 'a=boss' }),
      /^OIDC_ROLE_MAP: role of "a" must be one of/,
    );
    assert.match(
      problem({ ...base, OIDC_ISSUER: 'https://idp.example', OIDC_DEFAULT_ROLE: 'root' }),
      /^OIDC_DEFAULT_ROLE:/,
    );
    assert.match(
      problem({ ...base, OIDC_ISSUER: 'https://idp.example', LOCAL_SIGNIN: 'no' }),
      /^LOCAL_SIGNIN: must be on or off/,
    );
    assert.match(
      problem({ ...base, OIDC_ISSUER: 'https://idp.example', OIDC_RECHECK_MINUTES: '-1' }),
      /^OIDC_RECHECK_MINUTES:/,
    );
    assert.match(
      problem({ ...base, OIDC_ISSUER: 'https://idp.example', OIDC_SCOPES: 'email' }),
      /^OIDC_SCOPES: must include openid/,
    );
    assert.match(
      problem({ OIDC_ISSUER: 'https://idp.example', OIDC_CLIENT_ID: 'c' }),
      /^OIDC_CLIENT_SECRET: must be set/,
    );
    assert.match(problem({ LOCAL_SIGNIN: 'off' }), /^LOCAL_SIGNIN: off needs OIDC_ISSUER/);
    const secret = problem({
      ...base,
      OIDC_ISSUER: 'https://idp.example',
      OIDC_CLIENT_SECRET: 'x'.repeat(2001),
    });
    assert.match(secret, /^OIDC_CLIENT_SECRET: .*\(value hidden\)$/);
    const ok = loadConfig({
      ...base,
      OIDC_ISSUER: 'https://idp.example',
      OIDC_ROLE_MAP: 'waxseal-admins=admin, eng=member',
    });
    assert.deepEqual(ok.oidc?.roleMap, [
      { group: 'waxseal-admins', role: 'admin' },
      { group: 'eng', role: 'member' },
    ]);
    assert.deepEqual(ok.oidc?.scopes, ['openid', 'email', 'profile']);
    assert.equal(ok.oidc?.name, 'SSO');
    assert.equal(ok.oidc?.redirectUri, 'http://localhost:3000/signin/oidc/callback');
  });

  test('an IdP whose metadata offers only client_secret_post gets the secret in the body', async () => {
    const port = await freePort();
    const idp = await TestIdp.start({
      redirectUris: [`http://127.0.0.1:${port}/signin/oidc/callback`],
      tokenAuthMethods: ['client_secret_post'],
    });
    const server = await startTestServer('sqlite', { env: oidcEnv(idp, port) });
    try {
      idp.setAccount('pia-sub', { email: 'pia@example.com', groups: ['wax-viewers'] });
      const browser = new Browser(server.base);
      assert.equal((await ssoSignIn(browser, idp, 'pia-sub')).status, 303);
      assert.equal((await me(browser)).role, 'viewer');
      assert.deepEqual(idp.tokenAuth, ['post']);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });

  test('an unreachable issuer at start-up is a one-line error and nothing listens', async () => {
    const db = await createTestDatabase('sqlite');
    const port = await freePort();
    const dead = await freePort();
    try {
      const env = { ...testEnv(db, port), ...base, OIDC_ISSUER: `http://127.0.0.1:${dead}` };
      await assert.rejects(startServer(loadConfig(env)), (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, new RegExp(`^OIDC_ISSUER: could not discover http://127.0.0.1:${dead} `));
        assert.doesNotMatch(err.message, /\n|s3cret/);
        return true;
      });
    } finally {
      await db.drop();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, launchChromium, openContext, screenshot } from '../helpers/browser.js';
import { BrowserOAuthProvider } from '../helpers/browser-oauth.js';
import {
  addUser,
  Browser as CookieBrowser,
  connectSdkClient,
  PASSWORD,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { TestIdp } from '../helpers/idp.js';
import {
  createTestDatabase,
  freePort,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';

const skip = browserSkip();

const ROLE_MAP = 'wax-owners=owner,wax-admins=admin,wax-viewers=viewer';
const REFUSAL = 'Your account cannot sign in to Waxseal. Ask an owner of this Waxseal for access.';

describe('SPEC §10 sign-in through the IdP in Chromium (oidc-provider as the IdP)', { skip }, () => {
  let idp: TestIdp;
  let db: TestDatabase;
  let server: TestServer;
  /** Same database, LOCAL_SIGNIN=off: the IdP's button alone. */
  let ssoOnly: TestServer;
  let chromium: Browser;
  const contexts: BrowserContext[] = [];
  /** CSP violations and page errors of every page the tests opened. */
  const problems: string[] = [];

  async function open(on: TestServer = server): Promise<{ context: BrowserContext; page: Page }> {
    const opened = await openContext(chromium, on);
    contexts.push(opened.context);
    opened.context.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
    });
    opened.context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
    return { context: opened.context, page: await opened.context.newPage() };
  }

  /** On Waxseal's sign-in page: presses Sign in with Okta and answers the IdP's own pages. */
  async function ssoInPage(page: Page, sub: string): Promise<string[]> {
    await page.getByRole('button', { name: 'Sign in with Okta' }).click();
    return idp.signInInPage(page, sub);
  }

  /** The owner disables or enables `email` through the API (SPEC §10). */
  async function setStatus(action: 'disable' | 'enable', email: string): Promise<void> {
    const owner = new CookieBrowser(server.base);
    assert.equal((await owner.signIn('root@example.com', PASSWORD)).status, 303);
    const res = await owner.fetch(`/api/members/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.base },
      body: JSON.stringify({ email }),
    });
    assert.equal(res.status, 200, `${action} ${email}`);
  }

  const connectionsOf = (email: string) =>
    server.services.store.db
      .selectFrom('connections')
      .innerJoin('users', 'users.id', 'connections.user_id')
      .select('connections.id')
      .where('users.email', '=', email)
      .execute();

  before(async () => {
    chromium = await launchChromium();
    const [port, ssoOnlyPort] = [await freePort(), await freePort()];
    idp = await TestIdp.start({
      redirectUris: [port, ssoOnlyPort].map((p) => `http://127.0.0.1:${p}/signin/oidc/callback`),
    });
    db = await createTestDatabase('sqlite');
    server = await startTestServer('sqlite', { db, env: idp.waxsealEnv(port, { OIDC_ROLE_MAP: ROLE_MAP }) });
    ssoOnly = await startTestServer('sqlite', {
      db,
      env: idp.waxsealEnv(ssoOnlyPort, { OIDC_ROLE_MAP: ROLE_MAP, LOCAL_SIGNIN: 'off' }),
    });
    await addUser(server, 'root@example.com', 'owner');
    const lee = await addUser(server, 'lee@example.com', 'member');
    // A connection of someone else, for the admin to see with its actions.
    const client = await connectSdkClient(server, new TestOAuthProvider(server, lee, 'Zed'));
    await client.close();
  });
  after(async () => {
    assert.deepEqual(problems, [], 'no CSP violation or page error on any page');
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await ssoOnly?.stop();
    await server?.stop();
    await db?.drop();
    await idp?.stop();
  });

  test('a deep dashboard page sends the person to sign-in; through the IdP they land back on it, signed in with the role from their groups', async () => {
    idp.setAccount('ada-sub', { email: 'ada@example.com', groups: ['eng', 'wax-admins'] });
    const { page } = await open();
    await page.goto('/settings/mcp-connections?status=active');
    await page.waitForURL((u) => u.pathname === '/signin');
    const sso = page.getByRole('button', { name: 'Sign in with Okta' });
    const email = page.getByLabel('Email');
    const [ssoBox, emailBox] = [await sso.boundingBox(), await email.boundingBox()];
    assert.ok(ssoBox && emailBox && ssoBox.y < emailBox.y, 'the IdP button is above the email form');
    await screenshot(page, 'signin-sso');

    assert.deepEqual(await ssoInPage(page, 'ada-sub'), ['login', 'consent'], "the IdP's own pages");
    await page.waitForURL((u) => u.pathname === '/settings/mcp-connections' && u.search === '?status=active');
    await page.getByRole('heading', { name: 'MCP Connections' }).waitFor();
    assert.equal(await page.locator('.account-email').textContent(), 'ada@example.com');
    assert.equal(await page.locator('.account .role-tag').textContent(), 'admin');
    // What an admin sees: everyone's connections, with Revoke and Regenerate key.
    const row = page.getByRole('row').filter({ hasText: 'lee@example.com' });
    await row.waitFor();
    assert.equal(await row.getByRole('button', { name: 'Revoke' }).count(), 1);
  });

  test('LOCAL_SIGNIN=off: the sign-in page has the IdP button alone; an owner lands on the Members page', async () => {
    idp.setAccount('root-sub', { email: 'root@example.com', groups: [] });
    const { page } = await open(ssoOnly);
    await page.goto('/settings/members');
    await page.waitForURL((u) => u.pathname === '/signin');
    await page.getByRole('button', { name: 'Sign in with Okta' }).waitFor();
    assert.equal(await page.getByLabel('Email').count(), 0);
    assert.equal(await page.getByLabel('Password').count(), 0);
    assert.equal(await page.getByRole('button').count(), 1, 'one button on the page');
    await screenshot(page, 'signin-sso-only');

    await ssoInPage(page, 'root-sub');
    await page.waitForURL((u) => u.pathname === '/settings/members');
    // Linked by email to the existing owner (OIDC_LINK_BY_EMAIL on), who keeps the role: the last owner.
    assert.equal(await page.locator('.account-email').textContent(), 'root@example.com');
    await page
      .getByRole('row')
      .filter({ hasText: 'lee@example.com' })
      .getByRole('button', { name: 'Disable' })
      .waitFor();
  });

  test("an MCP client's flow (official SDK client): sign-in through the IdP in Chromium, Waxseal's consent, then a tool call as the IdP user", async () => {
    idp.setAccount('mia-sub', { email: 'mia@example.com', groups: ['wax-admins'] });
    const provider = new BrowserOAuthProvider(
      server,
      { email: 'mia@example.com', password: '' },
      chromium,
      'Claude Desktop',
    );
    let idpPages: string[] = [];
    provider.signInWith = async (page) => {
      idpPages = await ssoInPage(page, 'mia-sub');
    };
    let consent = '';
    provider.onConsent = async (page) => {
      consent = (await page.locator('main').textContent()) ?? '';
    };
    const client = await connectSdkClient(server, provider);
    assert.ok(provider.sawSignIn, "Waxseal's sign-in page came first");
    assert.deepEqual(idpPages, ['login', 'consent']);
    assert.match(consent, /Claude Desktop/);
    assert.match(consent, /mia@example\.com/);
    const me = await whoami(client);
    assert.deepEqual([me.userEmail, me.role], ['mia@example.com', 'admin']);
    await client.close();
  });

  test("a disabled user whose IdP session is still valid gets the generic sign-in error and cannot complete an MCP client's flow", async () => {
    idp.setAccount('dot-sub', { email: 'dot@example.com', groups: ['wax-viewers'] });
    const { context, page } = await open();
    await page.goto('/settings/mcp-connections');
    await ssoInPage(page, 'dot-sub');
    await page.waitForURL((u) => u.pathname === '/settings/mcp-connections');
    await page.getByRole('heading', { name: 'MCP Connections' }).waitFor();

    await setStatus('disable', 'dot@example.com');
    // The dashboard session ended with Disable: the next load is the sign-in page again.
    await page.reload();
    await page.waitForURL((u) => u.pathname === '/signin');
    // The IdP still has the person's session: no password is asked there (oidc-provider asks consent
    // again for offline_access), and it sends them straight back, where Waxseal refuses.
    assert.ok(!(await ssoInPage(page, 'dot-sub')).includes('login'), 'the IdP session was still valid');
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByRole('alert').textContent(), REFUSAL);
    assert.equal((await page.request.get('/api/me')).status(), 401);

    // The MCP client's flow in the same browser profile ends at the same refusal, with no code.
    const provider = new BrowserOAuthProvider(
      server,
      { email: 'dot@example.com', password: '' },
      chromium,
      'Cursor',
      context,
    );
    provider.signInWith = async (p) => {
      await ssoInPage(p, 'dot-sub');
    };
    await assert.rejects(connectSdkClient(server, provider), /the sign-in was refused/);
    assert.equal(provider.refusal, REFUSAL);
    assert.equal(provider.lastCode, undefined);
    assert.equal((await connectionsOf('dot@example.com')).length, 0, 'no connection was made');

    // Enable restores sign-in.
    await setStatus('enable', 'dot@example.com');
    await page.goto('/settings/mcp-connections');
    await ssoInPage(page, 'dot-sub');
    await page.waitForURL((u) => u.pathname === '/settings/mcp-connections');
    assert.equal(await page.locator('.account-email').textContent(), 'dot@example.com');
  });
});

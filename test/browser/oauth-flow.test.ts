import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { browserSkip, launchChromium, openContext, screenshot, signIn } from '../helpers/browser.js';
import { BrowserOAuthProvider } from '../helpers/browser-oauth.js';
import { addUser, connectSdkClient, whoami } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const skip = browserSkip();

describe('SPEC §2 the whole OAuth flow, clicked in Chromium, with the official SDK client', { skip }, () => {
  let server: TestServer;
  let chromium: Browser;
  let user: { email: string; password: string };
  before(async () => {
    server = await startTestServer('sqlite');
    user = await addUser(server, 'ada@example.com', 'admin');
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await server?.stop();
  });

  test('sign-in and consent in the browser make a connection the client uses at once', async () => {
    const provider = new BrowserOAuthProvider(server, user, chromium, 'Claude Desktop');
    let consent: Record<string, string> = {};
    provider.onConsent = async (page) => {
      consent = {
        title: (await page.getByRole('heading', { level: 1 }).textContent()) ?? '',
        body: (await page.locator('main').textContent()) ?? '',
      };
      await screenshot(page, 'consent');
    };
    const client = await connectSdkClient(server, provider);
    const me = await whoami(client);
    await client.close();

    assert.equal(provider.sawSignIn, true, 'a signed-out user is shown the sign-in page first');
    assert.equal(provider.authorizationRequests, 1);
    assert.match(consent.title ?? '', /Claude Desktop/);
    assert.match(consent.body ?? '', /ada@example\.com/, 'the consent page names the account');
    assert.match(consent.body ?? '', /127\.0\.0\.1/, 'and the host of the redirect URI');
    assert.equal(me.clientName, 'Claude Desktop');
    assert.equal(me.userEmail, 'ada@example.com');
    assert.match(me.apiKeyPrefix ?? '', /^wax_sk_[A-Za-z0-9]{5,8}$/);
  });

  test('the new connection is on the dashboard with the key prefix the client sees', async () => {
    const provider = new BrowserOAuthProvider(server, user, chromium, 'Claude Code');
    const client = await connectSdkClient(server, provider);
    const me = await whoami(client);
    await client.close();

    const { context, problems }: { context: BrowserContext; problems: string[] } = await openContext(
      chromium,
      server,
    );
    try {
      const page = await context.newPage();
      await signIn(page, user);
      const row = page.getByRole('row').filter({ hasText: 'Claude Code' });
      await row.waitFor();
      assert.equal(await row.getByRole('cell').nth(3).textContent(), `${me.apiKeyPrefix}…`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a user already signed in to the dashboard goes straight to consent', async () => {
    const { context } = await openContext(chromium, server);
    try {
      await signIn(await context.newPage(), user);
      const provider = new BrowserOAuthProvider(server, user, chromium, 'Second client', context);
      const client = await connectSdkClient(server, provider);
      assert.equal((await whoami(client)).clientName, 'Second client');
      await client.close();
      assert.equal(provider.sawSignIn, false, 'no sign-in page this time');
    } finally {
      await context.close();
    }
  });
});

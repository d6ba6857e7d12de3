import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { listUsers } from '../../src/services/users.js';
import { browserSkip, launchChromium, openContext, screenshot, signIn } from '../helpers/browser.js';
import { addUser, connectSdkClient, mcpStatus, PASSWORD, TestOAuthProvider } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const skip = browserSkip();

describe('SPEC §10 offboarding in Chromium: Revoke all, Disable, Enable', { skip }, () => {
  let server: TestServer;
  let chromium: Browser;
  const contexts: BrowserContext[] = [];

  async function open(path: string): Promise<Page> {
    const opened = await openContext(chromium, server);
    contexts.push(opened.context);
    const page = await opened.context.newPage();
    await signIn(page, { email: 'olive@example.com', password: PASSWORD }, path);
    return page;
  }

  /** A connection of lee's, made by the official SDK client through the whole flow; its access token. */
  async function connectLee(name: string): Promise<string> {
    const provider = new TestOAuthProvider(server, { email: 'lee@example.com', password: PASSWORD }, name);
    const client = await connectSdkClient(server, provider);
    await client.close();
    return provider.saved?.access_token as string;
  }

  before(async () => {
    chromium = await launchChromium();
    server = await startTestServer('sqlite');
    await addUser(server, 'olive@example.com', 'owner');
    await addUser(server, 'lee@example.com', 'member');
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await server?.stop();
  });

  test('Members page: status, source and connections; Revoke all asks with the SPEC text, then every client is cut off', async () => {
    const tokens = [await connectLee('Laptop'), await connectLee('Desktop')];
    const page = await open('/settings/members');
    const row = page.getByRole('row').filter({ hasText: 'lee@example.com' });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(cells.slice(2, 5), ['active', 'Password', '2']);

    await row.getByRole('button', { name: 'Revoke all' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    assert.match(
      (await dialog.textContent()) ?? '',
      /Revoke all 2 MCP connections of lee@example\.com\? Their API keys will be deactivated and every client will need to re-authorize\./,
    );
    await screenshot(page, 'members-revoke-all');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    for (const t of tokens) assert.equal(await mcpStatus(server.base, t), 200, 'Cancel changed nothing');

    await row.getByRole('button', { name: 'Revoke all' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await page.getByText('Revoked 2 connections of lee@example.com.').waitFor();
    assert.equal((await row.locator('td').allTextContents())[4], '0');
    for (const t of tokens) assert.equal(await mcpStatus(server.base, t), 401);
  });

  test('Disable asks, then lee is disabled everywhere; Enable restores sign-in only', async () => {
    const token = await connectLee('Phone');
    const page = await open('/settings/members');
    const row = page.getByRole('row').filter({ hasText: 'lee@example.com' });
    await row.getByRole('button', { name: 'Disable' }).click();
    const dialog = page.getByRole('alertdialog');
    assert.match((await dialog.textContent()) ?? '', /Disable lee@example\.com\? Every MCP connection/);
    await screenshot(page, 'members-disable');
    await dialog.getByRole('button', { name: 'OK' }).click();
    await row.locator('.badge-disabled').waitFor();
    assert.equal(await mcpStatus(server.base, token), 401);
    assert.equal(
      (await listUsers(server.services)).find((u) => u.email === 'lee@example.com')?.status,
      'disabled',
    );
    // The owner's own row offers no Disable: the last owner cannot be disabled anyway.
    const own = page.getByRole('row').filter({ hasText: 'olive@example.com' });
    assert.equal(await own.getByRole('button', { name: 'Disable' }).count(), 0);
    await screenshot(page, 'members-offboarding');

    await row.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await row.locator('.badge-active').waitFor();
    assert.equal(await mcpStatus(server.base, token), 401, 'revoked connections stay revoked');
  });

  test('the detail dialog offers Revoke all of the connection’s user, with the count in the question', async () => {
    await connectLee('Tablet');
    await connectLee('Watch');
    const page = await open('/settings/mcp-connections');
    const row = page.getByRole('row').filter({ hasText: 'Tablet' });
    await row.getByRole('link', { name: 'Tablet' }).click();
    const details = page.getByRole('dialog', { name: 'Connection: Tablet' });
    await details.getByRole('button', { name: 'Revoke all of this user' }).click();
    const confirm = page.getByRole('alertdialog');
    assert.match((await confirm.textContent()) ?? '', /Revoke all 2 MCP connections of lee@example\.com\?/);
    await confirm.getByRole('button', { name: 'OK' }).click();
    await page.getByText('Revoked 2 connections of lee@example.com.').waitFor();
    await page.getByRole('row').filter({ hasText: 'Watch' }).locator('.badge-revoked').waitFor();
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { listUsers } from '../../src/services/users.js';
import { browserSkip, launchChromium, openContext, screenshot, signIn } from '../helpers/browser.js';
import { addUser } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const skip = browserSkip();

describe('Settings › Members in Chromium (owners only)', { skip }, () => {
  let server: TestServer;
  let chromium: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[][] = [];

  async function open(): Promise<Page> {
    const opened = await openContext(chromium, server);
    contexts.push(opened.context);
    problems.push(opened.problems);
    return opened.context.newPage();
  }

  before(async () => {
    chromium = await launchChromium();
    server = await startTestServer('sqlite');
    await addUser(server, 'olive@example.com', 'owner');
    await addUser(server, 'ada@example.com', 'admin');
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await server?.stop();
  });

  test('an owner sees every user and role, and what each role may do in SPEC §5 terms', async () => {
    const page = await open();
    await signIn(
      page,
      { email: 'olive@example.com', password: 'correct horse battery staple' },
      '/settings/members',
    );
    await page.getByRole('heading', { name: 'Members', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'ada@example.com', exact: true }).waitFor();
    assert.equal(
      await page.getByRole('combobox', { name: 'Role for ada@example.com' }).inputValue(),
      'admin',
    );
    const guide = (await page.getByRole('region', { name: 'Roles' }).textContent()) ?? '';
    assert.match(guide, /MCP_CONNECTIONS_READ → api-keys:read: view the connections list and every detail/);
    assert.match(
      guide,
      /MCP_CONNECTIONS_REVOKE → api-keys:revoke: revoke connections and regenerate their keys/,
    );
    assert.match(
      guide,
      /member\s*No access to the connections list; may still connect MCP clients\.\s*No permissions\./,
    );
    assert.equal(await page.getByRole('link', { name: 'Members' }).getAttribute('aria-current'), 'page');
  });

  test('an owner adds a user, who can then sign in with that role', async () => {
    const page = await open();
    await signIn(
      page,
      { email: 'olive@example.com', password: 'correct horse battery staple' },
      '/settings/members',
    );
    const form = page.getByRole('region', { name: 'Add a member' });
    await form.getByLabel('Email').fill('nia@example.com');
    await form.getByLabel('Password').fill('a long enough password');
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('status').filter({ hasText: 'Added nia@example.com as viewer.' }).waitFor();
    await page.getByRole('cell', { name: 'nia@example.com', exact: true }).waitFor();
    assert.equal(await form.getByLabel('Email').inputValue(), '', 'the form is cleared');
    await screenshot(page, 'members');

    // The same email again: a clear message, nothing added.
    await form.getByLabel('Email').fill('nia@example.com');
    await form.getByLabel('Password').fill('a long enough password');
    await form.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('alert').filter({ hasText: 'already exists' }).waitFor();
    assert.equal((await listUsers(server.services)).filter((u) => u.email === 'nia@example.com').length, 1);

    const nia = await open();
    await signIn(nia, { email: 'nia@example.com', password: 'a long enough password' });
    await nia.getByRole('heading', { name: 'MCP Connections' }).waitFor();
    assert.equal(await nia.locator('.role-tag').first().textContent(), 'viewer');
  });

  test('an owner changes a role with the select and Save', async () => {
    const page = await open();
    await signIn(
      page,
      { email: 'olive@example.com', password: 'correct horse battery staple' },
      '/settings/members',
    );
    const select = page.getByRole('combobox', { name: 'Role for ada@example.com' });
    const save = page.getByRole('button', { name: 'Save role for ada@example.com' });
    assert.equal(await save.isDisabled(), true, 'nothing to save yet');
    await select.selectOption('viewer');
    await save.click();
    await page.getByRole('status').filter({ hasText: 'ada@example.com is now viewer.' }).waitFor();
    const ada = (await listUsers(server.services)).find((u) => u.email === 'ada@example.com');
    assert.equal(ada?.role, 'viewer');

    // The last owner cannot be demoted: the message says so and the select shows the role kept.
    const own = page.getByRole('combobox', { name: 'Role for olive@example.com' });
    await own.selectOption('admin');
    await page.getByRole('button', { name: 'Save role for olive@example.com' }).click();
    await page.getByRole('alert').filter({ hasText: 'last owner' }).waitFor();
    assert.equal(await own.inputValue(), 'owner');
  });

  test('anyone but an owner sees Permission Denied', async () => {
    await addUser(server, 'adam@example.com', 'admin');
    const page = await open();
    await signIn(
      page,
      { email: 'adam@example.com', password: 'correct horse battery staple' },
      '/settings/members',
    );
    await page.getByRole('heading', { name: 'Permission Denied' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Members' }).count(), 0);
  });

  test('no page broke its Content-Security-Policy or threw', async () => {
    for (const c of contexts.splice(0)) await c.close();
    assert.deepEqual(problems.flat(), []);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, launchChromium, openContext, screenshot, signIn } from '../helpers/browser.js';
import { addUser } from '../helpers/flow.js';
import { startTestServer, TestClock, type TestServer } from '../helpers/server.js';
import {
  type RecordingUpstream,
  signedInClient,
  startRecordingUpstream,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

type User = { email: string; password: string };

const skip = browserSkip();

describe('SPEC §12 in the detail dialog: last used and the tools of a connection', { skip }, () => {
  let upstream: RecordingUpstream;
  let server: TestServer;
  let chromium: Browser;
  let admin: User;
  let viewer: User;
  let mcp: Client;
  const contexts: BrowserContext[] = [];
  const problems: string[][] = [];

  async function dashboard(user: User): Promise<Page> {
    const opened = await openContext(chromium, server);
    contexts.push(opened.context);
    problems.push(opened.problems);
    const page = await opened.context.newPage();
    await signIn(page, user);
    await page.getByRole('heading', { name: 'MCP Connections' }).waitFor();
    return page;
  }

  async function openDetails(page: Page) {
    const row = page
      .getByRole('row')
      .filter({ has: page.locator('td.cell-client').getByText('Policy Client', { exact: true }) });
    await row.waitFor();
    await row.getByRole('link', { name: 'Policy Client' }).click();
    const dialog = page.getByRole('dialog', { name: 'Connection: Policy Client' });
    await dialog.getByRole('checkbox', { name: 'All tools its role may use' }).waitFor();
    return { row, dialog };
  }

  const listed = async () => (await mcp.listTools()).tools.map((t) => t.name).sort();

  before(async () => {
    upstream = await startRecordingUpstream({ label: 'rec' });
    const file = writeUpstreamsFile({ upstreams: { rec: { url: upstream.url } } });
    chromium = await launchChromium();
    // Waxseal's clock runs three minutes behind the browser's: the last use shows as "3m ago".
    server = await startTestServer('sqlite', {
      env: { WAXSEAL_CONFIG: file },
      clock: new TestClock(Date.now() - 3 * 60_000),
    });
    admin = await addUser(server, 'ada@example.com', 'admin');
    viewer = await addUser(server, 'vic@example.com', 'viewer');
    const member = await addUser(server, 'mel@example.com', 'member');
    ({ client: mcp } = await signedInClient(server, member, 'Policy Client'));
    await mcp.listTools();
    await server.services.lastUsed.flush();
  });
  after(async () => {
    await mcp?.close().catch(() => undefined);
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await server?.stop();
    await upstream?.close();
  });

  test('the table and the dialog show when and from where the connection was last used', async () => {
    const page = await dashboard(admin);
    const { row, dialog } = await openDetails(page);
    assert.equal((await row.locator('td[data-label="Last used"]').textContent())?.trim(), '3m ago');
    const lastUsed = (await dialog.locator('[data-field="last-used"]').textContent())?.trim();
    assert.equal(`Last used ${lastUsed}`, 'Last used 3m ago from 127.0.0.1');
  });

  test('an admin narrows the tools in the dialog and tools/list changes; all tools again restores', async () => {
    const before = await listed();
    assert.ok(before.includes('search') && before.includes('whoami') && before.length > 2);
    const page = await dashboard(admin);
    const { dialog } = await openDetails(page);
    const all = dialog.getByRole('checkbox', { name: 'All tools its role may use' });
    assert.equal(await all.isChecked(), true);
    const boxes = dialog.locator('input[name="tool"]');
    assert.deepEqual(
      (await boxes.evaluateAll((xs) => xs.map((x) => (x as HTMLInputElement).value))).sort(),
      before,
    );
    await all.uncheck();
    for (const name of before) {
      const box = dialog.getByRole('checkbox', { name, exact: true });
      if (name !== 'search' && name !== 'whoami') await box.uncheck();
    }
    await screenshot(page, 'connection-tools-editing');
    await dialog.getByRole('button', { name: 'Save tools' }).click();
    await dialog
      .getByRole('status')
      .getByText(/Saved\./)
      .waitFor();
    assert.deepEqual(await listed(), ['search', 'whoami']);
    await dialog.locator('tr[data-action="connection.tools_changed"]').waitFor();
    await screenshot(page, 'connection-tools-saved');

    await all.check();
    await dialog.getByRole('button', { name: 'Save tools' }).click();
    await dialog
      .getByRole('status')
      .getByText(/Saved\./)
      .waitFor();
    assert.deepEqual(await listed(), before);
  });

  test('a viewer sees the tools read-only', async () => {
    const page = await dashboard(viewer);
    const { dialog } = await openDetails(page);
    assert.equal(await dialog.getByRole('button', { name: 'Save tools' }).count(), 0);
    assert.equal(
      await dialog.getByRole('checkbox', { name: 'All tools its role may use' }).isDisabled(),
      true,
    );
    await dialog.getByText('Only users who may revoke connections can change its tools.').waitFor();
    await screenshot(page, 'connection-tools-read-only');
  });

  test('no CSP violations or page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});

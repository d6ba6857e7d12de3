import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, launchChromium, openContext, screenshot, signIn } from '../helpers/browser.js';
import { addUser, Browser as SessionClient } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  type RecordingUpstream,
  signedInClient,
  startRecordingUpstream,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

type User = { email: string; password: string };

const skip = browserSkip();

async function session(server: TestServer, user: User): Promise<SessionClient> {
  const client = new SessionClient(server.base);
  assert.equal((await client.signIn(user.email, user.password)).status, 303);
  return client;
}

describe('connection details and upstream state in the dashboard', { skip }, () => {
  let upstream: RecordingUpstream;
  let server: TestServer;
  let chromium: Browser;
  let admin: User;
  let viewer: User;
  let member: User;
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

  const rowOf = (page: Page, clientName: string) =>
    page
      .getByRole('row')
      .filter({ has: page.locator('td.cell-client').getByText(clientName, { exact: true }) });

  before(async () => {
    upstream = await startRecordingUpstream({ label: 'rec' });
    const file = writeUpstreamsFile({ upstreams: { rec: { url: upstream.url, timeoutMs: 1000 } } });
    chromium = await launchChromium();
    server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file } });
    admin = await addUser(server, 'ada@example.com', 'admin');
    viewer = await addUser(server, 'vic@example.com', 'viewer');
    member = await addUser(server, 'mel@example.com', 'member');
    ({ client: mcp } = await signedInClient(server, member, 'Detail Client'));
  });
  after(async () => {
    await mcp?.close().catch(() => undefined);
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await server?.stop();
    await upstream?.close();
  });

  test('GET /api/upstreams: viewer 200 with each upstream, member 403, signed out 401', async () => {
    const asViewer = await (await session(server, viewer)).fetch('/api/upstreams');
    assert.equal(asViewer.status, 200);
    const body = (await asViewer.json()) as { items: { name: string; transport: string; status: string }[] };
    assert.deepEqual(
      body.items.map((u) => [u.name, u.transport, u.status]),
      [['rec', 'http', 'up']],
    );
    const asMember = await (await session(server, member)).fetch('/api/upstreams');
    assert.equal(asMember.status, 403);
    await asMember.arrayBuffer();
    const signedOut = await fetch(`${server.base}/api/upstreams`);
    assert.equal(signedOut.status, 401);
    await signedOut.arrayBuffer();
  });

  test('the detail dialog lists the audit events of a regenerate and a revoke, with the admin as actor', async () => {
    const page = await dashboard(admin);
    const row = rowOf(page, 'Detail Client');
    await row.waitFor();

    await row.getByRole('button', { name: 'Regenerate API key' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await page.getByText(/API key regenerated\./).waitFor();
    await row.getByRole('button', { name: 'Revoke connection' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await row.locator('.badge-revoked').waitFor();

    // The client name is a link reachable by keyboard: focus it, Enter opens the dialog.
    const link = row.getByRole('link', { name: 'Detail Client' });
    await link.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Connection: Detail Client' });
    await dialog.waitFor();
    await dialog.locator('tr[data-action="connection.revoked"]').waitFor();
    const rows = dialog.locator('tbody tr');
    const events = await rows.evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
    );
    const seen = events.map(([, actor, action]) => [action, actor]);
    // Newest first.
    assert.deepEqual(seen.slice(0, 2), [
      ['connection.revoked', 'ada@example.com'],
      ['connection.key_regenerated', 'ada@example.com'],
    ]);
    assert.deepEqual(seen[seen.length - 1], ['connection.created', 'mel@example.com']);
    for (const [time] of events) assert.match(time ?? '', /\d{4}, \d{1,2}:\d{2}/);
    assert.match((await dialog.textContent()) ?? '', /mel@example\.com/);
    assert.match((await dialog.textContent()) ?? '', /Revoked[\s\S]*by ada@example\.com/);
    await screenshot(page, 'connection-details');

    // Focus is trapped: Tab stays inside; Escape closes and gives the focus back to the link.
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      assert.equal(await dialog.evaluate((d) => d.contains(document.activeElement)), true);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await link.evaluate((a) => a === document.activeElement), true);
  });

  test('the Upstreams section shows the upstream up, then down once it stops', async () => {
    const page = await dashboard(viewer);
    const section = page.getByRole('region', { name: 'Upstreams' });
    const rec = section.locator('li[data-upstream="rec"]');
    await rec.waitFor();
    assert.equal(((await rec.textContent()) ?? '').replace(/\s+/g, ' ').trim(), 'rec up');
    await upstream.close();
    await page.reload();
    await section.locator('li[data-upstream="rec"][data-status="down"]').waitFor();
    assert.equal(((await rec.textContent()) ?? '').replace(/\s+/g, ' ').trim(), 'rec down');
  });

  test('no CSP violations or page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});

describe('without upstreams', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(async () => {
    await server?.stop();
  });

  test('GET /api/upstreams is an empty list', async () => {
    const viewer = await addUser(server, 'vic@example.com', 'viewer');
    const res = await (await session(server, viewer)).fetch('/api/upstreams');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { items: [] });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { seedConnections } from '../../bench/seed.js';
import { DAY, HOUR, MINUTE } from '../../src/domain/clock.js';
import { apiKeyFor } from '../../src/services/api-keys.js';
import { listConnections, revokeConnection } from '../../src/services/connections.js';
import { setRole } from '../../src/services/users.js';
import {
  browserSkip,
  launchChromium,
  openContext,
  screenshot,
  shownDate,
  signIn,
} from '../helpers/browser.js';
import { BrowserOAuthProvider } from '../helpers/browser-oauth.js';
import {
  addUser,
  connectSdkClient,
  introspectsActive,
  mcpStatus,
  refreshGrant,
  TEST_INTROSPECTION_SECRET,
  whoami,
} from '../helpers/flow.js';
import { startTestServer, TestClock, type TestServer } from '../helpers/server.js';

const REVOKE_TEXT =
  'Revoke this MCP connection? The associated API key will be deactivated and the client will need to re-authorize.';
const REGENERATE_TEXT =
  'Regenerate the API key for this connection? The old key will be deactivated immediately.';

type User = { email: string; password: string };

const skip = browserSkip();

const tokensOf = (p: BrowserOAuthProvider) => ({
  clientId: p.info?.client_id ?? '',
  access: p.saved?.access_token ?? '',
  refresh: p.saved?.refresh_token ?? '',
});

async function currentKey(server: TestServer, connectionId: string): Promise<string> {
  const row = await server.services.store.db
    .selectFrom('connections as c')
    .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
    .select(['k.key_ref'])
    .where('c.id', '=', connectionId)
    .executeTakeFirstOrThrow();
  return apiKeyFor(server.services, row.key_ref);
}

/** A row's cell texts, once the row is there (the heading shows before the list has loaded). */
const cells = async (row: Locator) => {
  await row.waitFor();
  return row.getByRole('cell').allInnerTexts();
};

describe('SPEC §6 Settings › MCP in Chromium', { skip }, () => {
  // The server's clock starts three days back, so that dates and "3h ago" are known.
  const clock = new TestClock(Date.now() - 3 * DAY);
  const startedAt = clock.now();
  let server: TestServer;
  let chromium: Browser;
  let admin: User;
  let viewer: User;
  let member: User;
  const contexts: BrowserContext[] = [];
  const problems: string[][] = [];

  async function open(viewport?: { width: number; height: number }): Promise<Page> {
    const opened = await openContext(chromium, server, viewport);
    contexts.push(opened.context);
    problems.push(opened.problems);
    return opened.context.newPage();
  }

  /** A client connected through the whole flow in the browser; it no longer authorizes by itself afterwards. */
  async function connect(
    user: User,
    clientName: string,
  ): Promise<{ client: Client; provider: BrowserOAuthProvider; me: Record<string, string> }> {
    const provider = new BrowserOAuthProvider(server, user, chromium, clientName);
    const client = await connectSdkClient(server, provider);
    provider.interactive = false;
    return { client, provider, me: await whoami(client) };
  }

  async function dashboard(user: User, viewport?: { width: number; height: number }): Promise<Page> {
    const page = await open(viewport);
    await signIn(page, user);
    await page.getByRole('heading', { name: 'MCP Connections' }).waitFor();
    return page;
  }

  // By the client-name cell's text: at narrow widths each cell's name also carries its column label.
  const rowOf = (page: Page, clientName: string) =>
    page
      .getByRole('row')
      .filter({ has: page.locator('td.cell-client').getByText(clientName, { exact: true }) });

  before(async () => {
    chromium = await launchChromium();
    server = await startTestServer('sqlite', {
      clock,
      env: { INTROSPECTION_SECRET: TEST_INTROSPECTION_SECRET },
    });
    admin = await addUser(server, 'ada@example.com', 'admin');
    viewer = await addUser(server, 'vic@example.com', 'viewer');
    member = await addUser(server, 'mel@example.com', 'member');
    await addUser(server, 'olive@example.com', 'owner');
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await server?.stop();
  });

  test('the list shows every column as SPEC §6 formats it', async () => {
    // Three days ago: Claude Desktop connects; three hours ago it refreshes.
    const desktop = await connect(admin, 'Claude Desktop');
    await desktop.client.close();
    clock.advance(3 * DAY - 3 * HOUR);
    const desktopTokens = tokensOf(desktop.provider);
    assert.equal(
      (await refreshGrant(server.base, desktopTokens.clientId, desktopTokens.refresh)).status,
      200,
    );
    // Now: Cursor connects (never refreshed), and a third client is revoked.
    clock.advance(3 * HOUR);
    const cursor = await connect(viewer, 'Cursor');
    await cursor.client.close();
    clock.advance(MINUTE);
    const gone = await connect(member, 'Zed');
    await gone.client.close();
    await revokeConnection(server.services, gone.me.connectionId as string, { label: 'olive@example.com' });
    // SPEC §12 last used is written behind the request, by a timer that runs
    // once a second; written now, so the page below cannot race that timer.
    await server.services.lastUsed.flush();

    const page = await dashboard(admin);
    const crumbs = await page.getByRole('navigation', { name: 'Breadcrumb' }).textContent();
    assert.equal(crumbs?.replace(/\s+/g, ''), 'Settings›MCP');
    assert.equal(await page.locator('.count-pill').textContent(), '3 connections');
    assert.equal(await page.locator('table').count(), 1, 'a real <table>');
    assert.deepEqual(await page.getByRole('columnheader').allTextContents(), [
      'Client',
      'Status',
      'User',
      'API key',
      'Connected',
      'Last token',
      'Last used',
      'Actions',
    ]);

    const desktopRow = rowOf(page, 'Claude Desktop');
    assert.deepEqual((await cells(desktopRow)).slice(0, 6), [
      'Claude Desktop',
      'active',
      'ada@example.com',
      `${desktop.me.apiKeyPrefix}…`,
      shownDate(startedAt),
      '3h ago',
    ]);
    assert.match(shownDate(startedAt), /^[A-Z][a-z]{2} \d{1,2}, \d{4}$/);
    await desktopRow.getByRole('button', { name: 'Revoke connection' }).waitFor();
    await desktopRow.getByRole('button', { name: 'Regenerate API key' }).waitFor();

    const cursorRow = rowOf(page, 'Cursor');
    assert.deepEqual((await cells(cursorRow)).slice(0, 6), [
      'Cursor',
      'active',
      'vic@example.com',
      `${cursor.me.apiKeyPrefix}…`,
      shownDate(clock.now()),
      'Never',
    ]);

    const zedRow = rowOf(page, 'Zed');
    const zed = await cells(zedRow);
    assert.deepEqual(zed, [
      'Zed',
      'revoked',
      'mel@example.com',
      `${gone.me.apiKeyPrefix}…`,
      shownDate(clock.now()),
      'Never',
      // SPEC §12 Last used: its whoami a moment ago.
      'just now',
      `Revoked ${shownDate(clock.now())}`,
    ]);
    assert.equal(await zedRow.getByRole('button').count(), 0, 'a revoked row has no buttons');

    // Green and red badges.
    const colour = (row: Locator) =>
      row.locator('.badge').evaluate((el) => getComputedStyle(el).color.match(/\d+/g)?.map(Number) ?? []);
    const [gr, gg, gb] = await colour(desktopRow);
    assert.ok((gg ?? 0) > (gr ?? 0) && (gg ?? 0) > (gb ?? 0), 'active is green');
    const [rr, rg, rb] = await colour(zedRow);
    assert.ok((rr ?? 0) > (rg ?? 0) && (rr ?? 0) > (rb ?? 0), 'revoked is red');

    // Newest first.
    assert.deepEqual((await page.locator('tbody tr td:first-child').allInnerTexts()).slice(0, 3), [
      'Zed',
      'Cursor',
      'Claude Desktop',
    ]);
    await screenshot(page, 'connections-admin');
  });

  test('revoke: Cancel changes nothing; OK revokes in place and the client is cut off (SPEC §4)', async () => {
    const { client, provider, me } = await connect(admin, 'Claude Code');
    const tokens = tokensOf(provider);
    const page = await dashboard(admin);
    await page.evaluate(() => {
      (window as unknown as { untouched: boolean }).untouched = true;
    });
    const row = rowOf(page, 'Claude Code');

    await row.getByRole('button', { name: 'Revoke connection' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    assert.equal(await dialog.locator('.dialog-description').textContent(), REVOKE_TEXT);
    assert.deepEqual(await dialog.getByRole('button').allInnerTexts(), ['Cancel', 'OK']);
    await screenshot(page, 'revoke-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await cells(row))[1], 'active');
    assert.equal((await whoami(client)).connectionId, me.connectionId, 'Cancel changed nothing');

    await row.getByRole('button', { name: 'Revoke connection' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await page.getByRole('status').filter({ hasText: 'Connection revoked' }).waitFor();
    await row.locator('.badge-revoked').waitFor();
    const after = await cells(row);
    assert.equal(after[1], 'revoked');
    assert.equal(after[7], `Revoked ${shownDate(clock.now())}`);
    assert.equal(await row.getByRole('button').count(), 0);
    assert.equal(
      await page.evaluate(() => (window as unknown as { untouched?: boolean }).untouched),
      true,
      'the row updated without a reload',
    );

    // SPEC §4: the next MCP request gets 401, the refresh fails, the client must authorize again.
    assert.equal(await mcpStatus(server.base, tokens.access, 'initialize'), 401);
    await assert.rejects(whoami(client));
    assert.equal(provider.authorizationRequests, 2, 'the SDK client was sent back to authorize');
    const refresh = await refreshGrant(server.base, tokens.clientId, tokens.refresh);
    assert.equal(refresh.status, 400);
    assert.equal(refresh.body.error, 'invalid_grant');
  });

  test('regenerate: Cancel changes nothing; OK shows the new prefix, which the client carries from its next call', async () => {
    const { client, me } = await connect(admin, 'Claude Desktop (work)');
    const oldKey = await currentKey(server, me.connectionId as string);
    const page = await dashboard(admin);
    const row = rowOf(page, 'Claude Desktop (work)');
    assert.equal((await cells(row))[3], `${me.apiKeyPrefix}…`);

    await row.getByRole('button', { name: 'Regenerate API key' }).click();
    const dialog = page.getByRole('alertdialog');
    assert.equal(await dialog.locator('.dialog-description').textContent(), REGENERATE_TEXT);
    await screenshot(page, 'regenerate-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await whoami(client)).apiKeyPrefix, me.apiKeyPrefix, 'Cancel changed nothing');
    assert.equal(await introspectsActive(server.base, oldKey), true);
    // SPEC §9: an API key is never a bearer at /mcp.
    assert.equal(await mcpStatus(server.base, oldKey, 'initialize'), 401);

    await row.getByRole('button', { name: 'Regenerate API key' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await page.getByRole('status').filter({ hasText: 'API key regenerated' }).waitFor();
    await page.waitForFunction(
      ([name, old]) =>
        [...document.querySelectorAll('tbody tr')].some(
          (tr) => tr.querySelector('td')?.textContent === name && !tr.textContent?.includes(old as string),
        ),
      ['Claude Desktop (work)', `${me.apiKeyPrefix}…`],
    );
    const shown = (await cells(row))[3] ?? '';
    const now = await whoami(client);
    assert.notEqual(now.apiKeyPrefix, me.apiKeyPrefix);
    assert.equal(shown, `${now.apiKeyPrefix}…`, 'the row shows the key the client now carries');
    assert.equal((await cells(row))[1], 'active');
    assert.equal(await row.getByRole('button').count(), 2, 'still active, still actionable');
    assert.equal(await introspectsActive(server.base, oldKey), false, 'the old key is inactive at once');
  });

  test('a failed action (409, network, 403) says why and changes nothing', async () => {
    const target = await connect(admin, 'Windsurf');
    await target.client.close();
    const page = await dashboard(admin);
    const row = rowOf(page, 'Windsurf');
    // The page has shown the connection as active before it is revoked behind its back.
    await row.getByRole('button', { name: 'Revoke connection' }).waitFor();

    // 409: revoked meanwhile by someone else (the CLI); the page still shows it active.
    await revokeConnection(server.services, target.me.connectionId as string, { label: 'cli' });
    await row.getByRole('button', { name: 'Revoke connection' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'already revoked' });
    await alert.waitFor();
    assert.match(
      (await alert.textContent()) ?? '',
      /Could not revoke the connection: This connection is already revoked\. Nothing was changed\./,
    );
    assert.equal((await cells(row))[1], 'active', 'the row is left as it was');

    // Network failure.
    const other = await connect(admin, 'VS Code');
    await other.client.close();
    await page.reload();
    const vs = rowOf(page, 'VS Code');
    await vs.waitFor();
    await page.route('**/api/mcp-connections/*/regenerate-key', (route) =>
      route.abort('internetdisconnected'),
    );
    await vs.getByRole('button', { name: 'Regenerate API key' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not reach Waxseal' }).waitFor();
    assert.equal((await cells(vs))[3], `${other.me.apiKeyPrefix}…`);
    await page.unroute('**/api/mcp-connections/*/regenerate-key');

    // 403: the admin lost the permission while the page was open.
    const demoted = await addUser(server, 'dee@example.com', 'admin');
    const stale = await dashboard(demoted);
    await setRole(server.services, 'dee@example.com', 'viewer', 'olive@example.com');
    await rowOf(stale, 'VS Code').getByRole('button', { name: 'Revoke connection' }).click();
    await stale.getByRole('alertdialog').getByRole('button', { name: 'OK' }).click();
    await stale.getByRole('alert').filter({ hasText: 'permission' }).waitFor();
    assert.equal((await cells(rowOf(stale, 'VS Code')))[1], 'active');
    const listed = await listConnections(server.services, { limit: 100, q: 'VS Code' });
    assert.equal(listed.items[0]?.status, 'active', 'nothing changed on the server');
  });

  test('a viewer sees the list without any action button', async () => {
    const page = await dashboard(viewer);
    await rowOf(page, 'Claude Desktop').waitFor();
    assert.ok((await page.locator('tbody tr').count()) >= 3);
    assert.equal(await page.getByRole('button', { name: 'Revoke connection' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Regenerate API key' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Members' }).count(), 0);
    await screenshot(page, 'connections-viewer');
  });

  test('a member sees Permission Denied', async () => {
    const page = await open();
    await signIn(page, member);
    await page.getByRole('heading', { name: 'Permission Denied' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'MCP Connections' }).count(), 0);
    assert.equal(await page.locator('table').count(), 0);
    assert.match((await page.locator('main').textContent()) ?? '', /MCP_CONNECTIONS_READ/);
  });

  test('signed out, a dashboard URL shows the sign-in page and returns to it', async () => {
    const page = await open();
    await page.goto('/settings');
    assert.equal(new URL(page.url()).pathname, '/signin');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/settings/mcp-connections');
    await page.goto('/settings/mcp-connections?from=bookmark');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/settings/mcp-connections?from=bookmark');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'MCP Connections' }).waitFor();
    assert.equal(
      new URL(page.url()).pathname + new URL(page.url()).search,
      '/settings/mcp-connections?from=bookmark',
    );
  });

  test('How to Connect: three steps, this server’s URL in the config snippet, a working copy button, the Claude Code command', async () => {
    const page = await dashboard(admin);
    const opener = page.getByRole('button', { name: 'How to Connect' });
    await opener.click();
    const dialog = page.getByRole('dialog', { name: 'How to Connect' });
    await dialog.waitFor();
    const steps = await dialog.locator('ol.steps > li').allInnerTexts();
    assert.equal(steps.length, 3);
    assert.match(steps[0] ?? '', /Claude Desktop Settings › Developer › Edit Config/);
    assert.match(steps[1] ?? '', /MCP server URL as a remote server entry/);
    assert.match(steps[2] ?? '', /Authorize in the browser when prompted/);
    const mcpUrl = `${server.base}/mcp`;
    const snippet = (await dialog.locator('pre').first().textContent()) ?? '';
    assert.deepEqual(JSON.parse(snippet), {
      mcpServers: { waxseal: { command: 'npx', args: ['-y', 'mcp-remote', mcpUrl] } },
    });
    assert.equal(
      await dialog.locator('pre').nth(1).textContent(),
      `claude mcp add --transport http waxseal ${mcpUrl}`,
    );
    await screenshot(page, 'help-dialog');
    await dialog.getByRole('button', { name: 'Copy config snippet' }).click();
    await dialog.getByRole('button', { name: 'Copy config snippet' }).filter({ hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippet);

    // Focus stays inside; Escape closes and focus goes back to the button.
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      assert.ok(
        await dialog.evaluate((d) => d.contains(document.activeElement)),
        'focus stays in the dialog',
      );
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await opener.evaluate((b) => b === document.activeElement), true);
  });

  test('keyboard only: Tab to the trash icon, Enter, Tab to OK, Enter revokes', async () => {
    const { client, provider } = await connect(admin, 'Keyboard Client');
    const tokens = tokensOf(provider);
    const page = await dashboard(admin);
    const row = rowOf(page, 'Keyboard Client');
    await row.waitFor();
    const trash = row.getByRole('button', { name: 'Revoke connection' });
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await trash.evaluate((b) => b === document.activeElement);
    }
    assert.ok(reached, 'the trash icon is reachable with Tab');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    assert.equal(
      await dialog.evaluate((_d) => document.activeElement?.textContent),
      'Cancel',
      'Cancel has focus first',
    );
    // The focus is trapped: Tab and Shift+Tab cycle between Cancel and OK.
    await page.keyboard.press('Tab');
    assert.equal(await dialog.evaluate(() => document.activeElement?.textContent), 'OK');
    await page.keyboard.press('Tab');
    assert.equal(await dialog.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await dialog.evaluate(() => document.activeElement?.textContent), 'OK');
    // Escape closes without revoking and gives the focus back.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await trash.evaluate((b) => b === document.activeElement), true);
    assert.equal((await cells(row))[1], 'active');

    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await row.locator('.badge-revoked').waitFor();
    assert.equal(
      await row.evaluate((tr) => tr === document.activeElement),
      true,
      'focus lands on the revoked row',
    );
    assert.equal(await mcpStatus(server.base, tokens.access, 'initialize'), 401);
    await assert.rejects(whoami(client));
  });

  test('at 390 px wide the page fits the screen and still works', async () => {
    const page = await dashboard(admin, { width: 390, height: 844 });
    await rowOf(page, 'Claude Desktop').waitFor();
    assert.ok(
      await page.evaluate(() => document.documentElement.scrollWidth <= 390),
      'no sideways scrolling',
    );
    await page.getByRole('button', { name: 'How to Connect' }).click();
    const dialog = page.getByRole('dialog', { name: 'How to Connect' });
    await dialog.waitFor();
    assert.ok(await dialog.evaluate((d) => d.getBoundingClientRect().width <= 390));
    await page.keyboard.press('Escape');
    await screenshot(page, 'connections-390');
    await rowOf(page, 'Claude Desktop').getByRole('button', { name: 'Regenerate API key' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  });

  test('filters by status, search on client name and email, and Next / Previous over the cursor', async () => {
    await seedConnections(server.services.store, {
      connections: 60,
      users: 3,
      now: clock.now() - DAY,
      emailPrefix: 'bulk',
      revokedEvery: 4,
      clientNames: ['Bulk Client'],
    });
    const page = await dashboard(admin);
    const search = page.getByRole('searchbox', { name: 'Search connections' });
    const rows = page.locator('tbody tr');
    const pill = page.locator('.count-pill');

    await search.fill('bulk0002');
    await page.waitForFunction(() => document.querySelector('.count-pill')?.textContent === '20 connections');
    assert.deepEqual(
      [...new Set(await page.locator('td.cell-email').allInnerTexts())],
      ['bulk0002@example.com'],
    );

    await search.fill('bulk client');
    await page.waitForFunction(() => document.querySelector('.count-pill')?.textContent === '60 connections');
    assert.equal(await rows.count(), 25);
    const first = await page.locator('tbody tr td:first-child').allInnerTexts();
    assert.ok(first.every((t) => t === 'Bulk Client'));
    assert.equal(await page.getByRole('button', { name: 'Previous' }).isDisabled(), true);
    const pageOne = await page.locator('td.cell-email').allInnerTexts();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('26–50 of 60').waitFor();
    assert.equal(await rows.count(), 25);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('51–60 of 60').waitFor();
    assert.equal(await rows.count(), 10);
    assert.equal(await page.getByRole('button', { name: 'Next' }).isDisabled(), true);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByText('1–25 of 60').waitFor();
    assert.deepEqual(await page.locator('td.cell-email').allInnerTexts(), pageOne);

    await page.getByRole('button', { name: 'Revoked', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('.count-pill')?.textContent === '15 connections');
    assert.deepEqual([...new Set(await page.locator('.badge').allInnerTexts())], ['revoked']);
    await page.getByRole('button', { name: 'Active', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('.count-pill')?.textContent === '45 connections');
    assert.deepEqual([...new Set(await page.locator('.badge').allInnerTexts())], ['active']);

    await search.fill('nobody-matches-this');
    await page.getByText('No connections match this filter.').waitFor();
    assert.equal(await pill.textContent(), '0 connections');
  });

  test('no page broke its Content-Security-Policy or threw', async () => {
    for (const c of contexts.splice(0)) await c.close();
    assert.deepEqual(problems.flat(), []);
  });
});

/**
 * Browser tests drive Debian's Chromium with playwright-core. Without
 * /usr/bin/chromium they skip with a message, unless REQUIRE_BROWSER=1 (CI),
 * where they fail. They need the built dashboard (npm run build).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { WEB_DIST } from '../../src/http/web.js';
import type { TestServer } from './server.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

/** false when the browser tests can run; a reason to skip otherwise. */
export function browserSkip(): string | false {
  if (!existsSync(`${WEB_DIST}index.html`)) {
    throw new Error(`The dashboard is not built (${WEB_DIST}index.html is missing): run npm run build first`);
  }
  if (existsSync(CHROMIUM)) return false;
  if (process.env.REQUIRE_BROWSER === '1') {
    throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: apt-get install -y chromium`);
  }
  return `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium); set REQUIRE_BROWSER=1 to fail instead`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh browser profile on the test server: 1280 px wide, en-US, UTC (so
 * dates can be compared with Intl in the test), clipboard allowed. Every
 * Content-Security-Policy violation and uncaught page error is collected.
 */
export async function openContext(
  browser: Browser,
  server: TestServer,
  viewport = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; problems: string[] }> {
  const context = await browser.newContext({
    baseURL: server.base,
    viewport,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
  const problems: string[] = [];
  context.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
  return { context, problems };
}

/** Signs in through the real sign-in page, arriving at `path` (SPEC §6: back to the URL asked for). */
export async function signIn(
  page: Page,
  user: { email: string; password: string },
  path = '/settings/mcp-connections',
) {
  await page.goto(path);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname === path);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
}

const DATE = new Intl.DateTimeFormat('en-US', {
  month: 'short',
  day: 'numeric',
  year: 'numeric',
  timeZone: 'UTC',
});

/** `Jan 15, 2026`, as the dashboard shows a date in the UTC browser. */
export function shownDate(iso: string | number): string {
  return DATE.format(new Date(iso));
}

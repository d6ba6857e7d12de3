import type { Browser, BrowserContext, Page } from 'playwright-core';
import { TestOAuthProvider } from './flow.js';
import type { TestServer } from './server.js';

/**
 * The SDK client's OAuthClientProvider whose "open the browser" step really
 * opens Chromium: it fills Email and Password (or plays `signInWith`), clicks Sign in, then Allow, and
 * takes the code from the redirect to the client's loopback URI (RFC 8252),
 * which Playwright intercepts in place of a local listener.
 */
export class BrowserOAuthProvider extends TestOAuthProvider {
  /** Once false, a request to authorize is only counted: the user is not at the keyboard. */
  interactive = true;
  authorizationRequests = 0;
  sawSignIn = false;
  /** Called on the consent page, before Allow is clicked. */
  onConsent?: (page: Page) => Promise<void>;
  /** Plays the sign-in page in place of Email and Password (e.g. Sign in with the IdP, SPEC §10). */
  signInWith?: (page: Page) => Promise<void>;
  /** The alert the person saw when their sign-in was refused (then no code goes back to the client). */
  refusal?: string;

  constructor(
    server: TestServer,
    user: { email: string; password: string },
    readonly chromium: Browser,
    clientName?: string,
    /** A browser profile to authorize in (kept open, cookies and all); a fresh one each time otherwise. */
    readonly profile?: BrowserContext,
  ) {
    super(server, user, clientName);
  }

  override async redirectToAuthorization(url: URL): Promise<void> {
    this.authorizationRequests++;
    if (!this.interactive) return;
    const context = this.profile ?? (await this.chromium.newContext({ locale: 'en-US', timezoneId: 'UTC' }));
    const page = await context.newPage();
    try {
      let back: URL | undefined;
      await page.route(`${new URL(this.redirect).origin}/**`, async (route) => {
        back = new URL(route.request().url());
        await route.fulfill({
          status: 200,
          contentType: 'text/html',
          body: '<p>You can close this window.</p>',
        });
      });
      await page.goto(url.href);
      if (new URL(page.url()).pathname === '/signin') {
        this.sawSignIn = true;
        if (this.signInWith) await this.signInWith(page);
        else {
          await page.getByLabel('Email').fill(this.user.email);
          await page.getByLabel('Password').fill(this.user.password);
          await page.getByRole('button', { name: 'Sign in', exact: true }).click();
        }
      }
      const allow = page.getByRole('button', { name: 'Allow' });
      const refused = page.getByRole('alert');
      await allow.or(refused).first().waitFor();
      if (await refused.count()) {
        this.refusal = (await refused.first().textContent()) ?? '';
        throw new Error(`the sign-in was refused: ${this.refusal}`);
      }
      await this.onConsent?.(page);
      await allow.click();
      await page.waitForURL((u) => u.href.startsWith(this.redirect));
      if (!back) throw new Error('the authorization server did not redirect to the client');
      this.lastCode = back.searchParams.get('code') ?? undefined;
    } finally {
      await (this.profile ? page.close() : context.close());
    }
  }
}

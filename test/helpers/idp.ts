/**
 * A real OpenID provider for tests: panva's oidc-provider (v9) on a loopback
 * port, with accounts that tests change at run time (email, groups, disabled),
 * one confidential client (client_secret_basic) and refresh tokens for
 * offline_access. Reused by the sign-in, re-check and back-channel logout tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import type { Page } from 'playwright-core';
import type { Browser } from './flow.js';
import { freePort } from './server.js';

interface KoaContext {
  path: string;
  body: unknown;
  get(name: string): string;
  oidc?: { body?: Record<string, unknown> };
}
interface OidcProvider {
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  callback(): Parameters<typeof createServer>[1];
}
const ProviderClass = Provider as unknown as new (issuer: string, config: object) => OidcProvider;

export interface IdpAccount {
  email?: string;
  /** Sent as email_verified; true unless set. */
  emailVerified?: boolean;
  groups?: string[];
  name?: string;
  /** A disabled account can't sign in and its refresh tokens stop working. */
  disabled?: boolean;
}

export interface TestIdpOptions {
  /** Waxseal's PUBLIC_URL/signin/oidc/callback, one per Waxseal under test. */
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
  port?: number;
  /** What the discovery document lists for the token endpoint; default both basic and post. */
  tokenAuthMethods?: Array<'client_secret_basic' | 'client_secret_post'>;
  /** Turns on oidc-provider's back-channel logout, posting logout tokens here at end_session. */
  backchannelLogoutUri?: string;
}

/** The kid of the harness's own signing key, the one its JWKS publishes. */
const SIGNING_KID = 'test-idp-rs256';

export class TestIdp {
  readonly accounts = new Map<string, IdpAccount>();
  /** Rewrites the ID token of the next token responses (forged or replayed tokens). */
  tamperIdToken?: (idToken: string) => string | Promise<string>;
  /** Every ID token the token endpoint issued, oldest first. */
  readonly idTokens: string[] = [];
  /** How each token request authenticated the client: `basic`, `post` or `none`. */
  readonly tokenAuth: string[] = [];
  /** The account each token request was for (the same order as tokenAuth). */
  readonly tokenSubjects: string[] = [];
  /** Logout tokens oidc-provider posted (back-channel logout), with the status the RP answered. */
  readonly backchannel: Array<{ ok: boolean; error?: string }> = [];
  private server: Server | null = null;
  /** The provider's private signing key, so tests can sign tokens exactly as the IdP would. */
  private signingKey!: CryptoKey;

  private constructor(
    /** oidc-provider ships no types; tests reach into it only through this harness. */
    readonly provider: OidcProvider,
    readonly issuer: string,
    readonly port: number,
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  static async start(options: TestIdpOptions): Promise<TestIdp> {
    const port = options.port ?? (await freePort());
    const issuer = `http://127.0.0.1:${port}`;
    const clientId = options.clientId ?? 'waxseal-test';
    const clientSecret = options.clientSecret ?? 'idp-client-secret-0123456789abcdef';
    let idp: TestIdp | undefined;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const config = {
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: SIGNING_KID, alg: 'RS256', use: 'sig' }] },
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: options.redirectUris,
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method:
            options.tokenAuthMethods?.length === 1 ? options.tokenAuthMethods[0] : 'client_secret_basic',
          ...(options.backchannelLogoutUri ? { backchannel_logout_uri: options.backchannelLogoutUri } : {}),
        },
      ],
      clientAuthMethods: options.tokenAuthMethods ?? ['client_secret_basic', 'client_secret_post'],
      scopes: ['openid', 'offline_access', 'email', 'profile'],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
      findAccount: async (_ctx: unknown, sub: string) => {
        const account = idp?.accounts.get(sub);
        if (!account || account.disabled) return undefined;
        return {
          accountId: sub,
          claims: async () => ({
            sub,
            email: account.email,
            email_verified: account.emailVerified ?? true,
            name: account.name ?? sub,
            groups: account.groups ?? [],
          }),
        };
      },
      // oidc-provider refuses to post to loopback addresses (its SSRF guard, a dispatcher
      // it adds to each request); Waxseal under test lives on 127.0.0.1, so this IdP drops it.
      fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
        const { dispatcher: _guard, ...rest } = init;
        return globalThis.fetch(url, rest);
      },
      pkce: { required: () => true },
      cookies: { keys: ['test-idp-cookie-key-0123456789'] },
      features: {
        devInteractions: { enabled: true },
        ...(options.backchannelLogoutUri ? { backchannelLogout: { enabled: true } } : {}),
      },
      ttl: { AccessToken: 3600, IdToken: 3600, RefreshToken: 86_400, Grant: 86_400 },
    };
    const provider = new ProviderClass(issuer, config);
    idp = new TestIdp(provider, issuer, port, clientId, clientSecret);
    idp.signingKey = privateKey;
    const self = idp;
    const events = provider as unknown as { on(event: string, fn: (...args: unknown[]) => void): void };
    events.on('backchannel.success', () => self.backchannel.push({ ok: true }));
    events.on('backchannel.error', (_ctx, err) =>
      self.backchannel.push({ ok: false, error: (err as Error).message }),
    );
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/token') {
        const body = ctx.body as { id_token?: string } | undefined;
        const basic = ctx.get('authorization').toLowerCase().startsWith('basic ');
        self.tokenAuth.push(basic ? 'basic' : ctx.oidc?.body?.client_secret ? 'post' : 'none');
        const entities = (ctx.oidc as { entities?: { Account?: { accountId?: string } } } | undefined)
          ?.entities;
        self.tokenSubjects.push(entities?.Account?.accountId ?? '');
        if (body?.id_token) {
          self.idTokens.push(body.id_token);
          if (self.tamperIdToken) ctx.body = { ...body, id_token: await self.tamperIdToken(body.id_token) };
        }
      }
    });
    await idp.resume();
    return idp;
  }

  /**
   * Signs a logout token with the provider's own key (Back-Channel Logout 1.0 §2.4),
   * valid unless `claims` override or remove (undefined) something.
   */
  async signLogoutToken(
    claims: Record<string, unknown> = {},
    key: CryptoKey = this.signingKey,
  ): Promise<string> {
    const payload: JWTPayload = {
      iss: this.issuer,
      aud: this.clientId,
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 120,
      jti: crypto.randomUUID(),
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      ...claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: SIGNING_KID, typ: 'logout+jwt' })
      .sign(key);
  }

  /**
   * RP-initiated logout at the IdP (its end_session page, "Yes, sign me out") in
   * the person's browser: oidc-provider then posts a logout token to every client
   * of that IdP session that registered a backchannel_logout_uri.
   */
  async endSession(browser: Browser): Promise<void> {
    const res = await browser.fetch(`${this.issuer}/session/end`);
    const page = await res.text();
    if (res.status !== 200) throw new Error(`IdP end_session answered ${res.status}: ${page.slice(0, 500)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
    if (!action || !xsrf) throw new Error(`IdP logout page without its form: ${page.slice(0, 500)}`);
    const posted = await browser.fetch(new URL(action, this.issuer).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    if (posted.status < 300 || posted.status >= 400) {
      throw new Error(`IdP logout form answered ${posted.status}: ${(await posted.text()).slice(0, 500)}`);
    }
  }

  setAccount(sub: string, account: IdpAccount): void {
    this.accounts.set(sub, account);
  }

  setGroups(sub: string, groups: string[]): void {
    const account = this.accounts.get(sub);
    if (!account) throw new Error(`no IdP account ${sub}`);
    account.groups = groups;
  }

  disable(sub: string, disabled = true): void {
    const account = this.accounts.get(sub);
    if (!account) throw new Error(`no IdP account ${sub}`);
    account.disabled = disabled;
  }

  /** Takes the IdP off the network (it is "down"); resume() brings it back on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async resume(): Promise<void> {
    if (this.server) return;
    const server = createServer(this.provider.callback());
    await new Promise<void>((resolve, reject) => {
      server.listen(this.port, '127.0.0.1', () => resolve());
      server.once('error', reject);
    });
    if ((server.address() as AddressInfo).port !== this.port) throw new Error('IdP port moved');
    this.server = server;
  }

  /** The environment of a Waxseal at `port` that signs people in through this IdP. */
  waxsealEnv(port: number, extra: Record<string, string> = {}): Record<string, string> {
    return {
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      OIDC_ISSUER: this.issuer,
      OIDC_CLIENT_ID: this.clientId,
      OIDC_CLIENT_SECRET: this.clientSecret,
      OIDC_NAME: 'Okta',
      ...extra,
    };
  }

  /**
   * The whole IdP sign-in as a person does it, in a cookie-jar browser already
   * on Waxseal: Sign in with SSO, the IdP's pages, then Waxseal's callback,
   * whose answer is returned.
   */
  async signInToWaxseal(
    browser: Browser,
    sub: string,
    next = '/settings/mcp-connections',
  ): Promise<Response> {
    const start = await browser.postForm('/signin/oidc', { next });
    if (start.status !== 303) throw new Error(`Sign in with SSO answered ${start.status}`);
    const callback = await this.signIn(browser, start.headers.get('location') as string, sub);
    if (callback.pathname !== '/signin/oidc/callback')
      throw new Error(`the IdP sent the browser to ${callback.href}`);
    return browser.fetch(callback.href);
  }

  /**
   * The person at the IdP in Chromium, after the browser was sent there: oidc-provider's
   * own login form (any password) and consent page, as many as it shows, until the
   * browser is back outside the IdP. Returns the IdP pages the person answered (none when
   * the IdP still had a session and a grant for Waxseal).
   */
  async signInInPage(page: Page, sub: string): Promise<string[]> {
    const settled = (u: URL) => (u.origin === this.issuer ? u.pathname.startsWith('/interaction/') : true);
    const answered: string[] = [];
    await page.waitForURL(settled);
    for (let step = 0; step < 5 && new URL(page.url()).origin === this.issuer; step++) {
      const here = page.url();
      const login = page.locator('input[name=login]');
      if (await login.count()) {
        answered.push('login');
        await login.fill(sub);
        await page.locator('input[name=password]').fill('any');
        await page.getByRole('button', { name: 'Sign-in' }).click();
      } else {
        answered.push('consent');
        await page.getByRole('button', { name: 'Continue' }).click();
      }
      await page.waitForURL((u) => u.href !== here && settled(u));
    }
    if (new URL(page.url()).origin === this.issuer) throw new Error(`stuck at the IdP on ${page.url()}`);
    return answered;
  }

  /**
   * Plays the person at the IdP in a cookie-jar browser: from the authorization
   * URL through the login and consent forms of oidc-provider's interaction pages,
   * until the IdP redirects to a URL outside itself (Waxseal's callback), which is
   * returned unfetched.
   */
  async signIn(browser: Browser, authorizationUrl: string, sub: string): Promise<URL> {
    let url = new URL(authorizationUrl);
    for (let step = 0; step < 20; step++) {
      if (url.origin !== this.issuer) return url;
      const res = await browser.fetch(url.href);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location') as string, url);
        continue;
      }
      const page = await res.text();
      if (res.status !== 200) throw new Error(`IdP answered ${res.status}: ${page.slice(0, 500)}`);
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      if (!action) throw new Error(`IdP page without a form: ${page.slice(0, 500)}`);
      const form: Record<string, string> = {};
      for (const m of page.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
        form[m[1] as string] = m[2] as string;
      }
      if (form.prompt === 'login') Object.assign(form, { login: sub, password: 'any' });
      const posted = await browser.fetch(new URL(action, url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
      if (posted.status < 300 || posted.status >= 400) {
        throw new Error(`IdP form answered ${posted.status}: ${(await posted.text()).slice(0, 500)}`);
      }
      url = new URL(posted.headers.get('location') as string, url);
    }
    throw new Error('the IdP never sent the browser back');
  }
}

// --- Re-check at refresh (SPEC §10) -----------------------------------------

interface GrantModels {
  RefreshToken: { find(token: string): Promise<{ grantId: string } | undefined> };
  Grant: { find(id: string): Promise<{ destroy(): Promise<void> } | undefined> };
}

/**
 * Revokes at the IdP the grant a refresh token belongs to, as an administrator
 * revoking the person's sessions there would: the IdP then answers that refresh
 * token with invalid_grant.
 */
export async function revokeGrantAtIdp(idp: TestIdp, refreshToken: string): Promise<void> {
  const models = idp.provider as unknown as GrantModels;
  const token = await models.RefreshToken.find(refreshToken);
  if (!token) throw new Error('the IdP does not know this refresh token');
  const grant = await models.Grant.find(token.grantId);
  if (!grant) throw new Error('the IdP has no grant for this refresh token');
  await grant.destroy();
}

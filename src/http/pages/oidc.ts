import express, { type Request, type Response, Router } from 'express';
import { LIFETIMES } from '../../domain/clock.js';
import type { Services } from '../../services/context.js';
import { beginSignin, finishSignin } from '../../services/oidc.js';
import { IdpUnavailable, OidcCallbackError, OidcRefused } from '../../services/oidc-errors.js';
import { OIDC_LOGIN_LIFETIME } from '../../services/oidc-logins.js';
import { createSession } from '../../services/sessions.js';
import { fromOwnOrigin } from '../origin.js';
import { clientIp, cookies, formString, safeNext, sendHtml, setSessionCookie } from '../support.js';
import { errorPage } from './views.js';

/** Holds the id of the pending IdP sign-in; sent back only to the callback (SameSite=Lax suffices: a top-level GET). */
const LOGIN_COOKIE = 'waxseal_oidc';
const COOKIE_PATH = '/signin/oidc';

/**
 * Where to land after signing in: a path on this origin only. safeNext refuses
 * `//host` and `/\host`; control characters are refused too, since browsers
 * drop tabs and newlines from URLs (`/\t/evil.example` would become `//evil.example`).
 */
export function returnTo(s: Services, next: unknown): string {
  const path = safeNext(next);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return '/';
  const url = new URL(path, s.config.publicUrl);
  return url.origin === new URL(s.config.publicUrl).origin ? path : '/';
}

const TITLES: Record<number, string> = {
  400: 'Sign-in failed',
  403: 'Access refused',
  502: 'Identity provider unavailable',
};

function renderFailure(res: Response, err: unknown): boolean {
  if (!(err instanceof OidcCallbackError || err instanceof OidcRefused || err instanceof IdpUnavailable))
    return false;
  sendHtml(res, err.status, errorPage(TITLES[err.status] ?? 'Sign-in failed', err.message));
  return true;
}

/** SPEC §10: "Sign in with OIDC_NAME" and the IdP's callback at PUBLIC_URL/signin/oidc/callback. */
export function oidcRouter(s: Services): Router {
  const router = Router();
  const idp = s.idp;
  if (!idp) return router;
  const cookie = {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: s.config.secureCookies,
    path: COOKIE_PATH,
  };

  router.post('/signin/oidc', express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    if (!fromOwnOrigin(s, req))
      return sendHtml(res, 403, errorPage('Request refused', 'This form came from another site.'));
    const { id, url } = await beginSignin(s, idp, returnTo(s, formString(req.body, 'next')));
    res.cookie(LOGIN_COOKIE, id, { ...cookie, maxAge: OIDC_LOGIN_LIFETIME });
    res.redirect(303, url.href);
  });

  router.get('/signin/oidc/callback', async (req: Request, res: Response) => {
    res.clearCookie(LOGIN_COOKIE, cookie);
    const callbackUrl = new URL(req.originalUrl, s.config.publicUrl);
    try {
      const { user, next } = await finishSignin(
        s,
        idp,
        callbackUrl,
        cookies(req)[LOGIN_COOKIE],
        clientIp(req),
      );
      const session = await createSession(s, user.id);
      setSessionCookie(s, res, session, LIFETIMES.browserSession);
      res.redirect(303, next);
    } catch (err) {
      if (!renderFailure(res, err)) throw err;
    }
  });

  return router;
}

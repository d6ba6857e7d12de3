import express, { type Request, type Response, Router } from 'express';
import { LIFETIMES } from '../../domain/clock.js';
import { TooManyRequests } from '../../domain/errors.js';
import type { Services } from '../../services/context.js';
import {
  createChallenge,
  createSession,
  endChallenge,
  endSession,
  failChallenge,
  findChallenge,
  sessionUser,
} from '../../services/sessions.js';
import {
  authenticate,
  findUserById,
  recordSignin,
  recordTotpFailure,
  verifyTotp,
} from '../../services/users.js';
import { fromOwnOrigin } from '../origin.js';
import {
  clearSessionCookie,
  clientIp,
  cookies,
  formString,
  SESSION_COOKIE,
  safeNext,
  sendHtml,
  setSessionCookie,
} from '../support.js';
import { errorPage, type SigninView, signinPage as signinView, totpPage } from './views.js';

const GENERIC = 'Incorrect email or password.';
const MAX_TOTP_ATTEMPTS = 5;

/** SPEC §2 sign-in page: email + password, then a TOTP step for users who turned it on. */
export function signinRouter(s: Services): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  const signedIn = async (res: Response, userId: string, next: string) => {
    const session = await createSession(s, userId);
    setSessionCookie(s, res, session, LIFETIMES.browserSession);
    res.redirect(303, next);
  };

  // SPEC §10: the IdP's button above the email form, or alone with LOCAL_SIGNIN=off.
  const signinPage = (opts: SigninView) =>
    signinView({ ...opts, sso: s.config.oidc?.name, local: s.config.localSignin });
  const localOff = (res: Response) =>
    sendHtml(
      res,
      403,
      errorPage(
        'Password sign-in is off',
        `Sign in with ${s.config.oidc?.name ?? 'your identity provider'} instead.`,
      ),
    );

  router.get('/signin', async (req: Request, res: Response) => {
    const next = safeNext(req.query.next);
    if (await sessionUser(s, cookies(req)[SESSION_COOKIE])) return res.redirect(302, next);
    sendHtml(res, 200, signinPage({ next }));
  });

  router.post('/signin', form, async (req, res) => {
    if (!fromOwnOrigin(s, req))
      return sendHtml(res, 403, errorPage('Request refused', 'This form came from another site.'));
    if (!s.config.localSignin) return localOff(res);
    const next = safeNext(formString(req.body, 'next'));
    const email = formString(req.body, 'email') ?? '';
    const password = formString(req.body, 'password') ?? '';
    const ip = clientIp(req);
    try {
      const result = await authenticate(s, email, password, ip);
      if (!result) return sendHtml(res, 401, signinPage({ next, error: GENERIC, email }));
      if (result.totpSealed) {
        const challenge = await createChallenge(s, result.user.id, next);
        return sendHtml(res, 200, totpPage({ challenge }));
      }
      await recordSignin(s, result.user, ip);
      await signedIn(res, result.user.id, next);
    } catch (err) {
      if (err instanceof TooManyRequests)
        return sendHtml(res, 429, signinPage({ next, error: err.message, email }));
      throw err;
    }
  });

  router.post('/signin/totp', form, async (req, res) => {
    if (!fromOwnOrigin(s, req))
      return sendHtml(res, 403, errorPage('Request refused', 'This form came from another site.'));
    if (!s.config.localSignin) return localOff(res);
    const id = formString(req.body, 'challenge') ?? '';
    const code = (formString(req.body, 'code') ?? '').replace(/\s/g, '');
    const challenge = await findChallenge(s, id);
    const user = challenge ? await findUserById(s, challenge.userId) : null;
    if (!challenge || !user) {
      return sendHtml(res, 401, signinPage({ next: '/', error: 'That sign-in expired. Sign in again.' }));
    }
    if (challenge.attempts >= MAX_TOTP_ATTEMPTS) {
      await endChallenge(s, id);
      return sendHtml(
        res,
        429,
        signinPage({ next: challenge.next, error: 'Too many wrong codes. Sign in again.' }),
      );
    }
    const row = await s.store.db
      .selectFrom('users')
      .select('totp_sealed')
      .where('id', '=', user.id)
      .executeTakeFirst();
    if (!row?.totp_sealed || !verifyTotp(s, row.totp_sealed, code)) {
      await failChallenge(s, id);
      await recordTotpFailure(s, user, clientIp(req));
      return sendHtml(res, 401, totpPage({ challenge: id, error: 'That code is not right. Try again.' }));
    }
    await endChallenge(s, id);
    await recordSignin(s, user, clientIp(req));
    await signedIn(res, user.id, challenge.next);
  });

  router.post('/signout', form, async (req, res) => {
    if (!fromOwnOrigin(s, req))
      return sendHtml(res, 403, errorPage('Request refused', 'This form came from another site.'));
    const session = cookies(req)[SESSION_COOKIE];
    if (session) await endSession(s, session);
    clearSessionCookie(s, res);
    res.redirect(303, '/signin');
  });

  return router;
}

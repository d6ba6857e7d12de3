import express, { Router } from 'express';
import { LIFETIMES } from '../../domain/clock.js';
import { WaxsealError } from '../../domain/errors.js';
import type { Services } from '../../services/context.js';
import { createSession, sessionUser } from '../../services/sessions.js';
import { completeSetup, setupTokenValid } from '../../services/setup.js';
import { fromOwnOrigin } from '../origin.js';
import { cookies, formString, SESSION_COOKIE, sendHtml, setSessionCookie } from '../support.js';
import { errorPage, homePage, setupPage } from './views.js';

/** SPEC §1 first run (/setup) and the signed-in landing page (/). */
export function setupRouter(s: Services): Router {
  const router = Router();

  router.get('/setup', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!(await setupTokenValid(s, token))) {
      return sendHtml(
        res,
        404,
        errorPage('Setup link not valid', 'This setup link is invalid, used or expired.'),
      );
    }
    sendHtml(res, 200, setupPage({ token }));
  });

  router.post('/setup', express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    if (!fromOwnOrigin(s, req))
      return sendHtml(res, 403, errorPage('Request refused', 'This form came from another site.'));
    const token = formString(req.body, 'token') ?? '';
    try {
      const user = await completeSetup(
        s,
        token,
        formString(req.body, 'email') ?? '',
        formString(req.body, 'password') ?? '',
      );
      const session = await createSession(s, user.id);
      setSessionCookie(s, res, session, LIFETIMES.browserSession);
      res.redirect(303, '/');
    } catch (err) {
      if (err instanceof WaxsealError && err.status < 500) {
        return sendHtml(res, err.status, setupPage({ token, error: err.message }));
      }
      throw err;
    }
  });

  router.get('/', async (req, res) => {
    const user = await sessionUser(s, cookies(req)[SESSION_COOKIE]);
    if (!user) return res.redirect(302, '/signin?next=%2F');
    sendHtml(res, 200, homePage({ email: user.email, role: user.role, mcpUrl: s.config.mcpUrl }));
  });

  return router;
}

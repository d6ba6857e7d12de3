import express, { type Response, Router } from 'express';
import { LIFETIMES } from '../../domain/clock.js';
import { WaxsealError } from '../../domain/errors.js';
import type { Services } from '../../services/context.js';
import { createSession, sessionUser } from '../../services/sessions.js';
import { completeSetup, setupDone, setupTokenValid } from '../../services/setup.js';
import { fromOwnOrigin } from '../origin.js';
import { cookies, formString, SESSION_COOKIE, sendHtml, setSessionCookie } from '../support.js';
import { DASHBOARD_PATHS } from '../web.js';
import { html, page } from './html.js';
import { errorPage, homePage, setupPage } from './views.js';

/** Where the new owner lands, signed in: the connections page of the dashboard (SPEC §6). */
const DASHBOARD = DASHBOARD_PATHS[0];

/** A setup link that cannot be used: once Waxseal is set up, the way in is the sign-in page. */
async function deadLink(s: Services, res: Response, status: number): Promise<void> {
  if (await setupDone(s)) {
    return sendHtml(
      res,
      status,
      page(
        'Already set up',
        html`<h1>Waxseal is already set up</h1>
<p>This setup link has been used: the first owner exists.</p>
<p><a href="/signin?next=${encodeURIComponent(DASHBOARD)}">Sign in</a> to open the dashboard.</p>`,
      ),
    );
  }
  sendHtml(
    res,
    status,
    errorPage(
      'Setup link not valid',
      'This setup link is invalid or expired. Restart Waxseal to print a new one in its log.',
    ),
  );
}

/** SPEC §1 first run (/setup) and the signed-in landing page (/). */
export function setupRouter(s: Services): Router {
  const router = Router();

  router.get('/setup', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!(await setupTokenValid(s, token))) return deadLink(s, res, 404);
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
      res.redirect(303, DASHBOARD);
    } catch (err) {
      if (err instanceof WaxsealError && err.status < 500) {
        // A bad form keeps its (still valid) link; a dead link says how to sign in.
        if (!(await setupTokenValid(s, token))) return deadLink(s, res, err.status);
        return sendHtml(
          res,
          err.status,
          setupPage({ token, email: formString(req.body, 'email'), error: err.message }),
        );
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

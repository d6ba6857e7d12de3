import { type Request, type Response, Router } from 'express';
import { InvalidRequest } from '../../domain/errors.js';
import {
  createConsent,
  decide,
  errorRedirect,
  PageError,
  RedirectError,
  validateAuthorize,
} from '../../services/authorization.js';
import type { Services } from '../../services/context.js';
import { sessionUser } from '../../services/sessions.js';
import { fromOwnOrigin } from '../origin.js';
import { consentPage, errorPage } from '../pages/views.js';
import { cookies, SESSION_COOKIE, sendHtml } from '../support.js';
import { formBody, readForm } from './form.js';

/** How the consent page names where the browser will be sent: a host, or the app's scheme. */
function redirectHost(uri: string): string {
  const url = new URL(uri);
  return url.host || `${url.protocol}//`;
}

/** GET /authorize (OAuth 2.1 §4.1.1) and the consent form's POST. */
export function authorizeRouter(s: Services): Router {
  const router = Router();

  router.get('/authorize', async (req: Request, res: Response) => {
    let request: Awaited<ReturnType<typeof validateAuthorize>>;
    try {
      request = await validateAuthorize(s, req.query as Record<string, unknown>);
    } catch (err) {
      if (err instanceof PageError)
        return sendHtml(res, 400, errorPage('Cannot connect this application', err.message));
      if (err instanceof RedirectError) {
        return res.redirect(302, errorRedirect(s, err.redirectUri, err.state, err.error).href);
      }
      throw err;
    }
    const sessionId = cookies(req)[SESSION_COOKIE];
    const user = await sessionUser(s, sessionId);
    if (!user || !sessionId) return res.redirect(302, `/signin?next=${encodeURIComponent(req.originalUrl)}`);
    const consent = await createConsent(s, request, sessionId);
    sendHtml(
      res,
      200,
      consentPage({
        clientName: request.client.clientName ?? 'MCP Client',
        redirectHost: redirectHost(request.redirectUri),
        email: user.email,
        scopes: request.scopes,
        requestId: consent.id,
        csrf: consent.csrf,
      }),
    );
  });

  router.post('/authorize/decision', formBody, async (req, res) => {
    if (!fromOwnOrigin(s, req))
      return sendHtml(res, 403, errorPage('Request refused', 'This form came from another site.'));
    const sessionId = cookies(req)[SESSION_COOKIE];
    const user = await sessionUser(s, sessionId);
    if (!user || !sessionId) {
      return sendHtml(res, 401, errorPage('Signed out', 'Your session ended. Start connecting again.'));
    }
    try {
      // The consent form is the browser's: its errors are pages, never a redirect
      // to a client that cannot be told apart (a repeated `request` names two).
      const form = readForm(req);
      const target = await decide(s, user, sessionId, {
        request: form.get('request') ?? '',
        csrf: form.get('csrf') ?? '',
        allow: form.get('decision') === 'allow',
      });
      res.redirect(303, target.href);
    } catch (err) {
      if (err instanceof PageError || err instanceof InvalidRequest)
        return sendHtml(res, 400, errorPage('Cannot complete this request', err.message));
      throw err;
    }
  });

  return router;
}

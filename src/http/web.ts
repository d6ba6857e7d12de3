import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, Router } from 'express';
import type { Services } from '../services/context.js';
import { sessionUser } from '../services/sessions.js';
import { errorPage } from './pages/views.js';
import { cookies, SESSION_COOKIE, sendHtml } from './support.js';

/** Where `vite build` puts the dashboard: dist/web, two levels above src/http and dist/http alike. */
export const WEB_DIST = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** The dashboard's pages (SPEC §6); each is the same single-page app. */
export const DASHBOARD_PATHS = ['/settings/mcp-connections', '/settings/members'] as const;

/**
 * Serves the React dashboard: its hashed assets under /assets-web/ and its
 * index.html for every dashboard URL. Signed out, a dashboard URL shows the
 * sign-in page and comes back afterwards (SPEC §6).
 */
export function webRouter(s: Services, dist = WEB_DIST): Router {
  const router = Router();
  const indexFile = `${dist}index.html`;
  let index: string | null = null;
  const indexHtml = () => {
    index ??= existsSync(indexFile) ? readFileSync(indexFile, 'utf8') : null;
    return index;
  };

  router.use(
    '/assets-web',
    express.static(`${dist}assets-web`, { index: false, immutable: true, maxAge: '365d' }),
  );

  router.get('/settings', (_req, res) => res.redirect(302, '/settings/mcp-connections'));

  const serve = async (req: Request, res: Response) => {
    if (!(await sessionUser(s, cookies(req)[SESSION_COOKIE]))) {
      return res.redirect(302, `/signin?next=${encodeURIComponent(req.originalUrl)}`);
    }
    const html = indexHtml();
    if (!html) {
      return sendHtml(
        res,
        503,
        errorPage('Dashboard not built', 'The dashboard has not been built. Run npm run build.'),
      );
    }
    sendHtml(res, 200, html);
  };
  for (const path of DASHBOARD_PATHS) router.get(path, serve);

  return router;
}
